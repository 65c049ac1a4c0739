"""Procedural textures: training images that need no download and belong to no one.

Each kind gives a different kind of structure for optical flow and the denoiser to follow: band-limited
noise (fractal octaves), smooth gradients with fine grain, antialiased shapes, rotated checkerboards and
Voronoi cells. All are uint8 (H, W, 3) and depend only on the generator passed in.
"""

from __future__ import annotations

import cv2
import numpy as np

Generator = np.random.Generator


def _colours(rng: Generator, n: int) -> np.ndarray:
    return rng.uniform(0, 255, size=(n, 3))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).round().astype(np.uint8)


def fractal_noise(height: int, width: int, rng: Generator, octaves: int = 6) -> np.ndarray:
    """(H, W) in [0, 1]: random grids from coarse to fine, each upsampled and 0.6× as strong as the last,
    then equalised (values replaced by their rank) so the whole range is used, not a grey middle."""
    total = np.zeros((height, width), np.float32)
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.uniform(-1, 1, size=(cells, cells)).astype(np.float32)
        total += 0.6**octave * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    ranks = total.ravel().argsort().argsort().reshape(height, width)
    return ranks.astype(np.float32) / (height * width - 1)


def noise_texture(height: int, width: int, rng: Generator) -> np.ndarray:
    """Fractal noise mapped through a random three-colour ramp."""
    value = fractal_noise(height, width, rng)[..., None]
    low, mid, high = _colours(rng, 3)
    ramp = np.where(value < 0.5, low + (mid - low) * value * 2, mid + (high - mid) * (value - 0.5) * 2)
    return _to_uint8(ramp)


def gradient_texture(height: int, width: int, rng: Generator) -> np.ndarray:
    """A linear gradient at a random angle between two colours, with a fine grain of noise on top."""
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = ((ramp - ramp.min()) / max(np.ptp(ramp), 1e-6))[..., None]
    start, end = _colours(rng, 2)
    grain = (fractal_noise(height, width, rng)[..., None] - 0.5) * 60
    return _to_uint8(start + (end - start) * ramp + grain)


def shapes_texture(height: int, width: int, rng: Generator, count: int = 40) -> np.ndarray:
    """Random antialiased discs, rectangles and triangles over a noise background."""
    image = np.ascontiguousarray(noise_texture(height, width, rng))
    size = min(height, width)
    for _ in range(count):
        colour = tuple(float(c) for c in _colours(rng, 1)[0])
        centre = rng.uniform((0, 0), (width, height))
        radius = rng.uniform(0.02, 0.15) * size
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(image, tuple(int(v) for v in centre), int(radius), colour, -1, cv2.LINE_AA)
        else:
            corners = 4 if kind == 1 else 3
            angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, corners, endpoint=False)
            points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
            cv2.fillPoly(image, [points.round().astype(np.int32)], colour, cv2.LINE_AA)
    return image


def checkerboard_texture(height: int, width: int, rng: Generator, supersample: int = 3) -> np.ndarray:
    """Two-colour checks of a random size, rotated by a random angle."""
    cell = rng.uniform(0.03, 0.12) * min(height, width)
    angle = rng.uniform(0, np.pi / 2)
    # Drawn at 3× and area-averaged down, so the edges are antialiased as a camera would see them.
    y, x = np.mgrid[0:height * supersample, 0:width * supersample].astype(np.float32) / supersample
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    checks = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    checks = cv2.resize(checks, (width, height), interpolation=cv2.INTER_AREA)[..., None]
    first, second = _colours(rng, 2)
    return _to_uint8(first + (second - first) * checks)


def voronoi_texture(height: int, width: int, rng: Generator, cells: int = 48) -> np.ndarray:
    """Voronoi cells of random colours, darkened towards their borders."""
    seeds = rng.uniform((0, 0), (height, width), size=(cells, 2)).astype(np.float32)
    colours = _colours(rng, cells)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot(y[..., None] - seeds[:, 0], x[..., None] - seeds[:, 1])  # (H, W, cells)
    two_nearest = np.partition(distance, 1, axis=-1)
    edge = np.clip((two_nearest[..., 1:2] - two_nearest[..., :1]) / 6.0, 0, 1)  # 0 on a border, 1 6 px inside
    return _to_uint8(colours[distance.argmin(axis=-1)] * (0.4 + 0.6 * edge))


TEXTURES = {
    "noise": noise_texture,
    "gradient": gradient_texture,
    "shapes": shapes_texture,
    "checkerboard": checkerboard_texture,
    "voronoi": voronoi_texture,
}


def make_texture(kind: str, height: int, width: int, rng: Generator) -> np.ndarray:
    if kind not in TEXTURES:
        raise ValueError(f"unknown texture {kind!r}; choose from: {', '.join(TEXTURES)}")
    return TEXTURES[kind](height, width, rng)
