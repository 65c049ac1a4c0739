import numpy as np
import pytest
from PIL import Image

from mobilei2v.data.holdout import holdout_paths
from mobilei2v.data.synth import CameraPath, camera_clip
from mobilei2v.data.textures import make_texture
from mobilei2v.io.video import fit_frames, read_video, write_video
from mobilei2v.measures.motion import FLOW_SIZE, motion_score


@pytest.mark.parametrize("speed", [0.5, 2.0, 5.0])
def test_a_known_pan_scores_its_speed_in_pixels_at_576x320(speed):
    height, width = FLOW_SIZE
    texture = make_texture("noise", height, width + 100, np.random.default_rng(0))
    # Sub-pixel shifts by linear interpolation of the columns.
    x = np.arange(width, dtype=float)
    frames = np.stack([
        np.stack([np.stack([np.interp(x + speed * t, np.arange(width + 100), texture[r, :, c])
                            for c in range(3)], -1) for r in range(height)])
        for t in range(5)]).round().astype(np.uint8)
    assert motion_score(frames) == pytest.approx(speed, rel=0.03)


def test_a_static_real_clip_scores_about_zero_and_a_panning_one_more(bunny, bikes_cut, tmp_path):
    frame = fit_frames(read_video(bunny, max_frames=1)[0], 180, 320)
    static = write_video(tmp_path / "static.mp4", np.repeat(frame, 17, axis=0), fps=25)
    panning = bikes_cut[0].rows[0]["video_path"]  # the opening shot follows the riders
    still_score = motion_score(read_video(static)[0])
    pan_score = motion_score(read_video(panning)[0])
    assert still_score < 0.05
    assert pan_score > 2.0


def test_the_score_grows_with_pan_speed(tmp_path):
    photo = np.asarray(Image.open(holdout_paths()[0]).convert("RGB"))  # evaluation photos may be used here
    scores = []
    for speed in (0.0, 0.002, 0.005, 0.01):
        clip = camera_clip(photo, CameraPath(pan=(speed, speed / 2)), 9, 128, 128)
        written = write_video(tmp_path / f"pan-{speed}.mp4", clip, fps=24)
        scores.append(motion_score(read_video(written)[0]))
    assert scores[0] < 0.05
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    # 0.01 frame widths per frame is 5.76 px horizontally and 1.6 px vertically at 576×320.
    assert scores[-1] == pytest.approx(np.hypot(5.76, 1.6), rel=0.1)


def test_motion_needs_two_frames():
    with pytest.raises(ValueError, match="at least 2 frames"):
        motion_score(np.zeros((1, 32, 32, 3), np.uint8))
