"""Per-video measures for image-to-video evaluation: fidelity, motion, temporal quality, and what a viewer
sees (is every frame the photo, moved; does it move in every frame; is it sharp; are there blocks).

All take uint8 (T, H, W, 3) frames (or (H, W, 3) images) and work on the 0–255 scale. Identical inputs
have an infinite PSNR, reported as such rather than clipped to an arbitrary ceiling. Optical flow is
OpenCV's DIS, as the motion score's.
"""

from __future__ import annotations

import cv2
import numpy as np

from .motion import optical_flow, warp


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB, 0–255 scale) between two uint8 arrays of the same shape, over `mask`'s pixels if given."""
    if a.shape != b.shape:
        raise ValueError(f"PSNR of arrays of different shapes: {a.shape} and {b.shape}")
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = diff[mask].mean() if mask is not None else diff.mean()
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def motion_evenness(frames: np.ndarray) -> float:
    """min / median over the consecutive frame pairs of the mean flow magnitude: 1 when every frame moves
    alike, 0 when some frames do not move while others jump (a video that moves in steps: most pairs
    still, the median below 0.01 px, counts as 0). nan for a video that does not move at all (no pair
    above 0.01 px), where evenness means nothing."""
    if len(frames) < 3:
        raise ValueError(f"motion evenness needs at least 3 frames, got {len(frames)}")
    magnitudes = np.array([np.linalg.norm(optical_flow(a, b), axis=-1).mean() for a, b in zip(frames, frames[1:])])
    still = 0.01  # px: DIS's noise floor on identical frames is far below
    if magnitudes.max() < still:
        return float("nan")
    median = float(np.median(magnitudes))
    return 0.0 if median < still else float(magnitudes.min() / median)


def warp_fidelity(frames: np.ndarray, photo: np.ndarray) -> tuple[float, float]:
    """(mean, worst) over frames k ≥ 1 of the PSNR of frame k against the input photo warped by the flow
    from frame k to frame 0: is each frame the photo, moved? Pixels whose source lies outside the photo
    (content that entered the view) are left out. A frame that drifted to other content scores low
    whatever its motion; one that is the photo moved by any flow scores high."""
    if len(frames) < 2 or frames.shape[1:] != photo.shape:
        raise ValueError(f"warp fidelity needs ≥ 2 frames of the photo's shape {photo.shape}, got {frames.shape}")
    scores = []
    for frame in frames[1:]:
        warped, inside = warp(photo, optical_flow(frame, frames[0]))  # frame(x) ≈ frame0(x + flow(x))
        scores.append(psnr(frame, warped, inside))
    return float(np.mean(scores)), float(np.min(scores))


def _laplacian_variance(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def sharpness(frames: np.ndarray) -> float:
    """Mean Laplacian variance of frames k ≥ 1 relative to frame 0's: below 1 when later frames blur."""
    first = _laplacian_variance(frames[0])
    later = np.mean([_laplacian_variance(f) for f in frames[1:]])
    return float(later / first) if first > 0 else float("nan")


def blockiness(frames: np.ndarray, cell: int) -> float:
    """Mean absolute difference between neighbouring pixels across the lines of a `cell`-pixel grid (the
    latent cells' edges), relative to the mean across all other neighbouring pixels: 1 when the grid is
    invisible, above 1 when the picture shows blocks."""
    video = frames.astype(np.float32)
    across, elsewhere = [], []
    for axis in (1, 2):  # rows, columns
        diff = np.abs(np.diff(video, axis=axis))  # difference between pixel i and i + 1 along the axis
        on_line = (np.arange(diff.shape[axis]) + 1) % cell == 0
        across.append(np.compress(on_line, diff, axis=axis).ravel())
        elsewhere.append(np.compress(~on_line, diff, axis=axis).ravel())
    across, elsewhere = np.concatenate(across), np.concatenate(elsewhere)
    if not len(across) or elsewhere.mean() == 0:
        return float("nan")
    return float(across.mean() / elsewhere.mean())


def temporal_quality(frames: np.ndarray) -> tuple[float, float]:
    """(motion-compensated PSNR, flicker) over consecutive frame pairs, each averaged over the pairs.

    Each next frame is warped back onto the current one by optical flow; pixels whose source falls outside
    the frame (content entering with the motion) are left out. The PSNR between the warped and the current
    frame is high for a video that moves coherently, whatever the motion. Flicker is the absolute change
    of mean brightness between them, in 0–255 units: what remains after motion is taken out.
    """
    if len(frames) < 2:
        raise ValueError(f"temporal quality needs at least 2 frames, got {len(frames)}")
    psnrs, flickers = [], []
    for a, b in zip(frames, frames[1:]):
        warped, inside = warp(b, optical_flow(a, b))
        psnrs.append(psnr(warped, a, inside))
        flickers.append(abs(float(warped[inside].astype(np.float64).mean() - a[inside].astype(np.float64).mean())))
    return float(np.mean(psnrs)), float(np.mean(flickers))
