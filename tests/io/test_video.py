import numpy as np
import pytest

from mobilei2v.io.video import VideoReadError, fit_frames, read_video


@pytest.mark.parametrize(("case", "reason"), [
    ("empty", "unreadable video"), ("garbage", "unreadable video"), ("truncated", "unreadable video"),
    ("missing", "missing file"),
])
def test_bad_files_raise_one_error_type_with_a_reason(bad_videos, case, reason):
    with pytest.raises(VideoReadError) as err:
        read_video(bad_videos[case])
    assert err.value.reason == reason and str(bad_videos[case]) in str(err.value)


def test_read_video_stops_at_max_frames(bunny):
    frames, fps = read_video(bunny, max_frames=5)
    assert frames.shape == (5, 720, 1280, 3) and frames.dtype == np.uint8 and fps == 25


def test_fit_frames_covers_and_centre_crops():
    frames = np.zeros((2, 100, 200, 3), np.uint8)
    frames[:, 40:60, 90:110] = 255  # a white square in the middle
    fitted = fit_frames(frames, 64, 64)
    assert fitted.shape == (2, 64, 64, 3)
    # Scaled by 0.64 to cover 64 rows, then the centre 64 of 128 columns: the square stays centred.
    assert fitted[:, 28:36, 28:36].min() > 200 and fitted[:, :20].max() < 30
