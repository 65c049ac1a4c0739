"""`mobilei2v convert-official CKPT OUT_DIR`: the authors' checkpoint → a diffusers-format folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..diffusion.sampler import make_scheduler
from ..io.files import atomic_output, check_output
from ..models.official import convert_official, load_official_state_dict
from ..models.registry import build, load
from ..pipeline import MobileI2VPipeline


def add_parser(commands) -> None:
    p = commands.add_parser(
        "convert-official",
        help="convert the authors' MobileI2V checkpoint",
        description="Load a checkpoint in the authors' layout (Mobiledit_300M_P1_D16 .pth), check every "
                    "tensor name and shape, and write it as a diffusers-format denoiser folder, or, with "
                    "--vae, as a complete MobileI2VPipeline folder that `generate --model` takes.",
    )
    p.add_argument("checkpoint", type=Path, help="the authors' .pth file")
    p.add_argument("output", type=Path, help="folder to create")
    p.add_argument("--vae", type=Path, default=None,
                   help="a local diffusers-format LTX-Video VAE folder (AutoencoderKLLTXVideo, or a model folder) to bundle")
    p.add_argument("--light-decoder", type=Path, default=None,
                   help="a LightDecoder folder to bundle (or a preset name, for one to train)")
    p.add_argument("--use-ema", action="store_true", help="take the checkpoint's EMA weights")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.output, args.overwrite, directory=True)
    if args.light_decoder and not args.vae:
        raise ValueError("--light-decoder needs --vae (a pipeline folder needs the VAE's encoder)")
    denoiser = convert_official(load_official_state_dict(args.checkpoint, args.use_ema))
    with atomic_output(args.output, args.overwrite, directory=True) as tmp:
        if args.vae:
            light = build("light_decoder", str(args.light_decoder)) if args.light_decoder else None
            pipe = MobileI2VPipeline(denoiser, load("vae", args.vae), make_scheduler(), light)
            pipe.save_pretrained(tmp)
        else:
            denoiser.save_pretrained(tmp)
    n = sum(p.numel() for p in denoiser.parameters())
    print(f"wrote {args.output}: {'pipeline' if args.vae else 'denoiser'} with {n:,} denoiser parameters")
    return 0
