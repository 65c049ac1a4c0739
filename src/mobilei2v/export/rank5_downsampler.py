"""A Core ML rewrite: LTX-Video 0.9.5's downsampler (diffusers' `LTXVideoDownsampler3d`) with no tensor
above rank 5.

The downsampler folds each stride block of frames, rows and columns into channels (space-to-depth) through
one rank-8 view and permute, on the convolved input and on a residual whose groups of channels it then
averages through a rank-6 view. Core ML holds tensors up to rank 5; coremltools 9 splits a lone
view → permute → view of higher rank itself, but not the residual's chain, where the rank-6 view follows.
Here the fold is three swaps of adjacent axis groups at rank 3 or 4 and the group mean runs at rank 4:
the same arithmetic, so the output is the original's.
"""

from __future__ import annotations

import torch
from diffusers.models.autoencoders.autoencoder_kl_ltx import LTXVideoDownsampler3d
from torch import nn

from ..models.geometry import space_to_depth
from .swap import swap_modules


class Rank5Downsampler(nn.Module):
    """`LTXVideoDownsampler3d`'s forward on tensors of rank ≤ 5, sharing its convolution."""

    def __init__(self, original: LTXVideoDownsampler3d):
        super().__init__()
        self.stride, self.group_size, self.conv = original.stride, original.group_size, original.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, :, : self.stride[0] - 1], x], dim=2)  # (B, C, T, H, W): causal frames in front
        residual = space_to_depth(x, self.stride)  # (B, C·s, T', H', W'), s the stride block's size
        B, _, t, h, w = residual.shape
        residual = residual.reshape(B, -1, self.group_size, t * h * w).mean(2).reshape(B, -1, t, h, w)
        return space_to_depth(self.conv(x), self.stride) + residual


def rewrite_downsamplers(module: nn.Module) -> nn.Module:
    """`module`, or a copy of it with every `LTXVideoDownsampler3d` a `Rank5Downsampler` if it has any
    (the original is untouched)."""
    return swap_modules(module, LTXVideoDownsampler3d, Rank5Downsampler)
