"""Each Neural-Engine rewrite of linear attention equals the plain module (PSNR ≥ 60 dB in fp32, Apple's bar),
on random weights and on the shipped model's."""

import pytest
import torch

from mobilei2v.export.ane_attention import REWRITES, rewrite_attention
from mobilei2v.export.ane_layout import channels_first_rope
from mobilei2v.export.compare import psnr
from mobilei2v.models.attention import LinearAttention
from mobilei2v.models.registry import build
from mobilei2v.models.rope import rope_tables
from mobilei2v.pipeline import SHIPPED_MODEL

GRID = (3, 4, 5)


def _attention_pair(attention: LinearAttention, rewrite: str, grid=GRID):
    torch.manual_seed(1)
    dim = attention.qkv.in_features
    x = torch.randn(2, grid[0] * grid[1] * grid[2], dim) * 3
    head_dim = dim // attention.num_heads
    rope = rope_tables(grid, head_dim)
    with torch.no_grad():
        expected = attention(x, rope)
        rewritten = REWRITES[rewrite].from_original(attention)
        got = rewritten(x.transpose(1, 2)[:, :, None], channels_first_rope(rope))[:, :, 0].transpose(1, 2)
    return expected, got


@pytest.mark.parametrize("rewrite", REWRITES)
def test_each_rewrite_equals_linear_attention_on_random_weights(rewrite):
    torch.manual_seed(0)
    attention = LinearAttention(72, 4).eval()
    expected, got = _attention_pair(attention, rewrite)
    assert psnr(expected, got) >= 60


@pytest.mark.parametrize("rewrite", REWRITES)
def test_each_rewrite_equals_linear_attention_on_shipped_weights(rewrite):
    denoiser = build("denoiser", SHIPPED_MODEL)
    attention = next(b.attn for b in denoiser.blocks if isinstance(b.attn, LinearAttention))
    expected, got = _attention_pair(attention, rewrite)
    assert psnr(expected, got) >= 60


def test_a_rewritten_denoiser_predicts_the_originals_velocity(tiny_pipeline):
    denoiser = tiny_pipeline.denoiser
    grid = (3, 2, 3)
    torch.manual_seed(0)
    latents = torch.randn(1, denoiser.config.in_channels, *grid)
    timestep, motion = torch.tensor([[0.0, 700.0, 700.0]]), torch.tensor([2.0])
    rewritten = rewrite_attention(denoiser, "all", grid)
    with torch.no_grad():
        assert psnr(denoiser(latents, timestep, motion), rewritten(latents, timestep, motion)) >= 60
    assert any(type(b.attn).__name__ == "ChannelsFirstAdapter" for b in rewritten.blocks)
    assert all(type(b.attn).__name__ != "ChannelsFirstAdapter" for b in denoiser.blocks)
