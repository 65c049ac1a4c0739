"""`mobilei2v distill prepare`: the teacher's multi-step results, computed once (docs/distillation.md).

A pair folder holds, for every clip of a latent cache (`mobilei2v data encode`), `pairs_per_clip` pairs:
Gaussian noise and the teacher's Euler ODE result from it, beside the clip's conditions and real latents.
- `index.json`: the settings every pair shares (the teacher's folder, its steps, σ-schedule shift and
  precision, the cache and its clip count, the subset of its clips, pairs per clip, seed), the shard size
  and the number of pairs. It is written before the first shard, so a re-run with other settings is
  refused rather than mixed in.
- `shard-00000.safetensors`, ...: shard s holds pairs s·S to (s + 1)·S − 1 as tensors `K.noise` and
  `K.teacher` (C, T', H', W') (the teacher's result as the sampler returns it: latents a decoder takes),
  `K.latents` (the real clip), `K.reference` (C, 1, H', W') and `K.motion_score` (0-d), for a teacher
  with a camera condition `K.camera` (4,), the clip's camera move, and for a teacher with `camera_guide`
  `K.guide` (C, T', H', W'), the clip's guide from the cache; K the pair's number.
Pair k belongs to clip k // pairs_per_clip of the stage's clips (`stage_clips`: all of the cache's, or a
seeded random subset), and its noise comes from a generator seeded with seed + k: a shard's content does
not depend on which shards exist already, so a re-run makes only the missing ones (each written
atomically) and ends with exactly what an uninterrupted run would have written.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..data.latent_cache import LatentCache
from ..diffusion.sampler import initial_noise, sample_latents
from ..io.files import atomic_output, read_json_object
from ..models.denoiser import MobileI2VDenoiser

INDEX = "index.json"
FORMAT_VERSION = 1
SHARD_SIZE = 64  # pairs per shard: about 3 × 120 MB at 720p with the LTX VAE's latents
FIELDS = {"noise": "noise", "teacher": "teacher_latents", "latents": "latents", "reference": "reference_latent",
          "motion_score": "motion_score"}  # tensor name in a shard → item key
CONDITIONS = {"camera": "camera_condition", "guide": "camera_guide"}  # a pair's condition → the teacher's switch


def pair_settings(teacher_dir: str | Path, scheduler: FlowMatchEulerDiscreteScheduler, cache_dir: str | Path,
                  teacher_steps: int, pairs_per_clip: int, seed: int, mixed_precision: str = "no",
                  subset: int | None = None) -> dict:
    """What every pair of a folder shares: a pair folder made with other settings holds other pairs.
    `mixed_precision` "bf16" runs the teacher under bf16 autocast (the training configs' own switch);
    `subset`: how many of the cache's clips (`stage_clips`), None for all."""
    return {"teacher": str(Path(teacher_dir).resolve()), "teacher_steps": teacher_steps,
            "shift": float(scheduler.config.shift), "mixed_precision": mixed_precision,
            "latent_cache": str(Path(cache_dir).resolve()), "clips": len(LatentCache(cache_dir)),
            "subset": subset, "pairs_per_clip": pairs_per_clip, "seed": seed}


def stage_clips(settings: dict) -> list[int]:
    """The cache's clips the pairs are made from, in pair order: all of them, or `subset` of them drawn at
    random with the seed (a shuffle: drawn from every part of a cache that was encoded source by source)."""
    clips, subset = settings["clips"], settings.get("subset")
    if subset is None:
        return list(range(clips))
    if subset > clips:
        raise ValueError(f"{settings['latent_cache']} holds {clips} clips, fewer than the {subset} asked for")
    chosen = list(range(clips))
    random.Random(settings["seed"]).shuffle(chosen)
    return chosen[:subset]


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}.safetensors"


@dataclass
class PrepareResult:
    made: int  # pairs computed by this run
    already: int  # pairs a previous run had written
    seconds: float


def prepare_pairs(teacher: MobileI2VDenoiser, scheduler: FlowMatchEulerDiscreteScheduler, pairs_dir: str | Path,
                  settings: dict, shard_size: int = SHARD_SIZE, batch_size: int = 1,
                  progress: bool = True) -> PrepareResult:
    """Write (or finish) the pair folder `pairs_dir` for `settings` (`pair_settings`): the teacher samples
    `teacher_steps` Euler steps of `scheduler`'s schedule from each pair's noise, `batch_size` pairs at a
    time, on the teacher's device, in the settings' precision. See the module's docstring."""
    if shard_size < 1 or batch_size < 1:
        raise ValueError(f"shard size and batch size must be at least 1, got {shard_size} and {batch_size}")
    pairs_dir = Path(pairs_dir)
    cache = LatentCache(settings["latent_cache"])
    channels = cache.index["vae_config"]["latent_channels"]
    if channels != teacher.config.in_channels:
        raise ValueError(f"{cache.dir} holds {channels}-channel latents; the teacher takes "
                         f"{teacher.config.in_channels}")
    if teacher.config.camera_condition and not cache.has_camera:
        raise ValueError(f"{cache.dir} lists clips without a camera move, which the teacher is conditioned on: "
                         "run `mobilei2v data encode` again with the same CSV and folder to measure them")
    if teacher.config.camera_guide and not cache.has_guides:
        raise ValueError(f"{cache.dir} lists clips without a guide, which the teacher (camera_guide) samples "
                         "from: run `mobilei2v data encode --guides` again with the same CSV and folder")
    taken = [name for name, switch in CONDITIONS.items() if getattr(teacher.config, switch)]
    chosen = stage_clips(settings)
    total = len(chosen) * settings["pairs_per_clip"]
    if not total:
        raise ValueError(f"{cache.dir} holds no clips")
    pairs_dir.mkdir(parents=True, exist_ok=True)
    if (pairs_dir / INDEX).is_file():
        found = read_index(pairs_dir)
        different = [k for k in settings if found["settings"].get(k) != settings[k]]
        if found["shard_size"] != shard_size:
            different.append("shard_size")
        if different:
            raise ValueError(f"the pairs in {pairs_dir} were made with other settings ({', '.join(different)} "
                             "differ): use a new folder for these")
    else:
        index = {"format": FORMAT_VERSION, "settings": settings, "shard_size": shard_size, "pairs": total}
        with atomic_output(pairs_dir / INDEX) as tmp:
            tmp.write_text(json.dumps(index, indent=1))

    shards = range(math.ceil(total / shard_size))
    todo = [s for s in shards if not (pairs_dir / shard_name(s)).is_file()]
    made = sum(len(_pairs_of(s, shard_size, total)) for s in todo)
    start = time.perf_counter()
    device = teacher.device
    # bf16 where the machine has it: 2.4 s a pair at 256²×17 against 4–14 s in fp32 on a Zen 4 (AVX-512 BF16)
    bf16 = settings.get("mixed_precision", "no") == "bf16"
    bar = tqdm(total=total, initial=total - made, desc="teacher pairs", unit="pair", disable=not progress)
    for shard in todo:
        tensors = {}
        keys = _pairs_of(shard, shard_size, total)
        for first in range(0, len(keys), batch_size):
            batch = keys[first:first + batch_size]
            clips = [cache[chosen[k // settings["pairs_per_clip"]]] for k in batch]
            reference = torch.stack([c["reference"] for c in clips])  # (B, C, 1, H', W')
            latents = torch.stack([c["video"] for c in clips])  # (B, C, T', H', W')
            motion = torch.stack([c["motion_score"] for c in clips])
            conditions = {name: torch.stack([c[name] for c in clips]) for name in taken}
            noise = initial_noise(tuple(latents.shape), [torch.Generator().manual_seed(settings["seed"] + k)
                                                         for k in batch])
            with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                result = sample_latents(teacher, scheduler, reference.to(device), motion.to(device),
                                        latents.shape[2], settings["teacher_steps"], noise=noise.to(device),
                                        progress=False, residual=teacher.config.reference_residual,
                                        **{k: v.to(device) for k, v in conditions.items()}).cpu()
            values = {"noise": noise, "teacher": result, "latents": latents, "reference": reference,
                      "motion_score": motion, **conditions}
            for i, k in enumerate(batch):
                tensors.update({f"{k}.{name}": value[i].float().contiguous() for name, value in values.items()})
            bar.update(len(batch))
        with atomic_output(pairs_dir / shard_name(shard)) as tmp:
            save_file(tensors, tmp)
    bar.close()
    return PrepareResult(made, total - made, time.perf_counter() - start)


def _pairs_of(shard: int, shard_size: int, total: int) -> list[int]:
    return list(range(shard * shard_size, min((shard + 1) * shard_size, total)))


def read_index(pairs_dir: str | Path) -> dict:
    """A pair folder's index; ValueError saying what to do when it is missing or not one."""
    path = Path(pairs_dir) / INDEX
    if not path.is_file():
        raise ValueError(f"no teacher pairs in {pairs_dir} ({INDEX} is missing): run `mobilei2v distill prepare`")
    index = read_json_object(path, "a teacher-pair index")
    if {"settings", "shard_size", "pairs"} - index.keys():
        raise ValueError(f"{path} is corrupt: not a teacher-pair index (settings, shard_size, pairs)")
    return index


class TeacherPairs(Dataset):
    """A finished pair folder; items {"noise", "teacher_latents", "latents", "reference_latent",
    "motion_score"}, "camera" for a teacher with a camera condition and "guide" for one with `camera_guide`."""

    def __init__(self, pairs_dir: str | Path):
        self.dir = Path(pairs_dir)
        self.index = read_index(self.dir)
        self.shard_size = self.index["shard_size"]
        shards = math.ceil(self.index["pairs"] / self.shard_size)
        missing = [s for s in range(shards) if not (self.dir / shard_name(s)).is_file()]
        if missing:
            raise ValueError(f"the teacher pairs in {self.dir} are unfinished ({len(missing)} of {shards} shards "
                             "missing): run `mobilei2v distill prepare` again to finish them")

    @property
    def settings(self) -> dict:
        return self.index["settings"]

    def __len__(self) -> int:
        return self.index["pairs"]

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        with safe_open(self.dir / shard_name(k // self.shard_size), framework="pt") as shard:
            item = {key: shard.get_tensor(f"{k}.{name}") for name, key in FIELDS.items()}
            item.update({name: shard.get_tensor(f"{k}.{name}") for name in CONDITIONS if f"{k}.{name}" in shard.keys()})
        return item
