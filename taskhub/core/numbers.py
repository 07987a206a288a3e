"""Display rules for exact numbers."""

from __future__ import annotations

from decimal import Decimal


def format_points(value: Decimal | None) -> str:
    """Points without trailing zeros (1.50 -> 1.5, 25.0000 -> 25); display only."""
    if value is None:
        return ""
    return format(value.normalize(), "f")
