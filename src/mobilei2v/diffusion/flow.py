"""Rectified-flow facts shared by training and sampling.

x_σ = (1 − σ)·x0 + σ·ε for σ ∈ [0, 1]; the denoiser predicts v = ε − x0 from the model timestep
1000·σ. Latent frame 0 is the clean reference (encoded from the input image) and its timestep is 0.
"""

from __future__ import annotations

import torch

NUM_TRAIN_TIMESTEPS = 1000


def noise_latents(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(1 − σ)·x0 + σ·ε with σ (B,) broadcast over (B, C, T, H, W)."""
    sigma = sigma.reshape(-1, *([1] * (x0.ndim - 1))).to(x0.dtype)
    return (1 - sigma) * x0 + sigma * noise


def frame_timesteps(sigma: torch.Tensor, num_frames: int, num_reference_frames: int = 1) -> torch.Tensor:
    """(B, T) model timesteps: 1000·σ for generated frames, 0 for the reference frames.

    The authors' per-token rule min(1000·σ, (1 − cond_mask)·1000) with the mask set on frame 0.
    """
    sigma = sigma.reshape(-1, 1).float()
    generated = torch.arange(num_frames, device=sigma.device) >= num_reference_frames  # (T,)
    return NUM_TRAIN_TIMESTEPS * sigma * generated


def logit_normal_sigmas(batch_size: int, mean: float = 0.0, std: float = 1.0,
                        generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Training σ ~ sigmoid(N(mean, std)), no shift (SD3's logit-normal sampling)."""
    return torch.sigmoid(mean + std * torch.randn(batch_size, generator=generator, device=device))
