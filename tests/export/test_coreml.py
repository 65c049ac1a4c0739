"""Core ML: conversion to an ML program works here; prediction needs macOS, so these check what was made:
the three programs, their inputs and outputs against export.json, precision (the norms' statistics fp32
in an fp16 program), and that the rewritten module it was made from equals the original."""

import json

import pytest
import torch
from diffusers import AutoencoderKLLTXVideo

from mobilei2v.export import coreml
from mobilei2v.export.build import export_model
from mobilei2v.export.compare import psnr
from mobilei2v.export.stages import EncoderStage, Stage, build_stages
from mobilei2v.models.vae import VAE_PRESETS

ct = pytest.importorskip("coremltools")


@pytest.fixture(scope="module")
def coreml_export(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("coreml") / "export"
    export_model(tiny_model_dir, out, "coreml", height=64, width=96, num_frames=17, precision="fp16")
    return out


def _spec(package):
    return ct.utils.load_spec(str(package))


def _op_types(spec):
    """(op type, output dtype name) of every op of the program's main function."""
    block = next(iter(spec.mlProgram.functions["main"].block_specializations.values()))
    return {(op.type, ct.proto.MIL_pb2.DataType.Name(output.type.tensorType.dataType))
            for op in block.operations for output in op.outputs}


def test_the_export_writes_three_programs_and_export_json(coreml_export):
    assert sorted(p.name for p in coreml_export.iterdir()) == ["decoder.mlpackage", "denoiser.mlpackage",
                                                               "encoder.mlpackage", "export.json"]


def test_each_programs_input_and_output_names_and_shapes_are_export_jsons(coreml_export):
    manifest = json.loads((coreml_export / "export.json").read_text())
    assert manifest["latent_shape"] == [1, 16, 3, 2, 3]
    for stage in manifest["stages"].values():
        description = _spec(coreml_export / stage["file"]).description
        assert {x.name: list(x.type.multiArrayType.shape) for x in description.input} == stage["inputs"]
        assert {x.name: list(x.type.multiArrayType.shape) for x in description.output} == stage["outputs"]


def test_an_fp16_program_computes_in_fp16_but_the_norm_statistics(coreml_export):
    for name in ("encoder", "denoiser", "decoder"):
        ops = _op_types(_spec(coreml_export / f"{name}.mlpackage"))
        assert {op for op, _ in ops} >= {"pow", "reduce_mean", "rsqrt"}, name  # every stage has RMSNorms
        assert {dtype for op, dtype in ops if op in coreml.FP32_OPS} == {"FLOAT32"}, name
        assert {dtype for op, dtype in ops if op in {"conv", "linear", "matmul"}} == {"FLOAT16"}, name


def test_an_encoder_with_ltx_095_downsamplers_converts(tmp_path):
    # the shipped model's kind of encoder (the tiny model's downsamples by strided convolutions)
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(**VAE_PRESETS["tiny-per-frame"]).eval()
    stage = Stage(EncoderStage(vae), {"image": torch.zeros(1, 3, 64, 96)}, "reference_latent")
    coreml.export_coreml(stage, tmp_path / "encoder.mlpackage", "fp32")
    assert [x.name for x in _spec(tmp_path / "encoder.mlpackage").description.output] == ["reference_latent"]


def test_a_stage_coremltools_cannot_convert_is_named(tiny_pipeline, tmp_path, monkeypatch):
    def refuse(*args):
        raise ValueError("no such op")

    monkeypatch.setattr(coreml, "_convert", refuse)
    stage = build_stages(tiny_pipeline, 64, 96, 17)["encoder"]
    with pytest.raises(ValueError, match="cannot convert the reference_latent stage's program: no such op"):
        coreml.export_coreml(stage, tmp_path / "encoder.mlpackage", "fp16")


def test_the_module_core_ml_converts_equals_the_original(tiny_pipeline):
    rewritten = build_stages(tiny_pipeline, 64, 96, 17, attention="all")["denoiser"]
    original = build_stages(tiny_pipeline, 64, 96, 17)["denoiser"]
    torch.manual_seed(0)
    inputs = [torch.randn_like(x) for x in original.inputs.values()]
    with torch.no_grad():
        assert psnr(original.module(*inputs), rewritten.module(*inputs)) >= 60


def test_a_denoiser_with_qk_norm_in_its_softmax_blocks_converts_its_norms_safe_from_fp16_overflow(coreml_export,
                                                                                                 tmp_path):
    """`softmax_qk_norm` (a distilled student's) adds two RMSNorms to each softmax block, which the Neural-Engine
    rewrites leave as PyTorch's `rms_norm`. coremltools converts that op dividing x by its largest |x| first, so
    no square passes 1 and fp16 cannot overflow; the mean of the squares is fp32 as every norm's."""
    from mobilei2v import MobileI2VPipeline

    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny", default_height=64,
                                      default_width=96, denoiser_options={"softmax_qk_norm": True})
    pipe.save_pretrained(tmp_path / "model")
    export_model(tmp_path / "model", tmp_path / "export", "coreml", height=64, width=96, num_frames=17,
                 precision="fp16")

    def count(folder, op_type, dtype):
        block = next(iter(_spec(folder / "denoiser.mlpackage").mlProgram.functions["main"]
                          .block_specializations.values()))
        return sum(op.type == op_type and ct.proto.MIL_pb2.DataType.Name(op.outputs[0].type.tensorType.dataType)
                   == dtype for op in block.operations)

    new_norms = 2 * pipe.denoiser.config.attention_types.count("softmax")
    assert count(tmp_path / "export", "reduce_max", "FLOAT16") - count(coreml_export, "reduce_max", "FLOAT16") \
        == new_norms  # the scaling by the largest |x|
    assert count(tmp_path / "export", "reduce_mean", "FLOAT32") - count(coreml_export, "reduce_mean", "FLOAT32") \
        == new_norms
