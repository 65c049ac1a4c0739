"""MobileI2V: fast image-to-video diffusion with a hybrid linear DiT (arXiv 2511.21475)."""

from .models.denoiser import MobileI2VDenoiser
from .models.light_decoder import LightDecoder
from .models.presets import DENOISER_PRESETS, denoiser_from_preset
from .pipeline import MobileI2VPipeline, MobileI2VPipelineOutput

__version__ = "0.1.0"

__all__ = [
    "DENOISER_PRESETS",
    "LightDecoder",
    "MobileI2VDenoiser",
    "MobileI2VPipeline",
    "MobileI2VPipelineOutput",
    "denoiser_from_preset",
]
