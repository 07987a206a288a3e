"""The dashboard's figures: one grouped SQL query each, and a cached ranking.

Every figure is computed by the database (GROUP BY over the plan's assignments or milestones),
so a plan with 100,000 assignments returns a few hundred grouped rows at most. The ranking is
the expensive part (the scoring roll-up takes seconds for thousands of units): it is cached in
the process and keyed by the audit trail's latest event, which every state change appends to.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import g as request_globals
from flask import has_request_context
from sqlalchemy import and_, bindparam, case, func, literal, literal_column, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from taskhub.accounts.models import User
from taskhub.calendar.services import WorkingCalendar
from taskhub.core import cache
from taskhub.core.db import db, now_utc
from taskhub.core.errors import PermissionDenied
from taskhub.core.sections import section_label
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Item, Plan, Section
from taskhub.scoring import live
from taskhub.scoring import services as scoring
from taskhub.scoring.schemes import engine_of, parse_period_code
from taskhub.tracking.lights import DUE_SOON_WORKING_DAYS, PACE_TOLERANCE
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    ExtensionRequest,
    ExtensionStatus,
    Milestone,
    MilestoneStatus,
)
from taskhub.units.models import Unit

#: Completion buckets of an assignment, in display order (mutually exclusive).
BUCKETS = ("done", "in_progress", "not_started", "overdue")
#: Units shown in the overdue / at-risk chart; the board lists the rest.
TOP_UNITS = 15
#: Units shown in the ranking; the rankings page lists every unit.
TOP_RANKED = 10
#: "Due soon" is today up to and including today + this many days.
DUE_WINDOW_DAYS = 14
DUE_PAGE_SIZE = 20

_OPEN = MilestoneStatus.OPEN.value
_COMPLETED = AssignmentStatus.COMPLETED.value


# -- who sees what ----------------------------------------------------------------------------


def unit_scope(user: User) -> int | None:
    """The unit whose figures a user is limited to; None means the whole plan.

    The office, administrators, assessors and viewers read every unit (as on the board); unit
    staff see their own unit's figures only. Raises PermissionDenied for a unit user without
    a unit (nothing to show).
    """
    if user.role in ("admin", "office", "assessor", "viewer"):
        return None
    if user.role == "unit" and user.unit_id is not None:
        return user.unit_id
    raise PermissionDenied("no dashboard for this account")


def plans_for(unit_id: int | None, *, include_archived: bool = False) -> list[Plan]:
    """Plans to choose from, in the plan list's order; a unit's: those it has work in.
    Archived plans only when asked (their dashboards stay reachable by URL)."""
    from taskhub.plans.services import in_everyday_lists

    query = select(Plan).order_by(Plan.year, Plan.code)
    if not include_archived:
        query = query.where(in_everyday_lists())
    if unit_id is not None:
        mine = (
            select(Item.plan_id)
            .join(Assignment, Assignment.item_id == Item.id)
            .where(Assignment.unit_id == unit_id)
            .distinct()
        )
        query = query.where(Plan.id.in_(mine))
    return list(db.session.scalars(query))


def everyday(plans: list[Plan]) -> list[Plan]:
    """Those of ``plans`` the everyday lists show (taskhub.plans.services.in_everyday_lists,
    in Python: the dashboard reads its plans once, archived ones included)."""
    from taskhub.plans.models import PlanStatus

    return [p for p in plans if p.status != PlanStatus.ARCHIVED.value]


# -- completion by area -------------------------------------------------------------------------


@dataclass
class AreaRow:
    """One top-level section (area) and its assignments by completion bucket."""

    area_id: int | None
    title: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percent(self, bucket: str) -> int:
        """Whole percent of the area's assignments, rounded half up (display only)."""
        if not self.total:
            return 0
        return (self.counts[bucket] * 200 + self.total) // (2 * self.total)


def areas_of(plan: Plan) -> tuple[dict[int, int], dict[int, str]]:
    """Each section's top-level section, and the top-level titles in plan order (one query)."""
    rows = db.session.execute(
        select(Section.id, Section.parent_id, Section.number, Section.title)
        .where(Section.plan_id == plan.id)
        .order_by(Section.position)
    ).all()
    parents = {sid: parent for sid, parent, _, _ in rows}
    titles = {
        sid: section_label(number, title) for sid, parent, number, title in rows if parent is None
    }
    top: dict[int, int] = {}
    for sid in parents:
        node, parent = sid, parents[sid]
        while parent is not None:
            node, parent = parent, parents.get(parent)
        top[sid] = node
    return top, titles


def _bucket_sums(today: date) -> list[ColumnElement[Any]]:
    """SUM(CASE …) per bucket; the buckets partition the assignments."""
    done = Assignment.status == _COMPLETED
    overdue = Assignment.overdue_on(today)
    # Nothing reported yet: not (or only) acknowledged at 0 percent, and not overdue.
    not_started = and_(
        Assignment.status.in_([AssignmentStatus.NEW.value, AssignmentStatus.ACKNOWLEDGED.value]),
        Assignment.percent == 0,
        ~overdue,
    )
    return [
        func.sum(case((done, 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
        func.sum(case((not_started, 1), else_=0)),
        func.count(),
    ]


def area_completion(
    plan: Plan,
    *,
    unit_id: int | None = None,
    today: date | None = None,
    fingerprint: Fingerprint | None = None,
) -> list[AreaRow]:
    """Assignments per area: done / in progress / not started / overdue (from the dates as of
    ``today``, as the ledger's red light: right at once, not only after the overdue scan).

    Applicable assignments only (按需 rows marked not applicable are left out). One grouped
    query by item (a plan has at most a few hundred), folded into areas here.
    """
    day = today or office_today()
    if unit_id is None and fingerprint is not None:
        # The whole plan's, cached for the day and the audit fingerprint like the risk figures,
        # and brought forward unit by unit after changes that name their unit.
        return _cached(
            ("areas", plan.id, day.isoformat()),
            lambda: _plan_areas(plan, day, fingerprint),
            fingerprint,
        )
    top, titles = areas_of(plan)
    query = (
        select(Item.id, Item.section_id, *_bucket_sums(day))
        .join(Assignment, Assignment.item_id == Item.id)
        .where(Item.plan_id == plan.id, ~Assignment.is_not_applicable)
        .group_by(Item.id)  # section_id depends on it
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    rows: dict[int | None, AreaRow] = {aid: AreaRow(aid, title) for aid, title in titles.items()}
    for _item_id, section_id, done, overdue, not_started, total in db.session.execute(query):
        area = top.get(section_id) if section_id is not None else None
        row = rows.get(area)
        if row is None:
            row = rows[area] = AreaRow(area, "")  # items outside any section
        row.counts["done"] += int(done or 0)
        row.counts["overdue"] += int(overdue or 0)
        row.counts["not_started"] += int(not_started or 0)
        row.counts["in_progress"] += (
            int(total) - int(done or 0) - int(overdue or 0) - int(not_started or 0)
        )
    return [r for r in rows.values() if r.total]


#: Per area: done, overdue, not started, all (in progress is the rest).
_AreaCounts = dict[int | None, tuple[int, int, int, int]]


@dataclass(frozen=True)
class _UnitFigures:
    """What the whole plan's dashboard holds per unit, from one grouped query: its applicable
    assignments per area and bucket, and its overdue and at-risk counts (units with none of
    either are left out of those two)."""

    areas: dict[int, _AreaCounts]
    overdue: dict[int, int]
    at_risk: dict[int, int]


def _unit_figures(
    plan: Plan, day: date, units: Collection[int] | None, fingerprint: Fingerprint
) -> _UnitFigures:
    """Each unit's figures (those of ``units`` only if given) as of ``day`` and the audit
    ``fingerprint``, counted once a request: the area and the risk figures are brought forward
    for the same units together."""
    if not has_request_context():
        return _count_unit_figures(plan, day, units)
    key = (plan.id, day, None if units is None else frozenset(units), fingerprint)
    memo: dict[tuple[Any, ...], _UnitFigures] = request_globals.setdefault(
        "dashboard_unit_figures", {}
    )
    if key not in memo:
        memo[key] = _count_unit_figures(plan, day, units)
    return memo[key]


def _count_unit_figures(plan: Plan, day: date, units: Collection[int] | None) -> _UnitFigures:
    """One grouped query by unit and area (see ``_unit_figures_query``)."""
    top, _titles = areas_of(plan)
    query = _unit_figures_query(
        plan.id, plan.year, day, due_soon_until(day), top if units is None else None
    )
    params = {} if units is None else {"units": sorted(units)}
    in_sql = units is None
    figures = _UnitFigures({}, {}, {})
    for uid, sid, done, overdue, not_started, total, risky in db.session.execute(query, params):
        area = sid if in_sql else top.get(sid) if sid is not None else None
        counts = figures.areas.setdefault(uid, {})
        old = counts.get(area, (0, 0, 0, 0))
        counts[area] = (
            old[0] + int(done or 0),
            old[1] + int(overdue or 0),
            old[2] + int(not_started or 0),
            old[3] + int(total),
        )
        if overdue:
            figures.overdue[uid] = figures.overdue.get(uid, 0) + int(overdue)
        if risky:
            figures.at_risk[uid] = figures.at_risk.get(uid, 0) + int(risky)
    return figures


#: The few units' statements built (plan, year, day, due-soon day): a view after a change
#: executes one again with other units instead of building its expressions anew.
_UNIT_QUERIES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_UNIT_QUERIES_LOCK = threading.Lock()


def _unit_figures_query(
    plan_id: int, year: int, day: date, soon_until: date, top: dict[int, int] | None
) -> Any:
    """Applicable assignments by unit and area and completion bucket, with the at-risk ones:
    the at-risk look at each candidate's milestones (a correlated subquery) is made only for
    unfinished tasks that are not overdue.

    For the whole plan (``top`` given) the areas are told apart in SQL (a CASE over the plan's
    sections: a few rows per unit). For a few units (bound as ``units``) the rows are grouped
    by section and folded into areas by the caller, and the statement is kept for the day:
    building that CASE, or the whole statement, costs more than running it."""
    key = (plan_id, year, day, soon_until)
    if top is None:
        with _UNIT_QUERIES_LOCK:
            held = _UNIT_QUERIES.get(key)
        if held is not None:
            return held
    section: Any = Item.section_id
    if top is not None:
        # Grouped by its name: PostgreSQL would not match two bound copies.
        areas = case(top, value=Item.section_id, else_=literal(None)) if top else literal(None)
        section = areas.label("area")
    candidate = and_(Assignment.status != _COMPLETED, ~Assignment.overdue_on(day))
    at_risk = _at_risk(day, soon_until, date(year, 1, 1))
    query = (
        select(
            Assignment.unit_id,
            section,
            *_bucket_sums(day),
            func.sum(case((candidate, at_risk), else_=0)),
        )
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan_id, ~Assignment.is_not_applicable)
        .group_by(Assignment.unit_id, section)
    )
    if top is None:
        query = query.where(Assignment.unit_id.in_(bindparam("units", expanding=True)))
        with _UNIT_QUERIES_LOCK:
            _UNIT_QUERIES[key] = query
            while len(_UNIT_QUERIES) > 16:
                _UNIT_QUERIES.popitem(last=False)
    return query


def _add(totals: dict[int | None, list[int]], counts: _AreaCounts, sign: int) -> None:
    for aid, values in counts.items():
        row = totals.setdefault(aid, [0, 0, 0, 0])
        for i, v in enumerate(values):
            row[i] += sign * v


def _plan_areas(plan: Plan, day: date, fingerprint: Fingerprint) -> list[AreaRow]:
    """The whole plan's completion by area as of ``fingerprint``: each unit's counts are held,
    so after changes that name their units (a report, a review, an extension, a score; as for
    the risk figures) only those units are counted again; after any other change, or on a new
    day, the plan is counted whole."""
    _top, titles = areas_of(plan)
    key = ("area_counts", plan.id, day.isoformat())
    held = cache.held(key)
    touched = None
    if held is not None and held[0] != fingerprint:
        touched = live.touched_units(held[0], fingerprint, live.UNTOUCHED)
    if held is not None and held[0] == fingerprint:
        per_unit, totals = held[1]
    elif held is not None and touched is not None and len(touched) <= live.MAX_TOUCHED:
        per_unit = dict(held[1][0])
        totals = {aid: list(values) for aid, values in held[1][1].items()}
        fresh = _unit_figures(plan, day, touched, fingerprint).areas if touched else {}
        for uid in touched:
            _add(totals, per_unit.pop(uid, {}), -1)
            if uid in fresh:
                per_unit[uid] = fresh[uid]
                _add(totals, fresh[uid], 1)
    else:
        per_unit = _unit_figures(plan, day, None, fingerprint).areas
        totals = {}
        for counts in per_unit.values():
            _add(totals, counts, 1)
    cache.store(key, fingerprint, (per_unit, totals))
    rows: dict[int | None, AreaRow] = {aid: AreaRow(aid, title) for aid, title in titles.items()}
    for aid, (done, overdue, not_started, total) in totals.items():
        row = rows.get(aid)
        if row is None:
            row = rows[aid] = AreaRow(aid, "")  # items outside any section
        row.counts["done"] += done
        row.counts["overdue"] += overdue
        row.counts["not_started"] += not_started
        row.counts["in_progress"] += total - done - overdue - not_started
    return [r for r in rows.values() if r.total]


# -- overdue and at risk by unit --------------------------------------------------------------


@dataclass(frozen=True)
class UnitRisk:
    unit_id: int
    name: str
    overdue: int
    at_risk: int


@dataclass
class RiskSummary:
    rows: list[UnitRisk]
    #: Units with anything overdue or at risk (rows holds the first TOP_UNITS of them).
    units: int = 0
    overdue: int = 0
    at_risk: int = 0
    #: Last day counted as "due soon" (DUE_SOON_WORKING_DAYS working days ahead).
    due_soon_until: date | None = None


def due_soon_until(today: date) -> date:
    """The last day within DUE_SOON_WORKING_DAYS working days of today (the yellow light)."""
    calendar = WorkingCalendar.load(today, today + timedelta(days=31))
    return calendar.add_working_days(today, DUE_SOON_WORKING_DAYS + 1) - timedelta(days=1)


def _days_since(day_expr: Any, start: date) -> Any:
    """Whole days from ``start`` to a date expression, on SQLite and PostgreSQL alike."""
    if db.session.get_bind().dialect.name == "sqlite":
        # Julian day numbers: dates are stored as ISO text on SQLite.
        return func.julianday(day_expr) - func.julianday(literal(start.isoformat()))
    return day_expr - literal(start)  # date - date is an integer on PostgreSQL


def _at_risk(today: date, soon_until: date, year_start: date) -> Any:
    """1 when an assignment's light is yellow (as taskhub.tracking.lights decides), else 0.

    Yellow: an open milestone due by ``soon_until``, or the reported percent trailing the
    time-elapsed pace (序时进度) by more than PACE_TOLERANCE. A correlated subquery over the
    assignment's own milestones (a handful, by index), evaluated only for rows the CASE
    reaches: assignments that are neither completed nor overdue.
    """
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    next_open = func.min(case((Milestone.status == _OPEN, due)))
    yellow: list[tuple[Any, int]] = [(next_open <= soon_until, 1)]
    elapsed = (today - year_start).days
    if elapsed > 0:
        span = _days_since(func.max(due), year_start)
        # percent + tolerance < 100 × min(1, elapsed / span), multiplied out by span > 0.
        behind = and_(
            span > 0,
            (Assignment.percent + PACE_TOLERANCE) * span
            < 100 * case((span < elapsed, span), else_=elapsed),
        )
        yellow.append((behind, 1))
    return (
        select(case(*yellow, else_=0))
        .where(Milestone.assignment_id == Assignment.id)
        .scalar_subquery()
    )


def _overdue_by_unit(plan: Plan, today: date, unit_id: int | None) -> dict[int, int]:
    """Unfinished assignments overdue as of ``today``, per unit: {unit id: count}.

    Grouped on the assignments alone (their stored next due date): the units' names are read
    for the rows shown only.
    """
    query = (
        select(Assignment.unit_id, func.count())
        .where(
            Assignment.item_id.in_(_plan_items(plan)),
            Assignment.overdue_on(today),
            ~Assignment.is_not_applicable,
        )
        .group_by(Assignment.unit_id)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    return {uid: int(n) for uid, n in db.session.execute(query)}


def _plan_items(plan: Plan) -> Any:
    return select(Item.id).where(Item.plan_id == plan.id).scalar_subquery()


def _at_risk_by_unit(
    plan: Plan,
    today: date,
    soon_until: date,
    unit_id: int | None,
) -> dict[int, int]:
    """Unfinished, not overdue assignments with a yellow light, per unit (one grouped query).

    The costly figure (a look at each candidate's milestones): callers cache it.
    """
    risk = func.sum(_at_risk(today, soon_until, date(plan.year, 1, 1)))
    query = (
        select(Assignment.unit_id, risk)
        .where(
            Assignment.item_id.in_(_plan_items(plan)),
            Assignment.status != _COMPLETED,
            ~Assignment.overdue_on(today),
            ~Assignment.is_not_applicable,
        )
        .group_by(Assignment.unit_id)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    return {uid: int(n) for uid, n in db.session.execute(query) if n}


def risk_by_unit(
    plan: Plan,
    today: date,
    *,
    unit_id: int | None = None,
    limit: int = TOP_UNITS,
    fingerprint: tuple[int, str] | None = None,
) -> RiskSummary:
    """Overdue and at-risk assignments per unit, most overdue first.

    Overdue is read from the dates as of ``today`` (the ledger's red light). At risk is a
    yellow light; finding it reads every candidate's milestones (hundreds of milliseconds for
    100,000 assignments). The whole plan's figures are cached for the day and the audit
    fingerprint (every change to a task, report, milestone or extension is audited), so they
    are right at once after any change; one unit's few assignments are counted each time.
    """
    if unit_id is None:
        fingerprint = fingerprint or audit_fingerprint()
        return _cached(
            ("risk", plan.id, today.isoformat(), limit),
            lambda: _risk_summary(plan, today, None, limit, fingerprint),
            fingerprint,
        )
    return _risk_summary(plan, today, unit_id, limit)


def _plan_risk_counts(
    plan: Plan, today: date, fingerprint: Fingerprint
) -> tuple[dict[int, int], dict[int, int]]:
    """The whole plan's overdue and at-risk counts per unit as of ``fingerprint``.

    Each unit's counts read its own assignments only: after changes that name their unit (a
    report submitted or reviewed, a task acknowledged, an extension requested or decided, a
    score; taskhub.scoring.live.touched_units) those units are counted again and the others
    kept; after any other change, or on a new day, the plan is counted whole.
    """
    key = ("risk_counts", plan.id, today.isoformat())
    held = cache.held(key)
    if held is not None and held[0] == fingerprint:
        return held[1]
    touched = live.touched_units(held[0], fingerprint, live.UNTOUCHED) if held is not None else None
    if held is not None and touched is not None and len(touched) <= live.MAX_TOUCHED:
        overdue, at_risk = dict(held[1][0]), dict(held[1][1])
        for uid in touched:
            overdue.pop(uid, None)
            at_risk.pop(uid, None)
        if touched:
            fresh = _unit_figures(plan, today, touched, fingerprint)
            overdue.update(fresh.overdue)
            at_risk.update(fresh.at_risk)
    else:
        figures = _unit_figures(plan, today, None, fingerprint)
        overdue, at_risk = dict(figures.overdue), dict(figures.at_risk)
    cache.store(key, fingerprint, (overdue, at_risk))
    return overdue, at_risk


def _risk_summary(
    plan: Plan,
    today: date,
    unit_id: int | None,
    limit: int,
    fingerprint: Fingerprint | None = None,
) -> RiskSummary:
    soon_until = due_soon_until(today)
    if unit_id is None and fingerprint is not None:
        overdue, at_risk = _plan_risk_counts(plan, today, fingerprint)
    else:
        overdue = _overdue_by_unit(plan, today, unit_id)
        at_risk = _at_risk_by_unit(plan, today, soon_until, unit_id)
    counts = sorted(
        ((-overdue.get(uid, 0), -at_risk.get(uid, 0), uid) for uid in {*overdue, *at_risk}),
    )
    # Names break ties in the order: read those of the rows shown and of any tied with them.
    cut = counts[min(limit, len(counts)) - 1][:2] if counts else (0, 0)
    wanted = [uid for o, r, uid in counts if (o, r) <= cut]
    names = _unit_names(wanted)
    rows = sorted(
        (UnitRisk(uid, names.get(uid, ""), -o, -r) for o, r, uid in counts if uid in names),
        key=lambda r: (-r.overdue, -r.at_risk, r.name, r.unit_id),
    )
    return RiskSummary(
        rows=rows[:limit],
        units=len(counts),
        overdue=sum(overdue.values()),
        at_risk=sum(at_risk.values()),
        due_soon_until=soon_until,
    )


def _unit_names(unit_ids: list[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for start in range(0, len(unit_ids), 500):  # bounded IN lists
        chunk = unit_ids[start : start + 500]
        rows = db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(chunk)))
        names.update({uid: name for uid, name in rows})
    return names


# -- due in the next two weeks ------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRef:
    """What the due-soon table shows of an item (plain values: the page's figures are cached
    across requests, an ORM object would not outlive its session)."""

    id: int
    label: str
    title: str | None
    text: str


@dataclass
class DueGroup:
    """Open milestones of one item due on one day (one row per unit when only one is due)."""

    due_on: date
    item_id: int
    kind: str
    count: int
    assignment_id: int  #: the first assignment; the link when count == 1
    unit_id: int
    item: ItemRef | None = None
    unit_name: str | None = None


@dataclass
class DueSoon:
    start: date
    end: date
    groups: list[DueGroup]  #: this page's groups
    page: int
    page_size: int
    total_groups: int
    total: int  #: open milestones due in the window
    per_day: list[tuple[date, int]]  #: every day of the window, zeros included


def due_soon(
    plan: Plan,
    today: date,
    *,
    unit_id: int | None = None,
    page: int = 1,
    page_size: int = DUE_PAGE_SIZE,
    days: int = DUE_WINDOW_DAYS,
    fingerprint: Fingerprint | None = None,
) -> DueSoon:
    """Open milestones due (extensions applied) from today to today + ``days``, both included.

    Grouped by day, item and kind in SQL, so a month-end checkpoint of 2,000 units is one row
    (at most items × kinds × days rows, whatever the number of units); the page's items and
    single units are then read by id (two small queries). With ``fingerprint`` (the settled
    one: taskhub.core.cache.settled_fingerprint), the whole plan's first page is cached for
    the day and that fingerprint, as the ranking (every change to a milestone, an extension,
    a unit or an item is audited, and none of them is settled-neutral).
    """
    if fingerprint is not None and unit_id is None and page == 1:
        return _cached(
            ("due", plan.id, today.isoformat(), page_size, days),
            lambda: due_soon(plan, today, page_size=page_size, days=days),
            fingerprint,
        )
    end = today + timedelta(days=days)
    # Open milestones by the partial index on due_on (its condition must appear verbatim,
    # not as a bound parameter, for SQLite to use it). Two branches so both are index ranges:
    # due in the window and not extended beyond it, or extended into the window, which only an
    # approved extension request does (found through that small table, not a full scan).
    is_open = Milestone.status == literal_column("'open'")
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    in_window = select(Milestone.assignment_id, due.label("due"), Milestone.kind).where(
        is_open,
        Milestone.due_on.between(today, end),
        or_(Milestone.extended_to.is_(None), Milestone.extended_to <= end),
    )
    extended = (
        select(ExtensionRequest.milestone_id)
        .where(
            ExtensionRequest.status == ExtensionStatus.APPROVED.value,
            ExtensionRequest.requested_due_on.between(today, end),
        )
        .scalar_subquery()
    )
    extended_into = select(Milestone.assignment_id, due.label("due"), Milestone.kind).where(
        is_open,
        Milestone.id.in_(extended),
        Milestone.due_on < today,
        Milestone.extended_to.between(today, end),
    )
    m = union_all(in_window, extended_into).subquery()
    query = (
        select(
            m.c.due,
            Item.id,
            m.c.kind,
            func.count(),
            func.min(Assignment.id),
            func.min(Assignment.unit_id),
        )
        .join(Assignment, Assignment.id == m.c.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id, ~Assignment.is_not_applicable)
        .group_by(m.c.due, Item.id, Item.position, m.c.kind)
        .order_by(m.c.due, Item.position, m.c.kind)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    groups = [
        DueGroup(_as_date(d), iid, kind, int(n), aid, uid)
        for d, iid, kind, n, aid, uid in db.session.execute(query)
    ]
    per_day = dict.fromkeys((today + timedelta(days=i) for i in range(days + 1)), 0)
    for g in groups:
        per_day[g.due_on] = per_day.get(g.due_on, 0) + g.count
    page = max(1, page)
    shown = groups[(page - 1) * page_size : page * page_size]
    items = {
        i.id: ItemRef(i.id, i.label, i.title, i.text)
        for i in db.session.scalars(select(Item).where(Item.id.in_({g.item_id for g in shown})))
    }
    single = {g.unit_id for g in shown if g.count == 1}
    names = (
        dict(db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(single))).all())
        if single
        else {}
    )
    for g in shown:
        g.item = items.get(g.item_id)
        g.unit_name = names.get(g.unit_id) if g.count == 1 else None
    return DueSoon(
        start=today,
        end=end,
        groups=shown,
        page=page,
        page_size=page_size,
        total_groups=len(groups),
        total=sum(g.count for g in groups),
        per_day=sorted(per_day.items()),
    )


def _as_date(value: Any) -> date:
    # COALESCE of two dates comes back as text on SQLite.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- the ranking, cached ------------------------------------------------------------------------

_PERIOD_KIND_ORDER = ("month", "half_year", "year")


def current_period(codes: list[str], today: date) -> str | None:
    """The period a dashboard shows by default: the finest kind the plan is scored by,
    the one containing today; after the plan's year its last one, before it its first one.

    ``codes`` are the scoring pages' periods of the plan (taskhub.scoring.views.period_codes);
    the rankings page itself opens on the first of them, which is not "current" later on.
    """
    parsed = [(code, *parse_period_code(code)) for code in codes]
    for kind in _PERIOD_KIND_ORDER:
        of_kind = [p for p in parsed if p[1] == kind]
        if not of_kind:
            continue
        for code, _, starts, ends in of_kind:
            if starts <= today <= ends:
                return code
        ended = [p for p in of_kind if p[3] < today]
        return (ended[-1] if ended else of_kind[0])[0]
    return None


@dataclass(frozen=True)
class RankRow:
    unit_id: int
    unit_name: str
    rank: int | None
    previous_rank: int | None
    total: Decimal

    @property
    def change(self) -> int | None:
        """Places gained since the previous period (positive: moved up)."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank


@dataclass(frozen=True)
class Ranking:
    plan_id: int
    period: str
    rows: tuple[RankRow, ...]
    rounding: int
    #: When the figures were computed (UTC), or when the period was frozen.
    computed_at: datetime
    #: The snapshot revision when the period is closed; None for a live ranking.
    revision: int | None = None

    @property
    def has_scores(self) -> bool:
        """Whether anything was scored: a period where every total is zero ranks no one
        (everyone "first" with 0 is no ranking), and pages say so instead."""
        return any(r.total for r in self.rows)

    def top(self, n: int = TOP_RANKED, unit_id: int | None = None) -> list[RankRow]:
        """The first ``n`` rows, plus ``unit_id``'s row when it is further down."""
        rows = list(self.rows[:n])
        if unit_id is not None and all(r.unit_id != unit_id for r in rows):
            rows += [r for r in self.rows if r.unit_id == unit_id]
        return rows


# -- the cache (taskhub.core.cache) -------------------------------------------------------------

# Re-exported: the dashboard's views and tests read the fingerprint and the cache from here.
audit_fingerprint = cache.audit_fingerprint
clear_cache = cache.clear_cache
cached_keys = cache.cached_keys
_cached = cache.cached
Fingerprint = cache.Fingerprint


def ranking(plan: Plan, period: str, *, fingerprint: tuple[int, str] | None = None) -> Ranking:
    """The plan's ranking for a period with the change against the previous one.

    A closed period answers from its latest snapshot (frozen), an open one from the live
    totals (taskhub.scoring.live: after a change that names its unit, that unit is counted
    again and the plan ranked again; else the plan is rolled up); either is cached until the
    audit trail moves. Raises DomainError for a plan without a scoring scheme or a period it
    is not scored by. May add the period row on first use (as the rankings page does): the
    caller commits.
    """

    settled = live.score_key(plan, fingerprint)

    def compute() -> Ranking:
        spec = engine_of(plan)
        rows, snapshot = scoring.results(plan, period, settled=settled)
        return Ranking(
            plan_id=plan.id,
            period=period,
            rows=tuple(
                RankRow(r.unit_id, r.unit_name, r.rank, r.previous_rank, r.total) for r in rows
            ),
            rounding=spec.rounding,
            computed_at=snapshot.created_at if snapshot is not None else now_utc(),
            revision=snapshot.revision if snapshot is not None else None,
        )

    return _cached(("ranking", plan.id, period, live.score_day(plan)), compute, settled)
