import pytest
import torch

from mobilei2v.models.geometry import LatentGeometry

LTX = LatentGeometry(32, 8, 128)
PER_FRAME = LatentGeometry(32, 1, 128)


def test_padding_repeats_edges_to_the_grid():
    video = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 1, 2, 3, 5)
    padded = LatentGeometry(spatial=4).pad(video)
    assert padded.shape == (1, 1, 2, 4, 8)
    assert torch.equal(padded[..., :3, :5], video)
    assert torch.equal(padded[..., 3, :5], video[..., 2, :])
    assert torch.equal(padded[..., :3, 7], video[..., :, 4])


@pytest.mark.parametrize(("geometry", "frames", "height", "width", "message"), [
    (LTX, 16, 64, 64, r"8k\+1.*try 17"), (LTX, 0, 64, 64, "8k"), (LTX, 17, 60, 64, "height"),
    (LTX, 17, 64, 16, "width"), (LatentGeometry(32, 2), 16, 64, 64, r"2k\+1.*try 17"), (PER_FRAME, 0, 64, 64, "any"),
])
def test_bad_sizes_are_rejected_with_the_fix(geometry, frames, height, width, message):
    with pytest.raises(ValueError, match=message):
        geometry.check(frames, height, width)


@pytest.mark.parametrize(("geometry", "frames", "grid"), [(LTX, 17, (3, 3, 2)), (PER_FRAME, 17, (17, 3, 2)),
                                                          (PER_FRAME, 6, (6, 3, 2))])
def test_latent_grid_and_frame_count_follow_the_geometry(geometry, frames, grid):
    geometry.check(frames, 72, 40)
    assert geometry.latent_grid(frames, 72, 40) == grid
    assert geometry.num_frames(grid[0]) == frames
    assert geometry.usable_frames(frames + geometry.temporal - 1) == frames


def test_patches_follow_the_causal_latent_grid_and_invert():
    image = torch.randn(2, 3, 1, 64, 96)
    assert LTX.patchify(image).shape == (2, 3 * 32 * 32, 1, 2, 3)
    assert torch.equal(LTX.unpatchify(LTX.patchify(image)), image)
    video = torch.randn(1, 3, 17, 32, 32)
    held = LTX.unpatchify(LTX.patchify(video))  # frame 0 kept, then each group of 8 replaced by its mean
    assert held.shape == video.shape and torch.equal(held[:, :, 0], video[:, :, 0])
    torch.testing.assert_close(held[:, :, 1:9], video[:, :, 1:9].mean(2, keepdim=True).expand(-1, -1, 8, -1, -1))
    # a latent position's channels are exactly its own 32×32 pixels
    assert torch.equal(LTX.patchify(image)[0, :, 0, 1, 2].reshape(3, 32, 32), image[0, :, 0, 32:64, 64:96])


def test_per_frame_patches_keep_every_frame():
    """With temporal compression 1 a moving video survives the patch round trip frame by frame: what the
    shipped model's linear path needs to keep motion."""
    video = torch.randn(1, 3, 17, 64, 64)
    assert PER_FRAME.patchify(video).shape == (1, 3 * 32 * 32, 17, 2, 2)
    assert torch.equal(PER_FRAME.unpatchify(PER_FRAME.patchify(video)), video)
