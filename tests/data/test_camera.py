"""The virtual camera: its random paths and the pans evaluation films its ground truth with."""

import numpy as np
import pytest

from mobilei2v.data.camera import MAX_PAN, MAX_ROTATION, MAX_ZOOM, CameraPath, pan_clip, random_crop
from mobilei2v.data.textures import make_texture
from mobilei2v.measures.motion import motion_score


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
