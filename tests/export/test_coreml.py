"""Core ML: conversion to an ML program works here; prediction needs macOS, so these check what was made:
inputs, outputs, precision (the norms' statistics fp32 in an fp16 program), and that the rewritten module
it was made from equals the original."""

import json

import pytest
import torch

from mobilei2v.export.build import export_model
from mobilei2v.export.compare import psnr
from mobilei2v.export.coreml import FP32_OPS
from mobilei2v.export.stages import build_stages

ct = pytest.importorskip("coremltools")


def _ops(package):
    from coremltools.proto import MIL_pb2

    spec = ct.utils.load_spec(str(package))
    block = spec.mlProgram.functions["main"].block_specializations
    for op in next(iter(block.values())).operations:
        for output in op.outputs:
            yield op.type, MIL_pb2.DataType.Name(output.type.tensorType.dataType)


def test_coreml_fp16_programs_have_the_exported_shapes_and_fp32_norms(tiny_model_dir, tiny_pipeline, tmp_path):
    out = tmp_path / "coreml"
    export_model(tiny_model_dir, out, "coreml", height=64, width=96, num_frames=17, precision="fp16")
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["attention"] == "all"
    for stage in manifest["stages"].values():
        spec = ct.utils.load_spec(str(out / stage["file"]))
        assert {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input} == stage["inputs"]
        assert [o.name for o in spec.description.output] == list(stage["outputs"])
    ops = list(_ops(out / "denoiser.mlpackage"))
    assert any(kind == "conv" and dtype == "FLOAT16" for kind, dtype in ops)
    assert {dtype for kind, dtype in ops if kind in FP32_OPS} == {"FLOAT32"}


def test_the_module_core_ml_converts_equals_the_original(tiny_pipeline):
    rewritten = build_stages(tiny_pipeline, 64, 96, 17, attention="all")["denoiser"]
    original = build_stages(tiny_pipeline, 64, 96, 17)["denoiser"]
    torch.manual_seed(0)
    inputs = [torch.randn_like(x) for x in original.inputs.values()]
    with torch.no_grad():
        assert psnr(original.module(*inputs), rewritten.module(*inputs)) >= 60
