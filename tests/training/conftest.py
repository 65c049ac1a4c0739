"""Fixtures of the training tests: a tiny model folder and a CSV of synthetic panning clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mobilei2v import MobileI2VPipeline
from mobilei2v.data import clips_csv
from mobilei2v.io.video import write_video


@pytest.fixture(scope="package")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    MobileI2VPipeline.assemble("mobilei2v-tiny", "tiny", default_height=64, default_width=64).save_pretrained(path)
    return path


@pytest.fixture(scope="package")
def clips_file(tmp_path_factory) -> Path:
    """Eight 9-frame 64×64 clips of a smooth pattern panning at different speeds."""
    folder = tmp_path_factory.mktemp("clips")
    rows = []
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    for i in range(8):
        speed = 0.5 * i
        frames = []
        for t in range(9):
            u = (x + speed * t) / 64
            rgb = np.stack([np.sin(6 * u + i), np.cos(4 * y / 64 + u), np.sin(3 * (u + y / 64))], -1)
            frames.append(((rgb * 0.5 + 0.5) * 255).astype(np.uint8))
        path = write_video(folder / f"clip{i}.mp4", np.stack(frames), 24)
        rows.append(clips_csv.clip_row(path, 9, 64, 64, flow=speed))
    return clips_csv.write_rows(folder / "clips.csv", rows)


