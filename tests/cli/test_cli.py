import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mobilei2v.cli.main import main
from mobilei2v.io.video import read_video
from mobilei2v.pipeline import MobileI2VPipeline
from mobilei2v.precision import resolve_dtype


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_writes_an_h264_video_at_the_model_frame_rate(capsys, tiny_model_dir, photo, tmp_path):
    out_file = tmp_path / "clip.mp4"
    code, out, _ = run(capsys, "generate", photo, "-o", out_file, "--model", tiny_model_dir, "--steps", 2,
                       "--frames", 9, "--seed", 3)
    assert code == 0
    frames, fps = read_video(out_file)
    assert frames.shape == (9, 64, 96, 3) and fps == 24
    assert "seconds: encode" in out and "denoise" in out and "decode" in out and "total" in out
    assert "resizing" in out  # the 120×90 photo does not match the model's 96×64


def test_generate_gif_and_explicit_size(capsys, tiny_model_dir, photo, tmp_path):
    out_file = tmp_path / "clip.gif"
    code, _, _ = run(capsys, "generate", photo, "-o", out_file, "--model", tiny_model_dir, "--steps", 1,
                     "--frames", 1, "--height", 40, "--width", 72, "--decoder", "ltx")
    assert code == 0
    assert read_video(out_file)[0].shape == (1, 40, 72, 3)


def test_existing_output_is_kept_without_overwrite(capsys, tiny_model_dir, photo, tmp_path):
    out_file = tmp_path / "clip.mp4"
    out_file.write_bytes(b"precious")
    code, _, err = run(capsys, "generate", photo, "-o", out_file, "--model", tiny_model_dir)
    assert code == 2 and "--overwrite" in err
    assert out_file.read_bytes() == b"precious"
    code, _, _ = run(capsys, "generate", photo, "-o", out_file, "--model", tiny_model_dir, "--steps", 1,
                     "--frames", 1, "--overwrite")
    assert code == 0 and read_video(out_file)[0].shape[0] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temporary files left behind


@pytest.mark.parametrize(("case", "message"), [
    ("missing_image", "image file not found"),
    ("not_an_image", "not a readable image"),
    ("bad_frames", "8k+1"),
    ("bad_size", "multiple of 8"),
    ("missing_model", "model folder not found"),
    ("not_a_model", "is not a model folder"),
    ("bad_suffix", ".mp4 or .gif"),
    ("compile_onnx", "--runtime onnx runs none"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tiny_model_dir, photo, tmp_path, case, message):
    args = {"image": photo, "model": tiny_model_dir, "out": tmp_path / "o.mp4", "extra": []}
    if case == "missing_image":
        args["image"] = tmp_path / "none.png"
    elif case == "not_an_image":
        (tmp_path / "text.png").write_text("not pixels")
        args["image"] = tmp_path / "text.png"
    elif case == "bad_frames":
        args["extra"] = ["--frames", "16"]
    elif case == "bad_size":
        args["extra"] = ["--height", "100"]
    elif case == "missing_model":
        args["model"] = tmp_path / "no-model"
    elif case == "not_a_model":
        args["model"] = tmp_path
    elif case == "compile_onnx":
        args["extra"] = ["--compile", "--runtime", "onnx", "--export-dir", tmp_path]
    else:
        args["out"] = tmp_path / "o.avi"
    code, out, err = run(capsys, "generate", args["image"], "-o", args["out"], "--model", args["model"],
                         *args["extra"])
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow
def test_generate_compile_says_it_compiles_the_denoiser_and_how_long_it_took(capsys, tiny_model_dir, photo, tmp_path):
    code, out, _ = run(capsys, "generate", photo, "-o", tmp_path / "x.mp4", "--model", tiny_model_dir, "--steps", 2,
                       "--frames", 9, "--compile")
    assert code == 0 and (tmp_path / "x.mp4").exists()
    assert "compiling the denoiser with inductor for (1, 16, 2, 2, 3)" in out
    assert re.search("compiled the denoiser in [0-9.]+ s", out)
    assert "the encoder" not in out and "decoder" not in out  # only the denoiser gains (docs/performance.md)


def test_generate_compile_failure_ends_in_one_line_naming_the_part(capsys, monkeypatch, tiny_model_dir, photo, tmp_path):
    def failing_backend(graph, example_inputs):
        raise NotImplementedError("no kernel for this op")

    compile_pipeline = MobileI2VPipeline.compile
    monkeypatch.setattr(MobileI2VPipeline, "compile", lambda pipe: compile_pipeline(pipe, backend=failing_backend))
    code, _, err = run(capsys, "generate", photo, "-o", tmp_path / "x.mp4", "--model", tiny_model_dir, "--steps", 1,
                       "--dtype", "fp32", "--compile")
    assert code == 1 and "Traceback" not in err
    last_line = err.strip().splitlines()[-1]  # after the progress bar of the step that compiled
    assert last_line.startswith("mobilei2v generate: error: torch.compile")
    assert "could not compile the denoiser for (1, 16, 3, 2, 3) in fp32: NotImplementedError: no kernel" in last_line


def test_inspect_preset_json(capsys):
    code, out, _ = run(capsys, "inspect", "--preset", "mobilei2v-270m", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["params"] == 264_855_296 and info["depth"] == 16 and info["hidden_size"] == 1152
    assert info["attention"].count("softmax") == 2 and len(info["attention"]) == 16


def test_inspect_model_folder(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "inspect", "--model", tiny_model_dir, "--json")
    info = json.loads(out)
    assert code == 0 and info["hidden_size"] == 48 and info["attention"] == ["linear", "softmax"] * 2


def test_init_model_writes_a_loadable_folder_atomically(capsys, tmp_path, photo):
    folder = tmp_path / "fresh"
    code, _, _ = run(capsys, "init-model", folder, "--preset", "mobilei2v-tiny", "--vae", "tiny",
                     "--height", 32, "--width", 32)
    assert code == 0
    code, _, _ = run(capsys, "generate", photo, "-o", tmp_path / "x.mp4", "--model", folder, "--steps", 1,
                     "--frames", 1)
    assert code == 0
    code, _, err = run(capsys, "init-model", folder, "--preset", "mobilei2v-tiny", "--vae", "tiny")
    assert code == 2 and "exists" in err
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_init_model_from_trained_parts_in_fp16_with_an_untrained_vae_decoder(capsys, tmp_path, tiny_model_dir, photo):
    parts = Path(tiny_model_dir)
    folder = tmp_path / "half"
    # (the tiny model's own denoiser as its "student's" teacher: the shipped model's last step, step 10)
    code, _, err = run(capsys, "init-model", folder, "--preset", parts / "denoiser", "--vae", parts / "vae",
                       "--light-decoder", parts / "light_decoder", "--untrained-vae-decoder", "--dtype", "fp16",
                       "--height", 64, "--width", 96, "--teacher", parts / "denoiser", "--sigmas", 1.0, 0.5)
    assert code == 0, err
    for part, source in (("denoiser", "denoiser"), ("vae", "vae"), ("light_decoder", "light_decoder"),
                         ("teacher", "denoiser")):
        full, half = (load_file(f / p / "diffusion_pytorch_model.safetensors") for f, p in ((parts, source),
                                                                                          (folder, part)))
        assert all(t.dtype == torch.float16 for t in half.values())
        assert all(torch.equal(half[k], full[k].half()) for k in full)
    pipe = MobileI2VPipeline.from_pretrained(folder)
    assert pipe.denoiser.dtype == pipe.teacher.dtype == resolve_dtype("auto")[0]  # stored fp16, computed in auto's
    assert not pipe.config.vae_decoder_trained and pipe.config.default_sigmas == [1.0, 0.5]
    code, _, err = run(capsys, "generate", photo, "-o", tmp_path / "x.mp4", "--model", folder, "--steps", 1,
                       "--frames", 9, "--decoder", "ltx")
    assert code == 2 and "untrained placeholder" in err
    code, _, err = run(capsys, "generate", photo, "-o", tmp_path / "x.mp4", "--model", folder, "--steps", 1,
                       "--frames", 9)
    assert code == 0, err


@pytest.mark.parametrize("command", [("generate",), ("evaluate",), ("export",), ("init-model",), ("app",),
                                     ("data", "encode"), ("data", "synth")])
def test_help_never_shows_a_default_of_none(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default:" in text and "(default: None)" not in text


def test_help_states_each_default_once():
    import argparse

    from mobilei2v.cli.arguments import HelpFormatter

    parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
    parser.add_argument("--model", help="a folder (default: the shipped model)")
    parser.add_argument("--steps", type=int, default=30, help="Euler steps")
    parser.add_argument("--sheet", help="a contact sheet")
    text = " ".join(parser.format_help().split())
    assert "a folder (default: the shipped model) --steps" in text
    assert "Euler steps (default: 30)" in text and "a contact sheet" in text and "None" not in text
