"""Stages → ExecuTorch programs (.pte) delegated to XNNPACK, and a runner through `executorch.runtime`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .stages import Stage


def export_executorch(stage: Stage, path: Path) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        program = torch.export.export(stage.module, tuple(stage.inputs.values()))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(lowered.buffer)


class ExecuTorchProgram:
    """A .pte's `forward`, called with tensors in its inputs' order."""

    def __init__(self, path: str | Path):
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(Path(path)).load_method("forward")

    def __call__(self, *inputs: torch.Tensor) -> np.ndarray:
        return self.method.execute(list(inputs))[0].numpy()
