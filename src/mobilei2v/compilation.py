"""`torch.compile` for inference, opt-in and never silent: each model part is compiled once per input
shape, and every compile is announced, timed and, if it fails, an error.

Inductor fuses the element-wise ops around the matmuls and convolutions, which it leaves to the same
oneDNN kernels as eager: on a CPU the denoiser gains a few per cent, the light decoder loses some, and
each part's first call at a shape waits tens of seconds for its compile (docs/performance.md). Hence
opt-in (`MobileI2VPipeline.compile`, `generate --compile`), and reported whenever it happens.

torch.compile is asked for `dynamic=False`: kernels specialised to each shape, a new shape a new compile
(announced like the first). And for `fullgraph=True`, because by default torch.compile hides its failures:
an op it cannot trace splits the part into compiled pieces with eager code between them, and a part
recompiled for too many shapes (torch._dynamo.config.recompile_limit, 8) runs eager from then on, both
with no more than a log line. With fullgraph either is an error instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from .precision import dtype_name


class CompileError(RuntimeError):
    """torch.compile could not compile a model part for a shape."""


class CompiledForward:
    """Stands in for `module.forward` (`compile_module`): the first call at each input signature (shapes,
    dtypes and the other arguments; the module's dtype and device; grad mode) compiles, saying so through
    `report` before and with the seconds after; later calls at that signature reuse the compiled code.

    `compilations` counts the graphs torch.compile handed to the backend: each one a compile. A compile at
    a signature already seen (torch.compile's guards can see more than the signature) is reported too."""

    def __init__(self, module: torch.nn.Module, name: str, backend: str | Callable, report: Callable[[str], None]):
        self.name, self.backend, self.report = name, backend, report
        self.eager = module.forward
        self.module = module
        self.compilations = 0
        self.signatures: set[tuple] = set()
        compiler = torch._dynamo.lookup_backend(backend)

        def counting_backend(graph, example_inputs):
            self.compilations += 1
            return compiler(graph, example_inputs)

        self.compiled = torch.compile(self.eager, backend=counting_backend, dynamic=False, fullgraph=True)

    def __call__(self, *args, **kwargs):
        parameter = next(self.module.parameters(), None)
        signature = (_signature((args, kwargs)), torch.is_grad_enabled(),
                     None if parameter is None else (parameter.dtype, parameter.device))
        new = signature not in self.signatures
        what = _describe(args, parameter)
        if new:
            self.report(f"compiling the {self.name} with {self.backend} for {what} "
                        "(once per shape; this call waits for it)")
        compilations, start = self.compilations, time.perf_counter()
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as err:
            if not new and self.compilations == compilations:
                raise  # the compiled code's own error, not a compile's
            cause = getattr(err, "inner_exception", None) or err  # the backend's own error, if it raised one
            first_line = next(iter(str(cause).strip().splitlines()), "")
            raise CompileError(f"torch.compile ({self.backend}) could not compile the {self.name} for {what}: "
                               f"{type(cause).__name__}: {first_line} (run without compiling)") from err
        seconds = time.perf_counter() - start
        if new:
            self.signatures.add(signature)
        if self.compilations == compilations:
            if new:
                self.report(f"the {self.name} reused an earlier compile for {what}")
        elif new:
            self.report(f"compiled the {self.name} in {seconds:.1f} s (this call included); "
                        "later calls at this shape reuse it")
        else:
            self.report(f"recompiled the {self.name} for {what} in {seconds:.1f} s: torch.compile's guards saw a "
                        "change the shapes do not show")
        return out


def compile_module(module: torch.nn.Module, name: str, backend: str | Callable = "inductor",
                   report: Callable[[str], None] = tqdm.write) -> CompiledForward:
    """Compile `module`'s forward in place, lazily: each input shape is compiled on its first call
    (`CompiledForward`). The module's class, parameters and state dict are unchanged; `name` is what
    the reports call it; `backend` is torch.compile's (a name, or a function for tests). `report`
    defaults to tqdm's print, which keeps progress bars intact. Compiling an already compiled module
    returns it as it is."""
    if isinstance(module.forward, CompiledForward):
        return module.forward
    module.forward = CompiledForward(module, name, backend, report)
    return module.forward


def _signature(value):
    """A hashable stand-in for the arguments, with tensors reduced to what a static-shape compile
    specialises on."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.device)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *map(_signature, value))
    if isinstance(value, dict):
        return ("dict", *((key, _signature(item)) for key, item in sorted(value.items())))
    return value


def _describe(args: tuple, parameter: torch.Tensor | None) -> str:
    """The first tensor argument's shape and the weights' dtype, e.g. "(1, 128, 3, 23, 40) in bf16"."""
    shape = next((tuple(a.shape) for a in args if isinstance(a, torch.Tensor)), ())
    return f"{shape}" + ("" if parameter is None else f" in {dtype_name(parameter.dtype)}")
