"""The timeline (Gantt-like): a plan's milestones across a year, a page of them at a time.

Pages hold a fixed number of rows in date order (the effective, extended due date), so a
province of 2,000 units and 300,000 milestones still gives a page of a few screens. The page
shown first starts at today: the window people look at; earlier and later milestones are on
the previous and next pages.

By unit, each row is one milestone with its unit and task, and pages are read by keyset on
(due date, id): only the page's rows are fetched, through the indexes on (due_on, id) and
(extended_to, id), so a deep page costs what the first one does. By area (top-level section),
each row is one marker: an item's milestones of one kind on one date across the assignments the
user may see, with how many are done, overdue, open and waived. A plan has a few hundred
markers (one grouped query, cached under the latest audit event that may change a milestone:
``cache.settled_fingerprint``, so a report submitted does not count them again), paged by number.
"""

from __future__ import annotations

import calendar
import heapq
import re
from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from taskhub.accounts.models import User
from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.sections import section_label
from taskhub.ledger.lights import effective_due
from taskhub.ledger.services import plan_sections, visible_to
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus
from taskhub.units.models import Unit

#: Rows per page: about three screens at 1366 × 768.
ROWS_PER_PAGE = 40
#: Larger than any milestone id, within a 32-bit INTEGER (PostgreSQL's ids).
MAX_ID = 2**31 - 1
#: Which state a marker that stands for several milestones takes, most urgent first.
STATE_ORDER = ("overdue", "open", "done", "waived")


@dataclass(frozen=True, order=True)
class Cursor:
    """A place in the date order: a milestone's effective due date and id (by unit)."""

    on: date
    id: int

    def __str__(self) -> str:
        return f"{self.on.isoformat()}.{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        """``2022-06-30.1234`` as written by ``str``; None for anything else."""
        found = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.(\d{1,9})", raw or "")
        if found is None:
            return None
        try:
            return cls(date.fromisoformat(found.group(1)), int(found.group(2)))
        except ValueError:
            return None


@dataclass
class Marker:
    on: date  #: the effective (extended) due date, where the marker sits
    state: str  #: done | overdue | open | waived
    kind: str
    left: float  #: position along the year, in percent
    title: str | None = None
    #: The original due date when an extension moved the milestone.
    original: date | None = None
    #: By area: how many milestones of each state the marker stands for.
    counts: dict[str, int] | None = None


@dataclass
class Row:
    """One row of the page: a milestone (by unit) or an item's marker (by area)."""

    item: Item
    marker: Marker
    #: By unit: the milestone, its assignment and unit.
    milestone_id: int | None = None
    assignment_id: int | None = None
    unit_name: str | None = None
    #: By area: the item's area (top-level section) title, "" outside any section.
    area: str = ""


@dataclass(frozen=True)
class Month:
    number: int
    left: float
    width: float


@dataclass
class Timeline:
    plan: Plan
    group: str
    year: int
    today: date
    today_left: float | None
    months: list[Month]
    rows: list[Row]
    #: Rows in all pages: milestones (by unit) or markers (by area) of the year.
    total: int
    #: Whether this is the page the timeline opens on (the one starting at today).
    at_today: bool
    #: By unit: the keyset links (rows before the first row, after the last one), if any.
    before: Cursor | None = None
    after: Cursor | None = None
    #: By area: numbered pages.
    page: int = 1
    pages: int = 1

    @property
    def grid(self) -> str:
        """CSS background layers drawing a line at each month's start (one per table)."""
        return ", ".join(
            f"linear-gradient(#d1d9e0, #d1d9e0) {m.left}% 0 / 1px 100% no-repeat"
            for m in self.months[1:]
        )

    def areas(self) -> list[tuple[str, list[Row]]]:
        """By area: the page's rows in runs of one area, in date order."""
        runs: list[tuple[str, list[Row]]] = []
        for row in self.rows:
            if runs and runs[-1][0] == row.area:
                runs[-1][1].append(row)
            else:
                runs.append((row.area, [row]))
        return runs


def position(day: date, year: int) -> float:
    """Where a day sits along the year, in percent (the middle of the day)."""
    length = 366 if calendar.isleap(year) else 365
    return round(((day - date(year, 1, 1)).days + 0.5) / length * 100, 3)


def months_of(year: int) -> list[Month]:
    length = 366 if calendar.isleap(year) else 365
    out = []
    for month in range(1, 13):
        start = (date(year, month, 1) - date(year, 1, 1)).days
        days = calendar.monthrange(year, month)[1]
        out.append(Month(month, round(start / length * 100, 3), round(days / length * 100, 3)))
    return out


def state_of(status: str, on: date, today: date) -> str:
    """A milestone's state on the timeline from its stored status and (effective) date."""
    if status == MilestoneStatus.DONE.value:
        return "done"
    if status == MilestoneStatus.WAIVED.value:
        return "waived"
    return "overdue" if on < today else "open"


def _as_date(value: Any) -> date:
    # COALESCE of two dates comes back as text on SQLite.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def build(
    plan: Plan,
    *,
    group: str,
    viewer: User,
    today: date,
    year: int,
    page: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
) -> Timeline:
    """One page of the plan's timeline for ``year`` as ``viewer`` may see it.

    By unit the page is the rows after ``after`` or before ``before``; by area it is page
    number ``page``. Without either, the page starting at today (the year's last page once the
    year is over, its first before it starts).
    """
    scope = visible_to(viewer)
    where: list[ColumnElement[bool]] = [Item.plan_id == plan.id]
    if scope is not None:
        where.append(scope)
    # Cache keys: who sees what (the whole plan, or one unit's part).
    scope_key = None if scope is None else (viewer.unit_id or 0)
    timeline = Timeline(
        plan=plan,
        group=group,
        year=year,
        today=today,
        today_left=position(today, year) if today.year == year else None,
        months=months_of(year),
        rows=[],
        total=0,
        at_today=False,
    )
    if group == "area":
        _area_page(timeline, where, scope_key, page)
    else:
        _unit_page(timeline, where, scope_key, after, before)
    return timeline


def _joined(query: Any) -> Select[Any]:
    return query.join(Assignment, Assignment.id == Milestone.assignment_id).join(
        Item, Item.id == Assignment.item_id
    )


# -- by unit: one milestone a row, keyset pages ---------------------------------------------------


def _unit_page(
    t: Timeline,
    where: list[ColumnElement[bool]],
    scope_key: int | None,
    after: Cursor | None,
    before: Cursor | None,
) -> None:
    first_day, last_day = date(t.year, 1, 1), date(t.year, 12, 31)
    t.total = cache.cached(
        ("timeline_count", t.plan.id, t.year, scope_key),
        lambda: _count(where, first_day, last_day),
        cache.settled_fingerprint(),
    )
    if after is None and before is None:
        # Today's page: the rows from today on; once the year is over, its last page.
        start = min(max(t.today, first_day), last_day + timedelta(days=1))
        forward, cursor = True, Cursor(start - timedelta(days=1), MAX_ID)
        found = []
        if start <= last_day:
            found = _fetch(where, t.year, cursor, forward, ROWS_PER_PAGE + 1)
        if not found:
            forward, cursor = False, Cursor(last_day + timedelta(days=1), 0)
            found = _fetch(where, t.year, cursor, forward, ROWS_PER_PAGE + 1)
        t.at_today = True
    else:
        forward = after is not None
        cursor = after if after is not None else before  # type: ignore[assignment]
        found = _fetch(where, t.year, cursor, forward, ROWS_PER_PAGE + 1)
    if not found:
        return
    # One row more than a page tells whether there is more that way; one look the other way.
    more = len(found) > ROWS_PER_PAGE
    found = found[:ROWS_PER_PAGE] if forward else found[-ROWS_PER_PAGE:]
    first, last = found[0][0], found[-1][0]
    if forward:
        t.after = last if more else None
        t.before = first if _fetch(where, t.year, first, False, 1, ids_only=True) else None
    else:
        t.before = first if more else None
        t.after = last if _fetch(where, t.year, last, True, 1, ids_only=True) else None
    items = {
        i.id: i
        for i in db.session.scalars(select(Item).where(Item.id.in_({v[-1] for _, v in found})))
    }
    for c, (due_on, extended_to, kind, title, status, aid, unit, item_id) in found:
        marker = Marker(
            on=c.on,
            state=state_of(status, c.on, t.today),
            kind=kind,
            left=position(c.on, t.year),
            title=title,
            original=due_on if extended_to else None,
        )
        t.rows.append(
            Row(
                item=items[item_id],
                marker=marker,
                milestone_id=c.id,
                assignment_id=aid,
                unit_name=unit,
            )
        )


def _count(where: list[ColumnElement[bool]], first_day: date, last_day: date) -> int:
    """The year's milestones (one aggregate; callers cache it, see the module's docstring)."""
    due = effective_due()
    query = _joined(select(func.count()).select_from(Milestone)).where(
        *where, due >= first_day, due <= last_day
    )
    return int(db.session.scalar(query) or 0)


def _fetch(
    where: list[ColumnElement[bool]],
    year: int,
    cursor: Cursor,
    forward: bool,
    limit: int,
    *,
    ids_only: bool = False,
) -> list[tuple[Cursor, tuple[Any, ...]]]:
    """Up to ``limit`` milestones next to ``cursor`` (after it or before it), in date order,
    each with (due_on, extended_to, kind, title, status, assignment id, unit name, item id).

    Two index range reads merged here: milestones not extended, in (due_on, id) order, and
    extended ones, in (extended_to, id) order. Each stops after ``limit`` rows, so the cost
    does not grow with how deep the page is.
    """
    first_day, last_day = date(year, 1, 1), date(year, 12, 31)
    columns: tuple[Any, ...] = (Milestone.id, Milestone.due_on, Milestone.extended_to)
    if not ids_only:
        columns += (
            Milestone.kind,
            Milestone.title,
            Milestone.status,
            Assignment.id,
            Unit.name,
            Item.id,
        )
    streams = []
    for day in (Milestone.due_on, Milestone.extended_to):
        kept = (
            Milestone.extended_to.is_(None)
            if day is Milestone.due_on
            else Milestone.extended_to.is_not(None)
        )
        # The cursor's own day after (before) its id, then the later (earlier) days: two
        # plain index ranges (a row-value comparison would not start the index read there).
        if forward:
            parts = [
                (day == cursor.on, Milestone.id > cursor.id),
                (day > cursor.on, day >= first_day, day <= last_day),
            ]
            order: tuple[Any, ...] = (day, Milestone.id)
        else:
            parts = [
                (day == cursor.on, Milestone.id < cursor.id),
                (day < cursor.on, day >= first_day, day <= last_day),
            ]
            order = (day.desc(), Milestone.id.desc())
        stream: list[tuple[Cursor, tuple[Any, ...]]] = []
        for conditions in parts:
            if len(stream) >= limit:
                break
            query = (
                _joined(select(*columns).select_from(Milestone))
                .where(*where, kept, *conditions)
                .order_by(*order)
                .limit(limit - len(stream))
            )
            if not ids_only:
                query = query.join(Unit, Unit.id == Assignment.unit_id)
            stream += [
                (Cursor(r[2] or r[1], r[0]), tuple(r[1:])) for r in db.session.execute(query)
            ]
        streams.append(stream)
    merged = list(heapq.merge(*streams, key=lambda r: r[0], reverse=not forward))[:limit]
    if not forward:
        merged.reverse()
    return merged


# -- by area: one marker a row, numbered pages -----------------------------------------------------

#: A marker as cached: (date, item id, kind, {state: count}).
CachedMarker = tuple[date, int, str, dict[str, int]]


def _area_page(
    t: Timeline, where: list[ColumnElement[bool]], scope_key: int | None, page: int | None
) -> None:
    markers = cache.cached(
        ("timeline_markers", t.plan.id, t.year, scope_key, t.today.isoformat()),
        lambda: _all_markers(where, t.year, t.today),
        cache.settled_fingerprint(),
    )
    t.total = len(markers)
    t.pages = max(1, ceil(t.total / ROWS_PER_PAGE))
    upcoming = next((n for n, m in enumerate(markers) if m[0] >= t.today), t.total - 1)
    today_page = max(0, upcoming) // ROWS_PER_PAGE + 1
    t.page = today_page if page is None else min(max(1, page), t.pages)
    t.at_today = t.page == today_page
    shown = markers[(t.page - 1) * ROWS_PER_PAGE : t.page * ROWS_PER_PAGE]
    items = {
        i.id: i for i in db.session.scalars(select(Item).where(Item.id.in_({m[1] for m in shown})))
    }
    titles = _area_titles(t.plan)
    for on, item_id, kind, counts in shown:
        item = items[item_id]
        marker = Marker(
            on=on,
            state=next(s for s in STATE_ORDER if counts.get(s)),
            kind=kind,
            left=position(on, t.year),
            counts=dict(counts),
        )
        t.rows.append(Row(item=item, marker=marker, area=titles.get(item.section_id, "")))


def _all_markers(where: list[ColumnElement[bool]], year: int, today: date) -> list[CachedMarker]:
    """Every marker of the year with its counts by state, in date then plan order (one
    grouped query: a few hundred rows for a plan, whatever the number of units)."""
    due = effective_due()
    state = case(
        (Milestone.status == MilestoneStatus.DONE.value, "done"),
        (Milestone.status == MilestoneStatus.WAIVED.value, "waived"),
        (due < today, "overdue"),
        else_="open",
    )
    query = (
        _joined(
            select(due, Item.id, Item.position, Milestone.kind, state, func.count()).select_from(
                Milestone
            )
        )
        .where(*where, due >= date(year, 1, 1), due <= date(year, 12, 31))
        .group_by(due, Item.id, Item.position, Milestone.kind, state)
    )
    found: dict[tuple[date, int, int, str], dict[str, int]] = {}
    for on, item_id, item_position, kind, st, n in db.session.execute(query):
        found.setdefault((_as_date(on), item_position, item_id, kind), {})[st] = int(n)
    return [
        (on, item_id, kind, counts)
        for (on, _, item_id, kind), counts in sorted(found.items(), key=lambda kv: kv[0])
    ]


def _area_titles(plan: Plan) -> dict[int | None, str]:
    """Each section's top-level section title ("" for items outside any section)."""
    sections = plan_sections(plan.id)
    parents = {s.id: s.parent_id for s in sections}
    by_id = {s.id: s for s in sections}
    titles: dict[int | None, str] = {}
    for s in sections:
        top = s.id
        while parents.get(top) is not None:
            top = parents[top]  # type: ignore[assignment]
        t = by_id[top]
        titles[s.id] = section_label(t.number, t.title)
    return titles
