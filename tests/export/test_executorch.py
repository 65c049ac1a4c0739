"""ExecuTorch: each stage's .pte (XNNPACK where it loads, docs/export.md) runs through `executorch.runtime` here and matches PyTorch."""

import json

import pytest
import torch

from mobilei2v.export.build import export_model
from mobilei2v.export.compare import psnr
from mobilei2v.export.stages import build_stages

pytest.importorskip("executorch")


def test_each_pte_matches_its_pytorch_stage(tiny_model_dir, tiny_pipeline, tmp_path):
    from mobilei2v.export.executorch import ExecuTorchProgram

    out = tmp_path / "et"
    export_model(tiny_model_dir, out, "executorch", height=64, width=96, num_frames=17)
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["stages"]["denoiser"]["backend"] == "xnnpack"
    torch.manual_seed(0)
    for name, stage in build_stages(tiny_pipeline, 64, 96, 17).items():
        inputs = [torch.randn_like(x) for x in stage.inputs.values()]
        if name == "denoiser":
            inputs[1] = torch.tensor([[0.0, 500.0, 500.0]])
        with torch.no_grad():
            expected = stage.module(*inputs)
        got = ExecuTorchProgram(out / manifest["stages"][name]["file"])(*inputs)
        assert psnr(expected, got) >= 60, name
