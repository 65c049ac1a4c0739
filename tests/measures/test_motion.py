import numpy as np
import pytest
import torch
from PIL import Image

from mobilei2v.data.holdout import holdout_paths
from mobilei2v.data.synth import CameraPath, camera_clip
from mobilei2v.data.textures import make_texture
from mobilei2v.io.video import fit_frames, read_video, write_video
from mobilei2v.measures.motion import FLOW_SIZE, camera_motion, motion_score
from mobilei2v.training.datasets import crop_camera


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


def _affine_clip(photo: np.ndarray, matrix_at, frames: int = 9, size: int = 192) -> np.ndarray:
    """Frames of `photo` (fitted to a square twice the frames' size) sampled through matrix_at(t), a 2×3 map
    from each output pixel to the photo pixel it shows."""
    import cv2

    square = fit_frames(photo[None], 2 * size, 2 * size)[0]
    return np.stack([cv2.warpAffine(square, matrix_at(t), (size, size), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
                     for t in range(frames)])


@pytest.mark.parametrize("move", ["pan", "zoom", "roll"])
def test_camera_motion_reads_each_move_its_sign_and_size(move):
    """192-px frames resized to 576×320 for the flow: x scales by 3, y by 5/3."""
    import cv2

    photo = np.asarray(Image.open(holdout_paths()[0]).convert("RGB"))
    centre = np.array([192.0, 192.0])  # the photo's centre, where the output's centre (96, 96) starts
    if move == "pan":  # the picture slides 1 px/frame right and 0.5 px/frame down
        clip = _affine_clip(photo, lambda t: np.array([[1, 0, centre[0] - 96 - t], [0, 1, centre[1] - 96 - 0.5 * t]]))
        expected = [3.0, 5 / 6, 0, 0]
    elif move == "zoom":  # the picture grows by 1 % a frame
        clip = _affine_clip(photo, lambda t: cv2.getRotationMatrix2D((96, 96), 0, 1.01**-t)
                            + np.array([[0, 0, centre[0] - 96], [0, 0, centre[1] - 96]]))
        expected = [0, 0, np.log(1.01) * 288, 0]
    else:  # the picture turns 0.5° a frame clockwise on screen (the output samples it turned the other way)
        clip = _affine_clip(photo, lambda t: cv2.getRotationMatrix2D((96, 96), 0.5 * t, 1)
                            + np.array([[0, 0, centre[0] - 96], [0, 0, centre[1] - 96]]))
        # resizing to 576×320 stretches the rotation's flow 3× along x and 5/3× along y: the roll averages them
        expected = [0, 0, 0, np.deg2rad(0.5) * 288 * (3 / (5 / 3) + (5 / 3) / 3) / 2]
    measured = camera_motion(clip)
    assert measured == pytest.approx(expected, abs=0.1 * max(map(abs, expected))), measured


def test_camera_motion_of_a_window_is_what_crop_camera_predicts():
    """The latent-crop training stage re-centres a clip's camera move on the crop (`crop_camera`)."""
    photo = np.asarray(Image.open(holdout_paths()[1]).convert("RGB"))
    clip = camera_clip(photo, CameraPath(pan=(0.006, -0.004), zoom=1.25, rotation=-8.0), 9, 256, 256)
    full = torch.from_numpy(camera_motion(clip))
    for top, left, h, w in [(0, 0, 128, 128), (128, 64, 128, 128), (32, 96, 192, 160)]:
        window = np.ascontiguousarray(clip[:, top:top + h, left:left + w])
        predicted = crop_camera(full, (256, 256), (top, left, h, w)).numpy()
        assert camera_motion(window) == pytest.approx(predicted, abs=0.6), (top, left, h, w)
