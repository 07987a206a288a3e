"""The dashboard: figures on the seeded plans, due dates, the cached ranking, access, assets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.core.storage import LocalStorage
from taskhub.dashboard import services
from taskhub.plans.models import Item, Plan
from taskhub.scoring import services as scoring
from taskhub.tracking import services as tracking
from taskhub.tracking.jobs import scan_overdue
from taskhub.tracking.lights import light_for
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    ExtensionRequest,
    ExtensionStatus,
    MilestoneStatus,
)
from tests.conftest import make_user, unit_named

BAOTOU = "baotou-2022"
KUNDULUN = "昆都仑区人民政府"
DONGHE = "东河区人民政府"
JIUYUAN = "九原区人民政府"
AREA_ONE = "一、政务服务“一网通办”"


# -- helpers ------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """The page's tables by id: rows of cell texts (th and td), header rows included."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] = []
        self._row_links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table], self.links[self._table] = [], []
        elif tag == "tr":
            self._row, self._row_links = [], []
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "a" and self._table and self._cell is not None:
            self._row_links.append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table:
            self.tables[self._table].append(self._row)
            self.links[self._table].append(self._row_links)
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def body(table: list[list[str]]) -> list[list[str]]:
    """The rows after the header row."""
    return table[1:]


def chart_json(page: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S
    )
    assert found, "the chart data block is missing"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def baotou() -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == BAOTOU)).one()


def assignments_of(unit: str, limit: int | None = None) -> list[Assignment]:
    query = (
        select(Assignment)
        .join(Item)
        .where(Item.plan_id == baotou().id, Assignment.unit_id == unit_named(unit, "baotou").id)
        .order_by(Item.position)
    )
    return list(db.session.scalars(query.limit(limit) if limit else query))


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    # Each test's database is rolled back; cached figures from another test must not leak.
    services.clear_cache()
    yield
    services.clear_cache()


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> Any:
    """set_today(date) fixes the dashboard's "today" (the office's day)."""

    def set_today(day: date) -> date:
        monkeypatch.setattr("taskhub.dashboard.views.office_today", lambda: day)
        return day

    return set_today


def get_page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


def count_statements(client: FlaskClient, url: str) -> tuple[int, str]:
    counter = StatementCounter()
    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        page = get_page(client, url)
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return counter.count, page


# -- access ---------------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client: FlaskClient) -> None:
    for url in ("/dashboard", f"/plans/{BAOTOU}/dashboard"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["admin", "office", "viewer", "assessor"])
def test_office_leaders_and_assessors_see_every_unit(
    client: FlaskClient, login_as: Any, role: str
) -> None:
    login_as(role)
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    units = body(tables(page).tables["table-units"])
    assert len(units) == services.TOP_UNITS  # 36 units have work due: the first 15 are shown
    shown = re.search(r"(Showing|显示前) 15 \D{0,12}36", page)
    assert shown, "the page says how many units it leaves to the board"
    assert client.get("/plans/no-such-plan/dashboard").status_code == 404
    assert client.get(f"/plans/{BAOTOU}/dashboard?period=1999-X").status_code == 400


def test_unit_staff_see_their_own_unit_only(client: FlaskClient, login_as: Any, today: Any) -> None:
    today(date(2022, 6, 27))
    login_as("unit", unit_named(KUNDULUN, "baotou"))
    page = get_page(client, "/dashboard")  # their unit's only plan is chosen
    found = tables(page)
    assert [r[0] for r in body(found.tables["table-units"])] == [KUNDULUN]
    assert DONGHE not in " ".join(" ".join(r) for r in found.tables["table-units"])
    # Every milestone due soon is one of theirs, linked to their own assignment.
    mine = {a.id for a in assignments_of(KUNDULUN)}
    due_links = [links for links in found.links["table-due"][1:] if links]
    assert due_links
    for links in due_links:
        assert int(links[-1].rsplit("/", 1)[1]) in mine
    # Nothing is scored in 2022-H1 yet: no ranking of zeros. Areas count only their 90 tasks.
    assert "本期尚无得分" in page and "table-ranking" not in found.tables
    assert sum(int(r[-1]) for r in body(found.tables["table-areas"])) == len(mine) == 90
    # A plan their unit has no work in is refused; an unknown one is not found.
    assert client.get("/plans/hegang-2022/dashboard").status_code == 403
    assert client.get("/dashboard?plan=hegang-2022").status_code == 403
    assert client.get("/plans/nope/dashboard").status_code == 404


def test_dashboard_opens_on_the_newest_active_plan_and_switches_plans(
    client: FlaskClient, login_as: Any
) -> None:
    login_as("office")
    # The newest active plan (by year, then the one added last), not the oldest.
    first = db.session.scalars(
        select(Plan).where(Plan.status == "published").order_by(Plan.year.desc(), Plan.id.desc())
    ).first()
    assert first is not None and first.code == "heihe-2023"
    page = get_page(client, "/dashboard")
    assert f'<option value="{first.code}" selected>' in page
    page = get_page(client, f"/dashboard?plan={BAOTOU}")
    assert f'<option value="{BAOTOU}" selected>' in page and AREA_ONE in page
    assert client.get("/dashboard?plan=nope").status_code == 404


# -- the figures ---------------------------------------------------------------------------------


def area_row(page: str, title: str) -> dict[str, int]:
    """An area's counts from the page's table: bucket → count."""
    row = next(r for r in body(tables(page).tables["table-areas"]) if r[0] == title)
    numbers = [int(cell.split()[0]) for cell in row[1:]]
    return dict(zip([*services.BUCKETS, "total"], numbers, strict=True))


def test_completion_by_area_follows_the_tasks(
    client: FlaskClient, login_as: Any, session: Any, today: Any
) -> None:
    day = today(date(2022, 1, 10))  # before Baotou's first deadline: nothing overdue yet
    login_as("office")
    url = f"/plans/{BAOTOU}/dashboard"
    before = area_row(get_page(client, url), AREA_ONE)
    assert before == {"done": 0, "in_progress": 0, "not_started": 1368, "overdue": 0, "total": 1368}

    top, titles = services.areas_of(baotou())
    area_one = next(sid for sid, title in titles.items() if title == AREA_ONE)
    first, second, third = [
        a for a in assignments_of(KUNDULUN) if top.get(a.item.section_id or 0) == area_one
    ][:3]
    first.status, first.percent = AssignmentStatus.COMPLETED.value, 100
    second.status, second.percent = AssignmentStatus.IN_PROGRESS.value, 40
    # A milestone whose date has passed is flagged by the overdue scan.
    third.milestones[0].due_on = day - timedelta(days=3)
    session.commit()
    scan_overdue(day)
    session.commit()

    after = area_row(get_page(client, url), AREA_ONE)
    assert after == {"done": 1, "in_progress": 1, "not_started": 1365, "overdue": 1, "total": 1368}
    page = get_page(client, url)
    units = body(tables(page).tables["table-units"])
    assert units[0][:2] == [KUNDULUN, "1"]  # the only unit with something overdue comes first
    assert chart_json(page)["areas"]["series"][0]["data"][0] == 0  # 1 of 1368 rounds to 0%


def test_overdue_units_are_sorted_and_link_to_the_board(
    client: FlaskClient, login_as: Any, session: Any, today: Any
) -> None:
    day = today(date(2022, 1, 10))
    for unit, n in ((DONGHE, 1), (KUNDULUN, 2)):
        for a in assignments_of(unit, limit=n):
            a.milestones[0].due_on = day - timedelta(days=1)
    session.commit()
    scan_overdue(day)
    session.commit()
    login_as("office")
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    found = tables(page)
    rows = body(found.tables["table-units"])
    assert [r[:2] for r in rows[:2]] == [[KUNDULUN, "2"], [DONGHE, "1"]]
    assert all(r[1] == "0" for r in rows[2:])
    kundulun = unit_named(KUNDULUN, "baotou")
    assert f"/board?plan={BAOTOU}&amp;unit={kundulun.id}&amp;view=overdue" in page
    assert f"/board?plan={BAOTOU}&amp;view=overdue" in page  # the full list
    units_chart = chart_json(page)["units"]
    assert units_chart["categories"][:2] == [KUNDULUN, DONGHE]
    assert units_chart["series"][0]["data"][:2] == [2, 1]


def test_at_risk_counts_are_the_yellow_traffic_lights(
    client: FlaskClient, login_as: Any, session: Any, today: Any
) -> None:
    day = today(date(2022, 6, 27))  # 6月底 deadlines fall within three working days
    scan_overdue(day)
    # Some progress so that not everything trails the time-elapsed pace.
    for i, a in enumerate(assignments_of(KUNDULUN)):
        a.percent = (i * 37) % 101
    session.commit()
    plan = baotou()
    assignments = list(
        session.scalars(select(Assignment).join(Item).where(Item.plan_id == plan.id))
    )
    calendar = WorkingCalendar.load(day - timedelta(days=7), day + timedelta(days=30))
    yellow: dict[int, int] = {}
    red: dict[int, int] = {}
    for a in assignments:
        if a.is_not_applicable or a.status == AssignmentStatus.COMPLETED.value:
            continue
        light = light_for(a, day, calendar, year_start=date(plan.year, 1, 1))
        target = red if a.is_overdue else yellow if light.color == "yellow" else None
        if target is not None:
            target[a.unit_id] = target.get(a.unit_id, 0) + 1
    assert sum(yellow.values()) and sum(red.values())  # the test compares something

    login_as("office")
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    summary = services.risk_by_unit(plan, day, limit=1000)
    assert summary.at_risk == sum(yellow.values()) and summary.overdue == sum(red.values())
    assert {r.unit_id: r.at_risk for r in summary.rows if r.at_risk} == yellow
    assert f'<span class="dash-kpi-n">{summary.at_risk}</span>' in page
    assert f'<span class="dash-kpi-n">{summary.overdue}</span>' in page


def test_due_in_two_weeks_includes_day_fourteen_and_not_fifteen(
    client: FlaskClient, login_as: Any, session: Any, today: Any
) -> None:
    day = today(date(2022, 6, 6))  # Baotou's own deadlines are month ends: none in the window
    office = make_user("office", username="office-extensions")
    a, b, c, d = assignments_of(KUNDULUN, limit=4)
    a.milestones[0].due_on = day + timedelta(days=14)
    b.milestones[0].due_on = day + timedelta(days=15)
    c.milestones[0].due_on = day  # due today counts
    # Extended from a passed date into the window by an approved request: due on the new date.
    d.milestones[0].due_on = day - timedelta(days=20)
    d.milestones[0].extended_to = day + timedelta(days=3)
    session.add(
        ExtensionRequest(
            milestone_id=d.milestones[0].id,
            requested_by_id=office.id,
            reason="数据对接延后",
            requested_due_on=day + timedelta(days=3),
            status=ExtensionStatus.APPROVED.value,
        )
    )
    session.commit()
    login_as("office")
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    found = tables(page)
    per_day = {r[0]: int(r[1]) for r in body(found.tables["table-due-days"])}
    assert len(per_day) == 15  # today … today + 14
    assert per_day["2022年6月20日"] == 1 and "2022年6月21日" not in per_day
    assert per_day["2022年6月6日"] == 1 and per_day["2022年6月9日"] == 1
    assert sum(per_day.values()) == 3 + 0  # b (day 15) is outside the window
    rows = body(found.tables["table-due"])
    assert [r[0] for r in rows] == ["2022年6月6日", "2022年6月9日", "2022年6月20日"]
    assert all(r[3] == KUNDULUN for r in rows)  # one unit each: named and linked
    assert f'/assignments/{a.id}"' in page and f'/assignments/{b.id}"' not in page
    assert chart_json(page)["due"]["series"][0]["data"] == [per_day[k] for k in per_day]
    # Done milestones are not due any more (the app audits every milestone change, which is
    # what moves the page's cached figures).
    a.milestones[0].status = MilestoneStatus.DONE.value
    audit.record("milestone.moved", "milestone", a.milestones[0].id, actor_id=office.id)
    session.commit()
    assert f'/assignments/{a.id}"' not in get_page(client, f"/plans/{BAOTOU}/dashboard")


def test_due_soon_groups_many_units_and_pages(session: Any) -> None:
    plan = baotou()
    day = date(2022, 6, 20)  # 6月底: every unit's June deadlines
    first = services.due_soon(plan, day, page=1, page_size=5)
    assert first.total > first.total_groups > 5 and len(first.groups) == 5
    assert all(g.due_on == date(2022, 6, 30) for g in first.groups)
    assert any(g.count > 1 for g in first.groups)  # one row for many units
    second = services.due_soon(plan, day, page=2, page_size=5)
    assert {(g.item_id, g.kind) for g in first.groups}.isdisjoint(
        {(g.item_id, g.kind) for g in second.groups}
    )


# -- ranking ---------------------------------------------------------------------------------------


def ranking_rows(page: str) -> dict[str, tuple[str, str, str]]:
    """unit → (rank, total, change) from the page's ranking table."""
    return {r[1]: (r[0], r[2], r[3]) for r in body(tables(page).tables["table-ranking"])}


def test_ranking_shows_rank_and_change_and_refreshes_after_a_score(
    client: FlaskClient, login_as: Any, session: Any, today: Any
) -> None:
    today(date(2022, 8, 15))  # the current period is 2022-H2; the one before, 2022-H1
    plan = baotou()
    office = login_as("office")
    jiuyuan, donghe = unit_named(JIUYUAN, "baotou"), unit_named(DONGHE, "baotou")
    scoring.score_component(
        plan, jiuyuan.id, "2022-H1", "field", Decimal(80), actor=office, reason="实地调研"
    )
    scoring.close_period(plan, "2022-H1", actor=office)
    session.commit()

    url = f"/plans/{BAOTOU}/dashboard"
    page = get_page(client, url)
    assert "排名 · 2022年下半年" in page and "2022-H2<" not in page
    # Nothing scored in H2 yet: no one is "first with 0.00"; the page says so.
    assert "本期尚无得分" in page and "table-ranking" not in tables(page).tables
    assert f"/plans/{BAOTOU}/scores?period=2022-H2" in page

    # A served-from-cache request runs a few statements and shows the same.
    warm, again = count_statements(client, url)
    assert "本期尚无得分" in again

    scoring.score_component(
        plan, donghe.id, "2022-H2", "field", Decimal(90), actor=office, reason="实地调研"
    )
    session.commit()
    cold, page = count_statements(client, url)
    rows = ranking_rows(page)
    assert rows[DONGHE] == ("1", "18.00", "↑ 上升 1 位")
    assert rows[JIUYUAN] == ("2", "0.00", "↓ 下降 1 位")
    assert cold > warm  # the score's audit event invalidated the cached ranking


def test_ranking_refreshes_after_a_report_is_accepted(
    client: FlaskClient, login_as: Any, session: Any, today: Any, tmp_path: Path
) -> None:
    day = today(date(2022, 8, 15))
    login_as("viewer")
    url = f"/plans/{BAOTOU}/dashboard"
    assert "本期尚无得分" in get_page(client, url)
    keys = services.cached_keys()

    unit = unit_named(DONGHE, "baotou")
    staff = make_user("unit", unit, username="donghe-staff")
    office = session.scalars(select(User).where(User.role == "office")).first() or make_user(
        "office"
    )
    assignment = next(
        a for a in assignments_of(DONGHE) if any(m.due_on > day for m in a.milestones)
    )
    report = tracking.submit_report(
        assignment,
        actor=staff,
        progress="全部完成。",
        percent=100,
        storage=LocalStorage(tmp_path),
        max_bytes=1024,
    )
    tracking.review_report(report, actor=office, decision="accept", today=day)
    session.commit()

    rows = ranking_rows(get_page(client, url))
    assert rows[DONGHE][0] == "1" and rows[DONGHE][1] != "0.00"
    assert all(rank == "2" for name, (rank, _, _) in rows.items() if name != DONGHE)
    assert services.cached_keys() != keys  # recomputed under the new audit fingerprint


def test_closed_periods_show_the_frozen_ranking(
    client: FlaskClient, login_as: Any, session: Any, today: Any
) -> None:
    today(date(2022, 8, 15))
    office = login_as("office")
    plan = baotou()
    jiuyuan = unit_named(JIUYUAN, "baotou")
    scoring.score_component(
        plan, jiuyuan.id, "2022-H1", "field", Decimal(50), actor=office, reason="实地调研"
    )
    scoring.close_period(plan, "2022-H1", actor=office)
    session.commit()
    url = f"/plans/{BAOTOU}/dashboard?period=2022-H1"
    page = get_page(client, url)
    assert re.search(r"(revision|第) 1", page) and not re.search(r"Computed at|计算于", page)
    assert 'aria-current="true">2022年上半年' in page
    assert ranking_rows(page)[JIUYUAN][:2] == ("1", "10.00")
    # A score entered after closing does not move the frozen ranking.
    scoring.score_component(
        plan, jiuyuan.id, "2022-H1", "field", Decimal(0), actor=office, reason="更正"
    )
    session.commit()
    assert ranking_rows(get_page(client, url))[JIUYUAN][:2] == ("1", "10.00")


def test_current_period_is_the_finest_one_holding_today() -> None:
    codes = [f"2022-{m:02d}" for m in range(1, 13)] + ["2022-H1", "2022-H2", "2022"]
    assert services.current_period(codes, date(2022, 8, 15)) == "2022-08"
    assert services.current_period(codes[12:], date(2022, 8, 15)) == "2022-H2"
    assert services.current_period(["2022"], date(2022, 8, 15)) == "2022"
    assert services.current_period(codes[12:], date(2026, 1, 1)) == "2022-H2"  # after the year
    assert services.current_period(codes[12:], date(2021, 3, 1)) == "2022-H1"  # before it
    assert services.current_period([], date(2022, 1, 1)) is None


# -- tables, assets, speed ------------------------------------------------------------------------


def test_every_chart_has_its_table_and_data(client: FlaskClient, login_as: Any, today: Any) -> None:
    today(date(2022, 6, 27))
    login_as("office")
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    charts = chart_json(page)
    found = tables(page).tables
    pairs = {
        "areas": "table-areas",
        "units": "table-units",
        "due": "table-due-days",
    }
    # Nothing is scored in 2022-H1 on 27 June: the ranking says so instead of a chart of zeros.
    assert "本期尚无得分" in page and 'data-chart="ranking"' not in page
    for chart, table in pairs.items():
        assert f'data-chart="{chart}"' in page
        assert len(body(found[table])) == len(charts[chart]["categories"]) > 0, chart
    assert charts["areas"]["categories"][0] == AREA_ONE
    # Chinese labels and dates (the default language).
    assert "已超期" in page and "2022年6月27日" in page


def test_echarts_is_vendored_and_the_page_loads_nothing_from_outside(
    client: FlaskClient, login_as: Any
) -> None:
    login_as("office")
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    assert '<script src="/static/vendor/echarts/echarts.min.js"' in page
    assert '<script src="/static/js/dashboard.js"' in page
    assert not re.search(r"https?://", page)
    script = client.get("/static/vendor/echarts/echarts.min.js")
    assert script.status_code == 200 and b"echarts" in script.data[:5000]
    script.close()
    for name in ("LICENSE", "NOTICE"):
        assert (Path(__file__).parents[1] / "static/vendor/echarts" / name).is_file()
    js = client.get("/static/js/dashboard.js")
    assert js.status_code == 200 and b"dashboard-data" in js.data
    js.close()


def test_the_page_runs_a_bounded_number_of_statements(
    client: FlaskClient, login_as: Any, today: Any
) -> None:
    today(date(2022, 6, 27))
    login_as("office")
    warm_counts = set()
    for code in (BAOTOU, "heihe-2023", "hegang-2022", "shengzhou-2020"):
        url = f"/plans/{code}/dashboard"
        cold, _ = count_statements(client, url)  # computes the ranking and the at-risk counts
        warm, _ = count_statements(client, url)
        assert warm < cold <= 60, (code, cold, warm)
        warm_counts.add(warm)
    # Served from the cache, every plan takes the same few grouped queries, whatever its size.
    assert len(warm_counts) == 1 and warm_counts.pop() <= 15


def test_the_page_works_in_english(client: FlaskClient, login_as: Any, today: Any) -> None:
    today(date(2022, 6, 27))
    login_as("office")
    client.get("/lang/en")
    page = get_page(client, f"/plans/{BAOTOU}/dashboard")
    assert "Completion by area" in page and "27 Jun 2022" in page
    assert "Jun 30" in chart_json(page)["due"]["categories"][3]
