import pytest

from mobilei2v.export.manifest import read_manifest
from mobilei2v.io.files import read_json_object
from mobilei2v.io.model_folder import check_model_folder


@pytest.mark.parametrize(("text", "reason"), [
    ("{not json", "is corrupt: Expecting"),
    ("[1, 2]", "is corrupt: it holds a JSON list, not an index"),
    ("\udcff", "is corrupt"),  # not UTF-8
])
def test_a_json_file_that_is_not_an_object_names_the_file_and_the_reason(tmp_path, text, reason):
    path = tmp_path / "index.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match=f"index.json {reason}"):
        read_json_object(path, "an index")


def test_every_project_index_goes_through_the_one_reader(tmp_path):
    """A JSON list where an object belongs fails with the file's name, not an AttributeError."""
    (tmp_path / "export.json").write_text("[]")
    with pytest.raises(ValueError, match="export.json is corrupt: it holds a JSON list, not an export manifest"):
        read_manifest(tmp_path)
    (tmp_path / "model_index.json").write_text("[]")
    with pytest.raises(ValueError, match="model_index.json is corrupt: it holds a JSON list, not a model index"):
        check_model_folder(tmp_path, "MobileI2VPipeline", ("denoiser",))
