"""`mobilei2v generate IMAGE -o OUT.mp4`: animate one image."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..diffusion.sampler import check_sigmas
from ..io.files import check_output
from ..io.images import load_image
from ..io.video import VIDEO_SUFFIXES, check_fps, write_video
from ..measures.motion import CAMERA_MOVES
from ..models.geometry import LatentGeometry
from ..pipeline import SHIPPED_MODEL, MobileI2VPipeline, check_fits_in_memory, check_motion_scores
from .arguments import HelpFormatter, add_dtype, add_schedule, seed

# --runtime of an export folder → the name printed with the video
EXPORT_RUNTIMES = {"onnx": "onnxruntime", "executorch": "ExecuTorch"}


def add_parser(commands) -> None:
    p = commands.add_parser(
        "generate",
        help="make a video from an image",
        description="Animate IMAGE into a short video: encode it, run the flow sampler, decode, write "
                    "an H.264 .mp4 (or a .gif) at the model's frame rate.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("image", type=Path, help="input image (any format Pillow reads)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output video, .mp4 or .gif")
    p.add_argument("--model", type=Path, default=SHIPPED_MODEL,
                   help="a MobileI2VPipeline folder (default: the small model shipped with the package)")
    p.add_argument("--motion", type=float, default=2.0,
                   help="motion score: the optical-flow magnitude to aim for (typical 1-10; higher moves more)")
    p.add_argument("--camera", type=camera_argument, default=None, metavar="MOVE",
                   help="for a model that takes a camera move (a camera condition or a guide), its direction: "
                        f"{', '.join(CAMERA_MOVES)}; or 4 numbers PAN_X,PAN_Y,ZOOM,ROLL (only their direction "
                        "counts: --motion says how far); any lets the model choose, or for a guided model picks as "
                        "the default does (default: a pan or zoom picked by --seed)")
    add_schedule(p)
    p.add_argument("--frames", type=int, default=None,
                   help="number of frames: k·t+1 for a VAE that compresses time t× (8k+1 for LTX-Video's) "
                        "(default: 17, or the export's)")
    p.add_argument("--height", type=int, default=None, help="output height, a multiple of 8 (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="output width, a multiple of 8 (default: the model's)")
    p.add_argument("--seed", type=seed, default=0, help="random seed; the same seed gives the same video")
    p.add_argument("--decoder", choices=("ltx", "light"), default=None,
                   help="LTX VAE decoder or the light decoder (default: light when the model has one)")
    add_dtype(p)
    p.add_argument("--compile", action="store_true",
                   help="run the denoiser compiled by torch.compile (inductor): each step slightly faster, but the "
                        "first step waits for a one-off compile, printed with its seconds: once per size in each "
                        "process, much shorter when an earlier run compiled that size (inductor keeps an on-disk "
                        "cache). With one video per process it rarely pays: the measured cost and gain are in "
                        "docs/performance.md")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the file (default: the model's)")
    p.add_argument("--runtime", choices=("torch", *EXPORT_RUNTIMES), default="torch",
                   help="onnx, executorch: run the programs of --export-dir through onnxruntime or ExecuTorch "
                        "(XNNPACK), no PyTorch model")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="a folder made by `mobilei2v export --format onnx|executorch` (with --runtime of that format)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Everything that can be checked cheaply is checked before the model is loaded.
    if args.output.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"output must end in {' or '.join(VIDEO_SUFFIXES)}, got {args.output.name}")
    check_output(args.output, args.overwrite)
    check_motion_scores(args.motion)
    if args.fps is not None:
        check_fps(args.fps, "--fps")
    if args.sigmas:
        check_sigmas(args.sigmas)
    image = load_image(args.image)
    if (args.runtime != "torch") != (args.export_dir is not None):
        raise ValueError(f"--runtime {'|'.join(EXPORT_RUNTIMES)} and --export-dir go together")
    if args.compile and args.runtime != "torch":
        raise ValueError(f"--compile compiles the PyTorch model; --runtime {args.runtime} runs none")
    if args.runtime != "torch":
        return run_export(args, image)
    args.frames = args.frames or 17
    LatentGeometry(temporal=1).check(args.frames, args.height, args.width)  # the frame rule needs the model
    if args.height and args.width:
        check_fits_in_memory(args.frames, args.height, args.width)

    pipe = MobileI2VPipeline.from_pretrained(args.model, dtype=args.dtype)
    print(f"precision: {pipe.precision}")
    if args.compile:
        pipe.compile()
    height = args.height or pipe.config.default_height
    width = args.width or pipe.config.default_width
    pipe.geometry.check(args.frames, height, width)
    if (image.height, image.width) != (height, width):
        print(f"resizing and centre-cropping the {image.width}x{image.height} image to {width}x{height}")

    steps = pipe.sampling_schedule(args.steps, args.sigmas)[0]
    out = pipe(image, motion_score=args.motion, camera=args.camera, num_frames=args.frames, height=height,
               width=width, num_inference_steps=args.steps, sigmas=args.sigmas,
               generator=torch.Generator().manual_seed(args.seed), decoder=args.decoder)
    write_video(args.output, out.frames[0], args.fps or pipe.config.frame_rate, overwrite=args.overwrite)
    t = out.timings
    camera = f", camera {out.cameras[0]}" if out.cameras else ""
    print(f"wrote {args.output} ({args.frames} frames, {width}x{height}{camera})")
    print_timings(t, steps)
    return 0


def run_export(args: argparse.Namespace, image) -> int:
    if args.runtime == "onnx":
        from ..export.runtime_onnx import OnnxVideoGenerator as Generator
    else:
        from ..export.executorch import ExecuTorchVideoGenerator as Generator

    generator = Generator(args.export_dir)
    m = generator.manifest
    for option, value in (("frames", args.frames), ("height", args.height), ("width", args.width)):
        exported = m["num_frames" if option == "frames" else option]
        if value is not None and value != exported:
            raise ValueError(f"the export in {args.export_dir} makes {exported} {option}, not {value}: "
                             f"export again with --{option} {value}")
    frames, t = generator(image, args.motion, args.steps, args.sigmas, torch.Generator().manual_seed(args.seed),
                          camera=args.camera)
    write_video(args.output, frames, args.fps or m["frame_rate"], overwrite=args.overwrite)
    steps = len(args.sigmas) if args.sigmas else args.steps or m["num_inference_steps"]
    print(f"wrote {args.output} ({m['num_frames']} frames, {m['width']}x{m['height']}, "
          f"{EXPORT_RUNTIMES[args.runtime]})")
    print_timings(t, steps)
    return 0


def camera_argument(text: str) -> str | tuple[float, ...]:
    """--camera: a move's name (checked by the pipeline, which knows the model) or 4 comma-separated numbers."""
    if "," not in text:
        return text
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a move's name or 4 numbers PAN_X,PAN_Y,ZOOM,ROLL, got {text!r}") from None


def print_timings(t: dict[str, float], steps: int) -> None:
    print(f"seconds: encode {t['encode']:.2f} | denoise {t['denoise']:.2f} ({steps} steps, "
          f"{t['denoise_per_step']:.2f}/step) | decode {t['decode']:.2f} | total {t['total']:.2f}")
