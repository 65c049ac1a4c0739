"""Hostile input to `mobilei2v data` and to training configurations: files a spreadsheet or an editor
could have made, and damaged caches; each fails naming the file and the row or key, or is accepted."""

from __future__ import annotations

import pytest

from mobilei2v.data import clips_csv
from mobilei2v.data.latent_cache import LatentCache
from mobilei2v.data.score import score_csv
from mobilei2v.training.config import ConfigError, load_config
from mobilei2v.training.datasets import VideoClipDataset


def test_a_csv_saved_by_excel_with_a_byte_order_mark_is_read(clips_file, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + clips_file.read_bytes())
    assert len(clips_csv.read_rows(path)) == 8


@pytest.mark.parametrize("junk", ["fast", "nan", "inf"])
def test_junk_score_cells_are_scored_not_counted_as_done(clips_file, tmp_path, junk):
    rows = clips_csv.read_rows(clips_file)[:1]
    rows[0].update(flow=junk, clarity=junk)
    path = clips_csv.write_rows(tmp_path / "junk.csv", rows)
    result = score_csv(path, tmp_path / "scored.csv", progress=False)
    assert result.scored == 1 and result.already == 0
    assert clips_csv.number(clips_csv.read_rows(tmp_path / "scored.csv")[0], "flow") is not None


def test_score_refuses_an_output_that_is_a_folder(clips_file, tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        score_csv(clips_file, tmp_path / "out.csv", progress=False)


def test_a_nan_motion_score_names_the_row(clips_file, tmp_path):
    rows = clips_csv.read_rows(clips_file)
    rows[2]["flow"] = "nan"
    path = clips_csv.write_rows(tmp_path / "nan.csv", rows)
    with pytest.raises(ValueError, match="row 4"):
        VideoClipDataset(str(path), 9, 64, 64)


def test_encode_that_encodes_nothing_says_so(cli, clips_file, model_dir, tmp_path):
    rows = clips_csv.read_rows(clips_file)
    for row in rows:
        row["flow"] = ""
    path = clips_csv.write_rows(tmp_path / "unscored.csv", rows)
    code, out, err = cli("data", "encode", path, "-o", tmp_path / "cache", "--vae", model_dir, "--height", "64",
                         "--width", "64", "--frames", "9")
    assert code == 2 and "no clip" in err and "index:" not in out


@pytest.mark.parametrize("index", ["{not json", "[]", '{"clips": [{"key": 0}]}'])
def test_a_corrupt_latent_cache_index_is_named(tmp_path, index):
    (tmp_path / "index.json").write_text(index)
    with pytest.raises(ValueError, match="index.json is corrupt"):
        LatentCache(tmp_path)


def test_a_yaml_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("output_dir: a\npipeline: p\nlearning_rate: 1e-4\nlearning_rate: 1e-3\nstages: [{steps: 1}]\n")
    with pytest.raises(ConfigError, match="learning_rate.*twice"):
        load_config(path)
