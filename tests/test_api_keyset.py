"""Keyset ("cursor") paging of the assignments list and its estimated totals (issue 17)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.plans.models import Item
from taskhub.tracking.models import Assignment
from tests.conftest import unit_named


def _meta(response: Any) -> dict[str, Any]:
    return json.loads(response.headers["X-Pagination"])


def _walk(client: Any, query: str, between: Any = None) -> list[dict[str, Any]]:
    """Every page of the list by cursor (calling ``between`` after each page)."""
    response = client.get(f"/api/v1/assignments/?{query}")
    rows: list[dict[str, Any]] = []
    for _ in range(10_000):
        assert response.status_code == 200, response.json
        rows += response.json
        if between:
            between()
        meta = _meta(response)
        if "next_cursor" not in meta:
            assert "Link" not in response.headers
            return rows
        assert response.headers["Link"] == f'<{meta["next"]}>; rel="next"'
        url = urlsplit(meta["next"])
        assert parse_qs(url.query)["cursor"] == [meta["next_cursor"]]
        response = client.get(f"{url.path}?{url.query}")
    raise AssertionError("the cursor never ended")


def _free_pairs(unit_id: int) -> list[tuple[int, int]]:
    """(item, unit) pairs without an assignment yet, to add some while a client pages."""
    taken = set(db.session.scalars(select(Assignment.item_id).where(Assignment.unit_id == unit_id)))
    items = db.session.scalars(select(Item.id).order_by(Item.id)).all()
    return [(i, unit_id) for i in items if i not in taken]


def _ordered_key(sort: str, row: dict[str, Any]) -> Any:
    key = {"id": "id", "due_on": "next_due_on", "percent": "percent"}.get(sort.lstrip("-"))
    return row[key]


@pytest.mark.parametrize(
    "sort", ["id", "-id", "percent", "-percent", "due_on", "-due_on", "-updated_at", "status"]
)
def test_keyset_paging_returns_every_row_once_in_order_under_concurrent_inserts(api_as, sort):
    office = api_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    whole = f"unit={unit.id}&sort={sort}&page_size=500"
    query = f"unit={unit.id}&page_size=7&sort={sort}"
    before = {row["id"] for row in office.get(f"/api/v1/assignments/?{whole}").json}
    assert 30 < len(before) < 400
    free = _free_pairs(unit.id)
    added: list[int] = []

    def insert_one() -> None:
        """Another client adds an assignment (committed) while this one pages."""
        item_id, unit_id = free.pop()
        assignment = Assignment(item_id=item_id, unit_id=unit_id, role="responsible")
        db.session.add(assignment)
        db.session.commit()
        added.append(assignment.id)

    rows = _walk(office, query, insert_one)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "a row came twice"
    assert before <= set(ids), "a row present from the start was skipped"
    assert set(ids) - before <= set(added)
    # In the list's order (NULL due dates where the database puts them), ties by id.
    same = office.get(f"/api/v1/assignments/?{whole}").json
    positions = {row["id"]: n for n, row in enumerate(same)}
    assert [i for i in ids if i in positions] == sorted(
        (i for i in ids if i in positions), key=positions.__getitem__
    )
    if sort in ("id", "percent"):
        keys = [(_ordered_key(sort, row), row["id"]) for row in rows if row["id"] in before]
        assert keys == sorted(keys)


def test_keyset_pages_match_numbered_pages(api_as):
    office = api_as("office")
    query = "plan=baotou-2022&page_size=9&sort=-percent"
    by_cursor = [row["id"] for row in _walk(office, query)]
    by_number: list[int] = []
    page = 1
    while rows := office.get(f"/api/v1/assignments/?{query}&page={page}").json:
        by_number += [row["id"] for row in rows]
        page += 1
    assert by_cursor == by_number


def test_the_first_numbered_page_keeps_its_metadata_and_adds_a_cursor(api_as):
    office = api_as("office")
    first = office.get("/api/v1/assignments/?page_size=5")
    meta = _meta(first)
    assert meta["page"] == 1 and meta["next_page"] == 2 and meta["next_cursor"]
    assert "total_estimated" not in meta
    second = office.get("/api/v1/assignments/?page_size=5&page=2")
    assert "next_cursor" not in _meta(second) and _meta(second)["page"] == 2
    by_cursor = office.get(f"/api/v1/assignments/?page_size=5&cursor={meta['next_cursor']}")
    assert by_cursor.json == second.json
    assert "page" not in _meta(by_cursor) and _meta(by_cursor)["total"] == meta["total"]


def test_a_changed_or_foreign_cursor_gets_400_with_a_clear_message(api_as):
    office = api_as("office")
    cursor = _meta(office.get("/api/v1/assignments/?page_size=5&sort=id"))["next_cursor"]
    payload, _, signature = cursor.rpartition(".")
    forged = [
        f"{payload}.{signature[:-2]}xx",  # the signature changed
        cursor.replace(payload, payload[:-1] + ("A" if payload[-1] != "A" else "B")),
        "bm90IGEgY3Vyc29y",  # not one at all
        cursor[:10],
    ]
    for bad in forged:
        response = office.get(f"/api/v1/assignments/?page_size=5&sort=id&cursor={bad}")
        assert response.status_code == 400, bad
        assert response.json["code"] == "bad_request"
        assert "cursor" in response.json["message"] and response.json["errors"]["cursor"]
    # A genuine cursor, but for another sort or other filters.
    for other in ("sort=-id", "sort=id&open=true", "sort=id&plan=baotou-2022"):
        response = office.get(f"/api/v1/assignments/?page_size=5&{other}&cursor={cursor}")
        assert response.status_code == 400
        assert "other filters" in response.json["message"]
    # The page size may change between pages.
    bigger = office.get(f"/api/v1/assignments/?page_size=50&sort=id&cursor={cursor}")
    assert bigger.status_code == 200
    too_long = office.get(f"/api/v1/assignments/?cursor={'x' * 501}")
    assert too_long.status_code == 422 and "cursor" in too_long.json["errors"]


def test_a_unit_token_pages_its_own_rows_by_cursor(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    rows = _walk(client, "page_size=3")
    expected = db.session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.unit_id == unit.id)
    )
    assert {row["unit"]["id"] for row in rows} == {unit.id} and len(rows) == expected


def test_big_tables_get_an_estimated_total_marked_as_such(app, api_as):
    office = api_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    exact = db.session.scalar(select(func.count()).select_from(Assignment))
    app.config["API_EXACT_COUNT_LIMIT"] = 0  # every table is "big"
    try:
        meta = _meta(office.get("/api/v1/assignments/?page_size=5"))
        filtered = _meta(office.get("/api/v1/assignments/?page_size=5&status=new&open=true"))
        one_unit = _meta(office.get(f"/api/v1/assignments/?page_size=5&unit={unit.id}"))
        own = _meta(api_as("unit", unit).get("/api/v1/assignments/?page_size=5"))
        deep = office.get(f"/api/v1/assignments/?page_size=5&page={exact // 5}")
    finally:
        del app.config["API_EXACT_COUNT_LIMIT"]
    unit_total = db.session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.unit_id == unit.id)
    )
    # One unit's rows are counted exactly (by index), on every database.
    assert one_unit["total"] == own["total"] == unit_total
    assert "total_estimated" not in one_unit and "total_estimated" not in own
    # A numbered page past an estimate still answers (an estimate may be short).
    assert deep.status_code == 200 and deep.json
    if db.session.get_bind().dialect.name == "postgresql":
        # The planner's estimate, flagged; close to the truth on an analyzed table.
        assert meta["total_estimated"] is True and filtered["total_estimated"] is True
        assert meta["total"] > 0 and filtered["total"] >= 0
    else:
        # SQLite has no planner estimates: always exact (documented).
        assert "total_estimated" not in meta and meta["total"] == exact
