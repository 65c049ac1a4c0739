import re
from pathlib import Path

import pytest

from mobilei2v.cli.main import main
from mobilei2v.models.geometry import LatentGeometry
from mobilei2v.training.config import (
    ConfigError,
    DecoderTrainConfig,
    TrainConfig,
    check_geometry,
    config_from_dict,
    load_config,
)

BASE = {"pipeline": "model", "output_dir": "run", "stages": [{"steps": 10, "latent_cache": "cache"}]}


def with_(**changes):
    return {**BASE, **changes}


def test_minimal_config_gets_the_authors_defaults():
    config = config_from_dict(BASE)
    assert config.optimizer == "came" and config.learning_rate == 1e-4 and config.weight_decay == 0.1
    assert config.grad_clip == 1.0 and config.mask_reference and config.total_steps == 10


def test_yaml_scientific_notation_and_ints_are_floats(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pipeline: m\noutput_dir: r\nlearning_rate: 1e-4\nema_decay: 0\n"
                    "stages:\n  - {steps: 5, latent_cache: c}\n")
    config = load_config(path)
    assert config.learning_rate == 1e-4 and isinstance(config.ema_decay, float)


@pytest.mark.parametrize(("data", "key"), [
    (with_(learning_rat=1e-4), "learning_rat: unknown key"),
    (with_(stages=[{"steps": 5, "latent_cache": "c", "batchsize": 2}]), "stages[0].batchsize: unknown key"),
    (with_(learning_rate="fast"), "learning_rate: must be float"),
    (with_(checkpoint_every=2.5), "checkpoint_every: must be int"),
    (with_(gradient_checkpointing="yes"), "gradient_checkpointing: must be bool"),
    (with_(optimizer="sgd"), "optimizer: must be one of"),
    (with_(stages=[{"steps": 5, "videos": "v.csv", "height": 100, "width": 64}]), "stages[0].height: must be a multiple of 8"),
    (with_(stages=[{"steps": 5, "latent_cache": "c", "num_frames": 0}]), "stages[0].num_frames: must be at least 1"),
    (with_(stages=[{"steps": 5, "videos": "v.csv", "height": 64, "width": 64, "latent_crop": 2}]),
     "stages[0].latent_crop: only for a latent_cache stage"),
    (with_(stages=[{"steps": 5, "latent_cache": "c", "latent_crop": 0}]), "stages[0].latent_crop: must be at least 1"),
    (with_(stages=[{"steps": 5}]), "stages[0]: give exactly one of latent_cache and videos"),
    (with_(stages=[]), "stages: give at least one stage"),
    ({"output_dir": "r", "stages": []}, "pipeline: required"),
    (with_(validation={"every": 5}), "validation.images"),
])
def test_bad_configs_name_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert key in str(info.value)


@pytest.mark.parametrize(("geometry", "stage", "message"), [
    (LatentGeometry(32, 8), {"num_frames": 16}, "stages[0].num_frames: must be 8k+1"),
    (LatentGeometry(32, 8), {"height": 72, "width": 64}, "stages[0].height: must be a multiple of 32"),
    (LatentGeometry(32, 1), {"height": 72, "width": 64}, "stages[0].height: must be a multiple of 32"),
    (LatentGeometry(16, 1), {"height": 48, "width": 64, "num_frames": 16}, None),
])
def test_sizes_and_frame_counts_are_checked_against_the_models_autoencoder(geometry, stage, message):
    config = config_from_dict(with_(stages=[{"steps": 5, "videos": "v.csv", "height": 64, "width": 64, **stage}]))
    if message is None:
        check_geometry(config, geometry)
        return
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_geometry(config, geometry)


def test_cli_rejects_a_bad_config_before_any_work(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("pipeline: nowhere\noutput_dir: run\nstages: [{steps: 3, latent_cache: c}]\nwarmup: 5\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "warmup: unknown key" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_shipped_example_config_is_valid():
    config = load_config(Path(__file__).parents[2] / "configs" / "train-example.yaml")
    # the paper's schedule as the example writes it: 20,000 steps at 512 px, then 10,000 at 720p
    assert [s.steps for s in config.stages] == [20000, 10000] and config.total_steps == 30000
    assert config.optimizer == "came"


CONFIGS = Path(__file__).parents[2] / "configs"
SHIPPED_CONFIGS = sorted((CONFIGS / "shipped").glob("*.yaml"))
RECIPE_CONFIGS = SHIPPED_CONFIGS + sorted((CONFIGS / "experiments").rglob("*.yaml"))


@pytest.mark.parametrize("path", RECIPE_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_the_recipe_configs_are_valid(path):
    # docs/shipped-model.md runs these in order: a typo would surface only hours into reproducing it.
    # Each config's first line is the command that runs it.
    kind = DecoderTrainConfig if "mobilei2v train-decoder" in path.read_text().splitlines()[0] else TrainConfig
    config = load_config(path, kind)
    assert all(stage.steps > 0 for stage in config.stages) and config.output_dir.startswith("runs/")


def test_the_shipped_recipe_has_its_configs():
    assert {p.name for p in SHIPPED_CONFIGS} == {"autoencoder.yaml", "denoiser.yaml", "denoiser-guide.yaml"}


def test_a_config_takes_its_bases_keys_and_replaces_whole_values(tmp_path):
    (tmp_path / "base.yaml").write_text("pipeline: m\noutput_dir: runs/a\nlearning_rate: 1e-4\n"
                                        "stages: [{steps: 5, latent_cache: c}]\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mid.yaml").write_text("base: ../base.yaml\noutput_dir: runs/b\n")
    (tmp_path / "sub" / "top.yaml").write_text("base: mid.yaml\nstages: [{steps: 7, latent_cache: d}]\n")
    config = load_config(tmp_path / "sub" / "top.yaml")
    assert config.output_dir == "runs/b" and config.learning_rate == 1e-4  # from mid, from base
    assert [(s.steps, s.latent_cache) for s in config.stages] == [(7, "d")]  # the list replaced, not merged


@pytest.mark.parametrize(("files", "message"), [
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, "leads back to itself"),
    ({"a.yaml": "base: missing.yaml\n"}, "configuration file not found"),
    ({"a.yaml": "base: [b.yaml]\n"}, "base: must be a path"),
])
def test_a_bad_base_is_named(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "a.yaml")
