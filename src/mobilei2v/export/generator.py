"""Image → video from an export folder's programs, whatever runtime runs them: no torch model in the loop
(torch only draws the noise, so that a seed gives the PyTorch pipeline's noise, and steps the scheduler)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from ..data.camera import clip_moves, guide_videos
from ..diffusion.flow import frame_timesteps
from ..diffusion.sampler import initial_noise, step_schedule
from ..io.images import ImageInput, image_to_tensor, load_image
from ..pipeline import CameraMove, camera_move


class VideoGenerator(ABC):
    """The sampling loop of an export's `manifest` (export.json). A runtime's generator (`OnnxVideoGenerator`,
    `ExecuTorchVideoGenerator`) loads the programs and runs them (`run`)."""

    def __init__(self, manifest: dict):
        self.manifest = manifest

    @abstractmethod
    def run(self, stage: str, **inputs: np.ndarray) -> np.ndarray:
        """The stage's program on its named inputs, its output as a float32 array."""

    def __call__(self, image: ImageInput, motion_score: float = 2.0, num_inference_steps: int | None = None,
                 sigmas: Sequence[float] | None = None, generator: torch.Generator | None = None,
                 camera: CameraMove | None = None) -> tuple[np.ndarray, dict]:
        """uint8 frames (T, H, W, 3) and seconds per stage. The σ list is the export's, unless
        `num_inference_steps` or `sigmas` ask for another, and `camera` is chosen as the PyTorch pipeline
        chooses it (`camera_move`)."""
        m = self.manifest
        conditions = {"motion_score": np.array([motion_score])}
        guided = m.get("camera_guide", False)
        if m.get("camera_condition") or guided:
            move = camera_move(camera, generator, directed=guided)[0]
            if m.get("camera_condition"):
                conditions["camera"] = np.array([move])
        elif camera is not None:
            raise ValueError("this export takes no camera move (no camera condition, no guide)")
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(m["scheduler_config"])
        if sigmas is None and num_inference_steps in (None, m["num_inference_steps"]):
            scheduler = step_schedule(scheduler, sigmas=m["sigmas"][:-1])  # the export's list, already shifted
        else:
            scheduler = step_schedule(scheduler, num_inference_steps or m["num_inference_steps"], sigmas)
        image = image if isinstance(image, torch.Tensor) else image_to_tensor(load_image(image), m["height"], m["width"])

        timings = {}
        start = time.perf_counter()
        reference = self.run("encoder", image=image.numpy())
        base = reference
        if guided:
            moves = clip_moves(torch.tensor([move]), torch.tensor([motion_score]), m["height"], m["width"])
            conditions["guide"] = base = self.run("guide_encoder", video=guide_videos(image, moves, m["num_frames"]).numpy())
        timings["encode"] = time.perf_counter() - start

        start = time.perf_counter()
        latents = initial_noise(tuple(m["latent_shape"]), generator)
        latents[:, :, :1] = torch.from_numpy(reference)
        num_latent_frames = m["latent_shape"][2]
        for i, t in enumerate(scheduler.timesteps):
            timestep = frame_timesteps(scheduler.sigmas[i].reshape(1), num_latent_frames)
            velocity = self.run("denoiser", latents=latents.numpy(), timestep=timestep.numpy(), **conditions)
            latents = scheduler.step(torch.from_numpy(velocity), t, latents).prev_sample
            latents[:, :, :1] = torch.from_numpy(reference)
        if m.get("reference_residual"):
            latents[:, :, 1:] += torch.from_numpy(base[:, :, 1:] if guided else reference)
        timings["denoise"] = time.perf_counter() - start
        timings["denoise_per_step"] = timings["denoise"] / len(scheduler.timesteps)

        start = time.perf_counter()
        video = self.run("decoder", latents=latents.numpy())[0]  # (3, T, H, W) in [−1, 1]
        timings["decode"] = time.perf_counter() - start
        timings["total"] = timings["encode"] + timings["denoise"] + timings["decode"]
        frames = np.round((video.transpose(1, 2, 3, 0) + 1) / 2 * 255).astype(np.uint8)
        return frames, timings
