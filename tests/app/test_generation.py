"""The web app's request handling without a browser: what it offers, what it refuses, what it writes."""

from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import pytest
from PIL import Image

from mobilei2v import MobileI2VPipeline
from mobilei2v.app import generation
from mobilei2v.app.generation import EXAMPLE_PHOTOS, Choices, animate, read_photo
from mobilei2v.io.video import read_video
from mobilei2v.models.geometry import LatentGeometry


def model_like(height: int, width: int, temporal: int) -> SimpleNamespace:
    """What `Choices.for_pipeline` reads of a pipeline: its geometry, trained size, schedule and conditions."""
    return SimpleNamespace(geometry=LatentGeometry(temporal=temporal),
                           config=SimpleNamespace(default_height=height, default_width=width),
                           sampling_schedule=lambda: (30, None), uses_camera=False)


def test_choices_start_with_the_trained_size_and_the_pipeline_defaults(tiny_pipeline):
    choices = Choices.for_pipeline(tiny_pipeline)
    assert choices.sizes[0] == (64, 96)
    assert (choices.default_frames, choices.default_steps, choices.default_motion) == (17, 30, 2.0)
    assert choices.frame_counts == (9, 17, 25, 33)


def test_sizes_offered_are_photo_shapes_on_the_latent_grid_at_about_the_trained_area():
    choices = Choices.for_pipeline(model_like(256, 256, temporal=8))
    assert choices.sizes == ((256, 256), (224, 288), (288, 224), (192, 352), (352, 192))
    for height, width in choices.sizes:
        LatentGeometry().check(17, height, width)
        assert height % 32 == 0 and width % 32 == 0
        assert 0.85 < height * width / 256**2 < 1.15


@pytest.mark.parametrize(("temporal", "frame_counts"), [(1, (9, 17, 25, 33)), (4, (9, 17, 25, 33)), (16, (17, 33))])
def test_frame_counts_follow_the_autoencoder_frame_rule(temporal, frame_counts):
    choices = Choices.for_pipeline(model_like(256, 256, temporal))
    assert choices.frame_counts == frame_counts
    for frames in choices.frame_counts:
        LatentGeometry(temporal=temporal).check(frames)


def test_a_students_page_starts_at_its_own_steps_and_other_counts_run_its_teacher(tiny_student, photo, tmp_path):
    pipe = tiny_student
    choices = Choices.for_pipeline(pipe)
    assert choices.default_steps == 2
    settings = {"motion": 2.0, "seed": 1, "height": 64, "width": 96, "num_frames": 9}
    with patch.object(MobileI2VPipeline, "__call__", autospec=True, side_effect=MobileI2VPipeline.__call__) as call:
        animate(pipe, choices, photo, tmp_path, steps=2, **settings)
        animate(pipe, choices, photo, tmp_path, steps=3, **settings)
    assert [c.kwargs["num_inference_steps"] for c in call.call_args_list] == [None, 3]  # its σ list; the teacher
    assert all(c.kwargs["generator"].initial_seed() == 1 and c.kwargs["progress"] is False for c in call.call_args_list)


def write_text(path, text="these are notes, not a photo\n"):
    path.write_text(text)
    return path


def test_a_file_that_is_not_an_image_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"notes\.jpg is not an image"):
        read_photo(write_text(tmp_path / "notes.jpg"))
    truncated = tmp_path / "half.jpg"
    Image.new("RGB", (64, 64), "red").save(tmp_path / "whole.jpg")
    truncated.write_bytes((tmp_path / "whole.jpg").read_bytes()[:300])
    with pytest.raises(ValueError, match=r"half\.jpg is not an image .* damaged"):
        read_photo(truncated)


def test_photos_over_the_pixel_or_byte_bound_are_refused(tmp_path, monkeypatch, photo):
    monkeypatch.setattr(generation, "MAX_PHOTO_PIXELS", 100 * 80)
    with pytest.raises(ValueError, match=r"120×90 .* up to 0.008 megapixels"):
        read_photo(photo)
    monkeypatch.setattr(generation, "MAX_PHOTO_PIXELS", 120 * 90)
    assert read_photo(photo).size == (120, 90)
    monkeypatch.setattr(generation, "MAX_PHOTO_MB", 1)
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (2 * 2**20))
    with pytest.raises(ValueError, match=r"big\.png is 2 MB; photos up to 1 MB"):
        read_photo(big)


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    sideways = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    sideways.save(tmp_path / "portrait.jpg", exif=exif)
    assert read_photo(tmp_path / "portrait.jpg").size == (20, 40)


def test_animate_writes_the_mp4_and_reports_each_stage(tiny_pipeline, photo, tmp_path):
    reports = []
    video = animate(tiny_pipeline, Choices.for_pipeline(tiny_pipeline), photo, tmp_path, motion=3.0, steps=2, seed=5,
                    height=64, width=96, num_frames=9, report=lambda *r: reports.append(r))
    frames, fps = read_video(video.path)
    assert frames.shape == (9, 64, 96, 3) and fps == tiny_pipeline.config.frame_rate
    assert video.path.name == "photo-seed5-motion3.mp4"
    assert reports == [(0.0, "encoding the photo"), (0.5, "denoising: step 1 of 2 done"), (0.75, "decoding")]
    assert set(video.timings) >= {"encode", "denoise", "decode", "total"}


@pytest.mark.parametrize(("setting", "message"), [
    ({"height": 100, "width": 100}, r"100×100 is not a size .* 96×64"),
    ({"num_frames": 16}, r"16 frames is not offered; choose one of 9, 17, 25, 33"),
    ({"steps": 0}, "steps must be from 1 to 60"),
    ({"motion": 11.0}, "motion score must be from 0 to 10"),
    ({"seed": -1}, "seed must be a whole number"),
])
def test_settings_the_page_does_not_offer_are_refused_before_anything_runs(tiny_pipeline, photo, tmp_path,
                                                                           setting, message):
    request = {"motion": 2.0, "steps": 2, "seed": 0, "height": 64, "width": 96, "num_frames": 9, **setting}
    with pytest.raises(ValueError, match=message):
        animate(tiny_pipeline, Choices.for_pipeline(tiny_pipeline), photo, tmp_path,
                report=lambda *r: pytest.fail("started generating"), **request)
    assert not list(tmp_path.iterdir())


def test_the_example_photos_are_small_readable_images():
    examples = sorted(EXAMPLE_PHOTOS.glob("*.jpg"))
    assert len(examples) >= 3
    for path in examples:
        assert path.stat().st_size < 100_000
        assert np.asarray(read_photo(path)).std() > 20  # a picture, not a blank


def test_a_camera_model_is_offered_its_moves_and_the_video_names_the_one_it_made(photo, tmp_path):
    import torch

    from mobilei2v import MobileI2VPipeline

    torch.manual_seed(0)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny", default_height=64,
                                      default_width=96, denoiser_options={"camera_condition": True})
    choices = Choices.for_pipeline(pipe)
    assert choices.cameras[:3] == ("random", "pan-left", "pan-right") and "any" in choices.cameras
    settings = dict(motion=2.0, steps=1, seed=3, height=64, width=96, num_frames=9)
    video = animate(pipe, choices, photo, tmp_path, camera="zoom-in", **settings)
    assert video.camera == "zoom-in" and video.path.name == "photo-seed3-motion2-zoom-in.mp4"
    chosen = animate(pipe, choices, photo, tmp_path, camera="random", **settings)
    assert chosen.camera in choices.cameras and chosen.path.name.endswith(f"-{chosen.camera}.mp4")
    with pytest.raises(ValueError, match="'sideways' is not offered; choose one of random, pan-left"):
        animate(pipe, choices, photo, tmp_path, camera="sideways", **settings)


def test_a_model_without_a_camera_condition_is_offered_no_move(tiny_pipeline, photo, tmp_path):
    choices = Choices.for_pipeline(tiny_pipeline)
    assert choices.cameras == ()
    with pytest.raises(ValueError, match="this model takes no camera move"):
        animate(tiny_pipeline, choices, photo, tmp_path, motion=2.0, steps=1, seed=0, height=64, width=96,
                num_frames=9, camera="pan-left")
