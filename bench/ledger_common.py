"""What the two ledger generators (generate.py, generate_api.py) share: recreating the
database, Core bulk inserts, and the rows of units, items, schedules, assignments and
milestones built from each milestone's simulated outcome.

Every helper draws from the caller's random generator in a fixed order, so a generator's
output for a given --seed does not depend on which helpers it uses.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from common import log
from sqlalchemy import Connection, Table, create_engine, insert, select, text
from sqlalchemy.engine import URL

from taskhub.core.db import db
from taskhub.plans.models import Item
from taskhub.tracking.models import ItemMilestone
from taskhub.units.models import City, Unit, UnitAlias

#: Rows per INSERT of a bulk insert.
CHUNK = 10_000
OFFICE_TZ = ZoneInfo("Asia/Shanghai")


# -- database -----------------------------------------------------------------------------------


def reset_database(url: URL) -> None:
    """Drop and recreate the benchmark database (never one that is not clearly ours)."""
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise SystemExit("--db: give an SQLite file, e.g. sqlite:///bench/.data/bench.db")
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = url.database or ""
    assert "bench" in name  # database_url() refuses any other PostgreSQL database
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {quoted}"))
    admin.dispose()


def batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk_insert(conn: Connection, table: Table, rows: Iterable[dict[str, Any]], total: int) -> int:
    """Insert rows in chunks, logging every 10% of ``total``."""
    started, done, next_pct = time.perf_counter(), 0, 10
    for batch in batched(rows, CHUNK):
        conn.execute(insert(table), batch)
        done += len(batch)
        pct = done * 100 // max(total, 1)
        if total >= 5 * CHUNK and pct >= next_pct:
            log(f"  {table.name}: {done:,}/{total:,} ({pct}%)")
            next_pct = (pct // 10 + 1) * 10
    log(f"  {table.name}: {done:,} rows in {time.perf_counter() - started:.1f} s")
    return done


def table(model: type[Any]) -> Table:
    """A model's table, for Core inserts."""
    return cast(Table, model.__table__)


def analyze(url: URL) -> None:
    """Fresh planner statistics, as autovacuum would give a production database."""
    engine = db.engine
    if url.get_backend_name() == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def office_time(day: date, rng: random.Random) -> datetime:
    """A working-hours moment of an office day, in UTC."""
    local = datetime(
        day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59), tzinfo=OFFICE_TZ
    )
    return local.astimezone(UTC)


# -- units --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Bodies:
    """The generated city's or province's units as the later steps need them."""

    units: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    departments: list[int] = field(default_factory=list)
    #: How reliably each unit finishes on time (varies, so the ranking has a spread).
    diligence: dict[int, float] = field(default_factory=dict)


def add_city(conn: Connection, code: str, name: str, source: str) -> int:
    """The synthetic city (or province); its id."""
    conn.execute(insert(table(City)), [{"code": code, "name": name, "sources": [source]}])
    return int(conn.execute(select(City.id).where(City.code == code)).scalar_one())


def read_units(
    conn: Connection, rng: random.Random, city_id: int, diligence: tuple[float, float], w: Bodies
) -> None:
    """Read back the city's inserted units into ``w`` (each with a diligence drawn from the
    range) and give each its own name as an alias."""
    for uid, name, kind in conn.execute(
        select(Unit.id, Unit.name, Unit.kind).where(Unit.city_id == city_id).order_by(Unit.id)
    ):
        w.units.append(uid)
        w.names[uid] = name
        if kind == "department":
            w.departments.append(uid)
        w.diligence[uid] = rng.uniform(*diligence)
    conn.execute(
        insert(table(UnitAlias)),
        [{"city_id": city_id, "name": w.names[u], "unit_id": u} for u in w.units],
    )


# -- items and their schedules ------------------------------------------------------------------


def item_row(
    plan_id: int, section_id: int | None, k: int, text: str, phrase: str, applicability: str
) -> dict[str, Any]:
    """The ``k``-th item (from 0) of a plan, numbered and coded k + 1, without points."""
    return {
        "plan_id": plan_id,
        "section_id": section_id,
        "position": k + 1,
        "number": str(k + 1),
        "code": str(k + 1),
        "title": None,
        "text": text,
        "points": None,
        "weight": None,
        "deadline_phrase": phrase,
        "is_deadline_unparsed": False,
        "target": None,
        "measure": None,
        "applicability": applicability,
        "applies_to": None,
    }


class Step(Protocol):
    """A dated step of an item's schedule."""

    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def due_on(self) -> date: ...


def add_schedules(
    conn: Connection,
    plan_id: int,
    schedules: Iterable[tuple[int, Sequence[Step]]],
    source: str,
    created: datetime,
) -> dict[tuple[int, date, str], int]:
    """Each item's steps as item milestones; their ids by (item, due date, kind)."""
    conn.execute(
        insert(table(ItemMilestone)),
        [
            {
                "item_id": iid,
                "kind": s.kind,
                "title": s.title,
                "due_on": s.due_on,
                "source": source,
                "origin_due_on": None,
                "created_at": created,
            }
            for iid, steps in schedules
            for s in steps
        ],
    )
    query = (
        select(ItemMilestone.id, ItemMilestone.item_id, ItemMilestone.due_on, ItemMilestone.kind)
        .join(Item)
        .where(Item.plan_id == plan_id)
    )
    return {(iid, due, kind): sid for sid, iid, due, kind in conn.execute(query)}


# -- assignments and milestones -----------------------------------------------------------------


@dataclass
class Outcome:
    """What became of one assignment's copy of a step."""

    status: str
    completed_on: date | None = None
    is_late: bool = False
    is_overdue: bool = False
    extended_to: date | None = None


def _counted(got: Sequence[Outcome]) -> tuple[list[Outcome], list[Outcome]]:
    """The outcomes that count (not waived) and those of them done."""
    counted = [o for o in got if o.status != "waived"]
    return counted, [o for o in counted if o.status == "done"]


def progress_status(rng: random.Random, got: Sequence[Outcome], acknowledged: float) -> str:
    """completed or in_progress by the milestones done; else acknowledged (with probability
    ``acknowledged``) or new."""
    counted, done = _counted(got)
    if counted and len(done) == len(counted):
        return "completed"
    if done:
        return "in_progress"
    return "acknowledged" if rng.random() < acknowledged else "new"


def assignment_row(
    rng: random.Random,
    *,
    item_id: int,
    unit_id: int,
    role: str,
    status: str,
    got: Sequence[Outcome],
    dues: Iterable[date],
    is_not_applicable: bool,
    acknowledged_on: tuple[int, int, int],
    created: datetime,
) -> dict[str, Any]:
    """An assignment whose milestones (due on ``dues``) had the outcomes ``got``; it was
    acknowledged on a January day between ``acknowledged_on``'s (year, first, last) days."""
    counted, done = _counted(got)
    last = max((o.completed_on for o in done if o.completed_on), default=None)
    year, first, last_day = acknowledged_on
    return {
        "item_id": item_id,
        "unit_id": unit_id,
        "role": role,
        "status": status,
        "percent": len(done) * 100 // len(counted) if counted else 0,
        "is_overdue": any(o.is_overdue for o in got),
        "is_not_applicable": is_not_applicable,
        # The app keeps this on every milestone change; Core inserts must fill it themselves.
        "next_due_on": min(
            (o.extended_to or due for due, o in zip(dues, got, strict=True) if o.status == "open"),
            default=None,
        ),
        "acknowledged_at": None
        if status == "new"
        else office_time(date(year, 1, rng.randint(first, last_day)), rng),
        "completed_at": office_time(last, rng) if status == "completed" and last else None,
        "created_at": created,
        "updated_at": created,
        "version": 1,
    }


def milestone_row(
    assignment_id: int, step_id: int, step: Step, o: Outcome, created: datetime
) -> dict[str, Any]:
    """An assignment's copy of an item's step, as it turned out."""
    return {
        "assignment_id": assignment_id,
        "item_milestone_id": step_id,
        "kind": step.kind,
        "title": step.title,
        "due_on": step.due_on,
        "extended_to": o.extended_to,
        "status": o.status,
        "completed_on": o.completed_on,
        "is_late": o.is_late,
        "is_overdue": o.is_overdue,
        "created_at": created,
    }


def reports_per_assignment(
    rng: random.Random, weights: Sequence[int], n_reports: int
) -> dict[int, int]:
    """How many of ``n_reports`` reports each assignment (by index) gets, drawn by weight:
    reports go mostly to busy assignments."""
    per: dict[int, int] = {}
    for k in rng.choices(range(len(weights)), weights=weights, k=n_reports):
        per[k] = per.get(k, 0) + 1
    return per
