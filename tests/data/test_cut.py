import csv

import numpy as np

from mobilei2v.data.clips_csv import COLUMNS
from mobilei2v.data.cut import detect_scenes
from mobilei2v.io.video import fit_frames, read_video


def test_clips_start_at_scene_cuts_and_never_cross_one(bikes, bikes_cut):
    result, out = bikes_cut
    scenes = detect_scenes(bikes)
    assert len(scenes) >= 5  # bikes.mp4 is edited from several shots
    starts = [int(row["video_path"][-10:-4]) for row in result.rows]
    assert {begin for begin, end in scenes if end - begin >= 17} <= set(starts)
    for start in starts:
        assert any(begin <= start and start + 17 <= end for begin, end in scenes)


def test_clip_files_hold_the_source_frames(bikes, bikes_cut):
    result, _ = bikes_cut
    source, _ = read_video(bikes)
    row = result.rows[1]
    start = int(row["video_path"][-10:-4])
    clip, fps = read_video(row["video_path"])
    assert clip.shape == (17, 144, 338, 3) and fps == 25
    expected = fit_frames(source[start:start + 17], 144, 338).astype(float)
    error = np.abs(clip.astype(float) - expected).mean(axis=(1, 2, 3))
    assert error.max() < 4  # H.264 at crf 18
    # and not the frames one earlier, across the scene cut
    assert np.abs(clip[0].astype(float) - fit_frames(source[start - 1:start], 144, 338)[0]).mean() > 20


def test_csv_is_the_authors_format(bikes_cut):
    result, out = bikes_cut
    with open(out / "clips.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == COLUMNS
    assert len(rows) == len(result.rows) >= 8
    assert all(r["num_frames"] == "17" and r["height"] == "144" and r["width"] == "338" and r["flow"] == ""
               for r in rows)


def test_bad_videos_are_counted_and_skipped(cli, bikes, bad_videos, tmp_path):
    inputs = [bad_videos[case] for case in ("empty", "garbage", "truncated", "short", "missing")]
    code, out, err = cli("data", "cut", *inputs, bikes, "-o", tmp_path, "--short-side", 72, "--stride", 40)
    assert code == 0, err
    assert "skipped 3 (unreadable video)" in out and "skipped 1 (missing file)" in out
    assert "skipped 1 (shorter than 17 frames): " in out and "short.mp4 (10 frames)" in out
    with open(tmp_path / "clips.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all("bikes-" in r["video_path"] for r in rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "clips.csv"]  # no partial files


def test_existing_csv_is_kept_without_overwrite(cli, bikes, tmp_path):
    (tmp_path / "clips.csv").write_text("precious")
    code, _, err = cli("data", "cut", bikes, "-o", tmp_path)
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "clips.csv").read_text() == "precious"
