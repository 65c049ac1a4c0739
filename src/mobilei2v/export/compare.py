"""How close a rewritten or converted program's output is to the original's."""

from __future__ import annotations

import numpy as np
import torch


def psnr(reference, other) -> float:
    """PSNR (dB) of `other` against `reference`, the peak being the reference's largest magnitude, as
    Apple's ml-ane-transformers measures a rewrite (60 dB is its bar for "equal" in fp32)."""
    ref = np.asarray(reference.detach().float() if isinstance(reference, torch.Tensor) else reference, np.float64)
    out = np.asarray(other.detach().float() if isinstance(other, torch.Tensor) else other, np.float64)
    if ref.shape != out.shape:
        raise ValueError(f"PSNR of arrays of different shapes: {ref.shape} and {out.shape}")
    mse = np.mean((ref - out) ** 2)
    return float("inf") if mse == 0 else float(20 * np.log10(np.abs(ref).max() / np.sqrt(mse)))
