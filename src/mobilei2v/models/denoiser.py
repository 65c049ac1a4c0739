"""The MobileI2V denoiser: a hybrid linear/softmax DiT over video latents (docs/architecture.md §2).

latents (B, C, T, H, W) → one token per latent position (frame-major, then row, then column) →
blocks modulated per latent frame by the timestep and the motion score (and, with `camera_condition`, the
camera move's direction) → velocity (B, C, T, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from .blocks import DenoiserBlock
from .embeddings import Modulation, ScalarEmbedder
from .rope import DEFAULT_ROPE_SCALE, rope_tables

CAMERA_DIM = 4  # pan x, pan y, zoom, roll (measures.motion.CAMERA_AXES)
NEIGHBOURHOOD = 3  # reference_neighbourhood's window: each cell and the 8 around it


def unit_direction(camera: torch.Tensor) -> torch.Tensor:
    """(B, 4) camera moves scaled to unit length; a zero move (any direction) stays zero."""
    camera = camera.float()
    return camera / camera.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def neighbourhood(reference: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) → (B, 9C, T, H, W): each cell's 3×3 neighbourhood in its frame, edges repeated, as 9
    groups of C channels (window positions row by row). Slices of a 4-D padding, not `F.unfold` or a 5-D
    padding: every export format has them."""
    B, C, T, H, W = reference.shape
    frames = reference.transpose(1, 2).reshape(B * T, C, H, W)
    padded = F.pad(frames, (1, 1, 1, 1), mode="replicate")
    windows = torch.cat([padded[:, :, i:i + H, j:j + W] for i in range(NEIGHBOURHOOD) for j in range(NEIGHBOURHOOD)],
                        dim=1)  # (B·T, 9C, H, W)
    return windows.reshape(B, T, -1, H, W).transpose(1, 2)


class FinalLayer(nn.Module):
    """LN → modulate by the timestep embedding alone (no motion term) → Linear to latent channels."""

    def __init__(self, dim: int, out_channels: int, norm_eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
        self.scale_shift_table = nn.Parameter(torch.randn(2, dim) / dim**0.5)
        self.linear = nn.Linear(dim, out_channels)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        # x (B, N, D); t_emb (B, T, D)
        B, N, D = x.shape
        shift, scale = (self.scale_shift_table + t_emb[:, :, None]).unsqueeze(2).unbind(3)  # (B, T, 1, D)
        frames = self.norm(x.view(B, t_emb.shape[1], -1, D)) * (1 + scale) + shift
        return self.linear(frames.view(B, N, D))


class MobileI2VDenoiser(ModelMixin, ConfigMixin):
    """Hybrid linear DiT. `attention_types` lists each block's kind ("linear" or "softmax").

    `reference_concat` (off in the paper's presets): every token also sees the reference latent at its
    own position, concatenated as extra input channels (as Stable Video Diffusion conditions). The paper's
    model reaches the reference only through attention, which a small model trained briefly does not learn
    to use: later frames drift from the photo. Latent frame 0 of the input is the clean reference at every
    call (the sampler and the loss write it), so the denoiser takes it from there.

    `reference_residual` (off in the paper's presets): the flow runs on each frame's difference from the
    reference latent instead of the frame itself (the loss and the sampler read this switch). A still
    video is then the zero residual, which a fresh model predicts from its first steps; what it learns is
    the motion. Frame 0 of the input stays the clean reference.

    `reference_neighbourhood` (off in the paper's presets; needs `reference_concat`): each token sees the
    reference latent's 3×3 neighbourhood around its position instead of its own cell alone. A pan moves
    each cell's content in from its neighbours, by an amount that grows with the frame's distance from the
    reference: a linear map of the neighbourhood for a known motion (benchmarks/shift_oracle.py), which
    the blocks' modulation can scale per frame and motion.

    `frame_motion_condition` (off in the paper's presets): each latent frame is also modulated by how far
    it should have moved, the motion score times its index (the reference frame's is 0); the timestep and
    the motion score are the same for every generated frame. Its modulation starts at zero.

    `camera_condition` (off in the paper's presets): the blocks are also modulated by the direction of the
    camera move (pan x, pan y, zoom, roll: `measures.motion.camera_motion`), scaled to unit length; the
    motion score still says how far. Without it the direction is unknown when generation starts; with it
    a user chooses the move. A zero vector means "any direction": training drops the direction now and then
    so that it works. Its modulation starts at zero, so a model given this switch starts as the model it
    was made from. (On the small model v2, neither this nor the two switches above removed the noise
    of later frames within an hour of training: docs/shipped-model.md.)

    `camera_guide` (off in the paper's presets; needs `reference_concat` or `reference_residual`): the
    reference these two switches use is, at each latent frame, the guide: the photo filmed along the
    requested camera move and encoded (`data.camera.guide_videos`, which the pipeline renders and the
    latent cache stores), instead of the photo alone. The guide's latent frame 0 is the reference latent.
    What is left to learn is what the photo cannot say: what comes into view, and how the scene differs
    from a picture moved. The move is then the pipeline's to choose and the denoiser's to follow, not the
    denoiser's to invent: a small model trained briefly does not learn to move content across its 32-pixel
    cells by itself (docs/shipped-model.md).

    `softmax_qk_norm` (off in the paper's presets): the softmax blocks RMS-normalise q and k as the linear
    blocks do (`SoftmaxAttention`), the paper's QK-norm for 1-step students. Unlike the switches above it
    changes what a trained model computes: its norm weights start at one, but the normalisation itself is
    new, so a model given it must be trained further (distillation does: `student_qk_norm`)."""

    _supports_gradient_checkpointing = True
    _no_split_modules = ["DenoiserBlock"]  # FSDP's units (training/sharding.py), as accelerate reads it too

    @register_to_config
    def __init__(
        self,
        in_channels: int = 128,
        hidden_size: int = 1152,
        num_heads: int = 16,
        ffn_hidden_size: int = 2880,
        attention_types: Sequence[str] = ("linear",) * 7 + ("softmax",) + ("linear",) * 7 + ("softmax",),
        frequency_dim: int = 256,
        rope_theta: float = 10000.0,
        rope_scale: Sequence[float] = DEFAULT_ROPE_SCALE,
        norm_eps: float = 1e-6,
        qk_norm_eps: float = 1e-5,
        linear_attention_eps: float = 1e-8,
        reference_concat: bool = False,
        reference_residual: bool = False,
        camera_condition: bool = False,
        reference_neighbourhood: bool = False,
        frame_motion_condition: bool = False,
        camera_guide: bool = False,
        softmax_qk_norm: bool = False,
    ):
        super().__init__()
        if hidden_size % num_heads or (hidden_size // num_heads) % 6:
            raise ValueError(
                f"hidden_size {hidden_size} / num_heads {num_heads} must give a head dimension divisible by 6 "
                "(3-D RoPE splits it into three even parts)"
            )
        if reference_neighbourhood and not reference_concat:
            raise ValueError("reference_neighbourhood widens reference_concat: turn both on")
        if camera_guide and not (reference_concat or reference_residual):
            raise ValueError("camera_guide changes what reference_concat and reference_residual use: turn one on")
        self.head_dim = hidden_size // num_heads
        reference_channels = in_channels * (NEIGHBOURHOOD**2 if reference_neighbourhood else 1 if reference_concat else 0)
        self.x_embedder = nn.Linear(in_channels + reference_channels, hidden_size)
        self.timestep_embedder = ScalarEmbedder(hidden_size, frequency_dim)
        self.motion_embedder = ScalarEmbedder(hidden_size, frequency_dim)
        self.timestep_modulation = Modulation(hidden_size, 6)
        self.motion_modulation = Modulation(hidden_size, 6)
        if camera_condition:
            self.camera_embedder = nn.Sequential(nn.Linear(CAMERA_DIM, hidden_size), nn.SiLU(),
                                                 nn.Linear(hidden_size, hidden_size))
            self.camera_modulation = Modulation(hidden_size, 6)
            nn.init.zeros_(self.camera_modulation.proj.weight)
            nn.init.zeros_(self.camera_modulation.proj.bias)
        if frame_motion_condition:
            self.frame_motion_embedder = ScalarEmbedder(hidden_size, frequency_dim)
            self.frame_motion_modulation = Modulation(hidden_size, 6)
            nn.init.zeros_(self.frame_motion_modulation.proj.weight)
            nn.init.zeros_(self.frame_motion_modulation.proj.bias)
        self.blocks = nn.ModuleList(
            DenoiserBlock(hidden_size, num_heads, ffn_hidden_size, kind, norm_eps, linear_attention_eps, qk_norm_eps,
                          softmax_qk_norm)
            for kind in attention_types
        )
        self.final_layer = FinalLayer(hidden_size, in_channels, norm_eps)
        self.gradient_checkpointing = False

    def adopt_weights(self, other: MobileI2VDenoiser) -> None:
        """Take `other`'s trained weights, `other` being this denoiser without some of the switches that add
        weights: parameters of the same name and shape are copied; with `reference_neighbourhood` added,
        `other`'s reference columns of the input projection go to each neighbourhood's centre and the other
        positions start at zero. What `other` lacks keeps this model's initialisation (zero modulations, unit
        norm weights), so the result computes what `other` did, except with `softmax_qk_norm` added.
        ValueError for any other difference."""
        own, theirs = self.state_dict(), other.state_dict()
        unknown = set(theirs) - set(own)
        if unknown:
            raise ValueError(f"it removes trained weights ({', '.join(sorted(unknown)[:3])})")
        for name, value in theirs.items():
            if own[name].shape == value.shape:
                own[name] = value
            elif name == "x_embedder.weight" and self.config.reference_neighbourhood and \
                    other.config.reference_concat and not other.config.reference_neighbourhood:
                C = self.config.in_channels
                grown = torch.zeros_like(own[name])
                grown[:, :C] = value[:, :C]
                centre = C + NEIGHBOURHOOD**2 // 2 * C  # `neighbourhood`'s order: window position, then channel
                grown[:, centre:centre + C] = value[:, C:]
                own[name] = grown
            else:
                raise ValueError(f"it changes the shape of trained weights ({name}: {tuple(value.shape)} → "
                                 f"{tuple(own[name].shape)})")
        self.load_state_dict(own)

    def rope_tables(self, grid: tuple[int, int, int], device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE tables for a (T, H, W) latent grid; pass them to `forward` to compute them once."""
        return rope_tables(grid, self.head_dim, self.config.rope_theta, tuple(self.config.rope_scale),
                           dtype=dtype or self.dtype, device=device or self.device)

    def forward(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        motion_score: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        camera: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the flow velocity ε − x0.

        latents: (B, C, T, H, W). timestep: 1000·σ, shape (B,) for all frames alike or (B, T) per
        latent frame (the reference frame gets 0). motion_score: (B,) raw optical-flow magnitudes.
        rope: precomputed `rope_tables((T, H, W))`, else computed here from the latent shape.
        camera: (B, 4) camera moves, any length (only the direction is used); None or zeros for any
        direction. Only for a denoiser with `camera_condition`.
        guide: (B, C, T, H, W), the photo filmed along the camera move and encoded; for a denoiser with
        `camera_guide` only, which needs it.
        """
        return self.forward_with_features(latents, timestep, motion_score, rope, camera=camera, guide=guide)[0]

    def forward_with_features(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        motion_score: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        feature_blocks: Sequence[int] = (),
        camera: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`forward`, plus the (B, N, D) token features after each block listed in `feature_blocks`."""
        B, C, T, H, W = latents.shape
        grid = (T, H, W)
        if rope is None:
            rope = self.rope_tables(grid, device=latents.device)
        if self.config.camera_guide != (guide is not None):
            raise ValueError("a denoiser with camera_guide needs the guide, and only such a denoiser takes one")
        if guide is not None and guide.shape != latents.shape:
            raise ValueError(f"the guide has shape {tuple(guide.shape)}, the latents {tuple(latents.shape)}")
        if self.config.reference_concat:
            reference = guide.to(latents.dtype) if guide is not None else latents[:, :, :1]  # (B, C, T or 1, H, W)
            if self.config.reference_neighbourhood:
                reference = neighbourhood(reference)  # (B, 9C, 1, H, W)
            latents = torch.cat([latents, reference.expand(-1, -1, T, -1, -1)], dim=1)  # (B, C + C', T, H, W)
        x = self.x_embedder(latents.flatten(2).transpose(1, 2).to(self.dtype))  # (B, N, D)
        # The authors' embedder sees σ ∈ [0, 1], not the 0..1000 model timestep.
        t_emb = self.timestep_embedder(timestep.reshape(B, -1).expand(B, T) / 1000)  # (B, T, D)
        condition = self.motion_modulation(self.motion_embedder(motion_score.reshape(B)))  # (B, 6, D)
        if self.config.camera_condition:
            direction = unit_direction(camera.reshape(B, CAMERA_DIM)) if camera is not None else \
                torch.zeros(B, CAMERA_DIM, device=latents.device)
            condition = condition + self.camera_modulation(self.camera_embedder(direction.to(self.dtype)))
        elif camera is not None:
            raise ValueError("this denoiser has no camera condition (camera_condition is off): pass camera=None")
        modulation = self.timestep_modulation(t_emb) + condition[:, None]  # (B, T, 6, D)
        if self.config.frame_motion_condition:
            moved = motion_score.reshape(B, 1).float() * torch.arange(T, device=latents.device)  # (B, T)
            modulation = modulation + self.frame_motion_modulation(self.frame_motion_embedder(moved))
        features = []
        for i, block in enumerate(self.blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x, modulation, grid, rope)
            else:
                x = block(x, modulation, grid, rope)
            if i in feature_blocks:
                features.append(x)
        out = self.final_layer(x, t_emb)  # (B, N, C)
        return out.transpose(1, 2).reshape(B, C, T, H, W), features
