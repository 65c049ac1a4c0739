"""The three rewrites together, and how a denoiser takes a rewritten attention in place of its own."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.attention import LinearAttention
from ..models.denoiser import MobileI2VDenoiser
from .ane_layout import ChannelsFirstLinearAttention, channels_first_rope
from .head_tiling import HeadTiledLinearAttention
from .linear_attention_einsum import EinsumLinearAttention, einsum_products


class ANELinearAttention(HeadTiledLinearAttention):
    """All three: channels-first with 1×1 convs, one head at a time, einsum products (one transpose)."""

    products = staticmethod(einsum_products)


# name → rewrite, for the benchmark and for `rewrite_attention`; "all" is what Core ML export uses.
REWRITES = {
    "layout": ChannelsFirstLinearAttention,
    "head-tiling": HeadTiledLinearAttention,
    "einsum": EinsumLinearAttention,
    "all": ANELinearAttention,
}


class ChannelsFirstAdapter(nn.Module):
    """A channels-first rewrite in a block that passes (B, N, D) tokens, with its grid's RoPE tables baked
    in as buffers. The two transposes stay: the rest of the block is token-major."""

    def __init__(self, attention: ChannelsFirstLinearAttention, rope: tuple[torch.Tensor, torch.Tensor]):
        super().__init__()
        self.attention = attention
        cos, sin = channels_first_rope(rope)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor, rope=None) -> torch.Tensor:
        y = self.attention(x.transpose(1, 2)[:, :, None], (self.cos, self.sin))  # (B, D, 1, N)
        return y[:, :, 0].transpose(1, 2)


def rewrite_attention(denoiser: MobileI2VDenoiser, rewrite: str, grid: tuple[int, int, int],
                      fp32_norms: bool = True) -> MobileI2VDenoiser:
    """A copy of `denoiser` whose linear attentions are the `rewrite` (a `REWRITES` name) for the latent
    `grid` (T, H, W); the original is untouched."""
    denoiser = copy.deepcopy(denoiser)
    rope = denoiser.rope_tables(grid, dtype=torch.float32)
    for block in denoiser.blocks:
        if isinstance(block.attn, LinearAttention):
            block.attn = ChannelsFirstAdapter(REWRITES[rewrite].from_original(block.attn, fp32_norms), rope)
    return denoiser
