"""Image → video through onnxruntime from an export folder (`VideoGenerator` with the ONNX programs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .generator import VideoGenerator
from .manifest import read_manifest


def onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ValueError("the ONNX runtime needs onnxruntime: pip install 'mobilei2v[export]'") from None
    return onnxruntime


class OnnxVideoGenerator(VideoGenerator):
    """The programs of `export_dir` (made by `mobilei2v export --format onnx`) through onnxruntime."""

    def __init__(self, export_dir: str | Path, threads: int | None = None):
        ort = onnxruntime()
        manifest = read_manifest(export_dir, "onnx")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.sessions = {name: ort.InferenceSession(str(Path(export_dir) / stage["file"]), options,
                                                    providers=["CPUExecutionProvider"])
                         for name, stage in manifest["stages"].items()}
        self.dtype = np.float16 if manifest["precision"] == "fp16" else np.float32
        super().__init__(manifest)

    def run(self, stage: str, **inputs: np.ndarray) -> np.ndarray:
        feeds = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in inputs.items()}
        return self.sessions[stage].run(None, feeds)[0].astype(np.float32)
