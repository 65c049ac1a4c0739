"""Stages → ExecuTorch programs (.pte) delegated to XNNPACK, and a runner through `executorch.runtime`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .stages import Stage


def export_executorch(stage: Stage, path: Path) -> None:
    """Write the stage's .pte, delegated to XNNPACK, and check that it loads. XNNPACK takes no Conv3d and
    tensors of rank ≤ 6 only, and its partitioner does not always check: LTX's encoder (Conv3d, an 8-D
    patchify) fails to load; ExecuTorch's portable kernels do not run Conv3d either (3-D/4-D inputs)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        program = torch.export.export(stage.module, tuple(stage.inputs.values()))
    path.write_bytes(to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    try:
        ExecuTorchProgram(path)
    except RuntimeError:
        raise ValueError(f"ExecuTorch's XNNPACK backend cannot run the {path.stem} (3-D convolutions or tensors "
                         "of rank above 6); export it for onnx or coreml") from None


class ExecuTorchProgram:
    """A .pte's `forward`, called with tensors in its inputs' order."""

    def __init__(self, path: str | Path):
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(Path(path)).load_method("forward")

    def __call__(self, *inputs: torch.Tensor) -> np.ndarray:
        return self.method.execute(list(inputs))[0].numpy()
