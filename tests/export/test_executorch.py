"""ExecuTorch: each stage's XNNPACK .pte (encoder, guide encoder, denoiser, light decoder) runs through
`executorch.runtime` here and matches PyTorch, and an export folder makes, through ExecuTorch alone, the
PyTorch pipeline's video; LTX's own decoder (rank-8 tensors, not rewritten) is refused with one line."""

import json

import pytest
import torch

from mobilei2v.export.build import export_model
from mobilei2v.export.compare import psnr
from mobilei2v.export.stages import build_stages
from mobilei2v.pipeline import SHIPPED_MODEL, MobileI2VPipeline

pytest.importorskip("executorch")


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    """A tiny guided model (so every stage, the guide encoder too) and its ExecuTorch export folder."""
    torch.manual_seed(0)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny", default_height=64,
                                      default_width=96,
                                      denoiser_options={"reference_residual": True, "camera_guide": True})
    folder = tmp_path_factory.mktemp("executorch")
    pipe.save_pretrained(folder / "model")
    export_model(folder / "model", folder / "export", "executorch", height=64, width=96, num_frames=9,
                 num_inference_steps=3)
    return pipe, folder / "export"


def random_inputs(stage) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn_like(x) * (500 if name == "timestep" else 1) for name, x in stage.inputs.items()]


@pytest.mark.parametrize("name", ["encoder", "guide_encoder", "denoiser", "decoder"])
def test_each_stages_pte_matches_pytorch(guided, name):
    from mobilei2v.export.executorch import ExecuTorchProgram

    pipe, export = guided
    stage = build_stages(pipe, 64, 96, 9)[name]
    inputs = random_inputs(stage)
    with torch.no_grad():
        expected = stage.module(*inputs)
    assert psnr(expected, ExecuTorchProgram(export / f"{name}.pte")(*inputs)) >= 60


@pytest.mark.parametrize("name", ["encoder", "decoder"])
def test_the_shipped_encoder_and_light_decoder_pte_match_pytorch(name, tmp_path):
    """The shipped model's kinds: LTX-Video 0.9.5 downsamplers and a linear path in the encoder, per-frame
    upsamplers and a linear path in the light decoder."""
    from mobilei2v.export.executorch import ExecuTorchProgram, export_executorch

    stage = build_stages(MobileI2VPipeline.from_pretrained(SHIPPED_MODEL, dtype="fp32"), 64, 96, 5)[name]
    export_executorch(stage, tmp_path / f"{name}.pte")
    inputs = random_inputs(stage)
    with torch.no_grad():
        expected = stage.module(*inputs)
    assert psnr(expected, ExecuTorchProgram(tmp_path / f"{name}.pte")(*inputs)) >= 60


def test_executorch_video_matches_the_pytorch_pipeline(guided, photo, assert_each_move_matches):
    from mobilei2v.export.executorch import ExecuTorchVideoGenerator

    pipe, export = guided
    manifest = json.loads((export / "export.json").read_text())
    assert manifest["format"] == "executorch" and manifest["stages"]["guide_encoder"]["file"] == "guide_encoder.pte"
    timings = assert_each_move_matches(pipe, ExecuTorchVideoGenerator(export), photo)  # the guide reached them
    assert set(timings) >= {"encode", "denoise", "decode"}


def test_generate_runtime_executorch_writes_the_video(guided, photo, tmp_path, cli):
    _, export = guided
    out = tmp_path / "video.mp4"
    code, stdout, _ = cli("generate", photo, "-o", out, "--runtime", "executorch", "--export-dir", export,
                          "--steps", "3")
    assert code == 0 and out.stat().st_size > 0 and "ExecuTorch" in stdout
    code, _, err = cli("generate", photo, "-o", tmp_path / "b.mp4", "--runtime", "onnx", "--export-dir", export)
    assert code == 2 and "holds a 'executorch' export, not 'onnx'" in err and len(err.strip().splitlines()) == 1


def test_the_ltx_decoder_is_refused_plainly(tmp_path):
    from mobilei2v.export.executorch import export_executorch

    torch.manual_seed(0)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", default_height=64, default_width=96,
                                      vae_decoder_trained=True)  # no light decoder: the stage is LTX's decoder
    with pytest.raises(ValueError, match="cannot run the decoder"):
        export_executorch(build_stages(pipe, 64, 96, 9)["decoder"], tmp_path / "decoder.pte")
