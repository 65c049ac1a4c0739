"""On-device export latency on this CPU: linear attention rewrites, and whole stages per runtime.

attention: one linear-attention layer of mobilei2v-270m (hidden 1152, 16 heads) on N tokens, the original
and each Neural-Engine rewrite (docs/export.md), exported and timed in onnxruntime and ExecuTorch
(XNNPACK), the ratios taken in the same run. stages: a model folder's three stages, program size and
latency per runtime against eager PyTorch. Median of --repeats after one warm-up call.

    python benchmarks/export_latency.py attention [--tokens 1024 2760 8192 16384] [--json out.json]
    python benchmarks/export_latency.py stages [--model DIR | --preset 270m] [--height H --width W --frames T]
                                               [--only encoder decoder]
    python benchmarks/export_latency.py plot attention.json attention.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mobilei2v.export.ane_attention import REWRITES
from mobilei2v.export.ane_layout import channels_first_rope
from mobilei2v.export.executorch import ExecuTorchProgram, export_executorch
from mobilei2v.export.onnx import export_onnx
from mobilei2v.export.stages import Stage, build_stages
from mobilei2v.models.attention import LinearAttention
from mobilei2v.models.rope import rope_tables
from mobilei2v.pipeline import SHIPPED_MODEL, MobileI2VPipeline
from mobilei2v.runtime import keep_freed_memory


def median_seconds(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def runners(stage: Stage, folder: Path, name: str) -> dict:
    """runtime → (a call on the stage's inputs, program bytes), or the reason it could not be exported."""
    import onnxruntime as ort

    inputs = list(stage.inputs.values())

    def eager():
        with torch.inference_mode():
            stage.module(*inputs)

    def onnx():
        path = folder / f"{name}.onnx"
        export_onnx(stage, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {k: v.numpy() for k, v in stage.inputs.items()}
        return (lambda: session.run(None, feeds)), path.stat().st_size

    def executorch():
        path = folder / f"{name}.pte"
        export_executorch(stage, path)
        pte = ExecuTorchProgram(path)
        return (lambda: pte(*inputs)), path.stat().st_size

    found = {"pytorch": (eager, None)}
    for runtime, make in (("onnxruntime", onnx), ("executorch", executorch)):
        try:
            found[runtime] = make()
        except Exception as err:  # noqa: BLE001 - any runtime's refusal is a row of the table, not the end of it
            found[runtime] = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:100]}"
    return found


class TokenMajor(torch.nn.Module):
    """A rewrite fed (1, N, D) tokens as the original is, so that all variants take the same input."""

    def __init__(self, attention, rope):
        super().__init__()
        self.attention = attention
        self.rope = channels_first_rope(rope) if not isinstance(attention, LinearAttention) else rope

    def forward(self, x):
        if isinstance(self.attention, LinearAttention):
            return self.attention(x, self.rope)
        return self.attention(x.transpose(1, 2)[:, :, None], self.rope)[:, :, 0].transpose(1, 2)


def attention(args) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    original = LinearAttention(1152, 16).eval()
    variants = {"original": original, **{name: cls.from_original(original) for name, cls in REWRITES.items()}}
    for tokens in args.tokens:
        rope = rope_tables((1, 1, tokens), 72)  # the positions do not change the cost
        x = torch.randn(1, tokens, 1152)
        for variant, module in variants.items():
            stage = Stage(TokenMajor(module, rope).eval(), {"x": x}, "y")
            with tempfile.TemporaryDirectory() as folder:
                for runtime, (call, _) in runners(stage, Path(folder), "attention").items():
                    if runtime == "pytorch":
                        continue
                    ms = 1000 * median_seconds(call, args.repeats)
                    rows.append({"tokens": tokens, "variant": variant, "runtime": runtime, "ms": ms})
                    print(f"{tokens:6d} tokens  {variant:12s} {runtime:12s} {ms:9.2f} ms", flush=True)
    return rows


def stages(args) -> list[dict]:
    if args.preset:
        pipe = MobileI2VPipeline.assemble(f"mobilei2v-{args.preset}", "ltx-video", "turbo-vaed-ltx")
    else:
        pipe = MobileI2VPipeline.from_pretrained(args.model, dtype="fp32")
    height, width = args.height or pipe.config.default_height, args.width or pipe.config.default_width
    rows = []
    print(f"{width}x{height}x{args.frames}, fp32; ratio = eager PyTorch's time over the runtime's, same run")
    for name, stage in build_stages(pipe, height, width, args.frames).items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as folder:
            eager_ms = None
            for runtime, found in runners(stage, Path(folder), name).items():
                if isinstance(found, str):
                    rows.append({"stage": name, "runtime": runtime, "not_exported": found})
                    print(f"{name:9s} {runtime:12s} not exported: {found}", flush=True)
                    continue
                call, size = found
                ms = 1000 * median_seconds(call, args.repeats)
                eager_ms = eager_ms or ms  # pytorch comes first
                rows.append({"stage": name, "runtime": runtime, "ms": ms, "bytes": size, "eager_ratio": eager_ms / ms})
                mb = f"{size / 2**20:8.1f} MB" if size else " " * 11
                print(f"{name:9s} {runtime:12s} {mb} {ms:10.1f} ms  {eager_ms / ms:5.2f}x", flush=True)
    return rows


def plot(rows_file: Path, image: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = json.loads(rows_file.read_text())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, runtime in zip(axes, ("onnxruntime", "executorch")):
        for variant in ("original", *REWRITES):
            points = sorted((r["tokens"], r["ms"]) for r in rows if r["runtime"] == runtime and r["variant"] == variant)
            ax.plot(*zip(*points), marker="o", label=variant)
        ax.set(title=f"{runtime}, this CPU", xlabel="tokens", xscale="log", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms per linear-attention layer (1152 wide, 16 heads)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(image, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    a = sub.add_parser("attention")
    a.add_argument("--tokens", type=int, nargs="+", default=[1024, 2760, 8192, 16384])
    s = sub.add_parser("stages")
    s.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    s.add_argument("--preset", choices=("270m",), default=None, help="random weights of a preset instead")
    s.add_argument("--height", type=int)
    s.add_argument("--width", type=int)
    s.add_argument("--frames", type=int, default=17)
    s.add_argument("--only", nargs="+", metavar="STAGE", help="measure only these stages (e.g. encoder decoder): "
                   "at 720p a stage's three exports take minutes")
    for p in (a, s):
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--json", type=Path, default=None)
    p = sub.add_parser("plot")
    p.add_argument("rows", type=Path)
    p.add_argument("image", type=Path)
    args = parser.parse_args()
    if args.part == "plot":
        return plot(args.rows, args.image)
    keep_freed_memory()
    rows = attention(args) if args.part == "attention" else stages(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
