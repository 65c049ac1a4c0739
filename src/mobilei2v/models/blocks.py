"""A denoiser block: adaLN-modulated attention and a convolutional GLU feed-forward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import LinearAttention, SoftmaxAttention


class GLUMBConv(nn.Module):
    """Inverted bottleneck with a per-frame 3×3 depthwise conv and a SiLU-gated linear unit.

    The 1×1 convs are Linears on the tokens; only the depthwise conv needs the (H, W) grid, and it
    runs on a channels-last view of the token tensor, so no layout copy is made around it.
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.expand = nn.Linear(dim, 2 * hidden)
        self.depthwise = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden)
        self.project = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        B, N, _ = x.shape
        t, h, w = grid
        y = F.silu(self.expand(x))  # (B, N, 2F)
        y = y.view(B * t, h, w, -1).permute(0, 3, 1, 2)  # (B·T, 2F, H, W), channels-last in memory
        y = self.depthwise(y).permute(0, 2, 3, 1)  # (B·T, H, W, 2F)
        a, gate = y.chunk(2, dim=-1)
        return self.project((a * F.silu(gate)).reshape(B, N, -1))


class DenoiserBlock(nn.Module):
    """x += gate·Attn(modulate(LN(x))); x += gate·FFN(modulate(LN(x))), modulation per latent frame."""

    def __init__(self, dim: int, num_heads: int, ffn_hidden: int, attention: str, norm_eps: float = 1e-6,
                 linear_attention_eps: float = 1e-8, qk_norm_eps: float = 1e-5, softmax_qk_norm: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
        if attention == "linear":
            self.attn = LinearAttention(dim, num_heads, linear_attention_eps, qk_norm_eps)
        elif attention == "softmax":
            self.attn = SoftmaxAttention(dim, num_heads, qk_norm_eps if softmax_qk_norm else None)
        else:
            raise ValueError(f"unknown attention kind {attention!r}: use 'linear' or 'softmax'")
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
        self.ffn = GLUMBConv(dim, ffn_hidden)
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, modulation: torch.Tensor, grid: tuple[int, int, int],
                rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        # x (B, N, D); modulation (B, T, 6, D): one set per latent frame, shared by its H·W tokens.
        B, N, D = x.shape
        t = grid[0]
        mod = (self.scale_shift_table + modulation).unsqueeze(2)  # (B, T, 1, 6, D)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.unbind(3)  # (B, T, 1, D)
        frames = x.view(B, t, -1, D)  # (B, T, H·W, D)
        h = self.norm1(frames) * (1 + scale_msa) + shift_msa
        frames = frames + gate_msa * self.attn(h.view(B, N, D), rope).view(B, t, -1, D)
        h = self.norm2(frames) * (1 + scale_mlp) + shift_mlp
        frames = frames + gate_mlp * self.ffn(h.view(B, N, D), grid).view(B, t, -1, D)
        return frames.view(B, N, D)
