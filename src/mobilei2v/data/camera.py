"""A virtual camera over a still picture: the paths `data synth` films training clips with, the pans
`evaluate` films its ground truth with, and the guide a denoiser with `camera_guide` is given (the photo
itself filmed along the requested move).

A path is a pan at constant velocity, a zoom at a constant rate (the scale changes by the same factor every
frame) and a rotation at constant angular speed, alone or combined. Frames are cut out of the picture by
an affine warp of a canvas large enough that no frame shows anything outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

import torch

from ..io.video import fit_frames
from ..measures.motion import CAMERA_AXES, FLOW_SIZE
from .textures import make_texture

# Largest motion a path is drawn with. Pan in frame widths/heights per frame: at most 0.012 × 576 ≈ 6.9 px
# per frame at the motion score's 576×320, just past the paper's 6.5 filter. Zoom: total scale change
# over the clip. Rotation: total degrees over the clip.
MAX_PAN = 0.012
MAX_ZOOM = 1.5
MAX_ROTATION = 15.0
KINDS = ("pan", "zoom", "rotate", "mixed")


@dataclass(frozen=True)
class CameraPath:
    """pan: (x, y) in frame widths and heights per frame; zoom: scale at the last frame over the first
    (> 1 moves in); rotation: degrees turned by the last frame (counter-clockwise content)."""

    pan: tuple[float, float] = (0.0, 0.0)
    zoom: float = 1.0
    rotation: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator, kind: str | None = None, max_motion: float = 1.0) -> CameraPath:
        """A path of one kind (random if None) with a random direction and a magnitude from 0 to the maximum,
        `max_motion` times the default maxima."""
        kind = kind or KINDS[rng.integers(len(KINDS))]
        # combined motions, each smaller, stay in the same range
        share = (0.5 if kind == "mixed" else 1.0) * max_motion
        pan, zoom, rotation = (0.0, 0.0), 1.0, 0.0
        if kind in ("pan", "mixed"):
            speed, direction = rng.uniform(0, share * MAX_PAN), rng.uniform(0, 2 * np.pi)
            pan = (speed * np.cos(direction), speed * np.sin(direction))
        if kind in ("zoom", "mixed"):
            zoom = float(np.exp(rng.uniform(-1, 1) * share * np.log(MAX_ZOOM)))
        if kind in ("rotate", "mixed"):
            rotation = float(rng.uniform(-1, 1) * share * MAX_ROTATION)
        return cls((float(pan[0]), float(pan[1])), zoom, rotation)

    @classmethod
    def from_move(cls, move, num_frames: int, height: int, width: int) -> CameraPath:
        """The path over `num_frames` frames of height×width whose clip `measures.motion.camera_motion`
        measures as `move` (pan x, pan y, zoom, roll in pixels per frame at 576×320): its inverse, up to the
        fit's error. The picture slides one way as the camera moves the other; a zoom's rate and a roll's
        angular speed are read back from their motion at the resized frame's edge, the roll through the
        unequal stretch of resizing (as `training.datasets.crop_camera` reads it)."""
        pan_x, pan_y, zoom, roll = (float(v) for v in move)
        (flow_h, flow_w), edge, frames = FLOW_SIZE, FLOW_SIZE[1] / 2, max(num_frames - 1, 1)
        stretch = (flow_w / width) / (flow_h / height)
        omega = roll / edge / ((stretch + 1 / stretch) / 2)  # radians per frame, clockwise on screen
        return cls(pan=(-pan_x / flow_w, -pan_y / flow_h), zoom=float((1 + zoom / edge) ** frames),
                   rotation=float(np.rad2deg(omega) * frames))

    def __str__(self) -> str:
        return f"pan=({self.pan[0]:.4f},{self.pan[1]:.4f}) zoom={self.zoom:.3f} rotation={self.rotation:.2f}"

    def maps(self, num_frames: int, height: int, width: int) -> list[np.ndarray]:
        """Per frame, the 2×3 affine map from output pixels to canvas pixels, canvas centre at (0, 0).

        The canvas is the image at the output's scale: at zoom 1 one canvas pixel is one output pixel.
        """
        maps = []
        for t in range(num_frames):
            u = t / max(num_frames - 1, 1)
            scale = self.zoom ** -u  # canvas pixels per output pixel
            angle = np.deg2rad(self.rotation * u)
            rotate = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
            centre = np.array([self.pan[0] * width, self.pan[1] * height]) * t
            offset = centre - rotate @ np.array([width / 2, height / 2])
            maps.append(np.concatenate([rotate, offset[:, None]], axis=1))
        return maps


def canvas_size(maps: list[np.ndarray], height: int, width: int) -> tuple[int, int]:
    """(height, width) of a centred canvas that every frame's window stays inside."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], dtype=np.float64).T
    reach = np.abs(np.concatenate([m @ corners for m in maps], axis=1)).max(axis=1)  # (x, y) half-extents
    return int(np.ceil(2 * reach[1])) + 2, int(np.ceil(2 * reach[0])) + 2


def render(canvas: np.ndarray, maps: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Frames (T, H, W, 3) seen by the camera over a canvas whose centre is the maps' origin."""
    shift = np.array([[0, 0, canvas.shape[1] / 2], [0, 0, canvas.shape[0] / 2]])
    return np.stack([cv2.warpAffine(canvas, m + shift, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT) for m in maps])


def move_for_score(direction, score: float, height: int, width: int) -> np.ndarray:
    """`direction` (pan x, pan y, zoom, roll, any length but 0) scaled so that its motion, as the motion
    score measures it (mean flow magnitude at 576×320) on clips of height×width, is `score`."""
    direction = np.asarray(direction, dtype=np.float64)
    if direction.shape != (len(CAMERA_AXES),) or not np.isfinite(direction).all() or not direction.any():
        raise ValueError(f"a camera direction is 4 finite numbers, not all 0 ({', '.join(CAMERA_AXES)}), "
                         f"got {direction.tolist()}")
    # The affine flow the move stands for (`camera_motion`'s model), on its grid at the flow's size.
    (flow_h, flow_w), edge = FLOW_SIZE, FLOW_SIZE[1] / 2
    y, x = np.mgrid[4:flow_h:8, 4:flow_w:8].astype(np.float64)
    x, y = x - (flow_w - 1) / 2, y - (flow_h - 1) / 2
    pan_x, pan_y, zoom, roll = direction
    stretch = (flow_w / width) / (flow_h / height)
    omega = roll / edge / ((stretch + 1 / stretch) / 2)
    u = pan_x + zoom / edge * x - omega * stretch * y
    v = pan_y + zoom / edge * y + omega / stretch * x
    return (direction * score / np.hypot(u, v).mean()).astype(np.float32)


def clip_moves(cameras: torch.Tensor, scores: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 4) moves to film guides along: each camera direction scaled to its motion score
    (`move_for_score`); a clip whose measured camera move is zero (no direction) is filmed still."""
    moves = [move_for_score(c, s, height, width) if any(c) else np.zeros(len(CAMERA_AXES), np.float32)
             for c, s in zip(cameras.tolist(), scores.reshape(-1).tolist())]
    return torch.from_numpy(np.stack(moves))


def guide_clip(photo: np.ndarray, move, num_frames: int) -> np.ndarray:
    """The photo (H, W, 3) filmed along `move` (as `camera_motion` measures it) for `num_frames` frames:
    (T, H, W, 3), frame 0 the photo itself. What the camera would bring into view from beyond the photo's
    edges is its mirror image. Floats stay in the photo's range (the cubic kernel overshoots)."""
    height, width = photo.shape[:2]
    frames = render(photo, CameraPath.from_move(move, num_frames, height, width).maps(num_frames, height, width),
                    height, width)
    if photo.dtype != np.uint8:
        frames = np.clip(frames, photo.min(), photo.max())
    return frames


def guide_videos(pixels: torch.Tensor, moves: torch.Tensor, num_frames: int) -> torch.Tensor:
    """`guide_clip` for a batch: pixels (B, 3, H, W) in [−1, 1] and moves (B, 4) → (B, 3, T, H, W), for the
    VAE to encode into a denoiser's guide."""
    photos = pixels.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    clips = [guide_clip(photo, move, num_frames) for photo, move in zip(photos, moves.tolist())]
    return torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).to(pixels.device, pixels.dtype)


def random_crop(image: np.ndarray, rng: np.random.Generator, smallest: float, height: int, width: int) -> np.ndarray:
    """A window of `image` with the clip's aspect ratio at a random place. Its width is a log-uniform
    fraction, from `smallest` to 1, of the widest such window, but never under 1.25 clip widths: the camera
    then works in the picture's own pixels (a margin for its motion) instead of an upsampled blur."""
    h, w = image.shape[:2]
    widest = min(w, h * width / height)
    low = min(1.0, max(smallest, 1.25 * width / widest))
    crop_w = int(widest * float(np.exp(rng.uniform(np.log(low), 0.0))))
    crop_h = min(h, round(crop_w * height / width))
    left, top = rng.integers(w - crop_w + 1), rng.integers(h - crop_h + 1)
    return image[top:top + crop_h, left:left + crop_w]


def camera_clip(image: np.ndarray | None, path: CameraPath, num_frames: int, height: int, width: int,
                texture: tuple[str, np.random.Generator] | None = None) -> np.ndarray:
    """A (T, H, W, 3) uint8 clip of `path` over `image` (resized to cover the canvas), or over a texture
    (kind, generator) drawn at the canvas's size."""
    maps = path.maps(num_frames, height, width)
    canvas_h, canvas_w = canvas_size(maps, height, width)
    if texture is not None:
        canvas = make_texture(texture[0], canvas_h, canvas_w, texture[1])
    else:
        canvas = fit_frames(image[None], canvas_h, canvas_w)[0]
    return render(canvas, maps, height, width)


def pan_clip(photo: np.ndarray, score: float, angle: float, num_frames: int, height: int, width: int) -> np.ndarray:
    """A pan over `photo` in direction `angle` (radians) whose motion score is `score`: a pan of v pixels
    per frame at the scorer's 576×320 scores v, so the camera moves score/576 widths per frame along x."""
    flow_height, flow_width = FLOW_SIZE
    path = CameraPath(pan=(score * math.cos(angle) / flow_width, score * math.sin(angle) / flow_height))
    return camera_clip(photo, path, num_frames, height, width)
