"""`mobilei2v evaluate`: measure a model on the held-out photos and print the table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..files import atomic_output
from ..pipeline import SHIPPED_MODEL, load_pipeline


def add_parser(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="measure a model on held-out photos",
        description="Animate the held-out photos (real photos shipped inside scikit-image and scikit-learn, "
                    "never trained on) at a sweep of motion scores, and print one table: (a) VAE round-trip "
                    "PSNR, (b) frame-0 fidelity, (c) motion control (Spearman rho of requested vs measured "
                    "motion), (d) motion-compensated consecutive-frame PSNR and flicker; for the generated "
                    "videos, the input image repeated, and ground-truth camera clips of the same photos.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="a MobileI2VPipeline folder (default: the shipped model)")
    p.add_argument("--photos", type=int, default=None, help="use only the first N held-out photos (default: all 15)")
    p.add_argument("--scores", type=float, nargs="+", default=None,
                   help="requested motion scores of the sweep (default: 0.5 1 2 3 4 6)")
    p.add_argument("--steps", type=int, default=30, help="Euler steps")
    p.add_argument("--sigmas", type=float, nargs="+", default=None, help="explicit noise levels (overrides --steps)")
    p.add_argument("--frames", type=int, default=17, help="frames per video, 8k+1")
    p.add_argument("--seed", type=int, default=0, help="random seed (pan directions and sampling noise)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure and per-video measure here")
    p.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data.holdout import holdout_paths
    from ..evaluation.image_to_video import DEFAULT_SCORES, evaluate, format_table

    if args.json is not None and args.json.exists() and not args.overwrite:
        raise FileExistsError(f"{args.json} exists; pass --overwrite to replace it")
    photos = holdout_paths()
    if args.photos is not None:
        if not 1 <= args.photos <= len(photos):
            raise ValueError(f"--photos must be 1 to {len(photos)}, got {args.photos}")
        photos = photos[:args.photos]
    scores = args.scores or list(DEFAULT_SCORES)
    if len(scores) < 2 or min(scores) < 0:
        raise ValueError("--scores: give at least two motion scores, none negative")
    pipe = load_pipeline(args.model)
    report = evaluate(pipe, photos, scores, num_frames=args.frames, steps=args.steps, sigmas=args.sigmas,
                      seed=args.seed)
    print(f"{len(photos)} held-out photos x {len(scores)} motion scores, {args.frames} frames at "
          f"{report.width}x{report.height}, {report.steps} steps")
    print(format_table(report))
    curve = report.motion_curve("generated")
    print("requested -> measured motion: " + ", ".join(f"{s:g} -> {m:.2f}" for s, m in curve.items()))
    if args.json is not None:
        with atomic_output(args.json, overwrite=args.overwrite) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=1))
        print(f"wrote {args.json}")
    return 0
