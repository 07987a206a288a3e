"""The assignments API: token authentication, a unit's token sees only its unit, paging,
filtering, sorting, ETags and the error body."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from taskhub.accounts.models import ApiToken
from taskhub.accounts.tokens import revoke_token
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, Milestone
from tests.conftest import unit_named


def test_requests_without_a_valid_token_get_401_with_the_error_body(client, api_as):
    response = client.get("/api/v1/assignments/")
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get("/api/v1/assignments/", headers={"Authorization": "Bearer thk_nope"})
    assert bad.status_code == 401


def test_a_revoked_token_stops_working_at_once(api_as):
    office = api_as("office")
    assert office.get("/api/v1/assignments/").status_code == 200
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == office.user.id)).one()
    revoke_token(token, actor=office.user)
    db.session.commit()
    assert office.get("/api/v1/assignments/").status_code == 401


def test_tokens_are_stored_hashed(api_as):
    office = api_as("office")
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert office.token not in stored
    assert all(len(h) == 64 for h in stored)


def test_a_unit_token_lists_only_its_units_assignments(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    response = client.get("/api/v1/assignments/?page_size=500")
    assert response.status_code == 200
    units = {row["unit"]["id"] for row in response.json}
    assert units == {unit.id}
    total = json.loads(response.headers["X-Pagination"])["total"]
    expected = db.session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.unit_id == unit.id)
    )
    assert total == expected
    # Asking for another unit changes nothing: the token's unit wins.
    other = unit_named("青山区人民政府", "baotou")
    response = client.get(f"/api/v1/assignments/?unit={other.id}")
    assert response.json == []


def test_a_unit_token_cannot_open_another_units_assignment(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    foreign = db.session.scalar(select(Assignment.id).where(Assignment.unit_id == other.id))
    response = api_as("unit", unit).get(f"/api/v1/assignments/{foreign}")
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


def test_list_pages_filters_and_sorts(api_as):
    office = api_as("office")
    first = office.get("/api/v1/assignments/?plan=baotou-2022&page_size=7&sort=-id")
    assert first.status_code == 200
    ids = [row["id"] for row in first.json]
    assert len(ids) == 7 and ids == sorted(ids, reverse=True)
    assert {row["plan"] for row in first.json} == {"baotou-2022"}
    meta = json.loads(first.headers["X-Pagination"])
    assert meta["page"] == 1 and meta["total"] > 7
    second = office.get("/api/v1/assignments/?plan=baotou-2022&page_size=7&sort=-id&page=2")
    assert max(row["id"] for row in second.json) < min(ids)
    row = first.json[0]
    assert set(row["unit"]) == {"id", "name"} and row["item"]["code"]
    if row["next_milestone"] is not None:
        assert row["next_milestone"]["effective_due_on"] == row["next_due_on"]


def test_invalid_arguments_get_422_with_errors_by_field(api_as):
    response = api_as("office").get("/api/v1/assignments/?sort=colour&status=done&page_size=0")
    assert response.status_code == 422
    body = response.json
    assert body["code"] == "validation_failed"
    assert {"sort", "status.0"} <= set(body["errors"]) or {"sort"} <= set(body["errors"])


def test_etag_and_version_detect_a_concurrent_change(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    new = db.session.scalar(
        select(Assignment.id).where(Assignment.unit_id == unit.id, Assignment.status == "new")
    )
    seen = client.get(f"/api/v1/assignments/{new}")
    etag = seen.headers["ETag"]
    unchanged = client.get(f"/api/v1/assignments/{new}", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    version = seen.json["version"]
    done = client.post(f"/api/v1/assignments/{new}/acknowledge", json={"version": version})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "acknowledged"
    assert done.json["version"] == version + 1
    changed = client.get(f"/api/v1/assignments/{new}", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    # A second client still holding the old version is told the assignment changed.
    stale = client.post(f"/api/v1/assignments/{new}/acknowledge", json={"version": version})
    assert stale.status_code == 409
    assert stale.json["code"] == "stale"


# -- the list's own JSON (built without the response schema) ---------------------------------


def test_the_list_says_exactly_what_the_schema_says_for_one_assignment(api_as):
    office = api_as("office")
    listed = office.get("/api/v1/assignments/?plan=baotou-2022&page_size=30&sort=-due_on")
    assert listed.status_code == 200
    assert len(listed.json) == 30
    assert any(row["next_milestone"] for row in listed.json)
    for row in listed.json:
        # The single assignment still goes through AssignmentSchema.
        assert office.get(f"/api/v1/assignments/{row['id']}").json == row


def test_the_next_milestone_is_the_earliest_open_one_on_the_next_due_date(api_as):
    listed = api_as("office").get("/api/v1/assignments/?plan=baotou-2022&page_size=100").json
    for row in listed:
        milestones = db.session.scalars(
            select(Milestone)
            .where(Milestone.assignment_id == row["id"], Milestone.status == "open")
            .order_by(Milestone.due_on, Milestone.id)
        ).all()
        due = row["next_due_on"]
        expected = next(
            (m for m in milestones if (m.extended_to or m.due_on).isoformat() == due), None
        )
        if expected is None:
            assert row["next_milestone"] is None
        else:
            assert row["next_milestone"]["id"] == expected.id
            assert row["next_milestone"]["effective_due_on"] == due


@pytest.mark.parametrize("sort", ["due_on", "-due_on", "status", "-percent", "-updated_at"])
def test_pages_of_every_sort_join_up_with_the_totals(api_as, sort):
    office = api_as("office")
    query = f"/api/v1/assignments/?plan=baotou-2022&sort={sort}"
    whole = office.get(f"{query}&page_size=30")
    pages = [office.get(f"{query}&page_size=10&page={n}") for n in (1, 2, 3)]
    assert [r["id"] for p in pages for r in p.json] == [r["id"] for r in whole.json]
    totals = {json.loads(p.headers["X-Pagination"])["total"] for p in (whole, *pages)}
    expected = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == "baotou-2022")
    )
    assert totals == {expected}
    beyond = office.get(f"{query}&page_size=10&page=9999")
    assert beyond.status_code == 200 and beyond.json == []
    assert json.loads(beyond.headers["X-Pagination"])["total"] == expected


def test_a_unit_token_still_sees_only_its_open_assignments_whatever_it_asks(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    client = api_as("unit", unit)
    response = client.get("/api/v1/assignments/?open=true&sort=-due_on&page_size=500")
    assert response.status_code == 200 and response.json
    assert {row["unit"]["id"] for row in response.json} == {unit.id}
    assert all(row["status"] != "completed" for row in response.json)
    expected = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.unit_id == unit.id, Assignment.status != "completed")
    )
    assert json.loads(response.headers["X-Pagination"])["total"] == expected == len(response.json)
    theirs = client.get(f"/api/v1/assignments/?open=true&unit={other.id}&plan=baotou-2022")
    assert theirs.json == [] and json.loads(theirs.headers["X-Pagination"])["total"] == 0


def test_answers_are_utf8_json_and_say_so(api_as):
    response = api_as("office").get("/api/v1/assignments/?plan=baotou-2022&page_size=5")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    text = response.data.decode("utf-8")
    assert "\\u" not in text  # Chinese as UTF-8, not as escapes
    assert response.json[0]["unit"]["name"] in text
