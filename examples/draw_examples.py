"""Draw the procedural example photos beside this file (mountains.jpg, skyline.jpg, meadow.jpg).

They are drawn rather than taken from a package so that they belong to no one and are never one of the
held-out evaluation photos. Run from anywhere: `python examples/draw_examples.py` (numpy and Pillow only).
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 480, 320
SUPERSAMPLE = 3  # shapes are drawn at 3× and reduced: antialiased edges
HERE = Path(__file__).parent


def ridge(rng: np.random.Generator, width: int, base: float, roughness: float) -> np.ndarray:
    """(width,) heights in pixels: octaves of smoothly interpolated random values, coarse to fine."""
    heights = np.zeros(width)
    for octave in range(6):
        knots = rng.uniform(-1, 1, 2 ** (octave + 2) + 1)
        heights += roughness * 0.5**octave * np.interp(np.linspace(0, len(knots) - 1, width),
                                                       np.arange(len(knots)), knots)
    return base + heights


def vertical_gradient(height: int, width: int, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """(height, width, 3) float: colours interpolated between (position in [0, 1], RGB) stops, top to bottom."""
    y = np.linspace(0, 1, height)
    column = np.stack([np.interp(y, [p for p, _ in stops], [c[i] for _, c in stops]) for i in range(3)], -1)
    return np.repeat(column[:, None], width, axis=1)


def mountains(rng: np.random.Generator) -> Image.Image:
    """A sunset over three mountain ridges and a lake that reflects them."""
    w, h = WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE
    horizon = int(h * 0.68)
    sky = vertical_gradient(horizon, w, [(0, (40, 60, 130)), (0.6, (230, 130, 90)), (1, (250, 200, 120))])
    image = Image.fromarray(np.concatenate([sky, np.zeros((h - horizon, w, 3))]).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    sun = (w * 0.62, horizon * 0.3, h * 0.06)
    draw.ellipse((sun[0] - sun[2], sun[1] - sun[2], sun[0] + sun[2], sun[1] + sun[2]), fill=(255, 230, 170))
    for base, rough, colour in ((0.42, 0.18, (120, 90, 120)), (0.55, 0.12, (75, 60, 95)), (0.64, 0.06, (35, 40, 60))):
        tops = ridge(rng, w, base * h, rough * h).clip(0, horizon)
        draw.polygon([(0, horizon), *zip(range(w), tops), (w - 1, horizon)], fill=colour)
    pixels = np.asarray(image).astype(float)
    mirrored = pixels[horizon - (h - horizon):horizon][::-1]
    ripples = np.sin(np.arange(h - horizon) ** 1.3 * 0.9)[:, None, None] * 6
    pixels[horizon:] = 0.75 * mirrored + 0.25 * np.array([30, 50, 80]) + ripples
    return finish(pixels)


def skyline(rng: np.random.Generator) -> Image.Image:
    """A city at dusk: stars, a moon, buildings of several depths with lit windows."""
    w, h = WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE
    sky = vertical_gradient(h, w, [(0, (10, 15, 45)), (0.7, (70, 60, 120)), (1, (200, 110, 90))])
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for x, y in zip(rng.uniform(0, w, 120), rng.uniform(0, h * 0.5, 120)):
        draw.ellipse((x, y, x + 3, y + 3), fill=(230, 230, 255))
    draw.ellipse((w * 0.15, h * 0.1, w * 0.15 + h * 0.12, h * 0.22), fill=(245, 240, 215))
    for depth, shade in ((0.45, (45, 45, 80)), (0.6, (25, 25, 50)), (0.75, (10, 10, 25))):
        x = -rng.uniform(0, 60)
        while x < w:
            width = rng.uniform(0.06, 0.13) * w
            top = h * (1 - depth * rng.uniform(0.5, 1.0))
            draw.rectangle((x, top, x + width, h), fill=shade)
            for wx in np.arange(x + 12, x + width - 18, 27):
                for wy in np.arange(top + 15, h - 15, 36):
                    if rng.random() < 0.35:
                        draw.rectangle((wx, wy, wx + 12, wy + 18), fill=(255, 210, 120))
            x += width + rng.uniform(0, 20)
    return finish(np.asarray(image).astype(float))


def meadow(rng: np.random.Generator) -> Image.Image:
    """Flowers on a meadow under a blue sky with clouds, smaller and hazier towards the horizon."""
    w, h = WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE
    horizon = int(h * 0.42)
    sky = vertical_gradient(horizon, w, [(0, (70, 130, 210)), (1, (180, 210, 240))])
    grass = vertical_gradient(h - horizon, w, [(0, (120, 160, 80)), (1, (40, 110, 40))])
    image = Image.fromarray(np.concatenate([sky, grass]).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(7):
        cx, cy, size = rng.uniform(0, w), rng.uniform(0.1, 0.6) * horizon, rng.uniform(40, 90)
        for dx in np.linspace(-2, 2, 5):
            r = size * rng.uniform(0.6, 1.0)
            draw.ellipse((cx + dx * size - r, cy - r * 0.6, cx + dx * size + r, cy + r * 0.6), fill=(250, 250, 250))
    for y in np.sort(rng.uniform(horizon + 10, h, 220)):
        depth = (y - horizon) / (h - horizon)  # 0 at the horizon, 1 at the bottom edge
        x, r = rng.uniform(0, w), 4 + 26 * depth
        colour = tuple(int(c) for c in rng.choice([(230, 60, 80), (250, 200, 60), (240, 240, 250), (170, 90, 200)]))
        draw.line((x, y, x, y + 3 * r), fill=(40, 100, 40), width=max(2, int(r / 5)))
        for angle in np.linspace(0, 2 * np.pi, 6, endpoint=False):
            px, py = x + r * np.cos(angle), y + 0.7 * r * np.sin(angle)
            draw.ellipse((px - r * 0.6, py - r * 0.45, px + r * 0.6, py + r * 0.45), fill=colour)
        draw.ellipse((x - r * 0.4, y - r * 0.3, x + r * 0.4, y + r * 0.3), fill=(250, 220, 90))
    return finish(np.asarray(image.filter(ImageFilter.GaussianBlur(1.5))).astype(float))


def finish(pixels: np.ndarray) -> Image.Image:
    """Reduce the supersampled picture to WIDTH × HEIGHT and add a little sensor-like grain."""
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    grain = np.random.default_rng(0).normal(0, 2.5, (HEIGHT, WIDTH, 1))
    return Image.fromarray((np.asarray(image) + grain).clip(0, 255).astype(np.uint8))


if __name__ == "__main__":
    for seed, draw_scene in enumerate((mountains, skyline, meadow)):
        path = HERE / f"{draw_scene.__name__}.jpg"
        draw_scene(np.random.default_rng(seed)).save(path, quality=88)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
