"""The Euler flow sampler with the reference latent frame held fixed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from .flow import frame_timesteps

# The teacher's σ-schedule shift (docs/architecture.md §4): σ' = sσ / (1 + (s − 1)σ) over linspace(1 → 0).
DEFAULT_SHIFT = 3.0
# The teacher's number of Euler steps: what a pipeline samples with when neither the call nor the model
# (a distilled student's σ list) says otherwise.
DEFAULT_STEPS = 30


def make_scheduler(shift: float = DEFAULT_SHIFT) -> FlowMatchEulerDiscreteScheduler:
    """The flow-matching Euler scheduler a pipeline carries (its saved config holds the shift)."""
    return FlowMatchEulerDiscreteScheduler(shift=shift)


def initial_noise(shape: tuple[int, ...],
                  generator: torch.Generator | Sequence[torch.Generator] | None) -> torch.Tensor:
    """Gaussian noise of `shape` (B, ...), fp32 on the CPU (the same on every device): from one generator,
    or one per batch item, drawn as diffusers pipelines draw it."""
    if generator is not None and not isinstance(generator, torch.Generator):
        # diffusers' helper would index past a short list or ignore a long one's extras
        if len(generator) != shape[0]:
            raise ValueError(f"give one generator, or one per video ({shape[0]}), not {len(generator)}")
        generator = list(generator)
    return randn_tensor(shape, generator=generator, dtype=torch.float32)


def check_sigmas(sigmas: Sequence[float]) -> None:
    """ValueError unless `sigmas` is a non-empty, strictly decreasing list in (0, 1]: a repeated σ would be
    a step of length 0, which diffusers' scheduler cannot index past."""
    sigmas = list(sigmas)
    if (not sigmas or any(not 0.0 < s <= 1.0 for s in sigmas)
            or any(later >= earlier for earlier, later in zip(sigmas, sigmas[1:]))):
        raise ValueError(f"sigmas must be a non-empty, strictly decreasing list in (0, 1], got {sigmas}")


def step_schedule(scheduler: FlowMatchEulerDiscreteScheduler, num_inference_steps: int = 30,
                  sigmas: Sequence[float] | None = None, device=None) -> FlowMatchEulerDiscreteScheduler:
    """A copy of `scheduler` set up for one sampling run; its `sigmas` are each step's σ and a final 0.

    The σ schedule is the scheduler's: its `shift` warps linspace(1 → 0) over `num_inference_steps`.
    `sigmas` instead gives the exact σ of each step (a distilled student's list, e.g. [1.0] or [1.0, 0.5]),
    used unshifted; the final 0 is implied."""
    if sigmas is not None:
        check_sigmas(sigmas)
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(scheduler.config, shift=1.0)
        scheduler.set_timesteps(sigmas=list(sigmas), device=device)
    else:
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        # The scheduler applies its shift to these, giving shift-warped linspace(1 → 0) (docs/architecture.md §4).
        unshifted = torch.linspace(1.0, 0.0, num_inference_steps + 1)[:-1]
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(scheduler.config)
        scheduler.set_timesteps(sigmas=unshifted.tolist(), device=device)
    return scheduler


def sample_latents(
    denoiser: torch.nn.Module,
    scheduler: FlowMatchEulerDiscreteScheduler,
    reference_latent: torch.Tensor,
    motion_score: torch.Tensor,
    num_latent_frames: int,
    num_inference_steps: int = 30,
    sigmas: Sequence[float] | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    noise: torch.Tensor | None = None,
    progress: bool = True,
    residual: bool = False,
    callback_on_step_end: Callable[[int, torch.Tensor, dict], dict] | None = None,
    camera: torch.Tensor | None = None,
    guide: torch.Tensor | None = None,
) -> torch.Tensor:
    """Integrate the flow from noise (σ = 1) to data (σ = 0); returns (B, C, T, H, W) latents.

    reference_latent (B, C, 1, H, W) is written into latent frame 0 before the first step and after
    every step, and its tokens always see timestep 0. The σ schedule: `step_schedule`.
    A list of generators, one per video, gives each video the noise its generator alone would (as in
    diffusers): a video does not depend on the others in its batch. `residual` (a denoiser with
    `reference_residual`) integrates each frame's difference from the reference, added back at the end.
    `callback_on_step_end(step_index, timestep, {"latents": latents})` runs after each step (progress
    reports, inspection); a "latents" entry in the dict it returns replaces the latents.
    camera: (B, 4) camera moves, for a denoiser with `camera_condition`.
    guide: (B, C, T, H, W), for a denoiser with `camera_guide`: the photo filmed along the camera move and
    encoded; with `residual` each frame's difference from it is integrated instead.
    """
    B, C, _, H, W = reference_latent.shape
    conditions = {k: v for k, v in (("camera", camera), ("guide", guide)) if v is not None}
    scheduler = step_schedule(scheduler, num_inference_steps, sigmas, reference_latent.device)
    shape = (B, C, num_latent_frames, H, W)
    if noise is None:
        noise = initial_noise(shape, generator).to(reference_latent.device)
    elif noise.shape != shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {shape}")
    latents = noise.float().clone()
    latents[:, :, :1] = reference_latent
    rope = denoiser.rope_tables((num_latent_frames, H, W))
    for i, t in enumerate(tqdm(scheduler.timesteps, desc="denoising", disable=not progress, leave=False)):
        timestep = frame_timesteps(scheduler.sigmas[i].expand(B), num_latent_frames)
        velocity = denoiser(latents.to(denoiser.dtype), timestep, motion_score, rope, **conditions)
        latents = scheduler.step(velocity.float(), t, latents).prev_sample  # x + (σ_next − σ)·v
        latents[:, :, :1] = reference_latent
        if callback_on_step_end is not None:
            latents = callback_on_step_end(i, t, {"latents": latents}).get("latents", latents)
    if residual:
        latents[:, :, 1:] += (reference_latent if guide is None else guide[:, :, 1:])
    return latents
