"""Bulletins (通报): the ranking as scoring gives it, progress counts as the database holds them,
and the .xlsx, .docx and printable page an office publishes."""

from __future__ import annotations

import html as html_lib
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from taskhub import config as settings
from taskhub import create_app
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.plans.models import Item, Plan
from taskhub.reports import services as bulletins
from taskhub.reports.views import bp
from taskhub.scoring import services as scoring
from taskhub.scoring.engine import display
from taskhub.tracking.jobs import scan_overdue
from taskhub.tracking.models import Assignment, Milestone, refresh_next_due
from tests.conftest import login, make_user, unit_named

TODAY = date(2022, 7, 15)
H1 = "2022-H1"
PLAN = "baotou-2022"
#: Field-check scores (实地调研) entered for four Baotou bodies: distinct, so ranks are distinct.
FIELD = {
    "九原区人民政府": Decimal("95"),
    "青山区人民政府": Decimal("90"),
    "昆都仑区人民政府": Decimal("85"),
    "东河区人民政府": Decimal("80"),
}
FINISHED = "九原区人民政府"  # every assignment completed: 超进度
ON_PACE = "青山区人民政府"  # every milestone done, progress 100%: 达进度


# --- fixtures ----------------------------------------------------------------------------------

_fresh: dict[str, Flask] = {}


def _web_app(app: Flask) -> Flask:
    """The app with the reports blueprint: the session app, or a fresh one on the same database.

    Flask refuses new blueprints once an app has served a request, which earlier test modules
    may have done before the integrator registers ``reports`` in create_app.
    """
    if "reports" in app.blueprints:
        return app
    if not app._got_first_request:
        app.register_blueprint(bp)
        return app
    if "app" not in _fresh:
        config = settings.TestConfig()
        config.SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        fresh = create_app(config, WTF_CSRF_ENABLED=False)
        if "reports" not in fresh.blueprints:
            fresh.register_blueprint(bp)
        _fresh["app"] = fresh
    return _fresh["app"]


@pytest.fixture
def web(app: Flask, session: Any) -> Iterator[FlaskClient]:
    """A test client of an app serving the bulletin routes (the test's database session)."""
    target = _web_app(app)
    if target is app:
        yield app.test_client()
        return
    with target.app_context():
        yield target.test_client()


def sign_in(client: FlaskClient, role: str, unit_name: str | None = None) -> None:
    unit = unit_named(unit_name, "baotou") if unit_name else None
    login(client, make_user(role, unit, username=f"b-{role}-{unit_name or 'x'}"))


@dataclass
class Seeded:
    plan: Plan
    units: dict[str, int]


@pytest.fixture
def baotou(session: Any) -> Seeded:
    """Baotou's first half of 2022: a few entered scores, one finished body, one on pace, and
    the overdue scan run on 15 July (everything else has milestones past due)."""
    plan = db.session.scalar(select(Plan).where(Plan.code == PLAN))
    assert plan is not None
    units = {name: unit_named(name, "baotou").id for name in FIELD}
    for name, value in FIELD.items():
        scoring.score_component(
            plan, units[name], H1, "field", value, actor=None, reason="实地调研"
        )
    scoring.score_component(
        plan, units["东河区人民政府"], H1, "survey", Decimal("70"), actor=None, reason="民意调查"
    )
    # One item scored by the office: monitoring then differs between bodies.
    first = _assignments(plan, units["东河区人民政府"])[0]
    scoring.score_item(first, H1, actor=None, reason="核定", value=scoring.item_points(first.item))
    in_plan = select(Item.id).where(Item.plan_id == plan.id)
    db.session.execute(
        update(Assignment)
        .where(Assignment.unit_id == units[FINISHED], Assignment.item_id.in_(in_plan))
        .values(status="completed", percent=100)
        .execution_options(synchronize_session=False)
    )
    on_pace = select(Assignment.id).where(
        Assignment.unit_id == units[ON_PACE], Assignment.item_id.in_(in_plan)
    )
    db.session.execute(
        update(Assignment)
        .where(Assignment.id.in_(on_pace))
        .values(percent=100)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id.in_(on_pace))
        .values(status="done", completed_on=date(2022, 5, 1))
        .execution_options(synchronize_session=False)
    )
    # Bulk statements change milestones behind the ORM's back: refresh what derives from them.
    refresh_next_due(db.session, assignment_ids=db.session.scalars(on_pace).all())
    scan_overdue(TODAY)
    db.session.commit()
    return Seeded(plan, units)


def _assignments(plan: Plan, unit_id: int) -> list[Assignment]:
    return list(
        db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == plan.id, Assignment.unit_id == unit_id)
            .order_by(Item.position)
        )
    )


def past_due(today: date) -> set[int]:
    """Assignments with an open milestone whose (extended) due date is before ``today``,
    read from the milestone rows: the date rule, whatever the nightly scan's flags say."""
    return {
        aid
        for aid, due_on, extended_to in db.session.execute(
            select(Milestone.assignment_id, Milestone.due_on, Milestone.extended_to).where(
                Milestone.status == "open"
            )
        )
        if (extended_to or due_on) < today
    }


def expected_counts(plan: Plan, today: date = TODAY) -> dict[int, Counter[str]]:
    """Per unit, row by row: completed, overdue, behind the pace, on schedule."""
    ends: dict[int, date] = {}
    for aid, due_on, extended_to in db.session.execute(
        select(Milestone.assignment_id, Milestone.due_on, Milestone.extended_to)
    ):
        due = extended_to or due_on
        ends[aid] = max(ends.get(aid, due), due)
    late = past_due(today)
    year_start = date(plan.year, 1, 1)
    result: dict[int, Counter[str]] = {}
    for a in db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id, ~Assignment.is_not_applicable)
    ):
        counts = result.setdefault(a.unit_id, Counter())
        end = ends.get(a.id)
        if a.status == "completed":
            counts["completed"] += 1
        elif a.id in late:
            counts["overdue"] += 1
        elif end and a.percent + 10 < 100 * min(
            Fraction(1), Fraction((today - year_start).days, (end - year_start).days)
        ):
            counts["behind"] += 1  # trails the share of the time to its last due date
        else:
            counts["on_schedule"] += 1
    return result


# --- the data ----------------------------------------------------------------------------------


def test_ranking_and_totals_are_the_scoring_results(baotou: Seeded) -> None:
    b = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    ranked, snapshot = scoring.results(baotou.plan, H1)
    assert snapshot is None and b.revision is None and not b.is_final
    assert [r.unit_id for r in b.rows] == [r.unit_id for r in ranked]
    assert [r.rank for r in b.rows] == [r.rank for r in ranked]
    assert [r.total for r in b.rows] == [display(r.total, 2) for r in ranked]
    assert [r.total for r in b.rows] == sorted((r.total for r in b.rows), reverse=True)
    assert b.rows[0].unit == ON_PACE  # every milestone accepted: full monitoring points
    assert b.components[:4] == [
        ("monitoring", "日常监测"),
        ("field", "实地调研"),
        ("survey", "民意调查"),
        ("third_party", "第三方评估"),
    ]
    # Then one column per area (一 … 七), each the area's share of the total.
    areas = b.components[4:]
    assert len(areas) == 7 and areas[0][1].startswith("一、") and areas[6][1].startswith("七、")
    dongh = next(r for r in b.rows if r.unit == "东河区人民政府")
    assert dongh.components["survey"] == Decimal("70.00")
    assert dongh.components["third_party"] is None
    assert dongh.components["monitoring"] is not None and dongh.components["monitoring"] > 0
    assert b.period_label == "2022年上半年"
    assert b.title == "关于2022年上半年《包头市数字政府建设考评指标》考评情况的通报"
    assert b.issuer == "包头市数字政府建设工作专班"
    assert b.issued_on == TODAY


def test_progress_counts_per_unit_match_the_database(baotou: Seeded) -> None:
    b = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    expected = expected_counts(baotou.plan)
    assert {r.unit_id for r in b.rows} == set(expected)
    for r in b.rows:
        want = expected[r.unit_id]
        got = (r.completed, r.on_schedule, r.behind, r.overdue)
        assert got == (
            want["completed"],
            want["on_schedule"],
            want["behind"],
            want["overdue"],
        ), r.unit
    finished = next(r for r in b.rows if r.unit == FINISHED)
    on_pace = next(r for r in b.rows if r.unit == ON_PACE)
    assert finished.completed == len(_assignments(baotou.plan, baotou.units[FINISHED]))
    assert (on_pace.overdue, on_pace.behind, on_pace.completed) == (0, 0, 0)
    assert sum(r.overdue for r in b.rows) > 0 and sum(r.behind for r in b.rows) > 0


def test_standings_overdue_items_and_summary(baotou: Seeded) -> None:
    b = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    assert b.ahead == [FINISHED]  # finished items whose last due date is still ahead
    assert b.on == [ON_PACE]
    assert len(b.behind) == len(b.rows) - 2
    assert b.behind == [r.unit for r in b.rows if r.unit not in (FINISHED, ON_PACE)]
    listed = dict(b.overdue_by_unit)
    assert FINISHED not in listed and ON_PACE not in listed
    assert [u for u, _ in b.overdue_by_unit] == [r.unit for r in b.rows if r.overdue]
    for r in b.rows:
        assert len(listed.get(r.unit, [])) == r.overdue
    item = listed["东河区人民政府"][0]
    assert item.number == "1" and item.due_on == date(2022, 5, 31)
    assert item.label.startswith("1. ") and item.label.endswith("（2022年5月31日到期）")
    overdue = sum(r.overdue for r in b.rows)
    top = b.rows[0]
    assert f"共对{len(b.rows)}个单位进行考评" in b.summary
    assert f"{top.unit}得分最高（{top.total}分）" in b.summary
    assert f"超期未完成事项{overdue}项，涉及{len(listed)}个单位" in b.summary
    assert "截至2022年7月15日" in b.summary and "仅供参考" in b.summary


def _forget_the_scan(plan: Plan, extended_unit: int) -> None:
    """The overdue flags as they stand when the nightly scan has not run since: clear for a
    plan just published with past dates, and still set for one body whose past-due milestones
    the office has since extended to the year's end."""
    in_plan = select(Assignment.id).join(Item, Item.id == Assignment.item_id)
    in_plan = in_plan.where(Item.plan_id == plan.id)
    extended = in_plan.where(Assignment.unit_id == extended_unit)
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id.in_(extended), Milestone.status == "open")
        .values(extended_to=date(2022, 12, 31))
        .execution_options(synchronize_session=False)
    )
    refresh_next_due(db.session, assignment_ids=db.session.scalars(extended).all())
    others = in_plan.where(Assignment.unit_id != extended_unit)
    for model, key in ((Assignment, Assignment.id), (Milestone, Milestone.assignment_id)):
        db.session.execute(
            update(model)
            .where(key.in_(others))
            .values(is_overdue=False)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    db.session.expire_all()


def test_overdue_is_read_from_the_dates_not_the_nightly_flags(baotou: Seeded) -> None:
    """The bulletin, its attachment and the dashboard count the same overdue items on the same
    day, straight from the dates: past-due items count before any scan flags them, and items
    extended since the last scan no longer count though their flags are still set."""
    from openpyxl import load_workbook

    from taskhub.dashboard.services import risk_by_unit

    plan, extended = baotou.plan, baotou.units["东河区人民政府"]
    _forget_the_scan(plan, extended)
    flagged = (
        select(func.count())
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id, Assignment.is_overdue, Assignment.unit_id != extended)
    )
    assert db.session.scalar(flagged) == 0
    b = bulletins.build_bulletin(plan, H1, today=TODAY)
    expected = expected_counts(plan)
    assert {r.unit_id: r.overdue for r in b.rows} == {
        uid: c["overdue"] for uid, c in expected.items()
    }
    listed = {unit: len(items) for unit, items in b.overdue_by_unit}
    assert listed == {r.unit: r.overdue for r in b.rows if r.overdue}
    assert "东河区人民政府" not in listed  # flagged, but extended: not overdue by its dates
    assert b.overdue_total > 100
    assert f"超期未完成事项{b.overdue_total}项" in b.summary
    # The dashboard's figure for the same day, unit by unit.
    dashboard = risk_by_unit(plan, TODAY, limit=10_000)
    assert dashboard.overdue == b.overdue_total
    names = {r.unit_id: r.unit for r in b.rows}
    assert {names[r.unit_id]: r.overdue for r in dashboard.rows if r.overdue} == listed
    # The attachment lists every one of them, days counted from the first past-due step.
    sheet = load_workbook(io.BytesIO(bulletins.overdue_xlsx(b)))[bulletins.OVERDUE_LIST_SHEET]
    body = list(sheet.iter_rows(values_only=True))[1:]
    assert Counter(row[0] for row in body) == listed
    assert all(row[6] == (TODAY - row[5].date()).days > 0 for row in body)


def test_the_downloaded_attachment_counts_as_the_dashboard_does_today(
    web: FlaskClient, baotou: Seeded
) -> None:
    """The page's downloads are as of the day they are made (the bulletin's 统计日期)."""
    from openpyxl import load_workbook

    from taskhub.core.timeutil import office_today
    from taskhub.dashboard.services import risk_by_unit

    _forget_the_scan(baotou.plan, baotou.units["东河区人民政府"])
    sign_in(web, "office")
    response = web.get(f"/plans/{PLAN}/bulletin-overdue.xlsx?period={H1}")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    body = list(workbook[bulletins.OVERDUE_LIST_SHEET].iter_rows(values_only=True))[1:]
    today = office_today()
    assert len(body) == risk_by_unit(baotou.plan, today, limit=10_000).overdue > 100
    notes = dict(row for row in workbook["说明"].iter_rows(values_only=True))
    assert notes["统计日期"] == bulletins.date_cn(today)


def test_closed_period_answers_from_its_snapshot(baotou: Seeded) -> None:
    snapshot = scoring.close_period(baotou.plan, H1, actor=None)
    before = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    assert before.revision == snapshot.revision == 1 and before.is_final
    assert "第1版" in before.meta_line and "仅供参考" not in before.summary
    # A score entered after closing does not change the published ranking.
    last = before.rows[-1]
    scoring.score_component(
        baotou.plan, last.unit_id, H1, "field", Decimal("100"), actor=None, reason="补录"
    )
    after = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    assert [(r.unit_id, r.total, r.rank) for r in after.rows] == [
        (r.unit_id, r.total, r.rank) for r in before.rows
    ]
    # Component order comes from the scheme even when read back from the snapshot.
    assert [c for c, _ in after.components][:4] == ["monitoring", "field", "survey", "third_party"]
    assert [c for c, _ in after.components][4:] == [c for c, _ in before.components][4:]


def test_movers_against_the_previous_period(baotou: Seeded) -> None:
    scoring.close_period(baotou.plan, H1, actor=None)
    # The second half reverses the field check among the four bodies.
    for name, value in zip(FIELD, reversed(list(FIELD.values())), strict=True):
        scoring.score_component(
            baotou.plan, baotou.units[name], "2022-H2", "field", value, actor=None, reason="调研"
        )
    b = bulletins.build_bulletin(baotou.plan, "2022-H2", today=date(2022, 12, 31))
    assert b.period_label == "2022年下半年"
    before = {r.unit_id: r.rank for r in scoring.results(baotou.plan, H1)[0]}
    now = {r.unit_id: r.rank for r in scoring.results(baotou.plan, "2022-H2")[0]}
    changes = {uid: before[uid] - now[uid] for uid in now}
    assert [r.change for r in b.rows] == [changes[r.unit_id] for r in b.rows]
    ups = sorted((c for c in changes.values() if c > 0), reverse=True)[:3]
    downs = sorted(c for c in changes.values() if c < 0)[:3]
    assert ups and downs
    assert [r.change for r in b.movers_up] == ups
    assert [r.change for r in b.movers_down] == downs
    first_up, first_down = b.movers_up[0], b.movers_down[0]
    assert f"{first_up.unit}（上升{first_up.change}位）" in b.movers_text
    assert f"{first_down.unit}（下降{-(first_down.change or 0)}位）" in b.movers_text


def test_a_period_the_plan_does_not_score_is_refused(baotou: Seeded) -> None:
    with pytest.raises(ValidationFailed, match="month"):
        bulletins.build_bulletin(baotou.plan, "2022-05", today=TODAY)
    with pytest.raises(ValidationFailed, match="2022-H1"):
        bulletins.build_bulletin(baotou.plan, "last half", today=TODAY)


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("2022", "2022年度"),
        ("2022-H1", "2022年上半年"),
        ("2022-H2", "2022年下半年"),
        ("2021-11", "2021年11月"),
        ("2021-01", "2021年1月"),
    ],
)
def test_period_labels(code: str, label: str) -> None:
    assert bulletins.period_label(code) == label


@pytest.mark.parametrize(
    ("change", "label"),
    [(None, "—"), (0, "持平"), (2, "↑ 上升2位"), (-1, "↓ 下降1位")],
)
def test_change_labels_carry_words_not_only_arrows(change: int | None, label: str) -> None:
    assert bulletins.change_label(change) == label


@pytest.mark.parametrize(
    ("n", "text"), [(1, "一"), (10, "十"), (12, "十二"), (20, "二十"), (36, "三十六")]
)
def test_chinese_ordinals(n: int, text: str) -> None:
    assert bulletins.cn_ordinal(n) == text


@pytest.mark.parametrize(
    ("percent", "end", "behind"),
    [
        (0, date(2022, 12, 31), True),  # 54% of the way to the end, nothing reported
        (45, date(2022, 12, 31), False),  # within the 10-point tolerance
        (43, date(2022, 12, 31), True),
        (0, date(2022, 7, 1), True),  # the end has passed: the pace is 100%
        (95, date(2022, 7, 1), False),
        (0, None, False),  # no milestones: no pace to trail
    ],
)
def test_behind_the_time_elapsed_pace(percent: int, end: date | None, behind: bool) -> None:
    assert bulletins.behind_pace(percent, end, TODAY, date(2022, 1, 1)) is behind


@pytest.mark.parametrize(
    ("definition", "issuer"),
    [
        ({}, "包头市数字政府建设工作专班"),
        ({"office": "市营商环境局"}, "包头市营商环境局"),
        ({"issuer": "包头市人民政府办公室"}, "包头市人民政府办公室"),
        ({"assessor": "优化营商环境领导小组办公室"}, "优化营商环境领导小组办公室"),
    ],
)
def test_issuer(definition: dict[str, str], issuer: str) -> None:
    assert bulletins.issuer_of(definition, "包头市") == issuer


def test_other_plans_name_their_components_and_offices(session: Any) -> None:
    cases = {
        "hegang-2022": ("2022-06", "鹤岗市营商环境局", [("completion", "任务完成")]),
        "shanwei-2021": (
            "2021-11",
            "汕尾市“数字政府”改革建设工作领导小组办公室",
            [
                ("monitoring", "数字政府改革建设常态化监测评分"),
                ("key_apps", "数字政府重大应用平台指标"),
            ],
        ),
    }
    for code, (period, issuer, components) in cases.items():
        plan = db.session.scalar(select(Plan).where(Plan.code == code))
        assert plan is not None
        b = bulletins.build_bulletin(plan, period, today=TODAY)
        assert (b.issuer, b.components) == (issuer, components)
        assert b.rows and all(r.rank == 1 for r in b.rows)  # nothing scored yet: all tie


def test_a_year_of_half_years_lists_the_halves(baotou: Seeded) -> None:
    b = bulletins.build_bulletin(baotou.plan, "2022", today=TODAY)
    assert b.components == [("2022-H1", "2022年上半年"), ("2022-H2", "2022年下半年")]
    assert b.period_label == "2022年度"


# --- the Excel workbook ------------------------------------------------------------------------


def test_xlsx_has_the_ranking_with_headers_frozen_pane_formats_and_print_setup(
    baotou: Seeded,
) -> None:
    from openpyxl import load_workbook

    b = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    wb = load_workbook(io.BytesIO(bulletins.bulletin_xlsx(b)))
    assert wb.sheetnames == ["考评排名", "超期事项"]
    ws = wb["考评排名"]
    assert ws["A1"].value == b.title
    assert ws["A2"].value == b.meta_line
    headers = [c.value for c in ws[3]]
    assert headers[:8] == [
        "名次", "较上期", "单位", "总分", "日常监测", "实地调研", "民意调查", "第三方评估",
    ]  # fmt: skip
    assert [h[:2] for h in headers[8:15]] == [
        "一、",
        "二、",
        "三、",
        "四、",
        "五、",
        "六、",
        "七、",
    ]
    assert headers[15:] == ["已完成", "达进度", "欠进度", "超期"]
    assert ws.freeze_panes == "D4"
    assert ws.max_row == 3 + len(b.rows)
    for row, r in enumerate(b.rows, start=4):
        values = [c.value for c in ws[row]]
        assert values[0] == r.rank and values[1] == r.change_label and values[2] == r.unit
        assert Decimal(str(values[3])) == r.total
        if r.unit in FIELD:
            assert Decimal(str(values[5])) == r.components["field"] == display(FIELD[r.unit], 2)
        assert values[15:] == [r.completed, r.on_schedule, r.behind, r.overdue]
        assert all(ws.cell(row, col).number_format == "0.00" for col in range(4, 16))
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9  # A4 in the OOXML paper size codes
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$3:$3"
    assert ws.column_dimensions["C"].width == 30

    overdue = wb["超期事项"]
    assert [c.value for c in overdue[1]] == ["单位", "序号", "事项", "到期日期"]
    assert overdue.freeze_panes == "A2"
    assert overdue.max_row == 1 + sum(r.overdue for r in b.rows)
    first_unit, items = b.overdue_by_unit[0]
    assert [c.value for c in overdue[2]][:3] == [first_unit, items[0].number, items[0].title]
    assert overdue["D2"].value.date() == items[0].due_on


# --- the Word document -------------------------------------------------------------------------


def test_docx_is_a4_with_official_margins_fonts_table_and_page_numbers(baotou: Seeded) -> None:
    docx = pytest.importorskip("docx")
    from docx.oxml.ns import qn
    from docx.shared import Pt

    b = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    data = bulletins.bulletin_docx(b)
    assert data is not None
    document = docx.Document(io.BytesIO(data))
    section = document.sections[0]
    mm = {
        "width": section.page_width.mm,
        "height": section.page_height.mm,
        "top": section.top_margin.mm,
        "bottom": section.bottom_margin.mm,
        "left": section.left_margin.mm,
        "right": section.right_margin.mm,
    }
    want = {"width": 210, "height": 297, "top": 37, "bottom": 35, "left": 28, "right": 26}
    assert all(abs(mm[k] - v) < 0.1 for k, v in want.items()), mm

    normal = document.styles["Normal"]
    assert normal.font.size == Pt(16)
    assert normal.element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    title = next(p for p in document.paragraphs if p.text.replace("\n", "") == b.title)
    run = title.runs[0]
    assert run.font.size == Pt(22)
    assert run._element.rPr.rFonts.get(qn("w:eastAsia")) == "方正小标宋简体"
    text = "\n".join(p.text for p in document.paragraphs)
    assert b.summary in text
    for heading in ("一、总体情况", "二、考评排名", "三、进度情况", "四、超期事项"):
        assert heading in text
    assert f"超进度单位1个：{FINISHED}" in text

    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells][:4] == ["名次", "较上期", "单位", "总分"]
    assert len(table.rows) == 1 + len(b.rows)
    assert [c.text for c in table.rows[1].cells][2:4] == [b.rows[0].unit, str(b.rows[0].total)]

    footer = section.footer._element.xml
    assert "PAGE" in footer and "— " in footer
    assert "PAGE" in section.even_page_footer._element.xml


# --- the page and the downloads ----------------------------------------------------------------

URLS = (
    "/plans/baotou-2022/bulletin?period=2022-H1",
    "/plans/baotou-2022/bulletin.xlsx?period=2022-H1",
    "/plans/baotou-2022/bulletin.docx?period=2022-H1",
)


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("office", 200), ("viewer", 200), ("assessor", 200), ("unit", 403)],
)
def test_access(web: FlaskClient, baotou: Seeded, url: str, role: str, status: int) -> None:
    sign_in(web, role, "昆都仑区人民政府" if role in ("unit", "assessor") else None)
    assert web.get(url).status_code == status


@pytest.mark.parametrize("url", URLS)
def test_anonymous_users_are_sent_to_sign_in(web: FlaskClient, session: Any, url: str) -> None:
    response = web.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_page_shows_the_bulletin_in_ranking_order(web: FlaskClient, baotou: Seeded) -> None:
    sign_in(web, "office")
    response = web.get(URLS[0])
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    b = bulletins.build_bulletin(baotou.plan, H1, today=TODAY)
    order = [int(u) for u in re.findall(r'<tr data-unit-id="(\d+)"', page)]
    assert order == [r.unit_id for r in b.rows]
    # The page is as of the office's today, so the standings are not those of 15 July.
    for text in (
        b.title,
        b.issuer,
        "名次",
        "较上期",
        "超进度单位（",
        "欠进度单位（",
        "四、超期事项",
    ):
        assert text in page
    assert "本期未关闭" in page and "@page" in page and "size: A4" in page
    assert "↑" not in page or "上升" in page
    assert f'href="/plans/baotou-2022/bulletin.xlsx?period={H1}"' in page
    assert f'href="/plans/baotou-2022/bulletin.docx?period={H1}"' in page


def test_page_of_a_closed_period_shows_its_revision(web: FlaskClient, baotou: Seeded) -> None:
    scoring.close_period(baotou.plan, H1, actor=None)
    db.session.commit()
    sign_in(web, "viewer")
    page = web.get(URLS[0]).get_data(as_text=True)
    assert "（第1版）" in page and "本期未关闭" not in page
    assert page.count("<tr data-unit-id=") == len(scoring.results(baotou.plan, H1)[0])


def test_downloads_carry_chinese_file_names(web: FlaskClient, baotou: Seeded) -> None:
    sign_in(web, "office")
    for url, kind in ((URLS[1], "spreadsheetml"), (URLS[2], "wordprocessingml")):
        if kind == "wordprocessingml":
            pytest.importorskip("docx")
        response = web.get(url)
        assert response.status_code == 200
        assert kind in response.headers["Content-Type"]
        name = quote(f"包头市数字政府建设考评指标_2022-H1_通报.{url.split('.')[-1][:4]}")
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert f"filename*=UTF-8''{name}" in disposition
        assert response.data[:2] == b"PK"  # a zip container, as both formats are


@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        ("/plans/no-such-plan/bulletin?period=2022-H1", 404, None),
        ("/plans/no-such-plan/bulletin.xlsx?period=2022-H1", 404, None),
        ("/plans/baotou-2022/bulletin?period=2022-13", 400, "names no period this page knows"),
        ("/plans/baotou-2022/bulletin?period=H1-2022", 400, "names no period this page knows"),
        ("/plans/baotou-2022/bulletin.xlsx?period=2022-H3", 400, "choose one from the list"),
        (
            "/plans/baotou-2022/bulletin.docx?period=2022-05",
            400,
            "not scored for 5/2022. Its periods are like 2022, first half、2022 (whole year).",
        ),
        ("/plans/baotou-2022/bulletin.xlsx", 400, "Choose a period"),
    ],
)
def test_unknown_plans_and_bad_periods(
    web: FlaskClient, session: Any, url: str, status: int, text: str | None
) -> None:
    sign_in(web, "office")
    web.get("/lang/en")  # the English messages, whatever the Chinese catalogue holds
    response = web.get(url)
    assert response.status_code == status
    if text:
        page = response.get_data(as_text=True)
        assert text in html_lib.unescape(page)
        assert 'role="alert"' in page and 'aria-invalid="true"' in page


def test_without_a_period_the_page_offers_the_periods(web: FlaskClient, baotou: Seeded) -> None:
    sign_in(web, "office")
    response = web.get("/plans/baotou-2022/bulletin")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="period"' in page and '<option value="2022-H1"' in page
    assert "<article" not in page
