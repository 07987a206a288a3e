"""The first pages show the loaded plans, in Chinese by default and in English on request."""

from __future__ import annotations

from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.models import AuditEvent, Contact, Item, Plan
from tests.conftest import unit_named


def test_plan_list_shows_all_plans_with_counts(client, login_as):
    login_as("viewer")
    page = client.get("/plans").get_data(as_text=True)
    for title in ("鹤岗市数字政府建设实施方案", "包头市数字政府建设考评指标", "嵊州"):
        assert title in page
    assert "计划方案" in page and "单位任务" in page  # Chinese by default


def test_plan_tree_shows_points_deadlines_and_lead_assessors(client, login_as):
    login_as("viewer")
    page = client.get("/plans/baotou-2022").get_data(as_text=True)
    assert "25分" in page  # area 一
    assert "5月底取得明显成效并持续推进" in page
    assert "市审批服务局" in page
    assert page.count('href="/items/') == 90


def test_hegang_tree_shows_lead_units_and_no_deadlines(client, login_as):
    login_as("viewer")
    page = client.get("/plans/hegang-2022").get_data(as_text=True)
    assert "保障措施" in page and "市营商环境局" in page
    assert page.count('href="/items/') == 35


def test_item_page_shows_text_units_and_points(client, login_as):
    login_as("office")
    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "hegang-2022", Item.code == "6")
    ).one()
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert item.text[:20] in page
    assert "牵头单位" in page and "责任单位" in page
    assert "各县(区)政府" in page and "联通鹤岗分公司" in page
    assert "文件未规定时限" in page


def test_english_is_one_click_away(client, login_as):
    login_as("viewer")
    response = client.get("/lang/en", headers={"Referer": "http://localhost/plans"})
    assert response.status_code == 302
    page = client.get("/plans").get_data(as_text=True)
    assert "Assignments" in page and "单位任务" not in page
    client.get("/lang/zh")
    assert "单位任务" in client.get("/plans").get_data(as_text=True)


def test_unknown_pages_are_404_in_chinese(client, login_as):
    login_as("viewer")
    response = client.get("/plans/no-such-plan")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_unit_staff_add_a_contact_to_their_unit(client, login_as):
    unit = unit_named("市营商环境局", "hegang")
    login_as("unit", unit)
    form = {"name": "张三", "position": "科长", "mobile": "13800138000", "email": "zs@example.org"}
    response = client.post(f"/units/{unit.id}/contacts", data=form)
    assert response.status_code == 302
    contact = db.session.scalars(
        select(Contact).where(Contact.unit_id == unit.id, Contact.name == "张三")
    ).one()
    assert contact.email == "zs@example.org"
    event = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "contact.created", AuditEvent.object_id == str(contact.id)
        )
    ).one()
    assert event.after["mobile"] == "13800138000"
    assert "张三" in client.get(f"/units/{unit.id}").get_data(as_text=True)


def test_invalid_contact_shows_errors_next_to_fields_and_saves_nothing(client, login_as):
    unit = unit_named("市营商环境局", "hegang")
    login_as("office")
    before = db.session.scalar(select(func.count()).select_from(Contact))
    response = client.post(
        f"/units/{unit.id}/contacts", data={"name": "", "email": "not-an-email", "mobile": "abc"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "此项必填" in page
    assert "请输入有效的电子邮箱" in page
    assert "请输入电话号码" in page
    assert 'aria-invalid="true"' in page
    assert db.session.scalar(select(func.count()).select_from(Contact)) == before


def test_a_contact_needs_a_way_to_reach_them(client, login_as):
    unit = unit_named("市营商环境局", "hegang")
    login_as("office")
    response = client.post(f"/units/{unit.id}/contacts", data={"name": "李四"})
    assert response.status_code == 422
    assert "请至少填写一种联系方式" in response.get_data(as_text=True)


def test_units_page_lists_groups_with_their_sources(client, login_as):
    login_as("viewer")
    page = client.get("/units?city=hegang").get_data(as_text=True)
    assert "各县(区)政府" in page and "向阳区人民政府" in page
    assert "公开信息（行政区划）" in page and "public fact" not in page  # no maintainer notes


def test_static_assets_are_served_locally(client, login_as):
    login_as("viewer")
    page = client.get("/plans").get_data(as_text=True)
    assert "/static/css/taskhub.css" in page
    assert "http://" not in page.split("<body>")[0].replace("http://localhost", "")
    with client.get("/static/css/taskhub.css") as css:
        assert css.status_code == 200 and b"--accent" in css.data


def test_units_page_is_paged_and_large_groups_get_their_own_list(client, login_as, session):
    """A city with 230 units: 100 a page; a 230-member group is summarised with a link to its
    paged member list, not spelled out on the page."""
    from taskhub.units.models import City, Unit, UnitGroup

    city = City(code="paging-city", name="分页市")
    session.add(city)
    session.flush()
    units = [Unit(city_id=city.id, name=f"测试单位{i:03d}", kind="township") for i in range(230)]
    session.add_all(units)
    group = UnitGroup(city_id=city.id, name="全体乡镇", members=units, source="测试")
    session.add(group)
    session.flush()
    login_as("office")

    first = client.get("/units?city=paging-city").get_data(as_text=True)
    assert "测试单位000" in first and "测试单位099" in first and "测试单位100" not in first
    assert "230" in first and f"group={group.id}" in first
    third = client.get("/units?city=paging-city&page=3").get_data(as_text=True)
    assert "测试单位229" in third and "测试单位199" not in third
    members = client.get(f"/units?city=paging-city&group={group.id}&page=2").get_data(as_text=True)
    assert "全体乡镇" in members and "测试单位100" in members and "测试单位000" not in members
