"""ExecuTorch: the denoiser step's XNNPACK .pte runs through `executorch.runtime` here and matches PyTorch;
the encoder and decoder (3-D convolutions) are refused with one line."""

import pytest
import torch

from mobilei2v.export.compare import psnr
from mobilei2v.export.stages import build_stages

pytest.importorskip("executorch")


def test_the_denoiser_pte_matches_pytorch(tiny_pipeline, tmp_path):
    from mobilei2v.export.executorch import ExecuTorchProgram, export_executorch

    stage = build_stages(tiny_pipeline, 64, 96, 17)["denoiser"]
    export_executorch(stage, tmp_path / "denoiser.pte")
    torch.manual_seed(0)
    inputs = [torch.randn_like(stage.inputs["latents"]), torch.tensor([[0.0, 500.0, 500.0]]), torch.tensor([2.0])]
    with torch.no_grad():
        expected = stage.module(*inputs)
    assert psnr(expected, ExecuTorchProgram(tmp_path / "denoiser.pte")(*inputs)) >= 60


def test_the_encoder_is_refused_plainly(tiny_pipeline, tmp_path):
    from mobilei2v.export.executorch import export_executorch

    with pytest.raises(ValueError, match="cannot run the encoder"):
        export_executorch(build_stages(tiny_pipeline, 64, 96, 17)["encoder"], tmp_path / "encoder.pte")
