"""Rewrite 2 of 3 for Apple's Neural Engine: heads computed one at a time.

A batched (B, h, d, S) tensor is a rank change the ANE pays for, and one large intermediate per
product; split into h channel slices of (B, d, 1, S), each head is a small program of its own and the
results are concatenated on the channel axis. Built on rewrite 1's layout (`ane_layout`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .ane_layout import ChannelsFirstLinearAttention, rotate


class HeadTiledLinearAttention(ChannelsFirstLinearAttention):
    """`ChannelsFirstLinearAttention` with a loop over heads in place of the head axis."""

    def heads(self, q, k, v, rope) -> torch.Tensor:
        d = q.shape[1] // self.num_heads
        cos, sin = rope  # (d, 1, S), one head's
        outputs = []
        for q_h, k_h, v_h in zip(q.split(d, dim=1), k.split(d, dim=1), v.split(d, dim=1)):  # (B, d, 1, S) each
            q_h, k_h = (F.relu(rotate(t, cos, sin, d // 3)).float()[:, :, 0] for t in (q_h, k_h))  # (B, d, S)
            outputs.append(self.products(q_h, k_h, v_h.float()[:, :, 0], self.eps)[:, :, None])
        return torch.cat(outputs, dim=1)  # (B, D, 1, S)
