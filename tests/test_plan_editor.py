"""Writing a plan in the browser: services (taskhub.plans.editor) and pages (plan_editor)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.plans import editor
from taskhub.plans.models import Item, ItemUnit, Plan, PlanStatus, Section
from taskhub.scoring.models import Scheme
from taskhub.tracking.models import Assignment
from taskhub.units.models import City, UnitAlias
from tests.conftest import make_user, unit_named


@pytest.fixture
def office(session):
    return make_user("office", username="editor-office")


@pytest.fixture
def shanwei(session):
    city = db.session.scalar(select(City).where(City.code == "shanwei"))
    # A short name offices write, made an alias of the bureau (as the units page would).
    bureau = unit_named("市发展和改革局", "shanwei")
    db.session.add(UnitAlias(city_id=city.id, name="市发改委", unit_id=bureau.id))
    db.session.commit()
    return city


def draft(city, actor, code="sw-2024", kind="tasks", points=None) -> Plan:
    plan = editor.create_plan(
        city=city,
        code=code,
        title="2024年数字政府建设工作要点",
        year=2024,
        kind=kind,
        document_number="汕府办〔2024〕1号",
        points=points,
        scheme=editor.DEFAULT_SCHEME,
        actor=actor,
    )
    db.session.commit()
    return plan


def item_input(section, **kw) -> editor.ItemInput:
    units = {
        "lead": kw.pop("lead", "市政务服务数据管理局"),
        "responsible": kw.pop("responsible", None),
        "lead_assessor": kw.pop("lead_assessor", None),
    }
    return editor.ItemInput(
        section_id=section.id, text=kw.pop("text", "推进政务服务标准化"), units=units, **kw
    )


def events(action: str, object_type: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


# --- services ---------------------------------------------------------------------------------


def test_a_draft_is_written_from_nothing_with_sections_items_units_and_deadlines(office, shanwei):
    plan = draft(shanwei, office, points=Decimal(100))
    assert plan.status == PlanStatus.DRAFT.value and plan.revision == 0
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    assert scheme.definition["engine"]["items_component"] == "completion"

    one = editor.add_section(
        plan, title="主要任务", number="一、", points=Decimal(60), actor=office
    )
    two = editor.add_section(
        plan, title="保障措施", number="二、", points=Decimal(40), actor=office
    )
    sub = editor.add_section(
        plan, title="政务服务", number="（一）", parent_id=one.id, actor=office
    )
    first = editor.add_item(
        plan,
        item_input(
            sub,
            number="1",
            points=Decimal(60),
            deadline="6月底完成",
            responsible="各县(市、区)人民政府、市发改委及市财政局",
            target="100%",
        ),
        actor=office,
    )
    odd = editor.add_item(
        plan, item_input(two, number="2", points=Decimal(40), deadline="视情况而定"), actor=office
    )
    db.session.commit()

    rows = db.session.scalars(
        select(Section).where(Section.plan_id == plan.id).order_by(Section.position)
    ).all()
    assert [(s.path, s.depth, s.title) for s in rows] == [
        ("1", 1, "主要任务"),
        ("1/1", 2, "政务服务"),
        ("2", 1, "保障措施"),
    ]
    assert (first.code, first.section_id, first.target) == ("1", sub.id, "100%")
    by_role = {
        role: [u.name for u in first.units_by_role(role)] for role in ("lead", "responsible")
    }
    assert by_role == {
        "lead": ["市政务服务数据管理局"],
        "responsible": ["各县(市、区)人民政府", "市发展和改革局", "市财政局"],
    }
    group_link = db.session.scalar(
        select(ItemUnit).where(ItemUnit.item_id == first.id, ItemUnit.group_id.is_not(None))
    )
    assert group_link is not None and group_link.role == "responsible"
    # The phrase is read in the plan's year, as publishing will; an unread one is flagged.
    assert first.deadline_phrase == "6月底完成" and not first.is_deadline_unparsed
    reading = editor.read_deadline(plan, first)
    assert [(m.kind, m.due_on) for m in reading.milestones] == [("complete", date(2024, 6, 30))]
    assert odd.is_deadline_unparsed
    assert editor.budget_warnings(plan) == []
    # A draft assigns nothing.
    assert db.session.scalar(select(Assignment.id).where(Assignment.item_id == first.id)) is None
    assert len(events("plan.editor.item_added")) == 2
    created = events("plan.editor.created")[-1]
    assert created.actor_id == office.id and created.after["code"] == "sw-2024"


def test_an_unknown_unit_name_is_refused_naming_it_and_the_closest_names(office, shanwei):
    plan = draft(shanwei, office)
    section = editor.add_section(plan, title="主要任务", actor=office)
    with pytest.raises(editor.UnknownUnitNames) as refused:
        editor.add_item(
            plan, item_input(section, lead="市财政局、市政务服务数据管理处"), actor=office
        )
    assert refused.value.field == "lead"
    assert refused.value.unknown == ["市政务服务数据管理处"]
    assert "「市政务服务数据管理处」" in refused.value.message
    assert "「市政务服务数据管理局」" in refused.value.message  # the closest known name
    assert "不是本市的单位、单位组或别名" in refused.value.message


def test_unit_lists_are_split_only_at_the_top_level(shanwei):
    """The editor reads unit fields with the one splitter of taskhub.units.names."""
    table = editor.name_table(shanwei.id)
    for text in (
        "各县(市、区)人民政府、市发改委及市财政局",
        "各县（市、区）人民政府，市发改委和市财政局",  # full-width brackets, 和, a comma
    ):
        resolved = editor.resolve_names(text, table, "lead")
        assert [r.name for r in resolved] == ["各县(市、区)人民政府", "市发展和改革局", "市财政局"]


def test_budget_warnings_while_editing(office, shanwei):
    plan = draft(shanwei, office, points=Decimal(100))
    one = editor.add_section(
        plan, title="主要任务", number="一、", points=Decimal(60), actor=office
    )
    editor.add_item(plan, item_input(one, number="1", points=Decimal(30)), actor=office)
    editor.add_item(plan, item_input(one, number="2", points=Decimal(40)), actor=office)
    messages = [w.message for w in editor.budget_warnings(plan)]
    assert any("一、主要任务" in m and "70" in m and "60" in m for m in messages), messages
    # The plan's 100 points: the only section gives 60, 40 short.
    assert any("方案" in m and "40" in m for m in messages), messages
    section_warning = [w for w in editor.budget_warnings(plan) if w.section_id == one.id]
    assert section_warning
    # A task without a lead unit is listed before publishing.
    editor.add_item(plan, item_input(one, number="3", lead=""), actor=office)
    assert any(
        "3" in w.message and "牵头单位" in w.message for w in editor.readiness_warnings(plan)
    )


def test_moves_renumber_paths_and_positions(office, shanwei):
    plan = draft(shanwei, office)
    a = editor.add_section(plan, title="甲", actor=office)
    b = editor.add_section(plan, title="乙", actor=office)
    i1 = editor.add_item(plan, item_input(a, number="1"), actor=office)
    i2 = editor.add_item(plan, item_input(a, number="2"), actor=office)
    i3 = editor.add_item(plan, item_input(b, number="3"), actor=office)
    editor.move_section(plan, b, "up", actor=office)
    editor.move_item(plan, i2, "up", actor=office)
    db.session.commit()
    assert (b.path, a.path) == ("1", "2")
    assert [i.code for i in sorted([i1, i2, i3], key=lambda i: i.position)] == ["3", "2", "1"]
    with pytest.raises(editor.FieldError):
        editor.move_item(plan, i3, "up", actor=office)
    with pytest.raises(editor.FieldError) as not_empty:
        editor.delete_section(plan, a, actor=office)
    assert "先" in not_empty.value.message
    editor.delete_item(plan, i1, actor=office)
    editor.delete_item(plan, i2, actor=office)
    editor.delete_section(plan, a, actor=office)
    db.session.commit()
    assert [
        s.title for s in db.session.scalars(select(Section).where(Section.plan_id == plan.id))
    ] == ["乙"]


def test_editing_a_published_plan_needs_a_reason_and_is_a_revision(office):
    plan = db.session.scalar(select(Plan).where(Plan.code == "hegang-2022"))
    item = plan.items[0]
    data = editor.ItemInput(
        section_id=item.section_id,
        number=item.number,
        text=item.text + "（修订）",
        deadline=item.deadline_phrase,
        units={"lead": "、".join(u.name for u in item.units_by_role("lead"))},
    )
    with pytest.raises(editor.FieldError) as refused:
        editor.update_item(plan, item, data, actor=office)
    assert refused.value.field == "reason" and "修订理由" in refused.value.message
    before = plan.revision
    editor.update_item(plan, item, data, actor=office, reason="市政府常务会议调整")
    db.session.commit()
    assert plan.revision == before + 1
    assert item.text.endswith("（修订）")
    revised = events("plan.revised")[-1]
    assert revised.after["reason"] == "市政府常务会议调整"
    assert revised.actor_id == office.id
    assert events("plan.editor.item_updated")[-1].before["text"] == data.text.removesuffix(
        "（修订）"
    )


def test_a_closed_plan_is_read_only(office, client, login_as):
    plan = db.session.scalar(select(Plan).where(Plan.code == "hegang-2022"))
    plan.status = PlanStatus.CLOSED.value
    db.session.commit()
    with pytest.raises(editor.PlanReadOnly):
        editor.add_section(plan, title="新增", actor=office, reason="x")
    login_as("office")
    assert client.get("/plans/hegang-2022/edit").status_code == 403
    response = client.post("/plans/hegang-2022/sections", data={"title": "新增", "reason": "x"})
    assert response.status_code == 403
    assert "新增" not in [s.title for s in plan.sections]


# --- pages ------------------------------------------------------------------------------------


def test_a_plan_is_written_through_the_pages(client, login_as, shanwei):
    login_as("office")
    assert "新建方案" in client.get("/plans").get_data(as_text=True)
    page = client.get("/plans/new").get_data(as_text=True)
    assert "汕尾市" in page and "评分方案" in page

    refused = client.post(
        "/plans/new",
        data={
            "city": shanwei.id,
            "code": "sw 2024",
            "title": "工作要点",
            "year": "2024",
            "kind": "tasks",
            "scheme": "default",
        },
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "工作要点" in text  # the typed value is kept
    assert "字母" in text

    done = client.post(
        "/plans/new",
        data={
            "city": shanwei.id,
            "code": "sw-2024",
            "title": "工作要点",
            "year": "2024",
            "kind": "tasks",
            "scheme": "default",
            "points": "100",
        },
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/plans/sw-2024/edit")
    plan = db.session.scalar(select(Plan).where(Plan.code == "sw-2024"))
    assert plan.status == "draft"

    assert (
        client.post(
            "/plans/sw-2024/sections", data={"number": "一、", "title": "主要任务", "points": "100"}
        ).status_code
        == 302
    )
    section = plan.sections[0]
    form = {
        "section_id": section.id,
        "number": "1",
        "text": "推进政务服务标准化",
        "lead": "市政数局",
        "responsible": "各县(市、区)人民政府、市发改委及市财政局、市大数据中心",
        "deadline": "9月底前完成",
        "points": "60",
        "then": "another",
    }
    refused = client.post("/plans/sw-2024/items/new", data=form)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "<mark>市大数据中心</mark>" in text
    assert "推进政务服务标准化" in text  # kept
    form["responsible"] = "各县(市、区)人民政府、市发改委及市财政局"
    saved = client.post("/plans/sw-2024/items/new", data=form)
    assert saved.status_code == 302 and "/items/new?section=" in saved.headers["Location"]
    next_form = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert 'name="number" type="text" value="2"' in next_form  # the next number is suggested
    item = db.session.scalar(select(Item).where(Item.plan_id == plan.id))
    assert [u.name for u in item.units_by_role("responsible")] == [
        "各县(市、区)人民政府",
        "市发展和改革局",
        "市财政局",
    ]
    outline = client.get("/plans/sw-2024/edit").get_data(as_text=True)
    assert "发布前需处理" in outline
    assert "一、主要任务：下级分值合计 60 分，比其 100 分少 40 分。" in outline
    edit = client.get(f"/plans/sw-2024/items/{item.id}/edit").get_data(as_text=True)
    assert "各县(市、区)人民政府、市发展和改革局、市财政局" in edit
    assert '<datalist id="unit-names">' in edit and "市政数局" in edit


def test_a_published_plans_form_asks_for_the_reason(client, login_as):
    login_as("office")
    plan = db.session.scalar(select(Plan).where(Plan.code == "hegang-2022"))
    section = plan.sections[0]
    page = client.get("/plans/hegang-2022/edit").get_data(as_text=True)
    assert "修订理由" in page
    refused = client.post(
        f"/plans/hegang-2022/sections/{section.id}",
        data={"title": "改名", "number": section.number or ""},
    )
    assert refused.status_code == 422
    assert "修订理由" in refused.get_data(as_text=True)
    assert section.title != "改名"


@pytest.mark.parametrize("role", ["unit", "assessor", "viewer"])
def test_only_admin_and_office_may_edit(client, login_as, role, shanwei):
    login_as(
        role, unit_named("昆都仑区人民政府", "baotou") if role in ("unit", "assessor") else None
    )
    assert client.get("/plans/new").status_code == 403
    assert client.get("/plans/hegang-2022/edit").status_code == 403
    response = client.post(
        "/plans/new",
        data={"city": shanwei.id, "code": "x-2024", "title": "x", "year": "2024", "kind": "tasks"},
    )
    assert response.status_code == 403
    assert db.session.scalar(select(Plan).where(Plan.code == "x-2024")) is None
    assert "新建方案" not in client.get("/plans").get_data(as_text=True)


def test_an_indicator_system_copies_a_scheme_and_names_its_assessed_units(office, shanwei):
    with pytest.raises(editor.FieldError) as wrong_kind:
        editor.create_plan(
            city=shanwei, code="sw-tasks", title="要点", year=2024, kind="tasks",
            document_number=None, points=None, scheme="shanwei-2021", actor=office,
        )  # fmt: skip
    assert wrong_kind.value.field == "scheme"
    plan = editor.create_plan(
        city=shanwei, code="sw-index", title="考评指标", year=2024, kind="indicators",
        document_number=None, points=Decimal(100), scheme="shanwei-2021", actor=office,
    )  # fmt: skip
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    template = db.session.scalar(
        select(Scheme).join(Plan, Plan.id == Scheme.plan_id).where(Plan.code == "shanwei-2021")
    )
    assert scheme.definition["engine"] == template.definition["engine"]
    assert scheme.definition["template"] == "shanwei-2021"

    def head(assessed: str) -> None:
        editor.update_plan_head(
            plan, title=plan.title, year=2024, document_number=None, points=Decimal(100),
            assessed=assessed, actor=office,
        )  # fmt: skip

    head("各县（市、区）人民政府、市财政局")
    db.session.commit()
    assert [(a.group.name if a.group else a.unit.name) for a in plan.assessees] == [
        "各县(市、区)人民政府",
        "市财政局",
    ]
    with pytest.raises(editor.UnknownUnitNames) as refused:
        head("各县(市、区)人民政府、市统计所")
    assert refused.value.field == "assessed" and refused.value.unknown == ["市统计所"]
    assert events("plan.editor.head_updated")[-1].after["assessed"] == [
        "各县(市、区)人民政府",
        "市财政局",
    ]


def test_budgets_count_the_points_of_sections_without_a_budget(office, shanwei):
    plan = draft(shanwei, office, points=Decimal(100))
    one = editor.add_section(
        plan, title="主要任务", number="一、", points=Decimal(100), actor=office
    )
    sub = editor.add_section(plan, title="政务服务", parent_id=one.id, actor=office)
    editor.add_item(plan, item_input(sub, number="1", points=Decimal(50)), actor=office)
    [warning] = editor.budget_warnings(plan)
    assert warning.section_id == one.id and "50" in warning.message
    editor.add_item(plan, item_input(sub, number="2", points=Decimal(50)), actor=office)
    assert editor.budget_warnings(plan) == []


def test_an_item_units_reported_on_cannot_be_deleted_but_an_untouched_one_can(office):
    from taskhub.tracking.models import ProgressReport

    plan = db.session.scalar(select(Plan).where(Plan.code == "hegang-2022"))
    reported, untouched = plan.items[0], plan.items[1]
    assignment = db.session.scalars(
        select(Assignment).where(Assignment.item_id == reported.id)
    ).first()
    db.session.add(
        ProgressReport(
            assignment_id=assignment.id, author_id=office.id, progress="已完成", percent=100
        )
    )
    db.session.commit()
    with pytest.raises(editor.FieldError) as refused:
        editor.delete_item(plan, reported, actor=office, reason="合并事项")
    assert "已有单位报送" in refused.value.message
    gone = untouched.id
    editor.delete_item(plan, untouched, actor=office, reason="合并事项")
    db.session.commit()
    assert db.session.get(Item, gone) is None
    assert db.session.scalar(select(Assignment.id).where(Assignment.item_id == gone)) is None
    deleted = events("plan.editor.item_deleted")[-1]
    assert deleted.object_id == str(gone) and deleted.before["text"]
    assert events("plan.revised")[-1].after["reason"] == "合并事项"
