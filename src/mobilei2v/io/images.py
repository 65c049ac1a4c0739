"""Input images: read from a file or taken as given, and fitted to an output size.

Whatever the source, the picture the pipeline sees is the one a viewer shows: turned upright by its
EXIF orientation, transparent pixels shown over white (not the colour hidden under them), 16-bit and
floating-point pixels scaled to 8 bits rather than clipped to black or white.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .video import fit_frames, frames_to_video

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ImageInput = Image.Image | np.ndarray | str | Path | torch.Tensor
# The background transparent pixels are shown over, as most viewers and browsers do.
BACKGROUND = (255, 255, 255)


def load_image(image: Image.Image | np.ndarray | str | Path) -> Image.Image:
    """A PIL RGB image, as a viewer shows it, from a path, a PIL image or an (H, W) / (H, W, 3|4) array
    (uint8, or floats in [0, 1]); raises ValueError for anything that is not a usable image."""
    if isinstance(image, np.ndarray):
        return _to_rgb(array_to_image(image), "the array")
    if isinstance(image, Image.Image):
        return _to_rgb(image, "the image")
    if not isinstance(image, (str, Path)):
        raise ValueError(f"an image must be a path, a PIL image, a numpy array or a tensor, got {type(image).__name__}")
    path = Path(image)
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            return _to_rgb(img, str(path))
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"not a readable image: {path} ({err})") from None


def array_to_image(array: np.ndarray) -> Image.Image:
    """An (H, W), (H, W, 3) or (H, W, 4) array, uint8 or floats in [0, 1] (diffusers' convention), as a PIL image."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"an image array must be uint8 (0-255) or floats in [0, 1], got {array.dtype}")
        array = np.round(_unit_range(array, "the array") * 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def _unit_range(values: np.ndarray, source: str) -> np.ndarray:
    if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
        raise ValueError(f"{source} holds floating-point pixels outside [0, 1] (min {values.min():g}, "
                         f"max {values.max():g}); scale them to [0, 1]")
    return values


def _to_rgb(img: Image.Image, source: str) -> Image.Image:
    img = ImageOps.exif_transpose(img)
    if img.width == 0 or img.height == 0:
        raise ValueError(f"{source} is empty ({img.width}x{img.height} pixels)")
    if img.mode.startswith("I"):  # 16-bit PNG and TIFF: 0-65535
        img = Image.fromarray(np.round(np.asarray(img, dtype=np.float64).clip(0, 65535) / 257).astype(np.uint8))
    elif img.mode == "F":
        img = Image.fromarray(np.round(_unit_range(np.asarray(img), source) * 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        background = Image.new("RGBA", img.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def image_to_tensor(image: Image.Image, height: int, width: int) -> torch.Tensor:
    """Resize to cover (height, width), centre-crop, → (1, 3, height, width) in [−1, 1]."""
    return frames_to_video(fit_frames(np.asarray(image)[None], height, width))[:, :, 0]
