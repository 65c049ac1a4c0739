"""Stages → ONNX files (TorchScript-based exporter: static shapes, opset 17)."""

from __future__ import annotations

from pathlib import Path

import torch

from .stages import Stage

OPSET = 17


def _rms_norm(g, x, normalized_shape, weight, eps):
    """aten::rms_norm over the last axis (ONNX has RMSNormalization only from opset 23, which this
    exporter does not reach): x·rsqrt(mean(x²) + eps)·weight, in the input's precision (fp32 where
    the model casts to it, as `models.attention.RMSNorm` does)."""
    from torch.onnx import symbolic_helper

    eps = symbolic_helper._maybe_get_const(eps, "f")
    eps = 1e-6 if eps is None or not isinstance(eps, float) else eps
    dtype = symbolic_helper._type_utils.JitScalarType.from_value(x).dtype()
    mean_square = g.op("ReduceMean", g.op("Mul", x, x), axes_i=[-1], keepdims_i=1)
    denominator = g.op("Sqrt", g.op("Add", mean_square, g.op("Constant", value_t=torch.tensor(eps, dtype=dtype))))
    y = g.op("Div", x, denominator)
    return y if symbolic_helper._is_none(weight) else g.op("Mul", y, weight)


def export_onnx(stage: Stage, path: Path) -> None:
    import onnx

    torch.onnx.register_custom_op_symbolic("aten::rms_norm", _rms_norm, OPSET)
    with torch.no_grad():
        torch.onnx.export(stage.module, tuple(stage.inputs.values()), str(path), input_names=list(stage.inputs),
                          output_names=[stage.output], opset_version=OPSET, dynamo=False)
    # `movedim(1, -1)` (LTX's resnets) is written as a Transpose with a negative axis, which ONNX forbids
    model = onnx.load(str(path))
    for node in model.graph.node:
        for attribute in node.attribute:
            if node.op_type == "Transpose" and attribute.name == "perm" and min(attribute.ints) < 0:
                rank = len(attribute.ints)
                attribute.ints[:] = [axis % rank for axis in attribute.ints]
    onnx.save(model, str(path))
