"""The plan lifecycle: draft → published → closed/archived, revisions (修订), year copy."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.plans import lifecycle
from taskhub.plans.models import Item, ItemUnit, Plan, PlanRevision, PlanStatus, Section
from taskhub.plans.seedspec import discover, read_city, read_plan
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.tracking.models import Assignment, ItemMilestone, Milestone, ProgressReport
from taskhub.units.models import Contact
from tests.conftest import make_user, unit_named

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
OWN = "昆都仑区人民政府"


def plan_named(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    assert plan is not None
    return plan


def assignments_of(plan: Plan) -> set[tuple[str, str]]:
    from taskhub.units.models import Unit

    rows = db.session.execute(
        select(Item.code, Unit.name)
        .join(Assignment, Assignment.item_id == Item.id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Item.plan_id == plan.id)
    )
    return {(code, name) for code, name in rows}


def count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def actions(plan: Plan) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "plan", AuditEvent.object_id == str(plan.id))
            .order_by(AuditEvent.id)
        )
    )


# -- seed data round trip ---------------------------------------------------------------------


def _canonical(spec, names):
    """The spec without file facts, unit names as canonical names (the database keeps ids)."""
    data = dataclasses.asdict(spec)
    data.pop("path"), data.pop("digest")
    data["assessed"] = [names[n][1] for n in data["assessed"]]
    for item in data["items"]:
        item["units"] = {r: [names[n][1] for n in ns] for r, ns in item["units"].items()}
    return data


@pytest.mark.parametrize("code", sorted(discover(SEEDS)[0]))
def test_seed_data_of_every_shipped_plan_reads_back_to_an_equal_spec(session, code):
    plans, cities = discover(SEEDS)
    city_specs = {c: read_city(p) for c, p in cities.items()}
    original = read_plan(plans[code], city_specs)
    plan = plan_named(code)
    data = lifecycle.seed_data(plan)
    again = lifecycle.read_data(data, lifecycle.city_spec(plan.city))
    names = city_specs[original.city].names
    assert _canonical(again, names) == _canonical(original, names)
    assert lifecycle.problems(plan) == []


# -- drafts and publishing --------------------------------------------------------------------


def draft_copy(code: str = "baotou-2022", new: str = "baotou-2023", year: int = 2023) -> Plan:
    plan = lifecycle.copy_to_year(
        plan_named(code), year=year, code=new, title=f"{new} 方案", actor=None
    )
    db.session.flush()
    return plan


def test_a_draft_has_no_assignments_and_publishing_creates_them(session):
    office = make_user("office")
    draft = draft_copy()
    assert draft.status == PlanStatus.DRAFT.value
    assert assignments_of(draft) == set()
    assert (
        count(
            ItemMilestone,
            ItemMilestone.item_id.in_(select(Item.id).where(Item.plan_id == draft.id)),
        )
        == 0
    )

    entry = lifecycle.publish(draft, actor=office)
    db.session.commit()

    assert draft.status == PlanStatus.PUBLISHED.value
    # The same units get the same tasks as in the plan it was copied from.
    assert assignments_of(draft) == assignments_of(plan_named("baotou-2022"))
    steps = count(
        ItemMilestone, ItemMilestone.item_id.in_(select(Item.id).where(Item.plan_id == draft.id))
    )
    assert steps > 0
    assert (
        count(
            Milestone,
            Milestone.assignment_id.in_(
                select(Assignment.id).join(Item).where(Item.plan_id == draft.id)
            ),
        )
        > 0
    )
    assert entry.kind == "published" and entry.actor_id == office.id
    assert "plan.published" in actions(draft)
    with pytest.raises(lifecycle.WrongStatus):
        lifecycle.publish(draft, actor=office)


def test_a_failing_publish_lists_the_problems_in_chinese_and_changes_nothing(session):
    indicators = draft_copy()
    section = db.session.scalar(
        select(Section).where(Section.plan_id == indicators.id, Section.points.isnot(None))
    )
    section.points = Decimal("0.5")
    db.session.commit()
    audit_before = count(AuditEvent)

    with pytest.raises(lifecycle.PlanInvalid) as caught:
        lifecycle.publish(indicators, actor=None)
    assert any("超过本章节的0.5分" in p for p in caught.value.problems), caught.value.problems
    db.session.rollback()
    draft = plan_named("baotou-2023")
    assert draft.status == PlanStatus.DRAFT.value
    assert assignments_of(draft) == set()
    assert count(AuditEvent) == audit_before


def test_a_task_without_a_lead_is_published_as_unassigned(session):
    """待分配: the plan goes out; that task has no assignment and stays on the office's list."""
    tasks = draft_copy("hegang-2022", "hegang-2023")
    item = db.session.scalar(select(Item).where(Item.plan_id == tasks.id, Item.code == "1"))
    db.session.execute(
        ItemUnit.__table__.delete().where(ItemUnit.item_id == item.id, ItemUnit.role == "lead")
    )
    db.session.commit()
    lifecycle.publish(tasks, actor=None)
    db.session.commit()
    db.session.expire_all()
    published = plan_named("hegang-2023")
    assert published.status == PlanStatus.PUBLISHED.value
    item = db.session.scalar(select(Item).where(Item.plan_id == published.id, Item.code == "1"))
    assert item.is_unassigned
    assert not db.session.scalars(select(Assignment).where(Assignment.item_id == item.id)).all()
    assert assignments_of(published)  # the other tasks went out


def test_unknown_unit_names_are_reported(session):
    draft = draft_copy()
    item = db.session.scalar(select(Item).where(Item.plan_id == draft.id, Item.code == "2"))
    from taskhub.units.models import City, Unit

    other_city = db.session.scalar(select(City).where(City.code != draft.city.code))
    stranger = db.session.scalar(select(Unit).where(Unit.city_id == other_city.id))
    item.units[0].unit_id = stranger.id
    db.session.flush()
    assert f"事项2：「{stranger.name}」不是本市的单位、单位组或别名" in lifecycle.problems(draft)


# -- revisions --------------------------------------------------------------------------------


def _unit_links(plan: Plan) -> list[tuple[Item, ItemUnit]]:
    items = db.session.scalars(select(Item).where(Item.plan_id == plan.id).order_by(Item.position))
    return [(i, u) for i in items for u in i.units if u.unit_id is not None]


def test_a_revision_resyncs_assignments_records_audits_and_notifies_the_changed_units(session):
    from taskhub.units.models import Unit

    office = make_user("office")
    plan = plan_named("hegang-2022")
    before = assignments_of(plan)
    links = _unit_links(plan)
    # 1) a unit taken off an item where it is responsible (and not lead)
    gone_item, gone_link = next(
        (i, u)
        for i, u in links
        if u.role == "responsible"
        and len(i.units_by_role("lead")) > 0
        and u.unit_id not in {x.unit_id for x in i.units_by_role("lead")}
        and sum(1 for x in i.units if x.unit_id == u.unit_id) == 1
    )
    gone = db.session.get(Unit, gone_link.unit_id)
    # 2) a unit added to another item
    new_item = next(i for i, _ in links if i.id != gone_item.id)
    new_unit = db.session.scalar(
        select(Unit)
        .where(
            Unit.city_id == plan.city_id,
            Unit.id != gone.id,
            Unit.name.notin_({u for c, u in before if c == new_item.code}),
        )
        .order_by(Unit.id)
    )
    bystander = db.session.scalar(
        select(Unit)
        .where(Unit.city_id == plan.city_id, Unit.id.notin_([gone.id, new_unit.id]))
        .order_by(Unit.id.desc())
    )
    users = {
        u.id: make_user("unit", u, username=f"staff-{u.id}") for u in (gone, new_unit, bystander)
    }
    db.session.add(Contact(unit_id=new_unit.id, name="王伟", email="wang@example.org"))
    db.session.add(Contact(unit_id=bystander.id, name="李娜", email="li@example.org"))
    db.session.flush()
    lifecycle.remember_before_change(plan)

    # The editor's work on the rows.
    gone_item.units.remove(gone_link)
    new_item.units.append(ItemUnit(role="responsible", position=99, unit_id=new_unit.id))
    db.session.flush()
    entry = lifecycle.revised(
        plan, actor=office, reason="市领导调整分工", summary="调整两项事项的责任单位"
    )
    db.session.commit()

    after = assignments_of(plan)
    assert after - before == {(new_item.code, new_unit.name)}
    assert before - after == {(gone_item.code, gone.name)}
    assert plan.revision == 1 and entry.number == 1
    row = db.session.scalar(select(PlanRevision).where(PlanRevision.plan_id == plan.id))
    assert (row.number, row.kind, row.reason, row.actor_id) == (
        1,
        "revised",
        "市领导调整分工",
        office.id,
    )
    assert row.summary == "调整两项事项的责任单位"
    assert row.changes["assignments_added"] == [[new_item.code, new_unit.name]]
    assert row.changes["assignments_removed"] == [[gone_item.code, gone.name]]
    assert set(row.changes["items_changed"]) == {gone_item.code, new_item.code}
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "plan.revised").order_by(AuditEvent.id.desc())
    )
    assert event.actor_id == office.id and event.after["reason"] == "市领导调整分工"
    # Exactly the changed units hear of it: their users in the app, their contacts by mail.
    notified = set(db.session.scalars(select(Notification.user_id)))
    assert notified == {users[gone.id].id, users[new_unit.id].id}
    note = db.session.scalar(
        select(Notification).where(Notification.user_id == users[new_unit.id].id)
    )
    assert "市领导调整分工" in note.body and new_item.code in note.body
    assert note.link == "/plans/hegang-2022/revisions"
    mails = set(
        db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.channel == "email"))
    )
    assert "wang@example.org" in mails and "li@example.org" not in mails


def test_a_revision_needs_a_reason_and_a_published_plan(session):
    office = make_user("office")
    plan = plan_named("hegang-2022")
    with pytest.raises(lifecycle.ValidationFailed):
        lifecycle.revised(plan, actor=office, reason="  ", summary="")
    draft = draft_copy()
    with pytest.raises(lifecycle.WrongStatus):
        lifecycle.revised(draft, actor=office, reason="x", summary="")


def test_a_revision_keeps_assignments_with_reports(session):
    office = make_user("office")
    plan = plan_named("hegang-2022")
    reported = db.session.scalar(
        select(Assignment)
        .join(Item)
        .join(ItemUnit, (ItemUnit.item_id == Item.id) & (ItemUnit.unit_id == Assignment.unit_id))
        .where(Item.plan_id == plan.id, Assignment.role == "responsible")
    )
    db.session.add(
        ProgressReport(
            assignment_id=reported.id, progress="已完成", percent=50, author_id=office.id
        )
    )
    db.session.flush()
    item = db.session.get(Item, reported.item_id)
    for link in [u for u in item.units if u.unit_id == reported.unit_id]:
        item.units.remove(link)
    db.session.flush()
    lifecycle.revised(plan, actor=office, reason="调整", summary="")
    assert db.session.get(Assignment, reported.id) is not None


# -- year copy --------------------------------------------------------------------------------


def test_copy_to_a_new_year_keeps_the_structure_and_shifts_explicit_years(session):
    office = make_user("office")
    source = plan_named("baotou-2022")
    dated = db.session.scalar(select(Item).where(Item.plan_id == source.id).order_by(Item.position))
    dated.deadline_phrase = "2022年底前"
    db.session.flush()
    copy = lifecycle.copy_to_year(
        source, year=2024, code="baotou-2024", title="包头2024", actor=office
    )
    db.session.commit()

    assert (copy.status, copy.year, copy.city_id, copy.kind) == (
        "draft",
        2024,
        source.city_id,
        source.kind,
    )
    assert copy.points == source.points
    old, new = lifecycle.seed_data(source), lifecycle.seed_data(copy)
    old_items, new_items = lifecycle._flat_items(old), lifecycle._flat_items(new)
    assert list(old_items) == list(new_items)
    for code, item in old_items.items():
        twin = new_items[code]
        assert {k: v for k, v in twin.items() if k != "deadline"} == {
            k: v for k, v in item.items() if k != "deadline"
        }
        expected = "2024年底前" if code == dated.code else item["deadline"]
        assert twin["deadline"] == expected
    assert [s["title"] for s in new["sections"]] == [s["title"] for s in old["sections"]]
    assert new["assessed"] == old["assessed"] and new["scheme"] == old["scheme"]
    # Flagged for review, not silently kept.
    assert lifecycle.to_review(copy) == [
        {"item": dated.code, "before": "2022年底前", "after": "2024年底前"}
    ]
    # Phrases without a year are read again in 2024 when the copy is published.
    lifecycle.publish(copy, actor=office)
    due = db.session.scalars(
        select(ItemMilestone.due_on).join(Item).where(Item.plan_id == copy.id)
    ).all()
    assert due and min(d.year for d in due) == 2024
    assert lifecycle.to_review(copy) == []
    assert {"plan.copied", "plan.published"} <= set(actions(copy))


def test_shift_years_moves_every_named_year():
    assert lifecycle.shift_years("2022年底", 1) == "2023年底"
    assert lifecycle.shift_years("2021—2023年持续推进", 2) == "2023—2025年持续推进"
    assert lifecycle.shift_years("6月底前", 3) == "6月底前"
    assert lifecycle.shift_years(None, 3) is None


def test_copy_refuses_a_used_code(session):
    with pytest.raises(lifecycle.ValidationFailed) as caught:
        lifecycle.copy_to_year(
            plan_named("baotou-2022"), year=2023, code="hegang-2022", title="x", actor=None
        )
    assert "已被使用" in caught.value.message


# -- closed and archived ----------------------------------------------------------------------


def test_a_closed_plan_refuses_reports_and_reopens(client, login_as, session):
    plan = plan_named("baotou-2022")
    unit = unit_named(OWN, "baotou")
    assignment = db.session.scalar(
        select(Assignment).join(Item).where(Item.plan_id == plan.id, Assignment.unit_id == unit.id)
    )
    lifecycle.close(plan, actor=None)
    db.session.commit()
    login_as("unit", unit)
    response = client.post(
        f"/assignments/{assignment.id}/reports",
        data={"progress": "推进中", "percent": "30"},
        follow_redirects=True,
    )
    assert "方案已关闭" in response.get_data(as_text=True)
    assert count(ProgressReport, ProgressReport.assignment_id == assignment.id) == 0
    lifecycle.reopen(plan, actor=None)
    assert plan.status == "published"
    assert [a for a in actions(plan) if a in ("plan.closed", "plan.reopened")] == [
        "plan.closed",
        "plan.reopened",
    ]


def test_an_archived_plan_leaves_the_lists_but_keeps_its_url(client, login_as, session):
    plan = plan_named("shengzhou-2020")
    lifecycle.archive(plan, actor=None)
    db.session.commit()
    login_as("office")
    index = client.get("/plans").get_data(as_text=True)
    assert "/plans/shengzhou-2020" not in index
    assert "/plans/baotou-2022" in index
    assert client.get("/plans/shengzhou-2020").status_code == 200
    from taskhub.plans import services

    assert "shengzhou-2020" not in [s.plan.code for s in services.list_plans()]


# -- Excel import ---------------------------------------------------------------------------


def test_an_import_makes_a_draft_and_an_import_over_a_published_plan_needs_a_reason(
    client, login_as
):
    from tests.test_imports import CODE, ITEMS, confirm_fields, plan_file, upload, visible

    office = login_as("office")
    preview = upload(client, "/imports/plan", plan_file())
    client.post("/imports/plan/confirm", data=confirm_fields(preview.get_data(as_text=True)))
    plan = plan_named(CODE)
    assert plan.status == "draft" and assignments_of(plan) == set()
    page = visible(client.get(f"/plans/{CODE}").get_data(as_text=True))
    assert "草稿" in page and "发布" in page

    assert client.post(f"/plans/{CODE}/publish").status_code == 302
    db.session.expire_all()
    assert plan_named(CODE).status == "published" and assignments_of(plan_named(CODE))

    # A changed file over the published plan: the form asks for the reason (修订理由).
    changed = plan_file(
        items=[dict(ITEMS[0], text="梳理政务服务事项，统一办理要素和流程。"), *ITEMS[1:]]
    )
    preview = upload(client, "/imports/plan", changed)
    page = preview.get_data(as_text=True)
    assert 'name="reason"' in page and "修订理由" in page
    refused = client.post("/imports/plan/confirm", data=confirm_fields(page))
    assert refused.status_code == 422
    assert "请填写本次修订的理由" in visible(refused.get_data(as_text=True))
    db.session.expire_all()
    assert plan_named(CODE).revision == 0

    done = client.post(
        "/imports/plan/confirm", data={**confirm_fields(page), "reason": "按市政府新文件调整"}
    )
    assert done.status_code == 302
    db.session.expire_all()
    plan = plan_named(CODE)
    assert plan.revision == 1
    row = db.session.scalar(
        select(PlanRevision).where(PlanRevision.plan_id == plan.id, PlanRevision.kind == "revised")
    )
    assert row.reason == "按市政府新文件调整" and row.actor_id == office.id
    assert row.changes["items_changed"] == ["1"] and "Excel导入" in row.summary
    revisions = visible(client.get(f"/plans/{CODE}/revisions").get_data(as_text=True))
    assert "按市政府新文件调整" in revisions and "第1次修订" in revisions


# -- pages ------------------------------------------------------------------------------------


def test_publish_page_lists_the_problems_and_the_copy_form_makes_a_draft(client, login_as):
    login_as("office")
    page = client.get("/plans/hegang-2022/copy")
    assert page.status_code == 200
    bad = client.post(
        "/plans/hegang-2022/copy", data={"year": "2025", "code": "hegang-2022", "title": "x"}
    )
    assert bad.status_code == 422 and "已被使用" in bad.get_data(as_text=True)
    done = client.post(
        "/plans/hegang-2022/copy",
        data={"year": "2025", "code": "hegang-2025", "title": "鹤岗市2025年数字政府建设方案"},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/plans/hegang-2025")
    client.post(
        "/plans/baotou-2022/copy",
        data={"year": "2025", "code": "baotou-2025", "title": "包头市2025年考评指标"},
    )
    draft = plan_named("baotou-2025")
    section = db.session.scalar(
        select(Section).where(Section.plan_id == draft.id, Section.points.isnot(None))
    )
    section.points = Decimal("0.5")
    db.session.commit()
    refused = client.post("/plans/baotou-2025/publish")
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "超过本章节的0.5分" in text and "未发布" in text
    db.session.expire_all()
    assert plan_named("baotou-2025").status == "draft"


def test_close_archive_reopen_buttons(client, login_as):
    login_as("admin")
    page = client.get("/plans/hegang-2022").get_data(as_text=True)
    assert "已发布" in page and "/plans/hegang-2022/edit" in page
    assert client.post("/plans/hegang-2022/close-plan").status_code == 302
    db.session.expire_all()
    assert plan_named("hegang-2022").status == "closed"
    assert "已关闭" in client.get("/plans/hegang-2022").get_data(as_text=True)
    assert client.post("/plans/hegang-2022/archive").status_code == 302
    assert client.post("/plans/hegang-2022/reopen").status_code == 302
    db.session.expire_all()
    assert plan_named("hegang-2022").status == "published"
    # Publishing a published plan is refused with a clear message, nothing changes.
    again = client.post("/plans/hegang-2022/publish", follow_redirects=True)
    assert "当前为已发布，不能发布" in again.get_data(as_text=True)


# -- API --------------------------------------------------------------------------------------


def test_api_lifecycle(api_as):
    office = api_as("office")
    body = office.get("/api/v1/plans/hegang-2022").json
    assert (body["status"], body["revision"]) == ("published", 0)
    made = office.post(
        "/api/v1/plans/hegang-2022/copy",
        json={"year": 2026, "code": "hegang-2026", "title": "鹤岗2026"},
    )
    assert made.status_code == 201, made.json
    assert (made.json["status"], made.json["code"]) == ("draft", "hegang-2026")
    assert made.json["counts"]["assignments"] == 0
    taken = office.post(
        "/api/v1/plans/hegang-2022/copy", json={"year": 2026, "code": "hegang-2026", "title": "x"}
    )
    assert taken.status_code == 422
    published = office.post("/api/v1/plans/hegang-2026/publish")
    assert published.status_code == 200, published.json
    assert published.json["status"] == "published" and published.json["counts"]["assignments"] > 0
    again = office.post("/api/v1/plans/hegang-2026/publish")
    assert again.status_code == 422 and again.json["code"] == "plan_published"
    assert office.post("/api/v1/plans/hegang-2026/close").json["status"] == "closed"
    assert office.post("/api/v1/plans/hegang-2026/archive").json["status"] == "archived"
    listed = office.get("/api/v1/plans/?status=archived").json
    assert [p["code"] for p in listed] == ["hegang-2026"]
    record = office.get("/api/v1/plans/hegang-2026/revisions")
    assert record.status_code == 200
    assert [r["kind"] for r in record.json] == ["published", "copied"]
    assert record.json[0]["actor"]["id"] == office.user.id
    viewer = api_as("viewer")
    assert viewer.post("/api/v1/plans/hegang-2022/close").status_code == 403
    assert viewer.get("/api/v1/plans/hegang-2026/revisions").status_code == 200


def test_api_publish_lists_the_problems(api_as):
    office = api_as("office")
    office.post("/api/v1/plans/baotou-2022/copy", json={"year": 2026, "code": "b26", "title": "x"})
    draft = plan_named("b26")
    section = db.session.scalar(
        select(Section).where(Section.plan_id == draft.id, Section.points.isnot(None))
    )
    section.points = Decimal("0.5")
    db.session.commit()
    refused = office.post("/api/v1/plans/b26/publish")
    assert refused.status_code == 422
    assert any("超过本章节的0.5分" in p for p in refused.json["errors"]["_schema"])


# -- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli(app, session):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_cli_copy_publish_close(cli):
    result = cli("plan", "copy", "baotou-2022", "--year", "2025", "--code", "baotou-2025")
    assert result.exit_code == 0, result.output
    assert "baotou-2025: draft for 2025" in result.stdout
    draft = plan_named("baotou-2025")
    assert draft.title == plan_named("baotou-2022").title and draft.status == "draft"
    taken = cli("plan", "copy", "baotou-2022", "--year", "2025", "--code", "baotou-2025")
    assert taken.exit_code == 1 and "已被使用" in taken.stderr
    result = cli("plan", "publish", "baotou-2025")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert plan_named("baotou-2025").status == "published"
    assert assignments_of(plan_named("baotou-2025"))
    result = cli("plan", "close", "baotou-2025")
    assert result.exit_code == 0 and "closed" in result.stdout
    refused = cli("plan", "publish", "baotou-2025")
    assert refused.exit_code == 1 and "已关闭" in refused.stderr
    listed = cli("plan", "list")
    assert "baotou-2025" in listed.stdout
    missing = cli("plan", "publish", "nope")
    assert missing.exit_code == 1 and "no plan 'nope'" in missing.stderr
