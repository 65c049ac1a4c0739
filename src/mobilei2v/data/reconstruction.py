"""VAE reconstruction PSNR: how well the LTX VAE can represent a clip (the paper keeps PSNR > 32 dB).

A clip the VAE cannot reproduce teaches the denoiser latents that decode to something else; the paper
drops them. PSNR is over all pixels of all frames, on the 0–255 scale, of the clip after an encode
(posterior mean) and decode, both at the clip's size (cropped to a multiple of 8).
"""

from __future__ import annotations


import numpy as np
import torch
from diffusers import AutoencoderKLLTXVideo

from ..models.vae import SIZE_MULTIPLE, decode_latents, encode_video
from .video_io import frames_to_video


def usable_frames(num_frames: int, temporal_compression: int = 8) -> int:
    """The longest 8k+1 prefix of a clip: the frames the causal VAE can encode."""
    return (num_frames - 1) // temporal_compression * temporal_compression + 1


def reconstruction_psnr(vae: AutoencoderKLLTXVideo, frames: np.ndarray,
                        decoder: torch.nn.Module | None = None) -> float:
    """PSNR (dB, 0–255 scale) of uint8 (T, H, W, 3) frames after a VAE round trip: the VAE's encoder,
    then `decoder` (a light decoder) or the VAE's own.

    Uses the first 8k+1 frames and a centre crop to a multiple of 8 pixels, as generation would.
    """
    t, h, w, _ = frames.shape
    height, width = h - h % SIZE_MULTIPLE, w - w % SIZE_MULTIPLE
    top, left = (h - height) // 2, (w - width) // 2
    frames = frames[:usable_frames(t, vae.temporal_compression_ratio), top:top + height, left:left + width]
    latents = encode_video(vae, frames_to_video(frames))
    decoder = vae if decoder is None else decoder
    decoded = decode_latents(decoder, latents, height, width, vae.config.scaling_factor)  # (1, 3, T, H, W)
    recon = ((decoded[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255)
    mse = torch.mean((recon - torch.from_numpy(frames).float()) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
