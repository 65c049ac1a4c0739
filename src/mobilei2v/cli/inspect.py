"""`mobilei2v inspect`: what a preset or a model folder contains."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..models.presets import DENOISER_PRESETS
from ..models.registry import build
from ..pipeline import MobileI2VPipeline


def add_parser(commands) -> None:
    p = commands.add_parser(
        "inspect",
        help="describe a denoiser preset or a model folder",
        description="Print the denoiser's parameter count, attention layout and sizes.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=list(DENOISER_PRESETS), help="a named denoiser configuration")
    source.add_argument("--model", type=Path, help="a MobileI2VPipeline folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def describe(denoiser) -> dict:
    config = denoiser.config
    return {
        "params": sum(p.numel() for p in denoiser.parameters()),
        "attention": list(config.attention_types),
        "hidden_size": config.hidden_size,
        "depth": len(config.attention_types),
        "num_heads": config.num_heads,
        "ffn_hidden_size": config.ffn_hidden_size,
        "latent_channels": config.in_channels,
    }


def run(args: argparse.Namespace) -> int:
    if args.preset:
        with torch.device("meta"):  # count parameters without allocating them
            info = {"preset": args.preset, **describe(build("denoiser", args.preset))}
    else:
        pipe = MobileI2VPipeline.from_pretrained(args.model, dtype="fp32")
        info = {"model": str(args.model), **describe(pipe.denoiser),
                "vae_params": sum(p.numel() for p in pipe.vae.parameters()),
                "light_decoder_params": sum(p.numel() for p in pipe.light_decoder.parameters())
                if pipe.light_decoder is not None else None,
                "default_size": [pipe.config.default_height, pipe.config.default_width]}
    if args.json:
        print(json.dumps(info))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0
