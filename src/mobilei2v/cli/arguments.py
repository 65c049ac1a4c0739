"""Argument types shared by several commands, checked by argparse before a command runs."""

from __future__ import annotations

import argparse

from ..precision import CHOICES


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to an option's help, unless its help already says what the default is or it
    has none (argparse's own would print "(default: ...) (default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def seed(text: str) -> int:
    """A random seed torch's generators take: 0 to 2^63 − 1 (a larger one overflows only after the model has
    loaded)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2^63 - 1, got {text}")
    return value


def add_dtype(parser: argparse.ArgumentParser) -> None:
    """`--dtype auto|fp32|bf16` for every command that runs a model (`mobilei2v.precision`)."""
    parser.add_argument("--dtype", choices=CHOICES, default="auto",
                        help="precision of every model part: auto (the default) picks bf16 where the CPU or GPU "
                             "multiplies bf16 natively (AMX, AVX-512 BF16) and fp32 elsewhere, where bf16 is "
                             "about 10x slower; the choice and its reason are printed")


def steps(text: str) -> int:
    """A number of sampling steps: a whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_schedule(parser: argparse.ArgumentParser) -> None:
    """`--steps N` and `--sigmas S...`, the sampling schedule of every command that samples
    (`MobileI2VPipeline.sampling_schedule` and `denoiser_for`)."""
    parser.add_argument("--steps", type=steps, default=None,
                        help="Euler steps of the scheduler's shifted schedule (default: the model's own sigma list "
                             "if it has one, as the shipped model (2 steps) and distilled students do, else 30). A "
                             "distilled model that carries its teacher samples an explicit step count with the teacher")
    parser.add_argument("--sigmas", type=float, nargs="+", default=None,
                        help="explicit decreasing noise levels, one per step, for a distilled model's own network; "
                             "overrides --steps")
