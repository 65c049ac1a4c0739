"""The Core ML rewrite of LTX's downsampler computes what diffusers' does, with no tensor above rank 5."""

import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.models.autoencoders.autoencoder_kl_ltx import LTXVideoDownsampler3d

from mobilei2v.export.rank5_downsampler import Rank5Downsampler, rewrite_downsamplers
from mobilei2v.export.stages import EncoderStage
from mobilei2v.models.vae import VAE_PRESETS


@pytest.mark.parametrize("stride", [(1, 2, 2), (2, 2, 2), (2, 1, 2)])
def test_the_rewrite_equals_the_downsampler_and_stays_at_rank_5(stride):
    torch.manual_seed(0)
    original = LTXVideoDownsampler3d(6, 24, stride).eval()
    rewritten = Rank5Downsampler(original)
    x = torch.randn(2, 6, 5, 8, 12)
    with torch.no_grad():
        assert torch.equal(rewritten(x), original(x))
        graph = torch.export.export(rewritten, (x,)).graph
    ranks = [node.meta["val"].dim() for node in graph.nodes if isinstance(node.meta.get("val"), torch.Tensor)]
    assert max(ranks) == 5


def test_an_encoder_with_downsamplers_is_rewritten_in_a_copy():
    torch.manual_seed(0)
    stage = EncoderStage(AutoencoderKLLTXVideo(**VAE_PRESETS["tiny-per-frame"])).eval()
    rewritten = rewrite_downsamplers(stage)
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(rewritten(image), stage(image))
    assert any(isinstance(m, Rank5Downsampler) for m in rewritten.modules())
    assert not any(isinstance(m, Rank5Downsampler) for m in stage.modules())


def test_a_module_without_downsamplers_is_returned_as_it_is():
    stage = EncoderStage(AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]))
    assert rewrite_downsamplers(stage) is stage
