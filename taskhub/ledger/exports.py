"""Excel exports: the ledger (exactly what its filters match) and a period's scores.

Both are Chinese documents whatever the UI language, laid out by ``taskhub.core.xlsx``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import force_locale

from taskhub.accounts.models import User
from taskhub.core.db import db, now_utc
from taskhub.core.labels import label
from taskhub.core.sections import section_label
from taskhub.core.timeutil import local_time
from taskhub.core.xlsx import Column, add_notes, add_table, new_workbook, safe_file_name
from taskhub.core.xlsx import workbook_bytes as to_bytes
from taskhub.core.xlsx_stream import stream_table
from taskhub.ledger.lights import COLOR_OF, COLORS
from taskhub.ledger.services import STATUS_ORDER, ExportRow, Resolved, visible_to
from taskhub.plans.models import Plan, Section
from taskhub.scoring.labels import component_label, component_names, period_label
from taskhub.scoring.models import Snapshot
from taskhub.scoring.schemes import EngineSpec
from taskhub.scoring.services import Ranked
from taskhub.units.models import Unit

LEDGER_SHEET = "任务台账"
NOTES_SHEET = "导出说明"
LEDGER_COLUMNS = (
    Column("序号", 7, "integer"),
    Column("方案", 26, "wrap"),
    Column("编号", 8, "center"),
    Column("重点任务", 24, "wrap"),
    Column("具体内容", 50, "wrap"),
    Column("所属领域", 20, "wrap"),
    Column("责任单位", 22, "wrap"),
    Column("牵头单位", 24, "wrap"),
    Column("完成状态", 10, "center"),
    Column("预警", 14, "center"),
    Column("进度", 8, "percent"),
    Column("下一节点时限", 16, "date"),
    Column("最近报告日期", 16, "date"),
    # Added for the sheet sent to leaders; after the original columns so older macros and
    # formulas that read columns by position still find theirs.
    Column("超期天数", 10, "integer"),
    Column("下一节点", 24, "wrap"),
    Column("工作进展", 50, "wrap"),
    Column("存在问题", 36, "wrap"),
    Column("下步计划", 36, "wrap"),
)
SORT_NAMES = {
    "item": "方案与编号",
    "plan": "方案名称",
    "unit": "责任单位",
    "status": "完成状态",
    "light": "预警",
    "percent": "进度",
    "due": "下一节点时限",
    "report": "最近报告日期",
    "board": "超期在前，再按下一节点时限",
}


def _chinese(group: str, codes: Iterable[str]) -> dict[str, str]:
    """The Chinese labels of codes, whatever the request's language."""
    with force_locale("zh"):
        return {code: str(label(group, code)) for code in codes}


def _leads(leads: list[tuple[str, str]]) -> str:
    return "、".join(
        name + ("（牵头考核）" if role == "lead_assessor" else "") for name, role in leads
    )


def ledger_rows(rows: Iterable[ExportRow]) -> Iterator[list[Any]]:
    """The ledger's cells row by row, in the column order of ``LEDGER_COLUMNS``."""
    statuses = _chinese("status", STATUS_ORDER)
    colors = _chinese("light", list(COLORS))
    reasons = _chinese("light_reason", list(COLOR_OF))
    for n, row in enumerate(rows, start=1):
        yield [
            n,
            row.plan,
            row.number,
            row.title,
            row.text,
            row.area,
            row.unit,
            _leads(row.leads),
            statuses.get(row.status, row.status),
            f"{colors[row.light]} · {reasons[row.light_reason]}",
            Decimal(row.percent) / 100,
            row.next_due,
            row.last_report_on,
            row.days_overdue,
            row.next_title,
            row.progress,
            row.problems,
            row.next_steps,
        ]


def ledger_xlsx(rows: Iterable[ExportRow], *, notes: list[tuple[str, str]]) -> bytes:
    """The ledger workbook as bytes (see ``ledger_xlsx_stream``)."""
    return b"".join(ledger_xlsx_stream(rows, notes=notes))


def ledger_xlsx_stream(
    rows: Iterable[ExportRow], *, notes: list[tuple[str, str]], sheet: str = LEDGER_SHEET
) -> Iterator[bytes]:
    """The ledger workbook in pieces: the table, then a sheet saying what was exported and when.

    Rows are zipped and sent as they are read (``taskhub.core.xlsx_stream``), so memory stays
    flat and the download starts at once, whatever the row count.
    """
    return stream_table(
        sheet, LEDGER_COLUMNS, ledger_rows(rows), notes_title=NOTES_SHEET, notes=notes
    )


def _now_text() -> str:
    now = local_time(now_utc())
    return f"{now.year}年{now.month}月{now.day}日 {now:%H:%M}"


def describe_filters(resolved: Resolved, *, viewer: User) -> list[tuple[str, str]]:
    """The filters in words, for the notes sheet (unnamed filters are left out)."""
    f = resolved.filters
    lines = [("导出时间", _now_text())]
    if visible_to(viewer) is not None:
        lines.append(("范围", f"仅本单位：{viewer.unit.name if viewer.unit else ''}"))
    lines.append(("方案", resolved.plan.title if resolved.plan else "全部方案"))
    if f.area_section_ids:
        top = db.session.get(Section, f.area_section_ids[0])
        if top is not None:
            lines.append(("所属领域", section_label(top.number, top.title)))
    for key, unit_id in (("责任单位", f.unit_id), ("牵头单位", f.lead_id)):
        if unit_id is not None:
            unit = db.session.get(Unit, unit_id)
            lines.append((key, unit.name if unit else f"#{unit_id}"))
    if f.view:
        lines.append(("显示", _chinese("view", [f.view])[f.view]))
    if f.status:
        lines.append(("完成状态", _chinese("status", [f.status])[f.status]))
    if f.light:
        lines.append(("预警", _chinese("light", [f.light])[f.light]))
    if f.due_from or f.due_to:
        start = _cn(f.due_from) if f.due_from else "不限"
        end = _cn(f.due_to) if f.due_to else "不限"
        lines.append(("下一节点时限", f"{start} 至 {end}"))
    lines.append(("排序", SORT_NAMES.get(f.sort, f.sort) + ("（降序）" if f.descending else "")))
    return lines


def _cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def ledger_file_names(
    plan: Plan | None, today: date, *, kind: str = LEDGER_SHEET, ascii_kind: str = "ledger"
) -> tuple[str, str]:
    """The Chinese file name and an ASCII one for clients without RFC 5987."""
    stamp = today.strftime("%Y%m%d")
    title = safe_file_name(plan.title) if plan else "全部方案"
    code = plan.code if plan else "all"
    return f"{title}_{kind}_{stamp}.xlsx", f"{code}_{ascii_kind}_{stamp}.xlsx"


# -- scores -------------------------------------------------------------------------------------


def scores_xlsx(
    plan: Plan,
    period: str,
    rows: list[Ranked],
    spec: EngineSpec,
    snapshot: Snapshot | None,
) -> bytes:
    """A period's ranking: rank, change, unit, total, each component and each area's score.

    Values are the exact totals (4 places) shown with the scheme's rounding, as on the page.
    """
    components = list(rows[0].components) if rows else []
    areas = list(rows[0].areas) if rows else []
    names = component_names(plan)
    columns = [
        Column("名次", 7, "integer"),
        Column("较上期", 9, "change"),
        Column("单位", 30, "wrap"),
        Column("总分", 10, "decimal"),
        *(Column(component_label(c, names), 12, "decimal") for c in components),
        *(Column(a, 14, "decimal") for a in areas),
    ]
    wb = new_workbook(decimals=spec.rounding)
    add_table(
        wb,
        "得分排名",
        columns,
        (
            [
                r.rank,
                r.change,
                r.unit_name,
                r.total,
                *(r.components.get(c) for c in components),
                *(r.areas.get(a) for a in areas),
            ]
            for r in rows
        ),
    )
    state = f"已关闭（第{snapshot.revision}版）" if snapshot else "未关闭，实时结果"
    add_notes(
        wb,
        NOTES_SHEET,
        [
            ("方案", plan.title),
            ("期次", period_label(period)),
            ("状态", state),
            ("保留小数", f"{spec.rounding} 位（单元格保存 4 位小数）"),
            ("导出时间", _now_text()),
        ],
    )
    return to_bytes(wb)


def scores_file_names(plan: Plan, period: str) -> tuple[str, str]:
    return (
        f"{safe_file_name(plan.title)}_{period_label(period)}_得分排名.xlsx",
        f"{plan.code}_{period}_scores.xlsx",
    )
