"""Stages → Core ML ML programs (.mlpackage) through `torch.export`. Conversion runs anywhere; prediction
needs macOS (docs/export.md gives the commands)."""

from __future__ import annotations

from pathlib import Path

import torch

from .rank5_downsampler import rewrite_downsamplers
from .stages import Stage

# The MIL ops of an RMSNorm's statistics (and of the LayerNorms'): x², its mean, the reciprocal root. In an
# fp16 program they stay fp32: fp16 overflows at 65,504, which a sum of squares passes for activations
# above ~15 over 288 channels; everything else is fp16.
FP32_OPS = frozenset({"pow", "reduce_mean", "rsqrt", "layer_norm"})
MINIMUM_TARGET = "iOS17"


def to_fp16(op) -> bool:
    """coremltools' op selector: True for the ops that become fp16."""
    return op.op_type not in FP32_OPS


def drop_aliases(program: torch.export.ExportedProgram) -> None:
    """Remove `aten.alias` nodes (views that change nothing, left by slicing a whole axis) and spell
    `aten.concatenate` as `aten.cat`: coremltools 9 converts neither."""
    graph = program.graph_module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target == torch.ops.aten.concatenate.default:
            node.target = torch.ops.aten.cat.default
        elif node.op == "call_function" and node.target == torch.ops.aten.alias.default:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    program.graph_module.recompile()


def drop_empty_concatenands(program: torch.export.ExportedProgram) -> None:
    """Remove empty tensors from concatenations, and the ops that made only them. diffusers' LTX causal
    convolution pads in time by repeating the first frame kernel_t − 1 times, zero times for its 1×1×1
    shortcuts (and its downsampler without a temporal stride prepends 0 frames); coremltools 9 refuses a
    repeat by zero ("All entries of reps parameter must be greater than 0"). The padding is diffusers'
    code, so it is cut here, from the graph; a concatenation is the same without its empty parts."""
    graph = program.graph_module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target == torch.ops.aten.cat.default:
            parts = [part for part in node.args[0] if part.meta["val"].numel()]
            if len(parts) == 1:
                node.replace_all_uses_with(parts[0])
                graph.erase_node(node)
            elif parts:
                node.args = (parts, *node.args[1:])
    graph.eliminate_dead_code()
    program.graph_module.recompile()


def export_coreml(stage: Stage, path: Path, precision: str) -> None:
    import coremltools as ct

    module = rewrite_downsamplers(stage.module)  # Core ML's rank limit; ONNX keeps the original
    with torch.no_grad():
        program = torch.export.export(module, tuple(stage.inputs.values())).run_decompositions({})
    drop_aliases(program)
    drop_empty_concatenands(program)
    try:
        model = _convert(ct, program, stage, precision)
    except ValueError as err:  # coremltools' op converters raise ValueError for what they cannot lower
        raise ValueError(f"coremltools cannot convert the {stage.output} stage's program: {err} "
                         "(docs/export.md: what converts today)") from None
    model.save(str(path))


def _convert(ct, program, stage: Stage, precision: str):
    return ct.convert(
        program,
        convert_to="mlprogram",
        inputs=[ct.TensorType(name=name, shape=tuple(x.shape)) for name, x in stage.inputs.items()],
        outputs=[ct.TensorType(name=stage.output)],
        compute_precision=(ct.transform.FP16ComputePrecision(op_selector=to_fp16) if precision == "fp16"
                           else ct.precision.FLOAT32),
        minimum_deployment_target=getattr(ct.target, MINIMUM_TARGET),
        skip_model_load=True,  # loading compiles for a device: macOS only
    )
