"""The plans, items, units, groups and contacts API: who may read and change what (the same
rules as the pages), a unit's token and other units' contacts, paging, filters, sorting,
validation errors by field, 404s, and ETags guarding contact changes."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.plans.models import Item, ItemUnit, Plan, Section
from taskhub.tracking.models import Assignment
from taskhub.tracking.schedule import MilestoneInput, add_item_milestones
from taskhub.units.models import Contact, Unit, UnitAlias, UnitGroup, unit_group_members
from tests.conftest import unit_named

ROLES = ("admin", "office", "assessor", "viewer", "unit")


def _total(response: Any) -> int:
    return int(json.loads(response.headers["X-Pagination"])["total"])


def _plan_id(code: str) -> int:
    return int(db.session.scalar(select(Plan.id).where(Plan.code == code)))


def _an_item() -> Item:
    """An item that names a lead unit and is assigned to several units."""
    return db.session.scalars(
        select(Item)
        .join(ItemUnit, ItemUnit.item_id == Item.id)
        .where(ItemUnit.role == "lead")
        .where(
            Item.id.in_(
                select(Assignment.item_id)
                .group_by(Assignment.item_id)
                .having(func.count(func.distinct(Assignment.unit_id)) > 1)
            )
        )
        .order_by(Item.id)
    ).first()


def _a_group() -> UnitGroup:
    """A group with members."""
    return db.session.scalars(
        select(UnitGroup).where(UnitGroup.id.in_(select(unit_group_members.c.group_id)))
    ).first()


# -- reading: every signed-in role, nobody without a token ---------------------------------------


def _read_urls() -> list[str]:
    item = _an_item()
    group = _a_group()
    unit = unit_named("昆都仑区人民政府", "baotou")
    return [
        "/api/v1/plans/",
        "/api/v1/plans/baotou-2022",
        "/api/v1/plans/baotou-2022/sections",
        "/api/v1/items/",
        f"/api/v1/items/{item.id}",
        "/api/v1/units/",
        f"/api/v1/units/{unit.id}",
        "/api/v1/groups/",
        f"/api/v1/groups/{group.id}",
        f"/api/v1/groups/{group.id}/members",
        "/api/v1/contacts/",
        f"/api/v1/units/{unit.id}/contacts",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_plans_items_units_and_groups(api_as, role):
    # The unit user belongs to 昆都仑区, whose contacts it may read too.
    client = api_as(role)
    for url in _read_urls():
        response = client.get(url)
        assert response.status_code == 200, (role, url, response.json)


def test_without_a_token_every_endpoint_answers_401(client, session):
    for url in _read_urls():
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json["code"] == "unauthorized"


# -- plans ----------------------------------------------------------------------------------------


def test_plans_list_filters_sorts_pages_and_counts(api_as):
    office = api_as("office")
    everything = office.get("/api/v1/plans/")
    assert _total(everything) == db.session.scalar(select(func.count()).select_from(Plan))
    assert [p["code"] for p in everything.json] == sorted(p["code"] for p in everything.json)

    baotou = office.get("/api/v1/plans/?city=baotou").json
    assert [p["code"] for p in baotou] == ["baotou-2022"]
    assert baotou[0]["city"] == {"code": "baotou", "name": baotou[0]["city"]["name"]}
    tasks = office.get("/api/v1/plans/?kind=tasks").json
    assert {p["kind"] for p in tasks} == {"tasks"} and "hegang-2022" in {p["code"] for p in tasks}
    assert [p["code"] for p in office.get("/api/v1/plans/?year=2020").json] == ["shengzhou-2020"]

    by_year = office.get("/api/v1/plans/?sort=-year").json
    assert [p["year"] for p in by_year] == sorted((p["year"] for p in by_year), reverse=True)
    first = office.get("/api/v1/plans/?page_size=2&sort=code")
    second = office.get("/api/v1/plans/?page_size=2&page=2&sort=code")
    assert len(first.json) == 2 and json.loads(first.headers["X-Pagination"])["next_page"] == 2
    assert first.json[-1]["code"] < second.json[0]["code"]

    hegang = next(p for p in everything.json if p["code"] == "hegang-2022")
    plan_id = _plan_id("hegang-2022")
    assert hegang["counts"]["items"] == db.session.scalar(
        select(func.count()).where(Item.plan_id == plan_id)
    )
    assert hegang["counts"]["assignments"] == db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan_id)
    )


def test_plan_points_travel_as_exact_decimal_strings(api_as):
    plans = api_as("viewer").get("/api/v1/plans/").json
    with_points = [p for p in plans if p["points"] is not None]
    assert with_points, "a seeded indicator system has a points total"
    for plan in with_points:
        assert isinstance(plan["points"], str)
        stored = db.session.scalar(select(Plan.points).where(Plan.code == plan["code"]))
        assert plan["points"] == str(stored)


def test_one_plan_has_its_summary_counts_and_etag(api_as):
    client = api_as("unit", unit_named("昆都仑区人民政府", "baotou"))
    response = client.get("/api/v1/plans/baotou-2022")
    assert response.status_code == 200
    plan = response.json
    counts = plan["counts"]
    assert counts["sections"] == db.session.scalar(
        select(func.count()).where(Section.plan_id == _plan_id("baotou-2022"))
    )
    # Plans are public within the deployment: a unit sees the whole plan's counts.
    assert sum(counts["by_status"].values()) == counts["assignments"] > 0
    assert plan["assessed"] and {a["type"] for a in plan["assessed"]} <= {"unit", "group"}
    again = client.get(
        "/api/v1/plans/baotou-2022", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


def test_unknown_plan_is_404_with_the_error_body(api_as):
    office = api_as("office")
    for url in ("/api/v1/plans/nowhere-1999", "/api/v1/plans/nowhere-1999/sections"):
        response = office.get(url)
        assert response.status_code == 404
        assert response.json["code"] == "not_found" and "nowhere-1999" in response.json["message"]


def test_sections_come_depth_first_with_parent_ids_that_build_the_tree(api_as):
    office = api_as("office")
    response = office.get("/api/v1/plans/baotou-2022/sections?page_size=500")
    sections = response.json
    assert _total(response) == len(sections) > 1
    by_id = {s["id"]: s for s in sections}
    assert [s["position"] for s in sections] == sorted(s["position"] for s in sections)
    for section in sections:
        if section["parent_id"] is None:
            assert section["depth"] == 1
        else:
            parent = by_id[section["parent_id"]]
            assert section["depth"] == parent["depth"] + 1
            assert section["path"].startswith(parent["path"] + "/")
    loose = db.session.scalar(
        select(func.count()).where(
            Item.plan_id == _plan_id("baotou-2022"), Item.section_id.is_(None)
        )
    )
    items = office.get("/api/v1/plans/baotou-2022").json["counts"]["items"]
    assert sum(s["item_count"] for s in sections) + loose == items

    top = office.get("/api/v1/plans/baotou-2022/sections?depth=1").json
    assert top and all(s["parent_id"] is None for s in top)
    children = office.get(f"/api/v1/plans/baotou-2022/sections?parent={top[0]['id']}").json
    assert all(s["parent_id"] == top[0]["id"] for s in children)


# -- items ----------------------------------------------------------------------------------------


def test_items_filter_by_plan_section_and_text(api_as):
    office = api_as("office")
    plan_id = _plan_id("baotou-2022")
    response = office.get("/api/v1/items/?plan=baotou-2022&page_size=500")
    assert {i["plan"] for i in response.json} == {"baotou-2022"}
    assert _total(response) == db.session.scalar(
        select(func.count()).where(Item.plan_id == plan_id)
    )
    # A top-level section's filter takes in the items of the sections below it.
    top = db.session.scalars(
        select(Section)
        .where(Section.plan_id == plan_id, Section.depth == 1)
        .where(Section.id.in_(select(Section.parent_id)))
        .order_by(Section.position)
    ).first()
    below = {s.id for s in db.session.scalars(select(Section).where(Section.plan_id == plan_id))}
    subtree = {top.id} | {
        s for s in below if db.session.get(Section, s).path.startswith(top.path + "/")
    }
    found = office.get(f"/api/v1/items/?section={top.id}&page_size=500").json
    assert found and {i["section_id"] for i in found} <= subtree
    assert any(i["section_id"] != top.id for i in found)
    assert office.get("/api/v1/items/?section=999999").json == []

    item = _an_item()
    needle = item.text[2:8]
    texts = office.get("/api/v1/items/", query_string={"q": needle, "page_size": 500}).json
    assert item.id in {i["id"] for i in texts}
    assert all(needle in (i["text"] + (i["title"] or "") + i["code"]) for i in texts)
    # LIKE wildcards are searched for literally.
    assert office.get("/api/v1/items/?q=%25%25%25").json == []


def test_items_filter_by_lead_unit_directly_or_through_a_group(api_as):
    office = api_as("office")
    lead = db.session.scalars(
        select(ItemUnit).where(ItemUnit.role == "lead", ItemUnit.unit_id.is_not(None))
    ).first()
    unit_id = lead.unit_id
    groups = set(
        db.session.scalars(
            select(unit_group_members.c.group_id).where(unit_group_members.c.unit_id == unit_id)
        )
    )
    items = office.get(f"/api/v1/items/?lead={unit_id}&page_size=500").json
    assert lead.item_id in {i["id"] for i in items}
    for item in items:
        named = item["units"]["lead"]
        assert any(
            (t["type"] == "unit" and t["id"] == unit_id)
            or (t["type"] == "group" and t["id"] in groups)
            for t in named
        ), item["code"]
    every_role = office.get(f"/api/v1/items/?unit={unit_id}&page_size=500")
    assert _total(every_role) >= len(items)


def test_items_sort_and_page(api_as):
    office = api_as("office")
    codes = [i["code"] for i in office.get("/api/v1/items/?plan=hegang-2022&sort=-code").json]
    assert codes == sorted(codes, reverse=True)
    first = office.get("/api/v1/items/?page_size=5")
    second = office.get("/api/v1/items/?page_size=5&page=2")
    assert len(first.json) == 5 and max(i["id"] for i in first.json) < second.json[0]["id"]


def test_invalid_list_arguments_get_422_by_field(api_as):
    office = api_as("office")
    cases = {
        "/api/v1/items/?sort=colour&lead=abc&applicability=sometimes": {
            "sort",
            "lead",
            "applicability",
        },
        "/api/v1/plans/?kind=poem&year=12": {"kind", "year"},
        "/api/v1/units/?kind=castle&group=0": {"kind", "group"},
        "/api/v1/groups/?sort=colour": {"sort"},
        "/api/v1/contacts/?unit=-1&q=": {"unit", "q"},
        "/api/v1/plans/baotou-2022/sections?depth=0": {"depth"},
    }
    for url, fields in cases.items():
        response = office.get(url)
        assert response.status_code == 422, url
        assert response.json["code"] == "validation_failed"
        assert fields <= set(response.json["errors"]), (url, response.json)
    too_big = office.get("/api/v1/items/?page_size=501")
    assert too_big.status_code == 422 and "page_size" in too_big.json["errors"]


def test_one_item_has_its_units_points_and_schedule(api_as):
    item = _an_item()
    steps = [
        MilestoneInput("stage", date(2022, 6, 30), "完成平台建设"),
        MilestoneInput("complete", date(2022, 12, 31), "全面完成"),
    ]
    add_item_milestones([item], steps, actor_id=None)
    db.session.commit()
    response = api_as("viewer").get(f"/api/v1/items/{item.id}")
    assert response.status_code == 200
    body = response.json
    assert body["code"] == item.code and body["plan"] == item.plan.code
    leads = [u.name for u in item.units_by_role("lead")]
    assert [t["name"] for t in body["units"]["lead"]] == leads
    assert [(s["kind"], s["due_on"], s["title"], s["source"]) for s in body["schedule"]] == [
        ("stage", "2022-06-30", "完成平台建设", "office"),
        ("complete", "2022-12-31", "全面完成", "office"),
    ]
    # Both dates are long past and nobody finished: overdue for every unit.
    assert {s["state"] for s in body["schedule"]} == {"overdue"}
    step = body["schedule"][0]
    assert step["progress"]["total"] == db.session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.item_id == item.id)
    )
    assert body["assignment_counts"]["overdue"] >= 0
    assert api_as("office").get("/api/v1/items/999999").status_code == 404


def test_a_unit_token_sees_only_its_own_assignment_in_an_items_counts(api_as):
    # An item assigned to several units: the office sees them all, a unit its own.
    item_id, unit_id = db.session.execute(
        select(Assignment.item_id, func.min(Assignment.unit_id))
        .group_by(Assignment.item_id)
        .having(func.count(func.distinct(Assignment.unit_id)) > 1)
        .order_by(Assignment.item_id)
    ).first()
    unit = db.session.get(Unit, unit_id)
    add_item_milestones(
        [db.session.get(Item, item_id)],
        [MilestoneInput("stage", date(2022, 6, 30), "完成平台建设")],
        actor_id=None,
    )
    db.session.commit()
    office = api_as("office").get(f"/api/v1/items/{item_id}").json
    own = api_as("unit", unit).get(f"/api/v1/items/{item_id}").json
    counts = {k: v for k, v in own["assignment_counts"].items() if k != "overdue"}
    mine = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.item_id == item_id, Assignment.unit_id == unit_id)
    )
    assert sum(counts.values()) == mine
    everyone = {k: v for k, v in office["assignment_counts"].items() if k != "overdue"}
    assert sum(everyone.values()) > mine
    assert own["schedule"][0]["progress"]["total"] == mine
    assert office["schedule"][0]["progress"]["total"] == sum(everyone.values())


# -- units and groups -----------------------------------------------------------------------------


def test_units_filter_by_city_kind_and_name_or_alias(api_as):
    viewer = api_as("viewer")
    baotou = viewer.get("/api/v1/units/?city=baotou&page_size=500")
    assert {u["city"]["code"] for u in baotou.json} == {"baotou"}
    counties = viewer.get("/api/v1/units/?city=baotou&kind=county&page_size=500").json
    assert counties and {u["kind"] for u in counties} == {"county"}
    assert len(counties) < _total(baotou)

    unit = unit_named("昆都仑区人民政府", "baotou")
    found = viewer.get("/api/v1/units/", query_string={"q": "昆都仑"}).json
    assert unit.id in {u["id"] for u in found}
    # A variant name the unit's own name does not contain finds it too.
    variant = next(
        a
        for a in db.session.scalars(select(UnitAlias).where(UnitAlias.unit_id.is_not(None)))
        if a.name not in a.unit.name
    )
    by_alias = viewer.get("/api/v1/units/", query_string={"q": variant.name}).json
    assert variant.unit_id in {u["id"] for u in by_alias}

    names = [u["name"] for u in viewer.get("/api/v1/units/?city=baotou&sort=-name").json]
    assert names == sorted(names, reverse=True)
    row = next(u for u in baotou.json if u["id"] == unit.id)
    assert row["assignment_count"] == db.session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.unit_id == unit.id)
    )


def test_one_unit_has_aliases_groups_and_counts_by_plan(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    body = api_as("unit", unit_named("青山区人民政府", "baotou")).get(f"/api/v1/units/{unit.id}")
    assert body.status_code == 200
    data = body.json
    assert "昆都仑区人民政府" in data["aliases"]
    assert {g["id"] for g in data["groups"]} == {g.id for g in unit.groups}
    assert sum(p["count"] for p in data["assignments_by_plan"]) == data["assignment_count"]
    assert api_as("office").get("/api/v1/units/999999").status_code == 404


def test_groups_with_sizes_and_paged_members(api_as):
    office = api_as("office")
    group = _a_group()
    size = len(group.members)
    groups = office.get("/api/v1/groups/?sort=-size&page_size=500").json
    assert [g["size"] for g in groups] == sorted((g["size"] for g in groups), reverse=True)
    assert next(g for g in groups if g["id"] == group.id)["size"] == size
    one = office.get(f"/api/v1/groups/{group.id}")
    assert one.json["name"] == group.name and one.json["size"] == size
    members = office.get(f"/api/v1/groups/{group.id}/members?page_size=500")
    assert _total(members) == size
    assert {u["id"] for u in members.json} == {u.id for u in group.members}
    page = office.get(f"/api/v1/groups/{group.id}/members?page_size=1")
    assert len(page.json) == 1 and _total(page) == size
    # The units list narrows to a group the same way.
    same = office.get(f"/api/v1/units/?group={group.id}&page_size=500").json
    assert {u["id"] for u in same} == {u.id for u in group.members}
    assert office.get("/api/v1/groups/999999").status_code == 404
    assert office.get("/api/v1/groups/999999/members").status_code == 404


# -- contacts -------------------------------------------------------------------------------------

NEW_CONTACT = {"name": "王芳", "position": "科员", "mobile": "13800000001"}


def _add(client: Any, unit: Unit, **fields: Any) -> Any:
    return client.post(f"/api/v1/units/{unit.id}/contacts", json={**NEW_CONTACT, **fields})


def _audit(action: str, contact_id: int) -> AuditEvent | None:
    return db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.object_id == str(contact_id)
        )
    ).first()


def test_a_unit_keeps_its_own_contacts_and_every_change_is_audited(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    created = _add(client, unit)
    assert created.status_code == 201, created.json
    contact = created.json
    assert contact["unit"] == {"id": unit.id, "name": unit.name}
    assert contact["mobile"] == "13800000001" and contact["email"] is None
    assert _audit("contact.created", contact["id"]).actor_id == client.user.id

    listed = client.get(f"/api/v1/units/{unit.id}/contacts").json
    assert contact["id"] in {c["id"] for c in listed}
    assert client.get(f"/api/v1/contacts/{contact['id']}").json == contact


def test_a_unit_token_cannot_see_or_change_another_units_contacts(api_as):
    mine = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    office = api_as("office")
    theirs = _add(office, other).json
    own = _add(office, mine).json
    client = api_as("unit", mine)

    assert client.get(f"/api/v1/units/{other.id}/contacts").status_code == 403
    assert client.get(f"/api/v1/contacts/{theirs['id']}").status_code == 403
    assert _add(client, other).status_code == 403
    etag = office.get(f"/api/v1/contacts/{theirs['id']}").headers["ETag"]
    changed = client.patch(
        f"/api/v1/contacts/{theirs['id']}", json={"name": "x"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 403
    removed = client.delete(f"/api/v1/contacts/{theirs['id']}", headers={"If-Match": etag})
    assert removed.status_code == 403
    assert db.session.get(Contact, theirs["id"]).name == NEW_CONTACT["name"]

    # The list shows its own unit's contacts only, whatever unit it asks for.
    listed = client.get("/api/v1/contacts/?page_size=500")
    assert {c["unit"]["id"] for c in listed.json} == {mine.id}
    assert own["id"] in {c["id"] for c in listed.json}
    assert client.get(f"/api/v1/contacts/?unit={other.id}").json == []
    everyone = office.get("/api/v1/contacts/?page_size=500").json
    assert {theirs["id"], own["id"]} <= {c["id"] for c in everyone}


@pytest.mark.parametrize(
    ("role", "may_read", "may_change"),
    [
        ("admin", True, True),
        ("office", True, True),
        ("viewer", True, False),
        # An assessor reads contacts but keeps none, not even its own unit's (as on the pages).
        ("assessor", True, False),
    ],
)
def test_who_reads_and_changes_contacts_follows_the_units_rule(api_as, role, may_read, may_change):
    unit = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    contact = _add(api_as("office"), other).json
    client = api_as(role, unit if role == "assessor" else None)
    read = client.get(f"/api/v1/contacts/{contact['id']}")
    assert (read.status_code == 200) is may_read
    added = _add(client, unit if role == "assessor" else other)
    assert added.status_code == (201 if may_change else 403), added.json
    changed = client.patch(
        f"/api/v1/contacts/{contact['id']}",
        json={"position": "主任"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == (200 if may_change else 403)


def test_contact_changes_need_the_current_etag(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("unit", unit)
    contact = _add(client, unit).json
    url = f"/api/v1/contacts/{contact['id']}"
    etag = client.get(url).headers["ETag"]

    missing = client.patch(url, json={"position": "主任"})
    assert missing.status_code == 428
    assert missing.json["code"] == "precondition_required"
    assert client.delete(url).status_code == 428

    done = client.patch(url, json={"position": "主任"}, headers={"If-Match": etag})
    assert done.status_code == 200, done.json
    # Only the fields sent change.
    assert done.json["position"] == "主任" and done.json["mobile"] == contact["mobile"]
    assert done.headers["ETag"] != etag
    event = _audit("contact.updated", contact["id"])
    assert event.before["position"] == "科员" and event.after["position"] == "主任"

    # Someone holding the old ETag is told the contact changed meanwhile.
    stale = client.patch(url, json={"position": "科长"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["code"] == "precondition_failed"
    assert client.delete(url, headers={"If-Match": etag}).status_code == 412
    assert db.session.get(Contact, contact["id"]).position == "主任"

    gone = client.delete(url, headers={"If-Match": done.headers["ETag"]})
    assert gone.status_code == 204
    assert client.get(url).status_code == 404
    assert _audit("contact.deleted", contact["id"]).before["name"] == NEW_CONTACT["name"]


def test_invalid_contacts_get_422_by_field(api_as):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as("office")
    bad = _add(client, unit, email="not-an-address", webhook_url="ftp://x", mobile="call me")
    assert bad.status_code == 422
    assert {"email", "webhook_url", "mobile"} <= set(bad.json["errors"])
    nameless = client.post(f"/api/v1/units/{unit.id}/contacts", json={"mobile": "13800000001"})
    assert nameless.status_code == 422 and "name" in nameless.json["errors"]
    unreachable = client.post(f"/api/v1/units/{unit.id}/contacts", json={"name": "李四"})
    assert unreachable.status_code == 422 and "mobile" in unreachable.json["errors"]
    not_an_object = client.post(f"/api/v1/units/{unit.id}/contacts", json=["王芳"])
    assert not_an_object.status_code == 422

    contact = _add(client, unit).json
    url = f"/api/v1/contacts/{contact['id']}"
    etag = client.get(url).headers["ETag"]
    # Clearing the only way to reach the contact is refused; so is an empty name.
    cleared = client.patch(url, json={"mobile": ""}, headers={"If-Match": etag})
    assert cleared.status_code == 422 and "mobile" in cleared.json["errors"]
    blank = client.patch(url, json={"name": None}, headers={"If-Match": etag})
    assert blank.status_code == 422 and "name" in blank.json["errors"]
    assert client.get(url).headers["ETag"] == etag  # nothing changed


def test_contacts_of_unknown_units_and_contacts_are_404(api_as):
    office = api_as("office")
    assert office.get("/api/v1/units/999999/contacts").status_code == 404
    assert office.post("/api/v1/units/999999/contacts", json=NEW_CONTACT).status_code == 404
    assert office.get("/api/v1/contacts/999999").status_code == 404
    missing = office.patch(
        "/api/v1/contacts/999999", json={"name": "x"}, headers={"If-Match": '"abc"'}
    )
    assert missing.status_code == 404


def test_contacts_list_filters_and_sorts(api_as):
    office = api_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    for name in ("赵一", "钱二", "孙三"):
        assert _add(office, unit, name=name).status_code == 201
    _add(office, other, name="李四")
    response = office.get(f"/api/v1/contacts/?unit={unit.id}&sort=-name")
    names = [c["name"] for c in response.json]
    assert set(names) >= {"赵一", "钱二", "孙三"} and "李四" not in names
    assert names == sorted(names, reverse=True)
    assert [c["name"] for c in office.get("/api/v1/contacts/?q=钱").json] == ["钱二"]
    paged = office.get(f"/api/v1/contacts/?unit={unit.id}&page_size=2")
    assert len(paged.json) == 2 and _total(paged) == len(names)


def test_ids_and_names_that_cannot_exist_are_refused_not_crashed_on(api_as):
    # Beyond the database's integers, or with a NUL (PostgreSQL text cannot hold one).
    office = api_as("office")
    huge = 10**20
    for url in (
        f"/api/v1/units/{huge}",
        f"/api/v1/items/{huge}",
        f"/api/v1/groups/{huge}/members",
        f"/api/v1/contacts/{huge}",
        "/api/v1/plans/baotou%002022",
        "/api/v1/plans/baotou%002022/sections",
    ):
        response = office.get(url)
        assert response.status_code == 404, url
    for url, field in (
        (f"/api/v1/items/?lead={huge}", "lead"),
        ("/api/v1/units/?q=%00", "q"),
        ("/api/v1/plans/?city=bao%00tou", "city"),
    ):
        response = office.get(url)
        assert response.status_code == 422 and field in response.json["errors"], url
    unit = unit_named("昆都仑区人民政府", "baotou")
    nul = _add(office, unit, name="王\x00芳")
    assert nul.status_code == 422 and "name" in nul.json["errors"]
