import pytest
import torch

from mobilei2v import DENOISER_PRESETS, MobileI2VDenoiser, build
from mobilei2v.diffusion import frame_timesteps
from mobilei2v.models.attention import LinearAttention


def count(preset: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build("denoiser", preset).parameters())


def test_paper_preset_matches_spec_parameter_count_and_layout():
    assert count("mobilei2v-270m") == 264_855_296  # docs/architecture.md §2: 264.86 M without the text projector
    model_types = DENOISER_PRESETS["mobilei2v-270m"]["attention_types"]
    assert [i for i, kind in enumerate(model_types) if kind == "softmax"] == [7, 15]
    # docs/architecture.md §2: linear block 15,335,424, softmax block 15,336,576 (the qkv bias).
    assert count("mobilei2v-270m-linear") == 264_855_296 - 2 * (15_336_576 - 15_335_424)
    assert count("mobilei2v-270m-softmax") == 264_855_296 + 14 * (15_336_576 - 15_335_424)


def test_block_parameter_counts_match_spec():
    with torch.device("meta"):
        model = build("denoiser", "mobilei2v-270m")
    n = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert n(model.blocks[0]) == 15_335_424
    assert n(model.blocks[7]) == 15_336_576
    assert n(model.timestep_embedder) == n(model.motion_embedder) == 1_624_320
    assert n(model.timestep_modulation) == n(model.motion_modulation) == 7_969_536
    assert n(model.x_embedder) == 148_608
    assert n(model.final_layer) == 149_888


@pytest.mark.parametrize("grid", [(1, 1, 1), (3, 2, 3), (3, 4, 4), (5, 3, 2)])
def test_output_shape_follows_any_latent_grid(grid):
    model = build("denoiser", "mobilei2v-tiny").eval()
    latents = torch.randn(2, 16, *grid)
    out = model(latents, torch.tensor([900.0, 100.0]), torch.tensor([1.0, 5.0]))
    assert out.shape == latents.shape
    assert torch.isfinite(out).all()


def test_unknown_attention_kind_and_bad_head_dim_are_rejected():
    with pytest.raises(ValueError, match="attention kind"):
        MobileI2VDenoiser(in_channels=4, hidden_size=48, num_heads=2, ffn_hidden_size=8, attention_types=["dense"])
    with pytest.raises(ValueError, match="divisible by 6"):
        MobileI2VDenoiser(in_channels=4, hidden_size=32, num_heads=2, ffn_hidden_size=8, attention_types=["linear"])
    with pytest.raises(ValueError, match="not a denoiser folder.*a preset: mobilei2v-270m"):
        build("denoiser", "mobilei2v-9b")


def naive_linear_attention(module: LinearAttention, x, rope):
    """The same formula with an explicit N×N score matrix."""
    B, N, D = x.shape
    q, k, v = module.qkv(x).chunk(3, dim=-1)
    q, k = module.q_norm(q), module.k_norm(k)
    q, k, v = (t.view(B, N, module.num_heads, -1).transpose(1, 2).double() for t in (q, k, v))
    from mobilei2v.models.rope import apply_rope

    cos, sin = (t.double() for t in rope)
    q, k = torch.relu(apply_rope(q, (cos, sin))), torch.relu(apply_rope(k, (cos, sin)))
    scores = q @ k.transpose(-1, -2)  # (B, h, N, N)
    out = (scores @ v) / (scores.sum(-1, keepdim=True) + module.eps)
    return module.proj(out.transpose(1, 2).reshape(B, N, D).float())


def test_linear_attention_equals_quadratic_evaluation():
    torch.manual_seed(0)
    module = LinearAttention(48, 2)
    from mobilei2v.models.rope import rope_tables

    grid = (3, 4, 5)
    rope = rope_tables(grid, 24)
    x = torch.randn(2, 60, 48)
    torch.testing.assert_close(module(x, rope), naive_linear_attention(module, x, rope), rtol=1e-4, atol=1e-5)


def test_linear_attention_memory_is_linear_in_tokens():
    """No N×N tensor: peak extra memory at 16k tokens stays far below one N×N fp32 matrix (1 GiB)."""
    module = LinearAttention(48, 2)
    from mobilei2v.models.rope import rope_tables

    grid = (4, 64, 64)  # 16,384 tokens
    rope = rope_tables(grid, 24)
    x = torch.randn(1, 16384, 48)
    with torch.no_grad(), torch.profiler.profile(profile_memory=True) as prof:
        module(x, rope)
    peak = max(e.cpu_memory_usage for e in prof.key_averages())
    assert peak < 64 * 2**20, f"an op allocated {peak / 2**20:.0f} MiB"


def test_reference_frame_timestep_is_what_the_model_sees():
    """Per-frame timesteps reach the model: changing only frame 0's timestep changes the output."""
    torch.manual_seed(0)
    model = build("denoiser", "mobilei2v-tiny").eval()
    latents = torch.randn(1, 16, 3, 2, 2)
    sigma = torch.tensor([0.7])
    ts = frame_timesteps(sigma, 3)
    assert ts.tolist() == [[0.0, pytest.approx(700.0), pytest.approx(700.0)]]
    with torch.no_grad():
        per_frame = model(latents, ts, torch.tensor([2.0]))
        uniform = model(latents, torch.tensor([700.0]), torch.tensor([2.0]))
        again = model(latents, torch.full((1, 3), 700.0), torch.tensor([2.0]))
    assert not torch.allclose(per_frame, uniform)
    torch.testing.assert_close(uniform, again)


def test_motion_score_conditions_the_output():
    torch.manual_seed(0)
    model = build("denoiser", "mobilei2v-tiny").eval()
    latents = torch.randn(1, 16, 3, 2, 2)
    with torch.no_grad():
        a = model(latents, torch.tensor([500.0]), torch.tensor([1.0]))
        b = model(latents, torch.tensor([500.0]), torch.tensor([6.0]))
    assert (a - b).abs().max() > 1e-3


def test_features_of_requested_blocks_and_precomputed_rope():
    model = build("denoiser", "mobilei2v-tiny").eval()
    latents = torch.randn(1, 16, 3, 2, 3)
    t, m = torch.tensor([500.0]), torch.tensor([2.0])
    with torch.no_grad():
        out, features = model.forward_with_features(latents, t, m, feature_blocks=(1, 3))
        out_rope = model(latents, t, m, rope=model.rope_tables((3, 2, 3)))
    assert [f.shape for f in features] == [torch.Size([1, 18, 48])] * 2
    torch.testing.assert_close(out, out_rope)


def test_save_load_round_trip(tmp_path):
    model = build("denoiser", "mobilei2v-tiny").eval()
    model.save_pretrained(tmp_path / "denoiser")
    assert (tmp_path / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = MobileI2VDenoiser.from_pretrained(tmp_path / "denoiser")
    assert list(loaded.config.attention_types) == list(model.config.attention_types)
    latents = torch.randn(1, 16, 3, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(latents, torch.tensor([300.0]), torch.tensor([2.0])),
                                   model(latents, torch.tensor([300.0]), torch.tensor([2.0])))


def test_bf16_forward_tracks_fp32():
    torch.manual_seed(0)
    model = build("denoiser", "mobilei2v-tiny").eval()
    latents = torch.randn(1, 16, 3, 4, 4)
    t, m = torch.tensor([600.0]), torch.tensor([2.0])
    with torch.no_grad():
        ref = model(latents, t, m)
        low = model.to(torch.bfloat16)(latents, t, m).float()
    psnr = 10 * torch.log10(ref.pow(2).max() / (ref - low).pow(2).mean())
    assert psnr > 30


def test_denoiser_exports_with_static_shapes():
    """On-device export needs a graph with no data-dependent control flow: torch.export must capture it
    and the exported program must compute what eager does."""
    model = build("denoiser", "mobilei2v-tiny").eval()
    grid = (3, 2, 3)
    args = (torch.randn(1, 16, *grid), frame_timesteps(torch.tensor([0.6]), 3), torch.tensor([2.0]),
            model.rope_tables(grid))
    program = torch.export.export(model, args)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(*args), model(*args))


def test_reference_concat_shows_every_token_the_reference_at_its_position():
    torch.manual_seed(0)
    model = build("denoiser", "mobilei2v-tiny", reference_concat=True).eval()
    assert model.x_embedder.in_features == 2 * 16
    seen = {}
    model.x_embedder.register_forward_hook(lambda module, args, out: seen.update(tokens=args[0]))
    latents = torch.randn(1, 16, 3, 2, 2)
    model(latents, torch.tensor([500.0]), torch.tensor([2.0]))
    tokens = seen["tokens"].view(1, 3, 4, 32)  # (B, frames, positions, 2C)
    torch.testing.assert_close(tokens[..., :16], latents.flatten(3).permute(0, 2, 3, 1))
    for frame in range(3):  # the second half is frame 0's latent at the same position, in every frame
        torch.testing.assert_close(tokens[:, frame, :, 16:], latents[:, :, 0].flatten(2).transpose(1, 2))


def test_camera_condition_starts_as_the_model_it_is_added_to_and_conditions_on_direction_only(tmp_path):
    torch.manual_seed(0)
    plain = build("denoiser", "mobilei2v-tiny").eval()
    plain.save_pretrained(tmp_path / "plain")
    camera = build("denoiser", tmp_path / "plain", camera_condition=True).eval()  # the saved weights, plus new ones
    latents, t, motion = torch.randn(2, 16, 3, 2, 2), torch.tensor([300.0, 800.0]), torch.tensor([1.0, 4.0])
    pan = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, -3.0, 0.0]])
    with torch.no_grad():
        expected = plain(latents, t, motion)
        torch.testing.assert_close(camera(latents, t, motion, camera=pan), expected, rtol=0, atol=0)
        torch.nn.init.normal_(camera.camera_modulation.proj.weight, std=0.1)  # as after training
        moved = camera(latents, t, motion, camera=pan)
        assert (moved - expected).abs().max() > 1e-3
        torch.testing.assert_close(camera(latents, t, motion, camera=5 * pan), moved)  # only the direction counts
        torch.testing.assert_close(camera(latents, t, motion), camera(latents, t, motion, camera=torch.zeros(2, 4)))
    with pytest.raises(ValueError, match="no camera condition"):
        plain(latents, t, motion, camera=pan)


def test_softmax_qk_norm_makes_the_softmax_blocks_blind_to_the_scale_of_q_and_k(tmp_path):
    """The norm's defining property: scaling q's and k's projections (as a few-step student's large updates
    can) leaves the attention as it was, where without the norm the logits grow with the scale squared."""
    torch.manual_seed(0)
    build("denoiser", "mobilei2v-tiny").save_pretrained(tmp_path / "plain")
    normed = build("denoiser", tmp_path / "plain", softmax_qk_norm=True)
    plain = build("denoiser", tmp_path / "plain")
    softmax = [i for i, kind in enumerate(normed.config.attention_types) if kind == "softmax"]
    # the trained weights kept, the new norms at one, and only the softmax blocks have them
    assert {n for n in normed.state_dict()} - set(plain.state_dict()) == {
        f"blocks.{i}.attn.{q}_norm.weight" for i in softmax for q in "qk"}
    assert all(torch.equal(normed.state_dict()[n], w) for n, w in plain.state_dict().items())
    x, rope = torch.randn(2, 12, 48), normed.rope_tables((3, 2, 2))
    for model, blind in ((normed, True), (plain, False)):
        attention = model.blocks[softmax[0]].attn
        with torch.no_grad():
            before = attention(x, rope)
            attention.qkv.weight[:96] *= 5  # the q and k rows (the bias is scaled too, below)
            attention.qkv.bias[:96] *= 5
            after = attention(x, rope)
        assert torch.allclose(after, before, atol=1e-4) == blind


def test_options_that_change_trained_weights_are_refused(tmp_path):
    build("denoiser", "mobilei2v-tiny").save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match="changes the shape of trained weights \\(x_embedder.weight"):
        build("denoiser", tmp_path / "plain", reference_concat=True)
    with pytest.raises(ValueError, match="has no option colour"):
        build("denoiser", tmp_path / "plain", colour=True)
    build("denoiser", tmp_path / "plain", camera_condition=True).save_pretrained(tmp_path / "camera")
    with pytest.raises(ValueError, match="removes trained weights .*camera_embedder"):
        build("denoiser", tmp_path / "camera", camera_condition=False)


def test_a_denoiser_given_the_reference_neighbourhood_and_frame_motion_starts_as_it_was():
    torch.manual_seed(0)
    plain = build("denoiser", "mobilei2v-tiny", reference_concat=True).eval()
    grown = MobileI2VDenoiser(**{**plain.config, "reference_neighbourhood": True, "frame_motion_condition": True})
    grown.adopt_weights(plain)
    grown.eval()
    latents, t, motion = torch.randn(2, 16, 3, 3, 4), torch.tensor([300.0, 800.0]), torch.tensor([1.0, 4.0])
    with torch.no_grad():
        torch.testing.assert_close(grown(latents, t, motion), plain(latents, t, motion))
    # Every token's input holds its reference cell's 3×3 neighbourhood, edges repeated.
    seen = []
    grown.x_embedder.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    with torch.no_grad():
        grown(latents, t, motion)
    H, W = latents.shape[3:]
    token = seen[0][:, 1 * H * W + 0 * W + 2]  # frame 1, cell (0, 2)
    window = token[:, 16:].reshape(2, 3, 3, 16).permute(0, 3, 1, 2)  # (B, C, row, column) around the cell
    reference = latents[:, :, 0]
    torch.testing.assert_close(window[:, :, 1, 1], reference[:, :, 0, 2])  # the cell itself
    torch.testing.assert_close(window[:, :, 1, 2], reference[:, :, 0, 3])  # its right neighbour
    torch.testing.assert_close(window[:, :, 2, 1], reference[:, :, 1, 2])  # the one below
    torch.testing.assert_close(window[:, :, 0, 1], reference[:, :, 0, 2])  # above the top edge: repeated
    torch.testing.assert_close(token[:, :16], latents[:, :, 1, 0, 2])
    with pytest.raises(ValueError, match="widens reference_concat"):
        MobileI2VDenoiser(**{**plain.config, "reference_concat": False, "reference_neighbourhood": True})


@pytest.mark.parametrize("switches", [{"reference_concat": True}, {"reference_concat": True, "reference_neighbourhood": True},
                                      {"reference_residual": True}])
def test_a_guide_that_holds_the_reference_still_gives_the_model_it_was_made_from(switches):
    """`camera_guide` adds no weights: given the reference in every frame (a still camera), it is the model
    without the switch; given a moving guide, each frame sees its own guide latent."""
    torch.manual_seed(0)
    plain = build("denoiser", "mobilei2v-tiny", **switches).eval()
    guided = MobileI2VDenoiser(**{**plain.config, "camera_guide": True})
    guided.adopt_weights(plain)
    guided.eval()
    latents, t, motion = torch.randn(2, 16, 3, 3, 4), torch.tensor([300.0, 800.0]), torch.tensor([1.0, 4.0])
    still = latents[:, :, :1].expand(-1, -1, 3, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(guided(latents, t, motion, guide=still), plain(latents, t, motion))
        moving = still + torch.randn_like(still)
        if switches.get("reference_concat"):
            assert (guided(latents, t, motion, guide=moving) - plain(latents, t, motion)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="needs the guide"):
        guided(latents, t, motion)
    with pytest.raises(ValueError, match="needs the guide, and only such"):
        plain(latents, t, motion, guide=still)
    with pytest.raises(ValueError, match="the guide has shape"):
        guided(latents, t, motion, guide=still[:, :, :2])
    with pytest.raises(ValueError, match="turn one on"):
        MobileI2VDenoiser(**DENOISER_PRESETS["mobilei2v-tiny"], camera_guide=True)


def test_the_guide_is_seen_frame_by_frame():
    torch.manual_seed(0)
    model = build("denoiser", "mobilei2v-tiny", reference_concat=True, camera_guide=True).eval()
    seen = {}
    model.x_embedder.register_forward_hook(lambda module, args, out: seen.update(tokens=args[0]))
    latents, guide = torch.randn(1, 16, 3, 2, 2), torch.randn(1, 16, 3, 2, 2)
    model(latents, torch.tensor([500.0]), torch.tensor([2.0]), guide=guide)
    tokens = seen["tokens"].view(1, 3, 4, 32)
    for frame in range(3):
        torch.testing.assert_close(tokens[:, frame, :, 16:], guide[:, :, frame].flatten(2).transpose(1, 2))
