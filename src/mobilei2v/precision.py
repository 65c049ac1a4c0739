"""Which floating-point precision to run a model in: bf16 where the hardware multiplies bf16 natively,
fp32 elsewhere.

bf16 halves the bytes moved and, on hardware with bf16 instructions, runs matmuls and convolutions faster
than fp32: a whole 720p video took 2.2× less time on an EPYC with AVX-512 BF16 (docs/performance.md), and
AMX is faster still. Without such instructions (an AVX2-only CPU) PyTorch emulates bf16 and it is about
10× *slower* than fp32, so the choice depends on the machine, and `auto` makes it.

In a bf16 model these stay fp32, because they accumulate or compare small differences:
- the Euler integration of the latents between steps (`sample_latents`): 30 updates of a few per cent
  each would round away in bf16's 8-bit mantissa;
- the linear attention's K^T V sums and normaliser over all tokens (`LinearAttention`), as the authors do;
- the QK RMSNorms (`RMSNorm`) and the timestep sinusoids (`timestep_embedding`);
- the encoder's output latents and the decoder's output video, returned as fp32.
"""

from __future__ import annotations

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
CHOICES = ("auto", *DTYPES)


def native_bf16(device: torch.device | str = "cpu") -> tuple[bool, str]:
    """Whether `device` multiplies bf16 in hardware, and what was found."""
    device = torch.device(device)
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported(including_emulation=False)
        return supported, f"{torch.cuda.get_device_name(device)} {'has' if supported else 'lacks'} bf16"
    if device.type == "cpu":
        # torch.cpu's private probes (cpuinfo underneath) work on every OS, unlike reading /proc/cpuinfo.
        probes = {"AMX": "_is_amx_tile_supported", "AVX-512 BF16": "_is_avx512_bf16_supported"}
        found = [name for name, probe in probes.items() if getattr(torch.cpu, probe, lambda: False)()]
        if found:
            return True, f"this CPU has {' and '.join(found)} instructions"
        return False, f"this CPU has no bf16 instructions ({torch.backends.cpu.get_cpu_capability()} only)"
    return False, f"bf16 speed on {device.type} is not known"


def resolve_dtype(choice: str | torch.dtype, device: torch.device | str = "cpu") -> tuple[torch.dtype, str]:
    """`choice` ("auto", "fp32", "bf16" or a torch dtype) → the dtype to use and why, in a few words."""
    if isinstance(choice, torch.dtype):
        return choice, "as asked"
    if choice not in CHOICES:
        raise ValueError(f"dtype must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice != "auto":
        return DTYPES[choice], "as asked"
    native, why = native_bf16(device)
    if native:
        return torch.bfloat16, f"auto: {why}"
    return torch.float32, f"auto: {why}, where bf16 would be slower than fp32"


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}.get(dtype, str(dtype).removeprefix("torch."))
