"""Model folders checked before loading: a missing, partial, truncated or foreign folder fails with a
ValueError that names the file, before a loader fails with a message that names none."""

from __future__ import annotations

import json
from pathlib import Path

from .files import read_json_object

_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")


def check_model_folder(path: str | Path, class_name: str, components: tuple[str, ...],
                       optional: tuple[str, ...] = ()) -> Path:
    """`path`, after checking that it is a diffusers pipeline folder of `class_name` holding every file its
    `components` need (those in `optional` only when its index lists them): ValueError naming the first
    one missing or damaged."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"model folder not found: {path}")
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise ValueError(f"{path} is not a model folder: {index_file.name} is missing")
    index = read_json_object(index_file, "a model index")
    if index.get("_class_name") != class_name:
        raise ValueError(f"{path} holds a {index.get('_class_name')!r}, not a {class_name}")
    for component in components:
        if not (index.get(component) or [None])[0]:
            if component not in optional:
                raise ValueError(f"{index_file} lists no {component}")
            continue
        folder = path / component
        config = folder / ("scheduler_config.json" if component == "scheduler" else "config.json")
        if not config.is_file():
            raise ValueError(f"the model folder is incomplete: {config} is missing")
        if component == "scheduler":
            _check_scheduler(config)
        else:
            if not any((folder / name).is_file() for name in _WEIGHT_FILES):
                raise ValueError(f"the model folder is incomplete: {folder / _WEIGHT_FILES[0]} is missing")
            if (folder / _WEIGHT_FILES[0]).is_file():
                check_safetensors(folder / _WEIGHT_FILES[0])
    return path


def check_safetensors(path: Path) -> None:
    """ValueError naming `path` unless its header parses and its size is what the header promises:
    catches truncated downloads and copies before a loader fails with a message that names no file."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")
            if not 0 < header_size <= size - 8:
                raise ValueError("bad header length")
            header = json.loads(f.read(header_size))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is corrupt (not a safetensors file: {err})") from None
    if size != 8 + header_size + end:
        raise ValueError(f"{path} is truncated or corrupt: {size} bytes, its header describes {8 + header_size + end}")


def read_config(config: Path) -> dict:
    """A config file's JSON object of settings: ValueError naming the file if it is not one."""
    return read_json_object(config, "an object of settings")


def _check_scheduler(config: Path) -> None:
    """ValueError naming the file and key unless the flow-matching scheduler's settings are usable: a
    shift of 0 or below turns the σ schedule upside down."""
    values = read_config(config)
    shift = values.get("shift", 1.0)
    if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not 0 < shift < float("inf"):
        raise ValueError(f"{config}: shift must be a positive number, got {shift!r}")
