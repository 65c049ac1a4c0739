"""The latent geometry: how an autoencoder maps a video onto its latent grid, as one fact.

A video of T frames, H × W pixels becomes a latent of `channels` × T' × H' × W' with
T' = (T − 1) / temporal + 1 and H' = ⌈H / spatial⌉, W' = ⌈W / spatial⌉: frame 0 alone makes latent frame 0
(the causal encoder's reference frame), then each group of `temporal` frames one latent frame, and H and W
are padded up to the spatial grid. LTX-Video's VAE (the paper's) is 32 × 32 × 8 with 128 channels; the
shipped model's is 32 × 32 × 1 (every frame its own latent frame). Everything that sizes, pads, patches
or checks a video reads it from here, via `LatentGeometry.of(vae)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import torch
import torch.nn.functional as F

# Sizes must be even for H.264 (4:2:0 chroma); 8 keeps every codec and the latent grid's padding sane.
SIZE_MULTIPLE = 8
MIN_SIZE = 32


def space_to_depth(x: torch.Tensor, stride: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) → (B, C·st·sh·sw, T/st, H/sh, W/sw), channels ordered c, then the frame, row and
    column offsets within a stride block (diffusers' order). No tensor above rank 5, for the on-device
    runtimes (Core ML holds rank 5, XNNPACK rank 6; docs/export.md)."""
    B, C, T, H, W = x.shape
    st, sh, sw = stride
    t, h, w = T // st, H // sh, W // sw
    # the axes (B·C, t, st, h, sh, w, sw) → (B·C, st, sh, sw, t, h, w), one group moved left at a time
    x = x.reshape(B * C * T * H, w, sw).transpose(1, 2)  # (…, sw, w)
    x = x.reshape(B * C * T, h, sh * sw, w).transpose(1, 2)  # (…, sh·sw, h, w)
    x = x.reshape(B * C, t, st * sh * sw, h * w).transpose(1, 2)  # (B·C, st·sh·sw, t, h·w)
    return x.reshape(B, C * st * sh * sw, t, h, w)


def depth_to_space(x: torch.Tensor, stride: tuple[int, int, int]) -> torch.Tensor:
    """The inverse of `space_to_depth`: (B, C·st·sh·sw, t, h, w) → (B, C, t·st, h·sh, w·sw), the same swaps
    undone in reverse order."""
    B, D, t, h, w = x.shape
    st, sh, sw = stride
    C = D // (st * sh * sw)
    x = x.reshape(B * C, st * sh * sw, t, h * w).transpose(1, 2)  # (B·C, t, st·sh·sw, h·w)
    x = x.reshape(B * C * t * st, sh * sw, h, w).transpose(1, 2)  # (…, h, sh·sw, w)
    x = x.reshape(B * C * t * st * h * sh, sw, w).transpose(1, 2)  # (…, w, sw)
    return x.reshape(B, C, t * st, h * sh, w * sw)


@dataclass(frozen=True)
class LatentGeometry:
    spatial: int = 32
    temporal: int = 8
    channels: int = 128

    @classmethod
    def of(cls, vae) -> LatentGeometry:
        """The geometry of a diffusers `AutoencoderKLLTXVideo` (or anything with its three attributes)."""
        return cls(vae.spatial_compression_ratio, vae.temporal_compression_ratio, vae.config.latent_channels)

    def frame_rule(self) -> str:
        """The allowed frame counts, for messages: '8k+1 (1, 9, 17, ...)'."""
        t = self.temporal
        return "any number" if t == 1 else f"{t}k+1 (1, {t + 1}, {2 * t + 1}, ...)"

    def check(self, num_frames: int, height: int | None = None, width: int | None = None) -> None:
        """Raise ValueError with the fix if a (frames, height, width) request cannot be generated.
        A size left as None is not checked."""
        for name, value in (("num_frames", num_frames), ("height", height), ("width", width)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, Integral)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if num_frames < 1 or (num_frames - 1) % self.temporal:
            k = max(0, round((num_frames - 1) / self.temporal))
            raise ValueError(f"num_frames must be {self.frame_rule()} for this model's autoencoder, got "
                             f"{num_frames}; try {self.temporal * k + 1}")
        for name, size in (("height", height), ("width", width)):
            if size is not None and (size < MIN_SIZE or size % SIZE_MULTIPLE):
                raise ValueError(f"{name} must be a multiple of {SIZE_MULTIPLE} and at least {MIN_SIZE}, got {size}")

    def latent_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T', H', W') of the latent for a video, after padding H and W up to the spatial grid."""
        return (num_frames - 1) // self.temporal + 1, math.ceil(height / self.spatial), math.ceil(width / self.spatial)

    def num_frames(self, latent_frames: int) -> int:
        """The video frames that `latent_frames` latent frames decode to."""
        return (latent_frames - 1) * self.temporal + 1

    def usable_frames(self, num_frames: int) -> int:
        """The longest prefix of a clip of `num_frames` that the autoencoder can encode."""
        return self.num_frames((num_frames - 1) // self.temporal + 1)

    def pad(self, video: torch.Tensor) -> torch.Tensor:
        """Pad (..., H, W) at the bottom and right, repeating edge pixels, up to the spatial grid."""
        h, w = video.shape[-2:]
        pad = (0, -w % self.spatial, 0, -h % self.spatial)
        if not any(pad):
            return video
        flat = video.reshape(-1, *video.shape[-3:])  # replicate padding wants a 4-D tensor
        return F.pad(flat, pad, mode="replicate").reshape(*video.shape[:-2], h + pad[3], w + pad[1])

    def patchify(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W), H and W on the grid → (B, C·s², T', H/s, W/s), s = `spatial`: frame 0 alone,
        then each group of `temporal` frames averaged; a latent position's channels are its s × s pixels
        (channel-major: c, then row, then column). What a linear autoencoder path sees."""
        frames = torch.cat([video[:, :, :1], video[:, :, 1:].unflatten(2, (-1, self.temporal)).mean(3)], dim=2)
        return space_to_depth(frames, (1, self.spatial, self.spatial))

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """The inverse of `patchify`: each latent frame's picture held for the frames it stands for."""
        frames = depth_to_space(patches, (1, self.spatial, self.spatial))
        return torch.cat([frames[:, :, :1], frames[:, :, 1:].repeat_interleave(self.temporal, dim=2)], dim=2)
