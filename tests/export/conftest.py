"""What the runtime tests share: a guided export's videos checked against the PyTorch pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobilei2v.measures.video import psnr


def each_move_matches(pipe, generator, photo) -> dict:
    """Two camera moves through a 9-frame, 3-step export's `generator` (a `VideoGenerator`): each video equals
    the PyTorch pipeline's from the same noise (≥ 60 dB) and is not blank, and the two differ (the move reached
    the programs). Returns the last call's timings."""
    videos = {}
    for camera in ("pan-left", "zoom-in"):
        frames, timings = generator(photo, motion_score=3.0, camera=camera, generator=torch.Generator().manual_seed(5))
        expected = pipe(photo, motion_score=3.0, camera=camera, num_frames=9, num_inference_steps=3,
                        generator=torch.Generator().manual_seed(5), progress=False).frames[0]
        assert frames.shape == expected.shape
        assert psnr(expected, frames) >= 60
        assert np.ptp(expected) > 0  # not a trivially equal blank video
        videos[camera] = frames
    assert psnr(videos["pan-left"], videos["zoom-in"]) < 50
    return timings


@pytest.fixture
def assert_each_move_matches():
    return each_move_matches
