"""Score components computed from the supervision facts (issue 16): 报送率, 督办单 and 办结.

Hegang 2022 (completion-based, months, halves and the year) gets a reporting cadence and a
scheme whose half-year adds a 报送率 component and an escalation deduction. 向阳区人民政府 keeps
two open tasks (items 2 and 4); its other tasks were completed in January, so they owe no report
in the cadence's windows (due 05-25 and 06-25 in 2022-H1, 07-25 … in H2).
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from taskhub.cadence import services as cadence
from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.storage import LocalStorage
from taskhub.dashboard import services as dashboard
from taskhub.plans.models import Item, Plan
from taskhub.scoring import facts, services
from taskhub.scoring.labels import component_names
from taskhub.scoring.models import Scheme
from taskhub.scoring.rollup import compute
from taskhub.supervision import services as supervision
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, AssignmentStatus
from tests.conftest import make_user, unit_named
from tests.test_cadence import at as at_day
from tests.test_cadence import report

D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
UNIT = "向阳区人民政府"


def at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return at_day(date.fromisoformat(day), hour, minute)


def hegang() -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == "hegang-2022")).one()


def mine(plan: Plan) -> dict[str, Assignment]:
    unit = unit_named(UNIT, "hegang")
    rows = db.session.scalars(
        select(Assignment).join(Item).where(Item.plan_id == plan.id, Assignment.unit_id == unit.id)
    )
    return {a.item.code: a for a in rows}


def scheme(plan: Plan, computed: dict[str, Any], composite: dict[str, str]) -> None:
    row = db.session.scalars(select(Scheme).where(Scheme.plan_id == plan.id)).one()
    definition = copy.deepcopy(row.definition)
    definition["engine"]["computed"] = computed
    for kind in ("half_year", "month"):
        definition["engine"]["periods"][kind]["composite"] = composite
    row.definition = definition
    db.session.flush()


@pytest.fixture
def scene(session: Any) -> dict[str, Any]:
    """Hegang with a monthly cadence by the 25th from 2022-05-01; the unit's items 2 and 4 open."""
    plan = hegang()
    db.session.execute(
        update(Assignment)
        .where(Assignment.item_id.in_(select(Item.id).where(Item.plan_id == plan.id)))
        .values(created_at=at("2022-01-01"))
        .execution_options(synchronize_session=False)
    )
    tasks = mine(plan)
    for code, a in tasks.items():
        if code not in ("2", "4"):
            a.status, a.completed_at = AssignmentStatus.COMPLETED.value, at("2022-01-10")
    office = make_user("office", username="facts-office")
    cadence.set_cadence(
        plan,
        actor_id=office.id,
        kind="monthly",
        day=25,
        starts_on=date(2022, 5, 1),
        is_shifted_to_working_day=False,
    )
    db.session.flush()
    return {"plan": plan, "tasks": tasks, "unit": tasks["2"].unit_id, "office": office}


def component(plan: Plan, code: str, unit_id: int, key: str) -> dict[str, Any]:
    data = services.explain(plan, unit_id, code)
    values = [c["value"] for c in data["contributions"]]
    assert sum(values, D(0)) == data["total"]  # the explanation adds up
    return next(c for c in data["contributions"] if c["key"] == key) | {"total": data["total"]}


def reports_three_of_four(tasks: dict[str, Assignment]) -> None:
    """Item 2 reports in both windows; item 4 in May, and on 06-26 just after its due day."""
    report(tasks["2"], at("2022-05-20"))
    report(tasks["2"], at("2022-06-25", 23, 30))  # the last minutes of the due day count
    report(tasks["4"], at("2022-05-10"))
    report(tasks["4"], at("2022-06-26", 0, 10))  # the next day: missed, late


def test_reporting_rate_deducts_per_missed_report(scene: dict[str, Any]) -> None:
    """未按时报送的，每次扣0.5分，扣完为止: 4 owed, 3 on time → 10 − 0.5 = 9.5."""
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "name": "按时报送", "points": 10,
                       "rule": "per_missed", "deduct": "0.5"}},
        {"completion": "0.9", "reporting": "1"},
    )  # fmt: skip
    reports_three_of_four(tasks)
    line = component(plan, "2022-H1", unit, "reporting")
    assert (line["points"], line["fraction"], line["source"]) == (
        D("9.5"),
        D("0.75"),
        "supervision",
    )
    assert line["value"] == D("9.5") == line["total"]  # nothing due for completion: left out
    assert line["details"][0] == (
        "报送率75%（应报送4次，按时报送3次，未按时报送1次），每次扣0.5分，共扣0.5分。"
    )
    assert line["details"][1].startswith("2022年6月25日到期未按时报送：事项4")
    assert line["details"][1].endswith("扣0.5分")
    # The whole plan's roll-up (grouped queries) agrees with the unit's explanation.
    everyone = {r.unit_id: r for r in compute(plan, "2022-H1")}
    assert everyone[unit].components["reporting"] == Fraction(19, 2)
    assert component_names(plan)["reporting"] == "按时报送"


def test_deductions_stop_at_zero_and_a_pure_deduction_is_negative(scene: dict[str, Any]) -> None:
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    report(tasks["2"], at("2022-05-20"))  # 1 of 4: three missed × 4 = 12 > 10 points
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10, "rule": "per_missed",
                       "deduct": "4"}},
        {"completion": "1", "reporting": "1"},
    )  # fmt: skip
    line = component(plan, "2022-H1", unit, "reporting")
    assert line["value"] == D(0) and "（扣完为止）" in line["details"][0]
    assert len(line["details"]) == 1 + 3  # one line per missed report, dated
    # Without points, a 扣分项: minus the deduction, at most max_deduction.
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "rule": "per_missed", "deduct": "4",
                       "max_deduction": "5"}},
        {"completion": "1", "reporting": "1"},
    )  # fmt: skip
    line = component(plan, "2022-H1", unit, "reporting")
    assert line["value"] == D(-5) and "（最多扣5分）" in line["details"][0]


def test_linear_rate_and_full_marks_from_a_threshold(scene: dict[str, Any]) -> None:
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    reports_three_of_four(tasks)
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10}},
        {"completion": "1", "reporting": "1"},
    )
    assert component(plan, "2022-H1", unit, "reporting")["value"] == D("7.5")  # 10 × 75%
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10, "full_at": 80}},
        {"completion": "1", "reporting": "1"},
    )
    line = component(plan, "2022-H1", unit, "reporting")
    assert line["value"] == D("9.375")  # 10 × 75 / 80
    assert "按报送率折算（报送率达80%即得满分）" in line["details"][0]


def test_period_boundaries_count_the_windows_due_within_the_period(scene: dict[str, Any]) -> None:
    """June's period owes the 06-25 window only; July's the 07-25 one; H1 owes 05-25 and 06-25."""
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    reports_three_of_four(tasks)
    report(tasks["2"], at("2022-07-01"))  # in the window 06-26 … 07-25
    spec = {"reporting": {"fact": "reporting_rate", "points": 10}}
    scheme(plan, spec, {"completion": "1", "reporting": "1"})
    june = component(plan, "2022-06", unit, "reporting")
    assert june["fraction"] == D("0.5") and june["value"] == D(5)
    july = component(plan, "2022-07", unit, "reporting")
    # Item 4's report of 06-26 00:10, late for June, falls in July's window; item 2's of 07-01.
    assert july["fraction"] == D(1)
    assert component(plan, "2022-H1", unit, "reporting")["fraction"] == D("0.75")


def test_no_cadence_makes_the_component_not_applicable(scene: dict[str, Any]) -> None:
    plan, unit = scene["plan"], scene["unit"]
    cadence.set_cadence(plan, actor_id=scene["office"].id, kind="none")
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10}},
        {"completion": "1", "reporting": "1"},
    )
    line = component(plan, "2022-H1", unit, "reporting")
    assert (line["source"], line["value"]) == ("not_applicable", D(10))
    assert line["details"] == ["本方案未设报送周期，此项不适用，按满分计。"]
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10, "if_not_owed": "none"}},
        {"completion": "1", "reporting": "1"},
    )
    line = component(plan, "2022-H1", unit, "reporting")
    assert (line["points"], line["value"]) == (None, D(0))
    assert line["details"] == ["本方案未设报送周期，此项不适用，不计分。"]
    ranked, _ = services.results(plan, "2022-H1")
    assert next(r for r in ranked if r.unit_id == unit).components["reporting"] is None


def test_escalations_deduct_by_level_within_the_period(scene: dict[str, Any]) -> None:
    """被督办的每次扣1分、催办扣0.5分; 提醒 deducts nothing; a withdrawn notice does not count."""
    plan, tasks, unit, office = scene["plan"], scene["tasks"], scene["unit"], scene["office"]
    scheme(
        plan,
        {"supervised": {"fact": "escalations", "name": "督办扣分", "points": 5,
                        "deduct": {"urge": "0.5", "supervise": "1"}}},
        {"completion": "1", "supervised": "1"},
    )  # fmt: skip
    level = lambda code: supervision.level_by_code(plan.city_id, code)  # noqa: E731
    supervision.issue(tasks["2"], level("remind"), actor=office, today=date(2022, 6, 10))
    urge = supervision.issue(tasks["2"], level("urge"), actor=office, today=date(2022, 6, 30))
    supervision.issue(tasks["4"], level("supervise"), actor=office, today=date(2022, 7, 1))
    wrong = supervision.issue(tasks["4"], level("urge"), actor=office, today=date(2022, 6, 15))
    supervision.withdraw(wrong, actor=office, note="误发")
    db.session.flush()
    h1 = component(plan, "2022-H1", unit, "supervised")
    assert h1["value"] == D("4.5")
    assert h1["details"][0] == "本期被发督办单2件（提醒1件、催办1件），共扣0.5分。"
    assert f"2022年6月30日 {urge.number} 催办：事项2" in h1["details"][2]
    assert h1["details"][2].endswith("扣0.5分")
    assert component(plan, "2022-H2", unit, "supervised")["value"] == D(4)  # 督办 on 07-01
    everyone = {r.unit_id: r for r in compute(plan, "2022-H1")}
    assert everyone[unit].components["supervised"] == Fraction(9, 2)
    others = [r for r in everyone.values() if r.unit_id != unit]
    assert others and all(r.components["supervised"] == 5 for r in others)


def test_a_settled_task_counts_as_completed(scene: dict[str, Any], tmp_path: Any) -> None:
    """办结/销号: signing off the closing report closes every open step with its date, so the
    completion component earns them (on time, or late against the original date)."""
    from taskhub.core.storage import LocalStorage

    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    from tests.test_scoring import hegang_milestones

    hegang_milestones()  # item 2: 03-31 and 06-30; item 4: 06-30 and 09-30
    db.session.expire_all()
    a = db.session.get(Assignment, tasks["2"].id)
    assert a is not None
    before = component(plan, "2022-H1", unit, "2")["value"]
    staff = make_user("unit", a.unit, username="facts-staff")
    closing = tracking.submit_report(
        a,
        actor=staff,
        progress="全部完成",
        percent=100,
        closing=True,
        storage=LocalStorage(tmp_path),
        max_bytes=1024,
    )
    tracking.review_report(
        closing, actor=scene["office"], decision="accept", today=date(2022, 6, 20)
    )
    db.session.flush()
    assert a.status == AssignmentStatus.COMPLETED.value
    line = component(plan, "2022-H1", unit, "2")
    assert before == D(0) and line["source"] == "completion"
    assert line["fraction"] == D("0.75")  # 03-31 late (½), 06-30 on time (1)


# -- declarations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("computed", "message"),
    [
        ({"r": {"fact": "rate"}}, "fact 应为 reporting_rate（报送率）或 escalations（督办单）"),
        ({"r": {"fact": "reporting_rate"}}, "按报送率折算（linear）须写明满分 points"),
        ({"r": {"fact": "reporting_rate", "rule": "per_missed", "points": 5}}, "须写明 deduct"),
        ({"r": {"fact": "reporting_rate", "rule": "each", "points": 5}}, "rule 应为 linear"),
        ({"r": {"fact": "escalations", "points": 5}}, "督办单扣分须写明 deduct"),
        ({"r": {"fact": "escalations", "deduct": {"urge": "-1"}}}, "应不小于 0"),
        ({"r": {"fact": "escalations", "deduct": "一分"}}, "应为数字"),
        ({"r": {"fact": "reporting_rate", "points": 5, "full_at": 120}}, "应在 0 至 100 之间"),
        ({"r": {"fact": "reporting_rate", "points": 5, "per": 1}}, "不认识的设置“per”"),
        ({"other": {"fact": "reporting_rate", "points": 5}}, "未出现在任何考评周期的 composite 中"),
    ],
)
def test_bad_declarations_are_refused_in_chinese(computed: dict[str, Any], message: str) -> None:
    engine = {"periods": {"month": {"composite": {"r": "1"}}}}
    _, problems = facts.parse(computed, engine)
    assert any(message in p for p in problems), problems


def test_the_plan_refuses_to_score_with_a_bad_declaration(scene: dict[str, Any]) -> None:
    plan = scene["plan"]
    scheme(plan, {"reporting": {"fact": "reporting_rate"}}, {"completion": "1", "reporting": "1"})
    with pytest.raises(ValidationFailed, match="方案 hegang-2022 的计分设置有误"):
        compute(plan, "2022-H1")


def test_the_seed_loader_names_a_bad_declaration() -> None:
    import yaml

    from taskhub.plans.seedspec import SeedError, read_city, read_plan

    path = Path("seeds/plans/hegang-2022.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["scheme"]["engine"]["computed"] = {"reporting": {"fact": "reporting_rate"}}
    cities = {"hegang": read_city(Path("seeds/cities/hegang.yaml"))}
    with pytest.raises(SeedError) as caught:
        read_plan(path, cities, overrides={"scheme": data["scheme"]})
    assert any(
        "computed.reporting：按报送率折算（linear）须写明满分 points" in p
        for p in caught.value.problems
    )


def test_the_pages_name_the_components_and_show_the_events(
    scene: dict[str, Any], client: Any, login_as: Any
) -> None:
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "name": "按时报送", "points": 10,
                       "rule": "per_missed", "deduct": "0.5"},
         "supervised": {"fact": "escalations", "points": 5, "deduct": "1"}},
        {"completion": "0.85", "reporting": "1", "supervised": "1"},
    )  # fmt: skip
    reports_three_of_four(tasks)
    db.session.commit()
    login_as("office")
    page = client.get(f"/plans/hegang-2022/scores/{unit}?period=2022-H1").get_data(as_text=True)
    assert "按时报送" in page and "督办扣分" in page  # the declared name, else the usual one
    assert "每次扣0.5分，共扣0.5分" in page and "2022年6月25日到期未按时报送" in page
    assert "本期未被发督办单，不扣分。" in page and "督查督办数据" in page
    assert "reporting" not in page.split("<main", 1)[-1].split("</main>")[0].replace(
        'data-component="reporting"', ""
    )
    rankings = client.get("/plans/hegang-2022/scores?period=2022-H1").get_data(as_text=True)
    assert "按时报送" in rankings and "督办扣分" in rankings


# -- the bulletin --------------------------------------------------------------------------------


def test_the_bulletin_shows_rates_notices_and_settled_tasks(
    scene: dict[str, Any], client: Any, login_as: Any, api_as: Any
) -> None:
    """报送率 per unit and the tasks settled in the period, on the page, in the .docx and the API;
    the notices per level were there already."""
    import io

    docx = pytest.importorskip("docx")
    from taskhub.reports import services as bulletins

    plan, tasks, unit, office = scene["plan"], scene["tasks"], scene["unit"], scene["office"]
    reports_three_of_four(tasks)
    level = supervision.level_by_code(plan.city_id, "urge")
    supervision.issue(tasks["4"], level, actor=office, today=date(2022, 6, 30))
    settled_before = len(tasks) - 2  # completed on 2022-01-10
    db.session.commit()
    b = bulletins.build_bulletin(plan, "2022-H1", today=date(2022, 7, 15))
    row = next(r for r in b.rows if r.unit_id == unit)
    assert (row.reporting_rate, row.settled) == (D("75.0"), settled_before)
    assert f"{UNIT}75.0%" in b.reporting_rate_line
    assert f"2022年上半年办结（销号）任务{settled_before}项" in b.settled_text
    assert f"{UNIT}{settled_before}项" in b.settled_text
    assert "催办1件" in b.escalation_text
    # July's tasks are not H1's: none settled in H2 so far.
    assert bulletins.build_bulletin(plan, "2022-H2", today=date(2022, 7, 15)).settled_text == ""

    document = docx.Document(io.BytesIO(bulletins.bulletin_docx(b)))
    text = "\n".join(p.text for p in document.paragraphs)
    for line in (b.reporting_rate_line, b.settled_text, b.escalation_text):
        assert line in text
    login_as("office")
    page = client.get("/plans/hegang-2022/bulletin?period=2022-H1").get_data(as_text=True)
    assert "办结（销号）任务" in page and "报送率" in page and "催办1件" in page
    body = api_as("office").get("/api/v1/plans/hegang-2022/bulletins/2022-H1").json
    api_row = next(r for r in body["rows"] if r["unit"]["id"] == unit)
    assert api_row["settled"] == settled_before and api_row["reporting_rate"] is not None
    assert "办结（销号）" in body["settled_text"]


def test_a_closed_period_keeps_the_events_as_published(scene: dict[str, Any]) -> None:
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10, "rule": "per_missed",
                       "deduct": "0.5"}},
        {"completion": "1", "reporting": "1"},
    )  # fmt: skip
    reports_three_of_four(tasks)
    live = component(plan, "2022-H1", unit, "reporting")
    services.close_period(plan, "2022-H1", actor=None)
    report(tasks["4"], at("2022-06-24"))  # too late to change the published period
    frozen = component(plan, "2022-H1", unit, "reporting")
    assert frozen["details"] == live["details"] and frozen["value"] == D("9.5")


def test_the_dashboard_ranking_follows_a_submitted_report_when_scores_read_reports(
    scene: dict[str, Any], tmp_path: Path
) -> None:
    """A submitted report moves no score of most schemes, so the dashboard keeps its ranking
    (cache.settled_fingerprint); with a 报送率 component it does move one: the live ranking
    counts the unit again and equals the full roll-up."""
    plan, tasks, unit = scene["plan"], scene["tasks"], scene["unit"]
    scheme(
        plan,
        {"reporting": {"fact": "reporting_rate", "points": 10, "rule": "per_missed",
                       "deduct": "2"}},
        {"completion": "1", "reporting": "1"},
    )  # fmt: skip
    db.session.commit()
    cache.clear_cache()

    def totals() -> dict[int, Decimal]:
        return {r.unit_id: r.total for r in dashboard.ranking(plan, "2022-H1").rows}

    def full() -> dict[int, Decimal]:
        return {r.unit_id: r.total for r in services.results(plan, "2022-H1")[0]}

    assert totals() == full()
    before = totals()[unit]
    author = make_user("unit", tasks["2"].unit, username="facts-reporter")
    submitted = tracking.submit_report(
        tasks["2"],
        actor=author,
        progress="按月报送。",
        percent=20,
        storage=LocalStorage(tmp_path),
        max_bytes=1024,
    )
    # Sent in May's window (the audited submission is what the ranking must notice).
    submitted.submitted_at = at("2022-05-20")
    db.session.commit()
    after = totals()
    assert after == full()
    assert after[unit] == before + 2  # one missed report fewer: 2 points back
