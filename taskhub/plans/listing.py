"""`taskhub plan list` on the driver alone: every plan with its item, assignment and unit counts.

The same rows, order and counts as ``taskhub.plans.services.list_plans(include_archived=True)``
and the same JSON as ``PlanSummarySchema`` (tests/test_cli_listings.py compares them on a seeded
database), read with three plain SQL statements over the columns in ``COLUMNS`` (checked
against the models by the same tests): the command imports neither SQLAlchemy nor the models
(taskhub.core.rawdb).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from taskhub.core.rawdb import as_date, as_points

#: The columns of each table the listing reads (tests/test_cli_listings.py checks them
#: against the models).
COLUMNS = {
    "plans": (
        "id",
        "code",
        "title",
        "city_id",
        "document_number",
        "issued_on",
        "year",
        "kind",
        "points",
        "status",
        "revision",
    ),
    "cities": ("id", "name"),
    "items": ("id", "plan_id"),
    "assignments": ("id", "item_id", "unit_id"),
}

ITEM_COUNTS = "SELECT plan_id, count(*) FROM items GROUP BY plan_id"
ASSIGNMENT_COUNTS = (
    "SELECT items.plan_id, count(assignments.id), count(DISTINCT assignments.unit_id)"
    " FROM items JOIN assignments ON assignments.item_id = items.id GROUP BY items.plan_id"
)
PLANS = (
    "SELECT plans.id, plans.code, plans.title, cities.name, plans.document_number,"
    " plans.issued_on, plans.year, plans.kind, plans.points, plans.status, plans.revision"
    " FROM plans JOIN cities ON cities.id = plans.city_id ORDER BY plans.year, plans.code"
)


@dataclass(frozen=True)
class PlanRow:
    code: str
    title: str
    city: str
    document_number: str | None
    issued_on: date | None
    year: int
    kind: str
    points: Decimal | None
    status: str
    revision: int
    items: int
    assignments: int
    units: int

    def as_json(self) -> dict[str, Any]:
        """The plan as `plan list --json` prints it (PlanSummarySchema's keys, then counts)."""
        return {
            "code": self.code,
            "title": self.title,
            "city": self.city,
            "document_number": self.document_number,
            "issued_on": self.issued_on.isoformat() if self.issued_on is not None else None,
            "year": self.year,
            "kind": self.kind,
            "points": self.points,
            "status": self.status,
            "revision": self.revision,
            "items": self.items,
            "assignments": self.assignments,
            "units": self.units,
        }

    def as_line(self) -> str:
        """The plan as `plan list` prints it."""
        counts = f"{self.items:>4} items {self.assignments:>6} assignments"
        return f"{self.code:<16} {counts}  {self.title}"


def plan_rows(connection: Any) -> list[PlanRow]:
    """Every plan, archived ones too, by year and code, with its counts (three queries)."""
    item_counts: dict[int, int] = dict(connection.execute(ITEM_COUNTS).fetchall())
    counts = {pid: (n, u) for pid, n, u in connection.execute(ASSIGNMENT_COUNTS)}
    rows = []
    for (
        pid,
        code,
        title,
        city,
        number,
        issued_on,
        year,
        kind,
        points,
        status,
        revision,
    ) in connection.execute(PLANS):
        n, units = counts.get(pid, (0, 0))
        rows.append(
            PlanRow(
                code,
                title,
                city,
                number,
                as_date(issued_on),
                year,
                kind,
                as_points(points),
                status,
                revision,
                item_counts.get(pid, 0),
                n,
                units,
            )
        )
    return rows
