"""`mobilei2v export` on bad input: one clear line, exit code 2, nothing written."""

import sys

from mobilei2v.export import build


def _refused(cli, *argv, needle):
    code, _, err = cli("export", *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_a_size_off_the_models_grid_is_refused(cli, tiny_model_dir, tmp_path):
    _refused(cli, tiny_model_dir, "--format", "onnx", "-o", tmp_path / "x", "--height", "60", needle="multiple of 8")
    _refused(cli, tiny_model_dir, "--format", "onnx", "-o", tmp_path / "x", "--frames", "10", needle="8k+1")
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_a_model_is_refused(cli, tmp_path):
    _refused(cli, tmp_path, "--format", "onnx", "-o", tmp_path / "x", needle="not a model folder")


def test_a_missing_package_names_the_extra(cli, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "coremltools", None)  # import fails as if not installed
    _refused(cli, tiny_model_dir, "--format", "coreml", "-o", tmp_path / "x", needle="pip install 'mobilei2v[export]'")


def test_an_existing_output_needs_overwrite(cli, tiny_model_dir, tmp_path):
    (tmp_path / "x").mkdir()
    _refused(cli, tiny_model_dir, "--format", "onnx", "-o", tmp_path / "x", needle="--overwrite")


def test_a_failure_part_way_leaves_nothing(cli, tiny_model_dir, tmp_path, monkeypatch):
    def convert(runtime, stage, path, precision):
        path.write_bytes(b"half")
        raise ValueError("the converter gave up")

    monkeypatch.setattr(build, "convert", convert)
    _refused(cli, tiny_model_dir, "--format", "onnx", "-o", tmp_path / "x", needle="the converter gave up")
    assert list(tmp_path.iterdir()) == []
