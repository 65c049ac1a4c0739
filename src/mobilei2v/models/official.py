"""Load a checkpoint in the authors' layout ("Mobiledit_300M_P1_D16") into `MobileI2VDenoiser`.

`../shared/reference/official_mobiledit_300m_state_dict.txt` lists every tensor of that layout. The
1×1 convs become Linears (same numbers, reshaped); the unused caption projector and `pos_embed`
buffers are dropped; anything else missing, unexpected or mis-shaped is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .denoiser import MobileI2VDenoiser

# Tensors of the authors' model that the released network never uses (it has no text path and no
# absolute positional embedding).
UNUSED_PREFIXES = ("y_embedder.", "attention_y_norm.", "pos_embed", "pos_embed_temporal")
HEAD_DIM = 72  # the authors fix the head dimension, not the head count

# authors' name → ours; a trailing "1x1" marks a 1×1 conv weight that becomes a Linear weight.
_RENAMES = [
    (r"x_embedder\.proj\.(weight|bias)", r"x_embedder.\1"),
    (r"t_embedder\.mlp\.(\d)\.(weight|bias)", r"timestep_embedder.mlp.\1.\2"),
    (r"flow_embedder\.mlp\.(\d)\.(weight|bias)", r"motion_embedder.mlp.\1.\2"),
    (r"t_block\.1\.(weight|bias)", r"timestep_modulation.proj.\1"),
    (r"flow_block\.1\.(weight|bias)", r"motion_modulation.proj.\1"),
    (r"blocks\.(\d+)\.scale_shift_table", r"blocks.\1.scale_shift_table"),
    (r"blocks\.(\d+)\.attn\.(qkv|proj|q_norm|k_norm)\.(weight|bias)", r"blocks.\1.attn.\2.\3"),
    (r"blocks\.(\d+)\.mlp\.inverted_conv\.conv\.(weight|bias)", r"blocks.\1.ffn.expand.\2"),
    (r"blocks\.(\d+)\.mlp\.depth_conv\.conv\.(weight|bias)", r"blocks.\1.ffn.depthwise.\2"),
    (r"blocks\.(\d+)\.mlp\.point_conv\.conv\.weight", r"blocks.\1.ffn.project.weight"),
    (r"final_layer\.(scale_shift_table|linear\.weight|linear\.bias)", r"final_layer.\1"),
]


class CheckpointError(ValueError):
    """The checkpoint does not match the authors' layout."""


def load_official_state_dict(path: str | Path, use_ema: bool = False) -> dict[str, torch.Tensor]:
    """The raw tensors of an authors' `.pth` (a bare state dict or a training checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"cannot read {path} as a PyTorch checkpoint: {err}") from None
    key = "state_dict_ema" if use_ema else "state_dict"
    if isinstance(checkpoint, dict) and key in checkpoint:
        checkpoint = checkpoint[key]
    elif use_ema:
        raise CheckpointError(f"{path} has no 'state_dict_ema' entry")
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in checkpoint.items()}


def config_from_official(state_dict: dict[str, torch.Tensor]) -> dict:
    """`MobileI2VDenoiser` arguments read off the tensor shapes and names."""
    try:
        hidden, in_channels = state_dict["x_embedder.proj.weight"].shape[:2]
        depth = 1 + max(int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k)))
        ffn_hidden = state_dict["blocks.0.mlp.point_conv.conv.weight"].shape[1]
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"not an authors' MobileI2V checkpoint: missing {err}") from None
    # Softmax blocks are the ones whose qkv has a bias and no q/k norm.
    attention = ["softmax" if f"blocks.{i}.attn.qkv.bias" in state_dict else "linear" for i in range(depth)]
    return dict(in_channels=in_channels, hidden_size=hidden, num_heads=hidden // HEAD_DIM,
                ffn_hidden_size=ffn_hidden, attention_types=attention)


def _rename(name: str) -> str | None:
    for pattern, replacement in _RENAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, replacement, name)
    return None


def convert_official(state_dict: dict[str, torch.Tensor], log=print) -> MobileI2VDenoiser:
    """Build a denoiser holding the authors' weights; raise CheckpointError naming every mismatch."""
    with torch.device("meta"):  # shapes only: the checkpoint supplies every value
        model = MobileI2VDenoiser(**config_from_official(state_dict))
    expected = model.state_dict()
    converted, unexpected, dropped = {}, [], []
    for name, tensor in state_dict.items():
        if name.startswith(UNUSED_PREFIXES):
            dropped.append(name)
        elif (ours := _rename(name)) is None or ours not in expected:
            unexpected.append(name)
        else:
            converted[ours] = tensor
    problems = [f"unexpected tensor {name}" for name in unexpected]
    problems += [f"missing tensor for {name}" for name in expected if name not in converted]
    for name, tensor in converted.items():
        want = expected[name].shape
        if tensor.shape not in (want, (*want, 1, 1)):
            problems.append(f"{name}: shape {tuple(tensor.shape)} does not fit {tuple(want)}")
        else:
            converted[name] = tensor.reshape(want)  # 1×1 conv (O, I, 1, 1) → Linear (O, I)
    if problems:
        raise CheckpointError("checkpoint does not match the MobileI2V layout:\n  " + "\n  ".join(problems))
    if dropped:
        log(f"dropped {len(dropped)} unused tensors (caption projector, positional-embedding buffers): "
            + ", ".join(sorted({n.split('.')[0] for n in dropped})))
    model.load_state_dict({k: v.float() for k, v in converted.items()}, strict=True, assign=True)
    return model.eval()
