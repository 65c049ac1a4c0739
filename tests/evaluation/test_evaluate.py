"""`mobilei2v evaluate` end to end on the tiny model: the table, the JSON, and the baselines' known values."""

from __future__ import annotations

import json
import math

import pytest

from mobilei2v.cli.main import main
from mobilei2v.data.holdout import holdout_paths
from mobilei2v.evaluation.image_to_video import ROW_LABELS, evaluate
from mobilei2v.pipeline import MobileI2VPipeline

ARGS = ["--photos", "2", "--scores", "0.5", "4", "--steps", "1", "--frames", "9"]


def test_evaluate_writes_a_contact_sheet_of_truth_and_generated_frames(capsys, tiny_model_dir, tmp_path):
    from PIL import Image

    sheet = tmp_path / "sheet.png"
    assert main(["evaluate", "--model", tiny_model_dir, *ARGS, "--sheet", str(sheet), "--sheet-photos", "2"]) == 0
    with Image.open(sheet) as image:
        # two photos at score 4 (the sweep has no 2): a truth and a generated row each, 128 pixels high,
        # under a 16-pixel header; nine frames a row
        assert image.height == 16 + 4 * 128 and image.width > 9 * 128
    assert main(["evaluate", "--model", tiny_model_dir, *ARGS, "--sheet", str(tmp_path / "sheet.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err


def test_evaluate_prints_the_table_and_writes_every_measure(capsys, tiny_model_dir, tmp_path):
    report_file = tmp_path / "report.json"
    assert main(["evaluate", "--model", tiny_model_dir, *ARGS, "--json", str(report_file)]) == 0
    out = capsys.readouterr().out
    assert "2 held-out photos x 2 motion scores, 9 frames at 96x64, 1 steps" in out
    assert all(label in out for label in ROW_LABELS.values())
    report = json.loads(report_file.read_text())
    summary = report["summary"]
    assert report["requested_motion"] == [0.5, 4.0, 0.5, 4.0]
    assert all(len(report["videos"][s]["motion"]) == 4 for s in ("generated", "input repeated", "ground truth",
                                                                 "autoencoder round trip"))
    # The ground-truth pans move as requested (with two tied pairs, 2/√5 is a perfect ranking); the
    # repeated input does not move, so no ranking exists.
    assert summary["motion_spearman"]["ground truth"] == pytest.approx(2 / math.sqrt(5))
    assert math.isnan(summary["motion_spearman"]["input repeated"])
    assert report["motion_curve"]["ground truth"]["4.0"] > 5 * report["motion_curve"]["ground truth"]["0.5"]
    # Both baselines start exactly at the input, and a still video has neither motion error nor flicker.
    assert summary["frame0_psnr"]["input repeated"] == summary["frame0_psnr"]["ground truth"] == math.inf
    assert summary["mc_psnr"]["input repeated"] == math.inf and summary["flicker"]["input repeated"] == 0
    assert summary["frame0_psnr"]["generated"] < math.inf  # random weights: anything but the input
    # A ground-truth pan moves in every frame and is every frame the photo, moved; a still video has no
    # evenness; random weights give neither.
    assert summary["evenness"]["ground truth"] > 0.8 and math.isnan(summary["evenness"]["input repeated"])
    assert summary["warp_psnr"]["ground truth"] > summary["warp_psnr"]["generated"] + 10
    assert summary["warp_psnr_worst"]["ground truth"] <= summary["warp_psnr"]["ground truth"]
    assert report["summary_scores_2_and_4"]["frame0_psnr"]["input repeated"] == math.inf
    before = report_file.read_text()
    assert main(["evaluate", "--model", tiny_model_dir, *ARGS, "--json", str(report_file)]) == 2
    assert "exists" in capsys.readouterr().err and report_file.read_text() == before
    # The generated set alone: the same figures for it, the references left out.
    alone = tmp_path / "alone.json"
    assert main(["evaluate", "--model", tiny_model_dir, *ARGS, "--generated-only", "--json", str(alone)]) == 0
    assert "ground truth" not in capsys.readouterr().out
    alone = json.loads(alone.read_text())
    assert list(alone["videos"]) == ["generated"] and alone["videos"]["generated"] == report["videos"]["generated"]


@pytest.mark.parametrize("args, message", [
    (["--photos", "16"], "--photos must be 1 to 15"),
    (["--scores", "2"], "at least two motion scores"),
    (["--model", "/nonexistent"], "model folder not found"),
])
def test_bad_evaluate_arguments(capsys, tiny_model_dir, args, message):
    assert main(["evaluate", "--model", tiny_model_dir, *args]) == 2
    assert message in capsys.readouterr().err


def test_a_sweep_changes_only_the_requested_score(tiny_model_dir):
    # Every video of a photo starts from the same noise: two equal scores give the same video.
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir)
    report = evaluate(pipe, holdout_paths()[:1], scores=(2.0, 2.0, 5.0), num_frames=9, steps=1, progress=False)
    first, second, other = report.sets["generated"].motion
    assert first == second and other != first
