"""`mobilei2v distill [prepare] --config CONFIG.yaml`: a 1–2-step student from a frozen teacher."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands) -> None:
    p = commands.add_parser(
        "distill",
        help="distil a model to 1-2 sampling steps (regression, adversarial, distribution matching)",
        description="Distil the teacher model folder of a YAML file (see configs/distill/shipped-2step.yaml) into "
                    "a student that samples with its own 1-2 noise levels. First `mobilei2v distill prepare "
                    "--config CONFIG` runs the teacher once over every stage's clips and caches its results "
                    "(resumable: only missing shards are made); then `mobilei2v distill --config CONFIG` trains "
                    "on one CPU, or under `accelerate launch` / `torchrun` on several GPUs. Checkpoints go to "
                    "OUTPUT_DIR/checkpoints; the student, its noise levels saved as the model's default, to "
                    "OUTPUT_DIR/final. See docs/distillation.md.",
    )
    p.add_argument("action", nargs="?", choices=("prepare",),
                   help="prepare: cache the teacher's results for every stage; leave out to train")
    p.add_argument("--config", type=Path, required=True, help="distillation configuration (YAML)")
    p.add_argument("--resume", action="store_true",
                   help="continue training from the newest checkpoint in output_dir (prepare always continues "
                        "where it stopped)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training.config import DistillConfig, load_config
    from ..training.distill import DistillTrainer, prepare
    from ..training.trainer import TrainingError

    if args.action == "prepare" and args.resume:
        raise ValueError("--resume is for training: prepare always continues where it stopped")
    config = load_config(args.config, DistillConfig)  # every key is checked before any work starts
    if args.action == "prepare":
        prepare(config)
        return 0
    try:
        DistillTrainer(config).train(resume=args.resume)
    except TrainingError as err:
        raise ValueError(str(err)) from None
    return 0
