import torch

from mobilei2v.models.rope import apply_rope, latent_positions, rope_tables


def test_positions_are_frame_major_and_scaled():
    pos = latent_positions((2, 3, 4), scale=(1.0, 1.5, 2.0))
    assert pos.shape == (24, 3)
    assert pos[1].tolist() == [0.0, 0.0, 0.5]  # next column
    assert pos[4].tolist() == [0.0, 1 / 1.5, 0.0]  # next row
    assert pos[12].tolist() == [1.0, 0.0, 0.0]  # next frame


def test_rotation_preserves_norm_and_scores_depend_only_on_offsets():
    """RoPE's defining property: q·k after rotation depends on the position difference alone."""
    torch.manual_seed(0)
    cos, sin = rope_tables((4, 4, 4), 24, scale=(1.0, 1.0, 1.0), dtype=torch.float64)
    q, k = torch.randn(24, dtype=torch.float64), torch.randn(24, dtype=torch.float64)
    rotate = lambda v, i: apply_rope(v[None], (cos[i:i + 1], sin[i:i + 1]))[0]  # noqa: E731
    index = lambda t, y, x: t * 16 + y * 4 + x  # noqa: E731
    assert torch.allclose(rotate(q, index(1, 2, 3)).norm(), q.norm())
    a = rotate(q, index(1, 1, 1)) @ rotate(k, index(0, 0, 2))
    b = rotate(q, index(3, 2, 2)) @ rotate(k, index(2, 1, 3))  # same (1, 1, −1) offset
    c = rotate(q, index(3, 2, 2)) @ rotate(k, index(2, 1, 1))  # another offset
    assert torch.allclose(a, b)
    assert not torch.allclose(a, c)


def test_tables_follow_the_actual_grid():
    cos, sin = rope_tables((3, 9, 16), 72)
    assert cos.shape == sin.shape == (3 * 9 * 16, 72)
    # Position 0 is the identity rotation.
    assert torch.equal(cos[0], torch.ones(72)) and torch.equal(sin[0], torch.zeros(72))
