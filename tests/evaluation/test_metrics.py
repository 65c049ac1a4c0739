"""The per-video measures of `mobilei2v evaluate`, on clips whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mobilei2v.data.motion import motion_score
from mobilei2v.data.synth import CameraPath, camera_clip
from mobilei2v.data.textures import make_texture
from mobilei2v.evaluation.image_to_video import pan_clip
from mobilei2v.evaluation.metrics import psnr, temporal_quality


@pytest.fixture(scope="module")
def picture():
    return make_texture("noise", 300, 400, np.random.default_rng(0))


def test_psnr_of_a_known_error_and_of_identical_images():
    a = np.full((4, 4, 3), 100, np.uint8)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 10) == pytest.approx(10 * math.log10(255**2 / 100))
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    b = a.copy()
    b[1:] = 0  # outside the mask
    assert psnr(a, b, mask) == math.inf
    with pytest.raises(ValueError, match="shapes"):
        psnr(a, a[:2])


def test_a_coherent_pan_scores_high_a_flickering_one_flickers_and_noise_scores_low(picture):
    pan = camera_clip(picture, CameraPath(pan=(0.01, 0.004)), 9, 128, 128)
    mc, flicker = temporal_quality(pan)
    assert mc > 28 and flicker < 0.5
    steps = np.array([0, 12, 0, 12, 0, 12, 0, 12, 0])[:, None, None, None]
    flickering = np.clip(pan.astype(int) + steps, 0, 255).astype(np.uint8)
    mc_f, flicker_f = temporal_quality(flickering)
    assert 9 < flicker_f < 13 and mc_f < mc - 5
    noise = np.random.default_rng(1).integers(0, 256, (9, 128, 128, 3), dtype=np.uint8)
    assert temporal_quality(noise)[0] < 12
    assert temporal_quality(np.repeat(pan[:1], 3, axis=0)) == (math.inf, 0.0)


@pytest.mark.parametrize("score", [0.5, 1.0, 4.0])
def test_pan_clips_have_the_motion_score_they_are_made_for(picture, score):
    clip = pan_clip(picture, score, angle=0.7, num_frames=9, height=256, width=256)
    assert motion_score(clip) == pytest.approx(score, rel=0.1)
