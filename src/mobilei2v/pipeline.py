"""MobileI2VPipeline: image → video. It only orchestrates: encode, sample, decode (SPEC §1)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLLTXVideo, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from PIL import Image

from .data.video_io import fit_frames, frames_to_video
from .diffusion.sampler import DEFAULT_SHIFT, make_scheduler, sample_latents
from .models.denoiser import MobileI2VDenoiser
from .models.light_decoder import LIGHT_DECODER_PRESETS, LightDecoder
from .models.presets import DENOISER_PRESETS
from .models.geometry import LatentGeometry
from .models.vae import decode_latents, encode_video, vae_preset_or_folder

ImageInput = Image.Image | str | Path | torch.Tensor
# The small model trained on a CPU with this project's commands and shipped inside the package
# (docs/shipped-model.md): what `generate` and `from_pretrained()` use when no model is given.
SHIPPED_MODEL = Path(__file__).parent / "shipped_model"


@dataclass
class MobileI2VPipelineOutput(BaseOutput):
    """frames: uint8 (B, T, H, W, 3) for output_type "np"; float (B, T, 3, H, W) in [0, 1] for "pt";
    (B, C, T', H', W') latents for "latent". timings: seconds per stage."""

    frames: np.ndarray | torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)


def preset_or_folder(cls, name: str, presets: dict, what: str):
    """A model of `cls`: randomly initialised from the preset `name`, or loaded from the folder `name`."""
    if name in presets:
        return cls(**presets[name])
    if not (Path(name) / "config.json").is_file():
        raise ValueError(f"{what} {name!r} is neither a preset ({', '.join(presets)}) nor a saved model folder")
    try:
        return cls.from_pretrained(name)
    except Exception as err:  # diffusers raises many types for damaged folders
        raise ValueError(f"cannot load the {what} in {name}: {err}") from None


def load_image(image: ImageInput) -> Image.Image:
    """A PIL RGB image from a path or an image; raises ValueError for files that are not images."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = Path(image)
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"not a readable image: {path} ({err})") from None


def image_to_tensor(image: Image.Image, height: int, width: int) -> torch.Tensor:
    """Resize to cover (height, width), centre-crop, → (1, 3, height, width) in [−1, 1]."""
    return frames_to_video(fit_frames(np.asarray(image)[None], height, width))[:, :, 0]


class MobileI2VPipeline(DiffusionPipeline):
    """Image-to-video with the MobileI2V denoiser.

    Components: `denoiser`, `vae` (the LTX-Video VAE: its encoder makes the reference latent, its
    decoder is one of two decoders), `scheduler` (flow-matching Euler, shift 3) and an optional
    `light_decoder`. `default_height`/`default_width` are the resolution the model was trained at and
    `frame_rate` the frame rate of its training clips (what a written video should play at).
    `vae_decoder_trained` is False for a model whose VAE decoder is an untrained placeholder (the
    shipped model decodes with its light decoder only); decoding with it is then refused.
    """

    model_cpu_offload_seq = "vae->denoiser->light_decoder"
    _optional_components = ["light_decoder"]

    def __init__(
        self,
        denoiser: MobileI2VDenoiser,
        vae: AutoencoderKLLTXVideo,
        scheduler: FlowMatchEulerDiscreteScheduler,
        light_decoder: LightDecoder | None = None,
        default_height: int = 720,
        default_width: int = 1280,
        frame_rate: int = 24,
        vae_decoder_trained: bool = True,
    ):
        super().__init__()
        if vae.config.latent_channels != denoiser.config.in_channels:
            raise ValueError(f"the VAE makes {vae.config.latent_channels}-channel latents but the denoiser "
                             f"takes {denoiser.config.in_channels}")
        if light_decoder is not None and light_decoder.geometry != LatentGeometry.of(vae):
            raise ValueError(f"the light decoder inverts {light_decoder.geometry} but the VAE makes "
                             f"{LatentGeometry.of(vae)}: the parts do not fit")
        self.register_modules(denoiser=denoiser, vae=vae, scheduler=scheduler, light_decoder=light_decoder)
        if not vae_decoder_trained and light_decoder is None:
            raise ValueError("a model whose VAE decoder is untrained needs a light decoder")
        self.register_to_config(default_height=default_height, default_width=default_width, frame_rate=frame_rate,
                                vae_decoder_trained=vae_decoder_trained)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path | None = None, **kwargs) -> MobileI2VPipeline:
        """diffusers' `from_pretrained`; with no path, the shipped model (checked as `load_pipeline` does)."""
        if pretrained_model_name_or_path is None:
            pretrained_model_name_or_path = check_model_folder(SHIPPED_MODEL)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def assemble(cls, denoiser: str = "mobilei2v-270m", vae: str = "ltx-video", light_decoder: str | None = None,
                 shift: float = DEFAULT_SHIFT, **config) -> MobileI2VPipeline:
        """A pipeline from parts, each a preset name (randomly initialised) or a saved model folder: the
        start of a training run, a model assembled from separately trained parts, or (all presets) a
        model to try the machinery with (its videos are noise)."""
        return cls(
            denoiser=preset_or_folder(MobileI2VDenoiser, denoiser, DENOISER_PRESETS, "denoiser"),
            vae=vae_preset_or_folder(vae),
            scheduler=make_scheduler(shift),
            light_decoder=preset_or_folder(LightDecoder, light_decoder, LIGHT_DECODER_PRESETS, "light decoder")
            if light_decoder else None,
            **config,
        )

    @property
    def geometry(self) -> LatentGeometry:
        """The autoencoder's latent geometry: frame-count rule, latent grid, padding."""
        return LatentGeometry.of(self.vae)

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

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput | Sequence[ImageInput],
        motion_score: float | Sequence[float] = 2.0,
        num_frames: int = 17,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 30,
        sigmas: Sequence[float] | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        decoder: str | None = None,
        output_type: str = "np",
        progress: bool = True,
    ) -> MobileI2VPipelineOutput:
        """Animate `image` (a path, a PIL image, or a (B, 3, H, W) tensor in [−1, 1]).

        motion_score: requested optical-flow magnitude (typical 1–10; higher moves more).
        height, width: output size, multiples of 8 (default: the model's training size); the image is
        resized to cover it and centre-cropped. num_frames: k·t+1, t the VAE's temporal compression (8k+1 for LTX-Video's; `geometry`). sigmas: explicit σ per step for a
        distilled model (overrides num_inference_steps). generator: one, or one per image (each video's
        noise then depends on its own generator alone). decoder: "ltx" or "light".
        """
        height = height or self.config.default_height
        width = width or self.config.default_width
        self.geometry.check(num_frames, height, width)
        if output_type not in ("np", "pt", "latent"):
            raise ValueError(f"output_type must be 'np', 'pt' or 'latent', got {output_type!r}")
        chosen_decoder = self.decoder_for(decoder)
        pixels = self._images_to_tensor(image, height, width)
        batch = pixels.shape[0]
        motion = torch.as_tensor(motion_score, dtype=torch.float32).reshape(-1)
        if len(motion) not in (1, batch):
            raise ValueError(f"give one motion score, or one per image ({batch}), not {len(motion)}")
        motion = motion.expand(batch).clone()

        timings = {}
        start = time.perf_counter()
        reference_latent = encode_video(self.vae, pixels[:, :, None].to(self.device))  # (B, C, 1, H', W')
        timings["encode"] = time.perf_counter() - start

        start = time.perf_counter()
        latent_frames = self.geometry.latent_grid(num_frames, height, width)[0]
        latents = sample_latents(self.denoiser, self.scheduler, reference_latent, motion.to(self.device),
                                 latent_frames, num_inference_steps, sigmas, generator, progress=progress)
        timings["denoise"] = time.perf_counter() - start
        timings["denoise_per_step"] = timings["denoise"] / (len(sigmas) if sigmas else num_inference_steps)
        if output_type == "latent":
            return MobileI2VPipelineOutput(frames=latents, timings=timings)

        start = time.perf_counter()
        video = decode_latents(chosen_decoder, latents, height, width, self.vae.config.scaling_factor)
        timings["decode"] = time.perf_counter() - start
        timings["total"] = timings["encode"] + timings["denoise"] + timings["decode"]
        frames = (video.permute(0, 2, 1, 3, 4) + 1) / 2  # (B, T, 3, H, W) in [0, 1]
        if output_type == "np":
            frames = (frames * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        return MobileI2VPipelineOutput(frames=frames, timings=timings)

    @staticmethod
    def _images_to_tensor(image, height: int, width: int) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            if image.ndim != 4 or image.shape[1] != 3 or tuple(image.shape[-2:]) != (height, width):
                raise ValueError(f"a tensor image must be (B, 3, {height}, {width}) in [-1, 1], "
                                 f"got {tuple(image.shape)}")
            return image.float()
        images = image if isinstance(image, (list, tuple)) else [image]
        return torch.cat([image_to_tensor(load_image(img), height, width) for img in images])


_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")


def load_pipeline(path: str | Path = SHIPPED_MODEL, torch_dtype: torch.dtype | None = None) -> MobileI2VPipeline:
    """`MobileI2VPipeline.from_pretrained` with the folder checked first, so that a missing, partial or
    foreign folder fails with a ValueError that names what is wrong."""
    path = check_model_folder(path)
    try:
        return MobileI2VPipeline.from_pretrained(path, torch_dtype=torch_dtype)
    except Exception as err:  # safetensors, json and diffusers raise many types for damaged files
        raise ValueError(f"cannot load the model in {path}: {err}") from None


def check_model_folder(path: str | Path) -> Path:
    """`path`, after checking that it holds every file a MobileI2VPipeline folder needs (ValueError naming
    the first one missing)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"model folder not found: {path}")
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise ValueError(f"{path} is not a MobileI2V model folder: {index_file.name} is missing")
    try:
        index = json.loads(index_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{index_file} is corrupt: {err}") from None
    if index.get("_class_name") != MobileI2VPipeline.__name__:
        raise ValueError(f"{path} holds a {index.get('_class_name')!r}, not a MobileI2VPipeline")
    for component in ("denoiser", "vae", "scheduler", "light_decoder"):
        if not (index.get(component) or [None])[0]:
            if component != "light_decoder":
                raise ValueError(f"{index_file} lists no {component}")
            continue
        folder = path / component
        config = folder / ("scheduler_config.json" if component == "scheduler" else "config.json")
        if not config.is_file():
            raise ValueError(f"the model folder is incomplete: {config} is missing")
        if component != "scheduler":
            if not any((folder / name).is_file() for name in _WEIGHT_FILES):
                raise ValueError(f"the model folder is incomplete: {folder / _WEIGHT_FILES[0]} is missing")
            if (folder / _WEIGHT_FILES[0]).is_file():
                check_safetensors(folder / _WEIGHT_FILES[0])
    return path


def check_safetensors(path: Path) -> None:
    """ValueError naming `path` unless its header parses and its size is what the header promises:
    catches truncated downloads and copies before a loader fails with a message that names no file."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")
            if not 0 < header_size <= size - 8:
                raise ValueError("bad header length")
            header = json.loads(f.read(header_size))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is corrupt (not a safetensors file: {err})") from None
    if size != 8 + header_size + end:
        raise ValueError(f"{path} is truncated or corrupt: {size} bytes, its header describes {8 + header_size + end}")
