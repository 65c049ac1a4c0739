import pytest
import torch

from mobilei2v import build
from mobilei2v.diffusion import flow_matching_loss, frame_timesteps, logit_normal_sigmas, noise_latents, sample_latents
from mobilei2v.diffusion.sampler import make_scheduler


@pytest.fixture
def denoiser():
    torch.manual_seed(0)
    return build("denoiser", "mobilei2v-tiny").eval()


class Recorder(torch.nn.Module):
    """Wraps a denoiser and records every (latents, timestep) it is called with."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, latents, timestep, motion_score, rope=None):
        self.calls.append((latents.clone(), timestep.clone()))
        return self.inner(latents, timestep, motion_score, rope)

    def rope_tables(self, grid):
        return self.inner.rope_tables(grid)

    @property
    def dtype(self):
        return self.inner.dtype


def test_default_schedule_is_shifted_linspace(denoiser):
    recorder = Recorder(denoiser)
    sample_latents(recorder, make_scheduler(), torch.randn(1, 16, 1, 2, 2), torch.tensor([2.0]), 3,
                   num_inference_steps=30, progress=False)
    sigma = torch.linspace(1, 0, 31)[:-1].double()
    expected = 1000 * 3 * sigma / (1 + 2 * sigma)  # docs/architecture.md §4, s = 3
    seen = torch.stack([t[0, 1] for _, t in recorder.calls]).double()
    torch.testing.assert_close(seen, expected, rtol=1e-5, atol=1e-3)


def test_reference_frame_is_untouched_and_always_at_timestep_zero(denoiser):
    recorder = Recorder(denoiser)
    reference = torch.randn(2, 16, 1, 2, 3)
    out = sample_latents(recorder, make_scheduler(), reference, torch.tensor([1.0, 4.0]), 3,
                         num_inference_steps=4, progress=False)
    assert torch.equal(out[:, :, :1], reference)
    assert len(recorder.calls) == 4
    for latents, timestep in recorder.calls:
        assert torch.equal(latents[:, :, :1], reference)
        assert (timestep[:, 0] == 0).all() and (timestep[:, 1:] > 0).all()


def test_explicit_sigmas_are_used_unshifted(denoiser):
    recorder = Recorder(denoiser)
    sample_latents(recorder, make_scheduler(), torch.randn(1, 16, 1, 2, 2), torch.tensor([2.0]), 2,
                   sigmas=[1.0, 0.5], progress=False)
    assert [round(t[0, 1].item()) for _, t in recorder.calls] == [1000, 500]
    with pytest.raises(ValueError, match="decreasing"):
        sample_latents(denoiser, make_scheduler(), torch.randn(1, 16, 1, 2, 2), torch.tensor([2.0]), 2,
                       sigmas=[0.5, 1.0], progress=False)


def test_one_step_euler_is_noise_minus_velocity(denoiser):
    """σ: 1 → 0 in one step gives x0 = ε − v(ε)."""
    reference = torch.randn(1, 16, 1, 2, 2)
    noise = torch.randn(1, 16, 3, 2, 2)
    out = sample_latents(denoiser, make_scheduler(), reference, torch.tensor([2.0]), 3, num_inference_steps=1,
                         noise=noise, progress=False)
    start = noise.clone()
    start[:, :, :1] = reference
    with torch.no_grad():
        v = denoiser(start, frame_timesteps(torch.tensor([1.0]), 3), torch.tensor([2.0]))
    torch.testing.assert_close(out[:, :, 1:], (start - v)[:, :, 1:])


def test_seeded_sampling_is_deterministic(denoiser):
    run = lambda seed: sample_latents(denoiser, make_scheduler(), torch.zeros(1, 16, 1, 2, 2),  # noqa: E731
                                      torch.tensor([2.0]), 3, num_inference_steps=3,
                                      generator=torch.Generator().manual_seed(seed), progress=False)
    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_loss_is_velocity_mse_with_reference_frame_masked(denoiser):
    latents, reference = torch.randn(2, 16, 3, 2, 2), torch.randn(2, 16, 1, 2, 2)
    motion, sigma, noise = torch.tensor([1.0, 3.0]), torch.tensor([0.3, 0.8]), torch.randn(2, 16, 3, 2, 2)
    noisy = noise_latents(latents, noise, sigma)
    noisy[:, :, :1] = reference
    with torch.no_grad():
        pred = denoiser(noisy, frame_timesteps(sigma, 3), motion)
        masked = flow_matching_loss(denoiser, latents, reference, motion, sigma=sigma, noise=noise)
        full = flow_matching_loss(denoiser, latents, reference, motion, sigma=sigma, noise=noise,
                                  mask_reference=False)
    error = (pred - (noise - latents)) ** 2
    torch.testing.assert_close(masked, error[:, :, 1:].mean())
    torch.testing.assert_close(full, error.mean())


def test_logit_normal_sigmas_are_in_range_and_centred():
    sigma = logit_normal_sigmas(20000, generator=torch.Generator().manual_seed(0))
    assert (sigma > 0).all() and (sigma < 1).all()
    assert abs(sigma.median().item() - 0.5) < 0.02


class StillVideoDenoiser(torch.nn.Module):
    """The exact velocity of a still video in residual mode: every frame's residual is 0, so v = ε = x_σ/σ."""

    dtype = torch.float32

    def rope_tables(self, grid):
        return None

    def forward(self, latents, timestep, motion_score, rope=None):
        sigma = (timestep / 1000).clamp_min(1e-6)[:, None, :, None, None]  # (B, 1, T, 1, 1)
        return latents / sigma


@pytest.mark.parametrize("residual", [True, False])
def test_residual_mode_integrates_differences_from_the_reference(residual):
    reference = torch.randn(2, 4, 1, 3, 3)
    latents = sample_latents(StillVideoDenoiser(), make_scheduler(), reference, torch.ones(2), 5, num_inference_steps=4,
                             generator=torch.Generator().manual_seed(0), progress=False, residual=residual)
    # The velocity drives every frame to 0: in residual mode that is the reference repeated (a still
    # video), otherwise black latents.
    expected = reference.expand(-1, -1, 5, -1, -1) if residual else torch.cat(
        [reference, torch.zeros(2, 4, 4, 3, 3)], dim=2)
    torch.testing.assert_close(latents, expected, rtol=0, atol=1e-5)


def test_residual_loss_is_zero_for_a_still_clip_when_the_noise_is_predicted(denoiser):
    reference = torch.randn(1, 16, 1, 2, 2)
    still = reference.expand(-1, -1, 3, -1, -1).clone()
    noise = torch.randn(still.shape)

    class PredictsTheNoise(torch.nn.Module):
        def forward(self, latents, timestep, motion_score):
            return noise

    loss = lambda residual: flow_matching_loss(PredictsTheNoise(), still, reference, torch.ones(1),  # noqa: E731
                                               residual=residual, sigma=torch.tensor([0.5]), noise=noise)
    assert loss(True) == 0 and loss(False) > 0.5


class GuideDenoiser(StillVideoDenoiser):
    """Residual 0 from the guide, which it checks it is given."""

    def forward(self, latents, timestep, motion_score, rope=None, guide=None):
        assert guide is not None and guide.shape == latents.shape
        return super().forward(latents, timestep, motion_score)


def test_with_a_guide_residual_mode_integrates_differences_from_the_guide():
    reference = torch.randn(2, 4, 1, 3, 3)
    guide = torch.cat([reference, torch.randn(2, 4, 4, 3, 3)], dim=2)  # frame 0 is the reference
    latents = sample_latents(GuideDenoiser(), make_scheduler(), reference, torch.ones(2), 5, num_inference_steps=4,
                             generator=torch.Generator().manual_seed(0), progress=False, residual=True, guide=guide)
    torch.testing.assert_close(latents, guide, rtol=0, atol=1e-5)  # a zero residual is the guide itself
    noise = torch.randn(guide.shape)

    class PredictsTheNoise(torch.nn.Module):
        def forward(self, latents, timestep, motion_score, guide=None):
            return noise

    loss = lambda clip: flow_matching_loss(PredictsTheNoise(), clip, reference, torch.ones(2), residual=True,  # noqa: E731
                                           sigma=torch.tensor([0.5, 0.5]), noise=noise, guide=guide)
    assert loss(guide) == 0 and loss(reference.expand(-1, -1, 5, -1, -1)) > 0.5
