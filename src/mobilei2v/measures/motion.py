"""The motion score: how much a clip moves, in the units the denoiser is conditioned on (docs/architecture.md §1, §8).

Mean optical-flow magnitude in pixels per frame, over every consecutive frame pair, on frames resized to
320×576 (H×W, aspect not kept): the OpenSora convention the authors' scores follow. They measured flow with
UniMatch; here it is OpenCV's DIS (preset "medium"), a classical dense flow that needs no weights and
recovers known translations to within 1 % at this size (tests/measures/test_motion.py). A pan of v pixels per
frame at 576×320 scores v. On textureless regions and very large motions the two methods differ, so treat
a score from here and one from UniMatch as the same scale, not the same number.

`camera_motion` reads the direction of the same flow: the camera move (pan, zoom, roll) that explains it
best. The score says how much a clip moves; the camera says which way.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_SIZE = (320, 576)  # (H, W) at which flow is measured: scores are pixels at this size
CAMERA_AXES = ("pan x", "pan y", "zoom", "roll")  # what `camera_motion` returns, in this order
# Named camera moves, as the directions `camera_motion` measures for them. A camera that pans left sees
# the picture slide right; one that rolls right (clockwise) sees it turn counter-clockwise.
CAMERA_MOVES = {
    "pan-left": (1.0, 0.0, 0.0, 0.0), "pan-right": (-1.0, 0.0, 0.0, 0.0),
    "pan-up": (0.0, 1.0, 0.0, 0.0), "pan-down": (0.0, -1.0, 0.0, 0.0),
    "zoom-in": (0.0, 0.0, 1.0, 0.0), "zoom-out": (0.0, 0.0, -1.0, 0.0),
    "roll-left": (0.0, 0.0, 0.0, 1.0), "roll-right": (0.0, 0.0, 0.0, -1.0),
    "any": (0.0, 0.0, 0.0, 0.0),  # no direction given: the model chooses
}


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


def _flows(frames: np.ndarray, what: str) -> list[np.ndarray]:
    """DIS flow (320, 576, 2) between each consecutive pair of uint8 (T, H, W, 3) frames, at FLOW_SIZE."""
    if len(frames) < 2:
        raise ValueError(f"{what} needs at least 2 frames, got {len(frames)}")
    height, width = FLOW_SIZE
    gray = [cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            for f in frames]
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return [flow.calc(a, b, None) for a, b in zip(gray, gray[1:])]


def motion_score(frames: np.ndarray) -> float:
    """Mean |flow| (pixels per frame pair at 576×320) of uint8 (T, H, W, 3) frames, T ≥ 2."""
    return float(np.mean([np.linalg.norm(f, axis=-1).mean() for f in _flows(frames, "a motion score")]))


def camera_motion(frames: np.ndarray) -> np.ndarray:
    """The camera move that best explains the flow of uint8 (T, H, W, 3) frames, T ≥ 2: (pan x, pan y, zoom,
    roll) in pixels per frame at 576×320, averaged over the frame pairs (`CAMERA_AXES`).

    Each pair's flow is fitted by least squares with an affine field about the frame's centre,
    u = a + b·x + c·y, v = d + e·x + f·y (x, y in pixels from the centre). Pan is (a, d), the motion of the
    centre: positive x when the picture slides right (the camera pans left), positive y when it slides
    down. Zoom (b + f)/2 and roll (e − c)/2 are the divergence and curl, dimensionless, given as the motion
    they cause at the frame's side edge (× 288 px), so that all four read in the same units: positive zoom
    when the picture grows (zooming in), positive roll when it turns clockwise on screen."""
    height, width = FLOW_SIZE
    # Every 8th pixel is plenty for 6 parameters and keeps the fit's cost below the flow's.
    y, x = np.mgrid[4:height:8, 4:width:8].astype(np.float64)
    x, y = x - (width - 1) / 2, y - (height - 1) / 2
    design = np.stack([np.ones_like(x), x, y], axis=-1).reshape(-1, 3)
    moves = []
    for flow in _flows(frames, "a camera move"):
        (a, b, c), (d, e, f) = np.linalg.lstsq(design, flow[4::8, 4::8].reshape(-1, 2).astype(np.float64),
                                               rcond=None)[0].T
        edge = width / 2
        moves.append((a, d, (b + f) / 2 * edge, (e - c) / 2 * edge))
    return np.mean(moves, axis=0).astype(np.float32)

