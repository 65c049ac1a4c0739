"""Hostile input to `mobilei2v generate`, `evaluate`, `init-model` and `convert-official`: each is refused
with one line naming what is wrong, before the model is loaded where the arguments alone show it, and
no video is ever written from a broken model."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from mobilei2v import MobileI2VPipeline, build
from mobilei2v.models.denoiser import MobileI2VDenoiser
from mobilei2v.models.official import CheckpointError, _translate, convert_official

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture
def never_loads(monkeypatch):
    """Fail the test if the command loads a model: these arguments must be refused before."""
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")
    monkeypatch.setattr(MobileI2VPipeline, "from_pretrained", load)


@pytest.mark.parametrize("args, says", [
    (["--motion", "nan"], "motion score"),
    (["--motion", "inf"], "motion score"),
    (["--motion", "-1"], "motion score"),
    (["--fps", "0"], "fps"),
    (["--fps", "0.4"], "fps"),
    (["--fps", "1e9"], "fps"),
    (["--fps", "-5"], "fps"),
    (["--fps", "nan"], "fps"),
    (["--sigmas", "1.0", "1.0", "0.5"], "strictly decreasing"),
    (["--height", "100000", "--width", "100000"], "GiB"),
])
def test_bad_arguments_are_refused_before_loading(cli, photo, tmp_path, never_loads, args, says):
    code, out, err = cli("generate", photo, "-o", tmp_path / "out.mp4", *args)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("command", "option", "value"), [
    ("generate", "--seed", "99999999999999999999999"),
    ("generate", "--steps", "0"),
    ("evaluate", "--steps", "-3"),
    ("evaluate", "--steps", "2.5"),
])
def test_a_value_out_of_range_is_refused_by_the_parser(cli, photo, tmp_path, never_loads, capsys, command, option,
                                                       value):
    args = (photo, "-o", tmp_path / "out.mp4") if command == "generate" else ()
    with pytest.raises(SystemExit) as exit_:
        cli(command, *args, option, value)
    assert exit_.value.code == 2 and f"argument {option}" in capsys.readouterr().err


def test_an_output_that_is_a_folder_is_refused_before_loading(cli, photo, tmp_path, never_loads):
    (tmp_path / "out.mp4").mkdir()
    code, out, err = cli("generate", photo, "-o", tmp_path / "out.mp4", "--overwrite")
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize("args, says", [
    (["--scores", "-1", "2"], "motion score"),
    (["--scores", "nan", "2"], "motion score"),
    (["--json", "/missing/x.json"], "does not exist"),
    (["--sigmas", "0.5", "0.5"], "strictly decreasing"),
])
def test_evaluate_checks_its_arguments_before_loading(cli, never_loads, args, says):
    code, out, err = cli("evaluate", *args)
    assert code == 2 and says in err, err


def damaged_copy(model_dir: str, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    return folder


def put_nan(folder: Path) -> str:
    path = folder / "denoiser" / WEIGHTS
    tensors = load_file(path)
    name = sorted(tensors)[0]
    tensors[name][0] = math.nan
    save_file(tensors, path)
    return name


def overwrite_bytes(folder: Path) -> str:
    path = folder / "light_decoder" / WEIGHTS
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header:] = b"\xff" * (len(data) - header)  # same size: every weight becomes NaN
    path.write_bytes(bytes(data))
    return "light_decoder"


def config_is_a_list(folder: Path) -> str:
    (folder / "denoiser" / "config.json").write_text("[1, 2, 3]")
    return "JSON list"


def heads_in_words(folder: Path) -> str:
    config = folder / "denoiser" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_heads": "seven"}))
    return "num_heads"


def negative_shift(folder: Path) -> str:
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "shift": -3.0}))
    return "shift"


def foreign_light_decoder(folder: Path) -> str:
    shutil.rmtree(folder / "light_decoder")
    build("light_decoder", "tiny-per-frame").save_pretrained(folder / "light_decoder")  # 1× in time, the VAE 8×
    return "do not fit"


@pytest.mark.parametrize("damage", [put_nan, overwrite_bytes, config_is_a_list, heads_in_words, negative_shift,
                                    foreign_light_decoder])
def test_a_damaged_model_folder_is_refused_naming_what_is_wrong(cli, photo, tiny_model_dir, tmp_path, damage):
    folder = damaged_copy(tiny_model_dir, tmp_path)
    says = damage(folder)
    code, out, err = cli("generate", photo, "-o", tmp_path / "out.mp4", "--model", folder, "--steps", "1",
                         "--frames", "1")
    assert code == 2 and says in err, err
    assert not (tmp_path / "out.mp4").exists()


def test_init_model_refuses_parts_that_do_not_fit(cli, tmp_path):
    code, out, err = cli("init-model", tmp_path / "m", "--preset", "mobilei2v-tiny", "--vae", "tiny",
                         "--light-decoder", "turbo-vaed-ltx")
    assert code == 2 and "do not fit" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_convert_official_names_a_tensor_holding_nan_or_inf(value):
    denoiser = MobileI2VDenoiser(in_channels=16, hidden_size=144, num_heads=2, ffn_hidden_size=288,
                                 attention_types=["linear", "softmax"])
    state = {_translate(name, to_ours=False): t.clone() for name, t in denoiser.state_dict().items()}
    state["blocks.1.mlp.point_conv.conv.weight"].view(-1)[3] = value
    with pytest.raises(CheckpointError, match=r"blocks\.1\.mlp\.point_conv\.conv\.weight"):
        convert_official(state, log=lambda m: None)


def test_a_partial_file_left_by_a_kill_is_removed_at_the_next_write(cli, photo, tiny_model_dir, tmp_path):
    stale = tmp_path / ".out.mp4.partial-abc123.mp4"
    stale.write_bytes(b"half a video")
    os.utime(stale, (0, 0))  # written by a process before this one
    code, out, err = cli("generate", photo, "-o", tmp_path / "out.mp4", "--model", tiny_model_dir, "--steps", "1",
                         "--frames", "1")
    assert code == 0, err
    assert not stale.exists() and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
