"""Image-to-video evaluation on held-out photos (`mobilei2v evaluate`).

Each held-out photo (`data.holdout`: real photos shipped inside PyPI packages, refused by training) is
filmed by a virtual camera panning at each requested motion score, in a direction drawn per photo: the
ground-truth clips. The first frame of each clip is the model's input, with the clip's score as the
requested motion. All videos of one photo start from the same noise, so that along the sweep only the
requested score changes (as a user sweeping `--motion` with a fixed `--seed`). A model that takes a
camera move (a camera condition or a guide) is also given the ground truth's, as measured on the clip
(`camera_motion`): the direction a user would ask for. Four sets of videos are then measured the same way:

- generated: the model's videos;
- input repeated: the input frame held still (a model that does not move at all);
- ground truth: the camera clips themselves (what a perfect model with this motion would give);
- autoencoder round trip: the ground-truth clips through the model's autoencoder (encoder, then its
  default decoder): the best the model can show, whatever its denoiser.

Measures per set: (a) PSNR after a round trip through the model's autoencoder: on the ground-truth set,
the autoencoder's reconstruction quality on held-out clips; (b) PSNR of frame 0 against the input; (c)
Spearman correlation between requested motion score and the motion score measured on the video (the
training data's own scorer); (d) motion-compensated PSNR between consecutive frames and flicker; and what
a viewer sees (`metrics`): motion evenness (does every frame move, or does it move in jumps), warp
fidelity (is every frame the input photo, moved), sharpness of later frames relative to frame 0, and
blockiness at the latent cells' edges. A contact sheet (`contact_sheet`) shows some of the videos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr
from tqdm import tqdm

from ..data.camera import pan_clip
from ..io.images import load_image
from ..measures.motion import camera_motion, motion_score
from ..measures.reconstruction import reconstruction_psnr, round_trip
from ..measures.video import blockiness, motion_evenness, psnr, sharpness, temporal_quality, warp_fidelity
from ..pipeline import MobileI2VPipeline

DEFAULT_SCORES = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
SETS = ("generated", "input repeated", "ground truth", "autoencoder round trip")


@dataclass
class SetMeasures:
    """Per-video measures of one set, in the order of `Report.requested`."""

    vae_psnr: list[float] = field(default_factory=list)
    frame0_psnr: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)
    mc_psnr: list[float] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)
    evenness: list[float] = field(default_factory=list)
    warp_psnr: list[float] = field(default_factory=list)
    warp_psnr_worst: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    blockiness: list[float] = field(default_factory=list)

    def add(self, video: np.ndarray, reference: np.ndarray, pipe: MobileI2VPipeline) -> None:
        self.vae_psnr.append(reconstruction_psnr(pipe.vae, video, pipe.decoder_for(None)))
        self.frame0_psnr.append(psnr(video[0], reference))
        self.motion.append(motion_score(video))
        mc, flicker = temporal_quality(video)
        self.mc_psnr.append(mc)
        self.flicker.append(flicker)
        self.evenness.append(motion_evenness(video))
        warp_mean, warp_worst = warp_fidelity(video, reference)
        self.warp_psnr.append(warp_mean)
        self.warp_psnr_worst.append(warp_worst)
        self.sharpness.append(sharpness(video))
        self.blockiness.append(blockiness(video, pipe.geometry.spatial))


@dataclass
class Report:
    photos: list[str]
    requested: list[float]  # the requested motion score of every video, photo by photo
    sets: dict[str, SetMeasures]
    num_frames: int
    height: int
    width: int
    steps: int
    # label → uint8 (T, H, W, 3) video, for the contact sheet: the first `sheet_photos` photos' videos
    sheet_videos: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def spearman(self, name: str) -> float:
        """Spearman ρ between requested and measured motion (nan when the measured motion is constant)."""
        measured = self.sets[name].motion
        if np.ptp(measured) == 0:
            return float("nan")
        return float(spearmanr(self.requested, measured).statistic)

    def summary(self, scores: set[float] | None = None) -> dict[str, dict[str, float]]:
        """{measure: {set: value}}: the table `format_table` prints; means over the videos whose requested
        score is in `scores` (all if None). Means skip nan (e.g. the evenness of a still video); the worst
        warp fidelity is the minimum. ρ is always over the whole sweep."""
        chosen = np.array([scores is None or s in scores for s in self.requested])
        rows = {}
        for key in ROW_LABELS:
            if key == "motion_spearman":
                rows[key] = {name: self.spearman(name) for name in self.sets}
                continue
            reduce = np.min if key == "warp_psnr_worst" else np.nanmean
            rows[key] = {}
            for name, m in self.sets.items():
                values = np.array(getattr(m, key), dtype=float)[chosen]
                rows[key][name] = float(reduce(values)) if not np.isnan(values).all() else float("nan")
        return rows

    def motion_curve(self, name: str) -> dict[float, float]:
        """Mean measured motion score per requested score."""
        measured = np.array(self.sets[name].motion)
        requested = np.array(self.requested)
        return {float(s): float(measured[requested == s].mean()) for s in sorted(set(self.requested))}

    def to_dict(self) -> dict:
        return {
            "photos": self.photos, "requested_motion": self.requested, "num_frames": self.num_frames,
            "height": self.height, "width": self.width, "steps": self.steps, "summary": self.summary(),
            "summary_scores_2_and_4": self.summary({2.0, 4.0}),
            "motion_curve": {name: self.motion_curve(name) for name in self.sets},
            "videos": {name: vars(m) for name, m in self.sets.items()},
        }


ROW_LABELS = {
    "vae_psnr": "(a) VAE round-trip PSNR, dB",
    "frame0_psnr": "(b) frame 0 vs input PSNR, dB",
    "motion_spearman": "(c) motion control, Spearman rho",
    "mc_psnr": "(d) motion-compensated PSNR, dB",
    "flicker": "(d) flicker, mean |dL| (0-255)",
    "evenness": "(e) motion evenness, min/median",
    "warp_psnr": "(e) warp fidelity, mean dB",
    "warp_psnr_worst": "(e) warp fidelity, worst dB",
    "sharpness": "(e) sharpness vs frame 0",
    "blockiness": "(e) blockiness (1 = none)",
}


def format_table(report: Report, scores: set[float] | None = None) -> str:
    """The summary as an aligned text table: one row per measure, one column per set."""
    summary = report.summary(scores)
    label_width = max(map(len, ROW_LABELS.values()))
    lines = [" " * label_width + "".join(f"{name:>24}" for name in report.sets)]
    for key, label in ROW_LABELS.items():
        cells = "".join(f"{'n/a' if math.isnan(v) else f'{v:.3f}' if key == 'motion_spearman' else f'{v:.2f}':>24}"
                        for v in (summary[key][name] for name in report.sets))
        lines.append(f"{label:<{label_width}}{cells}")
    return "\n".join(lines)


def evaluate(pipe: MobileI2VPipeline, photos: list[Path], scores=DEFAULT_SCORES, num_frames: int = 17,
             steps: int | None = None, sigmas: list[float] | None = None, seed: int = 0, progress: bool = True,
             sheet_photos: int = 0, sheet_scores: tuple[float, ...] = (2.0, 4.0),
             references: bool = True) -> Report:
    """Measure `pipe` on `photos` at its default size: one video per (photo, score). See the module doc.
    The ground-truth and generated videos of the first `sheet_photos` photos at `sheet_scores` are kept for
    a contact sheet. `references` False measures the generated set alone: the other three depend only on
    the photos, the sweep and the autoencoder, and cost four times the generated set's autoencoder passes."""
    height, width = pipe.config.default_height, pipe.config.default_width
    sets = {name: SetMeasures() for name in (SETS if references else SETS[:1])}
    requested: list[float] = []
    sheet_videos: dict[str, np.ndarray] = {}
    for i, path in enumerate(tqdm(photos, desc="evaluating", unit="photo", disable=not progress)):
        photo = np.asarray(load_image(path))
        angle = np.random.default_rng(seed + i).uniform(0, 2 * math.pi)
        clips = [pan_clip(photo, s, angle, num_frames, height, width) for s in scores]
        inputs = [clip[0] for clip in clips]
        cameras = [camera_motion(clip).tolist() for clip in clips] if pipe.uses_camera else None
        out = pipe([Image.fromarray(x) for x in inputs], motion_score=list(scores), camera=cameras,
                   num_frames=num_frames, height=height, width=width, num_inference_steps=steps, sigmas=sigmas,
                   generator=[torch.Generator().manual_seed(seed + i) for _ in scores], progress=False)
        for score, generated, clip, reference in zip(scores, out.frames, clips, inputs):
            sets["generated"].add(generated, reference, pipe)
            if references:
                sets["input repeated"].add(np.repeat(reference[None], num_frames, axis=0), reference, pipe)
                sets["ground truth"].add(clip, reference, pipe)
                sets["autoencoder round trip"].add(round_trip(pipe.vae, clip, pipe.decoder_for(None))[1], reference,
                                                   pipe)
            if i < sheet_photos and score in sheet_scores:
                sheet_videos[f"{Path(path).stem}, motion {score:g}, truth"] = clip
                sheet_videos[f"{Path(path).stem}, motion {score:g}, generated"] = generated
        requested += [float(s) for s in scores]
    return Report([str(p) for p in photos], requested, sets, num_frames, height, width,
                  pipe.sampling_schedule(steps, sigmas)[0], sheet_videos)
