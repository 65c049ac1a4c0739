"""Hostile input to the Python API: a clear ValueError at the boundary, never an error from deep inside
torch, and never a video made of NaN (all black)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch


def animate(pipe, image, **kwargs):
    settings = dict(num_frames=1, num_inference_steps=1, progress=False, generator=torch.Generator().manual_seed(0))
    return pipe(image, **{**settings, **kwargs})


def test_a_numpy_array_is_taken_as_an_image(tiny_pipeline):
    frames = animate(tiny_pipeline, np.full((64, 96, 3), 128, dtype=np.uint8)).frames
    assert frames.shape == (1, 1, 64, 96, 3)


@pytest.mark.parametrize("image, says", [
    ([], "at least one image"),
    (np.zeros((0, 0, 3), dtype=np.uint8), "empty"),
    (torch.randint(0, 256, (1, 3, 64, 96), dtype=torch.uint8), "floats in"),
    (torch.full((1, 3, 64, 96), 200.0), r"\[-1, 1\]"),
    (torch.full((1, 3, 64, 96), math.nan), r"\[-1, 1\]"),
    (42, "must be a path"),
])
def test_an_unusable_image_is_a_value_error(tiny_pipeline, image, says):
    with pytest.raises(ValueError, match=says):
        animate(tiny_pipeline, image)


@pytest.mark.parametrize("settings, says", [
    ({"num_frames": 9.0}, "num_frames must be a whole number"),
    ({"height": 64.0}, "height must be a whole number"),
    ({"num_inference_steps": 1.5}, "num_inference_steps must be a whole number"),
    ({"motion_score": "fast"}, "motion score"),
    ({"motion_score": math.nan}, "motion score"),
    ({"motion_score": [1.0, math.inf]}, "motion score"),
    ({"sigmas": [1.0, 1.0, 0.5]}, "strictly decreasing"),
    ({"height": 100000, "width": 100000}, "GiB"),
])
def test_a_bad_setting_is_a_value_error(tiny_pipeline, photo, settings, says):
    with pytest.raises(ValueError, match=says):
        animate(tiny_pipeline, photo, **settings)


def test_a_model_that_makes_nan_gives_an_error_not_a_black_video(tiny_pipeline, photo):
    pipe = copy.deepcopy(tiny_pipeline)
    with torch.no_grad():
        for parameter in pipe.denoiser.parameters():
            parameter.fill_(math.nan)
    with pytest.raises(ValueError, match="NaN"):
        animate(pipe, photo, num_frames=9)  # 1 frame would be the reference latent alone
