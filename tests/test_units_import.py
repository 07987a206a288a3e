"""Units workbook import (单位, 别名, 分组), rule groups, the group pages and API, the CLI."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.imports import units as units_import
from taskhub.imports.units import ALIAS_SHEET, GROUP_SHEET, UNIT_SHEET, split_names
from taskhub.models import Assignment, Item, Plan
from taskhub.units import services
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup
from tests.conftest import PROJECT_ROOT, make_user, unit_named

COUNTY = "各县(市、区)人民政府"
BORDER = "广州、深圳、珠海出入境边防检查总站"


def xlsx(
    units: Sequence[dict[str, Any]] = (),
    aliases: Sequence[dict[str, Any]] = (),
    groups: Sequence[dict[str, Any]] = (),
) -> bytes:
    """A units workbook with the template's headers and the given rows (by column key)."""
    book = Workbook()
    book.remove(book.active)
    for spec, rows in ((UNIT_SHEET, units), (ALIAS_SHEET, aliases), (GROUP_SHEET, groups)):
        ws = book.create_sheet(spec.name)
        ws.append([c.header for c in spec.columns])
        for row in rows:
            ws.append([row.get(c.key) for c in spec.columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write(tmp_path: Path, data: bytes, name: str = "units.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def city(session: Any) -> City:
    """A new city with one county and nothing else."""
    found = City(code="newcity", name="新城市")
    db.session.add(found)
    db.session.flush()
    county = Unit(city_id=found.id, name="东县人民政府", kind="county")
    db.session.add(county)
    db.session.flush()
    db.session.add(UnitAlias(city_id=found.id, name=county.name, unit_id=county.id))
    db.session.commit()
    return found


GOOD = {
    "units": [
        {"name": "市政务服务数据管理局", "kind": "部门", "aliases": "市数据局、市政数局"},
        {"name": COUNTY, "kind": "其他"},
        {"name": BORDER, "kind": "部门"},
        {"name": "西县人民政府", "kind": "县(区)", "aliases": "西县政府"},
        {"name": "西镇人民政府", "kind": "乡镇（街道）", "parent": "西县政府"},
    ],
    "aliases": [{"alias": "各县（市、区）政府", "unit": COUNTY}],
    "groups": [
        {"name": "各县(区)政府", "rule": "县(区)", "source": "行政区划"},
        {"name": "西县各乡镇", "rule": "乡镇(街道)", "rule_parent": "西县人民政府"},
        {
            "name": "市直有关单位",
            "members": f"市数据局、{BORDER}\n各县（市、区）人民政府",
            "source": "文件附件2",
        },
    ],
}


def names_of(city: City, ids: list[int]) -> list[str]:
    return [db.session.get(Unit, i).name for i in ids]  # type: ignore[union-attr]


def group(city: City, name: str) -> UnitGroup:
    found = db.session.scalar(
        select(UnitGroup).where(UnitGroup.city_id == city.id, UnitGroup.name == name)
    )
    assert found is not None, name
    return found


def upload(client: Any, data: bytes, city: str = "newcity") -> Any:
    return client.post(
        "/imports/units",
        data={"city": city, "file": (io.BytesIO(data), "单位.xlsx")},
        content_type="multipart/form-data",
    )


def confirm(client: Any, page: str, city: str = "newcity") -> Any:
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', page)
    assert sha, page
    return client.post(
        "/imports/units/confirm",
        data={"sha256": sha[1], "name": "单位.xlsx", "city": city},
        follow_redirects=True,
    )


def counts(city: City) -> tuple[int, int, int, int]:
    return (
        db.session.scalar(select(func.count()).where(Unit.city_id == city.id)) or 0,
        db.session.scalar(select(func.count()).where(UnitAlias.city_id == city.id)) or 0,
        db.session.scalar(select(func.count()).where(UnitGroup.city_id == city.id)) or 0,
        db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def test_split_names_keeps_bracketed_and_known_names_whole():
    known = {BORDER}.__contains__
    assert split_names(f"{COUNTY}、市数据局", known) == [COUNTY, "市数据局"]
    assert split_names(f"市数据局、{BORDER}", known) == ["市数据局", BORDER]
    assert split_names("各县（市、区）人民政府\n 市数据局 ") == [COUNTY, "市数据局"]
    assert services.normalise_name(" 各县（市、区） 人民政府 ") == COUNTY


def test_import_creates_units_names_and_groups_then_changes_nothing(client, login_as, city):
    login_as("office")
    page = upload(client, xlsx(**GOOD))
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text
    assert "确认导入" in text
    done = confirm(client, text)
    assert done.status_code == 200
    db.session.expire_all()

    county = unit_named(COUNTY, "newcity")
    assert county.kind == "other"
    # Names with brackets and inner 、 are one unit each; full-width spellings are the same name.
    assert unit_named(BORDER, "newcity").kind == "department"
    assert unit_named("各县(市、区)政府", "newcity").id == county.id
    town = unit_named("西镇人民政府", "newcity")
    assert town.kind == "township" and town.parent.name == "西县人民政府"
    assert unit_named("市政数局", "newcity").name == "市政务服务数据管理局"

    members = services.group_member_ids(city.id)
    listed = group(city, "市直有关单位")
    assert listed.rule_kind is None and listed.source == "文件附件2"
    assert sorted(names_of(city, members[listed.id])) == sorted(
        ["市政务服务数据管理局", BORDER, COUNTY]
    )
    counties = group(city, "各县(区)政府")
    assert counties.rule_kind == "county"
    assert sorted(names_of(city, members[counties.id])) == ["东县人民政府", "西县人民政府"]
    towns = group(city, "西县各乡镇")
    assert names_of(city, members[towns.id]) == ["西镇人民政府"]
    # The group's own name resolves to it (plans may name it).
    assert services.resolve_name(city.id, "各县(区)政府") == counties

    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.in_(["unit.created", "group.created"]))
    ).all()
    assert actions.count("unit.created") == 5 and actions.count("group.created") == 3
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "import.units").order_by(AuditEvent.id.desc())
    )
    assert event.after["units_new"] == 5 and event.after["groups_new"] == 3

    # The same file again: the preview says so, and confirming writes nothing.
    before = counts(city)
    again = upload(client, xlsx(**GOOD)).get_data(as_text=True)
    assert "没有变化" in again, again
    assert "确认导入" not in again
    assert counts(city) == before


def test_errors_name_sheet_row_and_column_and_nothing_is_written(
    app, client, login_as, city, tmp_path
):
    bad = {
        "units": [
            {"name": "甲局", "kind": "部门"},
            {"name": "乙局", "kind": "处室"},
            {"name": "甲局", "kind": "部门"},
            {"name": "丙镇", "kind": "乡镇(街道)", "parent": "不存在县"},
        ],
        "aliases": [{"alias": "甲", "unit": "丁局"}],
        "groups": [
            {"name": "两样都有", "members": "甲局", "rule": "部门"},
            {"name": "都没有"},
            {"name": "未知成员", "members": "甲局、戊局"},
        ],
    }
    with app.test_request_context():
        result = units_import.preview(write(tmp_path, xlsx(**bad)), city)
    found = {(e.sheet, e.row, e.column) for e in result.errors}
    assert found == {
        ("单位", 3, "类型"),
        ("单位", 4, "名称"),
        ("单位", 5, "上级单位"),
        ("别名", 2, "单位"),
        ("分组", 2, "规则"),
        ("分组", 3, "成员"),
        ("分组", 4, "成员"),
    }

    login_as("office")
    before = counts(city)
    page = upload(client, xlsx(**bad))
    text = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "「处室」不是单位类型" in text, text
    assert "「戊局」不是新城市或本文件中的单位" in text
    assert "已在第 2 行" in text
    assert "确认导入" not in text
    assert counts(city) == before


def test_confirm_is_all_or_nothing(client, login_as, city, tmp_path):
    """A file that became invalid between preview and confirm writes nothing at all."""
    login_as("office")
    data = xlsx(units=[{"name": "甲局", "kind": "部门"}, {"name": "乙局", "kind": "部门"}])
    text = upload(client, data).get_data(as_text=True)
    # Meanwhile someone else makes 乙局 another name of the county.
    county = unit_named("东县人民政府", "newcity")
    db.session.add(UnitAlias(city_id=city.id, name="乙局", unit_id=county.id))
    db.session.commit()
    before = counts(city)
    done = confirm(client, text)
    assert done.status_code == 422
    assert "乙局" in done.get_data(as_text=True)
    db.session.expire_all()
    assert counts(city) == before
    assert db.session.scalar(select(Unit).where(Unit.name == "甲局")) is None


def test_rule_group_members_follow_units(app, session, city):
    office = make_user("office")
    county = unit_named("东县人民政府", "newcity")
    rule = services.create_group(city, "各县", rule_kind="county", actor=office)
    town_group = services.create_group(
        city, "东县各镇", rule_kind="township", rule_parent_id=county.id, actor=office
    )
    town = Unit(city_id=city.id, name="东镇", kind="township", parent_id=county.id)
    other_town = Unit(city_id=city.id, name="北镇", kind="township")
    new_county = Unit(city_id=city.id, name="南县人民政府", kind="county")
    db.session.add_all([town, other_town, new_county])
    db.session.flush()
    members = services.group_member_ids(city.id)
    assert members[rule.id] == [county.id, new_county.id]
    assert members[town_group.id] == [town.id]
    assert set(db.session.scalars(services.groups_containing(town.id))) == {town_group.id}

    with app.test_request_context(), pytest.raises(services.GroupRefused):
        services.set_members(rule, [county.id], actor=office)

    # Renamed, the group's own name moves; its other names stay.
    db.session.add(UnitAlias(city_id=city.id, name="全部县", group_id=rule.id))
    services.update_group(rule, name="所有县", actor=office)
    assert services.resolve_name(city.id, "所有县") == rule
    assert services.resolve_name(city.id, "各县") is None
    services.update_group(rule, name="全部县", actor=office)
    assert services.resolve_name(city.id, "全部县") == rule
    assert services.resolve_name(city.id, "所有县") is None


def test_plan_assignment_sync_expands_rule_groups(session):
    """A seeded plan names 各旗县区人民政府; made a rule, the group assigns a new county too."""
    from taskhub.plans.seeds import load_seeds

    baotou = db.session.scalar(select(City).where(City.code == "baotou"))
    office = make_user("office")
    counties = group(baotou, "各旗县区人民政府")
    services.update_group(counties, rule_kind="county", actor=office)
    new = Unit(city_id=baotou.id, name="测试新区人民政府", kind="county")
    db.session.add(new)
    plan = db.session.scalar(select(Plan).where(Plan.code == "baotou-2022"))
    plan.seed_digest = "reload"
    db.session.flush()
    load_seeds(PROJECT_ROOT / "seeds", ["baotou-2022"])
    assigned = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Item)
        .where(Item.plan_id == plan.id, Assignment.unit_id == new.id)
    )
    assert assigned and assigned > 0
    # The seed reload kept the rule.
    assert group(baotou, "各旗县区人民政府").rule_kind == "county"


def test_group_in_use_cannot_be_deleted_and_changes_are_audited(client, login_as, session):
    login_as("office")
    baotou = db.session.scalar(select(City).where(City.code == "baotou"))
    used = group(baotou, "各旗县区人民政府")
    response = client.post(f"/groups/{used.id}/delete", follow_redirects=True)
    assert "方案" in response.get_data(as_text=True)
    assert db.session.get(UnitGroup, used.id) is not None

    response = client.post(
        "/cities/baotou/groups",
        data={"name": "各旗县区（测试）", "membership": "rule", "rule_kind": "county"},
    )
    assert response.status_code == 302
    made = group(baotou, "各旗县区(测试)")
    page = client.get(f"/groups/{made.id}").get_data(as_text=True)
    assert "昆都仑区人民政府" in page and "规则" in page
    own = unit_named("昆都仑区人民政府", "baotou")
    response = client.post(
        f"/groups/{made.id}",
        data={"name": made.name, "source": "测试", "membership": "list", "members": [own.id]},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert services.group_member_ids(baotou.id)[made.id] == [own.id]
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "group.updated")
        .order_by(AuditEvent.id.desc())
    )
    assert event.before["rule_kind"] == "county" and event.after["members"] == [own.id]

    # A name that already means a unit is refused next to the field, in Chinese.
    response = client.post(
        "/cities/baotou/groups", data={"name": "昆都仑区人民政府", "membership": "list"}
    )
    assert response.status_code == 422
    assert "一个名称只能指一个单位或一个单位组" in response.get_data(as_text=True)

    response = client.post(f"/groups/{made.id}/delete")
    assert response.status_code == 302
    assert db.session.get(UnitGroup, made.id) is None
    assert db.session.scalar(select(UnitAlias).where(UnitAlias.name == made.name)) is None

    listing = client.get("/cities/baotou/groups").get_data(as_text=True)
    assert "各旗县区人民政府" in listing and "公开信息（行政区划）" in listing


def test_groups_api(api_as, session):
    office, viewer = api_as("office"), api_as("viewer")
    own = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    body = {"city": "baotou", "name": "API 测试组", "members": [own.id], "source": "测试"}
    assert viewer.post("/api/v1/groups/", json=body).status_code == 403
    made = office.post("/api/v1/groups/", json=body)
    assert made.status_code == 201, made.get_json()
    data = made.get_json()
    assert data["name"] == "API测试组" and data["size"] == 1 and data["rule_kind"] is None
    url = f"/api/v1/groups/{data['id']}"

    etag = office.get(url).headers["ETag"]
    replaced = office.put(
        f"{url}/members", json={"members": [own.id, other.id]}, headers={"If-Match": etag}
    )
    assert replaced.status_code == 200 and replaced.get_json()["size"] == 2
    stale = office.patch(url, json={"source": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412

    etag = office.get(url).headers["ETag"]
    ruled = office.patch(url, json={"rule_kind": "county"}, headers={"If-Match": etag})
    assert ruled.status_code == 200
    assert ruled.get_json()["rule_kind"] == "county" and ruled.get_json()["size"] >= 9
    listed = office.get(f"{url}/members?per_page=100").get_json()
    assert own.id in [u["id"] for u in listed]

    etag = office.get(url).headers["ETag"]
    refused = office.put(f"{url}/members", json={"members": [own.id]}, headers={"If-Match": etag})
    assert refused.status_code == 422

    used = group(db.session.get(City, own.city_id), "各旗县区人民政府")
    etag = office.get(f"/api/v1/groups/{used.id}").headers["ETag"]
    in_use = office.delete(f"/api/v1/groups/{used.id}", headers={"If-Match": etag})
    assert in_use.status_code == 409

    etag = office.get(url).headers["ETag"]
    assert office.delete(url, headers={"If-Match": etag}).status_code == 204
    assert office.get(url).status_code == 404


def test_template_downloads_and_imports_cleanly(client, login_as, city, tmp_path):
    login_as("office")
    response = client.get("/imports/units/template.xlsx?city=baotou")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert {"单位", "别名", "分组", "说明", "已有单位"} <= set(book.sheetnames)
    result = units_import.preview(write(tmp_path, response.data), city)
    assert result.errors == [] and result.has_changes
    index = client.get("/imports").get_data(as_text=True)
    assert 'id="units"' in index


def test_cli_dry_run_import_and_errors(app, session, city, tmp_path):
    runner = app.test_cli_runner()
    good = write(tmp_path, xlsx(**GOOD))
    before = counts(city)
    dry = runner.invoke(args=["units", "import", str(good), "--city", "newcity", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.stdout and "units: 5 new" in dry.stdout
    assert counts(city) == before

    done = runner.invoke(args=["units", "import", str(good), "--city", "newcity"])
    assert done.exit_code == 0, done.output
    assert "checking against" in done.stderr
    db.session.expire_all()
    assert unit_named(BORDER, "newcity").kind == "department"
    again = runner.invoke(args=["units", "import", str(good), "--city", "newcity"])
    assert again.exit_code == 0 and "nothing to import" in again.stdout

    bad = write(tmp_path, xlsx(units=[{"name": "甲局", "kind": "处室"}]), "bad.xlsx")
    failed = runner.invoke(args=["units", "import", str(bad), "--city", "newcity"])
    assert failed.exit_code != 0
    assert "bad.xlsx: 单位 row 2 column 类型" in failed.stderr
    assert db.session.scalar(select(Unit).where(Unit.name == "甲局")) is None
    unknown = runner.invoke(args=["units", "import", str(good), "--city", "nowhere"])
    assert unknown.exit_code != 0 and "nowhere" in unknown.stderr


def test_a_group_etag_changes_with_its_members_not_only_its_size(api_as, session):
    """Two member lists of one size: the second PUT, sent with the ETag read before the first,
    is refused (412) instead of replacing the first list unseen."""
    office = api_as("office")
    own = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    third = unit_named("东河区人民政府", "baotou")
    body = {"city": "baotou", "name": "同样大小的组", "members": [own.id]}
    url = f"/api/v1/groups/{office.post('/api/v1/groups/', json=body).get_json()['id']}"
    read = office.get(url).headers["ETag"]

    first = office.put(f"{url}/members", json={"members": [other.id]}, headers={"If-Match": read})
    assert first.status_code == 200 and first.headers["ETag"] != read
    assert first.headers["ETag"] == office.get(url).headers["ETag"]
    second = office.put(f"{url}/members", json={"members": [third.id]}, headers={"If-Match": read})
    assert second.status_code == 412
    members = office.get(f"{url}/members").get_json()
    assert [u["id"] for u in members] == [other.id]
