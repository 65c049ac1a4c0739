"""`mobilei2v evaluate`: measure a model on the held-out photos and print the table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..diffusion.sampler import check_sigmas
from ..io.files import atomic_output, check_output
from ..pipeline import SHIPPED_MODEL, MobileI2VPipeline, check_motion_scores
from .arguments import HelpFormatter, add_dtype, add_schedule, seed


def add_parser(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="measure a model on held-out photos",
        description="Animate the held-out photos (real photos shipped inside scikit-image and scikit-learn, "
                    "never trained on) at a sweep of motion scores, and print one table: (a) VAE round-trip "
                    "PSNR, (b) frame-0 fidelity, (c) motion control (Spearman rho of requested vs measured "
                    "motion), (d) motion-compensated consecutive-frame PSNR and flicker, (e) what a viewer "
                    "sees: motion evenness, warp fidelity (is each frame the photo, moved), sharpness and "
                    "blockiness; for the generated videos, the input image repeated, ground-truth camera "
                    "clips of the same photos, and those clips through the model's autoencoder. The table "
                    "is printed for the whole sweep and for motion scores 2 and 4.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="a MobileI2VPipeline folder (default: the shipped model)")
    p.add_argument("--photos", type=int, default=None, help="use only the first N held-out photos (default: all 15)")
    p.add_argument("--scores", type=float, nargs="+", default=None,
                   help="requested motion scores of the sweep (default: 0.5 1 2 3 4 6)")
    add_schedule(p)
    p.add_argument("--frames", type=int, default=17, help="frames per video (k·t+1, t the VAE's temporal compression)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (pan directions and sampling noise)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure and per-video measure here")
    p.add_argument("--sheet", type=Path, default=None,
                   help="also write a contact sheet PNG: ground-truth and generated frames of the first photos "
                        "at motion scores 2 and 4")
    p.add_argument("--sheet-photos", type=int, default=3, help="photos on the contact sheet")
    p.add_argument("--generated-only", action="store_true",
                   help="measure the model's videos alone, not the input repeated, the ground truth and its round "
                        "trip, which do not depend on the denoiser (about 4x fewer autoencoder passes): for "
                        "comparing denoisers of one autoencoder")
    add_dtype(p)
    p.add_argument("--overwrite", action="store_true", help="replace the --json and --sheet files if they exist")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data.holdout import holdout_paths
    from ..evaluation.image_to_video import DEFAULT_SCORES, evaluate, format_table

    for output in (args.json, args.sheet):
        if output is not None:
            check_output(output, args.overwrite)
    if args.sheet is not None and args.sheet.suffix.lower() != ".png":
        raise ValueError(f"--sheet must end in .png, got {args.sheet.name}")
    photos = holdout_paths()
    if args.photos is not None:
        if not 1 <= args.photos <= len(photos):
            raise ValueError(f"--photos must be 1 to {len(photos)}, got {args.photos}")
        photos = photos[:args.photos]
    scores = check_motion_scores(args.scores or list(DEFAULT_SCORES))
    if len(scores) < 2:
        raise ValueError("--scores: give at least two motion scores")
    if args.sigmas:
        check_sigmas(args.sigmas)
    pipe = MobileI2VPipeline.from_pretrained(args.model, dtype=args.dtype)
    print(f"precision: {pipe.precision}")
    sheet_scores = tuple(s for s in scores if s in (2.0, 4.0)) or (max(scores),)
    report = evaluate(pipe, photos, scores, num_frames=args.frames, steps=args.steps, sigmas=args.sigmas,
                      seed=args.seed, sheet_photos=args.sheet_photos if args.sheet else 0, sheet_scores=sheet_scores,
                      references=not args.generated_only)
    print(f"{len(photos)} held-out photos x {len(scores)} motion scores, {args.frames} frames at "
          f"{report.width}x{report.height}, {report.steps} steps")
    print(format_table(report))
    if {2.0, 4.0} & set(scores) and set(scores) - {2.0, 4.0}:  # else the table above is that one
        print("motion scores 2 and 4 only (rho: whole sweep):")
        print(format_table(report, {2.0, 4.0}))
    curve = report.motion_curve("generated")
    print("requested -> measured motion: " + ", ".join(f"{s:g} -> {m:.2f}" for s, m in curve.items()))
    if args.json is not None:
        with atomic_output(args.json, overwrite=args.overwrite) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=1))
        print(f"wrote {args.json}")
    if args.sheet is not None:
        from ..evaluation.contact_sheet import contact_sheet

        with atomic_output(args.sheet, overwrite=args.overwrite) as tmp:
            contact_sheet(list(report.sheet_videos.items())).save(tmp, format="PNG")
        print(f"wrote {args.sheet}")
    return 0
