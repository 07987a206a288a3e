"""Pure scoring arithmetic: Decimal in, Decimal out. No Flask, no database.

The database side (taskhub.scoring.services) aggregates rows with SQL and calls these for the
rules: how completion maps to a fraction, how points are shared, how components combine, how
ranks are given and how numbers are rounded for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)


def dec(value: Any) -> Decimal:
    """A Decimal from a seed or form value (via str, so 0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


@dataclass(frozen=True)
class CompletionMapping:
    """What a milestone due in the period earns: on time, late, or not done."""

    on_time: Decimal = ONE
    late: Decimal = Decimal("0.5")
    missed: Decimal = ZERO

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> CompletionMapping:
        spec = spec or {}
        return cls(
            on_time=dec(spec.get("on_time", "1")),
            late=dec(spec.get("late", "0.5")),
            missed=dec(spec.get("missed", "0")),
        )

    def fraction(self, due: int, on_time: int, late: int) -> Decimal | None:
        """The share earned over ``due`` milestones; None when nothing was due (not assessable)."""
        if due <= 0:
            return None
        missed = due - on_time - late
        earned = self.on_time * on_time + self.late * late + self.missed * missed
        return earned / due


def rate_points(points: Decimal, actual: Decimal, target: Decimal) -> Decimal:
    """Rate indicators: points × min(1, actual / target); a zero target earns full points."""
    if target <= 0:
        return points
    return points * min(ONE, max(ZERO, actual / target))


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator; a zero denominator is refused (ZeroDivisionError), never
    scored as 0: the scoring service asks for a value instead."""
    if not denominator:
        raise ZeroDivisionError("a rate with a zero denominator has no value")
    return numerator / denominator


def count_points(points: Decimal, occurrences: Decimal, deduct_per: Decimal) -> Decimal:
    """Count indicators deduct per occurrence, down to zero."""
    return max(ZERO, points - deduct_per * occurrences)


def rubric_points(parts: Sequence[Decimal], achieved: Sequence[bool]) -> Decimal:
    """Split rubrics (0.5 + 0.5) earn the points of the parts achieved."""
    return sum((p for p, ok in zip(parts, achieved, strict=True) if ok), ZERO)


def share_budget(budget: Decimal, fixed: Sequence[Decimal | None]) -> list[Decimal]:
    """Children with their own points keep them; the rest share what is left evenly."""
    free = [i for i, p in enumerate(fixed) if p is None]
    left = budget - sum((p for p in fixed if p is not None), ZERO)
    share = left / len(free) if free and left > 0 else ZERO
    return [p if p is not None else share for p in fixed]


def weighted(components: Mapping[str, Decimal], weights: Mapping[str, Decimal]) -> Decimal:
    """Σ weight × component over the components present."""
    return sum((weights[c] * v for c, v in components.items() if c in weights), ZERO)


def mean(values: Iterable[Decimal]) -> Decimal | None:
    values = list(values)
    return sum(values, ZERO) / len(values) if values else None


def capped(value: Decimal, low: Decimal | None = None, high: Decimal | None = None) -> Decimal:
    if low is not None and value < low:
        return low
    if high is not None and value > high:
        return high
    return value


def competition_ranks(totals: Mapping[Any, Decimal]) -> dict[Any, int]:
    """Standard competition ranking (1, 2, 2, 4); ties share a rank whatever the row order."""
    ordered = sorted(totals.values(), reverse=True)
    first_position: dict[Decimal, int] = {}
    for position, value in enumerate(ordered, start=1):
        first_position.setdefault(value, position)
    return {key: first_position[value] for key, value in totals.items()}


def display(value: Decimal, places: int = 2) -> Decimal:
    """Round for display only (half up, as offices round by hand)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
