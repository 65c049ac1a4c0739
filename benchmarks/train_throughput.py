"""Training speed and memory of the denoiser: samples/s and peak RSS, with and without gradient checkpointing.

One training step = the flow-matching loss on cached latents, backward, CAME update, as the trainer
does. Each case runs in a fresh process so its peak memory is its own.

    python benchmarks/train_throughput.py [--steps 3] [--size 288x512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from mobilei2v import LatentGeometry, build
from mobilei2v.diffusion import flow_matching_loss
from mobilei2v.evaluation.resources import peak_rss_gib
from mobilei2v.runtime import keep_freed_memory
from mobilei2v.training.trainer import make_optimizer

CASES = [("mobilei2v-tiny", False), ("mobilei2v-270m", False), ("mobilei2v-270m", True)]


def probe(preset: str, checkpointing: bool, grid: tuple[int, int, int], steps: int, batch: int) -> dict:
    keep_freed_memory()
    torch.manual_seed(0)
    model = build("denoiser", preset).train()
    if checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = make_optimizer("came", model.parameters(), 1e-4, 0.1)  # the authors' settings
    channels = model.config.in_channels
    latents, reference = torch.randn(batch, channels, *grid), torch.randn(batch, channels, 1, *grid[1:])
    motion = torch.full((batch,), 2.0)
    times = []
    for _ in range(steps + 1):  # the first step is warm-up
        start = time.perf_counter()
        loss = flow_matching_loss(model, latents, reference, motion)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return {"samples_per_s": batch / min(times[1:]), "peak_gib": peak_rss_gib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", default="288x512", help="HxW of the clips (17 frames)")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    height, width = map(int, args.size.split("x"))
    grid = LatentGeometry(32, 8, 128).latent_grid(17, height, width)  # the 270m's LTX-Video latents
    if args.probe:
        print(json.dumps(probe(args.probe[0], args.probe[1] == "1", grid, args.steps, args.batch)))
        return
    print(f"{width}x{height}x17 clips ({grid[0] * grid[1] * grid[2]} tokens), batch {args.batch}, CAME, fp32")
    for preset, checkpointing in CASES:
        out = subprocess.run([sys.executable, __file__, "--probe", preset, str(int(checkpointing)),
                              "--size", args.size, "--steps", str(args.steps), "--batch", str(args.batch)],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{preset:<16} checkpointing {'on ' if checkpointing else 'off'}: "
              f"{result['samples_per_s']:7.3f} samples/s, peak RSS {result['peak_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
