"""`mobilei2v train` (the denoiser) and `mobilei2v train-decoder` (the light decoder, a small encoder)."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = {
    "train": (
        "train the denoiser (rectified flow)",
        "Train the denoiser from cached latents (`mobilei2v data encode`) or from videos, with the settings "
        "of a YAML file (see configs/train-example.yaml). Runs on one CPU as is; under `accelerate launch` or "
        "`torchrun` the same command trains on several GPUs or nodes. Checkpoints go to OUTPUT_DIR/checkpoints; "
        "the final EMA model to OUTPUT_DIR/final.",
    ),
    "train-decoder": (
        "distil the light decoder, or train an encoder + light decoder from scratch",
        "mode distill: the light decoder learns from a frozen teacher VAE (L1 to the real clips + the teacher "
        "decoder's intermediate features, as Turbo-VAED). mode scratch: a small LTX-style encoder and the light "
        "decoder learn together. Writes OUTPUT_DIR/final/light_decoder (and /vae); `mobilei2v init-model --vae "
        "... --light-decoder ...` puts them in a model. See configs/train-decoder-example.yaml.",
    ),
}


def add_parser(commands) -> None:
    for name, (summary, description) in COMMANDS.items():
        p = commands.add_parser(name, help=summary, description=description)
        p.add_argument("--config", type=Path, required=True, help="training configuration (YAML)")
        p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
        p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training.config import DecoderTrainConfig, TrainConfig, load_config
    from ..training.decoder import DecoderTrainer
    from ..training.trainer import DenoiserTrainer, TrainingError

    kind, trainer = (TrainConfig, DenoiserTrainer) if args.command == "train" else (DecoderTrainConfig, DecoderTrainer)
    config = load_config(args.config, kind)  # every key is checked before any work starts
    try:
        trainer(config).train(resume=args.resume)
    except TrainingError as err:
        raise ValueError(str(err)) from None
    return 0
