"""The ExecuTorch rewrites compute what the originals do: every Conv3d as 2-D convolutions of the frames (no
3-D convolution op, rank ≤ 5), LTX's encoder with its patchify at rank 5, and the light decoder's
upsampler at rank 5; on random weights and on the shipped model's encoder and light decoder."""

import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.models.autoencoders.autoencoder_kl_ltx import LTXVideoCausalConv3d
from torch import nn

from mobilei2v.export.compare import psnr
from mobilei2v.export.conv3d_as_2d import Conv3dAs2d, rewrite_conv3d
from mobilei2v.export.executorch import rewrite_for_xnnpack
from mobilei2v.export.rank5_encoder import Rank5Encoder, rewrite_encoders
from mobilei2v.export.stages import build_stages
from mobilei2v.models.light_decoder import PixelShuffleUpsampler3d, VideoConv3d
from mobilei2v.models.vae import VAE_PRESETS
from mobilei2v.pipeline import SHIPPED_MODEL, MobileI2VPipeline

CONVOLUTIONS = {
    "3x3x3, causal-padded input": lambda: LTXVideoCausalConv3d(6, 10, 3),  # diffusers pads, then a Conv3d
    "1x1x1": lambda: nn.Conv3d(6, 10, 1),
    "temporal stride 2, zero-padded in time": lambda: nn.Conv3d(6, 10, 3, stride=(2, 1, 1), padding=1),
    "spatial stride 2": lambda: nn.Conv3d(6, 10, 3, stride=(1, 2, 2), padding=(0, 1, 1)),
    "groups": lambda: nn.Conv3d(6, 12, 3, padding=(1, 1, 1), groups=3),
    "dilation, no bias": lambda: nn.Conv3d(6, 10, (2, 3, 3), padding=(1, 2, 1), dilation=(2, 2, 1), bias=False),
    "the light decoder's depthwise, edge frames repeated": lambda: VideoConv3d(6, 6, 3, groups=6),
}


def graph_of(module: nn.Module, *inputs: torch.Tensor) -> torch.fx.Graph:
    with torch.no_grad():
        return torch.export.export(module, inputs).graph


def max_rank(graph: torch.fx.Graph) -> int:
    return max(node.meta["val"].dim() for node in graph.nodes if isinstance(node.meta.get("val"), torch.Tensor))


def has_conv3d(graph: torch.fx.Graph) -> bool:
    return any("conv3d" in str(node.target) for node in graph.nodes)


@pytest.mark.parametrize("name", CONVOLUTIONS)
def test_the_rewrite_equals_conv3d_with_no_3d_convolution_and_rank_5(name):
    torch.manual_seed(0)
    original = CONVOLUTIONS[name]().eval()
    rewritten = rewrite_conv3d(original)
    x = torch.randn(2, 6, 7, 10, 12)
    with torch.no_grad():
        assert psnr(original(x), rewritten(x)) >= 60
    assert has_conv3d(graph_of(original, x))
    graph = graph_of(rewritten, x)
    assert not has_conv3d(graph) and max_rank(graph) == 5


def test_from_original_copies_the_weights_and_a_rewrite_keeps_the_original():
    torch.manual_seed(0)
    original = nn.Conv3d(4, 8, 3, padding=1)
    rewritten = Conv3dAs2d.from_original(original)
    assert torch.equal(rewritten.taps[1].weight, original.weight[:, :, 1])
    assert torch.equal(rewritten.taps[0].bias, original.bias) and rewritten.taps[1].bias is None
    model = nn.Sequential(original, nn.SiLU())
    assert isinstance(rewrite_conv3d(model)[0], Conv3dAs2d) and model[0] is original
    linear = nn.Linear(2, 2)
    assert rewrite_conv3d(linear) is linear  # nothing to rewrite: no copy


def test_a_conv3d_subclass_with_a_forward_of_its_own_is_refused():
    class Shifted(nn.Conv3d):
        def forward(self, x):
            return super().forward(x.roll(1, 2))

    with pytest.raises(ValueError, match="no 2-D rewrite of Shifted"):
        rewrite_conv3d(nn.Sequential(Shifted(2, 2, 1)))


def test_the_encoder_rewrite_equals_diffusers_encoder_at_rank_5():
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]).eval()
    rewritten = rewrite_encoders(vae)
    assert isinstance(rewritten.encoder, Rank5Encoder) and not isinstance(vae.encoder, Rank5Encoder)
    video = torch.randn(1, 3, 9, 64, 96)  # H ≠ W: the patchify puts column offsets before row offsets
    with torch.no_grad():
        assert torch.equal(rewritten.encoder(video), vae.encoder(video))
    assert max_rank(graph_of(vae.encoder, video)) == 8
    assert max_rank(graph_of(rewrite_conv3d(rewritten.encoder), video)) == 5


@pytest.mark.parametrize("temporal", [True, False])
def test_the_light_decoders_upsampler_shuffles_as_its_rank_8_definition(temporal):
    torch.manual_seed(0)
    upsampler = PixelShuffleUpsampler3d(6, temporal).eval()
    x = torch.randn(2, 6, 3, 5, 7)
    B, C, T, H, W = x.shape
    rt = upsampler.rt
    with torch.no_grad():
        # channel ((c·2 + rh)·2 + rw)·rt + i → frame t·rt + i, row 2h + rh, column 2w + rw; frame 0 dropped
        expected = upsampler.conv(x).view(B, C, 2, 2, rt, T, H, W).permute(0, 1, 5, 4, 6, 2, 7, 3)
        expected = expected.reshape(B, C, rt * T, 2 * H, 2 * W)[:, :, rt - 1:]
        assert torch.equal(upsampler(x), expected)
    assert max_rank(graph_of(rewrite_conv3d(upsampler), x)) == 5


@pytest.fixture(scope="module")
def shipped_stages():
    pipe = MobileI2VPipeline.from_pretrained(SHIPPED_MODEL, dtype="fp32")
    return build_stages(pipe, 64, 96, 5)


@pytest.mark.parametrize("name", ["encoder", "decoder"])
def test_the_shipped_encoder_and_light_decoder_are_equal_rewritten_whole(shipped_stages, name):
    stage = shipped_stages[name]
    torch.manual_seed(0)
    inputs = [torch.randn_like(x) for x in stage.inputs.values()]
    with torch.no_grad():
        expected = stage.module(*inputs)
        assert psnr(expected, rewrite_conv3d(stage.module)(*inputs)) >= 60
        assert psnr(expected, rewrite_for_xnnpack(stage.module)(*inputs)) >= 60
    graph = graph_of(rewrite_for_xnnpack(stage.module), *inputs)
    # rank 6: the linear path's patchify averages groups of frames at rank 6, within XNNPACK's limit
    assert not has_conv3d(graph) and max_rank(graph) <= 6
    assert has_conv3d(graph_of(stage.module, *inputs))  # the stage itself is untouched
