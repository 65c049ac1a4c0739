"""Video files through PyAV."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from .files import atomic_output

# Output container → (codec, pixel format). H.264 needs even sizes, which the pipeline guarantees.
_FORMATS = {".mp4": ("libx264", "yuv420p"), ".gif": ("gif", "rgb8")}
VIDEO_SUFFIXES = tuple(_FORMATS)
# What `mobilei2v data cut` looks for in a folder: the containers FFmpeg reads that cameras and sites use.
INPUT_VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
# Frame rates a written file may have: below 1 a video would be a slide show; above 240 FFmpeg's GIF and
# H.264 time bases start to round frames together (1e9 fps writes a 0-second file).
MIN_FPS, MAX_FPS = 1, 240


class VideoReadError(ValueError):
    """A video that is missing, unreadable, truncated or has no frames: a data run skips it and goes on.

    `reason` is the short category a data run counts skipped inputs by.
    """

    def __init__(self, reason: str, path: str | Path, detail: str = ""):
        super().__init__(f"{reason}: {path}" + (f" ({detail})" if detail else ""))
        self.reason, self.path, self.detail = reason, Path(path), detail


def write_video(path: str | Path, frames: np.ndarray, fps: float, overwrite: bool = False, crf: int = 18) -> Path:
    """Write uint8 frames (T, H, W, 3) to an .mp4 (H.264) or a .gif.

    Written atomically (see `atomic_output`); an existing file is replaced only with `overwrite`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"unsupported output format {path.suffix!r}: use .mp4 or .gif")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    codec, pix_fmt = _FORMATS[suffix]
    check_fps(fps)
    with atomic_output(path, overwrite) as tmp, av.open(str(tmp), "w", format=suffix[1:]) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))  # 29.97 is 30000/1001
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if codec == "libx264":
            stream.options = {"crf": str(crf)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return path


def _ffmpeg_message(err: Exception) -> str:
    """FFmpeg's own words without the file name PyAV appends (the report names the file already)."""
    return getattr(err, "strerror", None) or str(err)


class VideoReader:
    """Frames of a video one at a time, so a long video never has to fit in memory.

    Opening and decoding raise `VideoReadError` (never a raw FFmpeg error) for files that cannot be used.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoReadError("missing file", self.path)
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as err:
            raise VideoReadError("unreadable video", self.path, _ffmpeg_message(err)) from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError("unreadable video", self.path, "no video stream")
        self._stream = self._container.streams.video[0]
        self.frame_rate = float(self._stream.average_rate or 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        """uint8 (H, W, 3) RGB frames in display order."""
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as err:
            raise VideoReadError("unreadable video", self.path, f"damaged: {_ffmpeg_message(err)}") from None

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """The frames of a video (the first `max_frames` when given) as uint8 (T, H, W, 3), and its frame rate."""
    with VideoReader(path) as reader:
        frames = []
        for frame in reader:
            frames.append(frame)
            if len(frames) == max_frames:
                break
        if not frames:
            raise VideoReadError("unreadable video", path, "no frames")
        return np.stack(frames), reader.frame_rate


def fit_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (T, H, W, 3) uint8 frames to cover (height, width) and centre-crop: the pipeline's framing."""
    h, w = frames.shape[1:3]
    if (h, w) == (height, width):
        return frames
    # Only the part of the frame that survives the crop is resized: a 60000×1 strip covering 96×64 would
    # otherwise first become a 3840000×64 image.
    scale = max(height / h, width / w)
    crop_w, crop_h = width / scale, height / scale
    left, top = (w - crop_w) / 2, (h - crop_h) / 2
    box = (max(0.0, left), max(0.0, top), min(w, left + crop_w), min(h, top + crop_h))  # PIL refuses -1e-13
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BICUBIC, box=box))
                     for f in frames])


def check_fps(fps: float, option: str = "fps") -> float:
    """`fps`, after checking that a video file can play at it; ValueError otherwise."""
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise ValueError(f"{option} must be from {MIN_FPS} to {MAX_FPS} frames per second, got {fps:g}")
    return fps


def frames_to_video(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) → (1, 3, T, H, W) in [−1, 1], the VAE's input."""
    # torch.tensor copies: frames may be a read-only view (np.asarray of a PIL image)
    return torch.tensor(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
