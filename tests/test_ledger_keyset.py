"""The ledger page's keyset paging (issue 17): 下一页 / 上一页 by cursor, 首页 and 末页.

Walking forwards from the first page and backwards from the last one visits every matching row
exactly once, in the page's order, for every sort and direction, with filters; a cursor that
was changed or made for another sort gets a Chinese message and the first page (never a 500);
a unit user paging by cursor still sees only their own unit.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.ledger.schemas import SORTS
from taskhub.ledger.services import Cursor, Ledger, LedgerFilters
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, ProgressReport
from tests.conftest import make_user, unit_named
from tests.test_ledger import KUNDULUN, QINGSHAN, get, row_ids, total_of, visible

HEGANG = "hegang-2022"


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}"', page)
    return html_lib.unescape(found.group(1)) if found else None


def walk(client: FlaskClient, url: str, rel: str) -> tuple[list[int], list[str]]:
    """Rows of every page from ``url`` on, following the ``rel`` links; and the pages."""
    pages = [get(client, url)]
    while (after := link(pages[-1], rel)) is not None:
        pages.append(get(client, after))
        assert len(pages) < 100, "the links go round in circles"
    ids = []
    for page in pages if rel == "next" else reversed(pages):
        ids += row_ids(page)
    return ids, pages


def by_number(client: FlaskClient, url: str) -> list[int]:
    first = get(client, url)
    ids, number = row_ids(first), 2
    while len(ids) < total_of(first):
        ids += row_ids(get(client, f"{url}&page={number}"))
        number += 1
    return ids


def some_reports() -> None:
    """A few reports, so that sorting by the last report has values and NULLs."""
    rows = db.session.scalars(
        select(Assignment).join(Item).join(Plan).where(Plan.code == HEGANG).limit(40)
    ).all()
    user = make_user("office", username="reporter")
    for n, a in enumerate(rows[::3]):
        db.session.add(
            ProgressReport(assignment_id=a.id, author_id=user.id, progress=f"进展{n}", percent=10)
        )
    db.session.commit()


def test_paging_by_link_visits_every_row_once_forwards_and_backwards(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    for query in (f"plan={HEGANG}&sort=unit", f"plan={HEGANG}&sort=due&dir=desc"):
        url = f"/ledger?{query}"
        forwards, pages = walk(client, url, "next")
        total = total_of(pages[0])
        assert len(forwards) == len(set(forwards)) == total > 100
        # The same rows, in the same order, as the numbered pages.
        assert forwards == by_number(client, url)
        # The page number is shown and counts along; the links keep the filters and the sort.
        shown = [visible(p) for p in pages]
        assert all(f"第 {n} 页，共 {len(pages)} 页" in text for n, text in enumerate(shown, 1))
        nxt = link(pages[0], "next") or ""
        assert "after=" in nxt and f"plan={HEGANG}" in nxt and query.split("&")[1] in nxt
        assert link(pages[0], "prev") is None and link(pages[-1], "next") is None
        # From the last page back to the first: the same rows, each once.
        backwards, back_pages = walk(client, f"{url}&last=1", "prev")
        assert backwards == forwards
        assert f"第 {len(pages)} 页" in visible(back_pages[0])
        assert "第 1 页" in visible(back_pages[-1]) and link(back_pages[-1], "prev") is None


@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_pages_by_cursor_through_every_row_in_order(
    client: FlaskClient, login_as: Callable[..., Any], descending: bool
) -> None:
    """Small pages across ties, NULLs (next due, last report) and units of the same name."""
    login_as("office")
    some_reports()
    viewer = make_user("office", username="keyset")
    plan = db.session.scalar(select(Plan.id).where(Plan.code == HEGANG))
    for sort in SORTS:
        for extra in ({"plan_id": plan}, {"plan_id": plan, "status": "new"}):
            filters = LedgerFilters(sort=sort, descending=descending, **extra)
            ledger = Ledger(filters, viewer=viewer, today=office_today())
            expected = [r.assignment_id for r in ledger.export_rows()]
            assert expected, (sort, extra)
            seen: list[int] = []
            page = ledger.at(None, size=7)
            while True:
                seen += [r.assignment.id for r in page.rows]
                if not page.has_next:
                    break
                assert page.last is not None
                # Through the URL form, as the links carry it.
                cursor = Cursor.decode(page.last.encode(), filters)
                page = ledger.at(cursor, size=7)
            assert seen == expected, (sort, descending, extra)
            back: list[int] = []
            page = ledger.at(None, backward=True, size=7)
            while True:
                back = [r.assignment.id for r in page.rows] + back
                if not page.has_previous:
                    break
                assert page.first is not None
                page = ledger.at(Cursor.decode(page.first.encode(), filters), backward=True, size=7)
            assert back == expected, (sort, descending, extra)


def test_a_changed_or_foreign_cursor_gets_a_chinese_message_and_the_first_page(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    url = f"/ledger?plan={HEGANG}&sort=unit"
    first = get(client, url)
    nxt = link(first, "next")
    assert nxt
    cursor = re.search(r"after=([^&]+)", nxt)
    assert cursor
    message = "这个翻页链接已失效"
    for bad in (
        f"{url}&after=garbage",
        f"{url}&before={cursor.group(1)[:-3]}",
        f"{url}&after={cursor.group(1)[:-1]}x",
        # Made for the unit sort, used with another sort or direction.
        f"/ledger?plan={HEGANG}&sort=due&after={cursor.group(1)}",
        f"{url}&dir=desc&after={cursor.group(1)}",
    ):
        response = client.get(bad)
        assert response.status_code == 400, bad
        page = response.get_data(as_text=True)
        assert message in visible(page), bad
        assert row_ids(page) == row_ids(first) if "sort=unit" in bad and "desc" not in bad else 1
    # The link itself works, and keeps working (a deep link is the place, not a session).
    assert row_ids(get(client, nxt)) == row_ids(get(client, nxt))
    assert message not in visible(get(client, nxt))


def test_a_unit_user_paging_by_cursor_sees_only_their_unit(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    kundulun = unit_named(KUNDULUN, "baotou")
    qingshan = unit_named(QINGSHAN, "baotou")
    own = set(db.session.scalars(select(Assignment.id).where(Assignment.unit_id == kundulun.id)))
    login_as("unit", kundulun)
    ids, _ = walk(client, "/ledger?sort=unit", "next")
    assert set(ids) == own and len(ids) == len(own)
    backwards, _ = walk(client, "/ledger?sort=unit&last=1", "prev")
    assert backwards == ids
    # A place among another unit's rows (as the office's link would carry) shows no one
    # else's rows: the cursor is a place in the order, never a permission.
    first_other = min(
        db.session.scalars(select(Assignment.id).where(Assignment.unit_id == qingshan.id))
    )
    place = Cursor("unit", False, ("", 0), 0).encode()
    shown = row_ids(get(client, f"/ledger?sort=unit&after={place}"))
    assert set(shown) <= own and first_other not in shown
