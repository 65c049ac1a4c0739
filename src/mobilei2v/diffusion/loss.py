"""The image-to-video flow-matching training loss."""

from __future__ import annotations

import torch

from .flow import frame_timesteps, logit_normal_sigmas, noise_latents


def flow_matching_loss(
    denoiser: torch.nn.Module,
    latents: torch.Tensor,
    reference_latent: torch.Tensor,
    motion_score: torch.Tensor,
    *,
    mask_reference: bool = True,
    residual: bool = False,
    sigma: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    camera: torch.Tensor | None = None,
    guide: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE between the predicted and the true velocity ε − x0 for a batch of clean video latents.

    latents (B, C, T, H, W): the encoded clip; reference_latent (B, C, 1, H, W): frame 0 encoded alone,
    which replaces latent frame 0 of the noisy input (timestep 0), exactly as at sampling time.
    mask_reference: leave frame 0 out of the loss. The authors keep it, which trains the model to
    predict pure noise at a position whose input is clean; masking it is the default.
    residual: the flow runs on each frame's difference from the reference latent (the denoiser's
    `reference_residual`); frame 0 of the input is still the clean reference.
    sigma, noise: fixed values instead of logit-normal σ and Gaussian ε (for tests and distillation).
    camera: (B, 4) camera moves, for a denoiser with `camera_condition` (zeros: any direction).
    guide: (B, C, T, H, W), for a denoiser with `camera_guide`: the photo filmed along the clip's camera
    move, encoded; with `residual` the flow runs on each frame's difference from it instead.
    """
    B, _, T = latents.shape[:3]
    if residual:
        latents = latents - (reference_latent if guide is None else guide)  # frame 0's residual is 0
    if sigma is None:
        sigma = logit_normal_sigmas(B, generator=generator, device=latents.device)
    if noise is None:
        noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    noisy = noise_latents(latents, noise, sigma)
    noisy[:, :, :1] = reference_latent
    target = noise - latents
    conditions = {k: v for k, v in (("camera", camera), ("guide", guide)) if v is not None}
    prediction = denoiser(noisy, frame_timesteps(sigma, T), motion_score, **conditions)
    error = (prediction.float() - target.float()) ** 2
    if mask_reference:
        error = error[:, :, 1:]
    return error.mean()
