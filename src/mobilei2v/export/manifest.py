"""export.json: what an app needs to drive the three programs of an export folder."""

from __future__ import annotations

import json
from pathlib import Path

from ..diffusion.flow import NUM_TRAIN_TIMESTEPS
from ..diffusion.sampler import step_schedule
from ..io.files import read_json_object
from ..measures.motion import CAMERA_MOVES
from ..pipeline import MobileI2VPipeline
from .stages import Stage

MANIFEST = "export.json"
SAMPLING = ("x = noise (1, C, T', H', W'); x[:, :, 0] = reference_latent; for each step i: timestep = "
            "timestep_scale·sigmas[i] on every latent frame but frame 0 (0 there), v = denoiser(x, timestep, "
            "motion_score[, camera]), x += (sigmas[i+1] − sigmas[i])·v, x[:, :, 0] = reference_latent; then, if "
            "reference_residual, x[:, :, 1:] += reference_latent (the flow ran on differences from it); then "
            "video = decoder(x); pixels = (video + 1) / 2. camera (with camera_condition): 4 numbers whose "
            "direction is the move, camera_moves[name] for a named one, zeros for any. With camera_guide, the "
            "denoiser also takes guide = guide_encoder(video), video the image filmed along the move (see "
            "guide_filming), and the residual is taken from guide instead: x[:, :, 1:] += guide[:, :, 1:]")
GUIDE_FILMING = ("move = camera_moves[name] (4 numbers: pan x, pan y, zoom, roll, in pixels per frame at 576x320, "
                 "zoom and roll as motion at that frame's side edge) scaled so that its affine flow u = pan x + "
                 "(zoom/288)·x − ω·s·y, v = pan y + (zoom/288)·y + (ω/s)·x, ω = roll/288/((s + 1/s)/2), s = "
                 "(576/W)/(320/H), averaged in magnitude over the 576x320 frame (x, y from its centre), equals "
                 "motion_score; frame k shows the image moved by k·(pan x·W/576, pan y·H/320) px, scaled by "
                 "(1 + zoom/288)^k and turned clockwise by k·ω rad about its centre, cubic interpolation, the "
                 "image mirrored at its edges (mobilei2v.data.camera.guide_clip)")


def make_manifest(pipe: MobileI2VPipeline, stages: dict[str, Stage], files: dict[str, str], *, runtime: str,
                  precision: str, height: int, width: int, num_frames: int, num_inference_steps: int | None,
                  attention: str) -> dict:
    num_inference_steps, sigmas = pipe.sampling_schedule(num_inference_steps)
    scheduler = step_schedule(pipe.scheduler, num_inference_steps, sigmas)
    geometry = pipe.geometry
    return {
        "format": runtime,
        "precision": precision,
        "height": height,
        "width": width,
        "num_frames": num_frames,
        "frame_rate": pipe.config.frame_rate,
        "geometry": {"spatial": geometry.spatial, "temporal": geometry.temporal, "channels": geometry.channels},
        "latent_shape": [1, geometry.channels, *geometry.latent_grid(num_frames, height, width)],
        "num_inference_steps": num_inference_steps,
        "sigmas": [float(s) for s in scheduler.sigmas],
        "timestep_scale": NUM_TRAIN_TIMESTEPS,
        "reference_frames": 1,
        "reference_residual": pipe.denoiser.config.reference_residual,
        "camera_condition": pipe.denoiser.config.camera_condition,
        "camera_guide": pipe.denoiser.config.camera_guide,
        **({"camera_moves": {name: list(move) for name, move in CAMERA_MOVES.items()}}
           if pipe.uses_camera else {}),
        **({"guide_filming": GUIDE_FILMING} if pipe.denoiser.config.camera_guide else {}),
        "scheduler_config": {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")},
        "attention": attention,
        "sampling": SAMPLING,
        "stages": {
            name: {"file": files[name],
                   "inputs": {k: list(v.shape) for k, v in stage.inputs.items()},
                   "outputs": {stage.output: list(stage.module(*stage.inputs.values()).shape)}}
            for name, stage in stages.items()
        },
    }


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def read_manifest(folder: str | Path, runtime: str | None = None) -> dict:
    """export.json of `folder` (ValueError naming what is wrong), made for `runtime` if given."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ValueError(f"not an export folder: {path} is missing (make one with `mobilei2v export`)")
    manifest = read_json_object(path, "an export manifest")
    if runtime and manifest.get("format") != runtime:
        raise ValueError(f"{folder} holds a {manifest.get('format')!r} export, not {runtime!r}")
    for stage in manifest["stages"].values():
        if not (Path(folder) / stage["file"]).exists():
            raise ValueError(f"the export folder is incomplete: {Path(folder) / stage['file']} is missing")
    return manifest
