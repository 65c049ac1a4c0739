"""train-decoder: distillation from a teacher VAE and from-scratch training, on tiny models."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLLTXVideo

from mobilei2v import LightDecoder
from mobilei2v.cli.main import main
from mobilei2v.io.video import read_video
from mobilei2v.measures.reconstruction import reconstruction_psnr
from mobilei2v.models.geometry import LatentGeometry
from mobilei2v.models.light_decoder import LIGHT_DECODER_PRESETS
from mobilei2v.models.vae import VAE_PRESETS, LinearPathAutoencoder, encode_video
from mobilei2v.training.config import ConfigError, DecoderTrainConfig, config_from_dict
from mobilei2v.training.datasets import VideoClipDataset
from mobilei2v.training.decoder import DecoderTrainer


def decoder_config(clips_file, output_dir, **changes) -> DecoderTrainConfig:
    config = {"mode": "distill", "light_decoder": "tiny", "output_dir": str(output_dir), "learning_rate": 3e-3,
              "ema_decay": 0.0, "checkpoint_every": 100, "log_every": 5,
              "stages": [{"steps": 30, "videos": str(clips_file), "height": 64, "width": 64, "num_frames": 9,
                          "batch_size": 2}]}
    config.update(changes)
    return config_from_dict(config, DecoderTrainConfig)


def reconstruction_l1(encoder: AutoencoderKLLTXVideo, decoder: LightDecoder, clips_file) -> float:
    dataset = VideoClipDataset(str(clips_file), 9, 64, 64)
    with torch.no_grad():
        return sum(F.l1_loss(decoder(encoder.encode(dataset[i]["video"][None]).latent_dist.mode()),
                             dataset[i]["video"][None]).item() for i in range(len(dataset))) / len(dataset)


def test_distillation_learns_to_reconstruct_and_matches_teacher_features(tiny_vae_dir, clips_file, tmp_path):
    config = decoder_config(clips_file, tmp_path / "run", teacher=str(tiny_vae_dir), feature_blocks=[0, 4])
    torch.manual_seed(0)  # the student's initialisation: not whatever the tests before left in the RNG
    trainer = DecoderTrainer(config, log=lambda m: None)
    # Block 4: the tiny teacher's last up block has 8 channels, the student's 16: projected.
    assert list(trainer.accelerator.unwrap_model(trainer.model)["projections"]) == ["4"]
    torch.manual_seed(0)
    start = LightDecoder(**{**trainer.accelerator.unwrap_model(trainer.model)["decoder"].config})
    start.load_state_dict(trainer.accelerator.unwrap_model(trainer.model)["decoder"].state_dict())
    final = trainer.train()
    teacher = AutoencoderKLLTXVideo.from_pretrained(tiny_vae_dir)
    trained = LightDecoder.from_pretrained(final / "light_decoder")
    before, after = reconstruction_l1(teacher, start, clips_file), reconstruction_l1(teacher, trained, clips_file)
    # The teacher has random weights, so its latents carry little of the clip: a modest gain (0.92×).
    assert after < 0.95 * before, (before, after)


def test_distill_without_feature_blocks_fine_tunes_a_decoder_for_the_frozen_encoder(tiny_vae_dir, clips_file,
                                                                                    tmp_path, monkeypatch):
    # The shipped small model's case: its own LTX decoder is an untrained placeholder, never worth running.
    start = tmp_path / "start"
    torch.manual_seed(0)
    LightDecoder(**LIGHT_DECODER_PRESETS["tiny"]).save_pretrained(start)
    config = decoder_config(clips_file, tmp_path / "run", teacher=str(tiny_vae_dir), feature_blocks=[],
                            light_decoder=str(start), stages=[{"steps": 10, "videos": str(clips_file), "height": 64,
                                                              "width": 64, "num_frames": 9, "batch_size": 2}])
    trainer = DecoderTrainer(config, log=lambda m: None)
    monkeypatch.setattr(trainer.teacher, "decode", lambda *a, **k: pytest.fail("the teacher's decoder ran"))
    encoder = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    final = trainer.train()
    assert all(torch.equal(v, encoder[k]) for k, v in trainer.teacher.state_dict().items())
    teacher = AutoencoderKLLTXVideo.from_pretrained(tiny_vae_dir)
    before = reconstruction_l1(teacher, LightDecoder.from_pretrained(start), clips_file)
    assert reconstruction_l1(teacher, LightDecoder.from_pretrained(final / "light_decoder"), clips_file) < before


def test_scratch_trains_encoder_and_decoder_into_a_usable_model(clips_file, tmp_path, capsys, photo):
    config = decoder_config(clips_file, tmp_path / "run", mode="scratch", vae="tiny")
    final = DecoderTrainer(config, log=lambda m: None).train()
    assert (final / "vae" / "config.json").is_file() and (final / "light_decoder" / "config.json").is_file()
    model = tmp_path / "model"
    assert main(["init-model", str(model), "--preset", "mobilei2v-tiny", "--vae", str(final / "vae"),
                 "--light-decoder", str(final / "light_decoder"), "--height", "64", "--width", "64"]) == 0
    assert main(["generate", photo, "-o", str(tmp_path / "x.mp4"), "--model", str(model), "--steps", "1",
                 "--frames", "9"]) == 0
    trained_vae = AutoencoderKLLTXVideo.from_pretrained(final / "vae")
    # The exported VAE scales its latents to unit variance for the denoiser (measured on the training clips).
    video = VideoClipDataset(str(clips_file), 9, 64, 64)[0]["video"][None]
    with torch.no_grad():
        scaled = encode_video(trained_vae, video)
    assert trained_vae.config.scaling_factor != 1.0 and 0.7 < scaled.std() < 1.3
    torch.manual_seed(0)
    untrained = (AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]), LightDecoder(**LIGHT_DECODER_PRESETS["tiny"]))
    after = reconstruction_l1(trained_vae, LightDecoder.from_pretrained(final / "light_decoder"), clips_file)
    assert after < 0.85 * reconstruction_l1(*untrained, clips_file)


def test_distill_needs_a_teacher_and_blocks_in_range(clips_file, tmp_path):
    with pytest.raises(ConfigError, match="teacher"):
        decoder_config(clips_file, tmp_path)
    with pytest.raises(ConfigError, match="feature_blocks"):
        decoder_config(clips_file, tmp_path, teacher="t", feature_blocks=[5])


def test_example_config_is_valid():
    from pathlib import Path

    from mobilei2v.training.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "train-decoder-example.yaml", DecoderTrainConfig)
    assert config.mode == "distill" and config.stages[0].num_frames == 1


def test_perceptual_loss_from_local_vgg_weights(clips_file, tiny_vae_dir, tmp_path):
    from mobilei2v.training.perceptual import LPIPS, _vgg16_features

    torch.manual_seed(0)
    vgg = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in _vgg16_features().state_dict().items()}, vgg)  # torchvision's keys
    lpips = LPIPS(vgg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(lpips(x, x), torch.zeros(2))
    assert (lpips(x, x.flip(-1)) > 0).all() and (lpips(x, x + 0.5 * torch.randn_like(x)) > lpips(x, x + 0.05)).all()
    with pytest.raises(ValueError, match="VGG-16"):
        LPIPS(tiny_vae_dir / "config.json")
    config = decoder_config(clips_file, tmp_path / "run", teacher=str(tiny_vae_dir), perceptual_weights=str(vgg),
                            stages=[{"steps": 2, "videos": str(clips_file), "height": 64, "width": 64,
                                     "num_frames": 9}])
    trainer = DecoderTrainer(config, log=lambda m: None)
    batch = {"video": trainer.dataset(config.stages[0])[0]["video"][None]}
    with torch.no_grad():
        with_lpips = trainer.loss(trainer.model, batch)
        trainer.perceptual = None
        without = trainer.loss(trainer.model, batch)
    assert with_lpips > without


def test_augmented_clips_are_random_windows_crops_and_mirrors_of_the_clip(clips_file):
    plain = VideoClipDataset(str(clips_file), 1, 32, 32, motion_scores=False)
    augmented = VideoClipDataset(str(clips_file), 1, 32, 32, motion_scores=False, augment=True)
    torch.manual_seed(0)
    draws = [augmented.frames(3) for _ in range(6)]
    assert all(d.shape == (1, 32, 32, 3) and d.dtype == np.uint8 for d in draws)
    assert len({d.tobytes() for d in draws}) == 6 and plain.frames(3).shape == (1, 32, 32, 3)
    torch.manual_seed(0)
    assert np.array_equal(augmented.frames(3), draws[0])  # the torch seed decides, so resumed runs repeat
    # At the clip's own resolution (64 px: scale 2 for a 32 px stage) a crop is a window of some frame.
    clip = read_video(augmented.items[3][0])[0]

    def window_of_the_clip(crop: np.ndarray) -> bool:
        return any(cv2.matchTemplate(frame, c, cv2.TM_SQDIFF).min() / c.size < 4
                   for frame in clip for c in (crop, np.ascontiguousarray(crop[:, ::-1])))

    native = [d for d in (augmented.frames(3) for _ in range(100)) if window_of_the_clip(d[0])]
    assert native


def test_validation_logs_the_psnr_of_the_weights_it_exports_and_cosine_ends_at_zero(clips_file, tmp_path):
    messages = []
    config = decoder_config(clips_file, tmp_path / "run", mode="scratch", vae="tiny", lr_schedule="cosine",
                            warmup_steps=2, ema_decay=0.9,
                            stages=[{"steps": 6, "videos": str(clips_file), "height": 32, "width": 32,
                                     "num_frames": 1, "batch_size": 2, "augment": True}],
                            validation={"every": 3, "videos": str(clips_file), "height": 64, "width": 64})
    trainer = DecoderTrainer(config, log=messages.append)
    final = trainer.train()
    logged = [float(m.split("PSNR ")[1].split(" dB")[0]) for m in messages if "reconstruction PSNR" in m]
    assert len(logged) == 2
    vae = AutoencoderKLLTXVideo.from_pretrained(final / "vae")
    decoder = LightDecoder.from_pretrained(final / "light_decoder")
    clips = VideoClipDataset(str(clips_file), 1, 64, 64, motion_scores=False)
    expected = np.mean([reconstruction_psnr(vae, clips.frames(i), decoder) for i in range(len(clips))])
    assert logged[-1] == pytest.approx(expected, abs=0.01)
    assert trainer.schedule.get_last_lr()[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ConfigError, match="validation.videos"):
        decoder_config(clips_file, tmp_path, mode="scratch", validation={"every": 3})


@pytest.mark.parametrize("whiten", [True, False])
def test_pca_initialisation_starts_the_autoencoder_as_pca(clips_file, tmp_path, whiten):
    torch.manual_seed(0)
    LinearPathAutoencoder(**VAE_PRESETS["tiny"]).save_pretrained(tmp_path / "vae")
    LightDecoder(**LIGHT_DECODER_PRESETS["tiny"], linear_path=True).save_pretrained(tmp_path / "decoder")
    config = decoder_config(clips_file, tmp_path / "run", mode="scratch", vae=str(tmp_path / "vae"),
                            light_decoder=str(tmp_path / "decoder"), pca_init=True, pca_images=16, pca_whiten=whiten,
                            stages=[{"steps": 1, "videos": str(clips_file), "height": 64, "width": 64,
                                     "num_frames": 1}])
    messages = []
    trainer = DecoderTrainer(config, log=messages.append)
    trainer_model = trainer.accelerator.unwrap_model(trainer.model)
    assert "16 components keep" in messages[0]
    vae, decoder = trainer_model["vae"].eval(), trainer_model["decoder"].eval()
    # The same projection computed independently: the top 16 principal components of the 64 patches.
    images = torch.cat([VideoClipDataset(str(clips_file), 1, 64, 64)[i % 8]["video"][None] for i in range(16)])
    geometry = LatentGeometry(32, 8)
    patches = geometry.patchify(images).movedim(1, -1).reshape(-1, 3 * 32 * 32).double()
    mean = patches.mean(0)
    _, singular, vt = torch.linalg.svd(patches - mean, full_matrices=False)
    projected = (patches - mean) @ vt[:16].T @ vt[:16] + mean
    with torch.no_grad():
        latents = vae.encode(images).latent_dist.mode()
        reconstruction = decoder(latents)
        linear = geometry.unpatchify(decoder.linear_decode(vae.linear_encode(geometry.patchify(images))))
    linear_latents = vae.linear_encode(geometry.patchify(images)).detach()
    channel_std = linear_latents.transpose(0, 1).flatten(1).std(dim=1).double()
    # whitened: every channel has unit variance; else a channel's std is its principal component's
    expected_std = torch.ones(16).double() if whiten else singular[:16] / (len(patches) - 1) ** 0.5
    torch.testing.assert_close(channel_std, expected_std, rtol=1e-3, atol=1e-4)
    expected = geometry.unpatchify(projected.float().reshape(16, 2, 2, 1, -1).permute(0, 4, 3, 1, 2))
    torch.testing.assert_close(linear, expected, atol=1e-3, rtol=0)  # the linear paths are PCA
    assert (reconstruction - linear).abs().mean() < 0.2 * (expected - expected.mean()).abs().mean()  # deep: small
    trainer.train()  # leaves a checkpoint: a trainer made to resume it does not compute PCA again
    resumed = []
    DecoderTrainer(config, log=resumed.append)
    assert not any("PCA" in m for m in resumed)
    with pytest.raises(ValueError, match="linear paths"):
        DecoderTrainer(decoder_config(clips_file, tmp_path / "run2", mode="scratch", vae="tiny", pca_init=True))
