"""`data synth`: camera-motion clips from still images and procedural textures, with measured motion.

A virtual camera moves over a still image along a smooth path: a pan at constant velocity, a zoom at a
constant rate (the scale changes by the same factor every frame) and a rotation at constant angular
speed, alone or combined, in a random direction with a magnitude drawn uniformly from zero (a still
shot) to a maximum. Frames are cut out of the image by an affine warp, so no frame shows anything
outside the image. A video in the image folder gives `frames_per_video` stills, evenly spaced: frames of
the real videos that packages ship are the most varied real pictures there are without a download.
Each clip's motion score is then measured from the written file by the same scorer as real clips
(`motion.motion_score`), never taken from the path.

Training images must not be among the held-out photos (`holdout.py`): a folder that holds one is
refused. `--package-media` adds every sample image and video that the data packages ship, except the
held-out photos. `--holdout` makes clips of exactly those photos, for evaluation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from .clips_csv import CLIP_FRAMES, Row, clip_output, clip_row, write_rows
from .holdout import holdout_match, holdout_paths, training_media
from .motion import motion_score
from .skipped import SkippedInputs
from .textures import TEXTURES, make_texture
from .video_io import VideoReadError, fit_frames, read_video, write_video

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
# Largest motion a path is drawn with. Pan in frame widths/heights per frame: at most 0.012 × 576 ≈ 6.9 px
# per frame at the motion score's 576×320, just past the paper's 6.5 filter. Zoom: total scale change
# over the clip. Rotation: total degrees over the clip.
MAX_PAN = 0.012
MAX_ZOOM = 1.5
MAX_ROTATION = 15.0
KINDS = ("pan", "zoom", "rotate", "mixed")


@dataclass(frozen=True)
class CameraPath:
    """pan: (x, y) in frame widths and heights per frame; zoom: scale at the last frame over the first
    (> 1 moves in); rotation: degrees turned by the last frame (counter-clockwise content)."""

    pan: tuple[float, float] = (0.0, 0.0)
    zoom: float = 1.0
    rotation: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator, kind: str | None = None, max_motion: float = 1.0) -> CameraPath:
        """A path of one kind (random if None) with a random direction and a magnitude from 0 to the maximum,
        `max_motion` times the default maxima."""
        kind = kind or KINDS[rng.integers(len(KINDS))]
        # combined motions, each smaller, stay in the same range
        share = (0.5 if kind == "mixed" else 1.0) * max_motion
        pan, zoom, rotation = (0.0, 0.0), 1.0, 0.0
        if kind in ("pan", "mixed"):
            speed, direction = rng.uniform(0, share * MAX_PAN), rng.uniform(0, 2 * np.pi)
            pan = (speed * np.cos(direction), speed * np.sin(direction))
        if kind in ("zoom", "mixed"):
            zoom = float(np.exp(rng.uniform(-1, 1) * share * np.log(MAX_ZOOM)))
        if kind in ("rotate", "mixed"):
            rotation = float(rng.uniform(-1, 1) * share * MAX_ROTATION)
        return cls((float(pan[0]), float(pan[1])), zoom, rotation)

    def __str__(self) -> str:
        return f"pan=({self.pan[0]:.4f},{self.pan[1]:.4f}) zoom={self.zoom:.3f} rotation={self.rotation:.2f}"

    def maps(self, num_frames: int, height: int, width: int) -> list[np.ndarray]:
        """Per frame, the 2×3 affine map from output pixels to canvas pixels, canvas centre at (0, 0).

        The canvas is the image at the output's scale: at zoom 1 one canvas pixel is one output pixel.
        """
        maps = []
        for t in range(num_frames):
            u = t / max(num_frames - 1, 1)
            scale = self.zoom ** -u  # canvas pixels per output pixel
            angle = np.deg2rad(self.rotation * u)
            rotate = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
            centre = np.array([self.pan[0] * width, self.pan[1] * height]) * t
            offset = centre - rotate @ np.array([width / 2, height / 2])
            maps.append(np.concatenate([rotate, offset[:, None]], axis=1))
        return maps


def canvas_size(maps: list[np.ndarray], height: int, width: int) -> tuple[int, int]:
    """(height, width) of a centred canvas that every frame's window stays inside."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], dtype=np.float64).T
    reach = np.abs(np.concatenate([m @ corners for m in maps], axis=1)).max(axis=1)  # (x, y) half-extents
    return int(np.ceil(2 * reach[1])) + 2, int(np.ceil(2 * reach[0])) + 2


def render(canvas: np.ndarray, maps: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Frames (T, H, W, 3) seen by the camera over a canvas whose centre is the maps' origin."""
    shift = np.array([[0, 0, canvas.shape[1] / 2], [0, 0, canvas.shape[0] / 2]])
    return np.stack([cv2.warpAffine(canvas, m + shift, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT) for m in maps])


def camera_clip(image: np.ndarray | None, path: CameraPath, num_frames: int, height: int, width: int,
                texture: tuple[str, np.random.Generator] | None = None) -> np.ndarray:
    """A (T, H, W, 3) uint8 clip of `path` over `image` (resized to cover the canvas), or over a texture
    (kind, generator) drawn at the canvas's size."""
    maps = path.maps(num_frames, height, width)
    canvas_h, canvas_w = canvas_size(maps, height, width)
    if texture is not None:
        canvas = make_texture(texture[0], canvas_h, canvas_w, texture[1])
    else:
        canvas = fit_frames(image[None], canvas_h, canvas_w)[0]
    return render(canvas, maps, height, width)


@dataclass
class SynthResult:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    skipped: SkippedInputs = field(default_factory=SkippedInputs)


def find_images(folder: Path) -> list[Path]:
    """The images and videos in `folder`, searched recursively."""
    if not folder.is_dir():
        raise ValueError(f"image folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)


def load_stills(path: Path, frames_per_video: int) -> list[np.ndarray]:
    """An image, or `frames_per_video` evenly spaced frames of a video, as uint8 (H, W, 3) arrays."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        frames, _ = read_video(path)
        picks = np.linspace(0, len(frames) - 1, min(frames_per_video, len(frames))).round().astype(int)
        return [frames[i] for i in dict.fromkeys(picks)]
    with Image.open(path) as img:
        return [np.asarray(img.convert("RGB"))]


def refuse_holdout(images: list[Path]) -> None:
    held = [(path, match) for path in images
            if path.suffix.lower() in IMAGE_SUFFIXES and (match := holdout_match(path))]
    if held:
        names = "; ".join(f"{path} (= {m.package}'s {m.file})" for path, m in held[:5])
        raise ValueError(f"{len(held)} training image(s) are held-out photos kept for evaluation: {names}; "
                         "remove them from the folder")


def synthesize(out_dir: str | Path, *, height: int, width: int, fps: float, images: str | Path | None = None,
               package_media: bool = False, textures: int = 0, holdout: bool = False, clips_per_image: int = 1,
               frames_per_video: int = 8, num_frames: int = CLIP_FRAMES, max_motion: float = 1.0, seed: int = 0,
               overwrite: bool = False, progress: bool = True) -> SynthResult:
    """Write camera-motion clips to `out_dir/clips/` and their CSV (with measured `flow`, the image or
    texture in `source` and the path in `camera`) to `out_dir/clips.csv`. See the module's docstring."""
    if holdout and (images or package_media or textures):
        raise ValueError("--holdout makes the evaluation set alone: do not combine it with other sources")
    if not (holdout or images or package_media or textures):
        raise ValueError("nothing to make: give --images DIR, --package-media, --textures N or --holdout")
    if num_frames < 2 or clips_per_image < 1 or frames_per_video < 1 or textures < 0 or max_motion <= 0:
        raise ValueError("need at least 2 frames, 1 clip per image, 1 frame per video, a texture count of 0 "
                         "or more and a positive --max-motion")
    if height < 16 or width < 16 or height % 2 or width % 2:
        raise ValueError(f"clip height and width must be even (H.264) and at least 16, got {width}x{height}")
    sources = holdout_paths() if holdout else find_images(Path(images)) if images else []
    if images:
        refuse_holdout(sources)
    if package_media:
        sources += training_media(IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    clips_dir, csv_path = clip_output(out_dir, overwrite)
    clips_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # (clip name, source label, image path or texture kind, clips to make), decided before any work.
    jobs = [(f"{'holdout' if holdout else 'image'}{i:05d}-{p.stem}", str(p), p, clips_per_image)
            for i, p in enumerate(sources)]
    jobs += [(f"texture{i:05d}-{kind}", f"texture:{kind}", str(kind), 1)
             for i, kind in enumerate(rng.choice(list(TEXTURES), size=textures))]
    result = SynthResult()
    start = time.perf_counter()
    with tqdm(total=len(jobs), desc="synthesizing", unit="source", disable=not progress) as bar:
        for name, label, source, count in jobs:
            if isinstance(source, Path):
                try:
                    stills = load_stills(source, frames_per_video)
                except (OSError, Image.DecompressionBombError, VideoReadError) as err:
                    result.skipped.add("unreadable image or video", source, str(err))
                    bar.update()
                    continue
            else:
                stills = [None]
            for s, image in enumerate(stills):
                # a texture: one clip, its name; an image: a clip per path; a video: per still and path
                still = f"{name}-f{s:02d}" if len(stills) > 1 else name
                for k in range(count):
                    path = CameraPath.random(rng, max_motion=max_motion)
                    texture = None if image is not None else (source, rng)
                    frames = camera_clip(image, path, num_frames, height, width, texture=texture)
                    clip_name = name if image is None else f"{still}-{k:02d}"
                    clip = write_video(clips_dir / f"{clip_name}.mp4", frames, fps, overwrite=True)
                    written, _ = read_video(clip)  # scored as `data score` would: from the compressed file
                    result.rows.append(clip_row(clip, *written.shape[:3], flow=motion_score(written), source=label,
                                                camera=str(path)))
            bar.update()
    write_rows(csv_path, result.rows, overwrite=overwrite)
    result.seconds = time.perf_counter() - start
    return result
