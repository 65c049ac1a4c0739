"""Shared fixtures: a tiny pipeline and VAE (random weights, the real architecture) and an image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from PIL import Image

from mobilei2v import MobileI2VPipeline
from mobilei2v.models.vae import VAE_PRESETS


def make_tiny_pipeline(seed: int = 0, **config) -> MobileI2VPipeline:
    torch.manual_seed(seed)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny",
                                      default_height=64, default_width=96, **config)
    for component in (pipe.denoiser, pipe.vae, pipe.light_decoder):
        component.eval()
    return pipe


@pytest.fixture(scope="session")
def tiny_pipeline() -> MobileI2VPipeline:
    return make_tiny_pipeline()


@pytest.fixture(scope="session")
def tiny_vae_dir(tmp_path_factory):
    """A saved tiny LTX VAE (random weights, the real 32×32×8 compression)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vae") / "tiny-vae"
    AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_pipeline) -> str:
    path = tmp_path_factory.mktemp("models") / "tiny"
    tiny_pipeline.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> str:
    """A smooth, non-square test image (gradients and a disc), saved as PNG."""
    y, x = np.mgrid[0:90, 0:120] / 100.0
    disc = ((x - 0.6) ** 2 + (y - 0.45) ** 2 < 0.05).astype(float)
    rgb = np.stack([x, y, 0.5 * disc + 0.2], axis=-1)
    path = tmp_path_factory.mktemp("images") / "photo.png"
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(path)
    return str(path)
