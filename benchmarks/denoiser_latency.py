"""One denoiser forward of mobilei2v-270m vs diffusers' LTX-Video transformer, same grid, same run.

Prints seconds per forward, the speed-up over LTX, the fraction of this machine's matmul peak that
each model achieves (FLOPs counted by torch's FlopCounterMode), bf16 speed-up and fidelity, and the
peak resident memory of one 270m forward in a fresh process.

    python benchmarks/denoiser_latency.py            # full run: ~5 minutes on 2 cores
    python benchmarks/denoiser_latency.py --no-ltx   # skip the 1.9 B LTX baseline
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mobilei2v import LatentGeometry, build
from mobilei2v.diffusion import frame_timesteps
from mobilei2v.evaluation.resources import peak_rss_gib
from mobilei2v.runtime import keep_freed_memory

LTX_VIDEO = LatentGeometry(32, 8, 128)  # both models run on LTX-Video's latents
GRIDS = {size: LTX_VIDEO.latent_grid(17, height, width)  # latent (T', H', W')
         for size, (height, width) in {"1280x720x17": (720, 1280), "512x288x17": (288, 512)}.items()}
TEXT_TOKENS = 128  # LTX-Video's prompt length


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, oneDNN primitive caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a square `F.linear` (the op the models spend their time in), best of `repeats`."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / best_time(lambda: F.linear(a, b), repeats) / 1e9


def count_flops(build, grid) -> int:
    """FLOPs of one forward, counted on the meta device (no compute; on CPU, FlopCounterMode would
    miss the fused SDPA kernel)."""
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        build(grid, torch.float32)[1]()
    return counter.get_total_flops()


def ours(grid, dtype):
    """The model and a closure running one forward on a fixed input."""
    torch.manual_seed(0)  # the same weights for every precision
    model = build("denoiser", "mobilei2v-270m").eval()
    torch.nn.Module.to(model, dtype)  # torch's own `to`: diffusers' override warns needlessly
    latents = torch.randn(1, LTX_VIDEO.channels, *grid).to(dtype)
    timestep, motion = frame_timesteps(torch.ones(1) * 0.7, grid[0]), torch.ones(1) * 2.0
    rope = model.rope_tables(grid, device=latents.device)
    return model, lambda: model(latents, timestep, motion, rope)


def ltx(grid, dtype):
    from diffusers import LTXVideoTransformer3DModel

    model = LTXVideoTransformer3DModel().eval()
    torch.nn.Module.to(model, dtype)
    t, h, w = grid
    tokens = torch.randn(1, t * h * w, 128, dtype=dtype)
    text = torch.randn(1, TEXT_TOKENS, 4096, dtype=dtype)
    mask, timestep = torch.ones(1, TEXT_TOKENS), torch.full((1,), 700)
    return model, lambda: model(tokens, text, timestep, mask, num_frames=t, height=h, width=w,
                                return_dict=False)[0]


def psnr(reference: torch.Tensor, other: torch.Tensor) -> float:
    mse = (reference.float() - other.float()).pow(2).mean()
    return (10 * torch.log10(reference.float().abs().max() ** 2 / mse)).item()


def memory_probe(grid) -> None:
    """Run in a fresh process: peak RSS of building the 270m model and one fp32 forward."""
    model, forward = ours(grid, torch.float32)
    with torch.inference_mode():
        forward()
    print(json.dumps({"peak_rss_gib": peak_rss_gib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-ltx", action="store_true", help="skip the LTX-Video baseline")
    parser.add_argument("--repeats", type=int, default=2, help="timed forwards per case (best is kept)")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    allocator = keep_freed_memory()  # as the CLI does
    if args.memory_probe:
        memory_probe(GRIDS["1280x720x17"])
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, malloc keeps freed memory: {allocator}")
    peak = {dtype: matmul_peak(dtype) for dtype in (torch.float32, torch.bfloat16)}
    print(f"matmul peak (2048² linear, best of 10): fp32 {peak[torch.float32]:.0f} GFLOP/s, "
          f"bf16 {peak[torch.bfloat16]:.0f} GFLOP/s")
    if peak[torch.bfloat16] < peak[torch.float32]:
        print("note: bf16 matmul is slower than fp32 here: this CPU has no bf16 instructions (AVX-512 BF16 "
              "or AMX), so bf16 runs through emulation and cannot be faster than fp32")

    native_bf16 = peak[torch.bfloat16] >= peak[torch.float32]
    for name, grid in GRIDS.items():
        tokens = grid[0] * grid[1] * grid[2]
        flops = count_flops(ours, grid)
        print(f"\n== {name} ({tokens} tokens, {flops / 1e9:.0f} GFLOP per forward) ==")
        results = {}
        with torch.inference_mode():
            for dtype in (torch.float32, torch.bfloat16):
                if dtype == torch.bfloat16 and not native_bf16 and tokens > 1000:
                    print("mobilei2v-270m bfloat16: skipped at this size (emulated bf16 takes minutes)")
                    continue
                model, forward = ours(grid, dtype)
                seconds = best_time(forward, args.repeats)
                results[dtype] = (seconds, forward())
                print(f"mobilei2v-270m {str(dtype)[6:]:>8}: {seconds:7.2f} s  "
                      f"{flops / seconds / 1e9 / peak[dtype]:5.1%} of {str(dtype)[6:]} matmul peak")
                del model
            if torch.bfloat16 in results:
                (fp32_s, fp32_out), (bf16_s, bf16_out) = results[torch.float32], results[torch.bfloat16]
                print(f"bf16 vs fp32: {fp32_s / bf16_s:.2f}× the speed, output PSNR {psnr(fp32_out, bf16_out):.1f} dB")
            if not args.no_ltx and name == "1280x720x17":
                # Each model in its best precision: bf16 too where the CPU multiplies it natively.
                ltx_flops = count_flops(ltx, grid)
                for dtype in (torch.float32, torch.bfloat16) if native_bf16 else (torch.float32,):
                    model, forward = ltx(grid, dtype)
                    seconds = best_time(forward, 1)
                    print(f"LTX-Video 1.9B {str(dtype)[6:]:>8}: {seconds:7.2f} s  "
                          f"{ltx_flops / seconds / 1e9 / peak[dtype]:5.1%} of {str(dtype)[6:]} matmul peak "
                          f"({ltx_flops / 1e9:.0f} GFLOP)")
                    print(f"speed-up over LTX-Video ({str(dtype)[6:]}, per step): {seconds / results[dtype][0]:.2f}×")
                    del model

    probe = subprocess.run([sys.executable, __file__, "--memory-probe"], capture_output=True, text=True, check=True)
    rss = json.loads(probe.stdout.strip().splitlines()[-1])["peak_rss_gib"]
    print(f"\npeak RSS, fresh process, build + one fp32 forward at 2760 tokens: {rss:.2f} GiB")


if __name__ == "__main__":
    main()
