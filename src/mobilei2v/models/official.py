"""Load a checkpoint in the authors' layout ("Mobiledit_300M_P1_D16") into `MobileI2VDenoiser`.

`tests/models/fixtures/official_mobiledit_300m_state_dict.txt` lists every tensor of that layout. The
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

# (authors' prefix, ours): a name continues identically after its prefix, and names with no listed
# prefix (attention, scale-shift tables, final layer) are the same on both sides. The last three live
# inside `blocks.N.`. The 1×1 convs become Linears (same numbers, reshaped).
_PREFIXES = [
    ("x_embedder.proj.", "x_embedder."),
    ("t_embedder.", "timestep_embedder."),
    ("flow_embedder.", "motion_embedder."),
    ("t_block.1.", "timestep_modulation.proj."),
    ("flow_block.1.", "motion_modulation.proj."),
    ("mlp.inverted_conv.conv.", "ffn.expand."),
    ("mlp.depth_conv.conv.", "ffn.depthwise."),
    ("mlp.point_conv.conv.", "ffn.project."),
]


def _translate(name: str, to_ours: bool) -> str:
    for official, ours in _PREFIXES:
        source, target = (official, ours) if to_ours else (ours, official)
        renamed, hits = re.subn(rf"^((?:blocks\.\d+\.)?){re.escape(source)}", rf"\g<1>{target}", name)
        if hits:
            return renamed
    return name


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
        # torch's own text runs over several lines and advises weights_only=False: not for a user here.
        raise CheckpointError(f"cannot read {path} as a PyTorch checkpoint ({type(err).__name__})") from None
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


def convert_official(state_dict: dict[str, torch.Tensor], log=print) -> MobileI2VDenoiser:
    """Build a denoiser holding the authors' weights; raise CheckpointError naming every mismatch."""
    with torch.device("meta"):  # shapes only: the checkpoint supplies every value
        model = MobileI2VDenoiser(**config_from_official(state_dict))
    expected = model.state_dict()
    converted, unexpected, dropped = {}, [], []
    for name, tensor in state_dict.items():
        if name.startswith(UNUSED_PREFIXES):
            dropped.append(name)
        elif (ours := _translate(name, to_ours=True)) in expected:
            converted[ours] = tensor
        else:
            unexpected.append(name)
    # Problems are reported under the checkpoint's own names, the ones a user can find in the file.
    problems = [f"unexpected tensor {name}" for name in unexpected]
    problems += [f"missing tensor {_translate(name, to_ours=False)}" for name in expected if name not in converted]
    for name, tensor in converted.items():
        want = expected[name].shape
        if tensor.shape not in (want, (*want, 1, 1)):
            problems.append(f"{_translate(name, to_ours=False)}: shape {tuple(tensor.shape)} does not fit "
                            f"{tuple(want)}")
        else:
            converted[name] = tensor.reshape(want)  # 1×1 conv (O, I, 1, 1) → Linear (O, I)
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise CheckpointError("checkpoint does not match the MobileI2V layout: " + "; ".join(problems[:5]) + more)
    broken = [_translate(name, to_ours=False) for name, tensor in converted.items() if not torch.isfinite(tensor).all()]
    if broken:
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        raise CheckpointError(f"the checkpoint is damaged: {', '.join(broken[:5])}{more} hold NaN or infinite values")
    if dropped:
        log(f"dropped {len(dropped)} unused tensors (caption projector, positional-embedding buffers): "
            + ", ".join(sorted({n.split('.')[0] for n in dropped})))
    model.load_state_dict({k: v.float() for k, v in converted.items()}, strict=True, assign=True)
    return model.eval()
