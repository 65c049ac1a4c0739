"""Per-video measures for image-to-video evaluation: fidelity, motion, temporal quality.

All take uint8 (T, H, W, 3) frames (or (H, W, 3) images) and work on the 0–255 scale. Identical inputs
have an infinite PSNR, reported as such rather than clipped to an arbitrary ceiling.
"""

from __future__ import annotations

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB, 0–255 scale) between two uint8 arrays of the same shape, over `mask`'s pixels if given."""
    if a.shape != b.shape:
        raise ValueError(f"PSNR of arrays of different shapes: {a.shape} and {b.shape}")
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = diff[mask].mean() if mask is not None else diff.mean()
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow (H, W, 2) from frame a to frame b: a(x) ≈ b(x + flow(x)). DIS, as the motion score."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (a, b)]
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(*gray, None)


def temporal_quality(frames: np.ndarray) -> tuple[float, float]:
    """(motion-compensated PSNR, flicker) over consecutive frame pairs, each averaged over the pairs.

    Each next frame is warped back onto the current one by optical flow; pixels whose source falls outside
    the frame (content entering with the motion) are left out. The PSNR between the warped and the current
    frame is high for a video that moves coherently, whatever the motion. Flicker is the absolute change
    of mean brightness between them, in 0–255 units: what remains after motion is taken out.
    """
    if len(frames) < 2:
        raise ValueError(f"temporal quality needs at least 2 frames, got {len(frames)}")
    h, w = frames.shape[1:3]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    psnrs, flickers = [], []
    for a, b in zip(frames, frames[1:]):
        flow = _flow(a, b)
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped = cv2.remap(b, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        if not inside.any():
            inside[:] = True
        psnrs.append(psnr(warped, a, inside))
        flickers.append(abs(float(warped[inside].astype(np.float64).mean() - a[inside].astype(np.float64).mean())))
    return float(np.mean(psnrs)), float(np.mean(flickers))
