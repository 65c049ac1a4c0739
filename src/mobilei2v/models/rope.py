"""3-D rotary position embedding (RoPE) over (frame, row, column) latent positions.

The head dimension is split into three equal parts for the t, y and x axes. Within each part the
frequencies are duplicated ([f0..fk, f0..fk]) and rotated "rotate-half" (NeoX) style, so each part is
an ordinary 1-D RoPE of its axis.

The tables depend only on the latent grid, never on the data, so they can be computed ahead of time
and passed to the denoiser (on-device export feeds them as constant inputs).
"""

from __future__ import annotations

import torch

# Positions are divided by these before rotation. The authors trained at 3×23×40 latents and map
# 23 rows and 40 columns onto a 16×16 base grid (23/1.4375 = 40/2.5 = 16).
DEFAULT_ROPE_SCALE = (1.0, 1.4375, 2.5)


def latent_positions(
    grid: tuple[int, int, int], scale: tuple[float, float, float] = DEFAULT_ROPE_SCALE
) -> torch.Tensor:
    """(N, 3) float64 positions of a frame-major, then row, then column token order."""
    t, h, w = grid
    axes = [torch.arange(n, dtype=torch.float64) / s for n, s in zip((t, h, w), scale)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def rope_tables(
    grid: tuple[int, int, int],
    head_dim: int,
    theta: float = 10000.0,
    scale: tuple[float, float, float] = DEFAULT_ROPE_SCALE,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed sin tables, each (N, head_dim), for `apply_rope`.

    The sin table carries the sign of rotate-half (−sin on the first half of each axis part), so that
    applying RoPE is `x·cos + swap_halves(x)·sin` with no negation at run time.
    """
    if head_dim % 6:
        raise ValueError(f"3-D RoPE needs a head dimension divisible by 6 (three even parts), got {head_dim}")
    part = head_dim // 3
    inv_freq = 1.0 / theta ** (torch.arange(0, part, 2, dtype=torch.float64) / part)  # (part/2,)
    angles = latent_positions(grid, scale)[:, :, None] * inv_freq  # (N, 3, part/2)
    angles = torch.cat([angles, angles], dim=-1)  # (N, 3, part)
    sign = torch.cat([-torch.ones(part // 2), torch.ones(part // 2)]).to(torch.float64)
    cos = angles.cos().reshape(-1, head_dim)
    sin = (angles.sin() * sign).reshape(-1, head_dim)
    return cos.to(device=device, dtype=dtype), sin.to(device=device, dtype=dtype)


def swap_halves(x: torch.Tensor, part: int, dim: int = -1) -> torch.Tensor:
    """x with the two halves of every `part` channels along `dim` swapped (rotate-half without its sign,
    which the sin table carries). Slices and one concatenation, no reshape: an axis split in three
    parts and two halves would take a (B, h, N, d) tensor to rank 6, above Core ML's 5."""
    half = part // 2
    pieces = []
    for start in range(0, x.shape[dim], part):
        pieces += [x.narrow(dim, start + half, half), x.narrow(dim, start, half)]
    return torch.cat(pieces, dim)


def apply_rope(x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Rotate x (..., N, head_dim) by the tables of `rope_tables`."""
    cos, sin = rope
    return x * cos + swap_halves(x, x.shape[-1] // 3) * sin
