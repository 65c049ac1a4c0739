"""Hostile images: what the pipeline sees must be the picture a viewer shows, never a black, white or
sideways version of it, and an image no one can use is refused with a ValueError."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from mobilei2v.io.images import image_to_tensor, load_image


def mean_rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64).mean(axis=(0, 1))


def test_a_16_bit_grey_png_keeps_its_greys(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((40, 60), 32768, dtype=np.uint16)).save(path)  # mid-grey in 16 bits
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_allclose(mean_rgb(load_image(path)), 127.5, atol=1.5)


def test_a_float_tiff_in_0_1_keeps_its_greys(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.full((40, 60), 0.5, dtype=np.float32), mode="F").save(path)
    np.testing.assert_allclose(mean_rgb(load_image(path)), 127.5, atol=1.5)


def test_a_float_image_outside_0_1_is_refused():
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        load_image(Image.fromarray(np.full((40, 60), 300.0, dtype=np.float32), mode="F"))


def test_a_jpeg_is_turned_upright_by_its_exif_orientation(tmp_path):
    stored = np.zeros((40, 60, 3), dtype=np.uint8)
    stored[:, :30] = 255  # white left half as stored; orientation 6 shows it rotated 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    shown = np.asarray(load_image(path))
    assert shown.shape == (60, 40, 3)  # portrait, as viewers show it
    assert shown[:25].mean() > 200 and shown[35:].mean() < 50  # the white half is on top


def test_colour_under_transparent_pixels_does_not_show():
    rgba = np.zeros((40, 60, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent: a viewer shows the background
    image = load_image(Image.fromarray(rgba, mode="RGBA"))
    np.testing.assert_allclose(mean_rgb(image), 255)


def test_a_numpy_array_is_an_image_as_in_diffusers():
    array = np.full((40, 60, 3), 0.25, dtype=np.float32)
    np.testing.assert_allclose(mean_rgb(load_image(array)), 64, atol=1)
    assert load_image(np.zeros((40, 60, 3), dtype=np.uint8)).size == (60, 40)


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), dtype=np.uint8), np.zeros((40, 60, 2), dtype=np.uint8),
                                 np.full((4, 4, 3), np.nan, dtype=np.float32), np.zeros((4, 4, 3), dtype=np.int64)])
def test_an_unusable_array_is_refused(bad):
    with pytest.raises(ValueError, match="image|array"):
        load_image(bad)


def test_a_long_strip_is_cropped_before_it_is_resized():
    # Resized whole to cover 96×64 it would be 15 million × 64 pixels: 17 s and 5 GB here.
    strip = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1, 240000, 3), dtype=np.uint8))
    start = time.perf_counter()
    tensor = image_to_tensor(load_image(strip), 64, 96)
    assert tensor.shape == (1, 3, 64, 96) and time.perf_counter() - start < 2
