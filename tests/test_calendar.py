"""Working days: the official calendar with 调休, admin overrides on top, Mon–Fri fallback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from taskhub.audit.models import AuditEvent
from taskhub.calendar import services as cal
from taskhub.core.db import db
from taskhub.core.errors import NotFound, ValidationFailed
from tests.conftest import make_user

D = date.fromisoformat


# --- the official calendar -------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working", "why"),
    [
        ("2024-09-27", True, "ordinary Friday"),
        ("2024-09-28", False, "ordinary Saturday"),
        ("2024-09-29", True, "Sunday made a working day for National Day (调休)"),
        ("2024-09-30", True, "Monday before the holiday"),
        *[(f"2024-10-0{d}", False, "National Day holiday") for d in range(1, 8)],
        ("2024-10-08", True, "first day back"),
        ("2024-10-12", True, "Saturday made a working day for National Day (调休)"),
        ("2024-10-13", False, "ordinary Sunday"),
        ("2025-01-01", False, "New Year's Day"),
        ("2026-02-14", True, "Saturday made a working day for the Spring Festival"),
        ("2026-02-17", False, "Spring Festival"),
        ("2026-02-21", False, "Saturday inside the Spring Festival break"),
    ],
)
def test_official_working_days(day: str, working: bool, why: str) -> None:
    assert cal.is_working_day(D(day)) is working, why


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2024-09-30", 1, "2024-10-08"),  # over the National Day block
        ("2024-10-08", -1, "2024-09-30"),  # and back
        ("2024-09-27", 1, "2024-09-29"),  # onto a make-up Sunday
        ("2024-09-27", 3, "2024-10-08"),
        ("2024-10-11", 1, "2024-10-12"),  # onto a make-up Saturday
        ("2024-10-14", -2, "2024-10-11"),  # ordinary weekend skipped backwards
        ("2024-12-31", 1, "2025-01-02"),  # across the year end and New Year's Day
        ("2025-01-02", -1, "2024-12-31"),
        ("2026-02-13", 2, "2026-02-24"),  # 2026-02-14 works, then the Spring Festival
        ("2026-02-24", -2, "2026-02-13"),
        ("2024-10-03", 1, "2024-10-08"),  # from inside a holiday
        ("2024-10-03", -1, "2024-09-30"),
        ("2024-10-03", 0, "2024-10-08"),  # n == 0: the day itself if working, else the next
        ("2024-09-29", 0, "2024-09-29"),
        ("2024-10-14", 4, "2024-10-18"),
    ],
)
def test_add_working_days(start: str, n: int, expected: str) -> None:
    assert cal.add_working_days(D(start), n) == D(expected)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-09-30", "2024-10-08", 1),
        ("2024-09-27", "2024-10-12", 7),  # 09-29, 09-30, 10-08 .. 10-12
        ("2024-10-01", "2024-10-07", 0),  # all holiday
        ("2024-12-30", "2025-01-03", 3),  # 12-31, 01-02, 01-03
        ("2024-10-14", "2024-10-14", 0),
    ],
)
def test_working_days_between_counts_half_open_and_has_a_sign(
    start: str, end: str, expected: int
) -> None:
    assert cal.working_days_between(D(start), D(end)) == expected
    assert cal.working_days_between(D(end), D(start)) == -expected


def test_next_working_day_is_strictly_after() -> None:
    assert cal.next_working_day(D("2024-09-30")) == D("2024-10-08")
    assert cal.next_working_day(D("2024-10-12")) == D("2024-10-14")


def test_overrides_win_over_the_official_calendar() -> None:
    thursday, saturday = D("2024-10-10"), D("2024-10-19")
    overrides = {thursday: False, saturday: True}
    assert cal.is_working_day(thursday) and not cal.is_working_day(saturday)
    assert not cal.is_working_day(thursday, overrides)
    assert cal.is_working_day(saturday, overrides)
    assert cal.add_working_days(D("2024-10-09"), 1, overrides) == D("2024-10-11")
    assert cal.add_working_days(D("2024-10-18"), 1, overrides) == D("2024-10-19")
    # 10-10 lost, 10-19 gained: the count over the fortnight is unchanged, the dates are not.
    assert cal.working_days_between(D("2024-10-08"), D("2024-10-21"), overrides) == 10
    assert cal.working_days_between(D("2024-10-08"), D("2024-10-18"), overrides) == 8
    assert cal.working_days_between(D("2024-10-08"), D("2024-10-18")) == 9


def test_years_the_package_lacks_fall_back_to_weekdays() -> None:
    years = cal.covered_years()
    assert 2004 in years and 2024 in years and 2026 in years
    assert 2031 not in years
    new_year = D("2031-01-01")  # a Wednesday: no official data, so an ordinary weekday
    assert cal.is_working_day(new_year)
    assert not cal.is_working_day(D("2031-01-04"))  # Saturday
    assert cal.add_working_days(D("2031-01-03"), 1) == D("2031-01-06")
    # An admin override supplies the missing holiday.
    assert not cal.is_working_day(new_year, {new_year: False})
    assert cal.add_working_days(D("2030-12-31"), 1, {new_year: False}) == D("2031-01-02")


def test_datetimes_are_refused_because_their_day_depends_on_the_zone() -> None:
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2024, 10, 8, 12))  # type: ignore[arg-type]


working_days = st.dates(min_value=D("2020-01-01"), max_value=D("2032-12-31"))


@settings(database=None, max_examples=300)
@given(
    day=working_days,
    n=st.integers(min_value=-30, max_value=30),
    overrides=st.dictionaries(
        st.dates(min_value=D("2019-10-01"), max_value=D("2033-03-31")), st.booleans(), max_size=8
    ),
)
def test_adding_then_counting_gives_n_back(day: date, n: int, overrides: dict[date, bool]) -> None:
    # Start from a working day (the nearest one), as deadlines do.
    start = cal.add_working_days(day, 0, overrides)
    landed = cal.add_working_days(start, n, overrides)
    assert cal.is_working_day(landed, overrides)
    assert cal.working_days_between(start, landed, overrides) == n
    assert (landed > start) == (n > 0) and (landed < start) == (n < 0)


# --- overrides in the database -----------------------------------------------------------


@pytest.fixture
def calendar_session(session: Any) -> Any:
    """The rolled-back session (calendar_overrides comes from the migrations)."""
    return session


@pytest.fixture
def override_queries(calendar_session: Any) -> Iterator[list[str]]:
    """The SQL statements that read calendar_overrides while the test runs."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM calendar_overrides" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def _events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_stored_overrides_change_the_office_calendar(calendar_session: Any) -> None:
    admin = make_user("admin")
    cal.set_override(D("2024-10-10"), False, "本地防汛停工", actor_id=admin.id)
    cal.set_override(D("2024-10-19"), True, "补10月10日", actor_id=admin.id)

    office = cal.WorkingCalendar.load(D("2024-10-01"), D("2024-10-31"))
    assert not office.is_working_day(D("2024-10-10"))
    assert office.is_working_day(D("2024-10-19"))
    assert office.add_working_days(D("2024-10-09"), 1) == D("2024-10-11")
    assert office.add_working_days(D("2024-10-21"), -1) == D("2024-10-19")
    assert office.working_days_between(D("2024-10-08"), D("2024-10-18")) == 8
    assert office.next_working_day(D("2024-10-18")) == D("2024-10-19")
    # The pure functions without overrides still give the official answer.
    assert cal.is_working_day(D("2024-10-10"))


def test_setting_an_override_is_audited_and_upserts(calendar_session: Any) -> None:
    admin = make_user("admin")
    day = D("2027-02-06")  # a Saturday the package does not know yet

    first = cal.set_override(day, True, "  2027年春节调休 ", actor_id=admin.id)
    assert (first.note, first.is_working_day, first.created_by_id) == (
        "2027年春节调休",
        True,
        admin.id,
    )
    assert first.created_at.tzinfo is not None

    second = cal.set_override(day, False, "通知更正", actor_id=admin.id)
    assert second.id == first.id
    assert [o.is_working_day for o in cal.list_overrides(2027)] == [False]

    events = _events("calendar.override_set")
    assert [(e.object_type, e.object_id, e.actor_id) for e in events] == [
        ("calendar_override", "2027-02-06", admin.id)
    ] * 2
    assert events[0].before is None
    assert events[0].after is not None and events[0].after["note"] == "2027年春节调休"
    assert events[1].before is not None and events[1].before["is_working_day"] is True
    assert events[1].after is not None and events[1].after["is_working_day"] is False

    cal.set_override(day, False, "通知更正", actor_id=admin.id)  # no change: no new event
    assert len(_events("calendar.override_set")) == 2


def test_removing_an_override_restores_the_official_day_and_is_audited(
    calendar_session: Any,
) -> None:
    day = D("2024-10-10")
    cal.set_override(day, False, "临时停工", actor_id=None)
    assert not cal.WorkingCalendar.load(day, day).is_working_day(day)

    cal.remove_override(day, actor_id=None)

    assert cal.WorkingCalendar.load(day, day).is_working_day(day)
    assert cal.list_overrides() == []
    [removed] = _events("calendar.override_removed")
    assert removed.object_id == "2024-10-10"
    assert removed.before is not None and removed.before["note"] == "临时停工"
    with pytest.raises(NotFound):
        cal.remove_override(day, actor_id=None)


@pytest.mark.parametrize("note", ["", "   "])
def test_an_override_needs_a_note(calendar_session: Any, note: str) -> None:
    with pytest.raises(ValidationFailed):
        cal.set_override(D("2024-10-10"), False, note, actor_id=None)
    assert cal.list_overrides() == []
    assert _events("calendar.override_set") == []


def test_list_overrides_by_year_in_day_order(calendar_session: Any) -> None:
    for day in ("2031-10-08", "2030-12-31", "2031-01-01"):
        cal.set_override(D(day), False, "假日", actor_id=None)
    assert [o.day for o in cal.list_overrides(2031)] == [D("2031-01-01"), D("2031-10-08")]
    assert len(cal.list_overrides()) == 3


def test_uncovered_year_uses_weekdays_plus_stored_overrides(calendar_session: Any) -> None:
    cal.set_override(D("2031-01-01"), False, "元旦", actor_id=None)
    office = cal.WorkingCalendar.load(D("2030-12-01"), D("2031-01-31"))
    assert office.add_working_days(D("2030-12-31"), 1) == D("2031-01-02")
    assert office.add_working_days(D("2031-01-03"), 1) == D("2031-01-06")


def test_a_calendar_reads_its_overrides_once_not_per_day(override_queries: list[str]) -> None:
    cal.set_override(D("2024-11-15"), False, "停工", actor_id=None)
    override_queries.clear()

    office = cal.WorkingCalendar.load(D("2024-01-01"), D("2024-12-31"))
    day = D("2024-01-01")
    while day <= D("2024-12-31"):
        office.is_working_day(day)
        day += timedelta(days=1)
    assert office.working_days_between(D("2024-01-01"), D("2024-12-31")) > 240
    assert len(override_queries) == 1

    # Walking far beyond the window widens it in a few large steps.
    assert office.add_working_days(D("2024-12-31"), 500) > D("2026-12-01")
    assert office.add_working_days(D("2024-01-02"), -500) < D("2022-01-01")
    assert len(override_queries) <= 5
    assert not office.is_working_day(D("2024-11-15"))
