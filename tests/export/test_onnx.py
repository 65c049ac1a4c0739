"""ONNX: the three programs of an export folder make, through onnxruntime alone, the PyTorch pipeline's video."""

import json

import numpy as np
import pytest
import torch

from mobilei2v.export.build import export_model
from mobilei2v.export.runtime_onnx import OnnxVideoGenerator
from mobilei2v.measures.video import psnr
from mobilei2v.pipeline import MobileI2VPipeline

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def onnx_export(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "export"
    export_model(tiny_model_dir, out, "onnx", height=64, width=96, num_frames=17, num_inference_steps=4)
    return out


def test_export_json_drives_the_programs(onnx_export, tiny_pipeline):
    manifest = json.loads((onnx_export / "export.json").read_text())
    assert manifest["latent_shape"] == [1, 16, 3, 2, 3]
    assert len(manifest["sigmas"]) == 5 and manifest["sigmas"][0] == 1.0 and manifest["sigmas"][-1] == 0.0
    assert manifest["stages"]["decoder"]["outputs"]["video"] == [1, 3, 17, 64, 96]
    assert sorted(p.name for p in onnx_export.iterdir()) == ["decoder.onnx", "denoiser.onnx", "encoder.onnx",
                                                             "export.json"]


def test_onnxruntime_video_matches_the_pytorch_pipeline(onnx_export, tiny_model_dir, photo):
    frames, timings = OnnxVideoGenerator(onnx_export)(photo, motion_score=3.0, generator=torch.Generator().manual_seed(5))
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype="fp32")
    expected = pipe(photo, motion_score=3.0, num_frames=17, height=64, width=96, num_inference_steps=4,
                    generator=torch.Generator().manual_seed(5), progress=False).frames[0]
    assert frames.shape == expected.shape == (17, 64, 96, 3)
    assert psnr(expected, frames) >= 60
    assert np.ptp(expected) > 0  # not a trivially equal blank video
    assert set(timings) >= {"encode", "denoise", "decode"}


def test_generate_runtime_onnx_writes_the_video(onnx_export, photo, tmp_path, cli):
    out = tmp_path / "video.mp4"
    code, stdout, _ = cli("generate", photo, "-o", out, "--runtime", "onnx", "--export-dir", onnx_export, "--steps", "4")
    assert code == 0 and out.stat().st_size > 0 and "onnxruntime" in stdout
    code, _, err = cli("generate", photo, "-o", tmp_path / "b.mp4", "--runtime", "onnx", "--export-dir", onnx_export,
                       "--frames", "9")
    assert code == 2 and "makes 17 frames, not 9" in err and len(err.strip().splitlines()) == 1


def test_a_model_with_every_switch_makes_the_same_video_through_onnx(tmp_path, photo, assert_each_move_matches):
    """The small models' switches: the flow on differences from the reference (added back after the last
    step), the camera move as a fourth input of the denoiser, the reference's neighbourhood, each frame's
    expected displacement, the softmax blocks' q/k norms."""
    torch.manual_seed(0)
    switches = {"camera_condition": True, "reference_residual": True, "reference_concat": True,
                "reference_neighbourhood": True, "frame_motion_condition": True, "softmax_qk_norm": True}
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny", default_height=64,
                                      default_width=96, denoiser_options=switches)
    for modulation in (pipe.denoiser.camera_modulation, pipe.denoiser.frame_motion_modulation):
        torch.nn.init.normal_(modulation.proj.weight, std=0.1)  # as after training
    for name, weight in pipe.denoiser.named_parameters():
        if "attn.q_norm" in name or "attn.k_norm" in name:
            torch.nn.init.normal_(weight, 1.0, 0.2)
    pipe.save_pretrained(tmp_path / "model")
    export_model(tmp_path / "model", tmp_path / "export", "onnx", height=64, width=96, num_frames=9,
                 num_inference_steps=3)
    manifest = json.loads((tmp_path / "export" / "export.json").read_text())
    assert manifest["reference_residual"] and manifest["stages"]["denoiser"]["inputs"]["camera"] == [1, 4]
    assert manifest["camera_moves"]["zoom-in"] == [0, 0, 1, 0]
    assert_each_move_matches(pipe, OnnxVideoGenerator(tmp_path / "export"), photo)


def test_a_guided_model_makes_the_same_video_through_onnx(tmp_path, photo, assert_each_move_matches):
    """A guided model's export has a fourth program, the guide encoder, which the generator feeds with the
    photo filmed along the move; the residual is added back from the guide."""
    torch.manual_seed(0)
    switches = {"reference_residual": True, "reference_concat": True, "reference_neighbourhood": True,
                "camera_guide": True}
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny", default_height=64,
                                      default_width=96, denoiser_options=switches)
    pipe.save_pretrained(tmp_path / "model")
    export_model(tmp_path / "model", tmp_path / "export", "onnx", height=64, width=96, num_frames=9,
                 num_inference_steps=3)
    manifest = json.loads((tmp_path / "export" / "export.json").read_text())
    assert manifest["camera_guide"] and "camera" not in manifest["stages"]["denoiser"]["inputs"]
    assert manifest["stages"]["guide_encoder"]["inputs"]["video"] == [1, 3, 9, 64, 96]
    assert manifest["stages"]["denoiser"]["inputs"]["guide"] == manifest["latent_shape"]
    assert_each_move_matches(pipe, OnnxVideoGenerator(tmp_path / "export"), photo)


def test_a_student_exports_its_own_sigmas_and_a_step_count_exports_its_teacher(tiny_student, tmp_path, photo):
    """A distilled student's export samples its own σ list by default; asked for N steps, the export holds the
    teacher it carries (the denoiser a pipeline call with N steps uses) and the N-step schedule."""
    pipe = tiny_student
    pipe.save_pretrained(tmp_path / "model")
    for name, steps in (("own", None), ("teacher", 3)):
        export_model(tmp_path / "model", tmp_path / name, "onnx", num_frames=9, num_inference_steps=steps)
        frames, _ = OnnxVideoGenerator(tmp_path / name)(photo, generator=torch.Generator().manual_seed(5))
        expected = pipe(photo, num_frames=9, num_inference_steps=steps, generator=torch.Generator().manual_seed(5),
                        progress=False).frames[0]
        assert psnr(expected, frames) >= 60, name
    assert json.loads((tmp_path / "own" / "export.json").read_text())["sigmas"] == [1.0, 0.5, 0.0]
    assert len(json.loads((tmp_path / "teacher" / "export.json").read_text())["sigmas"]) == 4
