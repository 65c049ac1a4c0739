"""The distillation losses on toy problems where the right answer is known."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from mobilei2v.diffusion import flow_matching_loss
from mobilei2v.distill.losses import (
    denoise,
    discriminator_loss,
    distribution_matching_loss,
    flow_latents,
    generator_loss,
    regression_loss,
    teacher_features,
)
from mobilei2v.models.denoiser import MobileI2VDenoiser
from mobilei2v.models.discriminator import DiscriminatorHeads
from mobilei2v.models.presets import DENOISER_PRESETS


class GaussianFlow(nn.Module):
    """The exact flow velocity for data x0 ~ N(mean, std²) in every element, x_σ = (1 − σ)·x0 + σ·ε:
    v = E[ε − x0 | x_σ] = −mean + (σ − (1 − σ)·s²) / ((1 − σ)²·s² + σ²) · (x_σ − (1 − σ)·mean), s = std
    (ε − x0 and x_σ are jointly Gaussian: the conditional mean is linear in x_σ)."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean = nn.Parameter(torch.tensor(mean))
        self.log_std = nn.Parameter(torch.tensor(math.log(std)))

    def forward_with_features(self, latents, timestep, motion_score, rope=None, feature_blocks=()):
        sigma = (timestep.float() / 1000)[:, None, :, None, None]  # (B, 1, T, 1, 1)
        variance = torch.exp(2 * self.log_std)
        gain = (sigma - (1 - sigma) * variance) / ((1 - sigma) ** 2 * variance + sigma**2)
        return -self.mean + gain * (latents - (1 - sigma) * self.mean), []

    def forward(self, latents, timestep, motion_score, rope=None):
        return self.forward_with_features(latents, timestep, motion_score)[0]


def test_distribution_matching_moves_the_students_samples_to_the_teachers_distribution():
    torch.manual_seed(0)
    teacher = GaussianFlow(2.0, 0.5).requires_grad_(False)
    fake_score = copy.deepcopy(teacher).requires_grad_(True)  # initialised from the teacher, as in DMD2
    shift, log_scale = nn.Parameter(torch.tensor(0.0)), nn.Parameter(torch.tensor(math.log(1.5)))
    student = torch.optim.Adam([shift, log_scale], lr=0.05)
    fake = torch.optim.Adam(fake_score.parameters(), lr=0.05)
    reference, motion = torch.zeros(16, 1, 1, 4, 4), torch.zeros(16)
    for _ in range(100):
        samples = shift + log_scale.exp() * torch.randn(16, 1, 2, 4, 4)  # the student: N(shift, scale²)
        for _ in range(5):
            loss = flow_matching_loss(fake_score, samples.detach(), reference, motion)
            fake.zero_grad()
            loss.backward()
            fake.step()
        loss = distribution_matching_loss(samples, teacher, fake_score, reference, motion)
        student.zero_grad()
        loss.backward()
        student.step()
    assert abs(shift.item() - 2.0) < 0.15 and abs(log_scale.exp().item() - 0.5) < 0.1, (shift, log_scale.exp())


def test_distribution_matching_gradient_is_dmd2s_normalised_score_difference():
    teacher, fake_score = GaussianFlow(1.0, 1.0), GaussianFlow(0.0, 1.0)
    x0 = torch.randn(2, 3, 2, 2, 2, requires_grad=True)
    reference, motion, noise = torch.zeros(2, 3, 1, 2, 2), torch.zeros(2), torch.randn(2, 3, 2, 2, 2)
    sigma = torch.tensor([0.3, 0.8])
    distribution_matching_loss(x0, teacher, fake_score, reference, motion, sigma, noise).backward()
    noisy = (1 - sigma.view(-1, 1, 1, 1, 1)) * x0.detach() + sigma.view(-1, 1, 1, 1, 1) * noise
    real = denoise(teacher, noisy, sigma, reference, motion)[0][:, :, 1:]
    fake = denoise(fake_score, noisy, sigma, reference, motion)[0][:, :, 1:]
    expected = (fake - real) / (x0.detach()[:, :, 1:] - real).abs().mean(dim=(1, 2, 3, 4), keepdim=True)
    torch.testing.assert_close(x0.grad[:, :, 1:] * expected[0].numel() * 2, expected)
    assert not x0.grad[:, :, 0].any()  # the reference frame is never generated


@pytest.mark.parametrize(("residual", "guided"), [(False, False), (True, False), (True, True)])
def test_regression_at_sigma_1_is_the_flow_loss_on_the_teachers_result(residual, guided):
    """A twin of `flow_matching_loss`: at σ = 1, x̂0 = ε − v̂, so the x0 error is the velocity error, with the
    same reference frame, residual and guide conventions."""
    torch.manual_seed(0)
    student = MobileI2VDenoiser(**DENOISER_PRESETS["mobilei2v-tiny"], reference_residual=residual,
                                camera_guide=guided)
    target, noise = torch.randn(2, 16, 3, 2, 2), torch.randn(2, 16, 3, 2, 2)
    reference, motion, sigma = target[:, :, :1] + 0.1, torch.tensor([1.0, 3.0]), torch.ones(2)
    guide = torch.cat([reference, torch.randn(2, 16, 2, 2, 2)], dim=2) if guided else None  # frame 0: the reference
    conditions = {} if guide is None else {"guide": guide}
    x0, _ = denoise(student, noise, sigma, reference, motion, conditions=conditions)
    torch.testing.assert_close(regression_loss(x0, flow_latents(target, reference, residual, guide)),
                               flow_matching_loss(student, target, reference, motion, sigma=sigma, noise=noise,
                                                  residual=residual, **conditions))


def train_heads(heads: DiscriminatorHeads, real, fake, grid, steps: int, lr: float) -> list[float]:
    """`steps` hinge-loss updates of `heads` on fresh batches from `real()` and `fake()`; the losses."""
    optimizer = torch.optim.Adam(heads.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = discriminator_loss(heads(real(), grid), heads(fake(), grid))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_discriminator_heads_learn_to_tell_real_features_from_generated_ones():
    torch.manual_seed(0)
    direction = torch.randn(8)
    losses = train_heads(DiscriminatorHeads(feature_dim=8, num_heads=2, channels=16),
                         lambda: [torch.randn(4, 6, 8) + direction for _ in range(2)],
                         lambda: [torch.randn(4, 6, 8) - direction for _ in range(2)], grid=(2, 3), steps=60, lr=1e-2)
    assert sum(losses[-10:]) / 10 < 0.2 * losses[0], losses[::10]


def test_wider_heads_see_what_tells_neighbouring_tokens_apart():
    # Every token is N(0, I) on both sides; on the real side each frame's tokens are one vector repeated,
    # on the generated side they are independent. Alone a token says nothing; beside its neighbours, all.
    def real():
        return [torch.randn(4, 2, 1, 8).expand(4, 2, 16, 8).reshape(4, 32, 8)]  # 2 frames of 4×4 tokens

    def fake():
        return [torch.randn(4, 32, 8)]

    final = {}
    for kernel in (1, 3):
        torch.manual_seed(0)
        losses = train_heads(DiscriminatorHeads(feature_dim=8, num_heads=1, channels=16, kernel_size=kernel),
                             real, fake, grid=(4, 4), steps=150, lr=1e-2)
        final[kernel] = sum(losses[-20:]) / 20
    assert final[1] > 1.8 and final[3] < 1.0, final  # the hinge loss is 2 at chance


def test_the_generator_loss_falls_through_the_frozen_teacher():
    torch.manual_seed(0)
    teacher = MobileI2VDenoiser(**DENOISER_PRESETS["mobilei2v-tiny"]).requires_grad_(False).eval()
    heads = DiscriminatorHeads(teacher.config.hidden_size, num_heads=2, channels=16).requires_grad_(False)
    reference, motion = torch.randn(2, 16, 1, 2, 2), torch.ones(2)
    sample = nn.Parameter(torch.randn(2, 16, 3, 2, 2))
    optimizer = torch.optim.Adam([sample], lr=0.05)
    sigma, noise = torch.full((2,), 0.5), torch.randn(2, 16, 3, 2, 2)  # fixed: the loss depends on the sample alone

    def loss():
        return generator_loss(heads(teacher_features(teacher, sample, reference, motion, [1, 3], sigma, noise),
                                     grid=(2, 2)))

    before = loss().item()
    for _ in range(20):
        value = loss()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert loss().item() < before - 0.05, (before, loss().item())
    assert not any(p.grad is not None for p in teacher.parameters())  # the teacher stays frozen
