"""MobileI2VPipeline: image → video. It only orchestrates: encode, sample, decode (docs/architecture.md)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from numbers import Integral
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import AutoencoderKLLTXVideo, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from tqdm.auto import tqdm

from .compilation import compile_module
from .data.camera import clip_moves, guide_videos
from .diffusion.sampler import DEFAULT_SHIFT, DEFAULT_STEPS, check_sigmas, make_scheduler, sample_latents
from .io.images import ImageInput, image_to_tensor, load_image
from .io.model_folder import check_model_folder
from .measures.motion import CAMERA_AXES, CAMERA_MOVES
from .models.denoiser import MobileI2VDenoiser
from .models.geometry import LatentGeometry
from .models.light_decoder import LightDecoder
from .models.registry import build, check_config, check_finite_weights
from .models.vae import decode_latents, encode_video
from .precision import dtype_name, resolve_dtype

# The small model trained on a CPU with this project's commands and shipped inside the package
# (docs/shipped-model.md): what `generate` and `from_pretrained()` use when no model is given.
SHIPPED_MODEL = Path(__file__).parent / "shipped_model"


@dataclass
class MobileI2VPipelineOutput(BaseOutput):
    """frames: uint8 (B, T, H, W, 3) for output_type "np"; float (B, T, 3, H, W) in [0, 1] for "pt";
    (B, C, T', H', W') latents for "latent". timings: seconds per stage."""

    frames: np.ndarray | torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)
    cameras: list[str] | None = None  # each video's camera move, for a model with a camera condition


class MobileI2VPipeline(DiffusionPipeline):
    """Image-to-video with the MobileI2V denoiser.

    Components: `denoiser`, `vae` (the LTX-Video VAE: its encoder makes the reference latent, its
    decoder is one of two decoders), `scheduler` (flow-matching Euler, shift 3) and an optional
    `light_decoder`. `default_height`/`default_width` are the resolution the model was trained at and
    `frame_rate` the frame rate of its training clips (what a written video should play at).
    `vae_decoder_trained` is False for a model whose VAE decoder is an untrained placeholder (the
    shipped model decodes with its light decoder only); decoding with it is then refused.
    `default_sigmas` is a distilled student's σ list (e.g. [1.0, 0.5], docs/distillation.md): the steps it
    was trained for, which a call that names neither `sigmas` nor `num_inference_steps` samples with. A
    student may carry its `teacher` (a denoiser of the same architecture): a call that asks for a number of
    steps samples with the teacher, on the schedule it was trained for (`denoiser_for`).
    """

    COMPONENTS = ("denoiser", "vae", "scheduler", "light_decoder", "teacher")
    COMPILE_STAGES = ("denoiser", "encoder", "decoder")  # what `compile` can compile
    SETTINGS = ("default_height", "default_width", "frame_rate", "vae_decoder_trained", "default_sigmas")
    model_cpu_offload_seq = "vae->denoiser->light_decoder"
    _optional_components = ["light_decoder", "teacher"]

    def __init__(
        self,
        denoiser: MobileI2VDenoiser,
        vae: AutoencoderKLLTXVideo,
        scheduler: FlowMatchEulerDiscreteScheduler,
        light_decoder: LightDecoder | None = None,
        teacher: MobileI2VDenoiser | None = None,
        default_height: int = 720,
        default_width: int = 1280,
        frame_rate: int = 24,
        vae_decoder_trained: bool = True,
        default_sigmas: Sequence[float] | None = None,
    ):
        super().__init__()
        if vae.config.latent_channels != denoiser.config.in_channels:
            raise ValueError(f"the VAE makes {vae.config.latent_channels}-channel latents but the denoiser "
                             f"takes {denoiser.config.in_channels}")
        if light_decoder is not None and light_decoder.geometry != LatentGeometry.of(vae):
            raise ValueError(f"the light decoder inverts {light_decoder.geometry} but the VAE makes "
                             f"{LatentGeometry.of(vae)}: the parts do not fit")
        # The teacher stands in for the student (`denoiser_for`), so it takes and makes the same tensors: the same
        # config, but for where each was loaded from and QK-norm, which distillation may give the student alone.
        architecture = lambda model: {k: v for k, v in model.config.items()  # noqa: E731
                                      if not k.startswith("_") and k != "softmax_qk_norm"}
        if teacher is not None and architecture(teacher) != architecture(denoiser):
            raise ValueError("the teacher must be a denoiser of the student's architecture and switches: "
                             "their configs differ")
        self.register_modules(denoiser=denoiser, vae=vae, scheduler=scheduler, light_decoder=light_decoder,
                              teacher=teacher)
        if not vae_decoder_trained and light_decoder is None:
            raise ValueError("a model whose VAE decoder is untrained needs a light decoder")
        if default_sigmas is not None:
            check_sigmas(default_sigmas)
            default_sigmas = [float(s) for s in default_sigmas]
        self.register_to_config(default_height=default_height, default_width=default_width, frame_rate=frame_rate,
                                vae_decoder_trained=vae_decoder_trained, default_sigmas=default_sigmas)
        self.precision = f"{dtype_name(denoiser.dtype)} (as built)"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path = SHIPPED_MODEL,
                        dtype: str | torch.dtype = "auto", **kwargs) -> MobileI2VPipeline:
        """diffusers' `from_pretrained` of a saved folder (default: the shipped model), checked first: a
        missing, partial, truncated or foreign folder fails with a ValueError that names what is wrong.
        `dtype` ("auto", "fp32", "bf16"; diffusers' `torch_dtype` is the same): see `set_precision`."""
        dtype = kwargs.pop("torch_dtype", dtype)
        path = check_model_folder(pretrained_model_name_or_path, cls.__name__, cls.COMPONENTS,
                                  cls._optional_components)
        for name in cls.COMPONENTS:  # the model parts (the scheduler's config is checked with the folder)
            if (config := Path(path) / name / "config.json").is_file():
                check_config("denoiser" if name == "teacher" else name, config)
        try:
            pipe = super().from_pretrained(path, **kwargs)
        except ValueError as err:  # our own checks, e.g. parts that do not fit: already say what is wrong
            raise ValueError(f"cannot load the model in {path}: {err}") from None
        except Exception as err:  # safetensors, json and diffusers raise many types for damaged files
            raise ValueError(f"cannot load the model in {path}: {type(err).__name__}: {err}") from None
        for name in cls.COMPONENTS:
            if isinstance(module := getattr(pipe, name), torch.nn.Module):
                check_finite_weights(module, Path(path) / name)
        pipe.set_precision(dtype)
        return pipe

    def set_precision(self, dtype: str | torch.dtype = "auto") -> str:
        """Cast every model part to `dtype`: "auto" is bf16 where the device multiplies bf16 natively and
        fp32 elsewhere (`mobilei2v.precision`, which also names what stays fp32). Returns the choice and
        why, also kept as `self.precision`."""
        dtype, why = resolve_dtype(dtype, self.device)
        for name in self.COMPONENTS:
            if isinstance(module := getattr(self, name), torch.nn.Module):
                # torch's own `to`: diffusers' override warns about fp32 modules even when there are none
                torch.nn.Module.to(module, dtype)
        self.precision = f"{dtype_name(dtype)} ({why})"
        return self.precision

    def compile(self, stages: Sequence[str] = ("denoiser",), backend: str | Callable = "inductor",
                report: Callable[[str], None] = tqdm.write) -> list[str]:
        """Compile the model parts of `stages` with torch.compile, in place: "denoiser" (and a student's
        teacher), "encoder" (the VAE's), "decoder" (both decoders; a call compiles the one it uses). Nothing
        is compiled yet: each part compiles on its first call at each input shape, which waits for it, and
        says so through `report` with the seconds it took (`mobilei2v.compilation`); later calls at that
        shape reuse it. A part torch.compile cannot compile raises `CompileError` on that call. Returns the
        names of the parts compiled. Only the denoiser by default: it runs once per step, and it is the part
        that gained in docs/performance.md, where the encoder gained too little to repay its compile and the
        light decoder ran slower compiled."""
        parts = {"denoiser": [("denoiser", self.denoiser), ("teacher", self.teacher)],
                 "encoder": [("encoder", self.vae.encoder)],
                 "decoder": [("light decoder", self.light_decoder), ("LTX decoder", self.vae.decoder)]}
        unknown = set(stages) - set(self.COMPILE_STAGES)
        if unknown:
            raise ValueError(f"stages to compile are {', '.join(self.COMPILE_STAGES)}; "
                             f"got {', '.join(sorted(unknown))}")
        compiled = []
        for stage in stages:
            for name, module in parts[stage]:
                if module is not None:
                    compile_module(module, name, backend, report)
                    compiled.append(name)
        return compiled

    def with_denoiser(self, denoiser: MobileI2VDenoiser, teacher: MobileI2VDenoiser | None = None,
                      **settings) -> MobileI2VPipeline:
        """This pipeline's VAE, scheduler, light decoder and settings (`SETTINGS`) around another denoiser, such
        as a trained copy (with `teacher`, a distilled student and its teacher); `settings` replace some of
        them."""
        return type(self)(denoiser, self.vae, self.scheduler, self.light_decoder, teacher,
                          **{**{k: self.config[k] for k in self.SETTINGS}, **settings})

    @classmethod
    def assemble(cls, denoiser: str = "mobilei2v-270m", vae: str = "ltx-video", light_decoder: str | None = None,
                 shift: float = DEFAULT_SHIFT, denoiser_options: dict | None = None, teacher: str | None = None,
                 **config) -> MobileI2VPipeline:
        """A pipeline from parts, each a preset name (randomly initialised) or a saved model folder: the
        start of a training run, a model assembled from separately trained parts, or (all presets) a
        model to try the machinery with (its videos are noise). `denoiser_options` override the denoiser's
        constructor arguments (`models.registry.build`); `teacher`, a distilled student's teacher."""
        return cls(
            denoiser=build("denoiser", denoiser, **(denoiser_options or {})),
            vae=build("vae", vae),
            scheduler=make_scheduler(shift),
            light_decoder=build("light_decoder", light_decoder) if light_decoder else None,
            teacher=build("denoiser", teacher, **(denoiser_options or {})) if teacher else None,
            **config,
        )

    @property
    def geometry(self) -> LatentGeometry:
        """The autoencoder's latent geometry: frame-count rule, latent grid, padding."""
        return LatentGeometry.of(self.vae)

    @property
    def uses_camera(self) -> bool:
        """Whether the model takes a camera move: as a condition (`camera_condition`), or to film its guide
        along (`camera_guide`)."""
        return self.denoiser.config.camera_condition or self.denoiser.config.camera_guide

    def decoder_for(self, name: str | None) -> torch.nn.Module:
        """The decoder called `name` ("ltx" or "light"); None picks the light one when there is one."""
        if name is None:
            name = "light" if self.light_decoder is not None else "ltx"
        if name == "ltx":
            if not self.config.vae_decoder_trained:
                raise ValueError("this model's VAE decoder is an untrained placeholder: it decodes with its "
                                 "light decoder (decoder='light')")
            return self.vae
        if name == "light":
            if self.light_decoder is None:
                raise ValueError("this model has no light decoder; use decoder='ltx'")
            return self.light_decoder
        raise ValueError(f"decoder must be 'ltx' or 'light', got {name!r}")

    def sampling_schedule(self, num_inference_steps: int | None = None,
                          sigmas: Sequence[float] | None = None) -> tuple[int, Sequence[float] | None]:
        """(number of steps, σ list or None) that a call with these arguments samples with: `sigmas`; else
        `num_inference_steps` steps of the scheduler's shifted schedule; else the model's own σ list
        (`default_sigmas`); else `DEFAULT_STEPS` steps of the shifted schedule."""
        if sigmas is None and num_inference_steps is None:
            sigmas = self.config.default_sigmas
            num_inference_steps = DEFAULT_STEPS
        return (len(sigmas) if sigmas is not None else num_inference_steps), sigmas

    def denoiser_for(self, num_inference_steps: int | None = None,
                     sigmas: Sequence[float] | None = None) -> MobileI2VDenoiser:
        """The denoiser a call with these arguments samples with: a student's teacher when the call asks for a
        number of steps (and no σ list) and the model carries one, else `denoiser`. A student is trained for its
        own σ list only; a σ list the caller gives is for the student."""
        if self.teacher is not None and num_inference_steps is not None and sigmas is None:
            return self.teacher
        return self.denoiser

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput | Sequence[ImageInput],
        motion_score: float | Sequence[float] = 2.0,
        camera: CameraMove | Sequence[CameraMove] | None = None,
        num_frames: int = 17,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        sigmas: Sequence[float] | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        decoder: str | None = None,
        output_type: str = "np",
        progress: bool = True,
        callback_on_step_end: Callable[[MobileI2VPipeline, int, torch.Tensor, dict], dict] | None = None,
    ) -> MobileI2VPipelineOutput:
        """Animate `image` (a path, a PIL image, or a (B, 3, H, W) tensor in [−1, 1]).

        motion_score: requested optical-flow magnitude (typical 1–10; higher moves more).
        camera: for a model that takes a camera move (`uses_camera`), its direction: a name of
        `CAMERA_MOVES` ("pan-left", "zoom-in", ..., "any" to let the model choose), 4 numbers (pan x, pan y,
        zoom, roll as `camera_motion` measures them; only their direction counts: the motion score says
        how far), or one of those per image. None or "random": a pan or zoom drawn for each video from its
        generator's seed. A model that films its guide along the move (`camera_guide`) needs a direction:
        for it, "any" draws as "random" does.
        height, width: output size, multiples of 8 (default: the model's training size); the image is
        resized to cover it and centre-cropped. num_frames: k·t+1, t the VAE's temporal compression (8k+1
        for LTX-Video's; `geometry`). sigmas: explicit σ per step for a distilled model (overrides
        num_inference_steps). Neither given: the model's own σ list if it has one, else 30 steps
        (`sampling_schedule`). generator: one, or one per image (each video's noise then depends on its own
        generator alone). decoder: "ltx" or "light".
        callback_on_step_end(pipe, step_index, timestep, {"latents": latents}) -> dict: called after each
        denoising step, as in diffusers; a "latents" entry in the dict it returns replaces the latents.
        """
        height = height or self.config.default_height
        width = width or self.config.default_width
        self.geometry.check(num_frames, height, width)
        check_fits_in_memory(num_frames, height, width)
        denoiser = self.denoiser_for(num_inference_steps, sigmas)
        num_inference_steps, sigmas = self.sampling_schedule(num_inference_steps, sigmas)
        if sigmas is None and (isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, Integral)):
            raise ValueError(f"num_inference_steps must be a whole number, got {num_inference_steps!r}")
        if output_type not in ("np", "pt", "latent"):
            raise ValueError(f"output_type must be 'np', 'pt' or 'latent', got {output_type!r}")
        chosen_decoder = self.decoder_for(decoder)
        pixels = self._images_to_tensor(image, height, width)
        batch = pixels.shape[0]
        motion = torch.tensor(check_motion_scores(motion_score), dtype=torch.float32)
        if len(motion) not in (1, batch):
            raise ValueError(f"give one motion score, or one per image ({batch}), not {len(motion)}")
        motion = motion.expand(batch).clone()
        cameras, camera_names = self._cameras(camera, batch, generator)

        timings = {}
        start = time.perf_counter()
        reference_latent = encode_video(self.vae, pixels[:, :, None].to(self.device))  # (B, C, 1, H', W')
        guide = None
        if self.denoiser.config.camera_guide:
            moves = clip_moves(cameras, motion, height, width)
            guide = encode_video(self.vae, guide_videos(pixels, moves, num_frames).to(self.device))
        timings["encode"] = time.perf_counter() - start

        start = time.perf_counter()
        latent_frames = self.geometry.latent_grid(num_frames, height, width)[0]
        step_callback = partial(callback_on_step_end, self) if callback_on_step_end else None
        latents = sample_latents(denoiser, self.scheduler, reference_latent, motion.to(self.device),
                                 latent_frames, num_inference_steps, sigmas, generator, progress=progress,
                                 callback_on_step_end=step_callback,
                                 residual=self.denoiser.config.reference_residual, guide=guide,
                                 camera=cameras.to(self.device) if self.denoiser.config.camera_condition else None)
        _check_finite(latents)
        timings["denoise"] = time.perf_counter() - start
        timings["denoise_per_step"] = timings["denoise"] / num_inference_steps
        if output_type == "latent":
            return MobileI2VPipelineOutput(frames=latents, timings=timings, cameras=camera_names)

        start = time.perf_counter()
        video = decode_latents(chosen_decoder, latents, height, width, self.vae.config.scaling_factor)
        _check_finite(video)
        timings["decode"] = time.perf_counter() - start
        timings["total"] = timings["encode"] + timings["denoise"] + timings["decode"]
        frames = (video.permute(0, 2, 1, 3, 4) + 1) / 2  # (B, T, 3, H, W) in [0, 1]
        if output_type == "np":
            frames = (frames * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        return MobileI2VPipelineOutput(frames=frames, timings=timings, cameras=camera_names)

    def _cameras(self, camera, batch: int, generator) -> tuple[torch.Tensor | None, list[str] | None]:
        """(B, 4) camera moves and their names for `__call__`'s `camera`, or (None, None) for a model
        that takes no camera move (which refuses any camera but None)."""
        if not self.uses_camera:
            if camera is not None:
                raise ValueError("this model takes no camera move (no camera condition, no guide): give camera=None")
            return None, None
        if isinstance(camera, (torch.Tensor, np.ndarray)):
            camera = camera.tolist()  # (4,) or (B, 4)
        if camera is not None and not isinstance(camera, (str, list, tuple)):
            raise ValueError(f"a camera move is a name or 4 finite numbers ({', '.join(CAMERA_AXES)}), got {camera!r}")
        if camera is None or isinstance(camera, str) or (
                len(camera) == len(CAMERA_AXES) and all(isinstance(v, (int, float, np.number)) for v in camera)):
            camera = [camera] * batch
        if len(camera) != batch:
            raise ValueError(f"give one camera move, or one per image ({batch}), not {len(camera)}")
        generators = generator if isinstance(generator, (list, tuple)) else [generator] * batch
        moves = [camera_move(c, g, directed=self.denoiser.config.camera_guide) for c, g in zip(camera, generators)]
        return torch.tensor([m for m, _ in moves], dtype=torch.float32), [name for _, name in moves]

    @staticmethod
    def _images_to_tensor(image, height: int, width: int) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            if image.ndim != 4 or image.shape[1] != 3 or tuple(image.shape[-2:]) != (height, width):
                raise ValueError(f"a tensor image must be (B, 3, {height}, {width}) in [-1, 1], "
                                 f"got {tuple(image.shape)}")
            if not image.is_floating_point():
                raise ValueError(f"a tensor image must hold floats in [-1, 1], got {image.dtype} (for 0-255 "
                                 "pixels: image / 127.5 - 1)")
            if not torch.isfinite(image).all() or image.abs().max() > 1 + 1e-3:
                raise ValueError(f"a tensor image must hold finite values in [-1, 1], got min {image.min().item():g}, "
                                 f"max {image.max().item():g}")
            return image.float()
        if isinstance(image, np.ndarray) and image.ndim == 4:  # (B, H, W, C), as diffusers pipelines take
            image = list(image)
        images = image if isinstance(image, (list, tuple)) else [image]
        if not images:
            raise ValueError("give at least one image")
        return torch.cat([image_to_tensor(load_image(img), height, width) for img in images])


CameraMove = str | Sequence[float]
RANDOM_MOVES = ("pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out")  # what "random" draws from


def camera_move(camera: CameraMove | None, generator: torch.Generator | None = None,
                directed: bool = False) -> tuple[tuple[float, ...], str]:
    """One video's camera move as (pan x, pan y, zoom, roll) and its name: a name of `CAMERA_MOVES`, four
    finite numbers, or None / "random" for one of `RANDOM_MOVES` drawn from the generator's seed (without
    drawing from the generator itself, so the video's noise stays what the seed gives); ValueError else.
    `directed` (a model that films its guide along the move, which needs a direction): "any" and a zero
    move draw as "random" does."""
    if directed and (camera == "any" or (isinstance(camera, (list, tuple)) and len(camera) == len(CAMERA_AXES)
                                         and not any(camera))):
        camera = None
    if camera is None or camera == "random":
        seed = generator.initial_seed() if generator is not None else int(torch.randint(2**31, ()))
        camera = RANDOM_MOVES[int(torch.randint(len(RANDOM_MOVES), (), generator=torch.Generator().manual_seed(seed)))]
    if isinstance(camera, str):
        if camera not in CAMERA_MOVES:
            raise ValueError(f"unknown camera move {camera!r}: choose from {', '.join(CAMERA_MOVES)}, random, "
                             "or give 4 numbers (pan x, pan y, zoom, roll)")
        return CAMERA_MOVES[camera], camera
    values = list(camera) if isinstance(camera, (list, tuple, np.ndarray, torch.Tensor)) else []
    if len(values) != len(CAMERA_AXES) or not all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ValueError(f"a camera move is a name or 4 finite numbers ({', '.join(CAMERA_AXES)}), got {camera!r}")
    return tuple(float(v) for v in values), ",".join(f"{v:g}" for v in values)


def check_motion_scores(motion_score: float | Sequence[float]) -> list[float]:
    """The motion scores as a list of floats, after checking each is a finite number ≥ 0 (an optical-flow
    magnitude): ValueError otherwise (NaN would make an all-black video)."""
    scores = motion_score.reshape(-1).tolist() if isinstance(motion_score, torch.Tensor) else motion_score
    scores = list(scores) if isinstance(scores, (list, tuple, np.ndarray)) else [scores]
    for score in scores:
        if isinstance(score, bool) or not isinstance(score, (int, float, np.number)) or not 0 <= score < math.inf:
            raise ValueError(f"a motion score must be a finite number, 0 or more (typical 1-10), got {score!r}")
    return [float(s) for s in scores]


def check_fits_in_memory(num_frames: int, height: int, width: int) -> None:
    """ValueError with the estimate if the video alone (as floats while decoding, then as bytes) would
    not fit in this machine's memory: better said now than as a MemoryError after the denoising."""
    needed = num_frames * height * width * 3 * (4 + 4 + 1)  # decoded floats, rescaled floats, uint8 frames
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available:
        raise ValueError(f"{num_frames} frames of {width}x{height} need at least {needed / 2**30:.1f} GiB for the "
                         f"video alone; this machine has {available / 2**30:.1f} GiB: ask for a smaller size")


def _check_finite(values: torch.Tensor) -> None:
    if not torch.isfinite(values).all():
        raise ValueError("the model produced NaN or infinite values (its weights or a custom sigma schedule "
                         "are broken): no video written")


# `diffusers.DiffusionPipeline.from_pretrained(folder)` finds a pipeline class by the name in the folder's
# model_index.json on the diffusers module itself; registering it there (once `mobilei2v` is imported) lets
# diffusers users load a MobileI2V folder the way they load any other.
setattr(diffusers, MobileI2VPipeline.__name__, MobileI2VPipeline)
