"""The web page: a Gradio Blocks app around `generation.animate`, one generation at a time."""

from __future__ import annotations

import html
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from ..pipeline import MobileI2VPipeline
from .generation import EXAMPLE_PHOTOS, MAX_PHOTO_MB, MAX_SEED, Choices, animate, read_photo

MOTION_HELP = ("How much the picture should move: the average optical flow to aim for, in pixels per frame "
               "(at 576×320). 0 is nearly still, 2 a gentle camera move, 4 and more a fast one.")


def user_error(err: Exception) -> gr.Error:
    """A message box for a problem the user can fix (no traceback in the server's log either). Gradio
    renders the message as HTML, and it may carry the uploaded file's name."""
    return gr.Error(html.escape(str(err)), print_exception=False)


CAMERA_HELP = ("Which way the camera moves: a pan (the picture slides the other way), a zoom or a roll. Random "
               "picks a pan or zoom from the seed; any lets the model choose.")


def format_timings(timings: dict[str, float], steps: int, camera: str | None = None) -> str:
    return (f"{f'**Camera:** {camera} · ' if camera else ''}**Seconds:** encode {timings['encode']:.2f} · denoise {timings['denoise']:.2f} "
            f"({steps} steps, {timings['denoise_per_step']:.3f} each) · decode {timings['decode']:.2f} · "
            f"**total {timings['total']:.2f}**")


def build_app(pipe: MobileI2VPipeline, video_dir: Path, model_name: str) -> gr.Blocks:
    """The page for `pipe`; videos are written into `video_dir` (the caller removes it)."""
    choices = Choices.for_pipeline(pipe)
    trained_height, trained_width = choices.sizes[0]

    def check_upload(photo: dict | None) -> None:
        # Checked as soon as it is dropped, so a wrong file is named before anyone presses Generate.
        if photo is not None:
            try:
                read_photo(photo["path"])
            except ValueError as err:
                raise user_error(err) from None

    def generate(photo: dict | None, motion: float, steps: float, seed: float | None, size: str, frames: int,
                 camera: str | None, progress=gr.Progress()) -> tuple[str, str]:
        if photo is None:
            raise user_error(ValueError("drop a photo first (or pick one of the examples below it)"))
        try:
            if seed is None:
                raise ValueError("enter a seed (any whole number), or press the random button")
            height, width = (int(n) for n in size.split("x"))
            video = animate(pipe, choices, photo["path"], video_dir, motion=float(motion), steps=int(steps),
                            seed=int(seed), height=height, width=width, num_frames=int(frames),
                            camera=camera if choices.cameras else None,
                            report=lambda fraction, stage: progress(fraction, desc=stage))
        except ValueError as err:
            raise user_error(err) from None
        return str(video.path), format_timings(video.timings, int(steps), video.camera)

    with gr.Blocks(title="MobileI2V: photo to video", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(f"# MobileI2V: photo to video\nDrop a photo, choose how much it should move, press "
                    f"**Generate**. Model: {html.escape(model_name)}, trained at {trained_width}×{trained_height}, "
                    f"{choices.default_frames} frames at {pipe.config.frame_rate} fps.")
        with gr.Row():
            with gr.Column():
                photo = gr.Image(label="Photo (drop, click to upload, or paste)", type="filepath",
                                 sources=["upload", "clipboard"], height=320, elem_id="photo")
                examples = sorted(EXAMPLE_PHOTOS.glob("*.jpg"))
                if examples:  # installed from a wheel, the repository's examples are not there
                    gr.Examples([[str(path)] for path in examples], inputs=[photo], label="Example photos")
                motion = gr.Slider(0, choices.max_motion, value=choices.default_motion, step=0.1,
                                   label="Motion score", info=MOTION_HELP, elem_id="motion")
                # Only a model that takes a camera move (a condition or a guide) shows the box; for the others the box is hidden.
                camera = gr.Dropdown(list(choices.cameras) or [None], value=(choices.cameras or [None])[0],
                                     label="Camera move", info=CAMERA_HELP, visible=bool(choices.cameras),
                                     elem_id="camera")
                with gr.Row():
                    size = gr.Dropdown([(f"{w} × {h}" + (" (trained size)" if i == 0 else ""), f"{h}x{w}")
                                        for i, (h, w) in enumerate(choices.sizes)],
                                       value=f"{trained_height}x{trained_width}", label="Size (width × height)",
                                       info="The photo is resized to cover it and centre-cropped.")
                    frames = gr.Dropdown(list(choices.frame_counts), value=choices.default_frames, label="Frames",
                                         info=f"At {pipe.config.frame_rate} frames per second.")
                with gr.Row():
                    steps = gr.Slider(1, choices.max_steps, value=choices.default_steps, step=1,
                                      label="Denoising steps", scale=2,
                                      info=f"The model's own count is {choices.default_steps}; more is slower "
                                           "and not always cleaner.")
                    with gr.Column(min_width=160):
                        seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed",
                                         info="The same seed and settings give the same video.", elem_id="seed")
                        random_seed = gr.Button("Random seed", size="sm")
                run = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video = gr.Video(label="Video", buttons=["download"], autoplay=True, loop=True, interactive=False,
                                 elem_id="video")
                timings = gr.Markdown(elem_id="timings")

        random_seed.click(lambda: random.randint(0, MAX_SEED), outputs=seed, queue=False)
        # Gradio's own preprocessing would open the upload with Pillow and fail with a bare "Error" on a
        # file that is not an image; these handlers take the raw upload and say what is wrong.
        photo.upload(check_upload, photo, None, preprocess=False, concurrency_limit=None, show_progress="hidden")
        run.click(generate, [photo, motion, steps, seed, size, frames, camera], [video, timings], preprocess=False)
    return demo


@contextmanager
def serve(pipe: MobileI2VPipeline, model_name: str, host: str = "127.0.0.1", port: int = 7860) -> Iterator[gr.Blocks]:
    """Run the page's server in the background while in the block: one generation at a time, the others
    queued and shown their place; uploads over MAX_PHOTO_MB refused. On exit the server stops and its
    videos are deleted."""
    with tempfile.TemporaryDirectory(prefix="mobilei2v-app-") as video_dir:
        demo = build_app(pipe, Path(video_dir), model_name)
        demo.queue(default_concurrency_limit=1)
        demo.launch(server_name=host, server_port=port, max_file_size=MAX_PHOTO_MB * 2**20, ssr_mode=False,
                    prevent_thread_lock=True, quiet=True)
        try:
            yield demo
        finally:
            demo.close(verbose=False)
