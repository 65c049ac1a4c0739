"""`generate` at 1280×720×17: seconds per stage and peak memory, with random weights of the real sizes.

mobilei2v-270m + the LTX-Video VAE (419 M) + the light decoder (41.9 M), as one process would run them
for a user. Prints the pipeline's per-stage timings and the process's peak resident memory.
`--model DIR` runs a saved model folder instead (default size: the model's own).

`--fidelity` also runs every stage in bf16 and in fp32 from the same inputs and prints each stage's
PSNR against fp32 (latents over their fp32 range; video on the 0–255 scale) and the whole video's:
what `--dtype bf16` (or `auto` on a CPU with native bf16) costs in quality, measured, not assumed.

`--compile [STAGE ...]` then calls the eager pipeline once more (a process's first call also pays one-off
costs: oneDNN's kernel set-up, first-touch page faults), compiles the stages named, all of them if none is
(`MobileI2VPipeline.compile`), and calls it twice: the first compiled call pays each stage's compile, the
second runs what was compiled. Printed: each stage's compile time (first compiled call minus second), the
second calls' seconds, their ratios, and the compiled video's PSNR against the eager one.

    python benchmarks/generate_720p.py [--steps 2] [--decoder light|ltx] [--dtype auto|fp32|bf16]
                                        [--compile [STAGE ...]]
    python benchmarks/generate_720p.py --model src/mobilei2v/shipped_model --steps 30 --fidelity
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from PIL import Image

from mobilei2v import MobileI2VPipeline
from mobilei2v.diffusion.sampler import sample_latents
from mobilei2v.evaluation.resources import peak_rss_gib
from mobilei2v.measures.video import psnr
from mobilei2v.models.vae import decode_latents, encode_video
from mobilei2v.precision import CHOICES
from mobilei2v.runtime import keep_freed_memory


def load(model: str | None, dtype: str) -> MobileI2VPipeline:
    if model is not None:
        pipe = MobileI2VPipeline.from_pretrained(model, dtype=dtype)
    else:
        torch.manual_seed(0)
        pipe = MobileI2VPipeline.assemble("mobilei2v-270m", "ltx-video", "turbo-vaed-ltx")
        pipe.set_precision(dtype)
    for module in (pipe.denoiser, pipe.vae, pipe.light_decoder):
        if module is not None:
            module.eval()
    return pipe


def latent_psnr(reference: torch.Tensor, other: torch.Tensor) -> float:
    """PSNR of `other` against `reference` over the reference's value range."""
    mse = float(((reference - other.float()) ** 2).mean())
    span = float(reference.max() - reference.min())
    return math.inf if mse == 0 else 10 * math.log10(span**2 / mse)


def pattern_image(width: int, height: int) -> Image.Image:
    """Smooth gradients and a few edges: something for every stage to carry (a flat image would hide errors)."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    rgb = np.stack([x, y, 0.5 + 0.4 * np.sin(12 * x) * ((y * 8).astype(int) % 2)], axis=-1)
    return Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8))


@torch.no_grad()
def fidelity(args, fp32: MobileI2VPipeline, bf16: MobileI2VPipeline, image: Image.Image, size: tuple[int, int]) -> None:
    """Each stage of `bf16` against `fp32` from the same inputs, then the whole video."""
    height, width = size
    pixels = fp32._images_to_tensor(image, height, width)[:, :, None]  # (1, 3, 1, H, W)
    reference = {name: encode_video(p.vae, pixels) for name, p in (("fp32", fp32), ("bf16", bf16))}
    print(f"encode  (reference latent): {latent_psnr(reference['fp32'], reference['bf16']):5.1f} dB")
    frames = fp32.geometry.latent_grid(17, height, width)[0]
    motion = torch.tensor([2.0])
    latents = {}
    for name, pipe in (("fp32", fp32), ("bf16", bf16)):  # both from the fp32 reference latent and noise
        latents[name] = sample_latents(pipe.denoiser, pipe.scheduler, reference["fp32"], motion, frames,
                                       args.steps, generator=torch.Generator().manual_seed(0), progress=False,
                                       residual=pipe.denoiser.config.reference_residual)
    print(f"denoise ({args.steps} steps, latents):  {latent_psnr(latents['fp32'], latents['bf16']):5.1f} dB")
    scale = fp32.vae.config.scaling_factor
    videos = {name: decode_latents(p.decoder_for(args.decoder), latents["fp32"], height, width, scale)
              for name, p in (("fp32", fp32), ("bf16", bf16))}
    to_uint8 = lambda v: ((v + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()  # noqa: E731
    print(f"decode  ({args.decoder} decoder, video):    {psnr(to_uint8(videos['fp32']), to_uint8(videos['bf16'])):5.1f} dB")
    whole = [p(image, num_frames=17, height=height, width=width, num_inference_steps=args.steps,
               decoder=args.decoder, generator=torch.Generator().manual_seed(0), progress=False).frames
             for p in (fp32, bf16)]
    print(f"whole video, bf16 vs fp32:           {psnr(*whole):5.1f} dB")


def print_seconds(t: dict[str, float]) -> None:
    print(f"seconds: encode {t['encode']:.2f} | denoise/step {t['denoise_per_step']:.2f} | decode {t['decode']:.2f}"
          f" | total {t['total']:.2f} | 30-step total ≈ {t['encode'] + 30 * t['denoise_per_step'] + t['decode']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a saved model folder (default: random 270m weights)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps (time per step is printed)")
    parser.add_argument("--decoder", choices=("light", "ltx"), default="light")
    parser.add_argument("--height", type=int, default=None, help="default: 720, or the model's")
    parser.add_argument("--width", type=int, default=None, help="default: 1280, or the model's")
    parser.add_argument("--dtype", choices=CHOICES, default="auto", help="precision of the timed run")
    parser.add_argument("--fidelity", action="store_true", help="also measure bf16 against fp32, per stage")
    parser.add_argument("--compile", nargs="*", choices=MobileI2VPipeline.COMPILE_STAGES, default=None,
                        help="also time the pipeline with these stages compiled (all if none is named): "
                             "compile seconds, then a call after the warm-up")
    args = parser.parse_args()
    keep_freed_memory()
    pipe = load(args.model, args.dtype)
    height = args.height or (pipe.config.default_height if args.model else 720)
    width = args.width or (pipe.config.default_width if args.model else 1280)
    weights_gib = peak_rss_gib()
    image = pattern_image(width, height)
    print(f"precision: {pipe.precision}")

    def generate():  # the same noise at every call
        return pipe(image, num_frames=17, height=height, width=width, num_inference_steps=args.steps,
                    decoder=args.decoder, generator=torch.Generator().manual_seed(0))

    out = generate()
    t = out.timings
    print(f"{width}x{height}x17, {args.steps} steps, {args.decoder} decoder")
    print_seconds(t)
    peak = peak_rss_gib()
    print(f"peak RSS {peak:.2f} GiB (after building the models: {weights_gib:.2f} GiB)")
    if args.compile is not None:
        eager = generate().timings
        print("eager, second call:")
        print_seconds(eager)
        print(f"compiled (inductor): {', '.join(pipe.compile(args.compile or pipe.COMPILE_STAGES))}")
        first, second = generate(), generate()
        print("compiled, second call:")
        print_seconds(second.timings)
        stages = ("encode", "denoise", "decode")  # the pipeline's timings
        print("compile seconds (first compiled call minus second): " + " | ".join(
            f"{stage} {first.timings[stage] - second.timings[stage]:.1f}" for stage in stages))
        print("eager / compiled, second calls: " + " | ".join(
            f"{stage} {eager[stage] / second.timings[stage]:.2f}x" for stage in (*stages, "total")))
        print(f"compiled video against eager: {psnr(out.frames, second.frames):.1f} dB; "
              f"peak RSS {peak_rss_gib():.2f} GiB")
    if args.fidelity:
        print("bf16 against fp32, each stage from the same fp32 inputs:")
        fidelity(args, load(args.model, "fp32"), load(args.model, "bf16"), image, (height, width))


if __name__ == "__main__":
    main()
