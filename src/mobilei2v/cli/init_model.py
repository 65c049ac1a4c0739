"""`mobilei2v init-model OUT_DIR`: a randomly initialised model folder from presets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io.files import atomic_output
from ..models.light_decoder import LIGHT_DECODER_PRESETS
from ..models.presets import DENOISER_PRESETS
from ..models.vae import VAE_PRESETS
from ..pipeline import MobileI2VPipeline
from .arguments import HelpFormatter, seed


def add_parser(commands) -> None:
    p = commands.add_parser(
        "init-model",
        help="assemble a model folder from presets or trained parts",
        description="Write a MobileI2VPipeline folder from parts, each a named preset (random weights) or a "
                    "saved model folder (e.g. `train-decoder`'s final/vae and final/light_decoder): the "
                    "starting point of a training run, or, all presets, a model to try the commands with "
                    "(its videos are noise).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("output", type=Path, help="folder to create")
    p.add_argument("--preset", default="mobilei2v-270m",
                   help=f"denoiser: {' | '.join(DENOISER_PRESETS)} or a denoiser folder")
    p.add_argument("--denoiser-option", action="append", default=[], metavar="KEY=VALUE", type=option,
                   help="a denoiser constructor argument, VALUE in JSON (repeatable); for a saved denoiser, only "
                        "switches that add weights, e.g. camera_condition=true (docs/shipped-model.md)")
    p.add_argument("--vae", default="ltx-video", help=f"VAE: {' | '.join(VAE_PRESETS)} or a VAE folder")
    p.add_argument("--light-decoder", default=None,
                   help=f"also add a light decoder: {' | '.join(LIGHT_DECODER_PRESETS)} or a folder")
    p.add_argument("--untrained-vae-decoder", action="store_true",
                   help="the VAE's own decoder was never trained (train-decoder mode scratch): the model "
                        "decodes with the light decoder only and refuses the VAE decoder")
    p.add_argument("--teacher", default=None,
                   help="a distilled student's teacher (a denoiser folder of the same architecture): it samples "
                        "when a user asks for --steps (docs/distillation.md)")
    p.add_argument("--sigmas", type=float, nargs="+", default=None,
                   help="the student's own noise levels, sampled by default (a distilled model's default_sigmas)")
    p.add_argument("--height", type=int, default=720, help="default output height")
    p.add_argument("--width", type=int, default=1280, help="default output width")
    p.add_argument("--seed", type=seed, default=0, help="initialisation seed")
    p.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32",
                   help="precision of the saved weights; fp16 halves the files (loading casts them to the "
                        "loader's --dtype: auto, fp32 or bf16)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(run=run)


def option(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE in JSON (true, 3, "linear"), for argparse."""
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return key, json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with VALUE in JSON (e.g. camera_condition=true), "
                                         f"got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import torch

    torch.manual_seed(args.seed)
    pipe = MobileI2VPipeline.assemble(args.preset, args.vae, args.light_decoder,
                                      denoiser_options=dict(args.denoiser_option), teacher=args.teacher,
                                      default_height=args.height, default_width=args.width,
                                      vae_decoder_trained=not args.untrained_vae_decoder, default_sigmas=args.sigmas)
    if args.dtype == "fp16":
        for module in (pipe.denoiser, pipe.vae, pipe.light_decoder, pipe.teacher):
            if module is not None:
                torch.nn.Module.to(module, torch.float16)  # torch's `to`: diffusers' warns about fp32 modules
    with atomic_output(args.output, args.overwrite, directory=True) as tmp:
        pipe.save_pretrained(tmp)
    extras = "".join(f", {name} {value}" for name, value in (("teacher", args.teacher), ("own sigmas", args.sigmas))
                     if value is not None)
    print(f"wrote {args.output} (denoiser {args.preset}, VAE {args.vae}, light decoder {args.light_decoder}{extras})")
    return 0
