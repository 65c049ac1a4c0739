"""`mobilei2v distill` on tiny models: the student's training, its export, resume, configurations."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file

from mobilei2v import MobileI2VDenoiser, MobileI2VPipeline
from mobilei2v.data.latent_cache import LatentCache, encode_csv
from mobilei2v.diffusion.sampler import sample_latents
from mobilei2v.distill.pairs import TeacherPairs
from mobilei2v.training import distill as distill_module
from mobilei2v.training.checkpoints import latest_checkpoint
from mobilei2v.training.config import (
    ConfigError,
    DistillConfig,
    config_from_dict,
    load_config,
)
from mobilei2v.training.distill import DistillTrainer, prepare

CONFIGS = Path(__file__).parents[2] / "configs" / "distill"
ALL_LOSSES = {"adversarial": {"weight": 0.1, "head_channels": 16},
              "distribution_matching": {"weight": 1.0, "fake_updates": 2}}


def make_config(model_dir, latent_cache, pairs, output_dir, **changes) -> dict:
    config = {
        "teacher": str(model_dir), "output_dir": str(output_dir), "teacher_steps": 4, "learning_rate": 1e-3,
        "ema_decay": 0.5, "checkpoint_every": 4, "keep_checkpoints": 2, "log_every": 1,
        "stages": [{"steps": 8, "latent_cache": str(latent_cache), "pairs": str(pairs), "batch_size": 4}],
    }
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def latent_cache(clips_latent_cache) -> Path:
    return clips_latent_cache


@pytest.fixture(scope="module")
def pairs(model_dir, latent_cache, tmp_path_factory) -> Path:
    """The tiny teacher's 4-step results for the 8 clips, with the settings `make_config` gives."""
    folder = tmp_path_factory.mktemp("distill") / "pairs"
    prepare(config_from_dict(make_config(model_dir, latent_cache, folder, "unused"), DistillConfig),
            log=lambda m: None, progress=False)
    return folder


def train(config: dict, **kwargs) -> Path:
    return DistillTrainer(config_from_dict(config, DistillConfig), log=lambda m: None).train(**kwargs)


def one_step_error(pipe: MobileI2VPipeline, pairs: TeacherPairs, target=lambda pair: pair["teacher_latents"]) -> float:
    """MSE of the pipeline's own sampling (its default σ list) from each pair's noise to `target` of the pair
    (default: the teacher's result)."""
    items = [pairs[i] for i in range(len(pairs))]
    stack = lambda key: torch.stack([item[key] for item in items])  # noqa: E731
    steps, sigmas = pipe.sampling_schedule()
    with torch.no_grad():
        out = sample_latents(pipe.denoiser, pipe.scheduler, stack("reference_latent"), stack("motion_score"), 2,
                             steps, sigmas, noise=stack("noise"), progress=False)
    expected = torch.stack([target(item) for item in items])
    return torch.mean((out[:, :, 1:] - expected[:, :, 1:]) ** 2).item()


@pytest.mark.parametrize("qk_norm", [False, True])
def test_regression_brings_the_one_step_student_to_the_teachers_result(model_dir, latent_cache, pairs, tmp_path,
                                                                       qk_norm):
    config = make_config(model_dir, latent_cache, pairs, tmp_path / "run", student_sigmas=[1.0], ema_decay=0.0,
                         checkpoint_every=100, student_qk_norm=qk_norm,
                         stages=[{"steps": 30, "latent_cache": str(latent_cache), "pairs": str(pairs),
                                  "batch_size": 4}])
    final = train(config)
    student = MobileI2VPipeline.from_pretrained(final, dtype="fp32")
    assert student.config.default_sigmas == [1.0]  # saved with the model, and its default
    # QK-norm is the student's alone: the teacher it carries is the teacher as it was
    assert student.denoiser.config.softmax_qk_norm == qk_norm and not student.teacher.config.softmax_qk_norm
    undistilled = MobileI2VPipeline.from_pretrained(model_dir, dtype="fp32")
    undistilled.register_to_config(default_sigmas=[1.0])  # the teacher itself, one step
    before, after = one_step_error(undistilled, TeacherPairs(pairs)), one_step_error(student, TeacherPairs(pairs))
    assert after < 0.3 * before, (before, after)
    # the student's folder carries the teacher, unchanged, for `--steps N` (`keep_teacher`)
    for (name, kept), original in zip(student.teacher.state_dict().items(), undistilled.denoiser.state_dict().values()):
        assert torch.equal(kept, original), name


def test_both_regressions_at_equal_weights_bring_the_student_halfway_from_the_teachers_result_to_the_clip(
        model_dir, latent_cache, pairs, tmp_path):
    """The sum of two MSEs is least at the mean of their targets: with `real_regression` beside `regression`
    the student learns the midpoint of the teacher's result and the real clip."""
    config = make_config(model_dir, latent_cache, pairs, tmp_path / "run", student_sigmas=[1.0], ema_decay=0.0,
                         checkpoint_every=100, real_regression={"weight": 1.0},
                         stages=[{"steps": 30, "latent_cache": str(latent_cache), "pairs": str(pairs),
                                  "batch_size": 4}])
    student = MobileI2VPipeline.from_pretrained(train(config), dtype="fp32")
    undistilled = MobileI2VPipeline.from_pretrained(model_dir, dtype="fp32")
    undistilled.register_to_config(default_sigmas=[1.0])
    targets = {"midpoint": lambda pair: (pair["teacher_latents"] + pair["latents"]) / 2,
               "teacher": lambda pair: pair["teacher_latents"], "clip": lambda pair: pair["latents"]}
    errors = {name: one_step_error(student, TeacherPairs(pairs), target) for name, target in targets.items()}
    before = one_step_error(undistilled, TeacherPairs(pairs), targets["midpoint"])
    assert errors["midpoint"] < 0.3 * before, (before, errors)
    assert errors["midpoint"] < 0.5 * min(errors["teacher"], errors["clip"]), errors


def test_backward_simulation_gives_the_student_its_own_first_step(model_dir, latent_cache, pairs, tmp_path,
                                                                   monkeypatch):
    """With `backward_simulation`, a sample drawn at σ = 0.5 starts where the student's own step from the pair's
    noise leaves it, x_0.5 = ε − 0.5·v̂(ε, 1), instead of on the line to the teacher's result."""
    calls = []
    original = distill_module.denoise

    def recording(denoiser, noisy, sigma, *args, **kwargs):
        out = original(denoiser, noisy, sigma, *args, **kwargs)
        calls.append((noisy.detach().clone(), sigma.clone(), out[0].detach().clone()))
        return out

    monkeypatch.setattr(distill_module, "denoise", recording)
    config = make_config(model_dir, latent_cache, pairs, tmp_path / "run", backward_simulation=True,
                         stages=[{"steps": 1, "latent_cache": str(latent_cache), "pairs": str(pairs), "batch_size": 8}])
    train(config)
    (noise, first_sigma, first_x0), (noisy, sigma, _) = calls  # the student's own step, then its training pass
    assert torch.all(first_sigma == 1.0) and set(sigma.tolist()) == {1.0, 0.5}
    own = noise - 0.5 * (noise - first_x0)  # Euler from σ = 1 to 0.5: v̂ = (x_1 − x̂0) / 1
    later = sigma == 0.5
    torch.testing.assert_close(noisy[later][:, :, 1:], own[later][:, :, 1:])
    torch.testing.assert_close(noisy[~later], noise[~later])
    items = [TeacherPairs(pairs)[k] for k in range(8)]
    results = torch.stack([next(item["teacher_latents"] for item in items if torch.equal(item["noise"], row))
                           for row in noise])  # the batch's pairs, found by their noise
    teacher_line = 0.5 * noise + 0.5 * results
    assert not torch.allclose(own[later][:, :, 1:], teacher_line[later][:, :, 1:], atol=1e-3)


def test_resume_after_a_kill_reaches_the_same_weights_with_every_loss(model_dir, latent_cache, pairs, tmp_path,
                                                                      monkeypatch):
    whole = load_file(train(make_config(model_dir, latent_cache, pairs, tmp_path / "whole", **ALL_LOSSES))
                      / "denoiser" / "diffusion_pytorch_model.safetensors")
    config = make_config(model_dir, latent_cache, pairs, tmp_path / "killed", **ALL_LOSSES)
    original = DistillTrainer._optimizer_step
    calls = {"n": 0}

    def dies_at_step_6(self, batches):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # as if killed: steps 5 and 6 are lost, step 4's checkpoint survives
        return original(self, batches)

    monkeypatch.setattr(DistillTrainer, "_optimizer_step", dies_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(DistillTrainer, "_optimizer_step", original)
    assert latest_checkpoint(tmp_path / "killed").name == "step-00000004"
    resumed = load_file(train(config, resume=True) / "denoiser" / "diffusion_pytorch_model.safetensors")
    for name, tensor in whole.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


BASE = {"teacher": "model", "output_dir": "run", "stages": [{"steps": 5, "latent_cache": "cache", "pairs": "pairs"}]}


@pytest.mark.parametrize(("changes", "message"), [
    ({"student_sigmas": [0.5]}, "student_sigmas: must start at 1.0"),
    ({"student_sigmas": [1.0, 1.0]}, "student_sigmas: sigmas must be a non-empty, strictly decreasing list"),
    ({"regression": None}, "turn at least one loss on"),
    ({"regression": {"weight": 0}}, "regression.weight: must be above 0"),
    ({"real_regression": {"weight": -1}}, "real_regression.weight: must be above 0"),
    ({"adversarial": {"wieght": 0.1}}, "adversarial.wieght: unknown key"),
    ({"adversarial": {"blocks": []}}, "adversarial.blocks: block indices from 0, at least one"),
    ({"adversarial": {"learning_rate": 0}}, "adversarial.learning_rate: must be above 0"),
    ({"adversarial": {"head_kernel": 2}}, "adversarial.head_kernel: an odd width of at least 1, got 2"),
    ({"distribution_matching": {"fake_updates": 0}}, "distribution_matching.fake_updates: must be at least 1"),
    ({"distribution_matching": {}, "gradient_accumulation_steps": 2}, "gradient_accumulation_steps: must be 1"),
    ({"stages": [{"steps": 5, "latent_cache": "cache"}]}, "stages[0].pairs: required"),
    ({"stages": [{"steps": 5, "latent_cache": "cache", "pairs": "cache"}]}, "stages[0].pairs: a folder of its own"),
    ({"teacher": None}, "teacher: must be str"),
])
def test_bad_configs_name_the_key(changes, message):
    with pytest.raises(ConfigError) as info:
        config_from_dict({**BASE, **changes}, DistillConfig)
    assert message in str(info.value)


def test_what_only_the_teacher_and_the_pairs_can_tell_is_refused_before_training(model_dir, latent_cache, pairs,
                                                                                 tmp_path):
    with pytest.raises(ConfigError, match=r"adversarial.blocks: the teacher has 4 blocks \(0 to 3\), got \[9\]"):
        train(make_config(model_dir, latent_cache, pairs, tmp_path / "a", adversarial={"blocks": [9]}))
    with pytest.raises(ValueError, match=r"other settings \(teacher_steps differ\)"):
        train(make_config(model_dir, latent_cache, pairs, tmp_path / "b", teacher_steps=8))
    with pytest.raises(ValueError, match="run `mobilei2v distill prepare`"):
        train(make_config(model_dir, latent_cache, tmp_path / "no-pairs", tmp_path / "c"))


def test_every_distillation_config_is_valid_and_each_table_row_changes_only_its_own_keys():
    # docs/distillation.md's recipe runs these: a typo would surface only after the teacher's pairs.
    for path in sorted(CONFIGS.rglob("*.yaml")):
        load_config(path, DistillConfig)
    shipped = load_config(CONFIGS / "shipped-2step.yaml", DistillConfig)
    rows = {path.stem: load_config(path, DistillConfig) for path in sorted((CONFIGS / "table").glob("*.yaml"))}
    losses = {name: {k for k in ("adversarial", "distribution_matching") if getattr(row, k) is not None}
              for name, row in rows.items()}
    assert losses == {"1step-regression": set(), "1step-regression-adversarial": {"adversarial"},
                      "1step-regression-dm": {"distribution_matching"},
                      "1step-all": {"adversarial", "distribution_matching"}}
    own = {"output_dir", "student_sigmas", "adversarial", "distribution_matching", "stages"}
    for name, row in rows.items():
        assert row.student_sigmas == [1.0] and row.output_dir == f"runs/distill/{name}"
        assert [dataclasses.replace(s, steps=0) for s in row.stages] == \
            [dataclasses.replace(s, steps=0) for s in shipped.stages], name  # the same teacher pairs
        assert {k: v for k, v in vars(row).items() if k not in own} == \
            {k: v for k, v in vars(shipped).items() if k not in own}, name  # the same pairs, steps and settings


def test_the_270m_configuration_runs_a_step_with_the_tiny_model_through_the_cli(cli, model_dir, latent_cache,
                                                                                tmp_path):
    config = yaml.safe_load((CONFIGS / "270m-2step.yaml").read_text())
    stage = {**config["stages"][0], "steps": 1, "batch_size": 2, "latent_cache": str(latent_cache),
             "pairs": str(tmp_path / "pairs")}
    config.update(teacher=str(model_dir), output_dir=str(tmp_path / "run"), teacher_steps=2, stages=[stage])
    path = tmp_path / "270m-tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = cli("distill", "prepare", "--config", path, "--resume")
    assert code == 2 and "--resume is for training" in err
    code, out, err = cli("distill", "prepare", "--config", path)
    assert code == 0, err
    assert "16 teacher pairs made" in out  # 8 clips × the configuration's 2 noises
    # As the configuration is run, under torchrun: here two processes on the CPU (gloo), FSDP sharding the
    # student, the fake-score model and the heads between them; then one more step, resumed from the first's
    # checkpoint, which holds each of them gathered whole.
    def torchrun(*flags: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                 "--master_port", "29519", "-m", "mobilei2v.cli.main", "distill", "--config", str(path),
                                 *flags], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                                timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-30000:]
        return result

    result = torchrun()
    assert "fsdp: 2 processes" in result.stdout
    assert all(f"{loss}=" in result.stderr for loss in ("regression", "adversarial", "distribution_matching",
                                                        "fake_score", "discriminator"))  # every loss in the progress bar
    checkpoint = latest_checkpoint(tmp_path / "run")
    assert {"model.safetensors", "fake_score-optimizer.safetensors", "discriminator.safetensors"} <= {
        p.name for p in checkpoint.iterdir()}
    # Every student weight had a gradient (AdamW keeps state only for those): with autocast's weight cache
    # the bf16 copies made in the critics' no-gradient pass were reused, and the blocks' matrices had none.
    with safe_open(checkpoint / "model.safetensors", "pt") as weights, \
            safe_open(checkpoint / "model-optimizer.safetensors", "pt") as state:
        assert {key.rsplit(".", 1)[0] for key in state.keys()} == set(weights.keys())
    config["stages"][0]["steps"] = 2
    path.write_text(yaml.safe_dump(config))
    assert "resumed from" in torchrun("--resume").stdout
    assert latest_checkpoint(tmp_path / "run").name == "step-00000002"
    student = MobileI2VPipeline.from_pretrained(tmp_path / "run" / "final")
    assert student.config.default_sigmas == [1.0, 0.5] and student.teacher is None  # the config's keep_teacher: false


def test_a_camera_teacher_is_distilled_with_each_clips_camera_move(model_dir, latent_cache, tmp_path):
    """The pairs keep each clip's move; the student, like the teacher, sees it in every loss."""
    teacher = tmp_path / "camera-teacher"
    pipe = MobileI2VPipeline.assemble(str(model_dir), str(model_dir), denoiser_options={"camera_condition": True},
                                      default_height=64, default_width=64)
    torch.nn.init.normal_(pipe.denoiser.camera_modulation.proj.weight, std=0.1)  # as after training
    pipe.save_pretrained(teacher)
    config = make_config(teacher, latent_cache, tmp_path / "pairs", tmp_path / "run", **ALL_LOSSES)
    prepare(config_from_dict(config, DistillConfig), log=lambda m: None, progress=False)
    pairs = TeacherPairs(tmp_path / "pairs")
    cache = LatentCache(latent_cache)
    torch.testing.assert_close(pairs[3]["camera"], cache[3]["camera"])
    expected = sample_latents(pipe.denoiser, pipe.scheduler, pairs[3]["reference_latent"][None],
                              pairs[3]["motion_score"][None], 2, 4, noise=pairs[3]["noise"][None], progress=False,
                              camera=pairs[3]["camera"][None])
    torch.testing.assert_close(pairs[3]["teacher_latents"][None], expected)

    seen = []
    original = MobileI2VDenoiser.forward_with_features
    def recording(self, *args, camera=None, **kwargs):
        seen.append(camera is not None)
        return original(self, *args, camera=camera, **kwargs)
    with patch.object(MobileI2VDenoiser, "forward_with_features", recording):
        final = train({**config, "stages": [{**config["stages"][0], "steps": 2}]})
    assert seen and all(seen)  # student, teacher and fake score: every call had the move
    assert MobileI2VPipeline.from_pretrained(final).denoiser.config.camera_condition


def test_a_guided_teacher_is_distilled_with_each_clips_guide(model_dir, clips_file, tmp_path, monkeypatch):
    """The pairs keep each clip's guide from the cache; the student, like the teacher, gets it in every call,
    and the flow runs on each frame's difference from it."""
    teacher = tmp_path / "guided-teacher"
    pipe = MobileI2VPipeline.assemble(str(model_dir), str(model_dir), default_height=64, default_width=64,
                                      denoiser_options={"reference_residual": True, "camera_guide": True})
    pipe.save_pretrained(teacher)
    encode_csv(clips_file, tmp_path / "cache", pipe.vae, 64, 64, num_frames=9, progress=False, guides=True)
    config = make_config(teacher, tmp_path / "cache", tmp_path / "pairs", tmp_path / "run", **ALL_LOSSES)
    prepare(config_from_dict(config, DistillConfig), log=lambda m: None, progress=False)
    pairs = TeacherPairs(tmp_path / "pairs")
    cache = LatentCache(tmp_path / "cache")
    for k in range(len(pairs)):
        torch.testing.assert_close(pairs[k]["guide"], cache[k]["guide"], msg=f"pair {k}")
    expected = sample_latents(pipe.denoiser, pipe.scheduler, pairs[3]["reference_latent"][None],
                              pairs[3]["motion_score"][None], 2, 4, noise=pairs[3]["noise"][None], progress=False,
                              residual=True, guide=pairs[3]["guide"][None])
    torch.testing.assert_close(pairs[3]["teacher_latents"][None], expected)

    def guide_space(x: torch.Tensor, key: str) -> bool:
        """Whether each sample of x is some pair's `key` minus its guide (generated frames)."""
        return all(any(torch.allclose(row[:, 1:], (pairs[k][key] - pairs[k]["guide"])[:, 1:], atol=1e-6)
                       for k in range(len(pairs))) for row in x)

    calls, targets, features = [], [], []
    original = MobileI2VDenoiser.forward_with_features
    def recording(self, latents, *args, guide=None, **kwargs):
        calls.append(guide is not None and guide.shape == latents.shape
                     and all(any(torch.equal(row, pairs[k]["guide"]) for k in range(len(pairs))) for row in guide))
        return original(self, latents, *args, guide=guide, **kwargs)
    regression, teacher_features = distill_module.regression_loss, distill_module.teacher_features
    monkeypatch.setattr(distill_module, "regression_loss",
                        lambda x0, target: targets.append(target) or regression(x0, target))
    monkeypatch.setattr(distill_module, "teacher_features",
                        lambda teacher, x0, *args, **kwargs: features.append(x0.detach())
                        or teacher_features(teacher, x0, *args, **kwargs))
    with patch.object(MobileI2VDenoiser, "forward_with_features", recording):
        final = train({**config, "stages": [{**config["stages"][0], "steps": 2}]})
    # Per step the student twice, the fake score 2 + 1 times, the teacher 2 + 2 times: each with a pair's guide.
    assert len(calls) == 2 * 9 and all(calls)
    assert len(targets) == 2 and all(guide_space(target, "teacher_latents") for target in targets)
    assert sum(guide_space(x, "latents") for x in features) == 2  # the real data of each step's discriminator
    assert MobileI2VPipeline.from_pretrained(final).denoiser.config.camera_guide


def test_each_critic_learns_at_its_own_rate(model_dir, latent_cache, pairs, tmp_path):
    config = make_config(model_dir, latent_cache, pairs, tmp_path / "run", critic_learning_rate=2e-4,
                         adversarial={"head_channels": 16, "learning_rate": 3e-3}, distribution_matching={})
    trainer = DistillTrainer(config_from_dict(config, DistillConfig), log=lambda m: None)
    rates = {name: optimizer.param_groups[0]["lr"] for name, (_, optimizer) in trainer.critics.items()}
    assert rates == {"fake_score": 2e-4, "discriminator": 3e-3}
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-3  # the student's own


def test_the_heads_see_each_real_clip_at_the_sigma_of_the_generated_sample_beside_it(model_dir, latent_cache, pairs,
                                                                                      tmp_path, monkeypatch):
    """Drawn apart, a real and a generated sample would differ most in how noisy each is."""
    sigmas = []
    original = distill_module.teacher_features

    def recording(*args, sigma=None, **kwargs):
        sigmas.append(sigma)
        return original(*args, sigma=sigma, **kwargs)

    monkeypatch.setattr(distill_module, "teacher_features", recording)
    config = make_config(model_dir, latent_cache, pairs, tmp_path / "run", adversarial={"head_channels": 16},
                         stages=[{"steps": 2, "latent_cache": str(latent_cache), "pairs": str(pairs), "batch_size": 4}])
    train(config)
    # per step: the heads' real and generated halves, then the student's own (its σ' drawn inside)
    assert len(sigmas) == 6 and sigmas[2] is None and sigmas[5] is None
    for real, fake in (sigmas[0:2], sigmas[3:5]):
        assert real is fake and real.shape == (4,) and len(set(real.tolist())) == 4  # one σ' per pair
    assert not torch.equal(sigmas[0], sigmas[3])
