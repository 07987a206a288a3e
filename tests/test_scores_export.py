"""The scores export (/plans/CODE/scores.xlsx): the rankings page as an office workbook."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.plans.models import Plan
from taskhub.scoring import services
from taskhub.scoring.models import Scheme
from taskhub.scoring.rollup import compute, quantised_total
from tests.conftest import unit_named

BAOTOU = "baotou-2022"
KUNDULUN = "昆都仑区人民政府"
QINGSHAN = "青山区人民政府"
URL = f"/plans/{BAOTOU}/scores.xlsx?period=2022-H1"


def baotou() -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == BAOTOU)).one()


def enter(client: FlaskClient, unit: str, component: str, value: str) -> None:
    response = client.post(
        f"/plans/{BAOTOU}/components?period=2022-H1",
        data={
            "unit_id": unit_named(unit, "baotou").id,
            "component": component,
            "value": value,
            "reason": "实地核查",
        },
    )
    assert response.status_code == 302


def workbook(client: FlaskClient, url: str = URL) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return load_workbook(io.BytesIO(response.data))


def test_the_export_has_the_ranking_with_totals_as_computed_and_shown(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    enter(client, KUNDULUN, "field", "80")
    enter(client, QINGSHAN, "field", "90.5")
    enter(client, QINGSHAN, "survey", "70")
    page = client.get(f"/plans/{BAOTOU}/scores?period=2022-H1").get_data(as_text=True)
    assert 'href="/plans/baotou-2022/scores.xlsx?period=2022-H1"' in page

    ws = workbook(client)["得分排名"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:4] == ["名次", "较上期", "单位", "总分"]
    assert {"日常监测", "实地调研", "民意调查", "第三方评估"} <= set(header)
    assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith("A1:")
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    ranked, _ = services.results(baotou(), "2022-H1")
    assert [r[2] for r in rows] == [r.unit_name for r in ranked]
    computed = {r.unit_id: quantised_total(r.total) for r in compute(baotou(), "2022-H1")}
    for values, r in zip(rows, ranked, strict=True):
        assert values[0] == r.rank
        assert Decimal(str(values[3])) == r.total == computed[r.unit_id]
    by_unit = {r[2]: r for r in rows}
    # 90.5 × 20% + 70 × 10% = 25.1; 80 × 20% = 16: first and second, as the page shows them.
    assert by_unit[QINGSHAN][:1] == (1,) and by_unit[KUNDULUN][:1] == (2,)
    assert Decimal(str(by_unit[QINGSHAN][3])) == Decimal("25.1")
    assert "25.10" in page and "16.00" in page
    field = header.index("实地调研")
    # Components as the page shows them: the component's own score, before its weight.
    assert Decimal(str(by_unit[QINGSHAN][field])) == Decimal("90.5") and "90.50" in page
    # Number formats from the scheme's rounding (2 places), headers bold, widths set.
    assert ws.cell(2, 4).number_format == "0.00"
    assert ws.cell(2, field + 1).number_format == "0.00"
    assert ws["A1"].font.b and ws.column_dimensions["C"].width == 30
    # Area scores: a column per area, adding up to the items' share.
    areas = [h for h in header[4:] if h not in {"日常监测", "实地调研", "民意调查", "第三方评估"}]
    assert len(areas) == len(ranked[0].areas) == 7
    notes = dict(load_workbook(io.BytesIO(client.get(URL).data))["导出说明"].values)
    assert notes["状态"] == "未关闭，实时结果" and "2022年上半年" in notes["期次"]


def test_number_formats_follow_the_scheme_rounding_and_a_closed_period_is_frozen(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    enter(client, KUNDULUN, "field", "77.77")
    scheme = db.session.scalars(select(Scheme).where(Scheme.plan_id == baotou().id)).one()
    definition = copy.deepcopy(scheme.definition)
    definition["engine"]["rounding"] = 1
    scheme.definition = definition
    db.session.commit()
    assert client.post(f"/plans/{BAOTOU}/close?period=2022-H1", data={}).status_code == 302
    book = workbook(client)
    ws = book["得分排名"]
    assert ws.cell(2, 4).number_format == "0.0"
    kundulun = next(r for r in ws.iter_rows(min_row=2, values_only=True) if r[2] == KUNDULUN)
    assert Decimal(str(kundulun[3])) == Decimal("15.554")  # 77.77 × 20%, kept exact
    notes = dict(book["导出说明"].values)
    assert notes["状态"] == "已关闭（第1版）"


def test_the_change_column_is_a_number_shown_with_arrows(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    enter(client, KUNDULUN, "field", "80")
    assert client.post(f"/plans/{BAOTOU}/close?period=2022-H1", data={}).status_code == 302
    ws = workbook(client, f"/plans/{BAOTOU}/scores.xlsx?period=2022-H2")["得分排名"]
    ranked, _ = services.results(baotou(), "2022-H2")
    changes = [r[1] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert changes == [r.change for r in ranked]
    assert any(c not in (None, 0) for c in changes)
    assert ws.cell(2, 2).number_format == '"↑"0;"↓"0;"持平"'


def test_the_export_has_the_same_permission_and_period_rules_as_the_page(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login_as("unit", unit_named(KUNDULUN, "baotou"))
    assert client.get(URL).status_code == 200  # the page is open to every signed-in user
    assert client.get(f"/plans/{BAOTOU}/scores.xlsx?period=1999-X").status_code == 400
    assert client.get("/plans/no-such-plan/scores.xlsx?period=2022-H1").status_code == 404
    disposition = client.get(URL).headers["Content-Disposition"]
    assert re.search(r'filename="baotou-2022_2022-H1_scores\.xlsx"', disposition)
    assert "filename*=UTF-8''" in disposition
