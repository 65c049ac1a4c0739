"""Training configuration: dataclasses whose fields are the YAML keys, checked before any work.

An unknown key, a value of the wrong type, a resolution that is not a multiple of 8 or a frame count
below 1 fails at load time with the key's full name, e.g. `stages[1].height`. What depends on the
autoencoder (sizes on its latent grid, frame counts of its k·t+1 rule) is checked by the trainer against
the model's `LatentGeometry` before the first step.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..diffusion.sampler import check_sigmas
from ..models.geometry import MIN_SIZE, SIZE_MULTIPLE, LatentGeometry


class ConfigError(ValueError):
    """A configuration file that cannot be trained from; the message names the key."""


@dataclass
class Stage:
    """One step of progressive resolution: train `steps` steps on this data."""

    steps: int
    latent_cache: str | None = None  # a `mobilei2v data encode` folder (preferred: no VAE per step)
    videos: str | None = None  # or an authors'-format CSV, encoded on the fly
    height: int | None = None  # with `videos`: the clip size (on the latent grid) and length (k·t+1)
    width: int | None = None
    num_frames: int = 17
    batch_size: int = 1
    # with `latent_cache`: train on random square crops of this many latent cells a side, the same crop of
    # every latent frame and of the reference: a crop of the clip with the same motion in pixels and far
    # fewer tokens (progressive resolution from one cache)
    latent_crop: int | None = None


@dataclass
class Validation:
    every: int = 0  # steps between validation videos; 0 turns validation off
    images: list[str] = field(default_factory=list)
    motion_scores: list[float] = field(default_factory=lambda: [2.0])
    num_inference_steps: int = 30
    height: int | None = None  # default: the pipeline's size
    width: int | None = None
    num_frames: int = 17


@dataclass(kw_only=True)
class LoopConfig:
    """What every training run has: where it writes, what it trains on (its stages: each trainer's own
    kind), how it optimises, how often it saves."""

    output_dir: str
    stages: list[Any]
    seed: int = 0
    optimizer: Literal["came", "adamw"] = "came"
    learning_rate: float = 1e-4
    weight_decay: float = 0.1
    warmup_steps: int = 0
    lr_schedule: Literal["constant", "cosine"] = "constant"  # after warm-up: constant, or cosine decay to 0
    grad_clip: float = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    gradient_checkpointing: bool = False
    # under torchrun: ddp (every process holds whole models) or fsdp (each holds 1/N of them: sharding.py)
    distributed: Literal["ddp", "fsdp"] = "ddp"
    ema_decay: float = 0.9999
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    num_workers: int = 0

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)


@dataclass(kw_only=True)
class TrainConfig(LoopConfig):
    """`mobilei2v train`: the denoiser."""

    pipeline: str  # a MobileI2VPipeline folder: the VAE, scheduler and the denoiser to start from
    stages: list[Stage]
    mask_reference: bool = True
    # A denoiser with `camera_condition` sees "any direction" (zeros) instead of the clip's camera move
    # this often, so that it also generates when none is asked for.
    camera_dropout: float = 0.1
    validation: Validation = field(default_factory=Validation)


@dataclass
class DecoderStage:
    """Clips (`videos`, an authors'-format CSV) at one size; num_frames 1 trains on single frames."""

    steps: int
    videos: str
    height: int
    width: int
    num_frames: int = 17
    batch_size: int = 1
    # A random window of frames, a random crop at a random scale and a random mirror image instead of the
    # first frames, centred: many more distinct pictures from the same clips (VideoClipDataset._augmented).
    augment: bool = False


@dataclass
class DecoderValidation:
    """Reconstruction PSNR of the EMA weights on held-out clips (e.g. `data synth --holdout`), logged."""

    every: int = 0  # steps between measurements; 0 turns validation off
    videos: str | None = None
    height: int = 256
    width: int = 256
    num_frames: int = 1  # 1: the reference-frame case


@dataclass(kw_only=True)
class DecoderTrainConfig(LoopConfig):
    """`mobilei2v train-decoder`: distil the light decoder from a teacher VAE, or train an encoder and a
    light decoder from scratch."""

    mode: Literal["distill", "scratch"]
    stages: list[DecoderStage]
    teacher: str | None = None  # distill: a MobileI2VPipeline or AutoencoderKLLTXVideo folder (frozen)
    vae: str = "tiny"  # scratch: the encoder's VAE preset, or a VAE folder to continue from
    light_decoder: str = "turbo-vaed-ltx"  # a light-decoder preset, or a folder to continue from
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    optimizer: Literal["came", "adamw"] = "adamw"
    ema_decay: float = 0.999
    l1_weight: float = 1.0
    feature_weight: float = 1.0  # distill: MSE to the teacher decoder's intermediate features
    feature_blocks: list[int] = field(default_factory=lambda: [0, 1, 2])  # mid block, up blocks 0 and 1
    kl_weight: float = 1e-6  # scratch: keeps the latent near a unit Gaussian
    # scratch: decode a sample of the posterior, or its mode (a deterministic autoencoder). At the start
    # the posterior's std is ~1, far above its mean, and a sampled latent is mostly noise: training from
    # scratch stalls near "predict the average picture" until the encoder shrinks it.
    posterior: Literal["sample", "mode"] = "sample"
    # scratch: start the linear paths of the `small` presets as PCA of this many frames of the first stage
    pca_init: bool = False
    pca_images: int = 512
    pca_whiten: bool = True  # unit-variance latent channels; false: each channel's variance is its pixels' (`pca_init`)
    perceptual_weights: str | None = None  # a local torchvision VGG-16 state dict: adds an LPIPS term
    perceptual_linear_weights: str | None = None  # the `lpips` package's vgg.pth (else uniform channels)
    perceptual_weight: float = 1.0
    validation: DecoderValidation = field(default_factory=DecoderValidation)


@dataclass
class DistillStage:
    """Distil on the clips of one latent cache (`mobilei2v data encode`: the conditions and the real clips);
    `pairs` is the folder where `mobilei2v distill prepare` writes the teacher's results for them."""

    steps: int
    latent_cache: str
    pairs: str
    batch_size: int = 1
    clips: int | None = None  # distil on this many of the cache's clips, drawn at random with the seed (default: all)


@dataclass
class RegressionLoss:
    """A regression's weight: `regression` is the MSE of the student's x̂0 to the teacher's ODE result from
    the same noise, `real_regression` its MSE to the pair's real clip."""

    weight: float = 1.0


@dataclass
class AdversarialLoss:
    """LADD: the frozen teacher's features of re-noised student and real samples feed discriminator heads."""

    weight: float = 0.1
    # the teacher blocks whose features the heads read; default: the last block of each quarter of its depth
    # (3, 7, 11 and 15 of the 270m's 16)
    blocks: list[int] | None = None
    head_channels: int = 256
    # the heads' convolution over each frame's token grid: 1 (the paper's per-token heads) or an odd width
    head_kernel: int = 1
    # the heads' own learning rate (default: critic_learning_rate): they start from scratch, unlike the
    # fake-score model, and at the student's rate they stayed at chance (docs/distillation.md)
    learning_rate: float | None = None


@dataclass
class DistributionMatchingLoss:
    """DMD2: the student follows the difference of the teacher's and a fake-score model's estimates."""

    weight: float = 1.0
    fake_updates: int = 5  # fake-score updates per student update (DMD2's two time-scale rule)


@dataclass(kw_only=True)
class DistillConfig(LoopConfig):
    """`mobilei2v distill`: a 1–2-step student from a frozen teacher. Each loss is on when its section is
    given (regression by default; `regression: null` turns it off)."""

    teacher: str  # a MobileI2VPipeline folder: the frozen teacher; the student starts as a copy of its denoiser
    stages: list[DistillStage]
    student_sigmas: list[float] = field(default_factory=lambda: [1.0, 0.5])  # saved as the model's default_sigmas
    # the paper's QK-norm for 1-step students: the student's softmax blocks RMS-normalise q and k too (the
    # teacher's weights, norm weights at one; the normalisation is new, so the first steps relearn it)
    student_qk_norm: bool = False
    # the student's input at a later σ of its list comes from its own earlier steps (DMD2's backward
    # simulation) rather than from the line to the teacher's result; one more forward per earlier step
    backward_simulation: bool = False
    teacher_steps: int = 30  # prepare: Euler steps of the teacher's own (shifted) σ schedule
    pairs_per_clip: int = 1  # prepare: noises per clip, each with its own teacher result
    regression: RegressionLoss | None = field(default_factory=RegressionLoss)
    real_regression: RegressionLoss | None = None
    adversarial: AdversarialLoss | None = None
    distribution_matching: DistributionMatchingLoss | None = None
    critic_learning_rate: float | None = None  # the fake-score model and discriminator heads (default: learning_rate)
    # the student's folder carries the teacher's denoiser, which samples when a user asks for a number of steps
    keep_teacher: bool = True
    optimizer: Literal["came", "adamw"] = "adamw"
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    ema_decay: float = 0.99  # a distillation run is a few thousand steps


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    """`value` converted to `annotation` where that is lossless (int → float), else ConfigError."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _check_type(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be a list, got {type(value).__name__}")
        return [_check_type(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(annotation):
        return _from_dict(annotation, value, key)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-4 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if annotation in (int, float, str, bool) and (type(value) is not annotation):
        raise ConfigError(f"{key}: must be {annotation.__name__}, got {type(value).__name__} {value!r}")
    return value


def _from_dict(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'the configuration'}: must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    name = lambda key: f"{prefix}.{key}" if prefix else key  # noqa: E731
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{name(unknown[0])}: unknown key (known: {', '.join(fields)})")
    missing = [k for k, f in fields.items() if k not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{name(missing[0])}: required")
    return cls(**{key: _check_type(value, hints[key], name(key)) for key, value in data.items()})


def _validate_loop(config: LoopConfig) -> None:
    if not config.stages:
        raise ConfigError("stages: give at least one stage")
    for i, stage in enumerate(config.stages):
        if stage.steps < 1:
            raise ConfigError(f"stages[{i}].steps: must be at least 1")
        if stage.batch_size < 1:
            raise ConfigError(f"stages[{i}].batch_size: must be at least 1")
        if hasattr(stage, "num_frames"):  # (a distillation stage's clips are its cache's)
            _check_frames(stage.num_frames, f"stages[{i}].num_frames")
    for key in ("checkpoint_every", "keep_checkpoints", "gradient_accumulation_steps", "log_every"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key}: must be at least 1")
    if not 0.0 <= config.ema_decay < 1.0:
        raise ConfigError(f"ema_decay: must be in [0, 1), got {config.ema_decay}")


def _check_frames(num_frames: int, key: str) -> None:
    if num_frames < 1:
        raise ConfigError(f"{key}: must be at least 1, got {num_frames}")


def _check_size(stage, key: str) -> None:
    for side in ("height", "width"):
        size = getattr(stage, side)
        if size is None or size < MIN_SIZE or size % SIZE_MULTIPLE:
            raise ConfigError(f"{key}.{side}: must be a multiple of {SIZE_MULTIPLE} and at least {MIN_SIZE}, "
                              f"got {size}")


def check_geometry(config: LoopConfig, geometry: LatentGeometry) -> None:
    """ConfigError naming the key unless every clip size of `config` lies on `geometry`'s latent grid (padding
    would be learned as content) and every frame count follows its k·t+1 rule."""
    parts = [(f"stages[{i}]", stage) for i, stage in enumerate(config.stages)]
    if getattr(config, "validation", None) is not None:
        parts.append(("validation", config.validation))
    for key, part in parts:
        if (part.num_frames - 1) % geometry.temporal:
            raise ConfigError(f"{key}.num_frames: must be {geometry.frame_rule()} for this model's autoencoder, "
                              f"got {part.num_frames}")
        for side in ("height", "width"):
            size = getattr(part, side)
            if size is not None and size % geometry.spatial:
                raise ConfigError(f"{key}.{side}: must be a multiple of {geometry.spatial} (the autoencoder's "
                                  f"latent grid), got {size}")


def _validate(config: TrainConfig) -> None:
    _validate_loop(config)
    for i, stage in enumerate(config.stages):
        if (stage.latent_cache is None) == (stage.videos is None):
            raise ConfigError(f"stages[{i}]: give exactly one of latent_cache and videos")
        if stage.videos is not None:
            _check_size(stage, f"stages[{i}]")
            if stage.latent_crop is not None:
                raise ConfigError(f"stages[{i}].latent_crop: only for a latent_cache stage")
        if stage.latent_crop is not None and stage.latent_crop < 1:
            raise ConfigError(f"stages[{i}].latent_crop: must be at least 1, got {stage.latent_crop}")
    v = config.validation
    if v.every and not v.images:
        raise ConfigError("validation.images: give at least one image when validation.every > 0")
    _check_frames(v.num_frames, "validation.num_frames")


def _validate_decoder(config: DecoderTrainConfig) -> None:
    _validate_loop(config)
    for i, stage in enumerate(config.stages):
        _check_size(stage, f"stages[{i}]")
    if config.mode == "distill" and config.teacher is None:
        raise ConfigError("teacher: mode distill needs the teacher VAE's folder")
    v = config.validation
    if v.every and not v.videos:
        raise ConfigError("validation.videos: give a clips CSV when validation.every > 0")
    _check_size(v, "validation")
    _check_frames(v.num_frames, "validation.num_frames")
    if any(not 0 <= b <= 4 for b in config.feature_blocks):
        raise ConfigError(f"feature_blocks: indices 0 (mid block) to 4 (last up block), got {config.feature_blocks}")


def _validate_distill(config: DistillConfig) -> None:
    _validate_loop(config)
    for i, stage in enumerate(config.stages):
        if Path(stage.pairs).resolve() == Path(stage.latent_cache).resolve():
            raise ConfigError(f"stages[{i}].pairs: a folder of its own, not the latent cache")
        if stage.clips is not None and stage.clips < 1:
            raise ConfigError(f"stages[{i}].clips: must be at least 1 (leave it out for every clip), got {stage.clips}")
    try:
        check_sigmas(config.student_sigmas)
    except ValueError as err:
        raise ConfigError(f"student_sigmas: {err}") from None
    if config.student_sigmas[0] != 1.0:
        raise ConfigError(f"student_sigmas: must start at 1.0 (the student starts from pure noise), got "
                          f"{config.student_sigmas}")
    for key in ("teacher_steps", "pairs_per_clip"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key}: must be at least 1")
    losses = {"regression": config.regression, "real_regression": config.real_regression,
              "adversarial": config.adversarial, "distribution_matching": config.distribution_matching}
    if not any(losses.values()):
        raise ConfigError(f"{', '.join(losses)}: turn at least one loss on")
    for name, loss in losses.items():
        if loss is not None and not loss.weight > 0:
            raise ConfigError(f"{name}.weight: must be above 0 (leave the section out to turn the loss off), "
                              f"got {loss.weight}")
    if config.adversarial is not None:
        if config.adversarial.blocks is not None and (not config.adversarial.blocks
                                                      or min(config.adversarial.blocks) < 0):
            raise ConfigError(f"adversarial.blocks: block indices from 0, at least one, got "
                              f"{config.adversarial.blocks}")
        if config.adversarial.head_channels < 1:
            raise ConfigError("adversarial.head_channels: must be at least 1")
        if (kernel := config.adversarial.head_kernel) < 1 or kernel % 2 == 0:
            raise ConfigError(f"adversarial.head_kernel: an odd width of at least 1, got {kernel}")
        if config.adversarial.learning_rate is not None and not config.adversarial.learning_rate > 0:
            raise ConfigError(f"adversarial.learning_rate: must be above 0, got {config.adversarial.learning_rate}")
    if config.distribution_matching is not None and config.distribution_matching.fake_updates < 1:
        raise ConfigError("distribution_matching.fake_updates: must be at least 1")
    if (config.adversarial or config.distribution_matching) and config.gradient_accumulation_steps != 1:
        raise ConfigError("gradient_accumulation_steps: must be 1 with the adversarial or distribution-matching "
                          "loss (their models update once per batch); raise batch_size or the number of processes")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently,
    so an edit above a forgotten copy of the key would do nothing)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(path: str | Path, kind: type[LoopConfig] = TrainConfig) -> LoopConfig:
    """Read and check a YAML training configuration of `kind` (TrainConfig, DecoderTrainConfig or
    DistillConfig). A file may name another as `base:` (a path relative to itself): it holds the base's
    keys, each one it gives replacing the base's whole value (`adversarial: null` turns a loss off)."""
    return config_from_dict(_read_yaml(Path(path), ()), kind)


def _read_yaml(path: Path, including: tuple[Path, ...]) -> dict:
    """`path`'s mapping with its `base:` chain resolved; `including`: the files that led here."""
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    if path.resolve() in including:
        raise ConfigError(f"{including[-1]}: base: {path} leads back to itself")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict) or "base" not in data:
        return data  # config_from_dict names what is wrong with a non-mapping
    base = data.pop("base")
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base: must be a path to another configuration, got {base!r}")
    return {**_read_yaml(path.parent / base, (*including, path.resolve())), **data}


def config_from_dict(data: dict, kind: type[LoopConfig] = TrainConfig) -> LoopConfig:
    config = _from_dict(kind, data, "")
    {TrainConfig: _validate, DecoderTrainConfig: _validate_decoder, DistillConfig: _validate_distill}[kind](config)
    return config
