"""The LTX-Video VAE (diffusers' `AutoencoderKLLTXVideo`) as the pipeline uses it (docs/architecture.md §3).

Videos are (B, 3, T, H, W) in [−1, 1]. Latents are raw encoder means times the VAE's saved
`scaling_factor` (1.0 by default, as the authors use: no mean/std normalisation). Heights and widths are
padded up to the latent grid by repeating the last row/column and cropped after decoding; frame counts
follow the VAE's temporal compression (`LatentGeometry`: 8k+1 for LTX-Video's, because the causal encoder
turns frame 0 alone into latent frame 0).
"""

from __future__ import annotations

import functools

import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .geometry import LatentGeometry


class LinearPathAutoencoder(AutoencoderKLLTXVideo):
    """LTX-Video's autoencoder plus a linear path to the latent mean: a 1×1×1 conv of each latent
    position's pixels (`LatentGeometry.patchify`). Very high compression is hard to optimise from scratch (DC-AE's
    finding, met here as hours of grey blurs); with the linear path initialised to the data's principal
    components (`train-decoder`'s `pca_init`) the model starts as PCA and the deep path learns what is
    left. Its pair is a light decoder with `linear_path`. Everything else is `AutoencoderKLLTXVideo`.

    A pipeline folder names this module as the component's library; diffusers' loader then looks for
    `ModelMixin` *in this module* to find the load method (LOADER_BASE)."""

    @functools.wraps(AutoencoderKLLTXVideo.__init__)  # diffusers reads the config keys off the signature
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        c = self.config
        self.linear_encode = nn.Conv3d(c.in_channels * self.spatial_compression_ratio**2, c.latent_channels, 1)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        moments = super()._encode(x)  # (B, 2C, ...): means, then log-variances
        c = self.config.latent_channels
        path = self.linear_encode(LatentGeometry.of(self).patchify(x))
        return torch.cat([moments[:, :c] + path.to(moments.dtype), moments[:, c:]], dim=1)


LOADER_BASE = ModelMixin  # what diffusers' pipeline loader looks up in this module (LinearPathAutoencoder)


@torch.no_grad()
def encode_video(vae: AutoencoderKLLTXVideo, video: torch.Tensor, generator: torch.Generator | None = None,
                 sample: bool = False) -> torch.Tensor:
    """(B, 3, T, H, W) in [−1, 1] → (B, C, T', H', W') scaled latents.

    The posterior mean by default (deterministic); `sample=True` draws from it as the authors do.
    """
    geometry = LatentGeometry.of(vae)
    if not torch.jit.is_tracing():  # a traced export sees shapes as tensors; it checked its sizes before
        geometry.check(video.shape[2], *video.shape[-2:])
    posterior = vae.encode(geometry.pad(video).to(vae.dtype)).latent_dist
    latents = posterior.sample(generator) if sample else posterior.mode()
    return latents.float() * vae.config.scaling_factor


def decode_latents(decoder: torch.nn.Module, latents: torch.Tensor, height: int, width: int,
                   scaling_factor: float) -> torch.Tensor:
    """Scaled latents → (B, 3, T, height, width) video in [−1, 1], by the LTX VAE or a light decoder."""
    z = (latents / scaling_factor).to(decoder.dtype)
    with torch.no_grad():
        video = decoder.decode(z).sample if isinstance(decoder, AutoencoderKLLTXVideo) else decoder(z)
    return video[..., :height, :width].float().clamp(-1, 1)


# LTX-Video 0.9.5's spatial-only downsampling blocks, three of them after the patch-4 input: 32×32
# spatial compression with every frame its own latent frame (temporal compression 1).
_PER_FRAME = dict(
    down_block_types=("LTXVideo095DownBlock3D",) * 3,
    spatio_temporal_scaling=(True, True, True),
    downsample_type=("spatial",) * 3,
    spatial_compression_ratio=32,
    temporal_compression_ratio=1,
)
# The narrowest LTX decoder that keeps the shape: the small models decode with their light decoder, and
# this one is a placeholder that is never trained (a model that ships one says so, and `generate`
# refuses to decode with it).
_PLACEHOLDER_DECODER = dict(decoder_block_out_channels=(8, 16, 32, 32), decoder_layers_per_block=(1, 1, 1, 1, 1))

VAE_PRESETS = {
    # LTX-Video 0.9.0's VAE: diffusers' default configuration (419 M parameters).
    "ltx-video": {},
    # The first shipped model's encoder (4.8 M + the 0.4 M linear path): LTX-Video's 32×32×8 compression
    # and 128 latent channels at a quarter of the width.
    "small": dict(_class_name="LinearPathAutoencoder", block_out_channels=(32, 64, 128, 128),
                  layers_per_block=(1, 1, 1, 1, 1), **_PLACEHOLDER_DECODER),
    # The shipped model's encoder (2.7 M + the 0.4 M linear path): `small` with per-frame latents. At 8×
    # temporal compression a from-scratch autoencoder keeps only each group of 8 frames' average: videos
    # move in jumps.
    "small-per-frame": dict(_class_name="LinearPathAutoencoder", block_out_channels=(32, 64, 128, 128),
                            layers_per_block=(1, 1, 1, 1), **_PER_FRAME, **_PLACEHOLDER_DECODER),
    # For tests: the real compressions (32×32×8, and per frame) with 16 latent channels and thin layers.
    "tiny": dict(latent_channels=16, block_out_channels=(8, 16, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
                 **_PLACEHOLDER_DECODER),
    "tiny-per-frame": dict(latent_channels=16, block_out_channels=(8, 16, 32, 32), layers_per_block=(1, 1, 1, 1),
                           **_PER_FRAME, **_PLACEHOLDER_DECODER),
}
