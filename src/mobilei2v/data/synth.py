"""`data synth`: camera-motion clips from still images and procedural textures, with measured motion.

A virtual camera moves over a still image along a smooth path: a pan at constant velocity, a zoom at a
constant rate (the scale changes by the same factor every frame) and a rotation at constant angular
speed, alone or combined, in a random direction with a magnitude drawn uniformly from zero (a still
shot) to a maximum. Frames are cut out of the image by an affine warp, so no frame shows anything
outside the image. A video in the image folder gives `frames_per_video` stills, evenly spaced: frames of
the real videos that packages ship are the most varied real pictures there are without a download.
With `crop` below 1, each clip of an image films a random window of it (from `crop` of its width up
to all of it): many different pictures from one large photo, as a desktop wallpaper package ships them.
Each clip's motion score is then measured from the written file by the same scorer as real clips
(`motion.motion_score`), never taken from the path.

Training images must not be among the held-out photos (`holdout.py`): a folder that holds one is
refused. `--package-media` adds every sample image and video that the data packages ship, except the
held-out photos. `--holdout` makes clips of exactly those photos, for evaluation.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..io.images import IMAGE_SUFFIXES
from ..io.video import INPUT_VIDEO_SUFFIXES as VIDEO_SUFFIXES
from ..io.video import VideoReadError, read_video, write_video
from ..measures.motion import motion_score
from .camera import CameraPath, camera_clip, random_crop
from .clips_csv import CLIP_FRAMES, Row, clip_output, clip_row, write_rows
from .holdout import holdout_match, holdout_paths, training_media
from .skipped import SkippedInputs
from .textures import TEXTURES

SIZE_NAME = re.compile(r"(\d+)x(\d+)")


@dataclass
class SynthResult:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    skipped: SkippedInputs = field(default_factory=SkippedInputs)


def find_images(folder: Path) -> list[Path]:
    """The images and videos in `folder`, searched recursively. A folder of one picture at several sizes,
    each file named by its size as KDE's wallpapers are (`images/1920x1080.jpg`, ...), counts once: its
    largest."""
    if not folder.is_dir():
        raise ValueError(f"image folder not found: {folder}")
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    sizes: dict[Path, list[tuple[int, Path]]] = {}
    for path in found:
        if match := SIZE_NAME.fullmatch(path.stem):
            sizes.setdefault(path.parent, []).append((int(match[1]) * int(match[2]), path))
    largest = {max(paths)[1] for paths in sizes.values()}
    return [p for p in found if not SIZE_NAME.fullmatch(p.stem) or p in largest]


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
               frames_per_video: int = 8, num_frames: int = CLIP_FRAMES, max_motion: float = 1.0, crop: float = 1.0,
               seed: int = 0, overwrite: bool = False, progress: bool = True) -> SynthResult:
    """Write camera-motion clips to `out_dir/clips/` and their CSV (with measured `flow`, the image or
    texture in `source` and the path in `camera`) to `out_dir/clips.csv`. See the module's docstring."""
    if holdout and (images or package_media or textures):
        raise ValueError("--holdout makes the evaluation set alone: do not combine it with other sources")
    if not (holdout or images or package_media or textures):
        raise ValueError("nothing to make: give --images DIR, --package-media, --textures N or --holdout")
    if num_frames < 2 or clips_per_image < 1 or frames_per_video < 1 or textures < 0 or max_motion <= 0:
        raise ValueError("need at least 2 frames, 1 clip per image, 1 frame per video, a texture count of 0 "
                         "or more and a positive --max-motion")
    if not 0 < crop <= 1:
        raise ValueError(f"--crop is a fraction of the picture's width, in (0, 1], got {crop}")
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
                    # the crop draws from the generator only when asked for: older seeds keep their clips
                    view = random_crop(image, rng, crop, height, width) if image is not None and crop < 1 else image
                    frames = camera_clip(view, path, num_frames, height, width, texture=texture)
                    clip_name = name if image is None else f"{still}-{k:02d}"
                    clip = write_video(clips_dir / f"{clip_name}.mp4", frames, fps, overwrite=True)
                    written, _ = read_video(clip)  # scored as `data score` would: from the compressed file
                    result.rows.append(clip_row(clip, *written.shape[:3], flow=motion_score(written), source=label,
                                                camera=str(path)))
            bar.update()
    write_rows(csv_path, result.rows, overwrite=overwrite)
    result.seconds = time.perf_counter() - start
    return result
