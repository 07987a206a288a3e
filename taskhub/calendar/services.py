"""Working days: China's official calendar (holidays and 调休) with admin overrides on top.

The pure functions take the overrides as an explicit mapping; ``overrides=None`` means the
official calendar alone. Code that must respect the office's overrides uses
``WorkingCalendar.load(start, end)``, which reads them in one query for a whole window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import chinese_calendar
from sqlalchemy import select

from taskhub.audit import services as audit
from taskhub.calendar.models import CalendarOverride
from taskhub.core.db import db
from taskhub.core.errors import NotFound, ValidationFailed
from taskhub.core.limits import check_text

logger = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
#: Years probed to find what the package covers; far wider than any release covers.
_PROBE_YEARS = range(1990, 2101)
#: Smallest step by which a WorkingCalendar widens its window when a walk leaves it.
_MIN_WIDEN = timedelta(days=62)

IsWorking = Callable[[date], bool]


def _require_date(day: object) -> None:
    # A datetime would silently miss the date keys of the overrides, and its day depends
    # on the time zone: callers must pass the office-local date.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")


def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@cache
def covered_years() -> range:
    """Years the chinesecalendar package has official data for (others fall back to Mon–Fri)."""
    years = [year for year in _PROBE_YEARS if _package_knows(year)]
    if not years:
        return range(0)
    return range(years[0], years[-1] + 1)


def official_is_working_day(day: date) -> bool:
    """The official answer, ignoring overrides; Monday–Friday for years the package lacks."""
    _require_date(day)
    if day.year in covered_years():
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


def _resolver(overrides: Mapping[date, bool] | None) -> IsWorking:
    if not overrides:
        return official_is_working_day

    def resolve(day: date) -> bool:
        forced = overrides.get(day)
        return official_is_working_day(day) if forced is None else forced

    return resolve


def _add(is_working: IsWorking, day: date, n: int) -> date:
    if n == 0:
        while not is_working(day):
            day += ONE_DAY
        return day
    step = ONE_DAY if n > 0 else -ONE_DAY
    remaining = abs(n)
    while remaining:
        day += step
        if is_working(day):
            remaining -= 1
    return day


def _between(is_working: IsWorking, start: date, end: date) -> int:
    if end < start:
        return -_between(is_working, end, start)
    count = 0
    day = start
    while day < end:
        day += ONE_DAY
        count += is_working(day)
    return count


def is_working_day(day: date, overrides: Mapping[date, bool] | None = None) -> bool:
    """Whether staff work on ``day``: an override if there is one, else the official calendar."""
    _require_date(day)
    return _resolver(overrides)(day)


def add_working_days(day: date, n: int, overrides: Mapping[date, bool] | None = None) -> date:
    """The n-th working day after ``day`` (before it if n < 0); n == 0: ``day`` or the next one."""
    _require_date(day)
    return _add(_resolver(overrides), day, n)


def working_days_between(
    start: date, end: date, overrides: Mapping[date, bool] | None = None
) -> int:
    """Working days in (start, end]; negative (the count in (end, start]) if end < start."""
    _require_date(start)
    _require_date(end)
    return _between(_resolver(overrides), start, end)


def next_working_day(day: date, overrides: Mapping[date, bool] | None = None) -> date:
    """The first working day strictly after ``day``."""
    return add_working_days(day, 1, overrides)


def load_overrides(start: date, end: date) -> dict[date, bool]:
    """The overrides of the days in [start, end], in one query."""
    rows = db.session.execute(
        select(CalendarOverride.day, CalendarOverride.is_working_day).where(
            CalendarOverride.day.between(start, end)
        )
    )
    return {day: is_working for day, is_working in rows}


class WorkingCalendar:
    """The office's calendar for a date window, its overrides read in one query.

    A walk that leaves the window (a long ``add_working_days``) widens it by at least the
    window's size per query, so queries stay few however far the walk goes.
    """

    def __init__(self, start: date, end: date, overrides: Mapping[date, bool]) -> None:
        self._start = start
        self._end = end
        self._overrides = dict(overrides)
        # Working-day ordinals (see working_day_ordinal), counted from the first window's
        # start and extended day by day when a later question reaches past what is indexed.
        self._origin = start
        self._ordinals: dict[date, int] = {start: 0}
        self._indexed = (start, start)

    @classmethod
    def load(cls, start: date, end: date) -> WorkingCalendar:
        """Read the overrides of [start, end] (in either order) once."""
        _require_date(start)
        _require_date(end)
        start, end = min(start, end), max(start, end)
        return cls(start, end, load_overrides(start, end))

    @property
    def window(self) -> tuple[date, date]:
        """The days whose overrides are loaded, both ends included."""
        return self._start, self._end

    def _cover(self, low: date, high: date) -> None:
        margin = max(self._end - self._start, _MIN_WIDEN)
        if low < self._start:
            new_start = min(low, self._start - margin)
            self._overrides.update(load_overrides(new_start, self._start - ONE_DAY))
            self._start = new_start
        if high > self._end:
            new_end = max(high, self._end + margin)
            self._overrides.update(load_overrides(self._end + ONE_DAY, new_end))
            self._end = new_end

    def is_working_day(self, day: date) -> bool:
        """Whether staff work on ``day``, overrides included."""
        _require_date(day)
        self._cover(day, day)
        forced = self._overrides.get(day)
        return official_is_working_day(day) if forced is None else forced

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (before it if n < 0); n == 0: ``day`` or the next."""
        _require_date(day)
        # Widen once up front for the usual case: n working days rarely span more than 2n + 3
        # weeks' worth of days, even across the Spring Festival.
        reach = timedelta(days=2 * abs(n) + 21)
        if n >= 0:
            self._cover(day, day + reach)
        else:
            self._cover(day - reach, day)
        return _add(self.is_working_day, day, n)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative if end < start."""
        _require_date(start)
        _require_date(end)
        # By running counts: a scheduled job asks this for every overdue task, often years
        # back (a published plan of 2020), and walking the days each time held the job (and,
        # on SQLite, the database's write lock) for minutes.
        return self.working_day_ordinal(end) - self.working_day_ordinal(start)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def working_day_ordinal(self, day: date) -> int:
        """A running count of working days: ``ordinal(b) - ordinal(a)`` is the number of working
        days in (a, b], as ``working_days_between(a, b)`` says, without walking the days again.

        The count starts at the window's first day (0) and stays fixed however the window
        widens, so ordinals taken at different times compare. Two working days ``a`` <= ``b``
        are ``k`` working days apart exactly when their ordinals differ by ``k``. Each day is
        looked up once; later questions about it are a dictionary read.
        """
        _require_date(day)
        known = self._ordinals.get(day)
        if known is not None:
            return known
        low, high = self._indexed
        if day > high:
            self._cover(high, day)
            count = self._ordinals[high]
            while high < day:
                high += ONE_DAY
                count += self.is_working_day(high)
                self._ordinals[high] = count
        else:
            self._cover(day, low)
            count = self._ordinals[low]
            while low > day:
                count -= self.is_working_day(low)
                low -= ONE_DAY
                self._ordinals[low] = count
        self._indexed = (min(low, self._indexed[0]), max(high, self._indexed[1]))
        return self._ordinals[day]


def _state(override: CalendarOverride) -> dict[str, Any]:
    return {
        "day": override.day,
        "is_working_day": override.is_working_day,
        "note": override.note,
        "official_is_working_day": official_is_working_day(override.day),
    }


def set_override(
    day: date, is_working_day: bool, note: str, *, actor_id: int | None
) -> CalendarOverride:
    """Make ``day`` a working day or a day off, whatever the official calendar says (upsert)."""
    _require_date(day)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(
            "say why this day is changed (e.g. 2027年春节调休)", problems=["note: required"]
        )
    check_text("calendar.note", note, field="note")
    override = db.session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    before = _state(override) if override is not None else None
    if override is None:
        override = CalendarOverride(
            day=day, is_working_day=is_working_day, note=note, created_by_id=actor_id
        )
        db.session.add(override)
    elif override.is_working_day == is_working_day and override.note == note:
        return override  # nothing changed, so nothing to audit
    else:
        override.is_working_day = is_working_day
        override.note = note
    db.session.flush()
    audit.record(
        "calendar.override_set",
        "calendar_override",
        day.isoformat(),
        actor_id=actor_id,
        before=before,
        after=_state(override),
    )
    logger.info("calendar override set: %s working=%s", day, is_working_day)
    return override


def remove_override(day: date, *, actor_id: int | None) -> None:
    """Drop the override of ``day``; the official calendar applies again."""
    _require_date(day)
    override = db.session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    if override is None:
        raise NotFound(f"no calendar override for {day.isoformat()}")
    before = _state(override)
    db.session.delete(override)
    db.session.flush()
    audit.record(
        "calendar.override_removed",
        "calendar_override",
        day.isoformat(),
        actor_id=actor_id,
        before=before,
    )
    logger.info("calendar override removed: %s", day)


def list_overrides(year: int | None = None) -> list[CalendarOverride]:
    """The overrides, by day; only those of ``year`` if given."""
    query = select(CalendarOverride).order_by(CalendarOverride.day)
    if year is not None:
        query = query.where(CalendarOverride.day.between(date(year, 1, 1), date(year, 12, 31)))
    return list(db.session.scalars(query))
