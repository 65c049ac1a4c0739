"""The adversarial distillation loss's discriminator heads (docs/distillation.md, LADD).

The discriminator is the frozen teacher itself: its features after a few blocks, on a re-noised sample,
say whether the sample looks like real data. What is trained is a small head per block that turns
those token features into a real-or-generated logit per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class DiscriminatorHeads(nn.Module):
    """One head per feature block, on each frame's token grid: conv2d(D → C, k×k), LeakyReLU(0.2),
    conv2d(C → 1, k×k), a logit per token.

    With `kernel_size` 1 (the paper's per-token heads) each logit sees its own token alone. A wider kernel
    lets a head compare a token with its neighbours in the frame: blur and speckle are relations between
    neighbouring tokens, which the teacher's per-token features hardly carry (docs/distillation.md).
    Spectral norm on both convs keeps each head 1-Lipschitz in the features, so the hinge game cannot be
    won by scaling logits up, and the student's gradient through the heads stays bounded.
    The teacher's features already carry the noise level and the motion score (its blocks are modulated by
    both), so the heads need no conditioning inputs of their own.
    """

    def __init__(self, feature_dim: int, num_heads: int, channels: int = 256, kernel_size: int = 1):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: odd and at least 1 (each logit centred on its token), got {kernel_size}")
        conv = dict(kernel_size=kernel_size, padding=kernel_size // 2)
        self.heads = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(feature_dim, channels, **conv)), nn.LeakyReLU(0.2),
                          spectral_norm(nn.Conv2d(channels, 1, **conv)))
            for _ in range(num_heads)
        )

    def forward(self, features: Sequence[torch.Tensor], grid: tuple[int, int]) -> list[torch.Tensor]:
        """features: one (B, N, D) token tensor per head, frame-major over frames of `grid` = (H, W) tokens
        → one (B, N) logit tensor per head."""
        if len(features) != len(self.heads):
            raise ValueError(f"{len(self.heads)} discriminator heads were given {len(features)} feature tensors")
        H, W = grid
        logits = []
        for head, x in zip(self.heads, features):
            B, N, D = x.shape
            if N % (H * W):
                raise ValueError(f"{N} tokens are not whole frames of {H}×{W} tokens")
            frames = x.reshape(B * N // (H * W), H, W, D).permute(0, 3, 1, 2)
            logits.append(head(frames).reshape(B, N))
        return logits
