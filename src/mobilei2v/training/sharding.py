"""FSDP for the training loop (`distributed: fsdp`): PyTorch's `fully_shard` (FSDP2), on GPUs (NCCL) and on
CPUs (gloo) alike.

Each process keeps 1/N of every parameter, gradient, optimizer moment and EMA weight, and gathers a block's
whole weights only while it computes. accelerate's FSDP plugin would do the sharding too, but only on CUDA,
so the loop shards the modules itself and leaves accelerate the rest (autocast, data, the LR schedule, RNG
states). What accelerate would have saved for a sharded module is saved here instead, gathered whole on the
main process, in safetensors files: never a pickle (checkpoints.py says why).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from accelerate.optimizer import AcceleratedOptimizer
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method
from torch.distributed.tensor import DTensor, distribute_tensor

# Gathered whole on the main process only (every process takes part), in CPU memory.
_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
# Loaded from the whole tensors every process reads: each keeps its own shard.
_SCATTER = StateDictOptions(full_state_dict=True)


def shard(module: nn.Module) -> nn.Module:
    """Shard `module` in place across the processes: each of its `_no_split_modules` (the denoiser's blocks)
    is a unit of its own, gathered only for its own forward and backward, and the root holds the rest."""
    units = set(getattr(module, "_no_split_modules", None) or ())
    for sub in module.modules():
        if sub is not module and type(sub).__name__ in units:
            fully_shard(sub)
    fully_shard(module)
    # FSDP gathers the root's own weights around `forward` only; the distillation losses call the denoiser's
    # `forward_with_features` directly.
    if hasattr(module, "forward_with_features"):
        register_fsdp_forward_method(module, "forward_with_features")
    return module


def sharded_optimizer(optimizer: torch.optim.Optimizer) -> AcceleratedOptimizer:
    """`optimizer` wrapped as accelerate wraps a prepared one (no step or zero_grad between gradient
    accumulation's micro-batches) but not registered with accelerate, which would checkpoint the main
    process's shard of its state as if it were the whole."""
    return AcceleratedOptimizer(optimizer, device_placement=False)


def _flat_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """An optimizer state dict keyed by parameter names, as safetensors' tensors ("{name}.{key}") and
    metadata (the param groups, in JSON)."""
    tensors = {f"{name}.{key}": value.contiguous() for name, per_param in state["state"].items()
               for key, value in per_param.items()}
    return tensors, {"param_groups": json.dumps(state["param_groups"])}


def _nested_optimizer_state(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> dict:
    state: dict[str, dict[str, torch.Tensor]] = {}
    for flat, value in tensors.items():
        name, key = flat.rsplit(".", 1)  # a parameter's name has dots, a state key (exp_avg, step) none
        state.setdefault(name, {})[key] = value
    return {"state": state, "param_groups": json.loads(metadata["param_groups"])}


def save_sharded(module: nn.Module, optimizer: AcceleratedOptimizer, folder: Path, name: str,
                 is_main: bool) -> None:
    """Write `module`'s weights (`{name}.safetensors`) and its optimizer's state (`{name}-optimizer.safetensors`,
    keyed by parameter name; the param groups, with the learning rate, in its metadata) gathered whole. Every
    process calls this; the main one writes."""
    weights = get_model_state_dict(module, options=_GATHER)
    state = get_optimizer_state_dict(module, optimizer.optimizer, options=_GATHER)
    if is_main:
        save_file({k: v.contiguous() for k, v in weights.items()}, folder / f"{name}.safetensors")
        tensors, metadata = _flat_optimizer_state(state)
        save_file(tensors, folder / f"{name}-optimizer.safetensors", metadata=metadata)


def load_sharded(module: nn.Module, optimizer: AcceleratedOptimizer, folder: Path, name: str) -> None:
    """Restore what `save_sharded` wrote; every process calls this and keeps its own shard."""
    with safe_open(folder / f"{name}.safetensors", "pt") as f:
        weights = {k: f.get_tensor(k) for k in f.keys()}
    set_model_state_dict(module, weights, options=_SCATTER)
    with safe_open(folder / f"{name}-optimizer.safetensors", "pt") as f:
        state = _nested_optimizer_state({k: f.get_tensor(k) for k in f.keys()}, f.metadata())
    set_optimizer_state_dict(module, optimizer.optimizer, state, options=_SCATTER)


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole of a sharded tensor (a collective: every process calls it), or `tensor` itself."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def gathered_ema(ema: EMAModel) -> list[torch.Tensor]:
    """The EMA weights, whole, on every process (a collective)."""
    return [full_tensor(p).detach().cpu() for p in ema.shadow_params]


def scatter_ema(ema: EMAModel, whole: list[torch.Tensor]) -> None:
    """Load whole EMA weights into sharded ones: each process keeps its own shard."""
    for shadow, value in zip(ema.shadow_params, whole):
        if isinstance(shadow, DTensor):
            value = distribute_tensor(value.to(shadow.device, shadow.dtype), shadow.device_mesh, shadow.placements)
            shadow.to_local().copy_(value.to_local())
        else:
            shadow.copy_(value)


def full_model_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A sharded module's state dict, whole, on the main process ({} on the others; a collective)."""
    return get_model_state_dict(module, options=_GATHER)
