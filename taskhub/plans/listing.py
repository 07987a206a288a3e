"""`taskhub plan list` without the ORM: every plan with its item, assignment and unit counts.

The same rows, order and counts as ``taskhub.plans.services.list_plans(include_archived=True)``
and the same JSON as ``PlanSummarySchema`` (tests/test_cli_listings.py compares them on a seeded
database), read with SQLAlchemy Core statements over light table clauses (the columns it needs
of the models, checked against them by the same tests): the command imports neither
``sqlalchemy.orm`` nor the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, String, column, func, select, table
from sqlalchemy.engine import Connection

from taskhub.core.coredb import Points

plans = table(
    "plans",
    column("id", Integer()),
    column("code", String()),
    column("title", String()),
    column("city_id", Integer()),
    column("document_number", String()),
    column("issued_on", Date()),
    column("year", Integer()),
    column("kind", String()),
    column("points", Points),
    column("status", String()),
    column("revision", Integer()),
)
cities = table("cities", column("id", Integer()), column("name", String()))
items = table("items", column("id", Integer()), column("plan_id", Integer()))
assignments = table(
    "assignments",
    column("id", Integer()),
    column("item_id", Integer()),
    column("unit_id", Integer()),
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


def plan_rows(connection: Connection) -> list[PlanRow]:
    """Every plan, archived ones too, by year and code, with its counts (three queries)."""
    item_counts: dict[int, int] = {
        pid: n
        for pid, n in connection.execute(
            select(items.c.plan_id, func.count()).group_by(items.c.plan_id)
        )
    }
    per_plan = (
        select(
            items.c.plan_id,
            func.count(assignments.c.id),
            func.count(func.distinct(assignments.c.unit_id)),
        )
        .join(assignments, assignments.c.item_id == items.c.id)
        .group_by(items.c.plan_id)
    )
    counts = {pid: (n, u) for pid, n, u in connection.execute(per_plan)}
    query = (
        select(
            plans.c.id,
            plans.c.code,
            plans.c.title,
            cities.c.name,
            plans.c.document_number,
            plans.c.issued_on,
            plans.c.year,
            plans.c.kind,
            plans.c.points,
            plans.c.status,
            plans.c.revision,
        )
        .join(cities, cities.c.id == plans.c.city_id)
        .order_by(plans.c.year, plans.c.code)
    )
    return [
        PlanRow(*row[1:], item_counts.get(row[0], 0), *counts.get(row[0], (0, 0)))
        for row in connection.execute(query)
    ]
