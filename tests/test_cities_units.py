"""Cities and units kept from the browser, the API and the command line: create and edit,
other names (aliases), retirement and merging (机构改革)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.models import Assignment, Contact, Item, Plan
from taskhub.plans.models import ItemUnit
from taskhub.tracking.models import AssignmentStatus
from taskhub.units import admin, merging
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup
from taskhub.units.services import resolve_name, unit_choices, unit_label
from tests.conftest import PASSWORD, make_user, unit_named

SOURCE, TARGET = "市财政局", "市营商环境局"  # both lead and share tasks in hegang-2022


def events(action: str, object_id: int | str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.object_id == str(object_id)
            )
        )
    )


def assignments_of(unit: Unit, plan: str | None = None) -> list[Assignment]:
    query = select(Assignment).where(Assignment.unit_id == unit.id).order_by(Assignment.id)
    if plan:
        query = query.join(Item).join(Plan).where(Plan.code == plan)
    return list(db.session.scalars(query))


# -- pages --------------------------------------------------------------------------------------


def test_office_creates_a_city_and_its_unit_in_the_browser(client, login_as):
    office = login_as("office")
    response = client.post(
        "/cities/new",
        data={"code": "newtown", "name": "新城市", "province": "某某省", "timezone": ""},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/cities/newtown")
    city = db.session.scalars(select(City).where(City.code == "newtown")).one()
    assert (city.name, city.province, city.timezone) == ("新城市", "某某省", "Asia/Shanghai")
    assert events("city.created", city.id)[0].actor_id == office.id

    response = client.post(
        "/cities/newtown/units/new",
        data={
            "name": "新城市发展和改革委员会",
            "kind": "department",
            "aliases": "市发改委\n发改委\n",
        },
    )
    assert response.status_code == 302
    unit = db.session.scalars(select(Unit).where(Unit.city_id == city.id)).one()
    # The unit's own name is one of its alias rows, as the seed loader writes them.
    assert {a.name for a in unit.aliases} == {"新城市发展和改革委员会", "市发改委", "发改委"}
    assert resolve_name(city.id, "发改委") is unit
    assert events("unit.created", unit.id)

    page = client.get("/cities/newtown").get_data(as_text=True)
    assert "新城市发展和改革委员会" in page and "市发改委" in page
    assert "/imports#units" in page
    listing = client.get("/cities").get_data(as_text=True)
    assert "新城市" in listing and "某某省" in listing


def test_city_form_errors_are_chinese_and_nothing_is_saved(client, login_as):
    login_as("office")
    response = client.post("/cities/new", data={"code": "baotou", "name": "另一个包头"})
    assert response.status_code == 422
    assert "城市代码“baotou”已存在" in response.get_data(as_text=True)
    response = client.post(
        "/cities/new", data={"code": "x-town", "name": "某市", "timezone": "Mars/Olympus"}
    )
    assert response.status_code == 422
    assert "不是有效的时区" in response.get_data(as_text=True)
    assert db.session.scalar(select(City).where(City.code == "x-town")) is None


def test_rename_keeps_the_old_name_as_an_alias(client, login_as):
    login_as("admin")
    unit = unit_named("市科技局", "baotou")
    response = client.post(
        f"/units/{unit.id}/edit",
        data={"name": "市科学技术局", "kind": "department", "parent_id": ""},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert unit.name == "市科学技术局"
    assert resolve_name(unit.city_id, "市科技局") is unit
    assert resolve_name(unit.city_id, "市科学技术局") is unit
    event = events("unit.updated", unit.id)[-1]
    assert event.before["name"] == "市科技局" and event.after["name"] == "市科学技术局"


def test_alias_clash_is_refused_with_a_chinese_error(client, login_as):
    login_as("office")
    unit = unit_named("市科技局", "baotou")
    before = db.session.scalar(select(func.count()).select_from(UnitAlias))
    response = client.post(f"/units/{unit.id}/aliases", data={"alias": "市发改委"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "“市发改委”已是本市“市发改委”的名称" in page or "“市发改委”已是本市" in page
    assert db.session.scalar(select(func.count()).select_from(UnitAlias)) == before

    # A group's name is taken as well: names are unique across units and groups.
    group = db.session.scalars(
        select(UnitGroup).join(City).where(City.code == "baotou").order_by(UnitGroup.id)
    ).first()
    with pytest.raises(admin.UnitRefused, match=group.name):
        admin.add_alias(unit, group.name, actor=None)


def test_alias_added_and_removed_but_not_the_own_name(client, login_as):
    login_as("office")
    unit = unit_named("市科技局", "baotou")
    assert client.post(f"/units/{unit.id}/aliases", data={"alias": "科技局"}).status_code == 302
    alias = db.session.scalars(select(UnitAlias).where(UnitAlias.name == "科技局")).one()
    assert alias.unit_id == unit.id
    assert events("unit.alias_added", unit.id)
    response = client.post(f"/units/{unit.id}/aliases/{alias.id}/delete")
    assert response.status_code == 302
    assert db.session.get(UnitAlias, alias.id) is None
    own = next(a for a in unit.aliases if a.name == unit.name)
    response = client.post(f"/units/{unit.id}/aliases/{own.id}/delete", follow_redirects=True)
    assert "是该单位本身的名称" in response.get_data(as_text=True)
    assert db.session.get(UnitAlias, own.id) is not None


def test_retired_unit_is_hidden_from_lists_and_pickers(client, login_as):
    login_as("office")
    unit = unit_named("市科技局", "baotou")
    assert unit_label(unit) in {c.label for c in unit_choices()}
    assert client.post(f"/units/{unit.id}/retire").status_code == 302
    db.session.expire_all()
    assert unit.retired_on is not None and events("unit.retired", unit.id)
    page = client.get("/units?city=baotou&kind=department").get_data(as_text=True)
    assert f'href="/units/{unit.id}"' not in page.split('id="groups"')[0]
    page = client.get("/units?city=baotou&kind=department&retired=1").get_data(as_text=True)
    assert f'href="/units/{unit.id}"' in page and "已停用" in page
    assert unit_label(unit) not in {c.label for c in unit_choices()}
    # History stays: the unit page and its assignments are still there.
    assert client.get(f"/units/{unit.id}").status_code == 200
    assert assignments_of(unit)

    assert client.post(f"/units/{unit.id}/reactivate").status_code == 302
    db.session.expire_all()
    assert unit.retired_on is None and events("unit.reactivated", unit.id)


def _resync(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Load a plan's seed file again as if it had changed."""
    from taskhub.config import PROJECT_ROOT
    from taskhub.plans import seeds

    monkeypatch.setattr(seeds, "LOADER_VERSION", "resync-" + code)
    seeds.load_seeds(PROJECT_ROOT / "seeds", [code])
    db.session.flush()


def test_retired_unit_gets_no_assignments_when_the_plan_is_synced_again(session, monkeypatch):
    retired, active = unit_named("市科技局", "hegang"), unit_named("市教育局", "hegang")
    for unit in (retired, active):
        for a in assignments_of(unit, "hegang-2022"):
            db.session.delete(a)
    db.session.flush()
    admin.retire_unit(retired, actor=None)
    kept = unit_named("市人社局", "hegang")
    admin.retire_unit(kept, actor=None)
    history = [a.id for a in assignments_of(kept, "hegang-2022")]
    assert history

    _resync(monkeypatch, "hegang-2022")

    assert assignments_of(retired, "hegang-2022") == []
    assert assignments_of(active, "hegang-2022")  # the control: an active unit gets them back
    assert [a.id for a in assignments_of(kept, "hegang-2022")] == history  # history stays


# -- merging ------------------------------------------------------------------------------------


def _merge_setup() -> tuple[Unit, Unit, Assignment, Contact, User]:
    source, target = unit_named(SOURCE, "hegang"), unit_named(TARGET, "hegang")
    target_items = {a.item_id for a in assignments_of(target)}
    done = next(a for a in assignments_of(source) if a.item_id not in target_items)
    done.status = AssignmentStatus.COMPLETED.value
    contact = Contact(unit_id=source.id, name="张敏", mobile="13800000001")
    db.session.add(contact)
    db.session.commit()
    user = make_user("unit", source, username="caizheng")
    return source, target, done, contact, user


def test_merge_preview_then_confirm_moves_open_work_and_keeps_history(client, login_as):
    office = login_as("office")
    source, target, done, contact, user = _merge_setup()
    target_items = {a.item_id for a in assignments_of(target)}
    open_mine = [a.id for a in assignments_of(source) if a.id != done.id]
    will_move = [a.id for a in assignments_of(source) if a.item_id not in target_items]
    will_move.remove(done.id)
    conflicts = [a.id for a in assignments_of(source) if a.item_id in target_items]
    assert will_move and conflicts and len(open_mine) == len(will_move) + len(conflicts)
    groups = {g.id for g in source.groups}

    page = client.get(f"/units/{source.id}/merge?into={target.id}").get_data(as_text=True)
    assert "预览" in page and "张敏" in page
    assert f"<dd>{len(will_move)}</dd>" in page and f"<dd>{len(conflicts)}</dd>" in page
    assert db.session.get(Unit, source.id).retired_on is None  # a preview changes nothing

    refused = client.post(
        f"/units/{source.id}/merge", data={"into": target.id, "confirm": "1", "reason": ""}
    )
    assert refused.status_code == 422
    assert db.session.get(Unit, source.id).retired_on is None

    response = client.post(
        f"/units/{source.id}/merge",
        data={"into": target.id, "confirm": "1", "reason": "机构改革：两局合并"},
    )
    assert response.status_code == 302
    db.session.expire_all()

    assert {a.id for a in assignments_of(target)} >= set(will_move)
    stayed = {a.id: a for a in assignments_of(source)}
    assert set(stayed) == {done.id, *conflicts}  # completed work and shared items stay
    # Shared items: the target's assignment carries on, the source's is closed (not counted).
    assert all(stayed[a].is_not_applicable for a in conflicts)
    assert not stayed[done.id].is_not_applicable
    assert db.session.get(Contact, contact.id).unit_id == target.id
    assert db.session.get(User, user.id).unit_id == target.id
    assert resolve_name(source.city_id, SOURCE).id == target.id  # the old name is an alias
    source, target = db.session.get(Unit, source.id), db.session.get(Unit, target.id)
    assert source.retired_on is not None and source.merged_into_id == target.id
    assert source.groups == [] and groups <= {g.id for g in target.groups}
    assert not db.session.scalar(
        select(func.count()).select_from(ItemUnit).where(ItemUnit.unit_id == source.id)
    )
    merged = events("unit.merged", source.id)
    assert merged[0].actor_id == office.id
    assert merged[0].after["reason"] == "机构改革：两局合并"
    assert set(merged[0].after["assignments"]) == set(will_move)
    assert events("unit.absorbed", target.id)
    assert events("user.unit_changed", user.id)

    # The moved user now works on the surviving unit's tasks.
    client.post("/logout")
    client.post("/login", data={"username": "caizheng", "password": PASSWORD})
    assert client.get(f"/assignments/{will_move[0]}").status_code == 200


def test_seeds_loaded_again_after_a_merge_keep_the_names_with_the_survivor(session, monkeypatch):
    source, target = unit_named(SOURCE, "hegang"), unit_named(TARGET, "hegang")
    merging.merge_units(source, target, actor=None, reason="机构改革")
    _resync(monkeypatch, "hegang-2022")
    db.session.expire_all()
    assert resolve_name(source.city_id, SOURCE).id == target.id
    open_left = [a for a in assignments_of(source) if a.status != "completed"]
    assert all(a.item_id in {t.item_id for t in assignments_of(target)} for a in open_left)


def test_merge_refuses_retired_target_and_other_city(session):
    source, target = unit_named(SOURCE, "hegang"), unit_named(TARGET, "hegang")
    admin.retire_unit(target, actor=None)
    with pytest.raises(admin.UnitRefused, match="is retired; choose an active unit"):
        merging.merge_units(source, target, actor=None, reason="x")
    assert db.session.get(Unit, source.id).retired_on is None
    elsewhere = unit_named("市科技局", "baotou")
    problems = merging.preview_merge(source, elsewhere).problems
    assert problems == ["Only units of the same city can be merged."]


# -- API ----------------------------------------------------------------------------------------


def test_api_cities_create_read_and_patch_with_etag(api_as):
    office = api_as("office")
    response = office.post(
        "/api/v1/cities/", json={"code": "apitown", "name": "接口市", "province": "某省"}
    )
    assert response.status_code == 201, response.json
    assert response.json["timezone"] == "Asia/Shanghai" and response.json["unit_count"] == 0
    listed = office.get("/api/v1/cities/?q=接口").json
    assert [c["code"] for c in listed] == ["apitown"]

    got = office.get("/api/v1/cities/apitown")
    assert office.patch("/api/v1/cities/apitown", json={"name": "接口新市"}).status_code == 428
    response = office.patch(
        "/api/v1/cities/apitown",
        json={"name": "接口新市", "timezone": "Asia/Urumqi"},
        headers={"If-Match": got.headers["ETag"]},
    )
    assert response.status_code == 200, response.json
    assert response.json["name"] == "接口新市" and response.json["timezone"] == "Asia/Urumqi"
    stale = office.patch(
        "/api/v1/cities/apitown", json={"name": "又一名"}, headers={"If-Match": got.headers["ETag"]}
    )
    assert stale.status_code == 412

    clash = office.post("/api/v1/cities/", json={"code": "apitown", "name": "重复"})
    assert clash.status_code == 409 and "已存在" in clash.json["errors"]["code"][0]
    bad_zone = office.post("/api/v1/cities/", json={"code": "tz", "name": "时区", "timezone": "X"})
    assert bad_zone.status_code == 422 and "timezone" in bad_zone.json["errors"]


def test_api_units_create_patch_aliases_retire(api_as):
    office = api_as("office")
    response = office.post(
        "/api/v1/units/",
        json={"city": "baotou", "name": "市数据局", "kind": "department", "aliases": ["数据局"]},
    )
    assert response.status_code == 201, response.json
    unit_id = response.json["id"]
    assert sorted(response.json["aliases"]) == ["市数据局", "数据局"]

    got = office.get(f"/api/v1/units/{unit_id}")
    response = office.patch(
        f"/api/v1/units/{unit_id}",
        json={"name": "市政务服务和数据管理局"},
        headers={"If-Match": got.headers["ETag"]},
    )
    assert response.status_code == 200, response.json
    assert "市数据局" in response.json["aliases"]

    added = office.post(f"/api/v1/units/{unit_id}/aliases", json={"name": "政数局"})
    assert added.status_code == 201 and added.json["is_own_name"] is False
    clash = office.post(f"/api/v1/units/{unit_id}/aliases", json={"name": "市发改委"})
    assert clash.status_code == 409 and clash.json["code"] == "conflict"
    assert clash.json["errors"]["name"][0].startswith("“市发改委”已是本市")
    names = office.get(f"/api/v1/units/{unit_id}/aliases").json
    assert {a["name"] for a in names} == {"市数据局", "数据局", "政数局", "市政务服务和数据管理局"}
    response = office.delete(f"/api/v1/units/{unit_id}/aliases/{added.json['id']}")
    assert response.status_code == 204
    own = next(a for a in names if a["is_own_name"])
    assert office.delete(f"/api/v1/units/{unit_id}/aliases/{own['id']}").status_code == 409

    retired = office.post(f"/api/v1/units/{unit_id}/retire", json={})
    assert retired.status_code == 200 and retired.json["retired_on"] is not None
    listed = office.get("/api/v1/units/?city=baotou&q=政务服务").json
    assert listed == []
    listed = office.get("/api/v1/units/?city=baotou&q=政务服务&include_retired=true").json
    assert [u["id"] for u in listed] == [unit_id]


def test_api_merge_dry_run_changes_nothing_then_merges(api_as):
    office = api_as("office")
    source, target = unit_named(SOURCE, "hegang"), unit_named(TARGET, "hegang")
    before = [a.id for a in assignments_of(source)]
    url = f"/api/v1/units/{source.id}/merge"
    preview = office.post(url, json={"into": target.id, "reason": "-", "dry_run": True})
    assert preview.status_code == 200, preview.json
    assert preview.json["dry_run"] is True and preview.json["problems"] == []
    assert preview.json["assignments"] and preview.json["conflicts"]
    db.session.expire_all()
    assert [a.id for a in assignments_of(source)] == before
    assert db.session.get(Unit, source.id).retired_on is None

    assert office.post(url, json={"into": target.id}).status_code == 422  # no reason
    itself = office.post(url, json={"into": source.id, "reason": "x", "dry_run": True})
    assert itself.json["problems"] == ["单位不能合并到自身。"]
    done = office.post(url, json={"into": target.id, "reason": "机构改革"})
    assert done.status_code == 200, done.json
    db.session.expire_all()
    assert all(
        db.session.get(Assignment, a).unit_id == target.id for a in preview.json["assignments"]
    )
    assert db.session.get(Unit, source.id).merged_into_id == target.id
    again = office.post(url, json={"into": target.id, "reason": "机构改革"})
    assert again.status_code == 409 and "已停用" in again.json["message"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/v1/cities/", {"code": "nope", "name": "不行"}),
        ("PATCH", "/api/v1/cities/baotou", {"name": "不行"}),
        ("POST", "/api/v1/units/", {"city": "baotou", "name": "不行", "kind": "other"}),
        ("POST", "/api/v1/units/{unit}/retire", {}),
        ("POST", "/api/v1/units/{unit}/merge", {"into": 1, "reason": "x", "dry_run": True}),
        ("POST", "/api/v1/units/{unit}/aliases", {"name": "不行"}),
    ],
)
@pytest.mark.parametrize("role", ["viewer", "assessor", "unit"])
def test_api_refuses_changes_to_other_roles(api_as, role, method, url, body):
    unit = unit_named("昆都仑区人民政府", "baotou")
    client = api_as(role, unit if role in ("unit", "assessor") else None)
    response = client._call(method, url.format(unit=unit.id), json=body)
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


def test_api_reads_cities_for_every_role(api_as):
    response = api_as("viewer").get("/api/v1/cities/")
    assert response.status_code == 200
    assert {"baotou", "hegang"} <= {c["code"] for c in response.json}


# -- command line -------------------------------------------------------------------------------


def test_cli_city_create_and_list(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["city", "create", "clitown", "--name", "命令市", "--province", "某省"]
    )
    assert result.exit_code == 0, result.output
    city = db.session.scalars(select(City).where(City.code == "clitown")).one()
    assert (city.name, city.province, city.timezone) == ("命令市", "某省", "Asia/Shanghai")
    assert events("city.created", city.id)[0].actor_id is None

    result = runner.invoke(args=["city", "create", "clitown", "--name", "又一个"])
    assert result.exit_code == 1
    result = runner.invoke(
        args=["city", "create", "tz-town", "--name", "时区市", "--timezone", "Nowhere/X"]
    )
    assert result.exit_code == 1

    result = runner.invoke(args=["city", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["code"]: row for row in json.loads(result.output)}
    assert rows["clitown"]["units"] == 0 and rows["baotou"]["units"] > 0
