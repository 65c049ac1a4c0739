"""Autoencoder round trips, and the reconstruction PSNR: how well the VAE can represent a clip (the paper keeps PSNR > 32 dB).

A clip the VAE cannot reproduce teaches the denoiser latents that decode to something else; the paper
drops them. PSNR is over all pixels of all frames, on the 0–255 scale, of the clip after an encode
(posterior mean) and decode, both at the clip's size (cropped to a multiple of 8).
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import AutoencoderKLLTXVideo

from ..io.video import frames_to_video
from ..models.geometry import SIZE_MULTIPLE, LatentGeometry
from ..models.vae import decode_latents, encode_video
from .video import psnr


def round_trip(vae: AutoencoderKLLTXVideo, frames: np.ndarray,
               decoder: torch.nn.Module | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the frames that were encoded, their uint8 reconstruction) for uint8 (T, H, W, 3) frames: the VAE's
    encoder, then `decoder` (a light decoder) or the VAE's own. Uses the longest prefix the VAE can encode
    (`LatentGeometry.usable_frames`) and a centre crop to a multiple of 8 pixels, as generation would."""
    t, h, w, _ = frames.shape
    height, width = h - h % SIZE_MULTIPLE, w - w % SIZE_MULTIPLE
    top, left = (h - height) // 2, (w - width) // 2
    frames = frames[:LatentGeometry.of(vae).usable_frames(t), top:top + height, left:left + width]
    latents = encode_video(vae, frames_to_video(frames))
    decoder = vae if decoder is None else decoder
    decoded = decode_latents(decoder, latents, height, width, vae.config.scaling_factor)  # (1, 3, T, H, W)
    recon = ((decoded[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return frames, recon.numpy()


def reconstruction_psnr(vae: AutoencoderKLLTXVideo, frames: np.ndarray,
                        decoder: torch.nn.Module | None = None) -> float:
    """PSNR (dB, 0–255 scale) of uint8 (T, H, W, 3) frames after a VAE round trip (`round_trip`)."""
    return psnr(*round_trip(vae, frames, decoder))
