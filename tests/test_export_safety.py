"""Spreadsheet exports never turn text from the database into a formula (OWASP CSV injection)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.xlsx import Column, add_table, new_workbook, workbook_bytes
from taskhub.plans.models import Item
from taskhub.tracking.models import Assignment
from tests.conftest import unit_named

#: Text that a spreadsheet would run if it were stored as a formula or typed into a cell.
HOSTILE = ["=1+2", "+1+2", "-1+2", "@SUM(1,2)", "\t=1+2", "\r=1+2", '=HYPERLINK("http://x")']
KUNDULUN = "昆都仑区人民政府"


def formula_parts(data: bytes) -> list[str]:
    """Worksheet parts of an .xlsx that hold a formula element."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            name
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") and b"<f>" in archive.read(name)
        ]


def cells_with(data: bytes, values: set[str]) -> list[Any]:
    """Every cell of the workbook whose value is one of ``values``."""
    book = load_workbook(io.BytesIO(data))
    return [
        cell
        for ws in book.worksheets
        for row in ws.iter_rows()
        for cell in row
        if cell.value in values
    ]


def assert_text(data: bytes, values: set[str]) -> None:
    assert formula_parts(data) == []
    found = cells_with(data, values)
    assert {c.value for c in found} == values  # unchanged, no apostrophe added
    for cell in found:
        assert cell.data_type == "s", (cell.coordinate, cell.value)
        assert cell.quotePrefix  # Excel keeps it text even when the cell is edited


def test_a_table_keeps_formula_like_text_as_text_and_numbers_as_numbers() -> None:
    wb = new_workbook()
    columns = [Column("文字"), Column("分值", kind="decimal"), Column("名次", kind="integer")]
    add_table(wb, "表", columns, [[text, Decimal("-2.5"), -1] for text in HOSTILE])
    data = workbook_bytes(wb)
    assert_text(data, set(HOSTILE))
    ws = load_workbook(io.BytesIO(data))["表"]
    for value, number, change in ws.iter_rows(min_row=2):
        assert number.data_type == "n" and number.value == -2.5  # a negative score is a number
        assert change.data_type == "n" and change.value == -1
        assert value.value in HOSTILE


def test_the_ledger_export_writes_a_plan_cell_like_1_plus_2_as_text(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    assignment = db.session.scalars(
        select(Assignment).where(Assignment.unit_id == unit.id).order_by(Assignment.id)
    ).first()
    assert assignment is not None
    item = db.session.get(Item, assignment.item_id)
    assert item is not None
    item.title, item.text = "=1+2", "@SUM(1,2)"
    db.session.commit()
    response = client.get(f"/ledger.xlsx?unit={unit.id}")
    assert response.status_code == 200
    assert_text(response.data, {"=1+2", "@SUM(1,2)"})
    ws = load_workbook(io.BytesIO(response.data))["任务台账"]
    header = [c.value for c in ws[1]]
    progress = ws.cell(2, 1 + header.index("进度"))
    assert progress.data_type == "n"  # numbers stay numbers


@pytest.mark.parametrize(
    "url",
    [
        "/plans/baotou-2022/scores.xlsx?period=2022-H1",
        "/plans/baotou-2022/bulletin.xlsx?period=2022-H1",
    ],
)
def test_score_and_bulletin_workbooks_write_a_formula_like_unit_name_as_text(
    client: FlaskClient, login_as: Callable[..., Any], url: str
) -> None:
    login_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    unit.name = "=1+2"
    db.session.commit()
    response = client.get(url)
    assert response.status_code == 200
    assert_text(response.data, {"=1+2"})
    book = load_workbook(io.BytesIO(response.data))
    totals = [c for c in book.worksheets[0]["D"] if isinstance(c.value, int | float)]
    assert totals and all(c.data_type == "n" for c in totals)


def test_the_contacts_template_writes_a_formula_like_unit_name_as_text(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    unit = unit_named("市财政局", "hegang")
    login_as("unit", unit)
    unit.name = "-1+2"
    db.session.commit()
    response = client.get("/imports/contacts/template.xlsx")
    assert response.status_code == 200
    assert_text(response.data, {"-1+2"})


def test_the_plan_template_writes_formula_like_unit_names_as_text(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    unit = unit_named("市财政局", "hegang")
    unit.name = "@SUM(1,2)"
    db.session.commit()
    response = client.get("/imports/plan/template.xlsx?city=hegang")
    assert response.status_code == 200
    assert_text(response.data, {"@SUM(1,2)"})


def _an_overdue_item_of_formula_like_text() -> None:
    """One of Kundulun's assignments overdue, its item, milestone and unit named like
    formulas (as a plan import or the plan editor could have stored them)."""
    unit = unit_named(KUNDULUN, "baotou")
    assignment = db.session.scalars(
        select(Assignment).where(Assignment.unit_id == unit.id).order_by(Assignment.id)
    ).first()
    assert assignment is not None and assignment.milestones
    assignment.is_overdue = True
    milestone = assignment.milestones[0]
    milestone.is_overdue = True
    milestone.status = "open"
    milestone.title = "-1+2"
    item = db.session.get(Item, assignment.item_id)
    assert item is not None
    item.title = "=1+2"
    item.text = "@SUM(1,2)"
    unit.name = "+1+2"
    db.session.commit()


@pytest.mark.parametrize(
    ("url", "texts"),
    [
        # The bulletin's second sheet: unit, number, item title, due date.
        ("/plans/baotou-2022/bulletin.xlsx?period=2022-H1", {"+1+2", "=1+2"}),
        # The bulletin's attachment: unit, plan, number, item text, milestone, date, days.
        ("/plans/baotou-2022/bulletin-overdue.xlsx?period=2022-H1", {"+1+2", "@SUM(1,2)", "-1+2"}),
    ],
)
def test_bulletin_overdue_lists_write_formula_like_items_as_text(
    client: FlaskClient, login_as: Callable[..., Any], url: str, texts: set[str]
) -> None:
    login_as("office")
    _an_overdue_item_of_formula_like_text()
    response = client.get(url)
    assert response.status_code == 200
    assert_text(response.data, texts)


def test_the_api_overdue_workbook_writes_formula_like_items_as_text(api_as: Any) -> None:
    office = api_as("office")
    _an_overdue_item_of_formula_like_text()
    response = office.get("/api/v1/plans/baotou-2022/bulletins/2022-H1/overdue.xlsx")
    assert response.status_code == 200
    assert_text(response.data, {"+1+2", "@SUM(1,2)", "-1+2"})


def test_the_units_template_writes_formula_like_unit_names_as_text(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    unit.name = "\t=1+2"
    db.session.commit()
    response = client.get("/imports/units/template.xlsx?city=baotou")
    assert response.status_code == 200
    assert_text(response.data, {"\t=1+2"})
