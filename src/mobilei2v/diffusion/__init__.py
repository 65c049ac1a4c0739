"""Rectified flow: noising, σ schedules, the training loss and the Euler sampler (docs/architecture.md §4)."""

from .flow import frame_timesteps, logit_normal_sigmas, noise_latents
from .loss import flow_matching_loss
from .sampler import sample_latents

__all__ = [
    "flow_matching_loss",
    "frame_timesteps",
    "logit_normal_sigmas",
    "noise_latents",
    "sample_latents",
]
