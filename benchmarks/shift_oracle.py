"""How much of a pan can the reference latent tell? An upper bound for any denoiser that sees it.

A camera pan at a known speed and direction is filmed over photos (`data.camera.pan_clip`) and encoded. For
each frame k a ridge regression, fitted on training photos, maps every latent cell's 3×3 neighbourhood in
the reference latent (frame 0) to that cell's latent in frame k: the best linear prediction from the
reference latent when the motion is known exactly. On held-out photos it is decoded and compared with
the true frame k (PSNR), beside three other decodings of frame k: the model's own video (same photo, score
and, for a camera model, the pan's move), the reference held still, and the true latent (the
autoencoder's ceiling). Where the oracle falls far below the ceiling, the reference latent lacks what
frame k needs, and no denoiser that only sees it can recover it. Single-threaded, a few minutes.

    python benchmarks/shift_oracle.py [--model DIR] [--images DIR] [--score 4] [--photos 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mobilei2v.data.camera import pan_clip
from mobilei2v.data.holdout import holdout_paths, training_media
from mobilei2v.data.synth import find_images
from mobilei2v.io.images import load_image
from mobilei2v.io.video import frames_to_video
from mobilei2v.measures.motion import camera_motion
from mobilei2v.measures.video import psnr
from mobilei2v.models.vae import decode_latents, encode_video
from mobilei2v.pipeline import SHIPPED_MODEL, MobileI2VPipeline

FRAMES = (2, 4, 8, 12, 16)


def neighbourhoods(reference: torch.Tensor) -> torch.Tensor:
    """(C, H', W') → (H'·W', 9·C): each cell's 3×3 neighbourhood, edges repeated."""
    return F.unfold(F.pad(reference[None], (1, 1, 1, 1), mode="replicate"), 3)[0].T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--images", type=Path, default=None,
                        help="photos to fit on (default: the packages' sample images that are not held out)")
    parser.add_argument("--score", type=float, default=4.0, help="the pan's motion score")
    parser.add_argument("--angle", type=float, default=0.7, help="the pan's direction, radians")
    parser.add_argument("--photos", type=int, default=4, help="held-out photos to test on")
    parser.add_argument("--ridge", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = MobileI2VPipeline.from_pretrained(args.model, dtype="fp32")
    height, width = pipe.config.default_height, pipe.config.default_width
    num_frames = pipe.geometry.usable_frames(max(FRAMES) + 1)
    if pipe.geometry.temporal != 1:
        raise SystemExit("this oracle compares latent frames with video frames one to one: it needs an "
                         "autoencoder that keeps every frame (temporal compression 1)")

    def clip_and_latents(path):
        clip = pan_clip(np.asarray(load_image(path)), args.score, args.angle, num_frames, height, width)
        with torch.no_grad():
            return clip, encode_video(pipe.vae, frames_to_video(clip))[0]  # (C, T, H', W')

    def decode(latent_frames: torch.Tensor) -> np.ndarray:  # (C, 2, H', W'), frame 0 then frame k
        with torch.no_grad():
            video = decode_latents(pipe.decoder_for(None), latent_frames[None], height, width,
                                   pipe.vae.config.scaling_factor)[0, :, -1]
        return ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()

    suffixes = (".png", ".jpg", ".jpeg")
    fit_on = ([p for p in find_images(args.images) if p.suffix.lower() in suffixes] if args.images
              else training_media(suffixes))
    inputs, targets = [], {k: [] for k in FRAMES}
    for path in fit_on:
        _, latents = clip_and_latents(path)
        inputs.append(neighbourhoods(latents[:, 0]))
        for k in FRAMES:
            targets[k].append(latents[:, k].flatten(1).T)
    x = torch.cat(inputs).double()
    gram = x.T @ x + args.ridge * torch.eye(x.shape[1], dtype=torch.float64)
    maps = {k: torch.linalg.solve(gram, x.T @ torch.cat(targets[k]).double()).float() for k in FRAMES}
    print(f"fitted on {len(fit_on)} photos ({x.shape[0]} cells); pan score {args.score:g}; PSNR of frame k, dB")

    rows = {name: {k: [] for k in FRAMES} for name in ("autoencoder", "linear oracle", "model", "still")}
    for path in holdout_paths()[:args.photos]:
        clip, latents = clip_and_latents(path)
        camera = [camera_motion(clip).tolist()] if pipe.denoiser.config.camera_condition else None
        generated = pipe(clip[0], motion_score=args.score, camera=camera, num_frames=num_frames, height=height,
                         width=width, generator=torch.Generator().manual_seed(0), progress=False).frames[0]
        predicted = neighbourhoods(latents[:, 0])
        for k in FRAMES:
            oracle = (predicted @ maps[k]).T.reshape(latents.shape[0], *latents.shape[2:])
            for name, frame in (("autoencoder", latents[:, k]), ("linear oracle", oracle), ("still", latents[:, 0])):
                rows[name][k].append(psnr(decode(torch.stack([latents[:, 0], frame], dim=1)), clip[k]))
            rows["model"][k].append(psnr(generated[k], clip[k]))
    print(f"{'':16s}" + "".join(f"{f'k = {k}':>9s}" for k in FRAMES))
    for name, by_frame in rows.items():
        print(f"{name:16s}" + "".join(f"{np.mean(v):9.1f}" for v in by_frame.values()))


if __name__ == "__main__":
    main()
