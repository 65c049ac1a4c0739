"""`export_model`: a model folder → an export folder (three programs and export.json), written atomically."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from ..io.files import atomic_output, check_output
from ..pipeline import MobileI2VPipeline
from .manifest import make_manifest, write_manifest
from .stages import build_stages

# format → (file suffix, the modules it needs, the attention it uses). Core ML takes the Neural-Engine
# rewrites; ONNX and ExecuTorch, which run on CPUs here, keep the original (docs/export.md).
FORMATS = {
    "onnx": (".onnx", ("onnx", "onnxruntime"), "original"),
    "coreml": (".mlpackage", ("coremltools",), "all"),
    "executorch": (".pte", ("executorch",), "original"),
}
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}


def require(runtime: str) -> None:
    """ValueError naming the extra to install unless every package `runtime` needs imports."""
    for module in FORMATS[runtime][1]:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ValueError(f"--format {runtime} needs the {module} package: pip install 'mobilei2v[export]'") from None


def export_model(model: str | Path, output: str | Path, runtime: str, height: int | None = None,
                 width: int | None = None, num_frames: int = 17, precision: str = "fp32",
                 num_inference_steps: int | None = None, overwrite: bool = False, attention: str | None = None) -> dict:
    """Export the model folder `model` for `runtime` ("onnx", "coreml", "executorch") into the folder
    `output`; returns the manifest. Nothing is left at `output` if any step fails. The σ list and the denoiser
    are those a pipeline call with `num_inference_steps` samples with (`MobileI2VPipeline.denoiser_for`)."""
    if runtime not in FORMATS:
        raise ValueError(f"unknown format {runtime!r}: choose from {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be {' or '.join(PRECISIONS)}, got {precision!r}")
    check_output(output, overwrite)
    require(runtime)
    pipe = MobileI2VPipeline.from_pretrained(model, dtype="fp32")  # --precision casts the programs
    if pipe.denoiser_for(num_inference_steps) is pipe.teacher:
        pipe = pipe.with_denoiser(pipe.teacher, default_sigmas=None)
    height, width = height or pipe.config.default_height, width or pipe.config.default_width
    suffix, _, default_attention = FORMATS[runtime]
    attention = attention or default_attention
    # Core ML lowers fp16 itself, keeping the chosen ops in fp32; the others are traced in the precision.
    dtype = torch.float32 if runtime == "coreml" else PRECISIONS[precision]
    stages = build_stages(pipe, height, width, num_frames, attention, dtype)
    with atomic_output(output, overwrite, directory=True) as folder:
        files = {name: name + suffix for name in stages}
        for name, stage in stages.items():
            convert(runtime, stage, folder / files[name], precision)
        manifest = make_manifest(pipe, stages, files, runtime=runtime, precision=precision, height=height,
                                 width=width, num_frames=num_frames, num_inference_steps=num_inference_steps,
                                 attention=attention)
        write_manifest(folder, manifest)
    return manifest


def convert(runtime: str, stage, path: Path, precision: str) -> None:
    if runtime == "onnx":
        from .onnx import export_onnx
        export_onnx(stage, path)
    elif runtime == "coreml":
        from .coreml import export_coreml
        export_coreml(stage, path, precision)
    else:
        from .executorch import export_executorch
        export_executorch(stage, path)
