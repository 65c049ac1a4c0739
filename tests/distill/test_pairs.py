"""`distill prepare`'s teacher pairs: what a pair holds, and a killed run finished by a re-run."""

from __future__ import annotations

import pytest
import torch

from mobilei2v import MobileI2VPipeline
from mobilei2v.data.latent_cache import LatentCache
from mobilei2v.distill import pairs as pairs_module
from mobilei2v.distill.pairs import TeacherPairs, pair_settings, prepare_pairs, stage_clips
from mobilei2v.models.denoiser import MobileI2VDenoiser
from mobilei2v.models.presets import DENOISER_PRESETS


def test_a_rerun_makes_only_the_missing_shards_and_ends_as_an_uninterrupted_run(model_dir, clips_latent_cache,
                                                                                 tmp_path, monkeypatch):
    pipe = MobileI2VPipeline.from_pretrained(model_dir, dtype="fp32")
    settings = pair_settings(model_dir, pipe.scheduler, clips_latent_cache, teacher_steps=3, pairs_per_clip=2, seed=5)

    def run(folder, batch_size, settings=settings):
        return prepare_pairs(pipe.denoiser, pipe.scheduler, folder, settings, shard_size=5, batch_size=batch_size,
                             progress=False)

    whole = run(tmp_path / "whole", batch_size=3)
    assert (whole.made, whole.already) == (16, 0)  # 8 clips × 2 noises, in shards of 5, 5, 5 and 1

    real_sample, calls = pairs_module.sample_latents, {"n": 0}

    def killed_in_the_third_shard(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # batches of 2: three per shard
            raise KeyboardInterrupt
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(pairs_module, "sample_latents", killed_in_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", batch_size=2)
    monkeypatch.setattr(pairs_module, "sample_latents", real_sample)
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == [
        "index.json", "shard-00000.safetensors", "shard-00001.safetensors"]  # nothing half-written
    with pytest.raises(ValueError, match="unfinished"):
        TeacherPairs(tmp_path / "killed")
    again = run(tmp_path / "killed", batch_size=2)
    assert (again.made, again.already) == (6, 10)

    finished, reference = TeacherPairs(tmp_path / "killed"), TeacherPairs(tmp_path / "whole")
    assert len(finished) == 16
    for k in range(16):
        for key, tensor in reference[k].items():
            torch.testing.assert_close(finished[k][key], tensor, msg=f"pair {k}: {key}")
    first, second = reference[0], reference[1]  # two noises of clip 0
    assert torch.equal(first["reference_latent"], second["reference_latent"])
    assert not torch.equal(first["noise"], second["noise"])
    assert torch.equal(first["teacher_latents"][:, :1], first["reference_latent"])  # frame 0 stays the reference
    with pytest.raises(ValueError, match="teacher_steps"):
        run(tmp_path / "whole", batch_size=2, settings={**settings, "teacher_steps": 4})


def test_a_guided_teacher_refuses_a_cache_without_guides(model_dir, clips_latent_cache, tmp_path):
    pipe = MobileI2VPipeline.from_pretrained(model_dir, dtype="fp32")
    teacher = MobileI2VDenoiser(**DENOISER_PRESETS["mobilei2v-tiny"], reference_residual=True, camera_guide=True)
    settings = pair_settings(model_dir, pipe.scheduler, clips_latent_cache, teacher_steps=3, pairs_per_clip=1, seed=0)
    with pytest.raises(ValueError, match=r"without a guide.*`mobilei2v data encode --guides`"):
        prepare_pairs(teacher, pipe.scheduler, tmp_path / "pairs", settings, progress=False)
    assert not (tmp_path / "pairs").exists()  # refused before anything is written


def test_a_subset_takes_seeded_random_clips_of_the_cache(model_dir, clips_latent_cache, tmp_path):
    pipe = MobileI2VPipeline.from_pretrained(model_dir, dtype="fp32")
    cache = LatentCache(clips_latent_cache)
    settings = pair_settings(model_dir, pipe.scheduler, clips_latent_cache, teacher_steps=1, pairs_per_clip=1, seed=3,
                             subset=3)
    prepare_pairs(pipe.denoiser, pipe.scheduler, tmp_path / "pairs", settings, progress=False)
    pairs = TeacherPairs(tmp_path / "pairs")
    chosen = stage_clips(settings)
    assert len(pairs) == 3 and len(set(chosen)) == 3 and chosen == [0, 5, 7]  # seed 3 draws clips 0, 5 and 7 of 8
    for k, clip in enumerate(chosen):
        assert torch.equal(pairs[k]["latents"], cache[clip]["video"]), f"pair {k} is not clip {clip}"
    assert stage_clips({**settings, "seed": 4}) != chosen
    assert stage_clips({**settings, "subset": None}) == list(range(8))
    with pytest.raises(ValueError, match="holds 8 clips, fewer than the 9 asked for"):
        stage_clips({**settings, "subset": 9})
