"""A contact sheet: rows of videos, a few evenly spaced frames each, labelled; what a viewer would see
at a glance (does every frame hold the picture, does it move, are there blocks)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

LABEL_WIDTH = 190


def contact_sheet(rows: list[tuple[str, np.ndarray]], columns: int = 9, frame_size: int = 128) -> Image.Image:
    """One row per (label, uint8 (T, H, W, 3) video): `columns` frames from first to last, each scaled to
    `frame_size` pixels high, the frame index above the first row."""
    if not rows:
        raise ValueError("a contact sheet needs at least one video")
    header = 16
    width_of = lambda video: round(frame_size * video.shape[2] / video.shape[1])  # noqa: E731
    cell = max(width_of(video) for _, video in rows)
    sheet = Image.new("RGB", (LABEL_WIDTH + columns * cell, header + len(rows) * frame_size), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, video) in enumerate(rows):
        indices = np.linspace(0, len(video) - 1, columns).round().astype(int)
        top = header + r * frame_size
        draw.text((4, top + frame_size // 2 - 6), label, fill="black")
        for c, index in enumerate(indices):
            frame = Image.fromarray(video[index]).resize((width_of(video), frame_size), Image.Resampling.LANCZOS)
            sheet.paste(frame, (LABEL_WIDTH + c * cell, top))
            if r == 0:
                draw.text((LABEL_WIDTH + c * cell + 4, 2), f"frame {index}", fill="black")
    return sheet
