"""The timeline (Gantt-like): milestones across a year, grouped by unit or by area, paged by group.

By unit, each row is one assignment with its own milestones. By area (top-level section), each
row is one item, and a marker stands for the item's milestones of one kind on one date across
the assignments the user may see, with how many are done, overdue and open.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from math import ceil

from sqlalchemy import case, func, select
from sqlalchemy.orm import contains_eager, selectinload
from sqlalchemy.sql.elements import ColumnElement

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.sections import section_label
from taskhub.ledger.lights import effective_due
from taskhub.ledger.services import plan_sections, visible_to
from taskhub.plans.models import Item, Plan, Section
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus
from taskhub.units.models import Unit

#: Groups per page: a unit has up to ~100 rows, an area a few dozen items.
GROUPS_PER_PAGE = {"unit": 3, "area": 5}
#: Which state a marker that stands for several milestones takes, most urgent first.
STATE_ORDER = ("overdue", "open", "done", "waived")


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
    item: Item
    assignment_id: int | None
    markers: list[Marker] = field(default_factory=list)
    #: Milestones dated outside the year shown.
    outside: int = 0


@dataclass
class Group:
    title: str
    rows: list[Row]


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
    groups: list[Group]
    page: int
    pages: int
    total_groups: int

    @property
    def grid(self) -> str:
        """CSS background layers drawing a line at each month's start (one per table)."""
        return ", ".join(
            f"linear-gradient(#d1d9e0, #d1d9e0) {m.left}% 0 / 1px 100% no-repeat"
            for m in self.months[1:]
        )


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


def state_of(milestone: Milestone, today: date) -> str:
    if milestone.status == MilestoneStatus.DONE.value:
        return "done"
    if milestone.status == MilestoneStatus.WAIVED.value:
        return "waived"
    return "overdue" if milestone.effective_due_on < today else "open"


def build(plan: Plan, *, group: str, viewer: User, today: date, year: int, page: int) -> Timeline:
    """One page of groups of the plan's timeline for ``year``, as ``viewer`` may see it."""
    if group == "area":
        groups, total = _by_area(plan, viewer, today, year, page)
    else:
        groups, total = _by_unit(plan, viewer, today, year, page)
    pages = max(1, ceil(total / GROUPS_PER_PAGE[group]))
    return Timeline(
        plan=plan,
        group=group,
        year=year,
        today=today,
        today_left=position(today, year) if today.year == year else None,
        months=months_of(year),
        groups=groups,
        page=min(page, pages),
        pages=pages,
        total_groups=total,
    )


def _by_unit(
    plan: Plan, viewer: User, today: date, year: int, page: int
) -> tuple[list[Group], int]:
    in_plan = select(Assignment.unit_id).join(Item, Item.id == Assignment.item_id)
    in_plan = in_plan.where(Item.plan_id == plan.id)
    scope = visible_to(viewer)
    if scope is not None:
        in_plan = in_plan.where(scope)
    units_query = select(Unit).where(Unit.id.in_(in_plan))
    total = db.session.scalar(select(func.count()).select_from(units_query.subquery())) or 0
    size = GROUPS_PER_PAGE["unit"]
    page = min(page, max(1, ceil(total / size)))
    units = list(
        db.session.scalars(units_query.order_by(Unit.id).limit(size).offset((page - 1) * size))
    )
    if not units:
        return [], total
    assignments = db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id, Assignment.unit_id.in_([u.id for u in units]))
        .options(contains_eager(Assignment.item), selectinload(Assignment.milestones))
        .order_by(Item.position, Assignment.id)
    ).all()
    rows: dict[int, list[Row]] = {u.id: [] for u in units}
    for assignment in assignments:
        row = Row(item=assignment.item, assignment_id=assignment.id)
        for m in assignment.milestones:
            due = m.effective_due_on
            if due.year != year:
                row.outside += 1
                continue
            row.markers.append(
                Marker(
                    on=due,
                    state=state_of(m, today),
                    kind=m.kind,
                    left=position(due, year),
                    title=m.title,
                    original=m.due_on if m.extended_to else None,
                )
            )
        rows[assignment.unit_id].append(row)
    return [Group(u.name, rows[u.id]) for u in units], total


def _by_area(
    plan: Plan, viewer: User, today: date, year: int, page: int
) -> tuple[list[Group], int]:
    sections = plan_sections(plan.id)
    parents = {s.id: s.parent_id for s in sections}
    tops = {s.id: s for s in sections if s.parent_id is None}
    scope = visible_to(viewer)
    items_query = select(Item).where(Item.plan_id == plan.id).order_by(Item.position)
    if scope is not None:
        items_query = items_query.where(Item.id.in_(select(Assignment.item_id).where(scope)))
    by_top: dict[int | None, list[Item]] = {}
    for item in db.session.scalars(items_query):
        top = item.section_id
        while top is not None and parents.get(top) is not None:
            top = parents[top]
        by_top.setdefault(top, []).append(item)
    order: list[int | None] = [s.id for s in sections if s.id in tops and s.id in by_top]
    if None in by_top:
        order.append(None)  # items outside any section come last
    total = len(order)
    size = GROUPS_PER_PAGE["area"]
    page = min(page, max(1, ceil(total / size)))
    shown = order[(page - 1) * size : page * size]
    items = [item for top in shown for item in by_top[top]]
    markers = _item_markers([i.id for i in items], scope, today, year)
    groups = []
    for top in shown:
        section: Section | None = tops.get(top) if top is not None else None
        title = section_label(section.number, section.title) if section else ""
        rows = []
        for item in by_top[top]:
            found, outside = markers.get(item.id, ([], 0))
            rows.append(Row(item=item, assignment_id=None, markers=found, outside=outside))
        groups.append(Group(title, rows))
    return groups, total


def _item_markers(
    item_ids: list[int], scope: ColumnElement[bool] | None, today: date, year: int
) -> dict[int, tuple[list[Marker], int]]:
    """Item id → (markers of the year, milestones outside it), counted in one grouped query."""
    if not item_ids:
        return {}
    due = effective_due()
    state = case(
        (Milestone.status == MilestoneStatus.DONE.value, "done"),
        (Milestone.status == MilestoneStatus.WAIVED.value, "waived"),
        (due < today, "overdue"),
        else_="open",
    )
    query = (
        select(Assignment.item_id, Milestone.kind, due, state, func.count())
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .where(Assignment.item_id.in_(item_ids))
        .group_by(Assignment.item_id, Milestone.kind, due, state)
    )
    if scope is not None:
        query = query.where(scope)
    counts: dict[tuple[int, str, date], Counter[str]] = {}
    outside: Counter[int] = Counter()
    for item_id, kind, on, st, n in db.session.execute(query):
        if on.year != year:
            outside[item_id] += n
            continue
        counts.setdefault((item_id, kind, on), Counter())[st] += n
    out: dict[int, tuple[list[Marker], int]] = {i: ([], outside[i]) for i in item_ids}
    for (item_id, kind, on), by_state in sorted(counts.items(), key=lambda kv: kv[0][2]):
        state_now = next(s for s in STATE_ORDER if by_state.get(s))
        out[item_id][0].append(
            Marker(
                on=on,
                state=state_now,
                kind=kind,
                left=position(on, year),
                counts=dict(by_state),
            )
        )
    return out
