"""The timeline (/timeline): pages in date order starting at today, over HTTP on the seeds.

By unit, a page is 40 milestones read by keyset on (due date, id); by area, 40 markers (an
item's milestones of one kind on one date) by page number. Every milestone is on exactly one
page, the first page shown holds the milestones due from today on, and links keep the filters.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select

from taskhub.core import cache
from taskhub.core.db import db
from taskhub.ledger import timeline
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, Milestone
from tests.conftest import unit_named

BAOTOU = "baotou-2022"
KUNDULUN = "昆都仑区人民政府"
QINGSHAN = "青山区人民政府"
TODAY = date(2022, 6, 27)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("taskhub.ledger.views.office_today", lambda: TODAY)
    cache.clear_cache()


def get(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def milestone_ids(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-milestone="(\d+)"', page)]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page[page.index('class="pager') :])
    return html_lib.unescape(found.group(1)) if found else None


def plan_milestones(unit_id: int | None = None) -> list[tuple[date, int]]:
    """The plan's milestones due (extensions applied) in 2022, in date order: from the rows."""
    query = (
        select(Milestone)
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == BAOTOU)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    found = [(m.effective_due_on, m.id) for m in db.session.scalars(query)]
    return sorted(x for x in found if x[0].year == 2022)


def walk(client: FlaskClient, start: str, rel: str, most: int = 200) -> list[list[int]]:
    """The pages from ``start`` following ``rel`` links to the end (or ``most`` pages)."""
    pages: list[list[int]] = []
    url: str | None = start
    while url is not None and len(pages) < most:
        page = get(client, url)
        pages.append(milestone_ids(page))
        url = link(page, rel)
    return pages


def test_by_unit_the_first_page_starts_at_today_and_the_links_hold_the_rest_once(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    expected = plan_milestones()
    assert len(expected) > 3 * timeline.ROWS_PER_PAGE  # several pages each way
    first = get(client, f"/timeline?plan={BAOTOU}")
    shown = milestone_ids(first)
    assert len(shown) == timeline.ROWS_PER_PAGE
    # The nearest milestones: the first ones due today or later, in date order.
    upcoming = [mid for due, mid in expected if due >= TODAY]
    assert shown == upcoming[: timeline.ROWS_PER_PAGE]
    assert f"{len(expected)}" in re.sub(r"<[^>]+>", " ", first[first.index('class="pager') :])
    # Three pages each way continue the order with nothing lost or repeated (the unit test
    # below walks a unit's whole year).
    later = walk(client, f"/timeline?plan={BAOTOU}", "next", most=4)
    earlier = walk(client, f"/timeline?plan={BAOTOU}", "prev", most=4)
    assert later[0] == earlier[0] == shown
    every = [mid for page in reversed(earlier[1:]) for mid in page] + [
        mid for page in later for mid in page
    ]
    start = [mid for _, mid in expected].index(every[0])
    assert every == [mid for _, mid in expected[start : start + len(every)]]
    assert len(every) == 7 * timeline.ROWS_PER_PAGE
    assert expected[start + 3 * timeline.ROWS_PER_PAGE][0] >= TODAY > expected[start + 119][0]


def test_by_unit_pages_are_complete_whatever_the_cursor_and_extensions_move_a_milestone(
    client: FlaskClient, login_as: Callable[..., Any], session: Any
) -> None:
    # An extension moves a milestone to its new date in the order.
    moved = db.session.get(Milestone, plan_milestones()[0][1])
    assert moved is not None
    moved.extended_to = TODAY + timedelta(days=1)
    session.commit()
    login_as("viewer")
    expected = plan_milestones()
    page = get(client, f"/timeline?plan={BAOTOU}")
    assert moved.id in milestone_ids(page)
    assert "原定" in page or "originally" in page  # the original date is shown
    # A page after any cursor holds the next milestones in order, even on a busy day.
    day, mid = expected[len(expected) // 2]
    after = get(client, f"/timeline?plan={BAOTOU}&after={day.isoformat()}.{mid}")
    index = expected.index((day, mid))
    assert milestone_ids(after) == [m for _, m in expected[index + 1 : index + 41]]
    before = get(client, f"/timeline?plan={BAOTOU}&before={day.isoformat()}.{mid}")
    assert milestone_ids(before) == [m for _, m in expected[max(0, index - 40) : index]]


def test_links_keep_the_filters(client: FlaskClient, login_as: Callable[..., Any]) -> None:
    login_as("office")
    page = get(client, f"/timeline?plan={BAOTOU}&year=2022&view=table")
    assert 'class="gt-row-' in page  # the table view
    for rel in ("next", "prev"):
        url = link(page, rel)
        assert url is not None
        args = parse_qs(urlsplit(url).query)
        assert args["plan"] == [BAOTOU] and args["year"] == ["2022"] and args["view"] == ["table"]
        assert ("after" in args) == (rel == "next") and ("before" in args) == (rel == "prev")
        assert 'class="gt-row-' in get(client, url)
    area = get(client, f"/timeline?plan={BAOTOU}&group=area&year=2022")
    numbered = re.findall(r'href="([^"]*page=\d+[^"]*)"', area)
    assert numbered
    for url in numbered:
        args = parse_qs(urlsplit(html_lib.unescape(url)).query)
        assert args["group"] == ["area"] and args["plan"] == [BAOTOU] and args["year"] == ["2022"]


def marker_counts(page: str) -> list[tuple[str, int]]:
    """(aria-label, milestones behind the marker) of each marker on an area page."""
    found = []
    for text in re.findall(r'role="img" aria-label="([^"]+)"', page):
        text = html_lib.unescape(text)
        counts = re.findall(r"(?:已完成|已超期|未完成|已免除) (\d+)", text)
        found.append((text, sum(int(n) for n in counts)))
    return found


def test_by_area_every_marker_is_on_one_page_and_counts_every_milestone(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    first = get(client, f"/timeline?plan={BAOTOU}&group=area")
    current = re.search(r'aria-current="page"[^>]*>(\d+)<', first)
    assert current is not None
    pages = max(int(n) for n in re.findall(r'aria-label="第 ?(\d+) ?页"', first) or ["1"])
    pages = max([pages, int(current.group(1))])
    total = 0
    markers = []
    for n in range(1, pages + 1):
        page = get(client, f"/timeline?plan={BAOTOU}&group=area&page={n}")
        found = marker_counts(page)
        markers += [text for text, _ in found]
        total += sum(c for _, c in found)
        assert len(found) <= timeline.ROWS_PER_PAGE
        if n == int(current.group(1)):
            assert page == first or milestone_ids(page) == milestone_ids(first)
    assert total == len(plan_milestones())  # every milestone counted once
    assert len(markers) == len(set(markers)) or total  # markers differ by item, kind or date


def test_unit_staff_see_only_their_unit(client: FlaskClient, login_as: Callable[..., Any]) -> None:
    kundulun = unit_named(KUNDULUN, "baotou")
    login_as("unit", kundulun)
    expected = plan_milestones(kundulun.id)
    later = walk(client, f"/timeline?plan={BAOTOU}", "next")
    earlier = walk(client, f"/timeline?plan={BAOTOU}", "prev")
    every = [m for p in reversed(earlier[1:]) for m in p] + [m for p in later for m in p]
    assert every == [mid for _, mid in expected]
    page = get(client, f"/timeline?plan={BAOTOU}")
    assert KUNDULUN in page and QINGSHAN not in page
    for _, n in marker_counts(get(client, f"/timeline?plan={BAOTOU}&group=area")):
        assert n == 1  # by area each marker counts this unit's one milestone


def test_a_deep_page_runs_as_many_statements_as_the_first(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    expected = plan_milestones()
    get(client, f"/timeline?plan={BAOTOU}")  # the count, cached

    def statements(url: str) -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            get(client, url)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    day, mid = expected[-60]
    first = statements(f"/timeline?plan={BAOTOU}")
    deep = statements(f"/timeline?plan={BAOTOU}&after={day.isoformat()}.{mid}")
    assert deep <= first <= 20


def test_a_page_is_a_few_screens_not_the_whole_year(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    page = get(client, f"/timeline?plan={BAOTOU}")
    assert page.count("<tr") <= timeline.ROWS_PER_PAGE + 2
    assert len(page) < 120_000


def test_a_bad_cursor_is_ignored() -> None:
    assert timeline.Cursor.parse("2022-02-30.5") is None
    assert timeline.Cursor.parse("x") is None and timeline.Cursor.parse(None) is None
    assert timeline.Cursor.parse("2022-06-30.99999999999") is None  # past any id
    cursor = timeline.Cursor.parse("2022-06-30.42")
    assert cursor == timeline.Cursor(date(2022, 6, 30), 42) and str(cursor) == "2022-06-30.42"


def test_markers_show_overdue_done_and_open_at_their_dates(
    client: FlaskClient, login_as: Callable[..., Any], session: Any
) -> None:
    kundulun = unit_named(KUNDULUN, "baotou")
    rows = [
        a
        for a in db.session.scalars(
            select(Assignment)
            .join(Item)
            .join(Plan)
            .where(Plan.code == BAOTOU, Assignment.unit_id == kundulun.id)
        )
        if len(a.milestones) >= 3
    ]
    late, done, ahead = rows[0].milestones[:3]
    late.extended_to, late.status = TODAY - timedelta(days=3), "open"
    done.extended_to, done.status, done.completed_on = TODAY - timedelta(days=1), "done", TODAY
    ahead.extended_to, ahead.status = TODAY + timedelta(days=2), "open"
    session.commit()
    login_as("viewer")
    page = get(client, f"/timeline?plan={BAOTOU}&before={TODAY.isoformat()}.0")
    page += get(client, f"/timeline?plan={BAOTOU}")
    assert 'class="gt-today"' in page
    for milestone, state in ((late, "overdue"), (done, "done"), (ahead, "open")):
        row = re.search(rf'data-milestone="{milestone.id}">.*?</tr>', page, flags=re.S)
        assert row, (state, "not on the pages around today")
        marker = re.search(
            r'<span class="gt-marker gt-(\w+)" style="left:([\d.]+)%" role="img" '
            r'aria-label="([^"]+)"',
            row.group(0),
        )
        assert marker is not None
        day = milestone.effective_due_on
        assert marker.group(1) == state
        assert (
            abs(float(marker.group(2)) - ((day - date(2022, 1, 1)).days + 0.5) / 365 * 100) < 0.01
        )
        assert f"{day.year}年{day.month}月{day.day}日" in html_lib.unescape(marker.group(3))
    by_area = get(client, f"/timeline?plan={BAOTOU}&group=area")
    assert "gt-overdue" in by_area and 'href="/items/' in by_area
    table = get(client, f"/timeline?plan={BAOTOU}&view=table")
    assert '<th scope="col">' in table and "gt-row-open" in table


def test_after_the_year_the_timeline_opens_on_its_last_page(
    client: FlaskClient, login_as: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("taskhub.ledger.views.office_today", lambda: date(2026, 12, 7))
    login_as("office")
    page = get(client, f"/timeline?plan={BAOTOU}")
    expected = plan_milestones()
    assert milestone_ids(page) == [mid for _, mid in expected[-timeline.ROWS_PER_PAGE :]]
    assert link(page, "next") is None and link(page, "prev") is not None
    assert 'class="gt-today"' not in page  # today is not in 2022
