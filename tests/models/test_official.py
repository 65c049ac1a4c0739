"""Converting the authors' checkpoint layout: numerically equal to their forward pass, strict about names."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from official_reference import reference_forward

from mobilei2v.cli.main import main
from mobilei2v.diffusion import frame_timesteps
from mobilei2v.models.denoiser import MobileI2VDenoiser
from mobilei2v.models.official import CheckpointError, convert_official, load_official_state_dict

# The authors' checkpoint layout, as its state dict lists it: every tensor name and shape.
LAYOUT = Path(__file__).parent / "fixtures" / "official_mobiledit_300m_state_dict.txt"
UNUSED = ("y_embedder", "attention_y_norm", "pos_embed", "pos_embed_temporal")
# hidden 1152 (16 heads) → 144 (2 heads): the same layout, small enough to build per test.
SMALL = {1152: 144, 6912: 864, 3456: 432, 5760: 720, 2880: 360}


def read_layout(scale: dict[int, int] | None = None) -> dict[str, tuple[int, ...]]:
    layout = {}
    for line in LAYOUT.read_text().splitlines():
        if line.strip():
            name, shape = line.split()
            layout[name] = tuple((scale or {}).get(int(n), int(n)) for n in shape.split("x"))
    return layout


def random_state_dict(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in layout.items():
        noise = torch.randn(shape, generator=gen)
        if name.endswith("scale_shift_table"):
            sd[name] = noise / shape[-1] ** 0.5
        elif name.endswith("norm.weight"):
            sd[name] = 1 + 0.1 * noise
        else:
            sd[name] = 0.02 * noise
    return sd


def sample_inputs(grid=(3, 2, 3)):
    """Two samples with different σ and motion scores; latent frame 0 is the reference."""
    gen = torch.Generator().manual_seed(1)
    latents = torch.randn(2, 128, *grid, generator=gen)
    return latents, torch.tensor([0.83, 0.27]), torch.tensor([1.5, 6.0])


def run_ours(model, latents, sigma, motion):
    with torch.no_grad():
        return model(latents, frame_timesteps(sigma, latents.shape[2]), motion)


def assert_matches_reference(model, sd, latents, sigma, motion):
    with torch.no_grad():
        expected = reference_forward(sd, latents, 1000 * sigma, motion)
    ours = run_ours(model, latents, sigma, motion)
    error = (ours - expected).abs().max().item()
    scale = expected.abs().max().item()
    assert error <= 1e-4 * scale, f"max |ours - reference| = {error:.3g} at output scale {scale:.3g}"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The full authors' layout (~1 GB fp32) saved in their training format."""
    path = tmp_path_factory.mktemp("official") / "mobiledit_300m.pth"
    torch.save({"state_dict": random_state_dict(read_layout())}, path)
    yield path
    path.unlink()  # pytest keeps recent temp folders: don't leave a gigabyte behind per run


@pytest.fixture(scope="module")
def official(checkpoint) -> dict[str, torch.Tensor]:
    return load_official_state_dict(checkpoint)


@pytest.fixture(scope="module")
def converted(official):
    """(model, log messages); the model shares its tensors with `official`."""
    messages = []
    return convert_official(official, log=messages.append), messages


def test_converted_model_matches_the_authors_forward(converted, official):
    model, _ = converted
    used = sum(v.numel() for k, v in official.items() if not k.startswith(UNUSED))
    assert sum(p.numel() for p in model.parameters()) == used == 264_855_296  # docs/architecture.md §2: 264.86 M
    assert_matches_reference(model, official, *sample_inputs())


def test_scaled_down_layout_matches_on_a_larger_grid():
    """Same layout at hidden 144: a 2×4×5 grid exercises RoPE rows/columns and the depthwise conv's interior."""
    sd = random_state_dict(read_layout(SMALL), seed=2)
    model = convert_official(sd, log=lambda message: None)
    assert model.config.num_heads == 2
    assert_matches_reference(model, sd, *sample_inputs(grid=(2, 4, 5)))


def test_unused_tensors_are_dropped_with_a_notice(converted, official):
    _, messages = converted
    notice = " ".join(messages)
    assert all(re.search(rf"\b{name}\b", notice) for name in UNUSED), messages
    used_only = {k: v for k, v in official.items() if not k.startswith(UNUSED)}
    quiet = []
    convert_official(used_only, log=quiet.append)
    assert quiet == []


def write_garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 64)


def conversion_error(sd) -> str:
    with pytest.raises(CheckpointError) as info:
        convert_official(sd, log=lambda message: None)
    return str(info.value)


@pytest.mark.parametrize("name", [
    "final_layer.linear.bias",
    "blocks.3.mlp.depth_conv.conv.bias",
])
def test_missing_tensor_is_named(official, name):
    sd = dict(official)
    del sd[name]
    assert name in conversion_error(sd)


def test_unexpected_tensor_is_named(official):
    sd = dict(official)
    sd["blocks.2.attn.rel_pos.weight"] = torch.zeros(72)
    assert "blocks.2.attn.rel_pos.weight" in conversion_error(sd)


@pytest.mark.parametrize("name", [
    "blocks.0.attn.qkv.weight",
    "blocks.5.mlp.point_conv.conv.weight",
])
def test_misshaped_tensor_is_named(official, name):
    sd = dict(official)
    sd[name] = sd[name].transpose(0, 1)  # same number of values, wrong shape
    message = conversion_error(sd)
    assert name in message and str(tuple(sd[name].shape)) in message


def test_unreadable_or_absent_file_is_named(tmp_path):
    garbage = tmp_path / "garbage.pth"
    write_garbage(garbage)
    for path in (garbage, tmp_path / "absent.pth"):
        with pytest.raises(CheckpointError, match=path.name):
            load_official_state_dict(path)


def test_cli_writes_a_loadable_denoiser_and_refuses_to_overwrite(checkpoint, converted, tmp_path, capsys):
    out = tmp_path / "denoiser"
    assert main(["convert-official", str(checkpoint), str(out)]) == 0
    inputs = sample_inputs()
    assert torch.equal(run_ours(MobileI2VDenoiser.from_pretrained(out), *inputs), run_ours(converted[0], *inputs))

    before = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in out.iterdir())
    capsys.readouterr()
    assert main(["convert-official", str(checkpoint), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in out.iterdir()) == before
    shutil.rmtree(out)


def write_incomplete_checkpoint(path: Path) -> None:
    sd = random_state_dict(read_layout(SMALL))
    del sd["blocks.3.attn.proj.bias"], sd["final_layer.linear.bias"]
    torch.save({"state_dict": sd}, path)


def convert_bad_checkpoint(write, tmp_path: Path) -> int:
    bad = tmp_path / "bad.pth"
    write(bad)
    return main(["convert-official", str(bad), str(tmp_path / "denoiser")])


@pytest.mark.parametrize("write", [write_garbage, write_incomplete_checkpoint])
def test_cli_bad_checkpoint_fails_and_writes_nothing(write, tmp_path, capsys):
    assert convert_bad_checkpoint(write, tmp_path) == 2
    assert capsys.readouterr().err.startswith("mobilei2v convert-official: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pth"]  # no output, no partial folder


@pytest.mark.parametrize("write", [write_garbage, write_incomplete_checkpoint])
def test_cli_bad_checkpoint_message_is_one_line(write, tmp_path, capsys):
    assert convert_bad_checkpoint(write, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
