"""The five shipped plans, checked in the database against the hand-counted facts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.plans.models import Item, ItemUnit, Plan, Section
from taskhub.scoring.models import Scheme
from taskhub.tracking.models import Assignment, ItemMilestone
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup
from taskhub.units.services import resolve_name
from tests.conftest import unit_named


def plan(code: str) -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == code)).one()


def items(code: str) -> list[Item]:
    return list(
        db.session.scalars(select(Item).join(Plan).where(Plan.code == code).order_by(Item.position))
    )


def item(code: str, item_code: str) -> Item:
    return db.session.scalars(
        select(Item).join(Plan).where(Plan.code == code, Item.code == item_code)
    ).one()


def sections(code: str, depth: int | None = None) -> list[Section]:
    query = select(Section).join(Plan).where(Plan.code == code).order_by(Section.position)
    if depth is not None:
        query = query.where(Section.depth == depth)
    return list(db.session.scalars(query))


def points_sum(rows: list[Item]) -> Decimal:
    return sum((i.points for i in rows if i.points is not None), Decimal(0))


def test_all_five_plans_are_loaded(session):
    codes = db.session.scalars(select(Plan.code).order_by(Plan.code)).all()
    assert codes == ["baotou-2022", "hegang-2022", "heihe-2023", "shanwei-2021", "shengzhou-2020"]


# -- Hegang ---------------------------------------------------------------------------------


def test_hegang_has_29_tasks_in_six_groups_and_6_safeguards(session):
    p = plan("hegang-2022")
    assert p.kind == "tasks"
    assert p.document_number == "鹤政发〔2022〕12号"
    assert p.issued_on is not None and p.issued_on.isoformat() == "2022-05-10"
    rows = items("hegang-2022")
    tasks = [i for i in rows if i.number and i.number.isdigit()]
    assert [i.number for i in tasks] == [str(n) for n in range(1, 30)]
    groups = {i.section_id for i in tasks}
    assert len(groups) == 6
    safeguards = [i for i in rows if i not in tasks]
    assert len(safeguards) == 6
    assert {s.section.title for s in safeguards} == {"保障措施"}


def test_hegang_every_item_has_lead_units_and_groups_resolve(session):
    rows = items("hegang-2022")
    for i in rows:
        assert i.units_by_role("lead"), f"item {i.code} has no lead unit"
        assert i.deadline_phrase is None  # the plan gives no per-task dates
    assert sum(1 for i in rows if i.units_by_role("responsible")) >= 20
    # Task 6 is led by two units; its responsible units include groups and two carriers.
    task6 = item("hegang-2022", "6")
    assert [u.name for u in task6.units_by_role("lead")] == ["市营商环境局", "市财政局"]
    responsible = {u.name for u in task6.units_by_role("responsible")}
    assert {"各县(区)政府", "市直各有关单位", "联通鹤岗分公司", "移动鹤岗分公司"} <= responsible
    county_group = next(u for u in task6.units if u.name == "各县(区)政府")
    assert county_group.group is not None and len(county_group.group.members) == 8


def test_hegang_aliases_resolve_to_one_unit(session):
    city = db.session.scalars(select(City).where(City.code == "hegang")).one()
    assert resolve_name(city.id, "市场监管局") is resolve_name(city.id, "市市场监管局")
    assert resolve_name(city.id, "档案馆") is resolve_name(city.id, "市档案馆")
    assert isinstance(resolve_name(city.id, "各县(区)政府"), UnitGroup)


def test_hegang_assignments_go_to_lead_and_responsible_units(session):
    task6 = item("hegang-2022", "6")
    roles = dict(
        db.session.execute(
            select(Unit.name, Assignment.role)
            .join(Assignment)
            .where(Assignment.item_id == task6.id)
        ).all()
    )
    assert roles["市营商环境局"] == "lead"
    assert roles["市财政局"] == "lead"
    assert roles["联通鹤岗分公司"] == "responsible"
    assert roles["向阳区人民政府"] == "responsible"  # through 各县(区)政府


# -- Baotou ---------------------------------------------------------------------------------


def test_baotou_has_90_items_in_7_areas_worth_100(session):
    p = plan("baotou-2022")
    assert p.points == 100
    areas = sections("baotou-2022", depth=1)
    assert [a.points for a in areas] == [25, 25, 20, 10, 10, 5, 5]
    assert sum(a.points for a in areas if a.points is not None) == 100
    rows = items("baotou-2022")
    assert [i.number for i in rows] == [str(n) for n in range(1, 91)]


def test_baotou_sub_areas_and_item_points_fit_their_budgets(session):
    rows = items("baotou-2022")
    by_number = {int(i.number or 0): i for i in rows}
    assert points_sum([by_number[n] for n in range(19, 39)]) == 12
    assert all(by_number[n].points is not None for n in range(39, 54))
    # Areas 三 (54-58) and 六 (78-85) are allocated later by the lead assessment unit.
    assert all(by_number[n].points is None for n in [*range(54, 59), *range(78, 86)])
    for section in sections("baotou-2022"):
        if section.points is None:
            continue
        children = [s.points or 0 for s in section.children]
        own = [i.points or 0 for i in section.items]
        assert sum(children) + sum(own) <= section.points, section.title
    # Every sub-area of areas 一 and 二 carries points.
    for area in sections("baotou-2022", depth=1)[:2]:
        assert area.children and all(s.points is not None for s in area.children)


def test_baotou_items_have_deadline_phrase_and_lead_assessors(session):
    rows = items("baotou-2022")
    for i in rows:
        assert i.deadline_phrase, f"item {i.number} has no deadline phrase"
        assessors = i.units_by_role("lead_assessor")
        assert 1 <= len(assessors) <= 3, f"item {i.number}"
        assert all(a.unit is not None for a in assessors)
    first = rows[0]
    assert first.deadline_phrase == "5月底取得明显成效并持续推进"
    assert [u.name for u in first.units_by_role("lead_assessor")] == ["市审批服务局"]
    assert rows[52].deadline_phrase == "按进度推进"  # item 53 carries its own dated steps
    assert "7月底前" in rows[52].text


def test_baotou_assesses_every_county_body_and_department_on_every_item(session):
    p = plan("baotou-2022")
    county = db.session.scalars(
        select(UnitGroup)
        .join(City)
        .where(City.code == "baotou", UnitGroup.name == "各旗县区人民政府")
    ).one()
    assert len(county.members) == 9
    n_units = db.session.scalar(
        select(func.count(func.distinct(Assignment.unit_id))).join(Item).where(Item.plan_id == p.id)
    )
    n_assign = db.session.scalar(
        select(func.count(Assignment.id)).join(Item).where(Item.plan_id == p.id)
    )
    assert n_units is not None and n_units >= 10 + 20
    assert n_assign == n_units * 90
    assert unit_named("稀土高新区管委会", "baotou").kind == "county"


# -- Heihe ----------------------------------------------------------------------------------


def test_heihe_has_54_rows_44_indicators_weights_100(session):
    rows = items("heihe-2023")
    assert [i.number for i in rows] == [str(n) for n in range(1, 55)]
    assert len(sections("heihe-2023", depth=1)) == 5
    assert len(sections("heihe-2023", depth=2)) == 13
    assert len(sections("heihe-2023", depth=3)) == 44
    assert sum((i.weight or Decimal(0)) for i in rows) == 100
    assert all(i.weight is not None and i.weight > 0 for i in rows)


def test_heihe_rows_19_to_24_are_as_needed_and_row_8_counties_only(session):
    rows = {int(i.number or 0): i for i in items("heihe-2023")}
    as_needed = sorted(n for n, i in rows.items() if i.applicability == "as_needed")
    assert as_needed == [19, 20, 21, 22, 23, 24]
    row8_kinds = set(
        db.session.scalars(
            select(Unit.kind).join(Assignment).where(Assignment.item_id == rows[8].id)
        )
    )
    assert row8_kinds == {"county"}
    row9_kinds = set(
        db.session.scalars(
            select(Unit.kind).join(Assignment).where(Assignment.item_id == rows[9].id)
        )
    )
    assert row9_kinds == {"county", "department"}


# -- Shengzhou ------------------------------------------------------------------------------


def test_shengzhou_two_tables_of_100_points(session):
    table1, table2 = sections("shengzhou-2020", depth=1)
    assert table1.points == table2.points == 100
    assert table1.applies_to == ["township"] and table2.applies_to == ["department"]

    def items_under(section: Section) -> list[Item]:
        prefix = section.path + "/"
        ids = {s.id for s in sections("shengzhou-2020") if s.path.startswith(prefix)}
        return [i for i in items("shengzhou-2020") if i.section_id in ids | {section.id}]

    t1, t2 = items_under(table1), items_under(table2)
    assert len(t1) == 24
    assert sorted(int(i.number or 0) for i in t1) == [n for n in range(1, 26) if n != 6]
    assert len(t2) == 53
    assert sum(1 for i in t2 if not i.number) == 2
    assert points_sum(t1) == 100 and points_sum(t2) == 100
    assert [s.points for s in table1.children] == [10, 25, 7, 3, 21, 30, 4]
    assert [s.points for s in table2.children] == [5, 20, 15, 13, 2, 30, 10, 5]
    for i in t1 + t2:
        assert i.units_by_role("lead_assessor"), f"indicator {i.code} has no lead assessment unit"


def test_shengzhou_rate_indicators_have_targets(session):
    rates = [i for i in items("shengzhou-2020") if i.measure and i.measure.get("kind") == "rate"]
    assert len(rates) >= 10
    targets = {i.target for i in rates if i.target}
    assert any("100%" in t for t in targets) and any("92%" in t for t in targets)


def test_shengzhou_indicators_are_assigned_by_unit_kind(session):
    p = plan("shengzhou-2020")
    kinds = set(
        db.session.execute(
            select(Section.path.startswith("1"), Unit.kind)
            .select_from(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .join(Section, Section.id == Item.section_id)
            .join(Unit, Unit.id == Assignment.unit_id)
            .where(Item.plan_id == p.id)
            .distinct()
        ).all()
    )
    assert kinds == {(True, "township"), (False, "department")}
    townships = db.session.scalars(
        select(UnitGroup)
        .join(City)
        .where(City.code == "shengzhou", UnitGroup.name == "各乡镇(街道)")
    ).one()
    assert len(townships.members) == 21


# -- Shanwei --------------------------------------------------------------------------------


def test_shanwei_has_its_scheme_and_calendar(session):
    p = plan("shanwei-2021")
    # No indicator items (the indicator lists are not in the text): only its two dated
    # obligations, unscored (seeds/README.md).
    assert all(i.points is None for i in items("shanwei-2021"))
    scheme = db.session.scalars(select(Scheme).where(Scheme.plan_id == p.id)).one()
    text = str(scheme.definition)
    for word in ("monitoring", "key_apps", "year_end", "bonus", "25"):
        assert word in text
    assert {a.unit.name if a.unit else a.group.name for a in p.assessees} >= {
        "各县(市、区)人民政府"
    }


def test_shanwei_dated_obligations_are_tracked_items_with_milestones(session):
    contact, report = items("shanwei-2021")
    assert (contact.code, contact.number, contact.title) == ("C1", "(三)", "指定专人,加强沟通")
    assert (report.code, report.number, report.title) == ("C2", "(三)", "年度综合评分")
    steps = {
        i.code: [(m.kind, m.due_on.isoformat()) for m in steps_of(i)] for i in (contact, report)
    }
    assert steps == {"C1": [("complete", "2021-11-12")], "C2": [("complete", "2022-02-28")]}
    assessed = {a.unit.name for a in assignments_of(contact)}
    assert len(assessed) == 17 and {"海丰县人民政府", "市政务服务数据管理局"} <= assessed
    # The annual report is the organising office's, not every assessed body's.
    assert [(a.unit.name, a.role) for a in assignments_of(report)] == [
        ("市政务服务数据管理局", "lead")
    ]
    # Every assignment carries the dated milestone, so the reminder rules see it.
    for a in assignments_of(contact):
        assert [m.due_on.isoformat() for m in a.milestones] == ["2021-11-12"]


def test_hegang_item_8_steps_printed_in_its_text_are_its_milestones(session):
    task8 = item("hegang-2022", "8")
    assert task8.deadline_phrase is None
    assert [(m.kind, m.due_on.isoformat(), m.title[:11]) for m in steps_of(task8)] == [
        ("step", "2022-12-31", "2022年底完成全市统"),
        ("step", "2025-12-31", "2025年底建设市场监"),
    ]
    lead = next(a for a in assignments_of(task8) if a.unit.name == "市营商环境局")
    assert [m.due_on.isoformat() for m in lead.milestones] == ["2022-12-31", "2025-12-31"]


def steps_of(i: Item) -> list[ItemMilestone]:
    return list(
        db.session.scalars(
            select(ItemMilestone)
            .where(ItemMilestone.item_id == i.id)
            .order_by(ItemMilestone.due_on)
        )
    )


def assignments_of(i: Item) -> list[Assignment]:
    return list(db.session.scalars(select(Assignment).where(Assignment.item_id == i.id)))


# -- names ----------------------------------------------------------------------------------


def test_every_item_unit_resolves_to_exactly_one_target(session):
    orphan = db.session.scalar(
        select(func.count())
        .select_from(ItemUnit)
        .where(ItemUnit.unit_id.is_(None), ItemUnit.group_id.is_(None))
    )
    assert orphan == 0
    # Every alias names one unit or one group, unique per city (enforced by constraints).
    dupes = db.session.execute(
        select(UnitAlias.city_id, UnitAlias.name, func.count())
        .group_by(UnitAlias.city_id, UnitAlias.name)
        .having(func.count() > 1)
    ).all()
    assert dupes == []


@pytest.mark.parametrize("city", ["hegang", "baotou", "heihe", "shengzhou", "shanwei"])
def test_every_group_has_members_and_a_source(session, city):
    groups = db.session.scalars(select(UnitGroup).join(City).where(City.code == city)).all()
    assert groups
    for g in groups:
        assert g.members, g.name
        assert g.source, g.name
