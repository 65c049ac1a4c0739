"""The trainer on tiny models and a synthetic set of panning clips (CPU, seconds per test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from mobilei2v import MobileI2VDenoiser, MobileI2VPipeline
from mobilei2v.diffusion import flow_matching_loss
from mobilei2v.training import trainer as trainer_module
from mobilei2v.training.checkpoints import latest_checkpoint
from mobilei2v.training.config import config_from_dict
from mobilei2v.training.datasets import VideoClipDataset
from mobilei2v.training.trainer import DenoiserTrainer, TrainingError

HERE = Path(__file__).parent


def make_config(model_dir, clips_file, output_dir, **changes) -> dict:
    config = {
        "pipeline": str(model_dir), "output_dir": str(output_dir), "optimizer": "adamw", "learning_rate": 2e-3,
        "weight_decay": 0.0, "ema_decay": 0.5, "checkpoint_every": 4, "keep_checkpoints": 2, "log_every": 1,
        "stages": [{"steps": 8, "videos": str(clips_file), "height": 64, "width": 64, "num_frames": 9,
                    "batch_size": 2}],
    }
    config.update(changes)
    return config


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "denoiser" / "diffusion_pytorch_model.safetensors")


def fixed_loss(denoiser, pipe, dataset) -> float:
    """The loss on the whole set with fixed σ and noise: comparable before and after training."""
    from mobilei2v.models.vae import encode_video

    gen = torch.Generator().manual_seed(123)
    total = 0.0
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            video = item["video"][None]
            latents = encode_video(pipe.vae, video)
            reference = encode_video(pipe.vae, video[:, :, :1])
            sigma = torch.rand(1, generator=gen) * 0.8 + 0.1
            noise = torch.randn(latents.shape, generator=gen)
            total += flow_matching_loss(denoiser, latents, reference, item["motion_score"][None], sigma=sigma,
                                        noise=noise).item()
    return total / len(dataset)


def test_loss_decreases_and_the_export_loads(model_dir, clips_file, tmp_path):
    config = config_from_dict(make_config(model_dir, clips_file, tmp_path / "run", checkpoint_every=100,
                                          ema_decay=0.0, stages=[{"steps": 40, "videos": str(clips_file),
                                                                  "height": 64, "width": 64, "num_frames": 9,
                                                                  "batch_size": 2}]))
    final = DenoiserTrainer(config, log=lambda m: None).train()
    start = MobileI2VPipeline.from_pretrained(model_dir)
    trained = MobileI2VPipeline.from_pretrained(final)
    dataset = VideoClipDataset(str(clips_file), 9, 64, 64)
    before, after = fixed_loss(start.denoiser, start, dataset), fixed_loss(trained.denoiser, start, dataset)
    assert after < 0.8 * before, (before, after)
    video = trained(torch.zeros(1, 3, 64, 64), num_frames=9, num_inference_steps=2, progress=False).frames
    assert video.shape == (1, 9, 64, 64, 3)


def test_trains_from_a_latent_cache_with_progressive_stages(model_dir, clips_file, tmp_path):
    from mobilei2v.data.latent_cache import encode_csv

    pipe = MobileI2VPipeline.from_pretrained(model_dir)
    for size in (32, 64):
        encode_csv(clips_file, tmp_path / f"cache{size}", pipe.vae, size, size, num_frames=9, progress=False)
    stages = [{"steps": 3, "latent_cache": str(tmp_path / "cache32"), "batch_size": 2},
              {"steps": 3, "latent_cache": str(tmp_path / "cache64"), "batch_size": 2}]
    trainer = DenoiserTrainer(config_from_dict(make_config(model_dir, clips_file, tmp_path / "run", stages=stages)),
                              log=lambda m: None)
    grids = []
    original = trainer.loss
    trainer.loss = lambda model, batch: grids.append(tuple(batch["latents"].shape[-2:])) or original(model, batch)
    final = trainer.train()
    assert grids == [(1, 1)] * 3 + [(2, 2)] * 3  # each stage reads its own cache: 32 px, then 64 px clips
    assert any(not torch.equal(weights(final)[n], t) for n, t in weights(model_dir).items())


class Interrupt(Exception):
    pass


def test_resume_after_a_kill_reaches_the_same_weights(model_dir, clips_file, tmp_path, monkeypatch):
    whole = DenoiserTrainer(config_from_dict(make_config(model_dir, clips_file, tmp_path / "whole")), log=lambda m: None)
    reference = weights(whole.train())

    config = config_from_dict(make_config(model_dir, clips_file, tmp_path / "killed"))
    original = DenoiserTrainer._optimizer_step
    calls = {"n": 0}

    def dies_at_step_6(self, batches):
        calls["n"] += 1
        if calls["n"] == 6:
            raise Interrupt  # as if killed: steps 5 and 6 are lost, step 4's checkpoint survives
        return original(self, batches)

    monkeypatch.setattr(DenoiserTrainer, "_optimizer_step", dies_at_step_6)
    with pytest.raises(Interrupt):
        DenoiserTrainer(config, log=lambda m: None).train()
    monkeypatch.setattr(DenoiserTrainer, "_optimizer_step", original)
    assert latest_checkpoint(tmp_path / "killed").name == "step-00000004"
    with pytest.raises(FileExistsError, match="--resume"):
        DenoiserTrainer(config, log=lambda m: None).train()
    resumed = weights(DenoiserTrainer(config, log=lambda m: None).train(resume=True))
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    # Only the last `keep_checkpoints` checkpoints are kept.
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()) == ["step-00000004",
                                                                                        "step-00000008"]


def test_partial_checkpoint_is_never_taken_for_a_good_one(model_dir, clips_file, tmp_path):
    run = tmp_path / "run"
    DenoiserTrainer(config_from_dict(make_config(model_dir, clips_file, run, stages=[
        {"steps": 4, "videos": str(clips_file), "height": 64, "width": 64, "num_frames": 9}])),
        log=lambda m: None).train()
    (run / "checkpoints" / ".step-00000008.partial").mkdir()  # a save cut short by a kill
    (run / "checkpoints" / "step-00000012").mkdir()  # renamed but without its state file
    assert latest_checkpoint(run).name == "step-00000004"


def test_nan_loss_stops_with_the_last_good_checkpoint(model_dir, clips_file, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_loss = trainer_module.flow_matching_loss

    def nan_at_step_6(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 6 else loss

    monkeypatch.setattr(trainer_module, "flow_matching_loss", nan_at_step_6)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="step-00000004"):
        DenoiserTrainer(config_from_dict(make_config(model_dir, clips_file, run)), log=lambda m: None).train()
    assert latest_checkpoint(run).name == "step-00000004"
    assert not (run / "final").exists()


def torchrun(config: dict, tmp_path: Path, name: str, *flags: str) -> str:
    """Train `config` in two processes (ddp_worker.py); what they printed."""
    config_path = tmp_path / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         str(HERE / "ddp_worker.py"), str(config_path), str(tmp_path), *flags],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def ddp_run(model_dir, clips_file, tmp_path_factory) -> Path:
    """A two-process DDP run: its folder, with each rank's weights beside it."""
    folder = tmp_path_factory.mktemp("ddp")
    out = torchrun(make_config(model_dir, clips_file, folder / "run"), folder, "ddp")
    assert out.count("world size 2 sharded False") == 2
    return folder


def test_two_process_ddp_keeps_ranks_identical(model_dir, ddp_run):
    rank0, rank1 = (load_file(ddp_run / f"rank{r}.safetensors") for r in (0, 1))
    start = MobileI2VDenoiser.from_pretrained(model_dir / "denoiser").state_dict()
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    assert any(not torch.equal(rank0[n], start[n]) for n in rank0)  # it did train


def test_fsdp_trains_as_ddp_does_and_resumes_after_a_kill(model_dir, clips_file, ddp_run, tmp_path):
    """Two processes each holding half of every weight take the same steps as DDP's whole copies (the
    same data and noise per rank; only the order of the gradient sums differs), and a killed FSDP run
    resumes from its gathered checkpoint to the same end."""
    run = tmp_path / "fsdp"
    out = torchrun(make_config(model_dir, clips_file, run, distributed="fsdp"), tmp_path, "fsdp")
    assert out.count("world size 2 sharded True") == 2
    checkpoint = latest_checkpoint(run)
    assert {"model.safetensors", "model-optimizer.safetensors", "ema.safetensors"} <= {
        p.name for p in checkpoint.iterdir()}
    fsdp, ddp = weights(run / "final"), weights(ddp_run / "run" / "final")
    start = weights(model_dir)
    assert any(not torch.equal(fsdp[n], start[n]) for n in fsdp)  # it did train
    for name, tensor in ddp.items():  # (Adam's steps are 2e-3 here: 1e-4 is a twentieth of one)
        torch.testing.assert_close(fsdp[name], tensor, rtol=1e-3, atol=1e-4, msg=name)
    killed = tmp_path / "killed"
    config = make_config(model_dir, clips_file, killed, distributed="fsdp")
    assert "killed" in torchrun(config, tmp_path, "killed", "--die-at", "6")
    assert latest_checkpoint(killed).name == "step-00000004" and not (killed / "final").exists()
    torchrun(config, tmp_path, "killed", "--resume")
    resumed = weights(killed / "final")
    for name, tensor in fsdp.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_validation_videos_are_written_every_k_steps(model_dir, clips_file, tmp_path, photo):
    run = tmp_path / "run"
    config = make_config(model_dir, clips_file, run, validation={
        "every": 4, "images": [photo], "motion_scores": [1.0, 4.0], "num_inference_steps": 2, "num_frames": 9})
    DenoiserTrainer(config_from_dict(config), log=lambda m: None).train()
    names = sorted(p.name for p in (run / "validation").iterdir())
    assert names == [f"step-0000000{s}-photo-motion{m}.mp4" for s in (4, 8) for m in (1, 4)]


def test_gradient_accumulation_takes_several_micro_batches_per_step(model_dir, clips_file, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_loss = trainer_module.flow_matching_loss

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "flow_matching_loss", counted)
    trainer = DenoiserTrainer(config_from_dict(make_config(model_dir, clips_file, tmp_path / "run",
                                                           gradient_accumulation_steps=3)), log=lambda m: None)
    trainer.train()
    assert calls["n"] == 8 * 3
    assert trainer.optimizer.optimizer.state  # the optimizer did step
    assert trainer.schedule.scheduler.last_epoch == 8  # one LR-schedule step per optimizer step


@pytest.mark.parametrize("dropout", [0.0, 1.0])
def test_a_camera_model_trains_on_each_clips_camera_move_as_its_crop_sees_it(model_dir, clips_file, tmp_path,
                                                                             monkeypatch, dropout):
    from mobilei2v.data.latent_cache import LatentCache, encode_csv
    from mobilei2v.training.datasets import crop_camera

    camera_model = tmp_path / "camera-model"
    MobileI2VPipeline.assemble(str(model_dir), str(model_dir), denoiser_options={"camera_condition": True},
                               default_height=64, default_width=64).save_pretrained(camera_model)
    pipe = MobileI2VPipeline.from_pretrained(camera_model)
    encode_csv(clips_file, tmp_path / "cache", pipe.vae, 64, 64, num_frames=9, progress=False)
    cameras = torch.stack([clip["camera"] for clip in LatentCache(tmp_path / "cache")])
    crops = {(top, left): torch.stack([crop_camera(c, (64, 64), (32 * top, 32 * left, 32, 32)) for c in cameras])
             for top in (0, 1) for left in (0, 1)}

    seen = []
    original = trainer_module.flow_matching_loss
    monkeypatch.setattr(trainer_module, "flow_matching_loss",
                        lambda *args, camera=None, **kwargs: seen.append(camera) or original(*args, camera=camera, **kwargs))
    stages = [{"steps": 3, "latent_cache": str(tmp_path / "cache"), "batch_size": 8, "latent_crop": 1}]
    DenoiserTrainer(config_from_dict(make_config(camera_model, clips_file, tmp_path / "run", stages=stages,
                                                 camera_dropout=dropout)), log=lambda m: None).train()
    assert len(seen) == 3
    for batch in seen:
        if dropout == 1.0:
            assert not batch.any()
        else:  # each row is a clip's move as one of the four 32-px crops sees it
            assert all(any(torch.allclose(row, move) for crop in crops.values() for move in crop) for row in batch)


def test_a_camera_model_refuses_a_cache_without_camera_moves(model_dir, clips_file, tmp_path):
    import json

    from mobilei2v.data.latent_cache import encode_csv

    camera_model = tmp_path / "camera-model"
    MobileI2VPipeline.assemble(str(model_dir), str(model_dir), denoiser_options={"camera_condition": True},
                               default_height=64, default_width=64).save_pretrained(camera_model)
    encode_csv(clips_file, tmp_path / "cache", MobileI2VPipeline.from_pretrained(camera_model).vae, 64, 64,
               num_frames=9, progress=False)
    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    del index["clips"][0]["camera"]
    (tmp_path / "cache" / "index.json").write_text(json.dumps(index))
    stages = [{"steps": 1, "latent_cache": str(tmp_path / "cache"), "batch_size": 2}]
    with pytest.raises(ValueError, match="without a camera move.*data encode"):
        DenoiserTrainer(config_from_dict(make_config(camera_model, clips_file, tmp_path / "run", stages=stages)),
                        log=lambda m: None).train()


def test_the_trained_model_keeps_every_setting_of_the_model_it_started_from(tiny_model_dir, clips_file, tmp_path):
    start = tmp_path / "start"
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir)  # with a light decoder: its VAE decoder may be untrained
    pipe.register_to_config(vae_decoder_trained=False, frame_rate=12, default_sigmas=[1.0, 0.5])
    pipe.save_pretrained(start)
    stages = [{"steps": 1, "videos": str(clips_file), "height": 64, "width": 64, "num_frames": 9, "batch_size": 2}]
    final = DenoiserTrainer(config_from_dict(make_config(start, clips_file, tmp_path / "run", stages=stages)),
                            log=lambda m: None).train()
    trained = MobileI2VPipeline.from_pretrained(final)
    assert {k: trained.config[k] for k in MobileI2VPipeline.SETTINGS} == {k: pipe.config[k] for k in MobileI2VPipeline.SETTINGS}


@pytest.mark.parametrize("source", ["cache", "videos"])
def test_a_guided_model_trains_on_each_clips_guide(model_dir, clips_file, tmp_path, monkeypatch, source):
    """From a cache, the guide it stores (cut at the crop's window); from videos, frame 0 filmed along the
    clip's measured move and encoded, as the cache would store it."""
    from mobilei2v.data.latent_cache import LatentCache, encode_csv

    guided = tmp_path / "guided-model"
    MobileI2VPipeline.assemble(str(model_dir), str(model_dir), default_height=64, default_width=64,
                               denoiser_options={"reference_residual": True, "camera_guide": True}).save_pretrained(guided)
    pipe = MobileI2VPipeline.from_pretrained(guided)
    encode_csv(clips_file, tmp_path / "cache", pipe.vae, 64, 64, num_frames=9, progress=False, guides=True)
    guides = [clip["guide"] for clip in LatentCache(tmp_path / "cache")]

    seen = []
    original = trainer_module.flow_matching_loss
    monkeypatch.setattr(trainer_module, "flow_matching_loss",
                        lambda *args, guide=None, **kwargs: seen.append(guide) or original(*args, guide=guide, **kwargs))
    stages = ([{"steps": 2, "latent_cache": str(tmp_path / "cache"), "batch_size": 4}] if source == "cache" else
              [{"steps": 2, "videos": str(clips_file), "height": 64, "width": 64, "num_frames": 9, "batch_size": 4}])
    DenoiserTrainer(config_from_dict(make_config(guided, clips_file, tmp_path / "run", stages=stages)),
                    log=lambda m: None).train()
    assert len(seen) == 2
    for batch in seen:
        assert batch.shape == (4, *guides[0].shape)
        assert all(min((row - guide).abs().max() for guide in guides) < 0.02 for row in batch)  # uint8 rounding apart
