"""The three programs a device runs (four for a guided model), as modules with static shapes for one video size.

encoder: image (1, 3, H, W) in [−1, 1] → reference_latent (1, C, 1, H', W'), padded to the latent grid
         inside, scaled by the VAE's scaling factor.
guide_encoder (a denoiser with `camera_guide` only): the photo filmed along the move, video (1, 3, T, H, W)
         in [−1, 1] → guide (1, C, T', H', W'), encoded as the encoder encodes.
denoiser: latents (1, C, T', H', W'), timestep (1, T') = 1000·σ per latent frame (0 on the reference
         frame), motion_score (1,) [, camera (1, 4) for a denoiser with `camera_condition`] [, guide for
         one with `camera_guide`] → velocity (1, C, T', H', W'); the grid's RoPE tables are constants.
decoder: latents (1, C, T', H', W') → video (1, 3, T, H, W) in [−1, 1], cropped to H × W.
The Euler update and the reference-frame reset between steps are the caller's (export.json says how).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..models.denoiser import CAMERA_DIM, MobileI2VDenoiser
from ..models.vae import decode_latents, encode_video
from ..pipeline import MobileI2VPipeline
from .ane_attention import rewrite_attention


class EncoderStage(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return encode_video(self.vae, image[:, :, None])  # (1, C, 1, H', W')


class GuideEncoderStage(EncoderStage):
    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return encode_video(self.vae, video)  # (1, C, T', H', W')


class DenoiserStage(nn.Module):
    """One denoiser evaluation on a fixed latent grid; `attention` a `REWRITES` name or "original".
    `conditions` names the denoiser's keyword inputs ("camera", "guide") that follow the motion score."""

    def __init__(self, denoiser: MobileI2VDenoiser, grid: tuple[int, int, int], attention: str = "original",
                 fp32_norms: bool = True, conditions: tuple[str, ...] = ()):
        super().__init__()
        self.conditions = conditions
        self.denoiser = denoiser if attention == "original" else rewrite_attention(denoiser, attention, grid, fp32_norms)
        cos, sin = denoiser.rope_tables(grid, dtype=denoiser.dtype)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, motion_score: torch.Tensor,
                *conditions: torch.Tensor) -> torch.Tensor:
        # Positional, as every exporter passes inputs: the stage's `conditions` say which is which.
        return self.denoiser(latents, timestep, motion_score, (self.cos, self.sin),
                             **dict(zip(self.conditions, conditions, strict=True)))


class DecoderStage(nn.Module):
    def __init__(self, decoder: nn.Module, height: int, width: int, scaling_factor: float):
        super().__init__()
        self.decoder, self.height, self.width, self.scaling_factor = decoder, height, width, scaling_factor

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return decode_latents(self.decoder, latents, self.height, self.width, self.scaling_factor)


@dataclass
class Stage:
    """A stage module with named example inputs (their shapes are the program's) and output name."""

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    output: str


def build_stages(pipe: MobileI2VPipeline, height: int, width: int, num_frames: int, attention: str = "original",
                 dtype: torch.dtype = torch.float32, fp32_norms: bool = True) -> dict[str, Stage]:
    """The encoder, (guide encoder,) denoiser and decoder of `pipe` for videos of num_frames × height × width (checked
    against the model's geometry: ValueError with the fix), in `dtype`."""
    geometry = pipe.geometry
    geometry.check(num_frames, height, width)
    grid = geometry.latent_grid(num_frames, height, width)
    latent = torch.zeros(1, geometry.channels, *grid, dtype=dtype)
    decoder = pipe.decoder_for(None)
    conditions = {"motion_score": torch.zeros(1, dtype=dtype)}
    if pipe.denoiser.config.camera_condition:
        conditions["camera"] = torch.zeros(1, CAMERA_DIM, dtype=dtype)
    if pipe.denoiser.config.camera_guide:
        # its own tensor: torch.export takes example inputs that share one tensor for one input
        conditions["guide"] = torch.zeros_like(latent)
    stages = {
        "encoder": Stage(EncoderStage(pipe.vae), {"image": torch.zeros(1, 3, height, width, dtype=dtype)},
                         "reference_latent"),
        **({"guide_encoder": Stage(GuideEncoderStage(pipe.vae),
                                   {"video": torch.zeros(1, 3, num_frames, height, width, dtype=dtype)}, "guide")}
           if pipe.denoiser.config.camera_guide else {}),
        "denoiser": Stage(DenoiserStage(pipe.denoiser, grid, attention, fp32_norms,
                                        tuple(k for k in conditions if k != "motion_score")),
                          {"latents": latent, "timestep": torch.zeros(1, grid[0], dtype=dtype), **conditions},
                          "velocity"),
        "decoder": Stage(DecoderStage(decoder, height, width, pipe.vae.config.scaling_factor),
                         {"latents": latent}, "video"),
    }
    for stage in stages.values():
        # a copy in another precision leaves the pipeline's own modules as they were
        stage.module = (stage.module if dtype == torch.float32 else copy.deepcopy(stage.module).to(dtype)).eval()
    return stages
