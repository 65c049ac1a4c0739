"""What the web app does with one request, without the web: check the photo and the settings, animate,
write the mp4. Every problem a user can fix is a ValueError whose message the page shows as it is."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..diffusion.sampler import DEFAULT_STEPS
from ..io.images import load_image
from ..io.video import write_video
from ..measures.motion import CAMERA_MOVES
from ..pipeline import MobileI2VPipeline

# A phone's full-resolution photo is 12-50 MP; anything larger is refused before it is decoded (a 40 MP
# image is 160 MB in memory, and every generation shrinks it to a few hundred pixels anyway).
MAX_PHOTO_PIXELS = 40_000_000
MAX_PHOTO_MB = 25  # also the server's upload limit
MAX_SEED = 2**32 - 1
# The page offers the model's trained size and, at about its pixel count, the shapes photos come in:
# square, 4:3 and 16:9, each way round (width:height).
ASPECT_RATIOS = ((1, 1), (4, 3), (3, 4), (16, 9), (9, 16))
# Clip lengths offered, as multiples of the model's default length (each moved onto the frame rule).
LENGTH_MULTIPLES = (0.5, 1, 1.5, 2)
# The repository's example photos (a source checkout or an editable install has them).
EXAMPLE_PHOTOS = Path(__file__).parents[3] / "examples"

# The pipeline's own defaults, so that the page preselects what `generate` and the Python API use.
_PIPELINE_DEFAULTS = {name: p.default for name, p in inspect.signature(MobileI2VPipeline.__call__).parameters.items()}


@dataclass(frozen=True)
class Choices:
    """What the page offers for one model: sizes as (height, width), the trained size first; frame counts
    that the model's autoencoder accepts; the pipeline's default frames, steps and motion score; for a model
    that takes a camera move, its camera moves ("random" first: a pan or zoom drawn from the seed)."""

    sizes: tuple[tuple[int, int], ...]
    frame_counts: tuple[int, ...]
    default_frames: int
    default_steps: int
    default_motion: float
    max_steps: int
    max_motion: float = 10.0
    cameras: tuple[str, ...] = ()

    @classmethod
    def for_pipeline(cls, pipe: MobileI2VPipeline) -> Choices:
        geometry = pipe.geometry
        trained = (pipe.config.default_height, pipe.config.default_width)
        area = trained[0] * trained[1]

        def on_grid(pixels: float) -> int:  # the latent grid: no pixels spent on padding
            return max(geometry.spatial, geometry.spatial * round(pixels / geometry.spatial))

        sizes = [trained]
        for across, down in ASPECT_RATIOS:
            width = math.sqrt(area * across / down)
            size = (on_grid(area / width), on_grid(width))
            if size not in sizes:
                sizes.append(size)
        default_frames = geometry.usable_frames(_PIPELINE_DEFAULTS["num_frames"])
        lengths = {geometry.usable_frames(1 + round(m * (default_frames - 1))) for m in LENGTH_MULTIPLES}
        frame_counts = sorted(n for n in lengths if n > 1)  # usable_frames rounds down; 1 frame is a still
        cameras = ("random", *CAMERA_MOVES) if pipe.uses_camera else ()
        own_steps = pipe.sampling_schedule()[0]  # a distilled student's σ list, else DEFAULT_STEPS
        return cls(tuple(sizes), tuple(frame_counts), default_frames, own_steps, _PIPELINE_DEFAULTS["motion_score"],
                   max_steps=2 * DEFAULT_STEPS, cameras=cameras)

    def check(self, height: int, width: int, num_frames: int, steps: int, motion: float, seed: int,
              camera: str | None = None) -> None:
        """ValueError naming what to choose instead, for settings the page does not offer."""
        if camera is not None and camera not in self.cameras:
            raise ValueError(f"camera move {camera!r} is not offered" + (
                f"; choose one of {', '.join(self.cameras)}" if self.cameras else ": this model takes no camera move"))
        if (height, width) not in self.sizes:
            offered = ", ".join(f"{w}×{h}" for h, w in self.sizes)
            raise ValueError(f"{width}×{height} is not a size this model is offered at; choose one of {offered}")
        if num_frames not in self.frame_counts:
            raise ValueError(f"{num_frames} frames is not offered; choose one of "
                             f"{', '.join(map(str, self.frame_counts))}")
        if not 1 <= steps <= self.max_steps:
            raise ValueError(f"steps must be from 1 to {self.max_steps}, got {steps}")
        if not 0 <= motion <= self.max_motion:
            raise ValueError(f"the motion score must be from 0 to {self.max_motion:g}, got {motion:g}")
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {seed}")


def read_photo(path: str | Path) -> Image.Image:
    """The photo at `path` as RGB, upright. Refuses (ValueError) files that are not images and images over
    MAX_PHOTO_MB or MAX_PHOTO_PIXELS, checking the bounds before decoding; then read as `load_image` reads
    every input (EXIF orientation applied: phones store portrait photos sideways with a tag)."""
    path = Path(path)
    megabytes = path.stat().st_size / 2**20
    if megabytes > MAX_PHOTO_MB:
        raise ValueError(f"{path.name} is {megabytes:.0f} MB; photos up to {MAX_PHOTO_MB} MB are accepted")
    try:
        with Image.open(path) as image:  # reads the header only
            pixels = image.width * image.height
            if pixels > MAX_PHOTO_PIXELS:
                raise ValueError(f"{path.name} is {image.width}×{image.height} ({pixels / 1e6:.0f} megapixels); "
                                 f"photos up to {MAX_PHOTO_PIXELS / 1e6:g} megapixels are accepted")
        return load_image(path)
    except Image.DecompressionBombError:  # Image.open's own refusal, at twice Pillow's bound (far above ours)
        raise ValueError(f"{path.name} has too many pixels; photos up to {MAX_PHOTO_PIXELS / 1e6:g} megapixels "
                         f"are accepted") from None
    except (OSError, SyntaxError):  # Pillow raises SyntaxError for some malformed headers
        raise ValueError(f"{path.name} is not an image that can be read (or it is damaged); use a JPEG, PNG or "
                         f"WebP photo") from None


@dataclass(frozen=True)
class Video:
    path: Path
    timings: dict[str, float]  # seconds: encode, denoise, denoise_per_step, decode, total
    camera: str | None = None  # the camera move, for a model that takes one


def animate(pipe: MobileI2VPipeline, choices: Choices, photo: str | Path, out_dir: Path, *, motion: float,
            steps: int, seed: int, height: int, width: int, num_frames: int, camera: str | None = None,
            report: Callable[[float, str], None] = lambda fraction, stage: None) -> Video:
    """Check everything, then animate the photo and write `out_dir/<photo>-seed<seed>-motion<m>.mp4` (with
    `-<camera move>` before the suffix for a model that takes a camera move; camera None is "random").

    report(fraction done, stage) is called as encoding starts, after each denoising step and as decoding
    starts (after the last step); encode and decode count as one step each.
    """
    choices.check(height, width, num_frames, steps, motion, seed, camera)
    image = read_photo(photo)
    total = steps + 2

    def step_done(pipe, step_index, timestep, callback_kwargs):
        done = step_index + 1
        report((done + 1) / total, f"denoising: step {done} of {steps} done" if done < steps else "decoding")
        return {}

    report(0.0, "encoding the photo")
    # a distilled student's own step count samples its σ list; any other count, its teacher (`denoiser_for`)
    own = pipe.config.default_sigmas is not None and steps == len(pipe.config.default_sigmas)
    out = pipe(image, motion_score=motion, camera=camera, num_frames=num_frames, height=height, width=width,
               num_inference_steps=None if own else steps, generator=torch.Generator().manual_seed(seed),
               progress=False, callback_on_step_end=step_done)
    move = out.cameras[0] if out.cameras else None
    path = out_dir / f"{Path(photo).stem}-seed{seed}-motion{motion:g}{'-' + move if move else ''}.mp4"
    write_video(path, out.frames[0], pipe.config.frame_rate, overwrite=True)
    return Video(path, out.timings, move)
