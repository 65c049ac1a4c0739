"""Stages → ExecuTorch programs (.pte) delegated to XNNPACK; a runner of one through `executorch.runtime`, and
image → video from an export folder of them (`VideoGenerator` with the ExecuTorch programs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .conv3d_as_2d import rewrite_conv3d
from .generator import VideoGenerator
from .manifest import read_manifest
from .rank5_downsampler import rewrite_downsamplers
from .rank5_encoder import rewrite_encoders
from .stages import Stage


def rewrite_for_xnnpack(module: nn.Module) -> nn.Module:
    """`module` as ExecuTorch can run it with XNNPACK (a copy; the original is untouched). XNNPACK delegates
    no 3-D convolution and holds tensors of rank ≤ 6, and the portable kernels, which run what it does not
    take, have no 3-D convolution either: so every Conv3d becomes 2-D convolutions of the frames, and LTX's
    encoder (a rank-8 patchify; LTX-Video 0.9.5's downsamplers at rank 8) is rewritten at rank ≤ 5. Each
    rewrite computes what the original does (docs/export.md)."""
    return rewrite_conv3d(rewrite_encoders(rewrite_downsamplers(module)))


def export_executorch(stage: Stage, path: Path) -> None:
    """Write the stage's .pte, delegated to XNNPACK (`rewrite_for_xnnpack`), and check that it loads:
    XNNPACK's partitioner does not check every limit, and a program past one fails only when loaded."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        program = torch.export.export(rewrite_for_xnnpack(stage.module), tuple(stage.inputs.values()))
    path.write_bytes(to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    try:
        ExecuTorchProgram(path)
    except RuntimeError:
        raise ValueError(f"ExecuTorch's XNNPACK backend cannot run the {path.stem} (an op or tensor rank it "
                         "does not support); export it for onnx or coreml") from None


class ExecuTorchProgram:
    """A .pte's `forward`, called with tensors in its inputs' order."""

    def __init__(self, path: str | Path):
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(Path(path)).load_method("forward")

    def __call__(self, *inputs: torch.Tensor) -> np.ndarray:
        return self.method.execute(list(inputs))[0].numpy()


class ExecuTorchVideoGenerator(VideoGenerator):
    """The programs of `export_dir` (made by `mobilei2v export --format executorch`) through `executorch.runtime`."""

    def __init__(self, export_dir: str | Path):
        try:
            import executorch.runtime  # noqa: F401 - only to say what to install before anything is read
        except ImportError:
            raise ValueError("the ExecuTorch runtime needs executorch: pip install 'mobilei2v[export]'") from None
        manifest = read_manifest(export_dir, "executorch")
        self.programs = {name: ExecuTorchProgram(Path(export_dir) / stage["file"])
                         for name, stage in manifest["stages"].items()}
        self.dtype = torch.float16 if manifest["precision"] == "fp16" else torch.float32
        super().__init__(manifest)

    def run(self, stage: str, **inputs: np.ndarray) -> np.ndarray:
        names = self.manifest["stages"][stage]["inputs"]  # a program takes its inputs by position, in this order
        tensors = [torch.as_tensor(np.ascontiguousarray(inputs[name]), dtype=self.dtype) for name in names]
        return self.programs[stage](*tensors).astype(np.float32)
