"""An ExecuTorch rewrite: LTX-Video's encoder (diffusers' `LTXVideoEncoder3d`) with no tensor above rank 5.

The encoder's first step folds each patch of pt frames and p × p pixels into channels through one rank-8
reshape and permute, ordered c, then the frame, column and row offsets (columns before rows). XNNPACK
holds tensors up to rank 6 and its partitioner does not check, so the program fails to load. Here the
fold is `space_to_depth` (swaps of adjacent axis groups at rank ≤ 5) on the frames with rows and columns
swapped, which puts the column offset before the row's, and the rest is the encoder's own layers in its
order: the same arithmetic, so the output is the original's.
"""

from __future__ import annotations

import torch
from diffusers.models.autoencoders.autoencoder_kl_ltx import LTXVideoEncoder3d
from torch import nn

from ..models.geometry import space_to_depth
from .swap import swap_modules


class Rank5Encoder(nn.Module):
    """`LTXVideoEncoder3d`'s forward (without gradient checkpointing) on tensors of rank ≤ 5, sharing its layers."""

    def __init__(self, original: LTXVideoEncoder3d):
        super().__init__()
        self.original = original

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.original
        p = e.patch_size
        x = space_to_depth(x.transpose(3, 4), (e.patch_size_t, p, p)).transpose(3, 4)  # (B, C·pt·p², T', H', W')
        x = e.conv_in(x)
        for down_block in e.down_blocks:
            x = down_block(x)
        x = e.mid_block(x)
        x = e.conv_out(e.conv_act(e.norm_out(x.movedim(1, -1)).movedim(-1, 1)))
        # the one log-variance channel, repeated to one per latent channel as diffusers does
        return torch.cat([x, x[:, -1:].repeat(1, x.size(1) - 2, 1, 1, 1)], dim=1)


def rewrite_encoders(module: nn.Module) -> nn.Module:
    """`module`, or a copy of it with every `LTXVideoEncoder3d` a `Rank5Encoder` if it has any (the original
    is untouched)."""
    return swap_modules(module, LTXVideoEncoder3d, Rank5Encoder)
