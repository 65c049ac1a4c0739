"""`mobilei2v train-decoder`: the light decoder, distilled from a teacher VAE or trained from scratch.

distill (Turbo-VAED): the teacher's encoder (frozen) makes latents; the student decoder learns to
reconstruct the real clip (L1, and LPIPS when VGG-16 weights are given locally) and to match the
teacher decoder's intermediate features (MSE; a 1×1×1 conv projects a student feature whose channel count
differs). With no `feature_blocks`, distill fine-tunes a light decoder for a frozen encoder whose own
decoder is not worth matching: the shipped small model's, whose latents the denoiser was trained on.
scratch: an LTX-style encoder and the light decoder learn together (L1 + a small KL), for the shipped
small model, whose encoder must have the paper's 32×32×8 compression but cannot be a pretrained LTX VAE
here. A stage of 1-frame "clips" trains on images: the causal encoder encodes frame 0 alone, so the
image case is exactly the reference frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLLTXVideo
from torch import nn
from torch.utils.data import Dataset

from ..io.files import atomic_output
from ..measures.reconstruction import reconstruction_psnr
from ..models.geometry import LatentGeometry
from ..models.light_decoder import LightDecoder
from ..models.registry import build
from ..models.vae import LinearPathAutoencoder
from .checkpoints import latest_checkpoint
from .config import DecoderStage, DecoderTrainConfig, check_geometry
from .datasets import VideoClipDataset
from .perceptual import LPIPS
from .trainer import TrainingLoop

DEEP_PATH_START = 0.1  # pca_init scales the deep paths' last convs by this


def pca_init(vae: AutoencoderKLLTXVideo, decoder: LightDecoder, stage: DecoderStage, count: int,
             whiten: bool = True, log=print) -> None:
    """Start from PCA: the linear paths become the principal components of the first stage's frames (as
    s×s patches, s the spatial compression), and the deep paths' last convs start at a tenth of their
    initial scale, so the autoencoder begins close to the best linear one and training adds to it.

    `whiten` gives every latent channel unit variance. Unwhitened, a channel's variance is the pixel
    variance it carries, so a squared error in latent space is the same squared error in pixels; a
    denoiser trained on whitened latents spends as much of its loss on the faintest component as on the
    patch's mean colour, and its errors in the loud components show as coloured blocks."""
    if not isinstance(vae, LinearPathAutoencoder) or decoder.linear_decode is None:
        raise ValueError("pca_init needs a VAE and a light decoder with linear paths (the `small` presets)")
    dataset = VideoClipDataset(stage.videos, 1, stage.height, stage.width, motion_scores=False,
                               augment=stage.augment)
    images = torch.cat([dataset[i % len(dataset)]["video"][None] for i in range(count)])
    patches = LatentGeometry.of(vae).patchify(images)
    patches = patches.movedim(1, -1).flatten(0, -2).double()  # (N, 3·s·s): what linear_encode sees
    mean = patches.mean(0)
    _, singular, vt = torch.linalg.svd(patches - mean, full_matrices=False)  # largest first
    variances = singular**2 / (len(patches) - 1)
    channels = vae.config.latent_channels
    scale = variances[:channels].clamp_min(1e-12).sqrt()  # (C,) standard deviations along the components
    components = vt[:channels].T  # (3·s·s, C)
    if not whiten:
        scale = torch.ones_like(scale)  # orthonormal: latent coordinates in pixel units
    with torch.no_grad():
        encode = (components / scale).T
        vae.linear_encode.weight.copy_(encode[:, :, None, None, None])
        vae.linear_encode.bias.copy_(-(encode @ mean))
        decoder.linear_decode.weight.copy_((components * scale)[:, :, None, None, None])
        decoder.linear_decode.bias.copy_(mean)
        # The deep paths start small, not at zero: a zero last conv passes no gradient to the layers
        # before it, and its own gradient (random features × residual) averages out, so it stays near zero
        # for hundreds of steps.
        conv = vae.encoder.conv_out.conv  # outputs C means, then one log-variance
        conv.weight[:channels] *= DEEP_PATH_START
        conv.bias[:channels] *= DEEP_PATH_START
        decoder.conv_out.weight.mul_(DEEP_PATH_START)
        decoder.conv_out.bias.mul_(DEEP_PATH_START)
    kept = variances[:channels].sum() / variances.sum()
    log(f"PCA initialisation from {len(patches)} patches: {channels} components keep {kept:.1%} of the variance")


class DecoderTrainer(TrainingLoop):
    def __init__(self, config: DecoderTrainConfig, log=print):
        decoder = build("light_decoder", config.light_decoder)
        parts = {"decoder": decoder}
        if config.mode == "distill":
            self.teacher = build("vae", config.teacher).requires_grad_(False)
            self.teacher_features = self._hook_teacher_features()
            if self.teacher.config.latent_channels != decoder.config.latent_channels:
                raise ValueError(f"the teacher makes {self.teacher.config.latent_channels}-channel latents, the "
                                 f"light decoder takes {decoder.config.latent_channels}")
            parts["projections"] = self._projections(decoder, config.feature_blocks)
            check_geometry(config, LatentGeometry.of(self.teacher))
        else:
            self.teacher = None
            vae = build("vae", config.vae)
            vae.decoder.requires_grad_(False)  # the light decoder replaces it; DDP must not wait for its grads
            parts["vae"] = vae
            if LatentGeometry.of(vae) != decoder.geometry:
                raise ValueError(f"the VAE makes {LatentGeometry.of(vae)}, the light decoder inverts "
                                 f"{decoder.geometry}: the parts do not fit")
            check_geometry(config, decoder.geometry)
            # A run that has checkpoints resumes from them (or refuses to start), so its start is never used.
            if config.pca_init and latest_checkpoint(Path(config.output_dir)) is None:
                pca_init(vae, decoder, config.stages[0], config.pca_images, config.pca_whiten, log)
        if config.gradient_checkpointing:
            for part in parts.values():
                if hasattr(part, "enable_gradient_checkpointing"):
                    part.enable_gradient_checkpointing()
        self.perceptual = (LPIPS(config.perceptual_weights, config.perceptual_linear_weights)
                           if config.perceptual_weights else None)
        super().__init__(config, nn.ModuleDict(parts), log)
        for frozen in (self.teacher, self.perceptual):
            if frozen is not None:
                frozen.to(self.accelerator.device)

    def _hook_teacher_features(self) -> list[torch.Tensor]:
        """Record the teacher decoder's mid-block and up-block outputs: the student's stages match them."""
        captured: list[torch.Tensor] = []
        decoder = self.teacher.decoder
        for block in [decoder.mid_block, *decoder.up_blocks]:
            block.register_forward_hook(lambda module, args, output: captured.append(output))
        return captured

    def _projections(self, decoder: LightDecoder, blocks: list[int]) -> nn.ModuleDict:
        """A 1×1×1 conv per distilled block whose channel count differs from the teacher's."""
        teacher = self.teacher.config
        teacher_channels = [teacher.decoder_block_out_channels[-1], *reversed(teacher.decoder_block_out_channels)]
        student = decoder.config.block_out_channels
        student_channels = [student[-1], *reversed(student)]
        return nn.ModuleDict({
            str(b): nn.Conv3d(student_channels[b], teacher_channels[b], 1)
            for b in blocks if student_channels[b] != teacher_channels[b]
        })

    def dataset(self, stage: DecoderStage) -> Dataset:
        return VideoClipDataset(stage.videos, stage.num_frames, stage.height, stage.width, motion_scores=False,
                                augment=stage.augment)

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        video = batch["video"]  # (B, 3, T, H, W) in [−1, 1]
        c = self.config
        if self.teacher is not None:
            with torch.no_grad():
                latents = self.teacher.encode(video).latent_dist.mode()  # stage sizes are multiples of 32
                self.teacher_features.clear()
                if c.feature_blocks:  # without features to match, the teacher is the frozen encoder alone
                    self.teacher.decode(latents)
                teacher = list(self.teacher_features)
            reconstruction, student = model["decoder"].forward_with_features(latents, c.feature_blocks)
            loss = self._reconstruction_loss(reconstruction, video)
            for b, feature in zip(sorted(set(c.feature_blocks)), student):
                if str(b) in model["projections"]:
                    feature = model["projections"][str(b)](feature)
                loss = loss + c.feature_weight * F.mse_loss(feature, teacher[b]) / len(c.feature_blocks)
            return loss
        posterior = model["vae"].encode(video).latent_dist
        reconstruction = model["decoder"](posterior.sample() if c.posterior == "sample" else posterior.mode())
        return self._reconstruction_loss(reconstruction, video) + c.kl_weight * posterior.kl().mean() / video[0].numel()

    def _reconstruction_loss(self, reconstruction: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """L1, plus LPIPS per frame when VGG weights were given."""
        loss = self.config.l1_weight * F.l1_loss(reconstruction, video)
        if self.perceptual is not None:
            frames = lambda v: v.transpose(1, 2).flatten(0, 1)  # noqa: E731  (B, 3, T, H, W) → (B·T, 3, H, W)
            loss = loss + self.config.perceptual_weight * self.perceptual(frames(reconstruction), frames(video)).mean()
        return loss

    def validate(self, step: int) -> None:
        """Log the EMA weights' mean reconstruction PSNR over the validation clips."""
        v = self.config.validation
        if not hasattr(self, "_validation_clips"):
            clips = VideoClipDataset(v.videos, v.num_frames, v.height, v.width, motion_scores=False)
            self._validation_clips = [clips.frames(i) for i in range(len(clips))]
        model = self.ema_copy()
        encoder = model["vae"] if "vae" in model else self.teacher
        psnr = np.mean([reconstruction_psnr(encoder, frames, model["decoder"]) for frames in self._validation_clips])
        self.accelerator.log({"validation_psnr": psnr}, step=step)
        self.log(f"step {step}: reconstruction PSNR {psnr:.2f} dB on {len(self._validation_clips)} validation clips")

    def latent_scale(self, vae: AutoencoderKLLTXVideo, clips: int = 16) -> float:
        """1 / the standard deviation of `vae`'s latents (posterior means) of the first `clips` clips of the
        longest stage: a from-scratch VAE's `scaling_factor`, so the denoiser is trained on unit-variance
        latents, as Stable Diffusion's VAE factor was chosen."""
        stage = max(self.config.stages, key=lambda s: (s.num_frames, s.height * s.width))
        dataset = VideoClipDataset(stage.videos, stage.num_frames, stage.height, stage.width, motion_scores=False)
        with torch.no_grad():
            latents = torch.cat([vae.encode(dataset[i]["video"][None]).latent_dist.mode().flatten()
                                 for i in range(min(clips, len(dataset)))])
        return float(1.0 / latents.std())

    def export(self) -> None:
        """`final_dir/light_decoder` (and `/vae` when trained from scratch, with its scaling factor
        measured), EMA weights."""
        model = self.ema_copy()
        with atomic_output(self.final_dir, overwrite=True, directory=True) as tmp:
            model["decoder"].save_pretrained(tmp / "light_decoder")
            if "vae" in model:
                model["vae"].register_to_config(scaling_factor=self.latent_scale(model["vae"]))
                model["vae"].save_pretrained(tmp / "vae")
