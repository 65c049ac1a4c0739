"""`mobilei2v init-model OUT_DIR`: a randomly initialised model folder from presets."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import atomic_output
from ..models.light_decoder import LIGHT_DECODER_PRESETS
from ..models.presets import DENOISER_PRESETS
from ..models.vae import VAE_PRESETS
from ..pipeline import MobileI2VPipeline


def add_parser(commands) -> None:
    p = commands.add_parser(
        "init-model",
        help="write a randomly initialised model folder",
        description="Write a MobileI2VPipeline folder with random weights from named presets: the starting "
                    "point of a training run, or a model to try the commands with (its videos are noise).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("output", type=Path, help="folder to create")
    p.add_argument("--preset", choices=list(DENOISER_PRESETS), default="mobilei2v-270m", help="denoiser")
    p.add_argument("--vae", choices=list(VAE_PRESETS), default="ltx-video", help="VAE configuration")
    p.add_argument("--light-decoder", choices=list(LIGHT_DECODER_PRESETS), default=None,
                   help="also add a light decoder of this configuration")
    p.add_argument("--height", type=int, default=720, help="default output height")
    p.add_argument("--width", type=int, default=1280, help="default output width")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.manual_seed(args.seed)
    pipe = MobileI2VPipeline.from_presets(args.preset, args.vae, args.light_decoder,
                                          default_height=args.height, default_width=args.width)
    with atomic_output(args.output, args.overwrite, directory=True) as tmp:
        pipe.save_pretrained(tmp)
    print(f"wrote {args.output} (denoiser {args.preset}, VAE {args.vae}, light decoder {args.light_decoder})")
    return 0
