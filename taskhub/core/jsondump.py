"""JSON for the CLI: Chinese kept readable, decimals as exact numbers (no ORM, no Flask)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _exact(value: Any) -> Any:
    # Points carry at most 4 decimals, so float's shortest repr prints the same digits.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(data: Any) -> str:
    """JSON for the CLI: Chinese kept readable, decimals as exact numbers."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=_exact)
