"""Module swaps for export rewrites: a copy of a model with some of its modules replaced, the original untouched."""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import nn


def swap_modules(module: nn.Module, kind: type[nn.Module], rewrite: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """`module`, or a copy of it with every submodule of type `kind` replaced by `rewrite(submodule)` if it has any
    (`rewrite(module)` if `module` is one)."""
    if isinstance(module, kind):
        return rewrite(module)
    if not any(isinstance(m, kind) for m in module.modules()):
        return module
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, kind):
                setattr(parent, name, rewrite(child))
    return module
