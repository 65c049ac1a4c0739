"""Argument types shared by several commands, checked by argparse before a command runs."""

from __future__ import annotations

import argparse


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
