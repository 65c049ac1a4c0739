"""`data filter`: keep the rows whose scores pass the paper's thresholds (docs/architecture.md §8)."""

from __future__ import annotations

from dataclasses import dataclass

from .clips_csv import CLARITY, DOVER, RECON_PSNR, Row, number


@dataclass(frozen=True)
class Rule:
    """Keep a row when minimum <(=) row[column] <(=) maximum; strict bounds exclude the bound itself."""

    column: str
    minimum: float | None = None
    maximum: float | None = None
    strict: bool = True

    def passes(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.strict:
            return (self.minimum is None or value > self.minimum) and (self.maximum is None or value < self.maximum)
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)

    def __str__(self) -> str:
        low, high = ("<", "<") if self.strict else ("<=", "<=")
        text = self.column
        if self.minimum is not None:
            text = f"{self.minimum:g} {low} {text}"
        if self.maximum is not None:
            text = f"{text} {high} {self.maximum:g}"
        return text


# The paper's thresholds: flow in (0.1, 6.5), VAE reconstruction PSNR > 32 dB, DOVER ≥ 70. Clarity is this
# project's weight-free stand-in for DOVER (quality.py says what it measures): 40 drops clips blurrier
# than a Gaussian of σ ≈ 1.5 px at 576×320, and flat or badly exposed ones.
FLOW_RANGE = (0.1, 6.5)
PSNR_MIN = 32.0
DOVER_MIN = 70.0
CLARITY_MIN = 40.0


def default_rules(flow_range: tuple[float, float] = FLOW_RANGE, psnr_min: float = PSNR_MIN,
                  clarity_min: float = CLARITY_MIN, dover_min: float = DOVER_MIN) -> list[Rule]:
    return [Rule("flow", *flow_range), Rule(RECON_PSNR, psnr_min), Rule(CLARITY, clarity_min, strict=False),
            Rule(DOVER, dover_min, strict=False)]


@dataclass
class FilterResult:
    kept: list[Row]
    failed: dict[str, int]  # str(rule) → rows failing it (a row can fail several rules)
    unscored: dict[str, int]  # str(rule) → of those, rows with no value in the column
    not_applied: list[str]  # rules whose column the CSV does not have
    total: int

    @property
    def dropped(self) -> int:
        return self.total - len(self.kept)


def filter_rows(rows: list[Row], rules: list[Rule]) -> FilterResult:
    """Rows passing every rule whose column the CSV has; a row with an empty score fails that rule."""
    columns = set().union(*(row.keys() for row in rows)) if rows else set()
    applied = [rule for rule in rules if rule.column in columns]
    result = FilterResult(kept=[], failed={str(r): 0 for r in applied}, unscored={str(r): 0 for r in applied},
                          not_applied=[str(r) for r in rules if r.column not in columns], total=len(rows))
    for row in rows:
        keep = True
        for rule in applied:
            value = number(row, rule.column)
            if not rule.passes(value):
                keep = False
                result.failed[str(rule)] += 1
                result.unscored[str(rule)] += value is None
        if keep:
            result.kept.append(row)
    return result
