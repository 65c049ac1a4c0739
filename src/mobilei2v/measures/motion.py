"""The motion score: how much a clip moves, in the units the denoiser is conditioned on (docs/architecture.md §1, §8).

Mean optical-flow magnitude in pixels per frame, over every consecutive frame pair, on frames resized to
320×576 (H×W, aspect not kept): the OpenSora convention the authors' scores follow. They measured flow with
UniMatch; here it is OpenCV's DIS (preset "medium"), a classical dense flow that needs no weights and
recovers known translations to within 1 % at this size (tests/measures/test_motion.py). A pan of v pixels per
frame at 576×320 scores v. On textureless regions and very large motions the two methods differ, so treat
a score from here and one from UniMatch as the same scale, not the same number.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_SIZE = (320, 576)  # (H, W) at which flow is measured: scores are pixels at this size


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2) from uint8 RGB frame a to frame b, at their own size: a(x) ≈ b(x + flow(x))."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (a, b)]
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(*gray, None)


def warp(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """image(x + flow(x)), and the mask of the pixels whose source lies inside the image (all of them if
    none does)."""
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return warped, inside if inside.any() else np.ones_like(inside)


def motion_score(frames: np.ndarray) -> float:
    """Mean |flow| (pixels per frame pair at 576×320) of uint8 (T, H, W, 3) frames, T ≥ 2."""
    if len(frames) < 2:
        raise ValueError(f"a motion score needs at least 2 frames, got {len(frames)}")
    height, width = FLOW_SIZE
    gray = [cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            for f in frames]
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    magnitudes = [np.linalg.norm(flow.calc(a, b, None), axis=-1).mean() for a, b in zip(gray, gray[1:])]
    return float(np.mean(magnitudes))
