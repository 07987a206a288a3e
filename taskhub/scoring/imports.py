"""Bulk score import from .xlsx or .csv: every row is checked first, then all are written.

Columns (Chinese or English headers, any order): 单位/unit, 事项/item (item number or code) or
分项/component (a component code), 分值/value, or 分子/numerator and 分母/denominator, 理由/reason.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.plans.models import Item, Plan
from taskhub.scoring import services
from taskhub.scoring.models import ScoreSource
from taskhub.scoring.rollup import effective_points, scored_units
from taskhub.scoring.schemes import engine_of, parse_period_code
from taskhub.tracking.models import Assignment
from taskhub.units.models import UnitAlias

HEADERS = {
    "unit": ("单位", "unit", "单位名称"),
    "item": ("事项", "item", "序号", "指标"),
    "component": ("分项", "component"),
    "value": ("分值", "value", "得分", "score"),
    "numerator": ("分子", "numerator"),
    "denominator": ("分母", "denominator"),
    "occurrences": ("次数", "occurrences"),
    "parts": ("达成", "parts"),
    "reason": ("理由", "reason", "说明"),
}


class ImportFailed(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class ImportReport:
    rows: int
    changed: int
    unchanged: int


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number as the user sees it, {field: value}) for every non-empty row."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            raw = list(csv.reader(f))
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            raw = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        finally:
            wb.close()
    else:
        raise ImportFailed([f"{path}: use an .xlsx or .csv file"])
    if not raw:
        raise ImportFailed([f"{path}: the file is empty"])
    header = [str(h or "").strip().lower() for h in raw[0]]
    columns: dict[str, int] = {}
    for field, names in HEADERS.items():
        for n, h in enumerate(header):
            if h in names:
                columns[field] = n
    missing = [f for f in ("unit", "reason") if f not in columns]
    if missing or ("item" not in columns and "component" not in columns):
        raise ImportFailed(
            [
                f"{path}: row 1: the header needs 单位, 事项 or 分项, 分值 (or 分子 and 分母), and "
                f"理由; found {', '.join(h for h in header if h) or 'nothing'}"
            ]
        )
    for number, row in enumerate(raw[1:], start=2):
        if not any(str(c or "").strip() for c in row):
            continue
        yield number, {f: (row[n] if n < len(row) else None) for f, n in columns.items()}


def _decimal(value: Any) -> Decimal | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    return Decimal(text)


def _parts(value: Any) -> list[bool] | bool | None:
    """Rubric parts achieved, written 1,0 (or 是,否); None when empty, False when unreadable."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    marks = {"1": True, "0": False, "是": True, "否": False, "y": True, "n": False}
    out = []
    for part in text.replace("，", ",").split(","):
        mark = marks.get(part.strip().lower())
        if mark is None:
            return False
        out.append(mark)
    return out


def import_scores(
    plan: Plan,
    code: str,
    path: Path,
    *,
    actor: User | None,
    progress: Callable[[str], None] = lambda _m: None,
) -> ImportReport:
    """Validate every row, then write them in the caller's transaction (all or nothing)."""
    parse_period_code(code)
    spec = engine_of(plan)
    units = {
        a.name: a.unit_id
        for a in db.session.scalars(
            select(UnitAlias).where(
                UnitAlias.city_id == plan.city_id, UnitAlias.unit_id.isnot(None)
            )
        )
    }
    items: dict[str, Item] = {}
    for item in db.session.scalars(select(Item).where(Item.plan_id == plan.id)):
        items[item.code] = item
        if item.number:
            items.setdefault(item.number, item)
    rule = spec.rule_for(parse_period_code(code)[0])
    # Loaded once: the plan's assignments and item points (no query per row).
    assignments = {
        (a.item_id, a.unit_id): a
        for a in db.session.scalars(select(Assignment).join(Item).where(Item.plan_id == plan.id))
    }
    exact = effective_points(plan, spec)
    points = {iid: Decimal(p.numerator) / Decimal(p.denominator) for iid, p in exact.items()}
    scored = scored_units(plan)
    problems: list[str] = []
    planned: list[tuple[int, str, dict[str, Any]]] = []
    rows = list(_rows(path))
    for number, row in rows:
        where = f"{path.name}: row {number}"
        unit_id = units.get(str(row.get("unit") or "").strip())
        if unit_id is None:
            problems.append(
                f"{where}: column 单位: {row.get('unit')!r} is not a unit of {plan.city.name}"
            )
            continue
        reason = str(row.get("reason") or "").strip()
        if not reason:
            problems.append(f"{where}: column 理由: a reason is required")
            continue
        try:
            value = _decimal(row.get("value"))
            numerator = _decimal(row.get("numerator"))
            denominator = _decimal(row.get("denominator"))
        except InvalidOperation:
            problems.append(f"{where}: 分值/分子/分母 must be numbers")
            continue
        item_key = str(row.get("item") or "").strip()
        component = str(row.get("component") or "").strip()
        if item_key:
            found_item = items.get(item_key)
            if found_item is None:
                problems.append(f"{where}: column 事项: no item {item_key!r} in {plan.code}")
                continue
            assignment = assignments.get((found_item.id, unit_id))
            if assignment is None:
                problems.append(f"{where}: item {item_key} is not assigned to {row.get('unit')}")
                continue
            try:
                occurrences = _decimal(row.get("occurrences"))
            except InvalidOperation:
                problems.append(f"{where}: column 次数 must be a number")
                continue
            parts = _parts(row.get("parts"))
            if parts is False:
                problems.append(f"{where}: column 达成: write 1 or 0 for each part, e.g. 1,0")
                continue
            if (
                value is None
                and occurrences is None
                and parts is None
                and (numerator is None or denominator is None)
            ):
                problems.append(f"{where}: give 分值, or 分子 and 分母, or 次数, or 达成")
                continue
            planned.append(
                (
                    number,
                    "item",
                    {
                        "assignment": assignment,
                        "value": value,
                        "numerator": numerator,
                        "denominator": denominator,
                        "occurrences": occurrences,
                        "parts": parts,
                        "reason": reason,
                    },
                )
            )
        elif component:
            if unit_id not in scored:
                problems.append(
                    f"{where}: column 单位: {row.get('unit')} is not scored by {plan.code}"
                )
                continue
            if component not in rule.entered:
                problems.append(
                    f"{where}: column 分项: {component!r} is not entered for this "
                    f"period (entered: {', '.join(rule.entered) or 'none'})"
                )
                continue
            if value is None:
                problems.append(f"{where}: column 分值: a value is required")
                continue
            planned.append(
                (
                    number,
                    "component",
                    {"unit_id": unit_id, "component": component, "value": value, "reason": reason},
                )
            )
        else:
            problems.append(f"{where}: give 事项 (an item) or 分项 (a component)")
    if problems:
        raise ImportFailed(problems)
    changed = 0
    for n, (number, kind, data) in enumerate(planned, start=1):
        try:
            if kind == "item":
                result: Any = services.score_item(
                    data["assignment"],
                    code,
                    actor=actor,
                    reason=data["reason"],
                    value=data["value"],
                    numerator=data["numerator"],
                    denominator=data["denominator"],
                    occurrences=data["occurrences"],
                    parts=data["parts"],
                    source=ScoreSource.IMPORT.value,
                    points=points.get(data["assignment"].item_id),
                )
            else:
                result = services.score_component(
                    plan,
                    data["unit_id"],
                    code,
                    data["component"],
                    data["value"],
                    actor=actor,
                    reason=data["reason"],
                    source=ScoreSource.IMPORT.value,
                )
        except DomainError as exc:
            problems.append(f"{path.name}: row {number}: {exc.message}")
            continue
        changed += result is not None
        if n % 500 == 0:
            progress(f"{n}/{len(planned)} rows")
    if problems:
        raise ImportFailed(problems)
    return ImportReport(rows=len(planned), changed=changed, unchanged=len(planned) - changed)
