"""Named denoiser configurations. A preset is a set of `MobileI2VDenoiser` constructor arguments;
`models.registry.build("denoiser", name)` makes one."""

from __future__ import annotations

from typing import Any


def _layout(num_blocks: int, softmax_every: int | None) -> tuple[str, ...]:
    """'linear' blocks with a softmax block closing every group of `softmax_every` (None: all linear)."""
    if softmax_every is None:
        return ("linear",) * num_blocks
    return tuple("softmax" if (i + 1) % softmax_every == 0 else "linear" for i in range(num_blocks))


DENOISER_PRESETS: dict[str, dict[str, Any]] = {
    # The paper's model: softmax attention after every seven linear blocks (blocks 7 and 15).
    "mobilei2v-270m": dict(attention_types=_layout(16, 8)),
    # The paper's ablation variants (§5: hybrid vs all-linear vs all-softmax).
    "mobilei2v-270m-linear": dict(attention_types=_layout(16, None)),
    "mobilei2v-270m-softmax": dict(attention_types=_layout(16, 1)),
    # The shipped model's denoiser (9.2 M): the same hybrid design at 8 blocks, softmax after every three
    # linear blocks, on the 128-channel latents of the `small` VAE.
    "mobilei2v-small": dict(
        hidden_size=288, num_heads=4, ffn_hidden_size=720, attention_types=_layout(8, 4),
    ),
    # The shipped model v2's denoiser (4.2 M): the same hybrid layout at width 192, with the reference
    # latent beside every frame's (`reference_concat`) and the flow on differences from it
    # (`reference_residual`). Its autoencoder keeps every frame, so a 256²×17
    # video is 1,088 tokens (192 at 8× temporal compression): the narrower width keeps 30 steps at about
    # the old model's time on 2 CPU cores.
    "mobilei2v-small-ref": dict(
        hidden_size=192, num_heads=4, ffn_hidden_size=480, attention_types=_layout(8, 4), reference_concat=True,
        reference_residual=True,
    ),
    # For tests: same design, a few hundred thousand parameters, 16 latent channels.
    "mobilei2v-tiny": dict(
        in_channels=16, hidden_size=48, num_heads=2, ffn_hidden_size=120, attention_types=_layout(4, 2),
        frequency_dim=32,
    ),
}
