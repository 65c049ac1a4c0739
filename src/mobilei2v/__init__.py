"""MobileI2V: fast image-to-video diffusion with a hybrid linear DiT (arXiv 2511.21475)."""

from .models.denoiser import MobileI2VDenoiser
from .models.geometry import LatentGeometry
from .models.light_decoder import LightDecoder
from .models.presets import DENOISER_PRESETS
from .models.registry import build
from .pipeline import MobileI2VPipeline, MobileI2VPipelineOutput

__version__ = "0.1.0"

__all__ = [
    "DENOISER_PRESETS",
    "LatentGeometry",
    "LightDecoder",
    "MobileI2VDenoiser",
    "MobileI2VPipeline",
    "MobileI2VPipelineOutput",
    "build",
]
