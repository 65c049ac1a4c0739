"""An ExecuTorch rewrite: `nn.Conv3d` as 2-D convolutions of the frames, with no 3-D convolution op.

XNNPACK delegates 1-D and 2-D convolutions only, and ExecuTorch's portable convolution kernel takes 3-D
or 4-D inputs, so a program with a Conv3d (LTX's causal convolutions, the light decoder's separable
ones) has nothing to run it on. A 3-D convolution is a sum over its temporal taps: with kernel w of kt
taps, temporal stride s, dilation d and the frames x_t (zero frames padded at both ends, as Conv3d pads),

    y_t = bias + Σ_k conv2d(x_{s·t + d·k}, w[:, :, k])

where each conv2d keeps the Conv3d's spatial stride, padding, dilation and groups. Here each tap's frames
are folded into the batch, (B·T', C, H, W), and go through one 2-D convolution; the taps' outputs are
added and the frames unfolded again. The arithmetic is the Conv3d's, summed in another order.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.light_decoder import VideoConv3d, repeat_edge_frames
from .swap import swap_modules


class Conv3dAs2d(nn.Module):
    """An `nn.Conv3d`'s forward on (B, C, T, H, W) as one `nn.Conv2d` per temporal tap (the bias on the first)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int, int],
                 stride: tuple[int, int, int] = (1, 1, 1), padding: tuple[int, int, int] = (0, 0, 0),
                 dilation: tuple[int, int, int] = (1, 1, 1), groups: int = 1, bias: bool = True):
        super().__init__()
        self.out_channels = out_channels
        self.time_stride, self.time_padding, self.time_dilation = stride[0], padding[0], dilation[0]
        self.taps = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, kernel_size[1:], stride[1:], padding[1:], dilation[1:], groups,
                      bias=bias and k == 0)
            for k in range(kernel_size[0]))

    @classmethod
    def from_original(cls, conv: nn.Conv3d) -> Conv3dAs2d:
        """A rewrite of `conv` with copies of its weights (ValueError for padding other than numbers of zeros)."""
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"only zero padding of explicit sizes is rewritten, not padding_mode="
                             f"{conv.padding_mode!r}, padding={conv.padding!r}")
        rewrite = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                      conv.groups, conv.bias is not None)
        with torch.no_grad():
            for k, tap in enumerate(rewrite.taps):
                tap.weight.copy_(conv.weight[:, :, k])
            if conv.bias is not None:
                rewrite.taps[0].bias.copy_(conv.bias)
        return rewrite.to(conv.weight.device, conv.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, s, d = self.time_padding, self.time_stride, self.time_dilation
        if p:
            zeros = x.new_zeros(*x.shape[:2], p, *x.shape[3:])
            x = torch.cat([zeros, x, zeros], dim=2)
        B, C, T, H, W = x.shape
        frames = (T - d * (len(self.taps) - 1) - 1) // s + 1  # the output's
        x = x.transpose(1, 2)  # (B, T, C, H, W): each frame's channels together, to fold frames into the batch
        y = None
        for k, tap in enumerate(self.taps):
            taken = x[:, d * k: d * k + s * (frames - 1) + 1: s]  # the frames tap k meets, one per output frame
            out = tap(taken.reshape(B * frames, C, H, W))
            y = out if y is None else y + out
        return y.reshape(B, frames, self.out_channels, *y.shape[-2:]).transpose(1, 2)


class VideoConv3dAs2d(Conv3dAs2d):
    """The light decoder's `VideoConv3d` (edge frames repeated in time, then the Conv3d) as 2-D convolutions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(repeat_edge_frames(x, len(self.taps) // 2))


# Each Conv3d class → its rewrite; a subclass's own forward (padding) needs a rewrite that keeps it.
REWRITES = {nn.Conv3d: Conv3dAs2d, VideoConv3d: VideoConv3dAs2d}


def rewrite_conv3d(module: nn.Module) -> nn.Module:
    """`module`, or a copy of it with every `nn.Conv3d` rewritten (`REWRITES`) if it has any; the original is
    untouched. ValueError for a Conv3d subclass that `REWRITES` does not know."""
    return swap_modules(module, nn.Conv3d, rewrite_one)


def rewrite_one(conv: nn.Conv3d) -> Conv3dAs2d:
    if type(conv) not in REWRITES:
        raise ValueError(f"no 2-D rewrite of {type(conv).__name__}, a Conv3d with a forward of its own")
    return REWRITES[type(conv)].from_original(conv)
