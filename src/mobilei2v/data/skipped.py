"""Inputs a data run could not use, counted by reason: one bad file never stops a long run."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


class SkippedInputs:
    """Reason → the inputs skipped for it (with what went wrong), for the closing report."""

    def __init__(self) -> None:
        self.by_reason: dict[str, list[str]] = defaultdict(list)

    def add(self, reason: str, path: str | Path, detail: str = "") -> None:
        self.by_reason[reason].append(f"{path}" + (f" ({detail})" if detail else ""))

    def __len__(self) -> int:
        return sum(len(items) for items in self.by_reason.values())

    def count(self, reason: str) -> int:
        return len(self.by_reason.get(reason, ()))

    def report(self, examples: int = 3) -> list[str]:
        """One line per reason: how many, and the first few of them."""
        lines = []
        for reason, items in self.by_reason.items():
            more = f", and {len(items) - examples} more" if len(items) > examples else ""
            lines.append(f"skipped {len(items)} ({reason}): {'; '.join(items[:examples])}{more}")
        return lines
