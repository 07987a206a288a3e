"""Reporting windows, 未按时报送 and 报送率, computed from dates at read time.

A cadence (taskhub.cadence.models.ReportingCadence) cuts time into reporting windows: each
window runs from the day after the previous due day to its own due day, both included (the
first from the cadence's start). A window is *reported* when the assignment has any progress
report (whatever its review status) submitted on an office-local day within the window. A
window is *closed* once its due day has passed. An assignment is flagged 未按时报送 when it is
open (not completed, applicable), its latest closed window has no report, and no report has come
since that window began (a late report clears the tag; the window still counts as missed in
报送率). 报送率 = reported closed windows / closed windows, over a unit's assignments; a window
counts for an assignment only if it ended after the assignment was created and, for a completed
one, before it was completed.

Everything a whole plan needs is read in one query: the windows are a small constant table
(a CTE of literals) joined to the assignments and their reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from taskhub.audit import services as audit
from taskhub.cadence.models import CADENCE_KINDS, CadenceKind, ReportingCadence
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import UTCDateTime, db
from taskhub.core.errors import ValidationFailed
from taskhub.core.timeutil import local_time, office_zone
from taskhub.plans.models import ACTIVE_PLAN_STATUSES, Item, Plan, Section
from taskhub.tracking.models import Assignment, AssignmentStatus, ProgressReport
from taskhub.units.models import Unit

ONE_DAY = timedelta(days=1)
#: The dates a cadence may start on and be read at: the working-day calendar's years, and a
#: bound on the number of windows one read builds.
EARLIEST = date(2015, 1, 1)
LATEST = date(2100, 12, 31)


@dataclass(frozen=True)
class Window:
    """One reporting period: a report is due by the end of ``due_on`` (office time)."""

    index: int
    starts_on: date
    due_on: date


def start_of(cadence: ReportingCadence) -> date:
    """The first window's first day: the start set, or the day the cadence was set."""
    if cadence.starts_on is not None:
        return cadence.starts_on
    return local_time(cadence.created_at).date() if cadence.created_at else date.today()


def _nominal_due_days(cadence: ReportingCadence, start: date) -> Iterable[date]:
    """Due days on or after ``start`` before any holiday shift (endless)."""
    day = cadence.day if cadence.day is not None else 0
    if cadence.kind == CadenceKind.MONTHLY.value:
        month = start.replace(day=1)
        while True:
            # relativedelta(day=31) stops at the month's last day (30, 28 or 29).
            yield month + relativedelta(day=day)
            month += relativedelta(months=1)
    elif cadence.kind == CadenceKind.WEEKLY.value:
        due = start + timedelta(days=(day - start.weekday()) % 7)
        while True:
            yield due
            due += timedelta(days=7)


def windows(
    cadence: ReportingCadence, until: date, calendar: WorkingCalendar | None = None
) -> list[Window]:
    """The cadence's windows from its start up to the one open on ``until`` (included)."""
    if cadence.kind == CadenceKind.NONE.value:
        return []
    start = start_of(cadence)
    until = min(until, LATEST)
    if until < start:
        return []
    if calendar is None and cadence.is_shifted_to_working_day:
        calendar = WorkingCalendar.load(start, until + timedelta(days=62))
    found: list[Window] = []
    first_day = start
    for nominal in _nominal_due_days(cadence, start):
        due = nominal
        if cadence.is_shifted_to_working_day and calendar is not None:
            due = calendar.add_working_days(nominal, 0)  # the day itself or the next working day
        if due < first_day:
            continue  # a due day before the start, or a shift that caught up with the next one
        found.append(Window(len(found), first_day, due))
        if due >= until:
            return found
        first_day = due + ONE_DAY
    return found  # pragma: no cover - the generator is endless


# -- the cadence that applies ---------------------------------------------------------------------


def plan_cadence(plan: Plan) -> ReportingCadence | None:
    return db.session.scalar(
        select(ReportingCadence).where(
            ReportingCadence.plan_id == plan.id, ReportingCadence.section_id.is_(None)
        )
    )


def section_cadences(plan: Plan) -> list[ReportingCadence]:
    return list(
        db.session.scalars(
            select(ReportingCadence)
            .join(Section, Section.id == ReportingCadence.section_id)
            .where(ReportingCadence.plan_id == plan.id)
            .order_by(Section.position)
        )
    )


def section_cadences_of(plan: Plan, section: Section) -> ReportingCadence | None:
    """The override set on ``section`` itself, if any."""
    return db.session.scalar(
        select(ReportingCadence).where(
            ReportingCadence.plan_id == plan.id, ReportingCadence.section_id == section.id
        )
    )


def _section_map(
    plan_ids: Iterable[int], by_section: dict[int, ReportingCadence]
) -> dict[int, int]:
    """section id → cadence id for every section under an overridden one (nearest wins)."""
    if not by_section:
        return {}
    parents: dict[int, int | None] = {
        section_id: parent_id
        for section_id, parent_id in db.session.execute(
            select(Section.id, Section.parent_id).where(Section.plan_id.in_(list(plan_ids)))
        )
    }
    mapped: dict[int, int] = {}
    for section_id in parents:
        node: int | None = section_id
        while node is not None:
            if node in by_section:
                mapped[section_id] = by_section[node].id
                break
            node = parents.get(node)
    return mapped


# -- the one query --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowFact:
    """One assignment in one window that has begun."""

    assignment_id: int
    unit_id: int
    is_completed: bool
    cadence_id: int
    window: Window
    is_closed: bool
    #: A report submitted within the window.
    is_reported: bool
    #: A report submitted on or after the window's first day (late ones included).
    has_report_since: bool


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), office_zone()).astimezone(UTC)


@dataclass(frozen=True)
class _Windows:
    """The windows of whole plans as a table, the cadence each item follows, and the rule of
    which windows an assignment owes."""

    table: Any
    effective: ColumnElement[Any]
    by_id: dict[int, dict[int, Window]]

    def owed(self) -> list[ColumnElement[bool]]:
        w = self.table
        return [
            Assignment.is_not_applicable.is_(False),
            # Windows that ended before the assignment existed, or after it was completed,
            # owe nothing.
            w.c.end_at > Assignment.created_at,
            or_(
                Assignment.status != AssignmentStatus.COMPLETED.value,
                and_(Assignment.completed_at.is_not(None), w.c.end_at <= Assignment.completed_at),
            ),
        ]


def _windows_of(
    today: date,
    plan_ids: list[int],
    *,
    due_from: date | None = None,
    due_to: date | None = None,
    active_only: bool = True,
) -> _Windows | None:
    """The windows of the plans' cadences up to ``today``; ``due_from``/``due_to`` keep only
    those due within those days (a scoring period's); ``active_only`` leaves out plans no longer
    published (they owe no more reports)."""
    # Only published plans take reports; a closed or archived plan owes none (its periods would
    # otherwise keep closing unreported).
    query_cadences = select(ReportingCadence).where(ReportingCadence.plan_id.in_(plan_ids))
    if active_only:
        query_cadences = query_cadences.join(Plan, Plan.id == ReportingCadence.plan_id).where(
            Plan.status.in_(ACTIVE_PLAN_STATUSES)
        )
    cadences = list(db.session.scalars(query_cadences))
    if not cadences:
        return None
    by_plan = {c.plan_id: c for c in cadences if c.section_id is None}
    by_section = {c.section_id: c for c in cadences if c.section_id is not None}
    sections = _section_map(plan_ids, by_section)
    calendar = WorkingCalendar.load(min(start_of(c) for c in cadences), today + timedelta(days=62))
    by_id: dict[int, dict[int, Window]] = {}
    window_rows = []
    for cadence in cadences:
        spans = windows(cadence, today, calendar)
        by_id[cadence.id] = {w.index: w for w in spans}
        window_rows += [
            select(
                literal(cadence.id, Integer).label("cadence_id"),
                literal(w.index, Integer).label("idx"),
                literal(_utc_midnight(w.starts_on), UTCDateTime()).label("start_at"),
                literal(_utc_midnight(w.due_on + ONE_DAY), UTCDateTime()).label("end_at"),
                literal(w.due_on < today).label("is_closed"),
            )
            for w in spans
            if (due_from is None or w.due_on >= due_from) and (due_to is None or w.due_on <= due_to)
        ]
    if not window_rows:
        return None
    w = _windows_table(window_rows)
    plan_cadence_id = case(
        {plan_id: c.id for plan_id, c in by_plan.items()}, value=Item.plan_id, else_=None
    )
    effective: ColumnElement[Any]
    if sections:
        section_cadence_id = case(sections, value=Item.section_id, else_=None)
        effective = func.coalesce(section_cadence_id, plan_cadence_id)
    elif len(by_plan) == 1 and len(plan_ids) == 1:
        # One plan, no section overrides: every item follows the plan's cadence (a plain
        # equality lets the database join the windows without a CASE per row).
        effective = literal(next(iter(by_plan.values())).id, Integer)
    else:
        effective = plan_cadence_id
    return _Windows(w, effective, by_id)


def _pairs(
    today: date,
    plan_ids: list[int],
) -> tuple[Any, dict[int, dict[int, Window]]] | None:
    """The (assignment, window) query of whole plans, and the windows by cadence and index."""
    found = _windows_of(today, plan_ids)
    if found is None:
        return None
    w, effective = found.table, found.effective
    in_plans = select(Assignment.id).join(Item, Item.id == Assignment.item_id)
    in_plans = in_plans.where(Item.plan_id.in_(plan_ids))
    # Each assignment's latest report (for "reported since the window began"): one aggregate,
    # so the window join below only meets the reports inside each window.
    last = (
        select(
            ProgressReport.assignment_id.label("assignment_id"),
            func.max(ProgressReport.submitted_at).label("last_at"),
        )
        .where(ProgressReport.assignment_id.in_(in_plans))
        .group_by(ProgressReport.assignment_id)
        .subquery("last_reports")
    )
    query = (
        select(
            Assignment.id.label("assignment_id"),
            Assignment.unit_id.label("unit_id"),
            Assignment.status.label("status"),
            w.c.cadence_id,
            w.c.idx,
            w.c.is_closed,
            last.c.last_at,
            func.count(ProgressReport.id).label("reports"),
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(w, w.c.cadence_id == effective)
        .outerjoin(last, last.c.assignment_id == Assignment.id)
        .outerjoin(
            ProgressReport,
            and_(
                ProgressReport.assignment_id == Assignment.id,
                ProgressReport.submitted_at >= w.c.start_at,
                ProgressReport.submitted_at < w.c.end_at,
            ),
        )
        .where(Item.plan_id.in_(plan_ids), *found.owed())
        .group_by(
            Assignment.id,
            Assignment.unit_id,
            Assignment.status,
            w.c.cadence_id,
            w.c.idx,
            w.c.is_closed,
            last.c.last_at,
        )
    )
    return query, found.by_id


def facts(
    today: date,
    *,
    plan_ids: Iterable[int] | None = None,
    assignment_ids: Iterable[int] | None = None,
) -> list[WindowFact]:
    """Every (assignment, window) pair of the given plans or assignments, in one query."""
    if assignment_ids is not None:
        assignment_ids = list(assignment_ids)
        if not assignment_ids:
            return []
        plan_ids = db.session.scalars(
            select(Item.plan_id)
            .join(Assignment, Assignment.item_id == Item.id)
            .where(Assignment.id.in_(assignment_ids))
            .distinct()
        ).all()
    built = _pairs(today, list(plan_ids or []))
    if built is None:
        return []
    query, by_id = built
    if assignment_ids is not None:
        query = query.where(Assignment.id.in_(assignment_ids))
    found: list[WindowFact] = []
    for (
        assignment_id,
        unit_id,
        status,
        cadence_id,
        idx,
        is_closed,
        last_at,
        reported,
    ) in db.session.execute(query).all():
        window = by_id[cadence_id][idx]
        found.append(
            WindowFact(
                assignment_id,
                unit_id,
                status == AssignmentStatus.COMPLETED.value,
                cadence_id,
                window,
                bool(is_closed),
                int(reported or 0) > 0,
                last_at is not None and last_at >= _utc_midnight(window.starts_on),
            )
        )
    return found


def has_cadence(plan: Plan) -> bool:
    """Whether the plan (or one of its sections) sets a reporting cadence other than none."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(ReportingCadence)
            .where(
                ReportingCadence.plan_id == plan.id,
                ReportingCadence.kind != CadenceKind.NONE.value,
            )
        )
        or 0
    ) > 0


def _period_windows(plan: Plan, starts_on: date, ends_on: date, today: date) -> _Windows | None:
    """The windows due from ``starts_on`` to ``ends_on`` that had closed by ``today``, whatever
    the plan's status now (a closed plan keeps the windows that fell due while it ran)."""
    last = min(ends_on, today - ONE_DAY)
    return _windows_of(today, [plan.id], due_from=starts_on, due_to=last, active_only=False)


def period_rates(
    plan: Plan, starts_on: date, ends_on: date, today: date, *, unit_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """Per unit: (reports owed, reports made on time) over the windows due from ``starts_on``
    to ``ends_on`` that had closed by ``today`` (a scoring period's 报送率).

    One statement of two grouped parts: the windows owed (assignments × windows), and the
    windows reported (each report placed in its window, distinct per assignment and window);
    no per-window report lookup and no per-unit query."""
    found = _period_windows(plan, starts_on, ends_on, today)
    if found is None:
        return {}
    w = found.table
    mine = [Item.plan_id == plan.id, *found.owed()]
    if unit_id is not None:
        mine.append(Assignment.unit_id == unit_id)
    owed = (
        select(Assignment.unit_id.label("unit_id"), literal(0).label("part"), func.count())
        .join(Item, Item.id == Assignment.item_id)
        .join(w, w.c.cadence_id == found.effective)
        .where(*mine)
        .group_by(Assignment.unit_id)
    )
    reported_windows = (
        select(Assignment.unit_id.label("unit_id"), Assignment.id, w.c.cadence_id, w.c.idx)
        .distinct()
        .join(Item, Item.id == Assignment.item_id)
        .join(w, w.c.cadence_id == found.effective)
        .join(ProgressReport, ProgressReport.assignment_id == Assignment.id)
        .where(
            *mine,
            ProgressReport.submitted_at >= w.c.start_at,
            ProgressReport.submitted_at < w.c.end_at,
        )
        .subquery("reported_windows")
    )
    r = reported_windows.c
    reported = select(r.unit_id, literal(1).label("part"), func.count()).group_by(r.unit_id)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for uid, part, n in db.session.execute(union_all(owed, reported)):
        counts[uid][int(part)] = int(n)
    return {uid: (due, done) for uid, (due, done) in counts.items() if due}


def period_misses(
    plan: Plan, starts_on: date, ends_on: date, today: date, *, unit_id: int | None = None
) -> list[tuple[int, int, date]]:
    """(unit, assignment, due day) of every report missed in those windows, by due day (for
    explanations)."""
    found = _period_windows(plan, starts_on, ends_on, today)
    if found is None:
        return []
    w = found.table
    reported = exists().where(
        ProgressReport.assignment_id == Assignment.id,
        ProgressReport.submitted_at >= w.c.start_at,
        ProgressReport.submitted_at < w.c.end_at,
    )
    query = (
        select(Assignment.unit_id, Assignment.id, w.c.cadence_id, w.c.idx)
        .join(Item, Item.id == Assignment.item_id)
        .join(w, w.c.cadence_id == found.effective)
        .where(Item.plan_id == plan.id, *found.owed(), ~reported)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    missed = [
        (uid, aid, found.by_id[cid][idx].due_on) for uid, aid, cid, idx in db.session.execute(query)
    ]
    return sorted(missed, key=lambda m: (m[0], m[2], m[1]))


#: SQLite allows 500 terms in one compound SELECT; longer window lists are unions of unions.
_UNION_CHUNK = 400


def _windows_table(rows: list[Any]) -> Any:
    """The windows as a CTE of literal rows (a union of unions past SQLite's limit)."""
    if len(rows) <= _UNION_CHUNK:
        return union_all(*rows).cte("cadence_windows")
    chunks = [
        select(union_all(*rows[i : i + _UNION_CHUNK]).subquery())
        for i in range(0, len(rows), _UNION_CHUNK)
    ]
    return union_all(*chunks).cte("cadence_windows")


def latest_closed(found: Iterable[WindowFact]) -> dict[int, WindowFact]:
    """Each assignment's latest closed window."""
    latest: dict[int, WindowFact] = {}
    for fact in found:
        if not fact.is_closed:
            continue
        seen = latest.get(fact.assignment_id)
        if seen is None or fact.window.due_on > seen.window.due_on:
            latest[fact.assignment_id] = fact
    return latest


def missing(found: Iterable[WindowFact]) -> dict[int, Window]:
    """未按时报送: open assignments whose latest closed window went unreported (and still is)."""
    return {
        assignment_id: fact.window
        for assignment_id, fact in latest_closed(found).items()
        if not fact.is_completed and not fact.has_report_since
    }


def missing_for(assignment_ids: Iterable[int], today: date) -> dict[int, Window]:
    """The flagged ones among ``assignment_ids`` (for a page's rows)."""
    return missing(facts(today, assignment_ids=assignment_ids))


@dataclass(frozen=True)
class UnitRate:
    unit_id: int
    unit_name: str
    #: Closed windows owed, summed over the unit's assignments.
    due: int
    reported: int
    #: Open assignments flagged 未按时报送 now.
    missing: int

    @property
    def rate(self) -> Decimal | None:
        """报送率 in percent (one decimal), None when nothing was owed yet."""
        if not self.due:
            return None
        return (Decimal(100) * self.reported / self.due).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )


def unit_rates(plan_ids: Iterable[int], today: date) -> list[UnitRate]:
    """报送率 per unit over the plans' closed windows, best first (ties by name)."""
    found = facts(today, plan_ids=plan_ids)
    due: dict[int, int] = defaultdict(int)
    reported: dict[int, int] = defaultdict(int)
    units: set[int] = set()
    for fact in found:
        units.add(fact.unit_id)
        if fact.is_closed:
            due[fact.unit_id] += 1
            reported[fact.unit_id] += fact.is_reported
    flagged: dict[int, int] = defaultdict(int)
    unit_of = {f.assignment_id: f.unit_id for f in found}
    for assignment_id in missing(found):
        flagged[unit_of[assignment_id]] += 1
    names: dict[int, str] = {
        unit_id: name
        for unit_id, name in db.session.execute(
            select(Unit.id, Unit.name).where(Unit.id.in_(units))
        )
    }
    rates = [UnitRate(u, names[u], due[u], reported[u], flagged[u]) for u in units]
    return sorted(rates, key=lambda r: (-(r.rate or Decimal(-1)), r.unit_name))


# -- changing the cadence -------------------------------------------------------------------------

FIELDS = ("kind", "day", "starts_on", "is_shifted_to_working_day", "remind_days_before")


def _state(cadence: ReportingCadence | None) -> dict[str, Any] | None:
    if cadence is None:
        return None
    return {name: getattr(cadence, name) for name in FIELDS}


def check(kind: str, day: int | None) -> None:
    """The one rule for the form and the API: the day fits the kind."""
    if kind not in CADENCE_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(CADENCE_KINDS)}.")
    if kind == CadenceKind.MONTHLY.value and (day is None or not 1 <= day <= 31):
        raise ValidationFailed("A monthly cadence needs a day of the month (1-31).")
    if kind == CadenceKind.WEEKLY.value and (day is None or not 0 <= day <= 6):
        raise ValidationFailed("A weekly cadence needs a weekday (0 = Monday ... 6 = Sunday).")


def set_cadence(
    plan: Plan,
    *,
    actor_id: int,
    section: Section | None = None,
    kind: str,
    day: int | None = None,
    starts_on: date | None = None,
    is_shifted_to_working_day: bool = True,
    remind_days_before: int = 3,
) -> ReportingCadence:
    """Set the plan's cadence (or a section's override); audited with before and after."""
    check(kind, day)
    if remind_days_before < 0:
        raise ValidationFailed("remind_days_before must be 0 or more.")
    if starts_on is not None and not EARLIEST <= starts_on <= LATEST:
        raise ValidationFailed(f"starts_on must be from {EARLIEST} to {LATEST}.")
    if section is not None and section.plan_id != plan.id:
        raise ValidationFailed("The section is not in this plan.")
    query = select(ReportingCadence).where(ReportingCadence.plan_id == plan.id)
    query = query.where(
        ReportingCadence.section_id == section.id
        if section is not None
        else ReportingCadence.section_id.is_(None)
    )
    cadence = db.session.scalar(query)
    before = _state(cadence)
    if cadence is None:
        cadence = ReportingCadence(plan_id=plan.id, section_id=section.id if section else None)
        db.session.add(cadence)
    cadence.kind = kind
    cadence.day = None if kind == CadenceKind.NONE.value else day
    cadence.starts_on = starts_on
    cadence.is_shifted_to_working_day = is_shifted_to_working_day
    cadence.remind_days_before = remind_days_before
    db.session.flush()
    audit.record(
        "plan.cadence_set",
        "plan",
        plan.id,
        actor_id=actor_id,
        before=before,
        after={**(_state(cadence) or {}), "section": section.path if section else None},
    )
    return cadence


def clear_section_cadence(plan: Plan, section: Section, *, actor_id: int) -> bool:
    """Remove a section's override: its items follow the plan's cadence again."""
    cadence = db.session.scalar(
        select(ReportingCadence).where(
            ReportingCadence.plan_id == plan.id, ReportingCadence.section_id == section.id
        )
    )
    if cadence is None:
        return False
    before = _state(cadence)
    db.session.delete(cadence)
    db.session.flush()
    audit.record(
        "plan.cadence_cleared",
        "plan",
        plan.id,
        actor_id=actor_id,
        before={**(before or {}), "section": section.path},
    )
    return True


def as_dict(cadence: ReportingCadence | None) -> dict[str, Any]:
    """The cadence as the API and pages read it (kind none when never set)."""
    if cadence is None:
        return {
            "kind": CadenceKind.NONE.value,
            "day": None,
            "starts_on": None,
            "is_shifted_to_working_day": True,
            "remind_days_before": 3,
        }
    return {name: getattr(cadence, name) for name in FIELDS}
