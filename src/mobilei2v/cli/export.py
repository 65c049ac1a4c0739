"""`mobilei2v export MODEL_DIR --format coreml|onnx|executorch -o OUT_DIR`: the three on-device programs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.files import check_output
from .arguments import HelpFormatter


def add_parser(commands) -> None:
    p = commands.add_parser(
        "export",
        help="export a model for a phone or another runtime",
        description="Write a model's encoder, one denoiser step and decoder as three static-shape programs "
                    "for Core ML, ONNX Runtime or ExecuTorch (XNNPACK), and export.json, which says how to "
                    "drive them (docs/export.md). Needs: pip install 'mobilei2v[export]'.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("model", type=Path, help="a MobileI2VPipeline folder")
    p.add_argument("--format", required=True, choices=("coreml", "onnx", "executorch"), help="target runtime")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to create")
    p.add_argument("--height", type=int, default=None, help="video height (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="video width (default: the model's)")
    p.add_argument("--frames", type=int, default=17, help="number of frames (the model's frame rule)")
    p.add_argument("--steps", type=int, default=None,
                   help="Euler steps of the σ list written to export.json (default: the model's own: a distilled "
                        "student's σ list, else 30). A student that carries its teacher exports the teacher for it")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                   help="fp16: Core ML keeps the norms' statistics in fp32; ONNX and ExecuTorch trace in fp16")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export.build import export_model, require

    check_output(args.output, args.overwrite)
    require(args.format)
    manifest = export_model(args.model, args.output, args.format, args.height, args.width, args.frames,
                            args.precision, args.steps, args.overwrite)
    files = ", ".join(stage["file"] for stage in manifest["stages"].values())
    print(f"wrote {args.output}: {files}, export.json ({manifest['num_frames']} frames, "
          f"{manifest['width']}x{manifest['height']}, {args.precision})")
    return 0
