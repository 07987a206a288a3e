"""Scoring pages: rankings, explanations, entering scores and closing a period over HTTP."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from taskhub.core.db import db
from taskhub.models import Assignment, AuditEvent, ComponentScore, Item, ItemScore, Plan, Snapshot
from tests.conftest import unit_named


def baotou_assignment(unit: str, item_code: str) -> Assignment:
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(
            Plan.code == "baotou-2022",
            Item.code == item_code,
            Assignment.unit_id == unit_named(unit, "baotou").id,
        )
    ).one()


def test_rankings_page_lists_every_unit_with_rank(client, login_as):
    login_as("viewer")
    page = client.get("/plans/baotou-2022/scores?period=2022-H1").get_data(as_text=True)
    assert "排名" in page and "昆都仑区人民政府" in page and "稀土高新区管委会" in page
    assert client.get("/plans/baotou-2022/scores?period=1999-X").status_code == 400


def test_office_enters_a_component_and_closes_the_period(client, login_as):
    login_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    response = client.post(
        "/plans/baotou-2022/components?period=2022-H1",
        data={"unit_id": unit.id, "component": "field", "value": "80", "reason": "实地调研"},
    )
    assert response.status_code == 302
    saved = db.session.scalars(
        select(ComponentScore).where(ComponentScore.unit_id == unit.id)
    ).one()
    assert saved.value == Decimal("80") and saved.component == "field"
    # 80 × 20% = 16.00 is this unit's whole total while nothing else is scored.
    page = client.get("/plans/baotou-2022/scores?period=2022-H1").get_data(as_text=True)
    assert "16.00" in page
    bad = client.post(
        "/plans/baotou-2022/components?period=2022-H1",
        data={"unit_id": unit.id, "component": "field", "value": "180", "reason": "x"},
    )
    assert bad.status_code == 302
    assert (
        db.session.scalars(select(ComponentScore).where(ComponentScore.unit_id == unit.id))
        .one()
        .value
        == 80
    )
    assert client.post("/plans/baotou-2022/close?period=2022-H1", data={}).status_code == 302
    snapshot = db.session.scalars(select(Snapshot)).one()
    assert snapshot.revision == 1
    assert "第 1 版" in client.get("/plans/baotou-2022/scores?period=2022-H1").get_data(
        as_text=True
    )


def test_lead_assessor_scores_an_item_it_leads(client, login_as):
    assessor_unit = unit_named("市审批服务局", "baotou")
    login_as("assessor", assessor_unit)
    assignment = baotou_assignment("昆都仑区人民政府", "1")
    page = client.get(f"/assignments/{assignment.id}").get_data(as_text=True)
    assert "为本事项评分" in page
    response = client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2022-H1", "value": "1.2", "reason": "现场核查"},
    )
    assert response.status_code == 302
    score = db.session.scalars(select(ItemScore)).one()
    assert score.value == Decimal("1.2") and score.scorer_key == f"unit:{assessor_unit.id}"
    assert (
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == "score.item_set"))
        .one()
        .actor_id
        is not None
    )
    other = baotou_assignment("昆都仑区人民政府", "3")  # led by another unit
    assert (
        client.post(
            f"/assignments/{other.id}/score",
            data={"period": "2022-H1", "value": "1", "reason": "x"},
        ).status_code
        == 403
    )


def test_unit_users_cannot_score_and_see_only_their_own_explanation(client, login_as):
    own = unit_named("昆都仑区人民政府", "baotou")
    login_as("unit", own)
    assignment = baotou_assignment("昆都仑区人民政府", "1")
    response = client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2022-H1", "value": "1", "reason": "x"},
    )
    assert response.status_code == 403
    assert client.get(f"/plans/baotou-2022/scores/{own.id}?period=2022-H1").status_code == 200
    other = unit_named("青山区人民政府", "baotou")
    assert client.get(f"/plans/baotou-2022/scores/{other.id}?period=2022-H1").status_code == 403
    assert client.post("/plans/baotou-2022/close?period=2022-H1").status_code == 403


def test_explanation_page_adds_up(client, login_as):
    login_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    client.post(
        "/plans/baotou-2022/components?period=2022-H1",
        data={"unit_id": unit.id, "component": "survey", "value": "90", "reason": "民意调查"},
    )
    page = client.get(f"/plans/baotou-2022/scores/{unit.id}?period=2022-H1").get_data(as_text=True)
    assert "总分 9.0000" in page  # 90 × 10%
    assert "各行之和恰好等于总分" in page


def test_lead_assessor_allocates_an_area_budget(client, login_as):
    from taskhub.models import PointAllocation, Section

    login_as("office")
    area3 = db.session.scalars(
        select(Section).join(Plan).where(Plan.code == "baotou-2022", Section.path == "3")
    ).one()
    assert area3.points == 20
    page = client.get("/plans/baotou-2022").get_data(as_text=True)
    assert f"/sections/{area3.id}/allocation" in page  # items 54–58 sit in 三(一), no points
    items = db.session.scalars(
        select(Item)
        .join(Plan)
        .where(Plan.code == "baotou-2022", Item.code.in_(["54", "55", "56", "57", "58"]))
    ).all()
    uneven = {f"points_{i.id}": "4" for i in items}
    uneven[f"points_{items[0].id}"] = "5"  # 21 points: more than the area's 20
    client.post(f"/sections/{area3.id}/allocation", data=uneven)
    assert db.session.scalars(select(PointAllocation)).all() == []
    even = {f"points_{i.id}": "4" for i in items}
    even[f"points_{items[0].id}"] = "6"
    even[f"points_{items[1].id}"] = "2"
    assert client.post(f"/sections/{area3.id}/allocation", data=even).status_code == 302
    saved = {a.item_id: a.points for a in db.session.scalars(select(PointAllocation))}
    assert saved[items[0].id] == 6 and saved[items[1].id] == 2 and sum(saved.values()) == 20


def test_a_component_for_a_unit_outside_the_plan_is_refused(client, login_as):
    login_as("office")
    stranger = unit_named("市营商环境局", "hegang")
    response = client.post(
        "/plans/baotou-2022/components?period=2022-H1",
        data={"unit_id": stranger.id, "component": "field", "value": "80", "reason": "x"},
    )
    assert response.status_code == 302
    assert db.session.scalars(select(ComponentScore)).all() == []
    assert "not scored by plan baotou-2022" in client.get("/plans/baotou-2022").get_data(
        as_text=True
    )


def test_rankings_show_the_entry_form_and_per_area_scores(client, login_as):
    login_as("office")
    page = client.get("/plans/baotou-2022/scores?period=2022-H1").get_data(as_text=True)
    assert "录入单位分项得分" in page  # the office's form for field / survey / third party
    assert 'value="field"' in page and 'value="third_party"' in page
    assert "政务服务" in page  # area 一 has its own column


def test_area_scores_add_up_to_the_monitoring_share(session):
    from taskhub.scoring import services
    from taskhub.scoring.rollup import compute

    plan = db.session.scalars(select(Plan).where(Plan.code == "hegang-2022")).one()
    from datetime import date

    from taskhub.tracking.schedule import MilestoneInput, add_item_milestones

    items = db.session.scalars(select(Item).where(Item.plan_id == plan.id)).all()
    add_item_milestones(
        items[:4], [MilestoneInput("complete", date(2022, 3, 31), "3月底完成")], actor_id=None
    )
    unit = unit_named("市营商环境局", "hegang")
    from taskhub.tracking.models import Milestone

    mine = db.session.scalars(
        select(Milestone).join(Assignment).where(Assignment.unit_id == unit.id)
    ).all()
    for m in mine[:2]:  # two done on time, one late, the rest missed
        m.status, m.completed_on = "done", date(2022, 3, 30)
    mine[2].status, mine[2].completed_on, mine[2].is_late = "done", date(2022, 4, 5), True
    db.session.flush()
    result = next(r for r in compute(plan, "2022-H1") if r.unit_id == unit.id)
    assert result.total > 0
    assert result.areas and sum(result.areas.values()) == result.total
    ranked, _ = services.results(plan, "2022-H1")
    row = next(r for r in ranked if r.unit_id == unit.id)
    assert sum(row.areas.values()) == row.total


def _shengzhou(unit: str, code: str) -> Assignment:
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(
            Plan.code == "shengzhou-2020",
            Item.code == code,
            Assignment.unit_id == unit_named(unit, "shengzhou").id,
        )
    ).one()


def test_rubric_and_count_indicators_score_from_their_inputs(session, tmp_path):
    import pytest

    from taskhub.core.errors import ValidationFailed
    from taskhub.scoring import services
    from taskhub.scoring.imports import import_scores

    rubric = _shengzhou("市大数据中心", "t2-40")  # 0.5 + 0.5: part (1) achieved only
    score = services.score_item(rubric, "2020", actor=None, reason="档案核查", parts=[True, False])
    assert score is not None and score.value == Decimal("0.5")
    with pytest.raises(ValidationFailed, match="2 rubric parts"):
        services.score_item(rubric, "2020", actor=None, reason="x", parts=[True])
    count = _shengzhou("剡湖街道", "t1-21")  # the document gives no deduction per occurrence
    with pytest.raises(ValidationFailed, match="no deduction per occurrence"):
        services.score_item(count, "2020", actor=None, reason="x", occurrences=Decimal(3))
    count.item.measure = {**count.item.measure, "deduct_per": "0.5"}
    score = services.score_item(count, "2020", actor=None, reason="抽查", occurrences=Decimal(3))
    assert score is not None and score.value == count.item.points - Decimal("1.5")
    plan = rubric.item.plan
    csv = tmp_path / "scores.csv"
    csv.write_text('单位,事项,达成,理由\n市大数据中心,t2-40,"1,1",复核\n', encoding="utf-8")
    assert import_scores(plan, "2020", csv, actor=None).changed == 1
    db.session.refresh(rubric)
    assert db.session.scalars(
        select(ItemScore.value).where(ItemScore.assignment_id == rubric.id)
    ).one() == Decimal("1")
