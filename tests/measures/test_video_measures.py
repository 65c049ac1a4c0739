"""The per-video measures of `mobilei2v evaluate`, on clips whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mobilei2v.data.synth import CameraPath, camera_clip
from mobilei2v.data.textures import make_texture
from mobilei2v.evaluation.image_to_video import pan_clip
from mobilei2v.measures.video import (
    blockiness,
    motion_evenness,
    psnr,
    sharpness,
    temporal_quality,
    warp_fidelity,
)


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


def test_evenness_is_one_for_a_steady_pan_zero_for_one_that_jumps_and_undefined_when_still(picture):
    pan = pan_clip(picture, 2.0, angle=0.3, num_frames=17, height=256, width=256)
    assert motion_evenness(pan) > 0.85
    # what an 8× temporal autoencoder made of it: each group of 8 frames one still picture
    held = np.concatenate([pan[:1], np.repeat(pan[1:2], 8, axis=0), np.repeat(pan[9:10], 8, axis=0)])
    assert motion_evenness(held) == 0.0
    assert math.isnan(motion_evenness(np.repeat(pan[:1], 5, axis=0)))


def test_warp_fidelity_is_high_when_every_frame_is_the_photo_moved_and_low_when_content_drifts(picture):
    pan = pan_clip(picture, 3.0, angle=1.1, num_frames=9, height=128, width=128)
    mean, worst = warp_fidelity(pan, pan[0])
    assert worst > 28 and mean >= worst
    drifted = pan.copy()
    drifted[5:] = make_texture("noise", 128, 128, np.random.default_rng(7))  # later frames: other content
    drifted_mean, drifted_worst = warp_fidelity(drifted, pan[0])
    assert drifted_worst < 15 and drifted_mean < mean - 5
    with pytest.raises(ValueError, match="shape"):
        warp_fidelity(pan, pan[0, :64])


def test_sharpness_falls_when_later_frames_blur(picture):
    import cv2

    pan = pan_clip(picture, 1.0, angle=0.0, num_frames=5, height=128, width=128)
    assert sharpness(pan) == pytest.approx(1.0, abs=0.15)
    blurred = np.concatenate([pan[:1], [cv2.GaussianBlur(f, (0, 0), 2.0) for f in pan[1:]]])
    assert sharpness(blurred) < 0.3


def test_blockiness_sees_the_latent_grid_and_nothing_else(picture):
    pan = pan_clip(picture, 1.0, angle=0.3, num_frames=9, height=128, width=128)
    assert blockiness(pan, 32) == pytest.approx(1.0, abs=0.1)
    offsets = np.random.default_rng(3).integers(-30, 30, (4, 4, 1))  # one brightness step per 32×32 cell
    blocky = np.clip(pan.astype(int) + np.kron(offsets, np.ones((32, 32, 3), int))[None], 0, 255).astype(np.uint8)
    assert blockiness(blocky, 32) > 1.5
    assert blockiness(blocky, 24) < blockiness(blocky, 32)  # the steps lie on the 32-pixel grid only
