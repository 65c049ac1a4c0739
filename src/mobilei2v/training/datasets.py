"""What a training stage reads: cached latents, or clips decoded and encoded on the fly.

Items are dicts: {"latents" (C, T', H', W'), "reference_latent" (C, 1, H', W'), "motion_score"} from a
latent cache, or {"video" (3, T, H, W) in [−1, 1], "motion_score"} from videos (the trainer encodes); with
`camera`, also the clip's "camera" move (4,) (`measures.motion.camera_motion`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import clips_csv
from ..data.latent_cache import LatentCache
from ..io.video import fit_frames, frames_to_video, read_video
from ..measures.motion import FLOW_SIZE, camera_motion
from ..models.geometry import LatentGeometry
from .config import Stage


class VideoClipDataset(Dataset):
    """Clips listed in an authors'-format CSV: the first `num_frames` frames, fitted to (height, width).

    With `motion_scores`, rows without one (`flow`) are refused up front, as are rows that say they
    have too few frames, so that a long run does not fail hours in. With `camera`, each item's camera move is
    measured from the frames it returns (after any crop or mirror image).
    """

    def __init__(self, csv_path: str, num_frames: int, height: int, width: int, motion_scores: bool = True,
                 augment: bool = False, camera: bool = False):
        self.num_frames, self.height, self.width, self.augment = num_frames, height, width, augment
        self.camera = camera
        self.items = []
        for i, row in enumerate(clips_csv.read_rows(csv_path)):
            flow = clips_csv.number(row, "flow")
            frames = clips_csv.number(row, "num_frames")
            if motion_scores and flow is None:
                raise ValueError(f"{csv_path} row {i + 2}: no motion score in `flow` (it holds {row.get('flow', '')!r}; "
                                 "run `mobilei2v data score`)")
            if frames is not None and frames < num_frames:
                raise ValueError(f"{csv_path} row {i + 2}: {int(frames)} frames, the stage needs {num_frames}")
            self.items.append((clips_csv.video_file(csv_path, row["video_path"]), flow if motion_scores else 0.0))
        if not self.items:
            raise ValueError(f"{csv_path} lists no clips")

    def __len__(self) -> int:
        return len(self.items)

    def frames(self, index: int) -> np.ndarray:
        """The clip's uint8 (T, H, W, 3) frames at the dataset's length and size."""
        path, _ = self.items[index]
        frames, _ = read_video(path, max_frames=None if self.augment else self.num_frames)
        if len(frames) < self.num_frames:
            raise ValueError(f"{path}: {len(frames)} frames, the stage needs {self.num_frames}")
        return self._augmented(frames) if self.augment else fit_frames(frames, self.height, self.width)

    def __getitem__(self, index: int) -> dict:
        flow = self.items[index][1]
        frames = self.frames(index)
        item = {"video": frames_to_video(frames)[0], "motion_score": torch.tensor(flow, dtype=torch.float32)}
        if self.camera:
            item["camera"] = torch.from_numpy(camera_motion(frames))
        return item

    def _augmented(self, frames: np.ndarray) -> np.ndarray:
        """A random window of `num_frames`, a random crop and a mirror image half the time. The crop is
        taken after scaling the frames to cover the stage's size by a random factor from 1 (the whole
        frame) to the frames' own resolution or 1.25, whichever is larger: small stages see both whole
        pictures and details at full resolution."""
        start = int(torch.randint(len(frames) - self.num_frames + 1, ()))
        native = min(frames.shape[1] / self.height, frames.shape[2] / self.width)
        scale = 1.0 + (max(native, 1.25) - 1.0) * float(torch.rand(()))
        cover = max(self.height / frames.shape[1], self.width / frames.shape[2]) * scale
        h, w = max(self.height, round(frames.shape[1] * cover)), max(self.width, round(frames.shape[2] * cover))
        frames = fit_frames(frames[start:start + self.num_frames], h, w)
        top, left = int(torch.randint(h - self.height + 1, ())), int(torch.randint(w - self.width + 1, ()))
        frames = frames[:, top:top + self.height, left:left + self.width]
        return np.ascontiguousarray(frames[:, :, ::-1] if torch.rand(()) < 0.5 else frames)


class CachedLatentDataset(Dataset):
    """A `mobilei2v data encode` cache, in the trainer's item format; with `crop`, a random crop of
    crop × crop latent cells of each clip (the same one for every latent frame, the reference and the
    guide). With `camera`, each item's camera move, as measured on the crop (`crop_camera`); with `guide`,
    its "guide" (the cache's, which `data encode --guides` adds)."""

    def __init__(self, cache_dir: str, geometry: LatentGeometry, crop: int | None = None, camera: bool = False,
                 guide: bool = False):
        self.cache = LatentCache(cache_dir)
        self.crop, self.camera, self.guide, self.spatial = crop, camera, guide, geometry.spatial
        if camera and not self.cache.has_camera:
            raise ValueError(f"{cache_dir} lists clips without a camera move, which this denoiser is conditioned "
                             "on: run `mobilei2v data encode` again with the same CSV and folder to measure them")
        if guide and not self.cache.has_guides:
            raise ValueError(f"{cache_dir} lists clips without a guide, which this denoiser (camera_guide) trains "
                             "on: run `mobilei2v data encode --guides` again with the same CSV and folder")
        channels = self.cache.index["vae_config"]["latent_channels"]
        if channels != geometry.channels:
            raise ValueError(f"{cache_dir} holds {channels}-channel latents; the model takes {geometry.channels}")
        if not len(self.cache):
            raise ValueError(f"{cache_dir} holds no clips")
        sizes = {k: self.cache.index[k] for k in ("height", "width")}
        if any(size % geometry.spatial for size in sizes.values()):
            raise ValueError(f"{cache_dir} was encoded at {sizes['width']}x{sizes['height']}: training needs "
                             f"multiples of {geometry.spatial} (padding would be learned as content); re-encode")
        if crop is not None and crop * geometry.spatial > min(sizes.values()):
            raise ValueError(f"latent_crop {crop} ({crop * geometry.spatial} px) is larger than the cached clips "
                             f"({sizes['width']}x{sizes['height']})")

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, index: int) -> dict:
        clip = self.cache[index]
        latents, reference = clip["video"], clip["reference"]  # (C, T', H', W'), (C, 1, H', W')
        if self.crop is not None:
            top = int(torch.randint(latents.shape[2] - self.crop + 1, ()))
            left = int(torch.randint(latents.shape[3] - self.crop + 1, ()))
            window = (..., slice(top, top + self.crop), slice(left, left + self.crop))
            latents, reference = latents[window], reference[window]
        item = {"latents": latents, "reference_latent": reference, "motion_score": clip["motion_score"]}
        if self.guide:
            item["guide"] = clip["guide"] if self.crop is None else clip["guide"][window]
        if self.camera:
            item["camera"] = clip["camera"]
            if self.crop is not None:
                size, frame = self.crop * self.spatial, (self.cache.index["height"], self.cache.index["width"])
                item["camera"] = crop_camera(clip["camera"], frame, (top * self.spatial, left * self.spatial, size, size))
        return item


def crop_camera(camera: torch.Tensor, frame: tuple[int, int], window: tuple[int, int, int, int]) -> torch.Tensor:
    """What `camera_motion` would measure on a window of a clip whose frames (height, width) measured
    `camera`; window = (top, left, height, width) in the frames' pixels.

    Zoom and roll move each point in proportion to its distance from the centre: about the window's centre
    the pan gains the motion they cause there. The flow is measured after resizing to 576×320, so the
    window's pan reads larger by the frame's size over the window's, and zoom, a rate given at the resized
    frame's edge, reads the same. Resizing also stretches a rotation unequally along x and y, and the roll
    measured averages the two (the `stretch` terms)."""
    pan_x, pan_y, zoom, roll = camera.tolist()
    (flow_h, flow_w), (h, w) = FLOW_SIZE, frame
    top, left, win_h, win_w = window
    # the window's centre from the frame's, in pixels at the flow's size
    dx, dy = (left + win_w / 2 - w / 2) * flow_w / w, (top + win_h / 2 - h / 2) * flow_h / h
    edge = flow_w / 2

    def stretch(height: float, width: float) -> float:  # x's scale over y's, resized to the flow's size
        return (flow_w / width) / (flow_h / height)

    # A rotation by ω rad/frame reads u = −ω·s·y, v = ω·x/s at the flow's size (s = stretch), and its
    # measured roll is ω·(s + 1/s)/2 at the edge.
    s_frame, s_window = stretch(h, w), stretch(win_h, win_w)
    omega = roll / edge / ((s_frame + 1 / s_frame) / 2)
    zoom_rate = zoom / edge
    return torch.tensor([(pan_x + zoom_rate * dx - omega * s_frame * dy) * w / win_w,
                         (pan_y + zoom_rate * dy + omega / s_frame * dx) * h / win_h,
                         zoom, omega * edge * (s_window + 1 / s_window) / 2], dtype=torch.float32)


def stage_dataset(stage: Stage, pipe) -> Dataset:
    if stage.latent_cache is not None:
        return CachedLatentDataset(stage.latent_cache, pipe.geometry, stage.latent_crop,
                                   camera=pipe.denoiser.config.camera_condition, guide=pipe.denoiser.config.camera_guide)
    # Clips are encoded per step; a guide is filmed along the camera move measured on the clip.
    return VideoClipDataset(stage.videos, stage.num_frames, stage.height, stage.width, camera=pipe.uses_camera)
