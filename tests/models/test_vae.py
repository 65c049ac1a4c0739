import pytest
import torch
from diffusers import AutoencoderKLLTXVideo

from mobilei2v import LightDecoder
from mobilei2v.models.geometry import LatentGeometry
from mobilei2v.models.light_decoder import LIGHT_DECODER_PRESETS
from mobilei2v.models.registry import build, load
from mobilei2v.models.vae import (
    VAE_PRESETS,
    LinearPathAutoencoder,
    decode_latents,
    encode_video,
)


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]).eval()


def test_light_decoder_full_config_has_spec_size():
    with torch.device("meta"):
        model = LightDecoder()
    assert sum(p.numel() for p in model.parameters()) == 41_896_023  # docs/architecture.md §3: ≈ 41.9 M


def test_shipped_presets_keep_the_32x32x8_compression_and_128_channels():
    with torch.device("meta"):
        vae = build("vae", "small")
        decoder = LightDecoder(**LIGHT_DECODER_PRESETS["small"])
    assert LatentGeometry.of(vae) == decoder.geometry == LatentGeometry(32, 8, 128)
    assert decoder.config.block_out_channels[0] // 16 == 4  # channels left after the two pixel shuffles


def test_per_frame_presets_keep_every_frame_and_fit_each_other():
    """The shipped model v2's parts: 32×32 spatial, 128 channels, every frame its own latent frame."""
    torch.manual_seed(0)
    vae = build("vae", "small-per-frame").eval()
    decoder = LightDecoder(**LIGHT_DECODER_PRESETS["small-per-frame"]).eval()
    assert LatentGeometry.of(vae) == decoder.geometry == LatentGeometry(32, 1, 128)
    video = torch.rand(1, 3, 6, 64, 96) * 2 - 1  # any frame count
    latents = encode_video(vae, video)
    assert latents.shape == (1, 128, 6, 2, 3)
    assert decode_latents(decoder, latents, 64, 96, vae.config.scaling_factor).shape == video.shape


def test_the_last_rmsnorm_can_be_left_out():
    torch.manual_seed(0)
    normed = LightDecoder(**LIGHT_DECODER_PRESETS["tiny"]).eval()
    plain = LightDecoder(**LIGHT_DECODER_PRESETS["tiny"], final_norm=False).eval()
    plain.load_state_dict(normed.state_dict())  # no parameters in the norm: the same weights fit both
    z = torch.randn(1, 16, 1, 2, 2)
    with torch.no_grad():
        assert not torch.allclose(normed(z), plain(z))
        blocks = torch.nn.Sequential(*plain.blocks())(z)
        torch.testing.assert_close(plain(z), plain.conv_out(torch.nn.functional.silu(blocks)))


@pytest.mark.parametrize("frames", [1, 9, 17])
def test_light_decoder_output_shape(frames):
    decoder = LightDecoder(**LIGHT_DECODER_PRESETS["tiny"]).eval()
    latent_frames = (frames - 1) // 8 + 1
    with torch.no_grad():
        z = torch.randn(1, 16, latent_frames, 2, 3)
        video, features = decoder.forward_with_features(z, feature_blocks=[0, 1, 2, 3, 4])
        torch.testing.assert_close(decoder(z), video)
        _, some = decoder.forward_with_features(z, feature_blocks=[1, 3])
    assert video.shape == (1, 3, frames, 64, 96)
    assert len(features) == 5  # mid block and the four up blocks, for feature distillation
    assert [f.shape for f in some] == [features[1].shape, features[3].shape]
    assert features[0].shape[1] == 32 and features[4].shape[1] == 16  # widest first (mid), narrowest last


@pytest.mark.parametrize(("frames", "height", "width"), [(9, 64, 96), (17, 72, 40), (1, 32, 32)])
def test_encode_decode_pads_and_crops_any_size(tiny_vae, frames, height, width):
    video = torch.rand(1, 3, frames, height, width) * 2 - 1
    latents = encode_video(tiny_vae, video)
    assert latents.shape == (1, 16, *LatentGeometry(32, 8).latent_grid(frames, height, width))
    for decoder in (tiny_vae, LightDecoder(**LIGHT_DECODER_PRESETS["tiny"]).eval()):
        out = decode_latents(decoder, latents, height, width, tiny_vae.config.scaling_factor)
        assert out.shape == video.shape
        assert out.min() >= -1 and out.max() <= 1


def test_reference_latent_is_the_first_latent_frame(tiny_vae):
    """The causal encoder: frame 0 alone encodes to the same latent as frame 0 of the clip."""
    video = torch.rand(1, 3, 9, 64, 64) * 2 - 1
    clip = encode_video(tiny_vae, video)
    first = encode_video(tiny_vae, video[:, :, :1])
    torch.testing.assert_close(clip[:, :, :1], first, rtol=1e-4, atol=1e-5)


def test_latent_scale_is_the_saved_config_value(tmp_path):
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"], scaling_factor=0.5).eval()
    vae.save_pretrained(tmp_path)
    loaded = AutoencoderKLLTXVideo.from_pretrained(tmp_path)
    video = torch.rand(1, 3, 1, 32, 32) * 2 - 1
    raw = loaded.encode(video).latent_dist.mode()
    torch.testing.assert_close(encode_video(loaded, video), raw * 0.5)
    assert AutoencoderKLLTXVideo(**VAE_PRESETS["tiny"]).config.scaling_factor == 1.0  # the authors' raw latents


def test_linear_path_autoencoder_adds_its_path_to_the_means_and_round_trips(tmp_path):
    torch.manual_seed(0)
    vae = LinearPathAutoencoder(**VAE_PRESETS["tiny"]).eval()
    video = torch.randn(1, 3, 9, 64, 64)
    with torch.no_grad():
        plain = vae.encoder(video)  # the deep path's moments: 16 means, then log-variances
        with_path = vae.encode(video).latent_dist
        path = vae.linear_encode(LatentGeometry.of(vae).patchify(video))
    torch.testing.assert_close(with_path.mean, plain[:, :16] + path)
    torch.testing.assert_close(with_path.logvar, plain[:, 16:].clamp(-30, 20))
    vae.save_pretrained(tmp_path / "vae")
    loaded = load("vae", tmp_path / "vae")
    assert type(loaded) is LinearPathAutoencoder and list(loaded.config.block_out_channels) == [8, 16, 32, 32]
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(video).latent_dist.mean, with_path.mean)
    assert type(build("vae", "small")) is LinearPathAutoencoder
