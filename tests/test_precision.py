import numpy as np
import pytest
import torch

from mobilei2v import MobileI2VPipeline
from mobilei2v import precision as precision_module
from mobilei2v.precision import resolve_dtype


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected", "reason"), [
    (True, False, torch.bfloat16, "AMX"),
    (False, True, torch.bfloat16, "AVX-512 BF16"),
    (False, False, torch.float32, "no bf16 instructions"),
])
def test_auto_picks_bf16_only_where_the_cpu_multiplies_it_natively(monkeypatch, amx, avx512_bf16, expected, reason):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    dtype, why = resolve_dtype("auto", "cpu")
    assert dtype == expected and reason in why and why.startswith("auto")


def test_a_forced_choice_is_kept_and_a_wrong_one_refused():
    assert resolve_dtype("fp32") == (torch.float32, "as asked")
    assert resolve_dtype("bf16") == (torch.bfloat16, "as asked")
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        resolve_dtype("fp16")


def test_loading_casts_every_part_and_says_why(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: (False, "test CPU"))
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir)
    assert pipe.precision.startswith("fp32 (auto: test CPU")
    pipe = MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype="bf16")
    assert pipe.precision == "bf16 (as asked)"
    for part in (pipe.denoiser, pipe.vae, pipe.light_decoder):
        assert {p.dtype for p in part.parameters()} == {torch.bfloat16}
    assert MobileI2VPipeline.from_pretrained(tiny_model_dir, torch_dtype=torch.float32).precision == "fp32 (as asked)"


def test_bf16_generation_integrates_in_fp32_and_stays_close_to_fp32(tiny_model_dir, photo):
    """The whole video in bf16 (every part cast) against fp32, from the same noise; the latents between
    steps stay fp32 (the Euler sum), as `mobilei2v.precision` says."""
    fp32, bf16 = (MobileI2VPipeline.from_pretrained(tiny_model_dir, dtype=d) for d in ("fp32", "bf16"))
    seen = []

    def record(pipe, step_index, timestep, callback_kwargs):
        seen.append(callback_kwargs["latents"].dtype)
        return {}

    videos = [pipe(photo, num_frames=9, num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                   progress=False, output_type="pt", callback_on_step_end=record).frames for pipe in (fp32, bf16)]
    assert set(seen) == {torch.float32}
    assert videos[1].dtype == torch.float32
    mse = float(((videos[0] - videos[1]) ** 2).mean())
    psnr = 10 * np.log10(1 / mse)
    assert 25 < psnr < 80  # close, and not the same computation: bf16 did run (random tiny weights)
