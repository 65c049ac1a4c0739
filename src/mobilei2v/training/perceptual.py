"""LPIPS perceptual distance (Zhang et al. 2018) on a VGG-16 whose weights the user gives as local files.

Nothing can be fetched here, and torchvision has no CPU build to install, so the network is defined
here: torchvision's VGG-16 `features` layout (so its state dict loads as is), taps after the five
ReLUs that end a stage, unit-normalised channels, squared differences weighted per channel by LPIPS's
linear layers (the `lpips` package's `vgg.pth`; without it every channel weighs the same), averaged over
space and summed over taps.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# torchvision's VGG-16 feature layout: conv widths, "M" = 2×2 max-pool.
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
_TAPS = (3, 8, 15, 22, 29)  # indices in `features` of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
# LPIPS's input scaling (applied to images in [−1, 1]).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _vgg16_features() -> nn.Sequential:
    layers, channels = [], 3
    for width in _VGG16:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
    return nn.Sequential(*layers)


def _load(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign files
        raise ValueError(f"cannot read {what} {path} ({type(err).__name__})") from None


class LPIPS(nn.Module):
    """Frozen perceptual distance between images (B, 3, H, W) in [−1, 1]; returns (B,)."""

    def __init__(self, vgg_weights: str | Path, linear_weights: str | Path | None = None):
        super().__init__()
        self.features = _vgg16_features()
        state = _load(vgg_weights, "VGG-16 weights")
        state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
        try:
            self.features.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"{vgg_weights} does not hold torchvision VGG-16 weights: {err}") from None
        widths = [self.features[i - 1].out_channels for i in _TAPS]
        self.linear = nn.ModuleList(nn.Conv2d(w, 1, 1, bias=False) for w in widths)
        if linear_weights is None:
            for layer, width in zip(self.linear, widths):
                nn.init.constant_(layer.weight, 1.0 / width)
        else:
            lin = _load(linear_weights, "LPIPS linear weights")  # keys lin{i}.model.1.weight
            try:
                for i, layer in enumerate(self.linear):
                    layer.weight.data.copy_(lin[f"lin{i}.model.1.weight"])
            except (KeyError, RuntimeError) as err:
                raise ValueError(f"{linear_weights} does not hold LPIPS VGG linear weights: {err}") from None
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, layer in enumerate(self.features[: _TAPS[-1] + 1]):
            x = layer(x)
            if i in _TAPS:
                taps.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
        return taps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self._taps((x - self.shift) / self.scale), self._taps((y - self.shift) / self.scale)
        return sum(lin((a - b) ** 2).mean(dim=(1, 2, 3)) for lin, a, b in zip(self.linear, fx, fy))
