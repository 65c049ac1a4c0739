"""Video files through PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..files import atomic_output

# Output container → (codec, pixel format). H.264 needs even sizes, which the pipeline guarantees.
_FORMATS = {".mp4": ("libx264", "yuv420p"), ".gif": ("gif", "rgb8")}
VIDEO_SUFFIXES = tuple(_FORMATS)


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
    with atomic_output(path, overwrite) as tmp, av.open(str(tmp), "w", format=suffix[1:]) as container:
        stream = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if codec == "libx264":
            stream.options = {"crf": str(crf)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return path


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of a video as uint8 (T, H, W, 3) and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return np.stack(frames), float(stream.average_rate or 0)
