"""Stages → ExecuTorch programs (.pte) delegated to XNNPACK, and a runner through `executorch.runtime`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .stages import Stage


def export_executorch(stage: Stage, path: Path) -> str:
    """Write the stage's .pte, delegated to XNNPACK; returns the backend that runs it. XNNPACK takes
    tensors of rank ≤ 6, and its partitioner does not check: LTX's encoder patchifies through an 8-D
    reshape, and its XNNPACK program fails to load. Such a stage is written with ExecuTorch's portable
    CPU kernels instead ("portable": it runs everywhere, slower)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        program = torch.export.export(stage.module, tuple(stage.inputs.values()))
    for backend, partitioners in (("xnnpack", [XnnpackPartitioner()]), ("portable", [])):
        path.write_bytes(to_edge_transform_and_lower(program, partitioner=partitioners).to_executorch().buffer)
        try:
            ExecuTorchProgram(path)
            return backend
        except RuntimeError:
            continue
    raise ValueError(f"ExecuTorch cannot load the {path.stem} program it wrote")


class ExecuTorchProgram:
    """A .pte's `forward`, called with tensors in its inputs' order."""

    def __init__(self, path: str | Path):
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(Path(path)).load_method("forward")

    def __call__(self, *inputs: torch.Tensor) -> np.ndarray:
        return self.method.execute(list(inputs))[0].numpy()
