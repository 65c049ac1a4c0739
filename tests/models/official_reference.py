"""Test oracle: the authors' MobileI2V forward pass, written functionally on their state-dict names.

Independent of `mobilei2v.models` on purpose: it restates the authors' computation (hustvl/MobileI2V,
read for facts) step by step in their own layout — per-token conditioning, (B, heads, head_dim, N)
linear attention, explicit softmax, 1×1 convs as convs — so that a conversion bug or a drift in our
model shows up as a numeric mismatch. Generic in hidden size and head count; fp32 throughout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ROPE_SCALE = (1.0, 1.4375, 2.5)  # (t, y, x) position divisors


def timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # cos first


def mlp_embedder(sd: dict, prefix: str, values: torch.Tensor) -> torch.Tensor:
    h = F.linear(timestep_embedding(values, sd[f"{prefix}.mlp.0.weight"].shape[1]),
                 sd[f"{prefix}.mlp.0.weight"], sd[f"{prefix}.mlp.0.bias"])
    return F.linear(F.silu(h), sd[f"{prefix}.mlp.2.weight"], sd[f"{prefix}.mlp.2.bias"])


def rope_cos_sin(T: int, H: int, W: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, head_dim) cos and sin: three axis parts [t | y | x], each an ordinary 1-D RoPE."""
    part = head_dim // 3
    inv_freq = 1.0 / 10000 ** (torch.arange(0, part, 2).float() / part)
    pos = torch.cartesian_prod(*(torch.arange(n) / s for n, s in zip((T, H, W), ROPE_SCALE)))  # (N, 3)
    freqs = []
    for axis in range(3):
        f = pos[:, axis, None] * inv_freq
        freqs.append(torch.cat([f, f], dim=-1))
    freqs = torch.cat(freqs, dim=-1)  # (N, head_dim)
    return freqs.cos(), freqs.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., N, head_dim): rotate-half inside each of the three axis chunks."""
    part = x.shape[-1] // 3
    rotated = []
    for c in x.split(part, dim=-1):
        rotated.append(torch.cat([-c[..., part // 2:], c[..., :part // 2]], dim=-1))
    return x * cos + torch.cat(rotated, dim=-1) * sin


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


def linear_attention(sd, p, x, heads, cos, sin):
    B, N, C = x.shape
    q, k, v = F.linear(x, sd[f"{p}.qkv.weight"]).reshape(B, N, 3, C).unbind(2)
    q, k = rms_norm(q, sd[f"{p}.q_norm.weight"]), rms_norm(k, sd[f"{p}.k_norm.weight"])
    q, k, v = (t.reshape(B, N, heads, C // heads).permute(0, 2, 3, 1) for t in (q, k, v))  # (B, h, d, N)
    q = F.relu(apply_rope(q.transpose(-1, -2), cos, sin)).transpose(-1, -2)
    k = F.relu(apply_rope(k.transpose(-1, -2), cos, sin)).transpose(-1, -2)
    v = F.pad(v, (0, 0, 0, 1), value=1.0)  # (B, h, d+1, N)
    vk = v @ k.transpose(-1, -2)  # (B, h, d+1, d)
    out = vk @ q  # (B, h, d+1, N)
    out = out[:, :, :-1] / (out[:, :, -1:] + 1e-8)
    out = out.permute(0, 3, 1, 2).reshape(B, N, C)
    return F.linear(out, sd[f"{p}.proj.weight"], sd[f"{p}.proj.bias"])


def softmax_attention(sd, p, x, heads, cos, sin):
    B, N, C = x.shape
    qkv = F.linear(x, sd[f"{p}.qkv.weight"], sd[f"{p}.qkv.bias"])
    q, k, v = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)  # (B, h, N, d)
    q, k = apply_rope(q.float(), cos, sin), apply_rope(k.float(), cos, sin)
    attn = ((q @ k.transpose(-1, -2)) * (C // heads) ** -0.5).float().softmax(dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(B, N, C)
    return F.linear(out, sd[f"{p}.proj.weight"], sd[f"{p}.proj.bias"])


def glumbconv(sd, p, x, grid):
    B, N, C = x.shape
    T, H, W = grid
    y = x.reshape(B, T, H, W, C).permute(0, 1, 4, 2, 3).reshape(B * T, C, H, W)
    y = F.silu(F.conv2d(y, sd[f"{p}.inverted_conv.conv.weight"], sd[f"{p}.inverted_conv.conv.bias"]))
    w = sd[f"{p}.depth_conv.conv.weight"]
    y = F.conv2d(y, w, sd[f"{p}.depth_conv.conv.bias"], padding=1, groups=w.shape[0])
    y, gate = y.chunk(2, dim=1)
    y = F.conv2d(y * F.silu(gate), sd[f"{p}.point_conv.conv.weight"])  # (B·T, C, H, W)
    return y.reshape(B, T, C, H, W).permute(0, 1, 3, 4, 2).reshape(B, N, C)


def reference_forward(sd: dict, x: torch.Tensor, timestep: torch.Tensor, flow: torch.Tensor,
                      head_dim: int = 72) -> torch.Tensor:
    """x (B, C_in, T, H, W); timestep (B,) in 0..1000; flow (B,) raw motion scores → (B, C_in, T, H, W).

    Latent frame 0 is the reference: its tokens get timestep 0 through the authors' cond_mask rule.
    """
    B, C_in, T, H, W = x.shape
    N = T * H * W
    C = sd["x_embedder.proj.weight"].shape[0]
    heads = C // head_dim
    frames = x.permute(0, 2, 1, 3, 4).reshape(B * T, C_in, H, W)
    h = F.conv2d(frames, sd["x_embedder.proj.weight"], sd["x_embedder.proj.bias"])  # (B·T, C, H, W)
    h = h.reshape(B, T, C, H * W).permute(0, 1, 3, 2).reshape(B, N, C)

    cond_mask = torch.zeros(B, N)
    cond_mask[:, : H * W] = 1
    t = torch.minimum(timestep[:, None].float().repeat(1, N), (1 - cond_mask) * 1000) / 1000  # (B, N)
    t_emb = mlp_embedder(sd, "t_embedder", t)  # (B, N, C)
    t0 = F.linear(F.silu(t_emb), sd["t_block.1.weight"], sd["t_block.1.bias"])
    f_emb = mlp_embedder(sd, "flow_embedder", flow.float()[:, None].repeat(1, N))
    f0 = F.linear(F.silu(f_emb), sd["flow_block.1.weight"], sd["flow_block.1.bias"])

    cos, sin = rope_cos_sin(T, H, W, head_dim)
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    for i in range(depth):
        p = f"blocks.{i}"
        mod = sd[f"{p}.scale_shift_table"][None] + t0.reshape(B, N, 6, C) + f0.reshape(B, N, 6, C)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.unbind(2)  # (B, N, C) each
        attention = linear_attention if f"{p}.attn.q_norm.weight" in sd else softmax_attention
        a = F.layer_norm(h, (C,), eps=1e-6) * (1 + scale_msa) + shift_msa
        h = h + gate_msa * attention(sd, f"{p}.attn", a, heads, cos, sin)
        m = F.layer_norm(h, (C,), eps=1e-6) * (1 + scale_mlp) + shift_mlp
        h = h + gate_mlp * glumbconv(sd, f"{p}.mlp", m, (T, H, W))

    shift, scale = (sd["final_layer.scale_shift_table"][None] + t_emb[:, :, None]).unbind(2)
    h = F.layer_norm(h, (C,), eps=1e-6) * (1 + scale) + shift
    out = F.linear(h, sd["final_layer.linear.weight"], sd["final_layer.linear.bias"])  # (B, N, C_in)
    return out.reshape(B, T, H, W, C_in).permute(0, 4, 1, 2, 3)
