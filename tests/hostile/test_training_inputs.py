"""Hostile input to `mobilei2v train`: a checkpoint folder someone else could write to, damaged
checkpoints, and configurations that must fail naming the key or the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from mobilei2v.training.checkpoints import latest_checkpoint


def write_config(model_dir, clips_file, run: Path, **changes) -> Path:
    config = {
        "pipeline": str(model_dir), "output_dir": str(run), "optimizer": "adamw", "checkpoint_every": 1,
        "keep_checkpoints": 3, "stages": [{"steps": 2, "videos": str(clips_file), "height": 64, "width": 64,
                                           "num_frames": 9}],
    }
    config.update(changes)
    path = run.parent / f"{run.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained_run(model_dir, clips_file, tmp_path_factory):
    """A finished 2-step run with checkpoints at steps 1 and 2 (copied by each test that damages it)."""
    from mobilei2v.cli.main import main

    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--config", str(write_config(model_dir, clips_file, run))]) == 0
    return run


@pytest.fixture
def run_copy(trained_run, model_dir, clips_file, tmp_path):
    """A copy of the trained run whose config asks for one more step: (config, run folder)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return write_config(model_dir, clips_file, run, stages=[
        {"steps": 3, "videos": str(clips_file), "height": 64, "width": 64, "num_frames": 9}]), run


class RunsACommand:
    """Unpickling this runs `touch MARKER`: what an attacker's checkpoint file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("name", ["custom_checkpoint_0.pkl", "random_states_0.pkl"])
def test_resume_never_runs_code_from_a_checkpoint_folder(run_copy, cli, tmp_path, name):
    import pickle

    config, run = run_copy
    marker = tmp_path / "MARKER"
    newest = latest_checkpoint(run)
    (newest / name).write_bytes(pickle.dumps(RunsACommand(marker)))
    code, out, err = cli("train", "--config", config, "--resume")
    assert not marker.exists(), "resuming ran code from the checkpoint folder"
    # The poisoned checkpoint is named and passed over for the one before it.
    assert code == 0 and f"skipped {newest}" in out and "resumed from" in out


@pytest.mark.parametrize("damage", ["truncated weights", "corrupt state file"])
def test_resume_falls_back_to_the_last_checkpoint_that_loads(run_copy, cli, damage):
    config, run = run_copy
    newest = latest_checkpoint(run)
    if damage == "truncated weights":
        weights = newest / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (newest / "trainer_state.json").write_text("{not json")
    code, out, err = cli("train", "--config", config, "--resume")
    assert code == 0, err
    assert f"skipped {newest}" in out and "step-00000001 at step 1" in out
