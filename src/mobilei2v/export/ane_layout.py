"""Rewrite 1 of 3 for Apple's Neural Engine: linear attention on channels-first 4-D tensors.

The ANE's native layout is (B, C, 1, S): channels on axis 1, the sequence on the last axis, which it
keeps contiguous and pads to 64 bytes. A (B, N, D) tensor puts D on that axis instead, and every
Linear becomes a layout change around a matmul. Here the projections are 1×1 convolutions on
(B, D, 1, S) and the q/k RMSNorms reduce over axis 1. The per-head products still move data as
`models.attention.LinearAttention` does (each head transposed to token-major and back); rewrites 2
(`head_tiling`) and 3 (`linear_attention_einsum`) change that part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.attention import LinearAttention
from ..models.rope import swap_halves


def conv1x1(linear: nn.Linear) -> nn.Conv2d:
    """A 1×1 Conv2d computing `linear` on (B, C, 1, S) tensors, sharing nothing with it."""
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1, bias=linear.bias is not None)
    conv.weight.data.copy_(linear.weight.data[:, :, None, None])
    if linear.bias is not None:
        conv.bias.data.copy_(linear.bias.data)
    return conv


class ChannelsFirstRMSNorm(nn.Module):
    """RMSNorm over axis 1 of (B, C, 1, S). In fp32 whatever the input dtype (`fp32=False` computes in the
    input's dtype: only to measure what fp32 buys, docs/export.md): the sum of squares of a 288-channel
    activation overflows fp16's 65,504 once the values pass about 15."""

    def __init__(self, weight: torch.Tensor, eps: float, fp32: bool = True):
        super().__init__()
        self.eps = eps
        self.fp32 = fp32
        self.weight = nn.Parameter(weight.detach().clone().reshape(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float() if self.fp32 else x
        y = y * torch.rsqrt(y.pow(2).mean(dim=1, keepdim=True) + self.eps) * self.weight.to(y.dtype)
        return y.to(x.dtype)


def channels_first_rope(rope: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """`rope_tables`' (S, d) cos and signed sin → (d, 1, S) tables for `rotate`."""
    return tuple(t.transpose(0, 1)[:, None].contiguous() for t in rope)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, part: int) -> torch.Tensor:
    """RoPE on channels-first x (B, C, 1, S), C a whole number of heads, tables (C, 1, S): each `part`
    channels (a third of a head: one axis of the 3-D RoPE) have their halves swapped, as `apply_rope`
    does on the last axis."""
    return x * cos + swap_halves(x, part, dim=1) * sin


def token_major_products(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, eps: float) -> torch.Tensor:
    """The linear-attention products as `LinearAttention` orders them: q, k, v (..., d, S) in fp32 are
    transposed to (..., S, d), k once more for kᵀv, and the result back: five transposes. → (..., d, S)."""
    q, k, v = (t.transpose(-1, -2) for t in (q, k, v))  # (..., S, d)
    v = F.pad(v, (0, 1), value=1.0)  # the ones column carries the normaliser (models/attention.py)
    out = q @ (k.transpose(-1, -2) @ v)  # (..., S, d+1)
    out = out[..., :-1] / (out[..., -1:] + eps)
    return out.transpose(-1, -2)


class ChannelsFirstLinearAttention(nn.Module):
    """`LinearAttention` on (B, D, 1, S) with 1×1-conv projections; heads batched by a reshape to
    (B, h, d, S). `forward(x, rope)` takes the (d, 1, S) tables of `channels_first_rope`."""

    products = staticmethod(token_major_products)

    def __init__(self, original: LinearAttention, fp32_norms: bool = True):
        super().__init__()
        self.num_heads = original.num_heads
        self.eps = original.eps
        self.qkv = conv1x1(original.qkv)
        self.q_norm = ChannelsFirstRMSNorm(original.q_norm.weight, original.q_norm.eps, fp32_norms)
        self.k_norm = ChannelsFirstRMSNorm(original.k_norm.weight, original.k_norm.eps, fp32_norms)
        self.proj = conv1x1(original.proj)

    @classmethod
    def from_original(cls, attention: LinearAttention, fp32_norms: bool = True):
        """The rewrite of `attention`, with copies of its weights."""
        return cls(attention, fp32_norms).to(attention.qkv.weight.dtype)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=1)  # 3 × (B, D, 1, S)
        q, k = self.q_norm(q), self.k_norm(k)  # over all D channels, before the head split
        return self.proj(self.heads(q, k, v, rope).to(x.dtype))

    def heads(self, q, k, v, rope) -> torch.Tensor:
        """All heads at once: (B, D, 1, S) → RoPE, ReLU → (B, h, d, S) → products → (B, D, 1, S)."""
        B, D, _, S = q.shape
        h = self.num_heads
        cos, sin = (t.repeat(h, 1, 1) for t in rope)  # (D, 1, S): every head rotates alike
        part = D // h // 3
        q, k = (F.relu(rotate(t, cos, sin, part)).float().view(B, h, -1, S) for t in (q, k))
        out = self.products(q, k, v.float().view(B, h, -1, S), self.eps)  # (B, h, d, S)
        return out.reshape(B, D, 1, S)
