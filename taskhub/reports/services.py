"""Bulletins (通报): a plan's period as the office publishes it, and its .xlsx and .docx files.

The ranking comes from taskhub.scoring.services.results (a closed period answers from its
snapshot, frozen); the progress counts are the tracking state on the day of issue.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import case, func, select

from taskhub.cadence.services import UnitRate, unit_rates
from taskhub.core.db import db
from taskhub.core.timeutil import office_today, office_zone
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
from taskhub.scoring.models import Period, Scheme
from taskhub.scoring.schemes import EngineSpec, engine_of, parse_period_code
from taskhub.tracking.lights import PACE_TOLERANCE
from taskhub.tracking.models import Assignment, AssignmentStatus, Milestone, MilestoneStatus
from taskhub.units.models import Unit

#: The issuing office when the plan's scheme names none (prefixed with the city's name).
DEFAULT_ISSUER = "数字政府建设工作专班"
#: How many units the movers lists name in each direction.
MOVERS = 3
#: How many of a unit's overdue items the bulletin names (the most overdue); the rest are in
#: the attached workbook.
OVERDUE_SHOWN = 3
#: Characters of an item's title in the bulletin's overdue summary.
SUMMARY_TITLE = 18
#: The attachment line of the Word bulletin.
ATTACHMENT_NOTE = "附件：逾期事项清单（另附 Excel）"
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
    #: 报送率 in percent under the plan's reporting cadence (taskhub.cadence); None: none owed.
    reporting_rate: Decimal | None = None
    #: Tasks settled (办结/销号: completed) within the period, up to the day of issue.
    settled: int = 0

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
    #: The item's full text (title: shortened for a line of the bulletin).
    text: str = ""
    #: The overdue milestone that fell due first (its title, or its kind in words).
    milestone: str = ""
    #: Days past ``due_on`` on the bulletin's day of issue.
    days: int = 0

    @property
    def label(self) -> str:
        due = f"（{date_cn(self.due_on)}到期）" if self.due_on else ""
        return f"{self.number}. {self.title}{due}"

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class UnitOverdue:
    """One unit's overdue items as the bulletin summarises them: how many, the worst few."""

    unit: str
    count: int
    worst: list[OverdueItem]
    oldest_days: int

    def labels(self, title_chars: int = SUMMARY_TITLE) -> list[str]:
        """12. 推进… for each named item; its days only when fewer than the unit's longest
        (which the summary states once)."""
        return [
            f"{i.number}. {_short(i.title, title_chars)}"
            + (f"（{i.days}天）" if 0 < i.days < self.oldest_days else "")
            for i in self.worst
        ]


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
    #: The document number (文号) the office gave the period's bulletin.
    doc_number: str | None = None
    #: 报送率 per unit under the plan's reporting cadence, best first (taskhub.cadence).
    reporting_rates: list[UnitRate] = field(default_factory=list)

    @property
    def reporting_rate_line(self) -> str:
        """One sentence on 报送率 per unit (empty when no report was owed)."""
        owed = [r for r in self.reporting_rates if r.due]
        if not owed:
            return ""
        rates = "、".join(f"{r.unit_name}{r.rate}%" for r in owed)
        missing = sum(r.missing for r in self.reporting_rates)
        tail = f"当前未按时报送任务{missing}项。" if missing else "当前无未按时报送任务。"
        return f"按周期报送进展情况（报送率）：{rates}。{tail}"

    #: Escalation notices (督办单) per unit, in ranking order: (unit, {level name: count}),
    #: withdrawn ones left out (taskhub.supervision).
    escalations: list[tuple[str, dict[str, int]]] = field(default_factory=list)

    @property
    def escalation_text(self) -> str:
        """本方案共发出督办单5件（催办3件、督办2件），涉及2个单位：…"""
        return escalation_text(self.escalations)

    @property
    def settled_text(self) -> str:
        """本期办结（销号）任务5项，涉及2个单位：… (empty when none was settled)."""
        return settled_text(self.period_label, [(r.unit, r.settled) for r in self.rows])

    @property
    def overdue_summary(self) -> list[UnitOverdue]:
        """Per unit with overdue items, in ranking order: the count and the most overdue."""
        return [summarise_overdue(unit, items) for unit, items in self.overdue_by_unit]

    @property
    def overdue_total(self) -> int:
        return sum(len(items) for _, items in self.overdue_by_unit)

    @property
    def scores(self) -> list[tuple[str, str]]:
        """The scheme's components (not the per-area scores): the ranking table's columns."""
        return [(c, n) for c, n in self.components if not c.startswith(AREA_PREFIX)]

    @property
    def areas(self) -> list[tuple[str, str]]:
        """The per-area scores (一、二、… of the plan): the second table's columns."""
        return [(c, n) for c, n in self.components if c.startswith(AREA_PREFIX)]

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
    reporting = unit_rates([plan.id], today)
    rate_of = {r.unit_id: r.rate for r in reporting}
    _, starts_on, ends_on = parse_period_code(code)
    settled = settled_by_unit(plan, starts_on, min(ends_on, today))
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
        row.reporting_rate = rate_of.get(r.unit_id)
        row.settled = settled.get(r.unit_id, 0)
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
        overdue_by_unit=overdue_by_unit(plan, [r.unit_id for r in rows], today=today),
        movers_up=up[:MOVERS],
        movers_down=down[:MOVERS],
        components=_components(spec, kind, rows, definition),
        rounding=spec.rounding,
        closed_reason=snapshot.reason if snapshot else None,
        doc_number=_doc_number(plan, code),
        reporting_rates=reporting,
        escalations=_escalations(plan, rows),
    )
    bulletin.summary = _summary(bulletin)
    return bulletin


def _escalations(plan: Plan, rows: list[BulletinRow]) -> list[tuple[str, dict[str, int]]]:
    from taskhub.supervision.services import counts_by_unit

    counts = counts_by_unit(plan.id)
    return [(r.unit, counts[r.unit_id]) for r in rows if r.unit_id in counts]


def escalation_text(escalations: list[tuple[str, dict[str, int]]]) -> str:
    """The escalation notices in one sentence; empty when there are none."""
    if not escalations:
        return ""
    by_level: dict[str, int] = {}
    for _unit, levels in escalations:
        for name, n in levels.items():
            by_level[name] = by_level.get(name, 0) + n
    total = sum(by_level.values())
    levels_text = "、".join(f"{name}{n}件" for name, n in by_level.items())
    units = "；".join(f"{unit}{sum(levels.values())}件" for unit, levels in escalations)
    return f"本方案共发出督办单{total}件（{levels_text}），涉及{len(escalations)}个单位：{units}。"


def settled_by_unit(plan: Plan, starts_on: date, ends_on: date) -> dict[int, int]:
    """Per unit: tasks settled (办结/销号, completed) from ``starts_on`` to ``ends_on`` (office
    days, both included): one grouped query."""
    zone = office_zone()
    start = datetime.combine(starts_on, time(0), zone).astimezone(UTC)
    end = datetime.combine(ends_on + timedelta(days=1), time(0), zone).astimezone(UTC)
    query = (
        select(Assignment.unit_id, func.count())
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Item.plan_id == plan.id,
            ~Assignment.is_not_applicable,
            Assignment.status == AssignmentStatus.COMPLETED.value,
            Assignment.completed_at >= start,
            Assignment.completed_at < end,
        )
        .group_by(Assignment.unit_id)
    )
    return {unit_id: int(n) for unit_id, n in db.session.execute(query)}


def settled_text(period: str, per_unit: list[tuple[str, int]]) -> str:
    """The tasks settled in the period in one sentence, units in ranking order (named when six
    or fewer, else the unit with most); empty when none."""
    found = [(unit, n) for unit, n in per_unit if n]
    if not found:
        return ""
    total = sum(n for _, n in found)
    head = f"{period}办结（销号）任务{total}项，涉及{len(found)}个单位"
    if len(found) <= 6:
        return head + "：" + "、".join(f"{unit}{n}项" for unit, n in found) + "。"
    unit, most = max(found, key=lambda f: f[1])
    return head + f"，其中{unit}最多（{most}项）。"


def _doc_number(plan: Plan, code: str) -> str | None:
    return db.session.scalar(
        select(Period.doc_number).where(Period.plan_id == plan.id, Period.code == code)
    )


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
    """Per unit: completed, overdue, behind the pace, and on schedule, as of ``today``.

    Overdue is ``Assignment.overdue_on(today)``, from the dates at read time as on the
    dashboard and the ledger, not the nightly scan's flag: a plan published with past dates is
    in the bulletin at once. One grouped query: assignments that share unit, status, overdue,
    percent and last due date are one row, so the result stays small however many items a
    plan has.
    """
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    ends = (
        select(Milestone.assignment_id.label("aid"), func.max(due).label("end"))
        .group_by(Milestone.assignment_id)
        .subquery()
    )
    overdue = case((Assignment.overdue_on(today), 1), else_=0)
    query = (
        select(
            Assignment.unit_id,
            Assignment.status,
            overdue,
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
            overdue,
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


#: A milestone's kind in words, for milestones without a title of their own.
MILESTONE_KINDS = {
    "stage": "取得阶段性成效",
    "notable": "取得明显成效",
    "complete": "完成",
    "checkpoint": "持续推进检查",
    "step": "进度节点",
}


def overdue_by_unit(
    plan: Plan, order: list[int], *, today: date | None = None
) -> list[tuple[str, list[OverdueItem]]]:
    """Overdue, unfinished items per unit: units in ``order`` first, items in plan order.

    Overdue as of ``today`` from the dates (``Assignment.overdue_on``, as the dashboard and
    the ledger count), not the nightly scan's flags. An item's due date is that of its open
    milestone that fell due first (extended if so); its days overdue count from there to
    ``today``.
    """
    today = today or office_today()
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    query = (
        select(
            Assignment.id,
            Unit.id,
            Unit.name,
            Item.number,
            Item.code,
            Item.title,
            Item.text,
            Milestone.title,
            Milestone.kind,
            due,
        )
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .outerjoin(
            Milestone,
            (Milestone.assignment_id == Assignment.id)
            & (due < today)
            & (Milestone.status == MilestoneStatus.OPEN.value),
        )
        .where(
            Item.plan_id == plan.id,
            Assignment.overdue_on(today),
            ~Assignment.is_not_applicable,
        )
        .order_by(Item.position, Assignment.id, due)
    )
    names: dict[int, str] = {}
    items: dict[int, list[OverdueItem]] = defaultdict(list)
    seen: set[int] = set()
    for (
        aid,
        unit_id,
        unit_name,
        number,
        item_code,
        title,
        text,
        m_title,
        kind,
        due_on,
    ) in db.session.execute(query):
        if aid in seen:  # a later overdue milestone of the same item
            continue
        seen.add(aid)
        names[unit_id] = unit_name
        full = " ".join((text or title or "").split())
        items[unit_id].append(
            OverdueItem(
                number=number or item_code,
                title=_short(title or text),
                due_on=due_on,
                text=full,
                milestone=m_title or MILESTONE_KINDS.get(kind or "", kind or ""),
                days=max(0, (today - due_on).days) if due_on else 0,
            )
        )
    position = {uid: i for i, uid in enumerate(order)}
    units = sorted(items, key=lambda uid: (position.get(uid, len(order)), names[uid]))
    return [(names[uid], items[uid]) for uid in units]


def summarise_overdue(
    unit: str, items: list[OverdueItem], shown: int = OVERDUE_SHOWN
) -> UnitOverdue:
    """The count and the ``shown`` most overdue items (ties in plan order)."""
    order = sorted(range(len(items)), key=lambda i: (-items[i].days, i))
    worst = [items[i] for i in order[:shown]]
    return UnitOverdue(unit, len(items), worst, worst[0].days if worst else 0)


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


OVERDUE_LIST_SHEET = "逾期事项清单"


def overdue_xlsx(b: Bulletin) -> bytes:
    """The bulletin's attachment: every overdue item of every unit, one row each, streamed
    (write-only workbook): unit, plan, item number and text, milestone, due date, days."""
    from taskhub.core.xlsx import Column, add_notes, add_table, new_workbook, workbook_bytes

    wb = new_workbook(decimals=0)
    columns = [
        Column("单位", 28),
        Column("计划", 30, "wrap"),
        Column("序号", 8, "center"),
        Column("事项", 60, "wrap"),
        Column("逾期节点", 20, "wrap"),
        Column("到期日期", 16, "date"),
        Column("逾期天数", 10, "integer"),
    ]
    rows = (
        (unit, b.plan_title, i.number, i.text or i.title, i.milestone, i.due_on, i.days)
        for unit, items in b.overdue_by_unit
        for i in items
    )
    add_table(wb, OVERDUE_LIST_SHEET, columns, rows)
    add_notes(
        wb,
        "说明",
        [
            ("通报", b.title),
            ("文号", b.doc_number or "（未编号）"),
            ("统计日期", date_cn(b.issued_on)),
            ("逾期事项", f"{b.overdue_total}项，涉及{len(b.overdue_by_unit)}个单位"),
            ("逾期天数", "自最早逾期节点的到期日（含延期后的日期）起算至统计日期"),
        ],
    )
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

CN_NUMERALS = "一二三四五六七八九十"


def cn_ordinal(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 21 → 二十一 (up to 99), for 一、 and （一） headings."""
    if n <= 10:
        return CN_NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    head = ("" if tens == 1 else CN_NUMERALS[tens - 1]) + "十"
    return head + (CN_NUMERALS[ones - 1] if ones else "")


def docx_available() -> bool:
    """Whether python-docx is installed, without importing it (some 7 MiB a web worker that
    only shows bulletin pages need not load; issue 17)."""
    return importlib.util.find_spec("docx") is not None


def bulletin_docx(b: Bulletin) -> bytes | None:
    """The bulletin as a Word document in GB/T 9704 layout; None without python-docx."""
    if not docx_available():
        return None
    from taskhub.reports import word

    return word.bulletin_docx(b)


def shown(value: Decimal | None) -> str:
    return "—" if value is None else str(value)


def _movers_text(b: Bulletin) -> str:
    if all(r.previous_rank is None for r in b.rows):
        return "上期无排名，本期不作比较。"
    up = "、".join(f"{r.unit}（{r.change_label[2:]}）" for r in b.movers_up) or "无"
    down = "、".join(f"{r.unit}（{r.change_label[2:]}）" for r in b.movers_down) or "无"
    return f"排名上升较快的单位：{up}。排名下降较多的单位：{down}。"
