"""The ledger (任务台账), its Excel export and the timeline, over HTTP on the seeded plans.

Expected rows are computed independently in Python from the ORM (and the lights with
tracking.lights.light_for), then compared with what the pages and workbooks show.
"""

from __future__ import annotations

import html as html_lib
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import event, select
from sqlalchemy.orm import selectinload

from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.ledger.lights import light_reason
from taskhub.ledger.services import Ledger, LedgerFilters, resolve_filters
from taskhub.plans.models import Item, ItemUnit, Plan, Section
from taskhub.tracking.lights import light_for
from taskhub.tracking.models import Assignment, ProgressReport
from tests.conftest import make_user, unit_named

KUNDULUN = "昆都仑区人民政府"
QINGSHAN = "青山区人民政府"
BAOTOU = "baotou-2022"


# -- helpers --------------------------------------------------------------------------------------


def visible(page: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def row_ids(page: str) -> list[int]:
    """Assignment ids of the ledger's rows, in page order."""
    return [int(i) for i in re.findall(r'<tr data-assignment="(\d+)"', page)]


def row_lights(page: str) -> dict[int, str]:
    return {
        int(a): c for a, c in re.findall(r'<tr data-assignment="(\d+)" data-light="(\w+)"', page)
    }


def total_of(page: str) -> int:
    match = re.search(r'data-total="(\d+)"', page)
    assert match, "the ledger shows no total"
    return int(match.group(1))


def get(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def all_ids(client: FlaskClient, url: str) -> list[int]:
    """Every row over every page of a ledger URL."""
    first = get(client, url)
    total = total_of(first)
    ids = row_ids(first)
    page = 2
    while len(ids) < total:
        more = row_ids(get(client, f"{url}&page={page}"))
        assert more, f"page {page} of {url} is empty before {total} rows"
        ids += more
        page += 1
    return ids


def plan_id(code: str) -> int:
    return db.session.scalars(select(Plan.id).where(Plan.code == code)).one()


def assignments(*where: Any) -> list[Assignment]:
    return list(
        db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .where(*where)
            .options(
                selectinload(Assignment.milestones),
                selectinload(Assignment.item).selectinload(Item.plan),
            )
        )
    )


def next_due_of(a: Assignment) -> date | None:
    return min((m.effective_due_on for m in a.milestones if m.status == "open"), default=None)


def python_lights(rows: list[Assignment], today: date) -> dict[int, str]:
    cal = WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=400))
    return {
        a.id: light_for(a, today, cal, year_start=date(a.item.plan.year, 1, 1)).color for a in rows
    }


def kundulun_rows() -> list[Assignment]:
    unit = unit_named(KUNDULUN, "baotou")
    return sorted(
        assignments(Item.plan_id == plan_id(BAOTOU), Assignment.unit_id == unit.id),
        key=lambda a: a.item.position,
    )


@pytest.fixture
def varied(session: Any) -> dict[str, list[int]]:
    """Kundulun's Baotou assignments in every light; the rest stay red (2022 is long past)."""
    today = office_today()
    rows = kundulun_rows()
    with_steps = [a for a in rows if a.milestones]
    groups = {
        "completed": with_steps[0:3],
        "due_soon": with_steps[3:6],
        "on_track": with_steps[6:9],
        "behind": with_steps[9:12],
        "done_steps": with_steps[12:14],
    }
    for a in groups["completed"]:
        a.status, a.percent = "completed", 100
    for a in groups["due_soon"]:
        for m in a.milestones:
            m.extended_to = today + timedelta(days=1)
        a.status = "in_progress"
    for a in groups["on_track"]:
        for m in a.milestones:
            m.extended_to = today + timedelta(days=90)
        a.percent = 100
    for a in groups["behind"]:
        for m in a.milestones:
            m.extended_to = today + timedelta(days=90)
        a.percent = 0
    for a in groups["done_steps"]:
        for m in a.milestones:
            m.status, m.completed_on = "done", m.due_on
        a.status = "in_progress"
    db.session.commit()
    return {k: [a.id for a in v] for k, v in groups.items()}


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# -- filters ------------------------------------------------------------------------------------


def test_without_filters_the_ledger_lists_every_assignment_in_document_order(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    page = get(client, "/ledger")
    assert total_of(page) == db.session.query(Assignment).count()
    ids = row_ids(page)
    assert len(ids) == 50
    rows = {a.id: a for a in assignments(Assignment.id.in_(ids))}
    keys = [(rows[i].item.plan_id, rows[i].item.position, i) for i in ids]
    assert keys == sorted(keys)


def test_plan_area_unit_lead_and_status_filters_each_narrow_the_rows(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    baotou = plan_id(BAOTOU)
    kundulun = unit_named(KUNDULUN, "baotou").id
    area = db.session.scalars(
        select(Section)
        .where(Section.plan_id == baotou, Section.parent_id.is_(None))
        .order_by(Section.position)
        .offset(1)
    ).first()
    assert area is not None
    under = {area.id} | {
        s.id
        for s in db.session.scalars(select(Section).where(Section.plan_id == baotou))
        if s.path.startswith(area.path + "/")
    }
    lead = db.session.scalars(
        select(ItemUnit)
        .join(Item)
        .where(
            Item.plan_id == baotou, ItemUnit.role == "lead_assessor", ItemUnit.unit_id.is_not(None)
        )
    ).first()
    assert lead is not None and lead.unit_id is not None
    led_items = set(
        db.session.scalars(
            select(ItemUnit.item_id).where(
                ItemUnit.unit_id == lead.unit_id, ItemUnit.role.in_(["lead", "lead_assessor"])
            )
        )
    )
    in_baotou = assignments(Item.plan_id == baotou)
    cases = {
        f"plan={BAOTOU}": [a.id for a in in_baotou],
        f"plan={BAOTOU}&area={area.id}": [a.id for a in in_baotou if a.item.section_id in under],
        f"plan={BAOTOU}&unit={kundulun}": [a.id for a in in_baotou if a.unit_id == kundulun],
        f"plan={BAOTOU}&lead={lead.unit_id}": [a.id for a in in_baotou if a.item_id in led_items],
        f"plan={BAOTOU}&status=completed": varied["completed"],
        f"plan={BAOTOU}&unit={kundulun}&status=in_progress": varied["due_soon"]
        + varied["done_steps"],
    }
    everything = db.session.query(Assignment).count()
    for query, expected in cases.items():
        assert 0 < len(expected) < everything, query
        page = get(client, f"/ledger?{query}")
        assert total_of(page) == len(expected), query
        shown = row_ids(page)
        assert set(shown) <= set(expected), query
        if len(expected) <= 50:
            assert sorted(shown) == sorted(expected), query
    # Filters combine: the area's rows of one unit.
    both = get(client, f"/ledger?plan={BAOTOU}&area={area.id}&unit={kundulun}")
    expected = [a.id for a in in_baotou if a.item.section_id in under and a.unit_id == kundulun]
    assert sorted(row_ids(both)) == sorted(expected) and len(expected) < 50


def test_the_due_range_filters_on_the_next_open_milestone(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    today = office_today()
    start, end = today, today + timedelta(days=30)
    page = get(client, f"/ledger?from={start.isoformat()}&to={end.isoformat()}")
    expected = [a.id for a in assignments() if (d := next_due_of(a)) and start <= d <= end]
    assert sorted(row_ids(page)) == sorted(expected) == sorted(varied["due_soon"])
    later = get(client, f"/ledger?from={(today + timedelta(days=31)).isoformat()}")
    assert sorted(row_ids(later)) == sorted(varied["on_track"] + varied["behind"])
    # The shown date is that next due date, in the Chinese style.
    due = today + timedelta(days=1)
    assert f"{due.year}年{due.month}月{due.day}日" in visible(page)


def test_a_light_filter_shows_exactly_the_rows_with_that_displayed_light(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    kundulun = unit_named(KUNDULUN, "baotou").id
    expected = python_lights(kundulun_rows(), office_today())
    assert set(expected.values()) == {"red", "yellow", "green"}
    seen: dict[int, str] = {}
    for color in ("red", "yellow", "green"):
        url = f"/ledger?plan={BAOTOU}&unit={kundulun}&light={color}"
        ids = all_ids(client, url)
        assert sorted(ids) == sorted(a for a, c in expected.items() if c == color), color
        for page in (1, 2):
            lights = row_lights(get(client, f"{url}&page={page}"))
            assert set(lights.values()) <= {color}, color  # the displayed light agrees
            seen.update(lights)
    assert seen == expected
    # Yellow: both reasons, due soon and behind the pace.
    yellow = get(client, f"/ledger?plan={BAOTOU}&unit={kundulun}&light=yellow")
    assert "黄 · 即将到期" in visible(yellow) and "黄 · 落后序时进度" in visible(yellow)


DATES = [
    date(2021, 12, 1),
    date(2022, 1, 1),
    date(2022, 5, 30),
    date(2022, 9, 30),
    date(2023, 3, 1),
]


class PrefixCalendar:
    """The office calendar's working days from ``start``, counted once (light_for is slow)."""

    def __init__(self, start: date, days: int) -> None:
        cal = WorkingCalendar.load(start, start + timedelta(days=days))
        self.start, self.counts = start, [0]
        for n in range(1, days + 1):
            self.counts.append(self.counts[-1] + cal.is_working_day(start + timedelta(days=n)))

    def working_days_between(self, start: date, end: date) -> int:
        assert start == self.start
        return self.counts[(end - start).days]


def test_the_sql_light_agrees_with_light_for_on_every_assignment(session: Any) -> None:
    """Across dates in the plans' years: overdue, due soon (working days), pace and the rest."""
    rows = assignments()
    for i, a in enumerate(rows):  # a spread of states, percents and extensions
        a.percent = (i * 37) % 101
        if i % 11 == 0:
            a.status = "completed"
        for j, m in enumerate(a.milestones):
            if (i + j) % 5 == 0:
                m.status = "done"
            elif (i + j) % 7 == 0:
                m.extended_to = m.due_on + timedelta(days=(i % 40) + 1)
    # Edges of the pace rule: every step done and the last one on 1 January (end = year start)
    # or in the year before (end before the year start), at 0%.
    edges = [a for a in rows if a.item.plan.year == 2022 and len(a.milestones) > 1][:2]
    for a, day in zip(edges, (date(2022, 1, 1), date(2021, 12, 1)), strict=True):
        a.status, a.percent = "in_progress", 0
        for m in a.milestones:
            m.due_on, m.extended_to, m.status = day, None, "done"
    db.session.commit()
    viewer = make_user("office")  # commits, so before the rows are read again
    rows = assignments()
    reasons: set[str] = set()
    for today in DATES:
        # Far enough for every seed milestone (Hegang item 8 has a step on 2025-12-31).
        cal = PrefixCalendar(today, 1600)
        sql = dict(
            db.session.execute(
                select(Assignment.id, light_reason(today, _soon(today)))
                .join(Item, Item.id == Assignment.item_id)
                .join(Plan, Plan.id == Item.plan_id)
            ).all()
        )
        python = {
            a.id: light_for(a, today, cal, year_start=date(a.item.plan.year, 1, 1)).reason
            for a in rows
        }
        assert sql == python, today
        reasons |= set(python.values())
        # And the ledger's count per colour is the same.
        by_color = {
            "red": {"overdue"},
            "yellow": {"due_soon", "behind_pace"},
            "green": {"completed", "on_track"},
            "grey": {"no_milestones"},  # no date yet: no light of its own
        }
        for color, wanted in by_color.items():
            filtered = Ledger(LedgerFilters(light=color), viewer=viewer, today=today)
            assert filtered.count() == sum(1 for r in python.values() if r in wanted), today
    assert reasons == {
        "overdue",
        "due_soon",
        "behind_pace",
        "on_track",
        "completed",
        "no_milestones",
    }


def _soon(today: date) -> date:
    from taskhub.ledger.lights import due_soon_before

    return due_soon_before(
        today, WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=30))
    )


def test_due_soon_counts_working_days_across_a_holiday(session: Any) -> None:
    """2022-09-30 (a Friday before the National Day week): 3 working days reach past 10-07."""
    today = date(2022, 9, 30)
    bound = _soon(today)
    cal = WorkingCalendar.load(today, today + timedelta(days=30))
    assert cal.working_days_between(today, bound - timedelta(days=1)) <= 3
    assert cal.working_days_between(today, bound) == 4
    assert bound > date(2022, 10, 8)


def test_bad_filters_are_marked_next_to_their_field_and_filter_nothing(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    client.get("/lang/en")
    page = get(client, "/ledger?plan=no-such-plan&from=2022-13-01&light=purple")
    assert total_of(page) == db.session.query(Assignment).count()
    for name in ("plan", "from", "light"):
        assert f'aria-describedby="err-{name}"' in page, name
        assert f'id="err-{name}"' in page, name
    assert "Enter the date as YYYY-MM-DD" in page
    assert "There is no plan with this code." in page
    assert 'value="2022-13-01"' in page  # what was typed stays in the field
    reversed_range = get(client, "/ledger?from=2022-06-30&to=2022-01-01")
    assert "The end date is before the start date." in reversed_range
    # An export of bad filters goes back to the page instead of exporting everything.
    response = client.get("/ledger.xlsx?from=2022-13-01")
    assert response.status_code == 302 and "/ledger?" in response.headers["Location"]


# -- sorting and paging ---------------------------------------------------------------------------


def test_sorting_by_column_headers_with_a_stable_tie_break(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    kundulun = unit_named(KUNDULUN, "baotou").id
    base = f"/ledger?plan={BAOTOU}&unit={kundulun}"
    rows = {a.id: a for a in kundulun_rows()}

    # Reversing a sort reverses the whole order, ties too (so one index serves both ways).
    ids = all_ids(client, f"{base}&sort=percent&dir=desc")
    keys = [(-rows[i].percent, -i) for i in ids]
    assert keys == sorted(keys) and len(ids) == len(rows)

    ids = all_ids(client, f"{base}&sort=due")
    dues = [next_due_of(rows[i]) for i in ids]
    known = [d for d in dues if d is not None]
    assert known == sorted(known) and dues[len(known) :] == [None] * (len(dues) - len(known))

    ids = all_ids(client, f"{base}&sort=due&dir=desc")
    dues = [next_due_of(rows[i]) for i in ids]
    known = [d for d in dues if d is not None]
    assert known == sorted(known, reverse=True) and all(d is None for d in dues[len(known) :])

    ids = all_ids(client, f"{base}&sort=light")
    order = {"red": 0, "yellow": 1, "green": 2, "grey": 3}
    lights = python_lights(list(rows.values()), office_today())
    keys = [(order[lights[i]], i) for i in ids]
    assert keys == sorted(keys)

    # The header says which column sorts and how; its link reverses the order.
    page = get(client, f"{base}&sort=percent&dir=asc")
    header = re.search(r'<th scope="col" class="num" aria-sort="ascending">(.*?)</th>', page, re.S)
    assert header and "sort=percent" in header.group(1) and "dir=desc" in header.group(1)
    # Unknown sort keys fall back to the document order (never raw SQL).
    assert row_ids(get(client, f"{base}&sort=id;drop")) == row_ids(get(client, base))


def test_units_sort_by_name_across_plans_and_pages_do_not_overlap(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("viewer")
    url = "/ledger?plan=hegang-2022&sort=unit"
    first, second = get(client, url), get(client, url + "&page=2")
    a, b = row_ids(first), row_ids(second)
    assert len(a) == 50 and b and not set(a) & set(b)
    rows = {x.id: x for x in assignments(Assignment.id.in_(a + b))}
    keys = [(rows[i].unit.name, i) for i in a + b]
    assert keys == sorted(keys)
    total = total_of(first)
    pages = -(-total // 50)
    # The current page's number marked, and the last page reachable (the same rows by link
    # and by number).
    assert 'aria-current="page"' in first and f"第 1 页，共 {pages} 页" in visible(first)
    assert "last=1" in first
    last = get(client, f"{url}&page={pages}")
    assert len(row_ids(last)) == total - 50 * (pages - 1)
    assert row_ids(get(client, f"{url}&last=1")) == row_ids(last)
    # A page past the end shows the last one.
    assert row_ids(get(client, f"{url}&page={pages + 50}")) == row_ids(last)


# -- who sees what ------------------------------------------------------------------------------


def test_a_unit_user_sees_only_their_own_unit_even_when_asking_for_another(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    kundulun = unit_named(KUNDULUN, "baotou")
    qingshan = unit_named(QINGSHAN, "baotou")
    login_as("unit", kundulun)
    own = {a.id for a in assignments(Assignment.unit_id == kundulun.id)}
    ids = all_ids(client, "/ledger?x=1")
    assert set(ids) == own and len(ids) == len(own)
    other = get(client, f"/ledger?unit={qingshan.id}")
    assert total_of(other) == 0 and not row_ids(other)
    assert QINGSHAN not in visible(other).replace(KUNDULUN, "")
    # The export and the timeline are restricted the same way.
    book = load_workbook(io.BytesIO(client.get(f"/ledger.xlsx?unit={qingshan.id}").data))
    assert book["任务台账"].max_row == 1
    book = load_workbook(io.BytesIO(client.get("/ledger.xlsx").data))
    units = {row[6] for row in book["任务台账"].iter_rows(min_row=2, values_only=True)}
    assert units == {KUNDULUN}
    timeline = get(client, f"/timeline?plan={BAOTOU}")
    assert KUNDULUN in timeline and QINGSHAN not in timeline
    # By area each marker counts the milestones behind it: only this unit's one.
    area_view = get(client, f"/timeline?plan={BAOTOU}&group=area")
    labels = [
        html_lib.unescape(t) for t in re.findall(r'role="img" aria-label="([^"]+)"', area_view)
    ]
    assert labels
    for text in labels:
        counts = re.findall(r"(?:已完成|已超期|未完成|已免除) (\d+)", text)
        assert sum(int(n) for n in counts) == 1, text


@pytest.mark.parametrize("role", ["admin", "office", "viewer", "assessor"])
def test_staff_viewers_and_assessors_see_every_unit(
    client: FlaskClient, login_as: Callable[..., Any], role: str
) -> None:
    login_as(role)
    assert total_of(get(client, "/ledger")) == db.session.query(Assignment).count()


def test_signed_out_visitors_are_sent_to_the_login_page(client: FlaskClient) -> None:
    for url in ("/ledger", "/ledger.xlsx", "/timeline"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


# -- export --------------------------------------------------------------------------------------


def test_the_export_has_exactly_the_filtered_rows_in_the_page_order(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    kundulun = unit_named(KUNDULUN, "baotou").id
    report_on = kundulun_rows()[0]
    db.session.add(
        ProgressReport(
            assignment_id=report_on.id,
            author_id=make_user("unit", unit_named(KUNDULUN, "baotou"), "reporter").id,
            progress="已完成平台对接",
            percent=40,
        )
    )
    db.session.commit()
    query = f"plan={BAOTOU}&unit={kundulun}&sort=percent&dir=desc"
    ids = all_ids(client, f"/ledger?{query}")
    response = client.get(f"/ledger.xlsx?{query}&page=2")  # the page does not limit the export
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    ws = book["任务台账"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:4] == ["序号", "方案", "编号", "重点任务"]
    assert {"具体内容", "所属领域", "责任单位", "牵头单位", "完成状态", "预警", "进度"} <= set(
        header
    )
    assert ws.auto_filter.ref == f"A1:R{len(ids) + 1}"
    assert ws.column_dimensions["E"].width == 50
    data = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(data) == len(ids) == 90
    rows = {a.id: a for a in kundulun_rows()}
    col = {name: header.index(name) for name in header}
    for n, (aid, values) in enumerate(zip(ids, data, strict=True), start=1):
        a = rows[aid]
        assert values[col["序号"]] == n
        assert values[col["编号"]] == a.item.label
        assert values[col["责任单位"]] == KUNDULUN
        assert values[col["进度"]] == pytest.approx(a.percent / 100)
        due = next_due_of(a)
        assert (values[col["下一节点时限"]].date() if due else None) == due
    lights = python_lights(list(rows.values()), office_today())
    words = {"red": "红", "yellow": "黄", "green": "绿", "grey": "灰"}
    assert [v[col["预警"]].split(" · ")[0] for v in data] == [words[lights[i]] for i in ids]
    first = ws.cell(2, 1 + col["进度"])
    assert first.number_format == "0%"
    assert ws.cell(2, 1 + col["下一节点时限"]).number_format == 'yyyy"年"m"月"d"日"'
    reported = data[ids.index(report_on.id)][col["最近报告日期"]]
    assert reported.date() == office_today()
    assert ws["A1"].font.b
    notes = dict(book["导出说明"].iter_rows(values_only=True))
    assert notes["条数"] == "90" and notes["责任单位"] == KUNDULUN and "导出时间" in notes


def test_a_large_export_has_every_matching_row_not_only_one_page(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    page = get(client, f"/ledger?plan={BAOTOU}&light=red")
    total = total_of(page)
    assert total > 1000
    book = load_workbook(io.BytesIO(client.get(f"/ledger.xlsx?plan={BAOTOU}&light=red").data))
    ws = book["任务台账"]
    assert ws.max_row == total + 1
    assert all(
        str(v).startswith("红")
        for (v,) in ws.iter_rows(min_row=2, min_col=10, max_col=10, values_only=True)
    )


# -- statements per page ------------------------------------------------------------------------


def test_the_ledger_page_issues_a_bounded_number_of_statements(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    kundulun = unit_named(KUNDULUN, "baotou").id
    one_row = f"/ledger?plan={BAOTOU}&unit={kundulun}&status=completed&from=1999-01-01"
    get(client, one_row)  # warm caches (e.g. the calendar's covered years)
    with counting_statements() as few:
        small = get(client, f"/ledger?plan={BAOTOU}&unit={kundulun}&status=completed")
    # The table-size answer (core.counts, PostgreSQL) is kept 10 s, which a loaded machine can
    # take between the two requests: ask it again just before.
    from taskhub.core import counts

    counts.table_rows(Assignment.__table__)
    with counting_statements() as many:
        full = get(client, f"/ledger?plan={BAOTOU}&sort=light")
    assert len(row_ids(small)) == 3 and len(row_ids(full)) == 50
    # 14 for the ledger itself, plus the menu's one statement for its count badges.
    assert len(many) == len(few) <= 15, many


# -- timeline: tests/test_timeline.py ---------------------------------------------------------


# -- accessibility ------------------------------------------------------------------------------


def test_every_filter_control_has_a_label_and_the_table_has_caption_and_scopes(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    for url in (f"/ledger?plan={BAOTOU}", "/ledger", "/board", f"/timeline?plan={BAOTOU}"):
        page = get(client, url)
        start = page.index('<form method="get"')
        form = page[start : page.index("</form>", start)]
        controls = re.findall(r'<(?:select|input)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', form)
        assert controls, url
        for control in controls:
            assert f'<label for="{control}">' in form, (url, control)
        assert "<caption>" in page, url
        assert '<th scope="col"' in page, url
    ledger = get(client, f"/ledger?plan={BAOTOU}")
    assert ledger.count('<th scope="col"') == 10  # one plan chosen: no plan column
    assert 'aria-sort="ascending"' in ledger
    assert get(client, "/ledger").count('<th scope="col"') == 11


def test_resolving_an_area_of_another_plan_is_a_problem(session: Any) -> None:
    other = db.session.scalars(
        select(Section).where(
            Section.plan_id == plan_id("hegang-2022"), Section.parent_id.is_(None)
        )
    ).first()
    assert other is not None
    resolved = resolve_filters({"plan": BAOTOU, "area": other.id})
    assert resolved.problems == {"area": "area"} and resolved.filters.area_section_ids is None
    assert resolve_filters({"area": other.id}).problems == {"area": "area_without_plan"}


def test_the_counting_calendar_gives_the_calendars_own_answers(session: Any) -> None:
    from taskhub.ledger.services import CountingCalendar

    start = date(2022, 9, 20)  # across the National Day week and its make-up Saturdays
    real = WorkingCalendar.load(start, start + timedelta(days=60))
    counting = CountingCalendar(real, start, start + timedelta(days=30))
    for days in range(-5, 61):
        end = start + timedelta(days=days)
        assert counting.working_days_between(start, end) == real.working_days_between(start, end)
    other = start + timedelta(days=3)
    assert counting.working_days_between(other, other + timedelta(days=9)) == (
        real.working_days_between(other, other + timedelta(days=9))
    )


# -- unit search box and the cached count -----------------------------------------------------


@pytest.fixture
def few_units_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Baotou a "province": too many units for a list, so the filter is a search box."""
    from taskhub.ledger import services

    monkeypatch.setattr(services, "UNIT_LIST_MAX", 3)


def test_a_city_with_many_units_gets_a_search_box_instead_of_a_list(
    client: FlaskClient, login_as: Callable[..., Any], few_units_listed: None
) -> None:
    login_as("office")
    page = get(client, f"/ledger?plan={BAOTOU}")
    assert 'name="unit_name"' in page and 'id="f-unit"' not in page
    kundulun = unit_named(KUNDULUN, "baotou")
    found = get(client, f"/ledger?plan={BAOTOU}&unit_name={KUNDULUN}")
    ids = all_ids(client, f"/ledger?plan={BAOTOU}&unit_name={KUNDULUN}")
    units = set(db.session.scalars(select(Assignment.unit_id).where(Assignment.id.in_(ids))))
    assert units == {kundulun.id}
    # The box shows the unit's name again, and the same filter by id shows it too.
    assert f'value="{KUNDULUN}"' in found
    assert f'value="{KUNDULUN}"' in get(client, f"/ledger?plan={BAOTOU}&unit={kundulun.id}")


def test_an_ambiguous_or_unknown_unit_name_is_explained_next_to_the_box(
    client: FlaskClient, login_as: Callable[..., Any], few_units_listed: None
) -> None:
    login_as("office")
    several = get(client, f"/ledger?plan={BAOTOU}&unit_name=区人民政府")
    assert 'aria-invalid="true"' in several
    links = re.findall(r'<ul class="unit-matches">(.*?)</ul>', several, re.S)
    assert links and KUNDULUN in links[0]
    # Choosing a suggestion filters by that unit's id.
    kundulun = unit_named(KUNDULUN, "baotou").id
    assert f"unit={kundulun}" in html_lib.unescape(links[0])
    none = get(client, f"/ledger?plan={BAOTOU}&unit_name=没有这个单位")
    assert "err-unit_name" in none and 'aria-invalid="true"' in none


def test_the_cached_count_follows_every_audited_change(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    from taskhub.tracking import services as tracking

    office = login_as("office")
    url = f"/ledger?plan={BAOTOU}&status=acknowledged"
    before = total_of(get(client, url))
    assert total_of(get(client, url)) == before  # served from the cache
    new = db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == BAOTOU, Assignment.status == "new")
    ).first()
    assert new is not None
    tracking.acknowledge(new, actor=office)
    db.session.commit()
    assert total_of(get(client, url)) == before + 1


# -- days overdue, one-line rows, totals, the board's export (issue 15) -------------------------


def overdue_days(a: Assignment, today: date) -> int | None:
    """超期N天 computed independently: not completed and the next open step before today."""
    due = next_due_of(a)
    if a.status == "completed" or due is None or due >= today:
        return None
    return (today - due).days


def rows_html(page: str) -> dict[int, str]:
    return {
        int(a): row
        for a, row in re.findall(r'<tr data-assignment="(\d+)"[^>]*>(.*?)</tr>', page, re.S)
    }


@pytest.mark.parametrize(
    "url", ["/ledger?plan={plan}&unit={unit}", "/board?plan={plan}&unit={unit}&view=all"]
)
def test_ledger_and_board_show_days_overdue_the_total_and_one_line_rows(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]], url: str
) -> None:
    login_as("office")
    today = office_today()
    kundulun = unit_named(KUNDULUN, "baotou")
    url = url.format(plan=BAOTOU, unit=kundulun.id)
    expected = {a.id: a for a in kundulun_rows()}
    page = get(client, url)
    # The total is the whole filtered result (90), not the page's 50 rows.
    assert total_of(page) == len(expected) == 90
    assert "共 90 项任务符合条件" in visible(page)
    rows: dict[int, str] = {}
    for n in (1, 2):
        rows |= rows_html(get(client, f"{url}&page={n}"))
    assert rows.keys() == expected.keys()
    late = 0
    for aid, row in rows.items():
        a, days = expected[aid], overdue_days(expected[aid], today)
        if days is None:
            assert "超期" not in visible(row) and "data-overdue" not in row
        else:
            late += 1
            assert f"超期{days}天" in visible(row), (aid, visible(row))
        # One line: the task cell is cut with an ellipsis, its full text in the title.
        link = re.search(r'<a class="one-line clip-l" href="[^"]+" title="([^"]*)"', row)
        assert link, row
        assert html_lib.unescape(link.group(1)).endswith(a.item.text)
        assert a.item.label in html_lib.unescape(link.group(1))
    assert 0 < late < len(rows)  # varied: some on time, most of 2022 long overdue
    css = client.get("/static/css/taskhub.css")
    assert "table.one-line-rows td { white-space: nowrap; }" in css.get_data(as_text=True)
    css.close()


def test_the_unit_filter_works_without_choosing_a_plan(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    kundulun = unit_named(KUNDULUN, "baotou")
    own = {a.id for a in assignments(Assignment.unit_id == kundulun.id)}
    for base in ("/ledger", "/board?view=all"):
        page = get(client, base)
        # A list of units or a search box is offered with no plan chosen.
        assert 'id="f-unit"' in page or 'id="f-unit-name"' in page, base
        assert 'id="f-lead"' in page, base
        sep = "&" if "?" in base else "?"
        by_id = get(client, f"{base}{sep}unit={kundulun.id}")
        assert total_of(by_id) == len(own), base
        assert set(rows_html(by_id)) <= own
        by_name = get(client, f"{base}{sep}unit_name={KUNDULUN}")
        assert total_of(by_name) == len(own), base
    # The lead filter too: Baotou's items led by a unit, across plans.
    lead = db.session.scalars(
        select(ItemUnit.unit_id).where(ItemUnit.role == "lead", ItemUnit.unit_id.is_not(None))
    ).first()
    led = {
        a.id
        for a in assignments(
            Assignment.item_id.in_(
                select(ItemUnit.item_id).where(
                    ItemUnit.role.in_(("lead", "lead_assessor")), ItemUnit.unit_id == lead
                )
            )
        )
    }
    assert total_of(get(client, f"/ledger?lead={lead}")) >= len(led) > 0


def test_the_board_export_has_the_boards_filtered_rows_in_its_order(
    client: FlaskClient, login_as: Callable[..., Any], varied: dict[str, list[int]]
) -> None:
    login_as("office")
    today = office_today()
    kundulun = unit_named(KUNDULUN, "baotou")
    query = f"plan={BAOTOU}&unit={kundulun.id}&view=overdue"
    page = get(client, f"/board?{query}")
    total = total_of(page)
    ids = list(rows_html(page)) + list(rows_html(get(client, f"/board?{query}&page=2")))
    assert len(ids) == total > 0
    assert f"/board.xlsx?{query}".replace("&", "&amp;") in page
    response = client.get(f"/board.xlsx?{query}&page=2")  # every row, not a page
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "board" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    ws = book["时限督办"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) for name in header}
    data = list(ws.iter_rows(min_row=2, values_only=True))
    rows = {a.id: a for a in kundulun_rows()}
    assert len(data) == total
    for aid, values in zip(ids, data, strict=True):
        assert values[col["编号"]] == rows[aid].item.label
        assert values[col["责任单位"]] == KUNDULUN
        assert values[col["超期天数"]] == overdue_days(rows[aid], today)
    notes = dict(book["导出说明"].iter_rows(values_only=True))
    assert notes["条数"] == str(total) and notes["显示"] == "已超期"


def test_the_ledger_export_has_the_newest_report_the_next_step_and_days_overdue(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    today = office_today()
    kundulun = unit_named(KUNDULUN, "baotou")
    a = next(a for a in kundulun_rows() if len(a.milestones) >= 2)
    author = make_user("unit", kundulun, "reporter").id
    older = ProgressReport(
        assignment_id=a.id, author_id=author, progress="旧的进展", problems="旧问题", percent=10
    )
    db.session.add(older)
    db.session.flush()
    db.session.add(
        ProgressReport(
            assignment_id=a.id,
            author_id=author,
            progress="=1+2 已完成平台对接",
            problems="-资金未到位",
            next_steps="@下月完成验收",
            percent=40,
        )
    )
    steps = sorted(a.milestones, key=lambda m: (m.due_on, m.id))
    second, later = steps[1], steps[2:]
    steps[0].status = "done"  # the next step is now the second one, 5 days overdue …
    second.title = "完成系统上线"
    second.extended_to = today - timedelta(days=5)
    for m in later:  # … the later ones extended past it
        m.extended_to = today + timedelta(days=30)
    db.session.commit()
    db.session.refresh(a)
    response = client.get(f"/ledger.xlsx?plan={BAOTOU}&unit={kundulun.id}")
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.data))["任务台账"]
    header = [c.value for c in ws[1]]
    # The original columns keep their places; the new ones follow.
    assert header[:13] == [
        "序号",
        "方案",
        "编号",
        "重点任务",
        "具体内容",
        "所属领域",
        "责任单位",
        "牵头单位",
        "完成状态",
        "预警",
        "进度",
        "下一节点时限",
        "最近报告日期",
    ]
    assert header[13:] == ["超期天数", "下一节点", "工作进展", "存在问题", "下步计划"]
    row = next(r for r in ws.iter_rows(min_row=2) if r[2].value == a.item.label)
    values = {name: cell for name, cell in zip(header, row, strict=True)}
    assert values["工作进展"].value == "=1+2 已完成平台对接"
    assert values["存在问题"].value == "-资金未到位"
    assert values["下步计划"].value == "@下月完成验收"
    for name in ("工作进展", "存在问题", "下步计划"):  # formula-like text stays text
        assert values[name].data_type == "s" and values[name].quotePrefix, name
    assert values["下一节点"].value == "完成系统上线"
    assert values["下一节点时限"].value.date() == today - timedelta(days=5)
    assert values["超期天数"].value == 5
    # An assignment with no report has empty report columns.
    quiet = next(r for r in ws.iter_rows(min_row=2, values_only=True) if r[2] != a.item.label)
    assert quiet[15:] == (None, None, None)
