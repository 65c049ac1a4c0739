"""The virtual camera: its random paths, the pans evaluation films its ground truth with, and guides."""

import numpy as np
import pytest
import torch

from mobilei2v.data.camera import (MAX_PAN, MAX_ROTATION, MAX_ZOOM, CameraPath, camera_clip, clip_moves, guide_clip,
                                   guide_videos, move_for_score, pan_clip, random_crop)
from mobilei2v.data.textures import make_texture
from mobilei2v.measures.motion import camera_motion, motion_score


@pytest.fixture(scope="module")
def picture():
    return make_texture("noise", 300, 400, np.random.default_rng(0))


def test_paths_cover_still_to_fast_motion():
    rng = np.random.default_rng(0)
    paths = [CameraPath.random(rng, kind) for kind in ("pan", "zoom", "rotate", "mixed") for _ in range(50)]
    speeds = [np.hypot(*p.pan) for p in paths[:50]]
    assert min(speeds) < 0.001 and max(speeds) > 0.01
    assert any(p.zoom > 1.3 for p in paths[50:100]) and any(p.zoom < 1 / 1.3 for p in paths[50:100])
    assert all(p.pan == (0, 0) and p.zoom == 1 for p in paths[100:150])
    mixed = paths[150:]
    assert all(p.pan != (0, 0) and p.zoom != 1 and p.rotation != 0 for p in mixed)


def test_max_motion_scales_every_kind_of_path():
    def extremes(max_motion):
        rng = np.random.default_rng(0)
        paths = [CameraPath.random(rng, kind, max_motion) for kind in ("pan", "zoom", "rotate") for _ in range(100)]
        return (max(np.hypot(*p.pan) for p in paths[:100]), max(abs(np.log(p.zoom)) for p in paths[100:200]),
                max(abs(p.rotation) for p in paths[200:]))
    default, double = extremes(1.0), extremes(2.0)
    assert default[0] <= MAX_PAN and default[1] <= np.log(MAX_ZOOM) + 1e-9 and default[2] <= MAX_ROTATION
    # the same draws, twice the size: pan speed, log zoom and angle all scale
    assert np.allclose(double, 2 * np.array(default))
    assert double[0] > MAX_PAN


@pytest.mark.parametrize("score", [0.5, 1.0, 4.0])
def test_pan_clips_have_the_motion_score_they_are_made_for(picture, score):
    clip = pan_clip(picture, score, angle=0.7, num_frames=9, height=256, width=256)
    assert motion_score(clip) == pytest.approx(score, rel=0.1)


def test_random_crops_keep_the_clip_aspect_stay_inside_and_are_never_upsampled():
    picture = np.zeros((300, 1000, 3), np.uint8)
    rng = np.random.default_rng(0)
    widths = []
    for _ in range(200):
        crop = random_crop(picture, rng, 0.1, 64, 96)
        h, w = crop.shape[:2]
        assert abs(h / w - 64 / 96) < 0.02 and w >= 1.25 * 96 - 1 and h <= 300 and w <= 1000
        widths.append(w)
    assert max(widths) > 400 and min(widths) < 160  # from the widest window (450) down to the clip's floor (120)
    assert random_crop(picture, rng, 1.0, 64, 96).shape[:2] == (300, 450)  # crop 1: the widest window
    small = np.zeros((40, 50, 3), np.uint8)
    assert random_crop(small, rng, 0.1, 64, 96).shape[:2] == (33, 50)  # smaller than the clip: all of it


@pytest.mark.parametrize("path", [CameraPath(pan=(0.008, -0.004)), CameraPath(zoom=1.3), CameraPath(rotation=-8.0),
                                  CameraPath(pan=(-0.004, 0.0), zoom=0.85, rotation=5.0)])
def test_from_move_inverts_what_camera_motion_measures(picture, path):
    clip = camera_clip(picture, path, 17, 256, 256)
    back = CameraPath.from_move(camera_motion(clip), 17, 256, 256)
    assert np.allclose(back.pan, path.pan, atol=4e-4)  # a tenth of the slowest pan here: combined with a zoom,
    # the measured pan also carries the zoom's pull on the frame's centre over the clip
    assert np.log(back.zoom) == pytest.approx(np.log(path.zoom), abs=0.02)
    assert back.rotation == pytest.approx(path.rotation, abs=0.5)


@pytest.mark.parametrize("direction", [(1, 0, 0, 0), (0, -1, 0, 0), (0, 0, 1, 0), (0, 0, 0, -1), (1, 1, -1, 0)])
def test_a_guide_moves_in_the_direction_asked_by_the_score_asked(picture, direction):
    photo = picture[:256, :256]
    clip = guide_clip(photo, move_for_score(direction, 3.0, 256, 256), 17)
    assert clip.shape == (17, 256, 256, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip[0], photo)  # frame 0 is the photo itself
    assert motion_score(clip) == pytest.approx(3.0, rel=0.06)
    measured, asked = camera_motion(clip), np.array(direction, dtype=float)
    assert np.dot(measured, asked) / np.linalg.norm(measured) / np.linalg.norm(asked) > 0.99


def test_guides_of_a_batch_are_each_photos_own_and_still_clips_stay_still(picture):
    photos = torch.from_numpy(np.stack([picture[:64, :96], picture[100:164, :96]])).permute(0, 3, 1, 2) / 127.5 - 1
    moves = clip_moves(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]), torch.tensor([2.0, 3.0]), 64, 96)
    assert moves[1].abs().max() == 0  # a clip measured without a direction is filmed still
    videos = guide_videos(photos, moves, 5)
    assert videos.shape == (2, 3, 5, 64, 96) and videos.abs().max() <= 1
    torch.testing.assert_close(videos[:, :, 0], photos, atol=1e-5, rtol=0)
    torch.testing.assert_close(videos[1], photos[1, :, None].expand(-1, 5, -1, -1), atol=1e-5, rtol=0)
    assert (videos[0, :, 4] - photos[0]).abs().mean() > 0.01
    with pytest.raises(ValueError, match="not all 0"):
        move_for_score((0, 0, 0, 0), 2.0, 64, 96)
