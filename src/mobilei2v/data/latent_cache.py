"""`data encode`: VAE latents of every clip, computed once, so training never runs the VAE per step.

A cache is a folder:
- `shard-00000.safetensors`, ...: per clip `K`, tensors `K.video` (C, T', H', W') fp32 (the posterior
  mean of the whole clip), `K.reference` (C, 1, H', W') fp32 (frame 0 encoded alone: the reference latent
  of docs/architecture.md §4) and `K.motion_score` (a 0-d fp32: the CSV's `flow`).
- with `guides`, per clip also `K.guide` (C, T', H', W') fp32: frame 0 filmed along the clip's camera
  move at its motion score (`data.camera.guide_clip`) and encoded, for a denoiser with `camera_guide`.
  A re-run with `guides` adds them to listed clips that lack them, in `guides-00000.safetensors`, ...
- `index.json`: the VAE config and latent scale, the clip size (frames, height, width) and, per clip, its
  key, shard, video_path, motion score, camera move (`measures.motion.camera_motion` of the frames
  encoded: pan x, pan y, zoom, roll) and, with guides, the shard that holds its guide.
Shards hold `shard_size` clips and are written, then the index, atomically: an interrupted run loses at
most the clips of one unwritten shard, and a re-run encodes only the clips the index does not list. A re-run
also measures the camera move of listed clips that lack one (caches made before it was recorded).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKLLTXVideo
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from ..io.files import atomic_output, read_json_object
from ..io.video import VideoReadError, fit_frames, frames_to_video, read_video
from ..measures.motion import camera_motion
from ..models.geometry import LatentGeometry
from ..models.vae import encode_video
from .camera import clip_moves, guide_clip
from .clips_csv import CLIP_FRAMES, number, read_rows, video_file
from .skipped import SkippedInputs

INDEX = "index.json"
FORMAT_VERSION = 1
SHARD_SIZE = 64  # clips per shard: about 120 MB of latents per file at 720p with the LTX VAE


@dataclass
class EncodeResult:
    encoded: int = 0
    already: int = 0  # clips the index listed before this run
    cameras: int = 0  # listed clips whose camera move this run measured
    guides: int = 0  # listed clips whose guide this run encoded
    seconds: float = 0.0
    skipped: SkippedInputs = field(default_factory=SkippedInputs)


def _settings(vae: AutoencoderKLLTXVideo, num_frames: int, height: int, width: int) -> dict:
    """What every clip of one cache shares; a re-run must match it."""
    # Without diffusers' bookkeeping keys (its version, the load path): they do not change a latent.
    config = {k: v for k, v in vae.config.items() if not k.startswith("_")}
    return {"format": FORMAT_VERSION, "num_frames": num_frames, "height": height, "width": width,
            "scaling_factor": vae.config.scaling_factor,
            "vae_config": json.loads(json.dumps(config))}  # tuples become lists, as when read back


def _read_index(path: Path) -> dict:
    """The index at `path`; ValueError naming it unless it is an object with a list of clips."""
    index = read_json_object(path, "a latent-cache index")
    if not isinstance(index.get("clips"), list) or not all(
            isinstance(clip, dict) and {"key", "shard", "video_path"} <= clip.keys() for clip in index["clips"]):
        raise ValueError(f"{path} is corrupt: not a latent-cache index (an object with a list of clips, each "
                         "with a key, a shard and a video_path)")
    return index


def _load_index(cache_dir: Path, settings: dict) -> dict:
    path = cache_dir / INDEX
    if not path.is_file():
        return {**settings, "clips": []}
    index = _read_index(path)
    different = [k for k in settings if index.get(k) != settings[k]]
    if different:
        raise ValueError(f"the cache in {cache_dir} was made with other settings ({', '.join(different)} differ): "
                         "use a new folder for these")
    return index


def encode_csv(csv_path: str | Path, cache_dir: str | Path, vae: AutoencoderKLLTXVideo, height: int, width: int,
               num_frames: int = CLIP_FRAMES, shard_size: int = SHARD_SIZE, progress: bool = True,
               guides: bool = False) -> EncodeResult:
    """Encode the clips of a CSV (first `num_frames` frames, resized to cover height×width and centre-cropped)
    into `cache_dir`; see the module's docstring. Rows without a motion score are skipped. `guides`: also
    each clip's guide, for a denoiser with `camera_guide`."""
    LatentGeometry.of(vae).check(num_frames, height, width)
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    csv_path, cache_dir = Path(csv_path), Path(cache_dir)
    rows = read_rows(csv_path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    index = _load_index(cache_dir, _settings(vae, num_frames, height, width))
    done = {clip["video_path"] for clip in index["clips"]}
    result = EncodeResult(already=sum(row["video_path"] in done for row in rows))
    todo = [row for row in rows if row["video_path"] not in done]
    next_key = max((clip["key"] for clip in index["clips"]), default=-1) + 1
    tensors, pending = {}, []
    start = time.perf_counter()

    def write_index() -> None:
        with atomic_output(cache_dir / INDEX, overwrite=True) as tmp:
            tmp.write_text(json.dumps(index, indent=1))

    def read_clip(row: dict):
        """The clip's first num_frames frames at the cache's size, or None (recorded in `skipped`)."""
        try:
            frames, _ = read_video(video_file(csv_path, row["video_path"]), max_frames=num_frames)
        except VideoReadError as err:
            result.skipped.add(err.reason, row["video_path"], err.detail)
            return None
        if len(frames) < num_frames:
            result.skipped.add(f"shorter than {num_frames} frames", row["video_path"], f"{len(frames)} frames")
            return None
        return fit_frames(frames, height, width)

    without_camera = [clip for clip in index["clips"] if "camera" not in clip]
    rows_by_path = {row["video_path"]: row for row in rows}
    for n, clip in enumerate(tqdm(without_camera, desc="measuring camera moves", unit="clip",
                                  disable=not progress or not without_camera)):
        frames = read_clip(rows_by_path.get(clip["video_path"], {"video_path": clip["video_path"]}))
        if frames is not None:
            clip["camera"] = camera_motion(frames).tolist()
            result.cameras += 1
        if n % shard_size == shard_size - 1:
            write_index()
    if without_camera:
        write_index()

    def encode_guide(frames, camera: list[float], motion: float) -> torch.Tensor:
        move = clip_moves(torch.tensor([camera]), torch.tensor([motion]), height, width)[0]
        return encode_video(vae, frames_to_video(guide_clip(frames[0], move, num_frames)))[0].contiguous()

    def write_guides(found: dict, clips: list[dict]) -> None:
        numbers = [int(p.stem.removeprefix("guides-")) for p in cache_dir.glob("guides-*.safetensors")]
        shard = f"guides-{max(numbers, default=-1) + 1:05d}.safetensors"
        with atomic_output(cache_dir / shard) as tmp:
            save_file(found, tmp)
        for clip in clips:
            clip["guide_shard"] = shard
        write_index()

    without_guide = [clip for clip in index["clips"] if guides and "guide_shard" not in clip and "camera" in clip]
    found, guided = {}, []
    for clip in tqdm(without_guide, desc="encoding guides", unit="clip", disable=not progress or not without_guide):
        frames = read_clip(rows_by_path.get(clip["video_path"], {"video_path": clip["video_path"]}))
        if frames is not None:
            found[f"{clip['key']}.guide"] = encode_guide(frames, clip["camera"], clip["motion_score"])
            guided.append(clip)
            result.guides += 1
        if len(guided) == shard_size:
            write_guides(found, guided)
            found, guided = {}, []
    if guided:
        write_guides(found, guided)

    def write_shard() -> None:
        # Numbered after every shard on disk: one orphaned by a crash before its index update is never reused.
        numbers = [int(p.stem.removeprefix("shard-")) for p in cache_dir.glob("shard-*.safetensors")]
        shard = f"shard-{max(numbers, default=-1) + 1:05d}.safetensors"
        with atomic_output(cache_dir / shard) as tmp:
            save_file(tensors, tmp)
        index["clips"] += [{**clip, "shard": shard, **({"guide_shard": shard} if guides else {})} for clip in pending]
        write_index()
        tensors.clear()
        pending.clear()

    for row in tqdm(todo, desc="encoding", unit="clip", disable=not progress):
        motion = number(row, "flow")
        if motion is None:
            result.skipped.add("no motion score (run `mobilei2v data score` first)", row["video_path"])
            continue
        frames = read_clip(row)
        if frames is None:
            continue
        video = frames_to_video(frames)  # (1, 3, T, H, W)
        key = str(next_key)
        tensors[f"{key}.video"] = encode_video(vae, video)[0].contiguous()  # (C, T', H', W')
        tensors[f"{key}.reference"] = encode_video(vae, video[:, :, :1])[0].contiguous()  # (C, 1, H', W')
        tensors[f"{key}.motion_score"] = torch.tensor(motion, dtype=torch.float32)
        camera = camera_motion(frames).tolist()
        if guides:
            tensors[f"{key}.guide"] = encode_guide(frames, camera, motion)
        pending.append({"key": next_key, "video_path": row["video_path"], "motion_score": motion, "camera": camera})
        next_key += 1
        result.encoded += 1
        if len(pending) == shard_size:
            write_shard()
    if pending:
        write_shard()
    result.seconds = time.perf_counter() - start
    return result


class LatentCache:
    """Read a latent cache: `cache[i]` → {"video", "reference", "motion_score"} tensors of the i-th clip, its
    "camera" move (4,) when the index has one (`has_camera`: every clip has), and its "guide" when the
    cache holds one (`has_guides`: every clip has)."""

    def __init__(self, cache_dir: str | Path):
        self.dir = Path(cache_dir)
        path = self.dir / INDEX
        if not path.is_file():
            raise ValueError(f"not a latent cache: {path} is missing (make one with `mobilei2v data encode`)")
        self.index = _read_index(path)
        self.clips = self.index["clips"]
        self.has_camera = all("camera" in clip for clip in self.clips)
        self.has_guides = all("guide_shard" in clip for clip in self.clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        clip = self.clips[i]
        with safe_open(self.dir / clip["shard"], framework="pt") as shard:
            item = {name: shard.get_tensor(f"{clip['key']}.{name}") for name in ("video", "reference", "motion_score")}
        if "camera" in clip:
            item["camera"] = torch.tensor(clip["camera"], dtype=torch.float32)
        if "guide_shard" in clip:
            with safe_open(self.dir / clip["guide_shard"], framework="pt") as shard:
                item["guide"] = shard.get_tensor(f"{clip['key']}.guide")
        return item
