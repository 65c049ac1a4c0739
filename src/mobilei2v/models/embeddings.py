"""Scalar conditions (timestep, motion score) → hidden vectors."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(values: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """(...,) floats → (..., dim) fp32 [cos, sin] features at geometrically spaced frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half)
    args = values.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ScalarEmbedder(nn.Module):
    """Sinusoidal features of a scalar, then a two-layer SiLU MLP."""

    def __init__(self, hidden_size: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        features = sinusoidal_embedding(values, self.frequency_dim)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class Modulation(nn.Module):
    """SiLU → Linear: a condition vector → `num` shift/scale/gate vectors of the hidden size."""

    def __init__(self, hidden_size: int, num: int):
        super().__init__()
        self.num = num
        self.proj = nn.Linear(hidden_size, num * hidden_size)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        return self.proj(nn.functional.silu(condition)).unflatten(-1, (self.num, -1))  # (..., num, D)
