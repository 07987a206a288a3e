"""Bulletins (通报): a plan's period as the office publishes it, and its .xlsx and .docx files.

The ranking comes from taskhub.scoring.services.results (a closed period answers from its
snapshot, frozen); the progress counts are the tracking state on the day of issue.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Item, Plan
from taskhub.scoring import services as scoring
from taskhub.scoring.engine import display
from taskhub.scoring.labels import (
    AREA_PREFIX,
    COMPONENT_NAMES,
    component_label,
    declared_component_names,
    period_label,
)
from taskhub.scoring.models import Scheme
from taskhub.scoring.schemes import EngineSpec, engine_of, parse_period_code
from taskhub.tracking.lights import PACE_TOLERANCE
from taskhub.tracking.models import Assignment, AssignmentStatus, Milestone, MilestoneStatus
from taskhub.units.models import Unit

#: The issuing office when the plan's scheme names none (prefixed with the city's name).
DEFAULT_ISSUER = "数字政府建设工作专班"
#: How many units the movers lists name in each direction.
MOVERS = 3
STANDING_NAMES = {"ahead": "超进度", "on": "达进度", "behind": "欠进度"}
RANKING_HEADERS = ("名次", "较上期", "单位", "总分")
COUNT_HEADERS = ("已完成", "达进度", "欠进度", "超期")
OVERDUE_HEADERS = ("单位", "序号", "事项", "到期日期")
OVERDUE_SHEET = "超期事项"


# -- the data ------------------------------------------------------------------------------------


@dataclass
class BulletinRow:
    """One unit's line of the ranking table with its progress counts."""

    rank: int | None
    previous_rank: int | None
    change: int | None  #: places gained since the previous period (positive: moved up)
    unit_id: int
    unit: str
    total: Decimal  #: rounded for display by the scheme's rule
    components: dict[str, Decimal | None]
    completed: int = 0
    on_schedule: int = 0  #: open and keeping the time-elapsed pace
    behind: int = 0  #: open, not overdue, but trailing the time-elapsed pace
    overdue: int = 0
    #: Completed while a due date of theirs was still ahead (within ``completed``).
    early: int = 0

    @property
    def standing(self) -> str:
        """ahead (超进度), on (达进度) or behind (欠进度)."""
        if self.overdue or self.behind:
            return "behind"
        return "ahead" if self.early else "on"

    @property
    def change_label(self) -> str:
        return change_label(self.change)


@dataclass(frozen=True)
class OverdueItem:
    number: str
    title: str
    #: The earliest (extended) due date among the overdue milestones.
    due_on: date | None

    @property
    def label(self) -> str:
        due = f"（{date_cn(self.due_on)}到期）" if self.due_on else ""
        return f"{self.number}. {self.title}{due}"

    def __str__(self) -> str:
        return self.label


@dataclass
class Bulletin:
    plan_code: str
    plan_title: str
    city: str
    period_code: str
    period_label: str
    revision: int | None  #: the snapshot's revision; None while the period is open
    issued_on: date
    issuer: str
    title: str
    summary: str
    rows: list[BulletinRow]
    #: Unit names by standing, in ranking order.
    ahead: list[str]
    on: list[str]
    behind: list[str]
    overdue_by_unit: list[tuple[str, list[OverdueItem]]]
    movers_up: list[BulletinRow]
    movers_down: list[BulletinRow]
    #: (code, Chinese name) of the components, in the scheme's order.
    components: list[tuple[str, str]]
    rounding: int = 2
    closed_reason: str | None = None

    @property
    def is_final(self) -> bool:
        return self.revision is not None

    @property
    def meta_line(self) -> str:
        """Issuer, date and edition, as printed under the title."""
        edition = f"第{self.revision}版" if self.revision else "本期未关闭，排名为实时结果"
        return f"{self.issuer}　{date_cn(self.issued_on)}　（{edition}）"

    @property
    def number_format(self) -> str:
        return "0." + "0" * self.rounding if self.rounding > 0 else "0"

    @property
    def movers_text(self) -> str:
        return _movers_text(self)

    def standings(self) -> list[tuple[str, list[str]]]:
        return [(STANDING_NAMES[k], names) for k, names in self.standing_lists().items()]

    def standing_lists(self) -> dict[str, list[str]]:
        return {"ahead": self.ahead, "on": self.on, "behind": self.behind}


def date_cn(day: date) -> str:
    """2022年7月15日 (GB/T 9704 writes dates in Arabic numerals without leading zeros)."""
    return f"{day.year}年{day.month}月{day.day}日"


def change_label(change: int | None) -> str:
    """The rank change with an arrow and words (never the arrow alone)."""
    if change is None:
        return "—"
    if change > 0:
        return f"↑ 上升{change}位"
    if change < 0:
        return f"↓ 下降{-change}位"
    return "持平"


def behind_pace(percent: int, end: date | None, today: date, year_start: date) -> bool:
    """Reported percent trails the time-elapsed pace (序时进度), as in tracking.lights."""
    if end is None or not (end > year_start and today > year_start):
        return False
    elapsed = min(Fraction(1), Fraction((today - year_start).days, (end - year_start).days))
    return percent + PACE_TOLERANCE < elapsed * 100


def build_bulletin(plan: Plan, code: str, *, today: date | None = None) -> Bulletin:
    """The bulletin of a plan's period; ValidationFailed for a period the plan does not score."""
    today = today or office_today()
    code = code.strip()
    spec = engine_of(plan)
    kind, _, _ = parse_period_code(code)
    spec.rule_for(kind)  # a clear error before anything is computed
    ranked, snapshot = scoring.results(plan, code)
    counts = progress_counts(plan, today)
    rows = []
    for r in ranked:
        row = BulletinRow(
            rank=r.rank,
            previous_rank=r.previous_rank,
            change=r.change,
            unit_id=r.unit_id,
            unit=r.unit_name,
            total=display(r.total, spec.rounding),
            components={
                **{
                    k: display(v, spec.rounding) if v is not None else None
                    for k, v in r.components.items()
                },
                # Per-area scores (一、二、… of the plan) follow the components.
                **{f"{AREA_PREFIX}{k}": display(v, spec.rounding) for k, v in r.areas.items()},
            },
        )
        c = counts.get(r.unit_id)
        if c is not None:
            row.completed, row.on_schedule, row.behind, row.overdue, row.early = (
                c.completed,
                c.on_schedule,
                c.behind,
                c.overdue,
                c.early,
            )
        rows.append(row)
    definition = _definition(plan)
    label = period_label(code)
    lists: dict[str, list[str]] = {"ahead": [], "on": [], "behind": []}
    for row in rows:
        lists[row.standing].append(row.unit)
    up = sorted((r for r in rows if (r.change or 0) > 0), key=lambda r: (-(r.change or 0), r.unit))
    down = sorted((r for r in rows if (r.change or 0) < 0), key=lambda r: (r.change or 0, r.unit))
    bulletin = Bulletin(
        plan_code=plan.code,
        plan_title=plan.title,
        city=plan.city.name,
        period_code=code,
        period_label=label,
        revision=snapshot.revision if snapshot else None,
        issued_on=today,
        issuer=issuer_of(definition, plan.city.name),
        title=f"关于{label}《{plan.title}》考评情况的通报",
        summary="",
        rows=rows,
        ahead=lists["ahead"],
        on=lists["on"],
        behind=lists["behind"],
        overdue_by_unit=overdue_by_unit(plan, [r.unit_id for r in rows]),
        movers_up=up[:MOVERS],
        movers_down=down[:MOVERS],
        components=_components(spec, kind, rows, definition),
        rounding=spec.rounding,
        closed_reason=snapshot.reason if snapshot else None,
    )
    bulletin.summary = _summary(bulletin)
    return bulletin


def _definition(plan: Plan) -> dict[str, Any]:
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    return scheme.definition if scheme else {}


def issuer_of(definition: dict[str, Any], city: str) -> str:
    """The office the scheme names (issuer, office, assessor), in full; else the default."""
    for key in ("issuer", "office", "assessor"):
        name = definition.get(key)
        if isinstance(name, str) and name.strip():
            name = name.strip()
            # Documents say 市营商环境局; a bulletin read outside the city needs its name.
            return city + name[1:] if name.startswith("市") and city.endswith("市") else name
    return city + DEFAULT_ISSUER


def _components(
    spec: EngineSpec, kind: str, rows: list[BulletinRow], definition: dict[str, Any]
) -> list[tuple[str, str]]:
    # Order by the scheme, not by the rows' dicts: a snapshot's JSON may not keep key order.
    rule = spec.periods.get(kind)
    preferred = list(rule.composite) if rule else []
    if rule and rule.annual:
        preferred += ["year_end_total", "monthly_mean"]
    present = {k for r in rows for k in r.components}
    areas = [k for k in (rows[0].components if rows else {}) if k.startswith(AREA_PREFIX)]
    others = sorted(present - set(preferred) - set(areas))
    codes = [c for c in preferred if c in present] + others + areas
    names = {**COMPONENT_NAMES, **declared_component_names(definition)}
    return [(c, component_label(c, names)) for c in codes]


@dataclass
class Counts:
    completed: int = 0
    early: int = 0
    on_schedule: int = 0
    behind: int = 0
    overdue: int = 0


def progress_counts(plan: Plan, today: date) -> dict[int, Counts]:
    """Per unit: completed, overdue (flagged by the scan), behind the pace, and on schedule.

    One grouped query: assignments that share unit, status, flag, percent and last due date
    are one row, so the result stays small however many items a plan has.
    """
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    ends = (
        select(Milestone.assignment_id.label("aid"), func.max(due).label("end"))
        .group_by(Milestone.assignment_id)
        .subquery()
    )
    query = (
        select(
            Assignment.unit_id,
            Assignment.status,
            Assignment.is_overdue,
            Assignment.percent,
            ends.c.end,
            func.count(),
        )
        .join(Item, Item.id == Assignment.item_id)
        .outerjoin(ends, ends.c.aid == Assignment.id)
        .where(Item.plan_id == plan.id, ~Assignment.is_not_applicable)
        .group_by(
            Assignment.unit_id,
            Assignment.status,
            Assignment.is_overdue,
            Assignment.percent,
            ends.c.end,
        )
    )
    year_start = date(plan.year, 1, 1)
    result: dict[int, Counts] = defaultdict(Counts)
    for unit_id, status, is_overdue, percent, end, count in db.session.execute(query):
        c = result[unit_id]
        if status == AssignmentStatus.COMPLETED.value:
            c.completed += count
            if end is not None and end >= today:
                c.early += count
        elif is_overdue:
            c.overdue += count
        elif behind_pace(percent, end, today, year_start):
            c.behind += count
        else:
            c.on_schedule += count
    return dict(result)


def overdue_by_unit(plan: Plan, order: list[int]) -> list[tuple[str, list[OverdueItem]]]:
    """Overdue, unfinished items per unit: units in ``order`` first, items in plan order."""
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    first = (
        select(Milestone.assignment_id.label("aid"), func.min(due).label("due"))
        .where(Milestone.is_overdue, Milestone.status == MilestoneStatus.OPEN.value)
        .group_by(Milestone.assignment_id)
        .subquery()
    )
    query = (
        select(Unit.id, Unit.name, Item.number, Item.code, Item.title, Item.text, first.c.due)
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .outerjoin(first, first.c.aid == Assignment.id)
        .where(
            Item.plan_id == plan.id,
            Assignment.is_overdue,
            Assignment.status != AssignmentStatus.COMPLETED.value,
            ~Assignment.is_not_applicable,
        )
        .order_by(Item.position, Assignment.id)
    )
    names: dict[int, str] = {}
    items: dict[int, list[OverdueItem]] = defaultdict(list)
    for unit_id, unit_name, number, item_code, title, text, due_on in db.session.execute(query):
        names[unit_id] = unit_name
        items[unit_id].append(OverdueItem(number or item_code, _short(title or text), due_on))
    position = {uid: i for i, uid in enumerate(order)}
    units = sorted(items, key=lambda uid: (position.get(uid, len(order)), names[uid]))
    return [(names[uid], items[uid]) for uid in units]


def _short(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(rows: list[BulletinRow], limit: int = 3) -> str:
    """A、B、C, or A、B、C等12个单位 when there are more."""
    names = "、".join(r.unit for r in rows[:limit])
    return names if len(rows) <= limit else f"{names}等{len(rows)}个单位"


def _summary(b: Bulletin) -> str:
    """A short paragraph: how many units, highest and lowest, overdue and lagging items."""
    parts = []
    rows = b.rows
    if not rows:
        parts.append(f"{b.period_label}暂无考评结果。")
    else:
        totals = [r.total for r in rows]
        mean = display(sum(totals, Decimal(0)) / len(totals), b.rounding)
        high, low = max(totals), min(totals)
        parts.append(f"{b.period_label}共对{len(rows)}个单位进行考评，平均得分{mean}分。")
        if high == low:
            parts.append(f"各单位得分均为{high}分。")
        else:
            top = _names([r for r in rows if r.total == high])
            bottom = _names([r for r in rows if r.total == low])
            parts.append(f"{top}得分最高（{high}分），{bottom}得分最低（{low}分）。")
    overdue = sum(r.overdue for r in rows)
    overdue_units = sum(1 for r in rows if r.overdue)
    behind = sum(r.behind for r in rows)
    completed = sum(r.completed for r in rows)
    progress = f"截至{date_cn(b.issued_on)}，已完成事项{completed}项；"
    if overdue:
        progress += f"超期未完成事项{overdue}项，涉及{overdue_units}个单位；"
    else:
        progress += "无超期未完成事项；"
    progress += f"进度滞后于序时进度的事项{behind}项。" if behind else "其余事项均按序时进度推进。"
    parts.append(progress)
    if not b.is_final:
        parts.append("本期尚未关闭，排名为实时结果，仅供参考。")
    return "".join(parts)


# -- Excel ---------------------------------------------------------------------------------------


def bulletin_xlsx(b: Bulletin) -> bytes:
    """The ranking as a workbook (A4 landscape), with a second sheet of overdue items."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    from taskhub.core.xlsx import workbook_bytes

    wb = Workbook()
    _add_styles(wb, b.number_format)
    ws = wb.active
    assert ws is not None
    ws.title = "考评排名"
    headers = [*RANKING_HEADERS, *(name for _, name in b.components), *COUNT_HEADERS]
    width = len(headers)
    for row, text in ((1, b.title), (2, b.meta_line)):
        cell = ws.cell(row, 1, text)
        cell.alignment = Alignment(horizontal="center", vertical="center")
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    ws["A1"].font = Font(name="宋体", size=16, bold=True)
    ws.row_dimensions[1].height = 36
    ws.row_dimensions[2].height = 22
    _write_row(ws, 3, headers, ["bulletin_head"] * width)
    styles = [
        "bulletin_center",
        "bulletin_center",
        "bulletin_text",
        *(["bulletin_number"] * (1 + len(b.components))),  # 总分 and the components
        *(["bulletin_center"] * len(COUNT_HEADERS)),
    ]
    for row, r in enumerate(b.rows, start=4):
        values = [
            r.rank,
            r.change_label,
            r.unit,
            r.total,
            *(r.components.get(code) for code, _ in b.components),
            r.completed,
            r.on_schedule,
            r.behind,
            r.overdue,
        ]
        _write_row(ws, row, values, styles)
    widths = [6, 12, 30, 10, *(12 for _ in b.components), 8, 8, 8, 8]
    for col, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = w
    ws.freeze_panes = "D4"  # the header row and the rank, change and unit columns stay
    _print_setup(ws, title_rows="3:3")

    sheet = wb.create_sheet(OVERDUE_SHEET)
    _write_row(sheet, 1, list(OVERDUE_HEADERS), ["bulletin_head"] * len(OVERDUE_HEADERS))
    styles = ["bulletin_text", "bulletin_center", "bulletin_text", "bulletin_date"]
    row = 1
    for unit, items in b.overdue_by_unit:
        for item in items:
            row += 1
            _write_row(sheet, row, [unit, item.number, item.title, item.due_on], styles)
    for col, w in enumerate((30, 8, 60, 14), start=1):
        sheet.column_dimensions[get_column_letter(col)].width = w
    sheet.freeze_panes = "A2"
    _print_setup(sheet, title_rows="1:1")
    return workbook_bytes(wb)


def _add_styles(wb: Any, number_format: str) -> None:
    """Named cell styles: setting one name per cell is far cheaper than four style parts."""
    from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side

    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    wb.add_named_style(
        NamedStyle(
            "bulletin_head",
            font=Font(bold=True),
            fill=PatternFill("solid", fgColor="EAEFF5"),
            alignment=center,
            border=border,
        )
    )
    wb.add_named_style(NamedStyle("bulletin_text", border=border))
    wb.add_named_style(NamedStyle("bulletin_center", border=border, alignment=center))
    wb.add_named_style(
        NamedStyle(
            "bulletin_number",
            border=border,
            number_format=number_format,
            alignment=Alignment(horizontal="right"),
        )
    )
    wb.add_named_style(NamedStyle("bulletin_date", border=border, number_format="yyyy-mm-dd"))


def _write_row(ws: Any, row: int, values: list[Any], styles: list[str]) -> None:
    # Cells by coordinates: ws.append and ws[row] scan the whole sheet on each call.
    for col, (value, style) in enumerate(zip(values, styles, strict=True), start=1):
        ws.cell(row, col, value).style = style


def _print_setup(ws: Any, *, title_rows: str) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.print_title_rows = title_rows
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


# -- Word ----------------------------------------------------------------------------------------

#: GB/T 9704-2012 fonts: title in 小标宋 (2号, 22 pt), body in 仿宋 (3号, 16 pt).
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
PAGE_NUMBER_FONT = "宋体"
#: 22 lines in the 225 mm type area.
LINE_PITCH_PT = 28.95
CN_NUMERALS = "一二三四五六七八九十"


def cn_ordinal(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 21 → 二十一 (up to 99), for 一、 and （一） headings."""
    if n <= 10:
        return CN_NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    head = ("" if tens == 1 else CN_NUMERALS[tens - 1]) + "十"
    return head + (CN_NUMERALS[ones - 1] if ones else "")


def docx_available() -> bool:
    try:
        import docx  # noqa: F401
    except ImportError:
        return False
    return True


def bulletin_docx(b: Bulletin) -> bytes | None:
    """The bulletin as a Word document in GB/T 9704 layout; None without python-docx."""
    try:
        from docx import Document
        from docx.enum.style import WD_STYLE_TYPE
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
        from docx.shared import Mm, Pt
    except ImportError:
        return None

    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    # The page number sits 7 mm below the type area.
    section.footer_distance = Mm(23)

    normal = document.styles["Normal"]
    _set_font(normal.element, BODY_FONT, 16)
    body = normal.paragraph_format
    body.line_spacing = Pt(LINE_PITCH_PT)  # a Length: exact spacing
    body.first_line_indent = Pt(32)  # two characters
    body.space_before = body.space_after = Pt(0)

    cell_style = document.styles.add_style("Bulletin Table", WD_STYLE_TYPE.PARAGRAPH)
    cell_style.base_style = normal
    _set_font(cell_style.element, BODY_FONT, 10.5)
    cell_format = cell_style.paragraph_format
    cell_format.first_line_indent = Pt(0)
    cell_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    cell_format.alignment = WD_ALIGN_PARAGRAPH.CENTER

    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.first_line_indent = Pt(0)
    title.paragraph_format.line_spacing = Pt(35)
    _set_font(title.add_run(b.title)._element, TITLE_FONT, 22)
    meta = document.add_paragraph(b.meta_line)
    meta.alignment = WD_ALIGN_PARAGRAPH.CENTER
    meta.paragraph_format.first_line_indent = Pt(0)
    document.add_paragraph()

    def heading(number: int, text: str) -> None:
        p = document.add_paragraph()
        _set_font(p.add_run(f"{cn_ordinal(number)}、{text}")._element, HEADING_FONT, 16)

    heading(1, "总体情况")
    document.add_paragraph(b.summary)

    heading(2, "考评排名")
    headers = [*RANKING_HEADERS, *(name for _, name in b.components), *COUNT_HEADERS]
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.paragraphs[0].style = cell_style
        cell.paragraphs[0].add_run(text).bold = True
    for r in b.rows:
        values = [
            "" if r.rank is None else str(r.rank),
            r.change_label,
            r.unit,
            str(r.total),
            *(_shown(r.components.get(code)) for code, _ in b.components),
            str(r.completed),
            str(r.on_schedule),
            str(r.behind),
            str(r.overdue),
        ]
        for cell, text in zip(table.add_row().cells, values, strict=True):
            cell.paragraphs[0].style = cell_style
            cell.paragraphs[0].add_run(text)
    _repeat_header(table.rows[0])

    heading(3, "进度情况")
    for name, units in b.standings():
        listed = "、".join(units) if units else "无"
        document.add_paragraph(f"{name}单位（{len(units)}个）：{listed}。")

    heading(4, "超期事项")
    if not b.overdue_by_unit:
        document.add_paragraph("本期无超期未完成事项。")
    for n, (unit, items) in enumerate(b.overdue_by_unit, start=1):
        listed = "；".join(i.label for i in items)
        document.add_paragraph(f"（{cn_ordinal(n)}）{unit}（{len(items)}项）：{listed}。")

    heading(5, "排名变化")
    document.add_paragraph(_movers_text(b))

    _page_numbers(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _shown(value: Decimal | None) -> str:
    return "—" if value is None else str(value)


def _movers_text(b: Bulletin) -> str:
    if all(r.previous_rank is None for r in b.rows):
        return "上期无排名，本期不作比较。"
    up = "、".join(f"{r.unit}（{r.change_label[2:]}）" for r in b.movers_up) or "无"
    down = "、".join(f"{r.unit}（{r.change_label[2:]}）" for r in b.movers_down) or "无"
    return f"排名上升较快的单位：{up}。排名下降较多的单位：{down}。"


def _set_font(element: Any, name: str, size: float) -> None:
    """Set a run's or style's font and size for Latin and East Asian text alike."""
    from docx.oxml.ns import qn

    rpr = element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), name)
    # Theme fonts would win over the names set above.
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    rpr.get_or_add_sz().set(qn("w:val"), str(round(size * 2)))  # half-points


def _repeat_header(row: Any) -> None:
    """The header row repeats on every page the table spans."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    marker = OxmlElement("w:tblHeader")
    marker.set(qn("w:val"), "true")
    tr_pr.append(marker)


def _page_numbers(document: Any) -> None:
    """— 1 — in 4号 宋体 at the foot: odd pages right, even pages left, one character in."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document.settings.odd_and_even_pages_header_footer = True
    section = document.sections[0]
    for footer, align in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        p = footer.paragraphs[0]
        p.alignment = align
        p.paragraph_format.first_line_indent = Pt(0)
        p.paragraph_format.left_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.LEFT else Pt(0)
        p.paragraph_format.right_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.RIGHT else Pt(0)
        parts: list[tuple[str, str | None]] = [
            ("text", "— "),
            ("begin", None),
            ("instr", " PAGE "),
            ("separate", None),
            ("text", "1"),
            ("end", None),
            ("text", " —"),
        ]
        for kind, text in parts:
            run = p.add_run(text if kind == "text" else None)
            _set_font(run._element, PAGE_NUMBER_FONT, 14)
            if kind == "instr":
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = text
                run._element.append(instr)
            elif kind != "text":
                mark = OxmlElement("w:fldChar")
                mark.set(qn("w:fldCharType"), kind)
                run._element.append(mark)
