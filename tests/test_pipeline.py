import shutil

import numpy as np
import pytest
import torch

from mobilei2v import MobileI2VDenoiser, MobileI2VPipeline
from mobilei2v.io.images import image_to_tensor, load_image
from mobilei2v.models.geometry import LatentGeometry
from mobilei2v.pipeline import RANDOM_MOVES, camera_move


def generate(pipe, photo, seed=0, **kwargs):
    kwargs = {"num_frames": 9, "num_inference_steps": 3, "progress": False, **kwargs}
    return pipe(photo, generator=torch.Generator().manual_seed(seed), **kwargs)


def test_generates_frames_at_the_default_size_with_timings(tiny_pipeline, photo):
    out = generate(tiny_pipeline, photo)
    assert out.frames.shape == (1, 9, 64, 96, 3) and out.frames.dtype == np.uint8
    assert set(out.timings) >= {"encode", "denoise", "denoise_per_step", "decode", "total"}


@pytest.mark.parametrize(("frames", "height", "width"), [(17, 72, 40), (1, 32, 32), (9, 96, 64)])
def test_any_multiple_of_8_size_and_8k1_frames(tiny_pipeline, photo, frames, height, width):
    out = generate(tiny_pipeline, photo, num_frames=frames, height=height, width=width, num_inference_steps=2)
    assert out.frames.shape == (1, frames, height, width, 3)


def test_same_seed_same_video_other_seed_other_video(tiny_pipeline, photo):
    a, b, c = (generate(tiny_pipeline, photo, seed=s).frames for s in (7, 7, 8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_generator_per_image_makes_each_video_independent_of_its_batch(tiny_pipeline, photo):
    def latents(seeds, motion):
        return tiny_pipeline([photo] * len(seeds), motion_score=motion, num_frames=9, num_inference_steps=2,
                             generator=[torch.Generator().manual_seed(s) for s in seeds], output_type="latent",
                             progress=False).frames
    alone = latents([5], 1.0)
    batch = latents([3, 5], 1.0)
    torch.testing.assert_close(batch[1:], alone)  # the second video is the one seed 5 makes on its own
    assert not torch.allclose(batch[0], batch[1])
    # The same generator seed for every image: a motion sweep in which only the score changes.
    sweep = latents([5, 5], [1.0, 6.0])
    torch.testing.assert_close(sweep[:1], alone)
    assert not torch.allclose(sweep[0], sweep[1])
    with pytest.raises(ValueError, match="one per video"):
        tiny_pipeline([photo] * 2, generator=[torch.Generator()] * 3, output_type="latent", progress=False)


def test_both_decoders_and_output_types(tiny_pipeline, photo):
    ltx = generate(tiny_pipeline, photo, decoder="ltx", output_type="pt").frames
    light = generate(tiny_pipeline, photo, decoder="light", output_type="pt").frames
    assert ltx.shape == light.shape == (1, 9, 3, 64, 96)
    assert not torch.allclose(ltx, light)
    latents = generate(tiny_pipeline, photo, output_type="latent").frames
    assert latents.shape == (1, 16, 2, 2, 3)
    with pytest.raises(ValueError, match="decoder"):
        generate(tiny_pipeline, photo, decoder="vqgan")


def test_batch_of_images_with_per_image_motion(tiny_pipeline, photo):
    # The same noise for every video: what differs between them is the motion score alone.
    same_noise = [torch.Generator().manual_seed(0) for _ in range(3)]
    kwargs = {"num_frames": 9, "num_inference_steps": 3, "progress": False, "output_type": "pt"}
    batch = tiny_pipeline([photo] * 3, motion_score=[1.0, 6.0, 1.0], generator=same_noise, **kwargs).frames
    # Equal up to float rounding (~1e-3 after three steps of a random model: see the round-trip test).
    assert (batch[0] - batch[1]).abs().max() > 0.05
    torch.testing.assert_close(batch[0], batch[2], rtol=0, atol=5e-3)
    alone = tiny_pipeline(photo, motion_score=6.0, generator=torch.Generator().manual_seed(0), **kwargs).frames
    torch.testing.assert_close(batch[1], alone[0], rtol=0, atol=5e-3)


def test_save_and_load_round_trip(tiny_pipeline, tiny_model_dir, photo):
    loaded = MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype="fp32")  # as saved, on any CPU
    assert isinstance(loaded, MobileI2VPipeline)
    assert loaded.config.default_height == 64 and loaded.light_decoder is not None
    # Equal up to float rounding: the denoiser's outputs differ by ~2e-7 (BLAS may sum in another order
    # for freshly loaded weights) and three sampling steps of a random model amplify that to ~5e-4.
    torch.testing.assert_close(generate(loaded, photo, output_type="pt").frames,
                               generate(tiny_pipeline, photo, output_type="pt").frames, rtol=0, atol=5e-3)


def test_image_is_resized_to_cover_and_centre_cropped():
    from PIL import Image

    # 120×60: a red, a green and a blue band of 30, 60 and 30 columns. Covering 64×64 scales it to 128×64;
    # the centre 64 columns are the green band's. Stretching it would show all three bands.
    bands = np.zeros((60, 120, 3), np.uint8)
    bands[:, :30, 0] = bands[:, 30:90, 1] = bands[:, 90:, 2] = 255
    tensor = image_to_tensor(Image.fromarray(bands), 64, 64)
    assert tensor.shape == (1, 3, 64, 64)
    inner = tensor[0, :, :, 2:-2]  # resampling may blend the outermost columns with the next band
    assert (inner[1] > 0.9).all() and (inner[0] < -0.9).all() and (inner[2] < -0.9).all()


@pytest.mark.parametrize("damage", ["no_index", "no_weights", "corrupt_weights", "truncated_weights",
                                    "corrupt_index", "no_vae_config"])
def test_damaged_model_folders_fail_with_a_clear_error(tiny_model_dir, tmp_path, damage):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "denoiser" / "diffusion_pytorch_model.safetensors"
    if damage == "no_index":
        (folder / "model_index.json").unlink()
        message = "model_index.json is missing"
    elif damage == "no_weights":
        weights.unlink()
        message = "diffusion_pytorch_model.safetensors is missing"
    elif damage == "corrupt_weights":
        weights.write_bytes(weights.read_bytes()[:100])
        message = "denoiser/diffusion_pytorch_model.safetensors is (truncated or )?corrupt"
    elif damage == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:-10])
        message = "denoiser/diffusion_pytorch_model.safetensors is truncated or corrupt"
    elif damage == "corrupt_index":
        (folder / "model_index.json").write_text("{not json")
        message = "corrupt"
    else:
        (folder / "vae" / "config.json").unlink()
        message = "vae/config.json is missing"
    with pytest.raises(ValueError, match=message):
        MobileI2VPipeline.from_pretrained(folder)


def test_missing_image_and_non_image_files(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_image(tmp_path / "nothing.png")
    (tmp_path / "notes.jpg").write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(tmp_path / "notes.jpg")


def test_motion_scores_must_match_the_images(tiny_pipeline, photo):
    with pytest.raises(ValueError, match="one per image"):
        generate(tiny_pipeline, [photo, photo], motion_score=[1.0, 2.0, 3.0])


def test_a_per_frame_autoencoder_makes_any_frame_count(photo):
    """With temporal compression 1 every frame is its own latent frame: 6 frames are 6 latent frames."""
    torch.manual_seed(0)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny-per-frame", light_decoder="tiny-per-frame",
                                      default_height=64, default_width=96)
    assert pipe.geometry == LatentGeometry(32, 1, 16)
    latents = pipe(photo, num_frames=6, num_inference_steps=1, output_type="latent", progress=False).frames
    assert latents.shape == (1, 16, 6, 2, 3)
    assert pipe(photo, num_frames=6, num_inference_steps=1, progress=False).frames.shape == (1, 6, 64, 96, 3)


def test_parts_of_other_geometries_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny-per-frame", light_decoder="tiny")


def test_diffusers_generic_loader_returns_a_working_mobilei2v_pipeline(tiny_model_dir, photo):
    """diffusers users' habit: `DiffusionPipeline.from_pretrained(folder)` after `import mobilei2v`."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_model_dir)
    assert type(pipe) is MobileI2VPipeline
    assert generate(pipe, photo).frames.shape == (1, 9, 64, 96, 3)


def test_the_shipped_model_loads_through_diffusers_generic_loader():
    from diffusers import DiffusionPipeline

    from mobilei2v.pipeline import SHIPPED_MODEL

    pipe = DiffusionPipeline.from_pretrained(SHIPPED_MODEL)
    assert type(pipe) is MobileI2VPipeline and pipe.light_decoder is not None


def test_callback_on_step_end_sees_every_step_and_may_replace_the_latents(tiny_pipeline, photo):
    seen = []

    def record(pipe, step_index, timestep, callback_kwargs):
        seen.append((pipe, step_index, float(timestep), callback_kwargs["latents"].shape))
        return {}

    plain = generate(tiny_pipeline, photo, output_type="latent", callback_on_step_end=record).frames
    assert [s[1] for s in seen] == [0, 1, 2] and all(s[0] is tiny_pipeline for s in seen)
    assert seen[0][2] > seen[1][2] > seen[2][2]  # σ falls: the timesteps the sampler stepped through
    assert all(s[3] == plain.shape for s in seen)
    torch.testing.assert_close(generate(tiny_pipeline, photo, output_type="latent").frames, plain)

    def zero_after_last_step(pipe, step_index, timestep, callback_kwargs):
        return {"latents": torch.zeros_like(callback_kwargs["latents"])} if step_index == 2 else {}

    zeroed = generate(tiny_pipeline, photo, output_type="latent", callback_on_step_end=zero_after_last_step).frames
    assert not zeroed.any()


def test_a_distilled_models_sigma_list_is_saved_and_sampled_by_default(tiny_pipeline, tmp_path, photo):
    folder = tmp_path / "student"
    MobileI2VPipeline(**tiny_pipeline.components, default_height=64, default_width=96,
                      default_sigmas=[1.0, 0.5]).save_pretrained(folder)
    student = MobileI2VPipeline.from_pretrained(folder, dtype="fp32")
    assert student.config.default_sigmas == [1.0, 0.5]

    def run(**kwargs):
        steps = []
        kwargs = {"num_inference_steps": None, **kwargs}
        latents = generate(student, photo, output_type="latent",
                           callback_on_step_end=lambda pipe, i, t, state: steps.append(float(t)) or {}, **kwargs).frames
        return latents, steps

    default, steps = run()
    assert steps == [1000.0, 500.0]  # the model's own σ list, unshifted
    torch.testing.assert_close(default, run(sigmas=[1.0, 0.5])[0])
    assert len(run(num_inference_steps=3)[1]) == 3  # an explicit step count still takes the shifted schedule
    assert tiny_pipeline.sampling_schedule() == (30, None)  # an undistilled model: the teacher's 30 steps
    with pytest.raises(ValueError, match="strictly decreasing"):
        MobileI2VPipeline(**tiny_pipeline.components, default_sigmas=[0.5, 1.0])


def test_a_student_that_carries_its_teacher_samples_a_step_count_with_the_teacher(tiny_student, tmp_path, photo):
    tiny_student.save_pretrained(tmp_path / "student")
    pipe = MobileI2VPipeline.from_pretrained(tmp_path / "student", dtype="fp32")
    assert pipe.teacher is not None and pipe.config.default_sigmas == [1.0, 0.5]
    assert pipe.denoiser_for() is pipe.denoiser and pipe.denoiser_for(sigmas=[1.0]) is pipe.denoiser
    assert pipe.denoiser_for(30) is pipe.teacher

    def latents(pipe, **kwargs):
        return generate(pipe, photo, output_type="latent", **{"num_inference_steps": None, **kwargs}).frames

    alone = lambda denoiser: tiny_student.with_denoiser(denoiser, default_sigmas=None)  # noqa: E731
    teacher, student = tiny_student.teacher, tiny_student.denoiser
    torch.testing.assert_close(latents(pipe, num_inference_steps=3), latents(alone(teacher), num_inference_steps=3))
    torch.testing.assert_close(latents(pipe), latents(alone(student), sigmas=[1.0, 0.5]))
    assert not torch.allclose(latents(pipe), latents(alone(teacher), sigmas=[1.0, 0.5]))

    other = MobileI2VDenoiser(**{**teacher.config, "camera_condition": True})
    with pytest.raises(ValueError, match="the teacher must be a denoiser of the student's architecture"):
        tiny_student.with_denoiser(student, teacher=other)


@pytest.fixture(scope="module")
def camera_pipeline():
    torch.manual_seed(0)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny",
                                      denoiser_options={"camera_condition": True}, default_height=64, default_width=96)
    torch.nn.init.normal_(pipe.denoiser.camera_modulation.proj.weight, std=0.1)  # as after training
    return pipe


def test_a_camera_model_moves_as_asked_and_says_which_move(camera_pipeline, photo):
    def run(**kwargs):
        return camera_pipeline(photo, num_frames=9, num_inference_steps=2, progress=False, output_type="latent",
                               generator=torch.Generator().manual_seed(0), **kwargs)

    left, right = run(camera="pan-left"), run(camera="pan-right")
    assert left.cameras == ["pan-left"] and right.cameras == ["pan-right"]
    assert not torch.allclose(left.frames, right.frames)
    numbers = run(camera=[2.0, 0.0, 0.0, 0.0])  # only the direction counts
    assert numbers.cameras == ["2,0,0,0"]
    torch.testing.assert_close(numbers.frames, left.frames)
    torch.testing.assert_close(run(camera=torch.tensor([[3.0, 0.0, 0.0, 0.0]])).frames, left.frames)
    anything = run(camera="any")
    assert not torch.allclose(anything.frames, left.frames)


def test_a_random_move_comes_from_the_seed_without_changing_the_noise(camera_pipeline, photo):
    chosen = {}
    for seed in range(12):
        out = camera_pipeline(photo, num_frames=9, num_inference_steps=1, progress=False, output_type="latent",
                              generator=torch.Generator().manual_seed(seed))
        again = camera_pipeline(photo, num_frames=9, num_inference_steps=1, progress=False, output_type="latent",
                                generator=torch.Generator().manual_seed(seed), camera=out.cameras[0])
        torch.testing.assert_close(out.frames, again.frames)  # the same noise as with that move named
        chosen[seed] = out.cameras[0]
    assert len(set(chosen.values())) >= 3 and set(chosen.values()) <= {
        "pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out"}


@pytest.mark.parametrize("camera, message", [
    ("sideways", "unknown camera move 'sideways'"),
    ([1.0, 0.0, float("nan"), 0.0], "4 finite numbers"),
    ([1.0, 0.0], "one camera move, or one per image"),
    (5, "a name or 4 finite numbers"),
])
def test_bad_camera_moves_are_refused(camera_pipeline, photo, camera, message):
    with pytest.raises(ValueError, match=message):
        camera_pipeline(photo, num_frames=9, num_inference_steps=1, progress=False, camera=camera)


def test_a_model_without_a_camera_condition_refuses_a_camera_move(tiny_pipeline, photo):
    with pytest.raises(ValueError, match="takes no camera move"):
        tiny_pipeline(photo, num_frames=9, num_inference_steps=1, progress=False, camera="pan-left")
    assert tiny_pipeline(photo, num_frames=9, num_inference_steps=1, progress=False).cameras is None


@pytest.fixture(scope="module")
def guide_pipeline():
    torch.manual_seed(0)
    return MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny", default_height=64,
                                      default_width=96,
                                      denoiser_options={"reference_residual": True, "camera_guide": True})


def test_a_guided_model_is_given_the_photo_filmed_along_the_move(guide_pipeline, photo):
    guides = []
    handle = guide_pipeline.denoiser.register_forward_pre_hook(
        lambda module, args, kwargs: guides.append(kwargs["guide"]), with_kwargs=True)

    def run(**kwargs):
        guides.clear()
        out = guide_pipeline(photo, num_frames=9, num_inference_steps=2, progress=False, output_type="latent",
                             generator=torch.Generator().manual_seed(0), **kwargs)
        assert len(guides) == 2 and torch.equal(guides[0], guides[1])  # the same guide at every step
        return out, guides[0]

    try:
        (left, guide), (_, right) = run(camera="pan-left"), run(camera="pan-right")
        _, slow = run(camera="pan-left", motion_score=0.5)
        _, still = run(camera="pan-left", motion_score=0.0)
        anything, _ = run(camera="any")
    finally:
        handle.remove()
    reference = left.frames[:, :, :1]
    torch.testing.assert_close(guide[:, :, :1], reference)  # its frame 0 is the reference latent
    torch.testing.assert_close(still, reference.expand_as(still))  # no motion: the photo held still
    later = lambda g: (g[:, :, -1] - reference[:, :, 0]).abs().mean()  # noqa: E731
    assert later(guide) > later(slow) > 0 and not torch.allclose(guide, right)
    assert anything.cameras[0] in RANDOM_MOVES  # it needs a direction: "any" draws one
    assert camera_move([0, 0, 0, 0], torch.Generator().manual_seed(3), directed=True)[1] in RANDOM_MOVES
    with pytest.raises(ValueError, match="a name or 4 finite numbers"):
        camera_move(5, directed=True)


def test_a_guided_model_ends_on_its_guide_when_it_predicts_no_difference(guide_pipeline, photo, monkeypatch):
    seen = {}

    def still_residual(latents, timestep, motion_score, rope=None, guide=None):
        # the exact velocity when every frame's difference from the guide is 0: v = ε = x_σ / σ
        seen["guide"] = guide
        return latents / (timestep / 1000).clamp_min(1e-6)[:, None, :, None, None]

    monkeypatch.setattr(guide_pipeline.denoiser, "forward", still_residual)
    out = guide_pipeline(photo, num_frames=9, num_inference_steps=3, progress=False, output_type="latent",
                         camera="zoom-in", generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.frames, seen["guide"], rtol=0, atol=1e-5)
