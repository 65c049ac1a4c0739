import csv
import math

import pytest

from mobilei2v.data import score
from mobilei2v.data.clips_csv import write_rows


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def clips_csv(bikes_cut, bad_videos, tmp_path):
    """Three real clips and a missing, an empty and a truncated file, in the authors' format."""
    rows = [dict(row) for row in bikes_cut[0].rows[:3]]
    for case in ("missing", "empty", "truncated"):
        rows.append({"video_path": str(bad_videos[case]), "text": "", "num_frames": "17", "height": "144",
                     "width": "338", "flow": ""})
    return write_rows(tmp_path / "clips.csv", rows)


def test_score_fills_motion_and_clarity_and_keeps_bad_rows_unscored(cli, clips_csv, tmp_path):
    code, out, err = cli("data", "score", clips_csv, "-o", tmp_path / "scored.csv")
    assert code == 0, err
    rows = read(tmp_path / "scored.csv")
    assert [r["video_path"] for r in rows] == [r["video_path"] for r in read(clips_csv)]  # no row lost
    assert all(float(r["flow"]) > 0 and 0 < float(r["clarity"]) < 100 for r in rows[:3])
    assert all(r["flow"] == r["clarity"] == "" for r in rows[3:])
    assert "scored 3 clips" in out and "clips/s" in out
    assert "skipped 1 (missing file)" in out and "skipped 2 (unreadable video)" in out
    assert "recon_psnr not measured" in out


def test_an_interrupted_run_resumes_where_it_stopped(cli, clips_csv, tmp_path, monkeypatch):
    calls = []
    real_motion = score.SCORERS["flow"]

    def motion_then_interrupt(frames):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real_motion(frames)

    monkeypatch.setitem(score.SCORERS, "flow", motion_then_interrupt)
    out_csv = tmp_path / "scored.csv"
    code, _, err = cli("data", "score", clips_csv, "-o", out_csv)
    assert code == 130 and "interrupted" in err
    partial = read(out_csv)
    assert len(partial) == 6 and [bool(r["flow"]) for r in partial] == [True, True, False, False, False, False]

    monkeypatch.setitem(score.SCORERS, "flow", real_motion)
    code, out, _ = cli("data", "score", clips_csv, "-o", out_csv)
    assert code == 0 and "scored 1 clips" in out and "2 of 6 rows were already scored" in out
    final = read(out_csv)
    assert [r["flow"] for r in final[:2]] == [r["flow"] for r in partial[:2]]  # kept, not recomputed
    assert final[2]["flow"] and len(final) == 6


def test_vae_adds_reconstruction_psnr_to_an_earlier_output(cli, clips_csv, tiny_model_dir, tmp_path):
    out_csv = tmp_path / "scored.csv"
    assert cli("data", "score", clips_csv, "-o", out_csv)[0] == 0
    before = read(out_csv)
    code, out, err = cli("data", "score", clips_csv, "-o", out_csv, "--vae", tiny_model_dir)
    assert code == 0, err
    after = read(out_csv)
    psnr = [float(r["recon_psnr"]) for r in after[:3]]
    assert all(math.isfinite(p) and 0 < p < 60 for p in psnr)  # a random tiny VAE reconstructs badly
    assert [r["flow"] for r in after] == [r["flow"] for r in before]


def test_an_output_from_another_csv_is_not_overwritten(cli, clips_csv, tmp_path):
    other = write_rows(tmp_path / "other.csv", [{"video_path": "/elsewhere/clip.mp4", "flow": "1.0"}])
    code, _, err = cli("data", "score", clips_csv, "-o", other)
    assert code == 2 and "not an earlier run on this CSV" in err
    assert read(other)[0]["video_path"] == "/elsewhere/clip.mp4"


def test_relative_video_paths_mean_relative_to_the_csv(cli, bikes_cut, tmp_path):
    result, cut_dir = bikes_cut
    clip = result.rows[0]["video_path"]
    relative = write_rows(cut_dir / "relative.csv", [{"video_path": "clips/" + clip.rsplit("/", 1)[1]}],
                          overwrite=True)
    code, _, err = cli("data", "score", relative, "-o", tmp_path / "elsewhere.csv")
    assert code == 0, err
    [row] = read(tmp_path / "elsewhere.csv")
    assert row["video_path"] == clip and float(row["flow"]) > 0
    assert (row["num_frames"], row["height"], row["width"]) == ("17", "144", "338")  # filled from the file
