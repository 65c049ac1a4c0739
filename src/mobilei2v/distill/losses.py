"""The distillation losses (docs/distillation.md): regression, adversarial (LADD) and distribution matching
(DMD2), for a student that samples in 1–2 steps and a frozen teacher that needs 30.

Everything here runs in the flow's own space: the latents, or with the denoiser's `reference_residual`
each frame's difference from the reference latent, or from the guide with `camera_guide` (`flow_latents`).
Latent frame 0 of every denoiser input is the clean reference at timestep 0, as in training and sampling,
and every loss leaves it out: it is never generated. A denoiser's clean estimate from x_σ is
x̂0 = x_σ − σ·v̂ (`denoise`). Every denoiser call gets the clip's `conditions`: the denoiser's keyword
inputs beside the motion score, "camera" (B, 4) for a denoiser with `camera_condition` and "guide"
(B, C, T, H, W) for one with `camera_guide`, as `flow_matching_loss` and `sample_latents` take them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ..diffusion.flow import frame_timesteps, logit_normal_sigmas, noise_latents

# DMD2 re-noises the student's sample at a σ drawn uniformly from its teacher's training range without
# the last 2 % at either end.
DMD_SIGMA_RANGE = (0.02, 0.98)

Conditions = Mapping[str, torch.Tensor]  # see the module's docstring


def flow_latents(latents: torch.Tensor, reference_latent: torch.Tensor, residual: bool,
                 guide: torch.Tensor | None = None) -> torch.Tensor:
    """What the flow runs on: `latents` (B, C, T, H, W), or with `residual` each frame's difference from
    `reference_latent` (B, C, 1, H, W), or from `guide` (B, C, T, H, W) when there is one, as
    `flow_matching_loss` does."""
    if not residual:
        return latents
    return latents - (reference_latent if guide is None else guide)


def generated(latents: torch.Tensor) -> torch.Tensor:
    """The generated latent frames (B, C, T − 1, H, W): all but the reference."""
    return latents[:, :, 1:]


def denoise(denoiser: torch.nn.Module, noisy: torch.Tensor, sigma: torch.Tensor, reference_latent: torch.Tensor,
            motion_score: torch.Tensor, feature_blocks: Sequence[int] = (),
            conditions: Conditions | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x̂0 = x_σ − σ·v̂, the denoiser's clean estimate from x_σ (B, C, T, H, W) at σ (B,), with latent frame 0
    the clean reference at timestep 0; and the (B, N, D) token features after each of `feature_blocks`.
    conditions: the clip's camera move and/or guide (see the module's docstring)."""
    noisy = torch.cat([reference_latent.to(noisy.dtype), generated(noisy)], dim=2)
    velocity, features = denoiser.forward_with_features(noisy, frame_timesteps(sigma, noisy.shape[2]), motion_score,
                                                        feature_blocks=feature_blocks, **(conditions or {}))
    return noisy - sigma.reshape(-1, 1, 1, 1, 1) * velocity.float(), features


def regression_loss(x0: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of the student's x̂0 to `target` over the generated frames: the teacher's ODE result from the same
    noise (`regression`), or the pair's real clip (`real_regression`)."""
    return F.mse_loss(generated(x0).float(), generated(target).float())


def teacher_features(teacher: torch.nn.Module, x0: torch.Tensor, reference_latent: torch.Tensor,
                     motion_score: torch.Tensor, blocks: Sequence[int], sigma: torch.Tensor | None = None,
                     noise: torch.Tensor | None = None, conditions: Conditions | None = None) -> list[torch.Tensor]:
    """The teacher's token features after each of `blocks` for x0 re-noised to σ (default: logit-normal, the
    teacher's training distribution), generated frames' tokens only: one (B, (T − 1)·H·W, D) per block.
    Gradients reach x0 through the teacher (whose weights are frozen by the caller)."""
    B, _, _, H, W = x0.shape
    if sigma is None:
        sigma = logit_normal_sigmas(B, device=x0.device)
    if noise is None:
        noise = torch.randn_like(x0)
    _, features = denoise(teacher, noise_latents(x0, noise, sigma), sigma, reference_latent, motion_score, blocks,
                          conditions)
    return [f[:, H * W:] for f in features]  # tokens are frame-major: frame 0's H·W come first


def discriminator_loss(real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Hinge loss, mean over heads: mean(relu(1 − D(real))) + mean(relu(1 + D(fake)))."""
    return torch.stack([F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()
                        for real, fake in zip(real_logits, fake_logits)]).mean()


def generator_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """The student's side of the hinge game, mean over heads: −mean(D(fake))."""
    return -torch.stack([fake.float().mean() for fake in fake_logits]).mean()


def distribution_matching_loss(x0: torch.Tensor, teacher: torch.nn.Module, fake_score: torch.nn.Module,
                               reference_latent: torch.Tensor, motion_score: torch.Tensor,
                               sigma: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                               conditions: Conditions | None = None) -> torch.Tensor:
    """DMD2's distribution matching for the student's samples x0 (B, C, T, H, W, flow space).

    x0 is re-noised to x_σ (σ uniform in DMD_SIGMA_RANGE by default); the teacher ("real" score) and the
    fake-score model, which tracks the student's own distribution, each give a clean estimate. Per sample,
    g = (x̂0_fake − x̂0_real) / mean|x0 − x̂0_real|: the difference of the two scores, normalised so that its
    size does not depend on σ or on how far the sample is from the teacher's estimate. The loss
    ½·mean((x0 − sg(x0 − g))²) has the gradient g / numel with respect to x0, so the student moves along
    −g, towards what the teacher finds likely and away from what it already makes; its value is ½·mean(g²).
    """
    B = x0.shape[0]
    if sigma is None:
        low, high = DMD_SIGMA_RANGE
        sigma = low + (high - low) * torch.rand(B, device=x0.device)
    if noise is None:
        noise = torch.randn_like(x0)
    with torch.no_grad():
        noisy = noise_latents(x0.detach(), noise, sigma)
        real = generated(denoise(teacher, noisy, sigma, reference_latent, motion_score, conditions=conditions)[0])
        fake = generated(denoise(fake_score, noisy, sigma, reference_latent, motion_score, conditions=conditions)[0])
        sample = generated(x0.detach()).float()
        # (a sample exactly at the teacher's estimate would divide by 0)
        scale = (sample - real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp_min(1e-8)
        gradient = (fake - real) / scale
    sample = generated(x0).float()
    return 0.5 * F.mse_loss(sample, (sample - gradient).detach())
