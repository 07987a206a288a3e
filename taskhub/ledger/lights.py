"""The traffic-light rules of ``taskhub.tracking.lights`` as SQL, for filtering and sorting.

``light_for`` decides one assignment in Python from its loaded milestones; a ledger of 100,000
assignments must filter by light in the database instead. ``light_reason`` is the same decision
as one SQL CASE over correlated subqueries, branch for branch:

1. completed → green (completed)
2. an open milestone past its (extended) due date → red (overdue); that is, the stored next due
   date (``Assignment.next_due_on``, the earliest open one) is before today
3. the next open milestone due within ``DUE_SOON_WORKING_DAYS`` working days → yellow (due_soon).
   Working days come from the office calendar, so the caller turns "within N working days" into
   a date bound (``due_soon_before``) and SQL compares dates.
4. no milestones → grey (no_milestones): no date yet, so no light of its own
5. the percent trails the time-elapsed pace by more than ``PACE_TOLERANCE`` → yellow
   (behind_pace), with the same floating-point arithmetic as Python: min(1.0, a / b) * 100
6. otherwise green (on_track)

``light_is(color)`` is that CASE unrolled into a WHERE condition per colour (cheaper: red is a
range on the indexed next due date). Tests compare both with ``light_for`` row by row
(tests/test_ledger.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from taskhub.plans.models import Plan
from taskhub.tracking.lights import DUE_SOON_WORKING_DAYS, PACE_TOLERANCE, Calendar
from taskhub.tracking.models import Assignment, AssignmentStatus, Milestone

#: The colour of each reason (the reasons are those of ``tracking.lights.Light``).
COLOR_OF = {
    "completed": "green",
    "overdue": "red",
    "due_soon": "yellow",
    "no_milestones": "grey",
    "behind_pace": "yellow",
    "on_track": "green",
}
COLORS = ("red", "yellow", "green", "grey")
REASONS_OF = {c: tuple(r for r, color in COLOR_OF.items() if color == c) for c in COLORS}


class day_number(FunctionElement[int]):
    """Whole days since a fixed epoch, so that day_number(a) - day_number(b) = (a - b).days."""

    type = Integer()
    inherit_cache = True
    name = "day_number"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() of a plain date is N.5; the cast keeps differences exact integers.
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(day_number, "postgresql")
def _day_number_postgresql(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS DATE) - DATE '2000-01-01')"


class year_start(FunctionElement[date]):
    """1 January of an integer year column."""

    type = Date()
    inherit_cache = True
    name = "year_start"


@compiles(year_start, "sqlite")
def _year_start_sqlite(element: year_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"printf('%04d-01-01', {compiler.process(element.clauses, **kw)})"


@compiles(year_start, "postgresql")
def _year_start_postgresql(element: year_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"make_date({compiler.process(element.clauses, **kw)}, 1, 1)"


def effective_due() -> ColumnElement[date]:
    """A milestone's due date after any approved extension (``Milestone.effective_due_on``)."""
    return func.coalesce(Milestone.extended_to, Milestone.due_on)


def next_due() -> InstrumentedAttribute[date | None]:
    """The assignment's earliest open milestone date (NULL when none is open).

    Stored on the row (``Assignment.next_due_on``, indexed, kept on every milestone change), so
    filtering and sorting by it costs no subquery per row.
    """
    return Assignment.next_due_on


def due_soon_before(today: date, calendar: Calendar) -> date:
    """The first date that is no longer "due soon" (yellow) on ``today``.

    light_for: yellow when working_days_between(today, next_due) <= N. That count grows with
    next_due, so it holds exactly for next_due before the (N + 1)-th working day after today.
    """
    day = today
    # Walk day by day with the same counting rule light_for uses, so overrides apply.
    while calendar.working_days_between(today, day) <= DUE_SOON_WORKING_DAYS:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class _Parts:
    """The tests light_for makes, as SQL over the assignment row in the query."""

    completed: ColumnElement[bool]
    overdue: ColumnElement[bool]
    soon: ColumnElement[bool]
    any_milestone: ColumnElement[bool]
    #: Behind the pace; only meaningful when the assignment has milestones (end date known).
    behind: ColumnElement[bool]


def _before(bound: date) -> ColumnElement[bool]:
    """The next open milestone is due before ``bound``: never NULL, so NOT works as in Python."""
    return and_(Assignment.next_due_on.is_not(None), Assignment.next_due_on < bound)


def _parts(today: date, soon_before: date) -> _Parts:
    mine = Milestone.assignment_id == Assignment.id
    due = effective_due()
    end = select(func.max(due)).where(mine).correlate(Assignment).scalar_subquery()
    start = day_number(year_start(Plan.year))
    # light_for: behind when percent + tolerance < min(1.0, a / b) * 100, with a = today - year
    # start and b = end - year start, and only if a > 0 and b > 0. That is: percent + tolerance
    # < 100 and < (a / b) * 100 (the same floats). Each mention of the end date costs one more
    # subquery per row, so b appears once: a negative b gives a negative share that no percent
    # trails, NULLIF keeps PostgreSQL from dividing by zero, and COALESCE turns that into false.
    a = day_number(literal(today, Date)) - start
    b = day_number(end) - start
    slack = Assignment.percent + PACE_TOLERANCE
    share = (cast(a, Float) / func.nullif(b, 0)) * 100
    behind = func.coalesce(and_(a > 0, slack < 100, slack < share), false())
    return _Parts(
        completed=Assignment.status == AssignmentStatus.COMPLETED.value,
        # Some open milestone is past due exactly when the earliest one is.
        overdue=_before(today),
        soon=_before(soon_before),
        any_milestone=exists().where(mine).correlate(Assignment),
        behind=behind,
    )


def light_reason(today: date, soon_before: date) -> ColumnElement[str]:
    """The light's reason for the assignment row in the query (needs ``Plan`` in the FROM)."""
    p = _parts(today, soon_before)
    return case(
        (p.completed, "completed"),
        (p.overdue, "overdue"),
        (p.soon, "due_soon"),
        (~p.any_milestone, "no_milestones"),
        (p.behind, "behind_pace"),
        else_="on_track",
    )


def light_is(color: str, today: date, soon_before: date) -> ColumnElement[bool]:
    """WHERE the light is ``color``: the CASE above unrolled, so red is one indexed range."""
    p = _parts(today, soon_before)
    if color == "red":
        return and_(~p.completed, p.overdue)
    if color == "yellow":
        return and_(~p.completed, ~p.overdue, or_(p.soon, and_(p.any_milestone, p.behind)))
    if color == "green":
        return or_(p.completed, and_(~p.overdue, ~p.soon, p.any_milestone, ~p.behind))
    if color == "grey":
        return and_(~p.completed, ~p.overdue, ~p.soon, ~p.any_milestone)
    raise ValueError(f"no light {color!r}")


def light_color(reason: ColumnElement[str]) -> ColumnElement[str]:
    """red / yellow / green / grey of a ``light_reason`` expression."""
    return case(
        *((reason.in_(REASONS_OF[c]), c) for c in ("red", "yellow", "grey")),
        else_="green",
    )


def light_rank(reason: ColumnElement[str]) -> ColumnElement[int]:
    """0 red, 1 yellow, 2 green, 3 grey: sorting by light puts the urgent first (a task with
    no date yet last)."""
    return case(
        (reason.in_(REASONS_OF["red"]), 0),
        (reason.in_(REASONS_OF["yellow"]), 1),
        (reason.in_(REASONS_OF["grey"]), 3),
        else_=2,
    )
