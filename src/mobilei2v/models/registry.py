"""One place to build or load a model part: each component's classes and its named presets.

`build("denoiser", "mobilei2v-270m")` makes a randomly initialised part from a preset (a named set of
constructor arguments, kept beside its model: `DENOISER_PRESETS`, `VAE_PRESETS`, `LIGHT_DECODER_PRESETS`);
`build("vae", "runs/vae/final/vae")` loads a saved one, after checking the folder; `load` takes folders
only (where a preset's random weights would be a silent mistake: the VAE that encodes a data set). A preset or a saved
config may name its class with `_class_name` (diffusers' own key): the VAE's `LinearPathAutoencoder`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.models.modeling_utils import ModelMixin

from ..io.model_folder import check_safetensors, read_config
from .denoiser import MobileI2VDenoiser
from .light_decoder import LIGHT_DECODER_PRESETS, LightDecoder
from .presets import DENOISER_PRESETS
from .vae import VAE_PRESETS, LinearPathAutoencoder


@dataclass(frozen=True)
class Component:
    classes: tuple[type[ModelMixin], ...]  # what a saved folder may hold; the first is a preset's default
    presets: dict[str, dict[str, Any]]
    what: str  # for messages

    def class_named(self, name: str | None, source: str) -> type[ModelMixin]:
        by_name = {cls.__name__: cls for cls in self.classes}
        if name is None:
            return self.classes[0]
        if name not in by_name:
            raise ValueError(f"{source} holds a {name!r}, not a {' or '.join(by_name)} ({self.what})")
        return by_name[name]


COMPONENTS = {
    "denoiser": Component((MobileI2VDenoiser,), DENOISER_PRESETS, "denoiser"),
    "vae": Component((AutoencoderKLLTXVideo, LinearPathAutoencoder), VAE_PRESETS, "VAE"),
    "light_decoder": Component((LightDecoder,), LIGHT_DECODER_PRESETS, "light decoder"),
}


def build(component: str, name: str | Path, **overrides: Any) -> ModelMixin:
    """A `component` ("denoiser", "vae" or "light_decoder"): randomly initialised from the preset `name`
    (with constructor `overrides`), or loaded from the saved folder `name` (a component folder, or a
    MobileI2V model folder holding one). Overrides of a saved denoiser may only add weights (switches such
    as `camera_condition`): its weights are kept (`with_options`) and the model computes what it did until
    it is trained further (all but `softmax_qk_norm`, which changes it)."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; choose from: {', '.join(COMPONENTS)}")
    spec = COMPONENTS[component]
    if str(name) in spec.presets:
        kwargs = {**spec.presets[str(name)], **overrides}
        return spec.class_named(kwargs.pop("_class_name", None), f"preset {name!r}")(**kwargs)
    model = load(component, name)
    return with_options(component, model, overrides, name) if overrides else model


def with_options(component: str, model: ModelMixin, overrides: dict[str, Any], source: str | Path) -> ModelMixin:
    """A new `component` like the trained `model` (from `source`, for messages) with constructor `overrides`,
    keeping its weights (`adopt_weights`); ValueError for an option it does not have or one that would drop
    or reshape trained weights."""
    spec = COMPONENTS[component]
    unknown = set(overrides) - set(inspect.signature(type(model).__init__).parameters)
    if unknown:
        raise ValueError(f"a {spec.what} has no option {', '.join(sorted(unknown))}")
    if not hasattr(model, "adopt_weights"):
        raise ValueError(f"a saved {spec.what} takes no options (only a preset does)")
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}
    changed = type(model)(**{**config, **overrides})
    try:
        changed.adopt_weights(model)  # the class knows how its switches grow its weights
    except ValueError as err:
        raise ValueError(f"cannot give the {spec.what} in {source} {overrides}: {err}") from None
    return changed.eval()


def load(component: str, folder: str | Path) -> ModelMixin:
    """A saved `component` from its folder, or from a MobileI2V model folder holding one (checked first:
    ValueError naming what is missing, damaged or of another class)."""
    spec = COMPONENTS[component]
    folder = Path(folder)
    if (folder / component / "config.json").is_file():  # a whole model's folder: take its part
        folder = folder / component
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"not a {spec.what} folder: {config} is missing (give a saved {spec.what} or a model "
                         f"folder{'' if str(folder) in spec.presets else ', or for a new one a preset: ' + ', '.join(spec.presets)})")
    cls = check_config(component, config)
    weights = folder / "diffusion_pytorch_model.safetensors"
    if weights.is_file():
        check_safetensors(weights)
    try:
        model = cls.from_pretrained(folder).eval()
    except Exception as err:  # safetensors, json and diffusers raise many types for damaged files
        raise ValueError(f"cannot load the {spec.what} in {folder}: {type(err).__name__}: {err}") from None
    check_finite_weights(model, folder)
    return model


def check_config(component: str, config: Path) -> type[ModelMixin]:
    """The class a saved `component`'s `config.json` names, after checking that the file is a JSON object
    whose values have the types of that class's defaults: ValueError naming the file and the key."""
    spec = COMPONENTS[component]
    values = read_config(config)
    cls = spec.class_named(values.get("_class_name"), str(config.parent))
    for key, parameter in inspect.signature(cls.__init__).parameters.items():
        expected, value = type(parameter.default), values.get(key)
        if expected not in (int, float, bool, str) or value is None:
            continue
        # JSON has one number type: an int is a fine float, but true is no number.
        allowed = (int, float) if expected is float else (expected,)
        if not isinstance(value, allowed) or (expected is not bool and isinstance(value, bool)):
            raise ValueError(f"{config}: {key} must be a {expected.__name__}, got {value!r}")
    return cls


def check_finite_weights(model: torch.nn.Module, folder: Path) -> None:
    """ValueError naming the weights file and the tensor unless every weight is finite: one NaN (a diverged
    run, bytes overwritten on disk) makes every video all black."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"{folder / 'diffusion_pytorch_model.safetensors'}: tensor {name} holds NaN or "
                             "infinite values; the model is damaged")
