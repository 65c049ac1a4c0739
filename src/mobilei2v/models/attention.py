"""The denoiser's two attention kinds: ReLU linear attention (O(N)) and softmax attention.

Both take tokens (B, N, D) and RoPE tables for the N positions, and return (B, N, D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import apply_rope


class RMSNorm(nn.Module):
    """RMSNorm computed in fp32 whatever the input dtype, weight included; the result is cast back."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(x.dtype)


class LinearAttention(nn.Module):
    """ReLU linear attention (SANA's LiteLA) with RMS-normalised q, k and 3-D RoPE.

    out_i = Σ_j v_j (φ(k_j)·φ(q_i)) / (Σ_j φ(k_j)·φ(q_i) + eps), φ = ReLU after RoPE, in fp32.
    Summing kᵀv first costs O(N·d²) time and O(N·d + d²) memory: no N×N tensor ever exists.
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-8, qk_norm_eps: float = 1e-5):
        super().__init__()
        self.num_heads = num_heads
        self.eps = eps
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_norm = RMSNorm(dim, qk_norm_eps)
        self.k_norm = RMSNorm(dim, qk_norm_eps)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 × (B, N, D)
        # The norms run over all D channels, before the head split.
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.view(B, N, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))  # (B, h, N, d)
        q = F.relu(apply_rope(q, rope)).float()
        k = F.relu(apply_rope(k, rope)).float()
        # A column of ones appended to v makes the same product carry the normaliser Σ_j φ(k_j)·φ(q_i).
        v = F.pad(v.float(), (0, 1), value=1.0)  # (B, h, N, d+1)
        kv = k.transpose(-1, -2) @ v  # (B, h, d, d+1)
        out = q @ kv  # (B, h, N, d+1)
        out = out[..., :-1] / (out[..., -1:] + self.eps)
        out = out.transpose(1, 2).reshape(B, N, D).to(x.dtype)
        return self.proj(out)


class SoftmaxAttention(nn.Module):
    """Global softmax attention with 3-D RoPE through `scaled_dot_product_attention`.

    The paper's softmax blocks have no q/k norm. `qk_norm_eps` adds one as the linear blocks have it (RMSNorm
    over all D channels, before the head split): SANA-Sprint's QK-norm, which bounds the logits q·k/√d that
    a few-step student's larger updates can otherwise blow up (docs/distillation.md).
    """

    def __init__(self, dim: int, num_heads: int, qk_norm_eps: float | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        if qk_norm_eps is not None:
            self.q_norm = RMSNorm(dim, qk_norm_eps)
            self.k_norm = RMSNorm(dim, qk_norm_eps)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 × (B, N, D)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.view(B, N, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))  # (B, h, N, d)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        # The authors cast q and k to fp32 for the softmax; SDPA's kernels accumulate the softmax in fp32
        # for half-precision inputs too, without materialising fp32 copies.
        out = F.scaled_dot_product_attention(q, k, v)  # scale d^-0.5
        return self.proj(out.transpose(1, 2).reshape(B, N, D))

