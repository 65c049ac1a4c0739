"""What keeping the q/k RMSNorms' statistics in fp32 buys an fp16 denoiser (docs/export.md, "FP16").

The Core ML export runs the denoiser with all three Neural-Engine rewrites of linear attention, in fp16
but for the norms' statistics. Core ML prediction needs macOS, so this measures the same arithmetic in
PyTorch on this CPU: the rewritten denoiser cast to fp16, its q/k RMSNorms computed in fp32
(`fp32_norms`, as exported) or in fp16, against the original fp32 denoiser. Printed per variant: the
velocity's PSNR (the peak being the fp32 velocity's largest magnitude) at σ = 1, 0.5 and 0.1 on a photo's latents, its non-finite values, and with `--steps` the
whole video's PSNR (the same noise, the fp32 autoencoder for both). Also the largest sum of squares a
q/k norm reduces and the largest single square, against fp16's 65,504: the margins before fp16
statistics overflow, in a runtime that sums in fp16 and in any runtime. (PyTorch's CPU kernels sum an
fp16 reduction in fp32, so here only a square past the limit shows; whether the Neural Engine sums in
fp16 is not documented.) The LayerNorms are not in the comparison: PyTorch computes an fp16 LayerNorm's
statistics in fp32 on its own.

`--qk-scale K` multiplies every linear attention's q and k projections by K first. An RMSNorm does not
see the scale, so the fp32 model computes exactly what it did, but the norms' inputs are K times larger,
as a model trained longer can make them: it shows where fp16 statistics fail.

    python benchmarks/fp16_norms.py [--model DIR | --preset 270m] [--image PHOTO] [--steps 30] [--qk-scale K]
"""

from __future__ import annotations

import argparse
from functools import partial

import torch

from mobilei2v.diffusion.flow import frame_timesteps
from mobilei2v.diffusion.sampler import initial_noise, sample_latents
from mobilei2v.export.ane_attention import rewrite_attention
from mobilei2v.export.ane_layout import ChannelsFirstRMSNorm
from mobilei2v.export.compare import psnr
from mobilei2v.io.images import image_to_tensor, load_image
from mobilei2v.models.attention import LinearAttention
from mobilei2v.models.vae import decode_latents, encode_video
from mobilei2v.pipeline import SHIPPED_MODEL, MobileI2VPipeline

FP16_MAX = 65504.0
SIGMAS = (1.0, 0.5, 0.1)


def largest_squares(denoiser: torch.nn.Module, run) -> tuple[float, float]:
    """The largest x² and the largest Σx² over the channels that any q/k norm of the rewritten `denoiser`
    meets during `run()`."""
    largest = [0.0, 0.0]

    def record(module, args):
        squares = args[0].float().pow(2)
        largest[0] = max(largest[0], float(squares.max()))
        largest[1] = max(largest[1], float(squares.sum(dim=1).max()))

    hooks = [m.register_forward_pre_hook(record) for m in denoiser.modules() if isinstance(m, ChannelsFirstRMSNorm)]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return largest[0], largest[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHIPPED_MODEL), help="model folder (default: the shipped model)")
    parser.add_argument("--preset", choices=["270m"], help="the mobilei2v-270m preset with random weights instead")
    parser.add_argument("--image", default="examples/cat.jpg")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, default=0, help="also compare whole videos of this many steps")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--qk-scale", type=float, default=1.0,
                        help="scale the linear attentions' q and k projections (the output is unchanged in fp32)")
    args = parser.parse_args()

    if args.preset:
        torch.manual_seed(0)
        pipe = MobileI2VPipeline.assemble("mobilei2v-270m", vae="small", light_decoder="small")
    else:
        pipe = MobileI2VPipeline.from_pretrained(args.model, torch_dtype=torch.float32)
    if pipe.uses_camera:
        raise SystemExit("this benchmark drives models without a camera move or guide")
    for module in pipe.denoiser.modules():
        if isinstance(module, LinearAttention):
            with torch.no_grad():
                module.qkv.weight[: 2 * module.qkv.out_features // 3] *= args.qk_scale  # q's and k's rows
    geometry = pipe.geometry
    grid = geometry.latent_grid(args.frames, args.height, args.width)
    image = image_to_tensor(load_image(args.image), args.height, args.width)
    motion = torch.tensor([2.0])
    with torch.no_grad():
        reference = encode_video(pipe.vae, image[:, :, None])
        noise = initial_noise((1, geometry.channels, *grid), torch.Generator().manual_seed(args.seed))
        variants = {"fp32 original": pipe.denoiser.eval()}
        for fp32_norms in (True, False):
            rewritten = rewrite_attention(pipe.denoiser, "all", grid, fp32_norms).to(torch.float16).eval()
            variants[f"fp16, norms {'fp32' if fp32_norms else 'fp16'}"] = rewritten
        rope = pipe.denoiser.rope_tables(grid)
        latents = noise.clone()
        latents[:, :, :1] = reference

        def velocity(denoiser, sigma: float) -> torch.Tensor:
            x = latents.clone()
            x[:, :, 1:] = (1 - sigma) * reference + sigma * noise[:, :, 1:]
            timestep = frame_timesteps(torch.tensor([sigma]), grid[0])
            return denoiser(x.to(denoiser.dtype), timestep, motion, tuple(t.to(denoiser.dtype) for t in rope)).float()

        exact = {s: velocity(variants["fp32 original"], s) for s in SIGMAS}
        print(f"{'variant':<20} " + " ".join(f"v PSNR σ={s:<4}" for s in SIGMAS) + "  non-finite  max x², Σx² / 65,504"
              + ("  video PSNR" if args.steps else ""))
        videos = {}
        for name, denoiser in variants.items():
            scores = {s: velocity(denoiser, s) for s in SIGMAS}
            bad = sum(int((~torch.isfinite(v)).sum()) for v in scores.values())
            line = f"{name:<20} " + " ".join(f"{psnr(exact[s], scores[s]):>12.1f}" for s in SIGMAS) + f"  {bad:>10d}  "
            if name == "fp32 original":
                line += f"{'-':>19}"
            else:
                element, total = largest_squares(denoiser, partial(velocity, denoiser, 0.5))
                line += f"{element / FP16_MAX:>9.4f}, {total / FP16_MAX:>8.4f}"
            if args.steps:
                out = sample_latents(denoiser, pipe.scheduler, reference.to(denoiser.dtype), motion, grid[0],
                                     args.steps, noise=noise, progress=False,
                                     residual=pipe.denoiser.config.reference_residual)
                videos[name] = decode_latents(pipe.decoder_for(None), out.float(), args.height, args.width,
                                              pipe.vae.config.scaling_factor)
                line += f"  {psnr(videos['fp32 original'], videos[name]) if name != 'fp32 original' else float('inf'):>10.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
