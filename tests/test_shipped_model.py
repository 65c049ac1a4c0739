"""The model shipped inside the package: complete, small, the default, and trained (not random)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mobilei2v import MobileI2VPipeline
from mobilei2v.cli.main import main
from mobilei2v.data.holdout import holdout_paths
from mobilei2v.diffusion.sampler import step_schedule
from mobilei2v.io.images import load_image
from mobilei2v.io.model_folder import check_model_folder
from mobilei2v.io.video import fit_frames, read_video
from mobilei2v.measures.motion import camera_motion, motion_score
from mobilei2v.measures.video import psnr, warp_fidelity
from mobilei2v.pipeline import SHIPPED_MODEL

CAT = Path(__file__).parents[1] / "examples" / "cat.jpg"


@pytest.fixture(scope="module")
def shipped() -> MobileI2VPipeline:
    return MobileI2VPipeline.from_pretrained()  # no path: the shipped model


def test_the_shipped_folder_is_complete_and_under_50_mb():
    # every part, the light decoder too (it decodes: the VAE's decoder is untrained); no teacher: not distilled
    check_model_folder(SHIPPED_MODEL, MobileI2VPipeline.__name__, MobileI2VPipeline.COMPONENTS, ("teacher",))
    size = sum(f.stat().st_size for f in SHIPPED_MODEL.rglob("*") if f.is_file())
    assert size <= 50 * 2**20, size


def test_from_pretrained_without_a_path_loads_the_shipped_model(shipped):
    assert (shipped.config.default_height, shipped.config.default_width) == (256, 256)
    assert shipped.denoiser.config.attention_types.count("softmax") == 2  # the hybrid design
    with pytest.raises(ValueError, match="untrained placeholder"):
        shipped.decoder_for("ltx")


def test_the_shipped_model_samples_its_own_two_step_schedule_and_30_steps_when_asked(shipped):
    # Two steps of the denoiser's own shifted schedule: what `--steps 2` samples (docs/shipped-model.md, v4)
    assert shipped.sampling_schedule() == (2, [1.0, 0.75])
    assert [float(s) for s in step_schedule(shipped.scheduler, 2).sigmas[:-1]] == [1.0, 0.75]
    assert shipped.sampling_schedule(30) == (30, None) and shipped.denoiser_for(30) is shipped.denoiser


def test_generate_without_a_model_uses_the_shipped_one_and_resizes_any_image(capsys, tmp_path):
    out = tmp_path / "cat.mp4"
    assert main(["generate", str(CAT), "-o", str(out), "--steps", "4"]) == 0
    printed = capsys.readouterr().out
    assert "resizing and centre-cropping the 320x213 image to 256x256" in printed
    assert "encode" in printed and "/step" in printed and "decode" in printed
    frames, fps = read_video(out)
    assert frames.shape == (17, 256, 256, 3) and fps == 24


def test_the_shipped_model_is_trained_it_keeps_the_input_and_follows_the_motion_score(shipped):
    # A held-out photo (never trained on): frame 0 must reproduce it, and a higher motion score must
    # move more. Random weights give ~10 dB and no relation between score and motion.
    photo = load_image(holdout_paths()[0])
    out = shipped([photo, photo], motion_score=[0.5, 6.0], num_inference_steps=10, progress=False)
    reference = fit_frames(np.asarray(photo)[None], 256, 256)[0]
    assert psnr(out.frames[0][0], reference) > 15
    assert motion_score(out.frames[1]) > motion_score(out.frames[0]) + 0.5


def test_the_shipped_model_moves_the_photo_the_way_asked_and_its_denoiser_is_trained(shipped):
    # Its motion is the camera move it films its guide along; every later frame must be the photo moved
    # that way. Its trained denoiser keeps the frames the photo (v3: 25.7 dB warp fidelity on average
    # over held-out photos at motion 2 and 4); the same design with random denoiser weights does not.
    import torch

    photo = load_image(holdout_paths()[0])
    reference = fit_frames(np.asarray(photo)[None], 256, 256)[0]
    run = lambda pipe, camera: pipe(photo, motion_score=3.0, camera=camera, num_inference_steps=10,  # noqa: E731
                                    generator=torch.Generator().manual_seed(0), progress=False).frames[0]
    left, right = run(shipped, "pan-left"), run(shipped, "pan-right")
    assert camera_motion(left)[0] > 1.5 and camera_motion(right)[0] < -1.5  # the picture slides the other way
    trained = warp_fidelity(left, reference)[0]
    assert shipped.denoiser.config.camera_guide and trained > 22
    untrained = shipped.with_denoiser(type(shipped.denoiser)(**shipped.denoiser.config).to(shipped.denoiser.dtype))
    assert warp_fidelity(run(untrained, "pan-left"), reference)[0] < trained - 5


def test_a_damaged_copy_names_the_missing_or_corrupt_file(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, copy)
    weights = copy / "light_decoder" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="light_decoder/diffusion_pytorch_model.safetensors is truncated"):
        MobileI2VPipeline.from_pretrained(copy)
    weights.unlink()
    with pytest.raises(ValueError, match="light_decoder/diffusion_pytorch_model.safetensors is missing"):
        MobileI2VPipeline.from_pretrained(copy)
