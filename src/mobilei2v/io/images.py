"""Input images: read from a file or taken as given, and fitted to an output size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .video import fit_frames, frames_to_video

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ImageInput = Image.Image | str | Path | torch.Tensor


def load_image(image: Image.Image | str | Path) -> Image.Image:
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
