import numpy as np
import pytest
import torch

from mobilei2v import MobileI2VPipeline
from mobilei2v.compilation import CompileError, compile_module


def generate(pipe, photo, **kwargs):
    return pipe(photo, num_inference_steps=2, generator=torch.Generator().manual_seed(0), progress=False,
                **{"num_frames": 9, "output_type": "pt", **kwargs}).frames


def compilations(pipe) -> dict[str, int]:
    return {name: getattr(pipe, name).forward.compilations for name in ("denoiser", "light_decoder")} | {
        "encoder": pipe.vae.encoder.forward.compilations}


def test_each_part_compiles_once_per_shape_and_says_so(tiny_model_dir, photo):
    """torch.compile's "eager" backend traces as inductor's does (a part it cannot trace whole fails the
    same way) without inductor's code generation, which takes minutes on a tiny model (the slow test below
    runs it)."""
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype="fp32")  # its own: compiling changes it
    eager = generate(pipe, photo)
    messages = []
    assert pipe.compile(backend="eager", report=messages.append) == ["denoiser"]
    assert pipe.compile(["encoder", "decoder"], backend="eager", report=messages.append) == [
        "encoder", "light decoder", "LTX decoder"]
    assert messages == []  # nothing compiles before it is called

    assert torch.equal(generate(pipe, photo), eager)
    assert compilations(pipe) == {"denoiser": 1, "light_decoder": 1, "encoder": 1}
    assert [m.split(" for ")[0] for m in messages if m.startswith("compiling")] == [
        "compiling the encoder with eager", "compiling the denoiser with eager",
        "compiling the light decoder with eager"]
    assert sum(m.startswith("compiled the") and " s (this call included)" in m for m in messages) == 3

    messages.clear()
    assert torch.equal(generate(pipe, photo), eager)
    assert messages == [] and compilations(pipe) == {"denoiser": 1, "light_decoder": 1, "encoder": 1}

    # More frames: the denoiser's input has a new shape; the encoder's (one frame) has not.
    generate(pipe, photo, num_frames=17, output_type="latent")
    assert compilations(pipe) == {"denoiser": 2, "light_decoder": 1, "encoder": 1}
    assert messages[0] == "compiling the denoiser with eager for (1, 16, 3, 2, 3) in fp32 (once per shape; this " \
                          "call waits for it)"


def test_a_part_that_cannot_be_compiled_whole_is_an_error_not_a_silent_eager_fallback():
    class Printing(torch.nn.Module):
        def forward(self, x):
            torch._dynamo.graph_break()  # what an untraceable op does to the graph
            return x + 1

    module = Printing()
    compile_module(module, "printer", backend="eager", report=lambda message: None)
    with pytest.raises(CompileError, match=r"could not compile the printer for \(2,\).*run without compiling"):
        module(torch.zeros(2))


def test_unknown_stages_are_refused(tiny_pipeline):
    with pytest.raises(ValueError, match="denoiser, encoder, decoder; got vae"):
        tiny_pipeline.compile(["vae"])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_inductor_compiled_video_is_as_close_to_fp32_as_eager_is(tiny_model_dir, photo, dtype):
    """Inductor fuses the element-wise ops (computing in fp32 inside its kernels) and reorders sums, so
    its video differs from eager's by rounding. The tolerance is the precision's own: the compiled video is
    as close to the fp32 eager one as the eager video in that precision is, within 1 dB (80 dB at most: in
    fp32 no more than rounding). On this tiny random model bf16 is about 34 dB from fp32, compiled or not."""
    def psnr(a, b):
        return 10 * np.log10(1 / max(float(((a - b) ** 2).mean()), 1e-20))

    reference = generate(MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype="fp32"), photo)
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype=dtype)
    eager = generate(pipe, photo)
    pipe.compile(pipe.COMPILE_STAGES, report=lambda message: None)
    compiled = generate(pipe, photo)
    assert compilations(pipe) == {"denoiser": 1, "light_decoder": 1, "encoder": 1}
    assert psnr(compiled, reference) > min(80, psnr(eager, reference) - 1)
    assert torch.equal(generate(pipe, photo), compiled)
    assert compilations(pipe) == {"denoiser": 1, "light_decoder": 1, "encoder": 1}
