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
    """One head per feature block: per token, conv1d(D → C, kernel 1), LeakyReLU(0.2), conv1d(C → 1).

    Spectral norm on both convs keeps each head 1-Lipschitz in the features, so the hinge game cannot be
    won by scaling logits up, and the student's gradient through the heads stays bounded.
    The teacher's features already carry the noise level and the motion score (its blocks are modulated by
    both), so the heads need no conditioning inputs of their own.
    """

    def __init__(self, feature_dim: int, num_heads: int, channels: int = 256):
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv1d(feature_dim, channels, 1)), nn.LeakyReLU(0.2),
                          spectral_norm(nn.Conv1d(channels, 1, 1)))
            for _ in range(num_heads)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """features: one (B, N, D) token tensor per head → one (B, N) logit tensor per head."""
        if len(features) != len(self.heads):
            raise ValueError(f"{len(self.heads)} discriminator heads were given {len(features)} feature tensors")
        return [head(x.transpose(1, 2)).squeeze(1) for head, x in zip(self.heads, features)]
