"""Linear vs softmax attention from 1k to 16k tokens: time and peak memory per layer kind.

One attention layer of mobilei2v-270m (hidden 1152, 16 heads) on (1, N, 1152) tokens. Each (kind, N)
runs in a fresh process, so the peak-memory figure (peak RSS during the forward minus RSS before it)
belongs to that layer alone.

    python benchmarks/attention_scaling.py [--tokens 1024 2048 4096 8192 16384]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from mobilei2v.evaluation.resources import current_rss_gib, peak_rss_gib
from mobilei2v.models.attention import LinearAttention, SoftmaxAttention
from mobilei2v.models.rope import rope_tables

KINDS = {"linear": LinearAttention, "softmax": SoftmaxAttention}


def probe(kind: str, tokens: int) -> dict:
    torch.manual_seed(0)
    layer = KINDS[kind](1152, 16).eval()
    grid = (1, tokens // 32, 32)
    rope = rope_tables(grid, 72)
    x = torch.randn(1, tokens, 1152)
    with torch.inference_mode():
        before = current_rss_gib()
        start = time.perf_counter()
        layer(x, rope)
        first = time.perf_counter() - start
        peak = (peak_rss_gib() - before) * 1024
        start = time.perf_counter()
        layer(x, rope)
        seconds = min(first, time.perf_counter() - start)
    return {"seconds": seconds, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe[0], int(args.probe[1]))))
        return
    print(f"{'tokens':>7} | {'linear ms':>9} {'MiB':>7} | {'softmax ms':>10} {'MiB':>7} | softmax/linear time")
    for tokens in args.tokens:
        row = {}
        for kind in KINDS:
            out = subprocess.run([sys.executable, __file__, "--probe", kind, str(tokens)],
                                 capture_output=True, text=True, check=True)
            row[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        lin, soft = row["linear"], row["softmax"]
        print(f"{tokens:>7} | {lin['seconds'] * 1e3:>9.0f} {lin['peak_mib']:>7.0f} | "
              f"{soft['seconds'] * 1e3:>10.0f} {soft['peak_mib']:>7.0f} | {soft['seconds'] / lin['seconds']:.1f}×")


if __name__ == "__main__":
    main()
