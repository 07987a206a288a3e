"""The assignment list's answer, byte for byte, whichever way it is built (issue 17).

A unit's list (and an office's list of one unit or one item) is served by one statement kept
per filter shape; the city-wide list counts apart. Both must answer exactly what the schema
of one assignment says, in the list's order, with the same paging header, and a unit's token
must still see only its unit's rows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import ColumnElement, func, select

from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment
from tests.conftest import unit_named

_SORTS = {
    "id": Assignment.id,
    "due_on": Assignment.next_due_on,
    "percent": Assignment.percent,
    "status": Assignment.status,
    "updated_at": Assignment.updated_at,
}


def _expected(
    client: Any, conditions: list[ColumnElement[bool]], sort: str, page: int, size: int
) -> tuple[bytes, int]:
    """The page's body as the single-assignment endpoint (AssignmentSchema) writes each row,
    in the order of a plain SQL statement, and the list's total."""
    column = _SORTS[sort.lstrip("-")]
    ordered = column.desc() if sort.startswith("-") else column.asc()
    ids = db.session.scalars(
        select(Assignment.id)
        .where(*conditions)
        .order_by(ordered, Assignment.id)
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(Assignment).where(*conditions))
    rows = [client.get(f"/api/v1/assignments/{id_}").json for id_ in ids]
    return current_app.json.response(rows).get_data(), total or 0


def _check(client: Any, query: str, conditions: list[ColumnElement[bool]]) -> dict[str, Any]:
    args = dict(part.split("=") for part in query.split("&"))
    sort, page, size = args.get("sort", "id"), int(args.get("page", 1)), int(args["page_size"])
    response = client.get(f"/api/v1/assignments/?{query}")
    assert response.status_code == 200, response.json
    body, total = _expected(client, conditions, sort, page, size)
    assert response.get_data() == body
    meta: dict[str, Any] = json.loads(response.headers["X-Pagination"])
    assert meta["total"] == total
    last_page = (total - 1) // size + 1 if total else 0
    assert meta.get("last_page", 0) == last_page
    assert meta.get("next_page") == (page + 1 if page < last_page else None)
    return meta


@pytest.mark.parametrize(
    "query",
    [
        "open=true&page_size=10",
        "open=true&page_size=10&page=2&sort=-due_on",
        "page_size=25&sort=status",
        "page_size=7&page=3&sort=-percent",
        "open=true&page_size=10&sort=-updated_at&overdue=false",
        "page_size=500&sort=due_on",
        "page_size=10&page=400",
    ],
)
def test_a_units_list_is_byte_for_byte_what_the_schema_says(api_as, query):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    conditions = [Assignment.unit_id == unit.id]
    if "open=true" in query:
        conditions.append(Assignment.status != "completed")
    if "overdue=false" in query:
        conditions.append(Assignment.is_overdue.is_(False))
    meta = _check(client, query, conditions)
    if "page=400" in query:  # past the end: still the exact total
        assert meta["total"] > 0


@pytest.mark.parametrize(
    "query",
    [
        "page_size=30&sort=-due_on&plan=baotou-2022",
        "open=true&page_size=20&page=2&plan=baotou-2022&sort=percent",
        "status=new&status=returned&page_size=15",
    ],
)
def test_the_offices_list_is_byte_for_byte_what_the_schema_says(api_as, query):
    conditions: list[ColumnElement[bool]] = []
    if "plan=" in query:
        plan_items = select(Item.id).join(Plan, Plan.id == Item.plan_id)
        conditions.append(Assignment.item_id.in_(plan_items.where(Plan.code == "baotou-2022")))
    if "open=true" in query:
        conditions.append(Assignment.status != "completed")
    if "status=" in query:
        conditions.append(Assignment.status.in_(["new", "returned"]))
    _check(api_as("office"), query, conditions)


def test_the_offices_list_of_one_unit_or_one_item_is_byte_for_byte_the_same(api_as):
    office = api_as("office")
    unit = unit_named("青山区人民政府", "baotou")
    _check(
        office,
        f"unit={unit.id}&open=true&page_size=9&page=2&sort=-due_on",
        [Assignment.unit_id == unit.id, Assignment.status != "completed"],
    )
    item_id = db.session.scalar(select(Assignment.item_id).where(Assignment.unit_id == unit.id))
    _check(office, f"item={item_id}&page_size=5&sort=id", [Assignment.item_id == item_id])


def test_two_units_with_the_same_filters_each_see_only_their_own_rows(api_as):
    """The statement is kept per shape, never with a unit in it: each token gets its own."""
    first = unit_named("昆都仑区人民政府", "baotou")
    second = unit_named("青山区人民政府", "baotou")
    for unit in (first, second, first):
        response = api_as("unit", unit).get(
            f"/api/v1/assignments/?open=true&page_size=500&unit={second.id}"
        )
        rows = response.json
        if unit is second:
            assert rows and {row["unit"]["id"] for row in rows} == {second.id}
        else:  # another unit named in the query changes nothing: the token's unit wins
            assert rows == []
        expected = db.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.unit_id == unit.id,
                Assignment.unit_id == second.id,
                Assignment.status != "completed",
            )
        )
        assert json.loads(response.headers["X-Pagination"])["total"] == expected


def test_the_first_page_of_a_units_list_leads_to_the_next_by_cursor(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    first = client.get("/api/v1/assignments/?open=true&page_size=10")
    meta = json.loads(first.headers["X-Pagination"])
    assert meta["next_page"] == 2 and first.headers["Link"] == f'<{meta["next"]}>; rel="next"'
    by_cursor = client.get(
        f"/api/v1/assignments/?open=true&page_size=10&cursor={meta['next_cursor']}"
    )
    by_number = client.get("/api/v1/assignments/?open=true&page_size=10&page=2")
    assert by_cursor.get_data() == by_number.get_data()


def test_times_and_dates_are_written_as_the_schema_writes_them_however_they_were_stored(api_as):
    """The lists read dates and times as ISO text straight from the row (IsoText): a whole
    second (no fraction), a fraction, and a time written by SQL rather than by the app (on
    SQLite, text without the fraction) come out as the single-assignment endpoint writes them."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from taskhub.core.db import _sqlite_utc_iso

    unit = unit_named("昆都仑区人民政府", "baotou")
    ids = db.session.scalars(
        select(Assignment.id).where(Assignment.unit_id == unit.id).order_by(Assignment.id).limit(3)
    ).all()
    times = [datetime(2026, 3, 1, 8, 30, tzinfo=UTC), datetime(2026, 3, 1, 8, 30, 5, 120, UTC)]
    for id_, moment in zip(ids, times, strict=False):
        db.session.execute(
            update(Assignment).where(Assignment.id == id_).values(acknowledged_at=moment)
        )
    # As SQL writes it (on SQLite: '2026-03-02 09:00:00', no fraction).
    db.session.execute(
        update(Assignment)
        .where(Assignment.id == ids[2])
        .values(acknowledged_at=func.current_timestamp())
    )
    db.session.commit()
    _check(api_as("unit", unit), "page_size=3&sort=id", [Assignment.unit_id == unit.id])
    # The text SQLite stores, each way it can be stored.
    assert _sqlite_utc_iso("2026-03-01 08:30:00.000000") == "2026-03-01T08:30:00+00:00"
    assert _sqlite_utc_iso("2026-03-01 08:30:05.000120") == "2026-03-01T08:30:05.000120+00:00"
    assert _sqlite_utc_iso("2026-03-02 09:00:00") == "2026-03-02T09:00:00+00:00"
    assert _sqlite_utc_iso(None) is None
