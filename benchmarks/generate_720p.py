"""`generate` at 1280×720×17: seconds per stage and peak memory, with random weights of the real sizes.

mobilei2v-270m + the LTX-Video VAE (419 M) + the light decoder (41.9 M), as one process would run them
for a user. Prints the pipeline's per-stage timings and the process's peak resident memory.

    python benchmarks/generate_720p.py [--steps 2] [--decoder light|ltx]
"""

from __future__ import annotations

import argparse

import torch
from PIL import Image

from mobilei2v import MobileI2VPipeline
from mobilei2v.evaluation.resources import peak_rss_gib
from mobilei2v.runtime import keep_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2, help="denoising steps (time per step is printed)")
    parser.add_argument("--decoder", choices=("light", "ltx"), default="light")
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    keep_freed_memory()
    torch.manual_seed(0)
    pipe = MobileI2VPipeline.assemble("mobilei2v-270m", "ltx-video", "turbo-vaed-ltx")
    for module in (pipe.denoiser, pipe.vae, pipe.light_decoder):
        module.eval()
    weights_gib = peak_rss_gib()
    image = Image.new("RGB", (args.width, args.height), (90, 140, 200))
    out = pipe(image, num_frames=17, height=args.height, width=args.width, num_inference_steps=args.steps,
               decoder=args.decoder, generator=torch.Generator().manual_seed(0))
    t = out.timings
    print(f"{args.width}x{args.height}x17, {args.steps} steps, {args.decoder} decoder")
    print(f"seconds: encode {t['encode']:.2f} | denoise/step {t['denoise_per_step']:.2f} | decode {t['decode']:.2f}"
          f" | total {t['total']:.2f} | 30-step total ≈ {t['encode'] + 30 * t['denoise_per_step'] + t['decode']:.1f}")
    peak = peak_rss_gib()
    print(f"peak RSS {peak:.2f} GiB (after building the models: {weights_gib:.2f} GiB)")


if __name__ == "__main__":
    main()
