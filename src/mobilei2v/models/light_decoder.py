"""A light video decoder for LTX-style latents, after Turbo-VAED (docs/architecture.md §3).

latent (B, C, T, H, W) → conv_in → mid block → up blocks (each: a channel-changing resnet, a decoupled
3-D pixel-shuffle upsampler, resnets) → two per-frame [RMSNorm, SiLU, conv 3×3, pixel-shuffle 2]
stages in place of LTX's patch-4 unpatchify → RMSNorm, SiLU, conv → RGB (B, 3, 8(T−1)+1, 32H, 32W).
The widest stages use depthwise-separable 3-D convs, which is most of the saving over LTX's decoder.

Two departures from Turbo-VAED's code, both where docs/architecture.md §3 says otherwise: the last norm is an RMSNorm
(their code has a BatchNorm3d, whose batch statistics are fragile at batch size 1), and every resnet
uses SiLU (theirs switches to ReLU after an upsampler). The parameter count is the same, 41,896,023.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .geometry import LatentGeometry, depth_to_space


class ChannelRMSNorm(nn.Module):
    """RMSNorm over the channel axis of (B, C, ...) tensors, no affine."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


def repeat_edge_frames(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, T, H, W) → (B, C, T + 2p, H, W): p copies of the first frame in front, of the last behind."""
    return torch.cat([x[:, :, :1]] * p + [x] + [x[:, :, -1:]] * p, dim=2) if p else x


class VideoConv3d(nn.Conv3d):
    """3-D conv, zero padding in space, edge frames repeated in time (the decoder is not causal)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, groups: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, padding=(0, kernel_size // 2, kernel_size // 2),
                         groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(repeat_edge_frames(x, self.kernel_size[0] // 2))


class SeparableConv3d(nn.Sequential):
    """Depthwise k×k×k conv, then a pointwise 1×1×1 conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(VideoConv3d(in_channels, in_channels, kernel_size, groups=in_channels),
                         nn.Conv3d(in_channels, out_channels, 1))


class ResnetBlock3d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, separable_kernel: int | None = None):
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Module:
            return SeparableConv3d(cin, cout, separable_kernel) if separable_kernel else VideoConv3d(cin, cout)

        self.norm = ChannelRMSNorm()
        self.conv1 = conv(in_channels, out_channels)
        self.conv2 = conv(out_channels, out_channels)
        self.shortcut = None
        if in_channels != out_channels:
            self.shortcut_norm = nn.LayerNorm(in_channels, eps=1e-6)
            self.shortcut = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm(x)))
        h = self.conv2(F.silu(self.norm(h)))
        if self.shortcut is not None:
            x = self.shortcut(self.shortcut_norm(x.movedim(1, -1)).movedim(-1, 1))
        return x + h


class PixelShuffleUpsampler3d(nn.Module):
    """One conv to 8·C channels, then depth-to-space ×2 in t, h and w; the first frame is dropped so
    that T latent frames become 2T − 1 (the causal encoder's frame 0 stands alone). With
    `temporal=False`, ×2 in h and w only (conv to 4·C): for latents with fewer frames compressed."""

    def __init__(self, channels: int, temporal: bool = True):
        super().__init__()
        self.rt = 2 if temporal else 1
        self.conv = VideoConv3d(channels, 4 * self.rt * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        x = self.conv(x)  # channel = ((c·2 + rh)·2 + rw)·rt + t
        if self.rt > 1:  # the frame offset before the row's and column's, as depth_to_space reads them
            x = x.reshape(B * C, 4, self.rt, T * H * W).transpose(1, 2).reshape(B, -1, T, H, W)
        return depth_to_space(x, (self.rt, 2, 2))[:, :, self.rt - 1:]


class UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, upsample: bool,
                 separable_kernel: int | None, temporal_upsample: bool = True):
        super().__init__()
        self.conv_in = ResnetBlock3d(in_channels, out_channels) if in_channels != out_channels else None
        self.upsampler = PixelShuffleUpsampler3d(out_channels, temporal_upsample) if upsample else None
        self.resnets = nn.ModuleList(ResnetBlock3d(out_channels, out_channels, separable_kernel)
                                     for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_in is not None:
            x = self.conv_in(x)
        if self.upsampler is not None:
            x = self.upsampler(x)
        for resnet in self.resnets:
            x = resnet(x)
        return x


class FrameUpsampler(nn.Module):
    """Per-frame RMSNorm, SiLU, conv 3×3 and pixel-shuffle ×2: C channels in, C/4 out."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = ChannelRMSNorm()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        frames = x.transpose(1, 2).reshape(B * T, C, H, W)
        frames = F.pixel_shuffle(self.conv(F.silu(self.norm(frames))), 2)  # (B·T, C/4, 2H, 2W)
        return frames.view(B, T, C // 4, 2 * H, 2 * W).transpose(1, 2)


class LightDecoder(ModelMixin, ConfigMixin):
    """Light decoder. Lists are given from the narrowest stage to the widest, as in diffusers' VAEs:
    `layers_per_block[i]` resnets at `block_out_channels[i]`, and the last entry is the mid block's.
    Space is always upsampled 32× (three pixel-shuffle upsamplers, then two per-frame stages); time
    2× in each upsampler that `temporal_upsample` names: 8× with all three, as LTX's VAE, 1× with none."""

    SPATIAL_COMPRESSION = 32

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 128,
        out_channels: int = 3,
        block_out_channels: Sequence[int] = (64, 128, 256, 512),
        layers_per_block: Sequence[int] = (3, 2, 3, 1, 1),
        upsample: Sequence[bool] = (True, True, True, False),
        separable: Sequence[bool] = (False, False, False, True, True),
        separable_kernel: int = 5,
        final_norm: bool = True,
        linear_path: bool = False,
        temporal_upsample: Sequence[bool] = (True, True, True),
    ):
        super().__init__()
        n = len(block_out_channels)
        if len(layers_per_block) != n + 1 or len(separable) != n + 1 or len(upsample) != n:
            raise ValueError("layers_per_block and separable need one entry per block plus the mid block; "
                             "upsample one entry per block")
        if sum(upsample) != 3:
            raise ValueError("the decoder must upsample exactly three times (8×4 = 32× in space)")
        if len(temporal_upsample) != 3:
            raise ValueError("temporal_upsample needs one entry per upsampler (three)")
        if block_out_channels[0] % 16:
            raise ValueError("the narrowest block's channels must be divisible by 16 (two pixel shuffles)")
        widest = block_out_channels[-1]
        kernel = lambda i: separable_kernel if separable[i] else None  # noqa: E731
        self.conv_in = VideoConv3d(latent_channels, widest)
        self.mid_block = nn.Sequential(*(ResnetBlock3d(widest, widest, kernel(n)) for _ in range(layers_per_block[n])))
        channels = widest
        self.up_blocks = nn.ModuleList()
        upsamplers = iter(temporal_upsample)
        for i in reversed(range(n)):
            self.up_blocks.append(UpBlock(channels, block_out_channels[i], layers_per_block[i], upsample[i], kernel(i),
                                          next(upsamplers) if upsample[i] else False))
            channels = block_out_channels[i]
        self.frame_upsamplers = nn.Sequential(FrameUpsampler(channels), FrameUpsampler(channels // 4))
        # docs/architecture.md §3's last RMSNorm. It fixes the magnitude of the 4 channels left after the pixel shuffles, so
        # a pixel's colour must be coded in the direction of a 4-vector: fine when distilling from a trained
        # teacher, but from scratch it learns grey blobs for hundreds of steps. Small models may leave it out.
        self.norm_out = ChannelRMSNorm() if final_norm else nn.Identity()
        self.conv_out = VideoConv3d(channels // 16, out_channels)
        # The pair of LinearPathAutoencoder's: each latent position's pixels, linearly (models/vae.py).
        self.linear_decode = (nn.Conv3d(latent_channels, out_channels * self.SPATIAL_COMPRESSION**2, 1)
                              if linear_path else None)
        self.gradient_checkpointing = False

    @property
    def geometry(self) -> LatentGeometry:
        """The latent geometry this decoder inverts."""
        return LatentGeometry(self.SPATIAL_COMPRESSION, 2 ** sum(self.config.temporal_upsample),
                              self.config.latent_channels)

    def blocks(self) -> list[nn.Module]:
        """The modules in order: conv_in, the mid block, the up blocks, the per-frame upsamplers. Feature
        block b (for distillation) is the output of the mid block (b = 0) or of up block b − 1."""
        return [self.conv_in, self.mid_block, *self.up_blocks, self.frame_upsamplers]

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) latents → (B, 3, t(T−1)+1, 32H, 32W) video in about [−1, 1], t the temporal
        compression."""
        return self.forward_with_features(latents)[0]

    def forward_with_features(self, latents: torch.Tensor,
                              feature_blocks: Sequence[int] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`forward`, plus the outputs of the feature blocks listed in `feature_blocks` (see `blocks`)."""
        x = latents.to(self.dtype)
        features = []
        for i, block in enumerate(self.blocks()):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x)
            else:
                x = block(x)
            if i - 1 in feature_blocks and 0 < i < len(self.blocks()) - 1:
                features.append(x)
        video = self.conv_out(F.silu(self.norm_out(x)))
        if self.linear_decode is not None:
            video = video + self.geometry.unpatchify(self.linear_decode(latents.to(self.dtype)))
        return video, features


LIGHT_DECODER_PRESETS = {
    "turbo-vaed-ltx": {},
    # The shipped model's decoder (8.4 M), trained from scratch. Its narrowest block keeps 64 channels, as
    # the full decoder's does, so 64 / 16 = 4 channels are left after the two pixel shuffles (with 32, two
    # channels of fixed magnitude gave grey-brown pictures), and it has no last RMSNorm (see final_norm).
    "small": dict(block_out_channels=(64, 64, 128, 128), layers_per_block=(1, 1, 2, 1, 1), separable_kernel=3,
                  final_norm=False, linear_path=True),
    # The shipped model v2's decoder: `small` for latents with every frame its own (temporal compression 1).
    "small-per-frame": dict(block_out_channels=(64, 64, 128, 128), layers_per_block=(1, 1, 2, 1, 1), separable_kernel=3,
                            final_norm=False, linear_path=True, temporal_upsample=(False, False, False)),
    "tiny": dict(latent_channels=16, block_out_channels=(16, 16, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
                 separable_kernel=3),
    "tiny-per-frame": dict(latent_channels=16, block_out_channels=(16, 16, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
                           separable_kernel=3, temporal_upsample=(False, False, False)),
}
