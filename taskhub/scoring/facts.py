"""Score components computed from the supervision facts: 报送率 and escalation notices (督办单).

A scheme declares them under ``scheme.engine.computed`` and weighs them in a period's
``composite`` like any other component::

    computed:
      reporting:                # 未按时报送的，每次扣0.5分，扣完为止
        fact: reporting_rate
        name: 按时报送
        points: 5
        rule: per_missed
        deduct: "0.5"
      supervised:               # 被督办的每次扣1分（催办0.5分）
        fact: escalations
        name: 督办扣分
        points: 5
        deduct: {urge: "0.5", supervise: "1", interview: "2"}

The roll-up reads each fact with one grouped query for the whole plan (per unit: reports owed
and made in the period's closed reporting windows; notices per level issued in the period), and
the explanation lists the events (the missed reports and the notices, with their dates) for the
units explained. The arithmetic is exact (rationals) and pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from gmpy2 import mpq
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Item, Plan
from taskhub.supervision.models import Escalation, EscalationLevel, EscalationState
from taskhub.tracking.models import Assignment

FACTS = {"reporting_rate": "报送率", "escalations": "督办单"}
REPORTING_RULES = {"linear": "按报送率折算", "per_missed": "按未报送次数扣分"}
#: A component's name when the scheme gives none.
DEFAULT_NAMES = {"reporting_rate": "按时报送", "escalations": "督办扣分"}
#: An explanation lists at most this many events per component (the rest are counted).
DETAILS_SHOWN = 60


@dataclass(frozen=True)
class FactComponent:
    """One component computed from a supervision fact, as the scheme declares it."""

    key: str
    fact: str
    name: str
    #: Full points; None for a pure deduction (扣分项: the value is minus the deduction).
    points: Fraction | None
    rule: str = "linear"
    #: linear: the rate (percent) that earns full points.
    full_at: Fraction = Fraction(100)
    #: per_missed: points per missed report.
    deduct: Fraction = Fraction(0)
    #: escalations: points per notice, by level code ("*": every level not listed).
    deduct_by_level: dict[str, Fraction] = field(default_factory=dict)
    max_deduction: Fraction | None = None
    #: No report owed (no cadence, or none due in the period): "full" points or "none".
    if_not_owed: str = "full"

    def level_deduction(self, code: str) -> Fraction:
        return self.deduct_by_level.get(code, self.deduct_by_level.get("*", Fraction(0)))


# -- the declaration ------------------------------------------------------------------------------


def _number(value: Any, where: str, problems: list[str], *, positive: bool = False) -> Fraction:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        problems.append(f"{where} 应为数字，而不是 {value!r}")
        return Fraction(0)
    if number < 0 or (positive and number == 0):
        problems.append(f"{where} 应{'大于' if positive else '不小于'} 0，而不是 {value}")
    return number


def parse(
    raw: Any, engine: Mapping[str, Any] | None = None
) -> tuple[dict[str, FactComponent], list[str]]:
    """The computed components of ``scheme.engine.computed``, and the problems in Chinese."""
    problems: list[str] = []
    if raw is None:
        return {}, problems
    base = "scheme.engine.computed"
    if not isinstance(raw, dict):
        return {}, [f"{base} 应为“分项代码: 定义”的映射"]
    engine = engine or {}
    entered: set[str] = set()
    used: set[str] = set()
    for rule in (engine.get("periods") or {}).values():
        if isinstance(rule, dict):
            entered |= set(rule.get("entered") or ())
            used |= set((rule.get("composite") or {}).keys())
    found: dict[str, FactComponent] = {}
    for key, spec in raw.items():
        where = f"{base}.{key}"
        if not isinstance(spec, dict):
            problems.append(f"{where} 应为映射（fact、points、rule、deduct…）")
            continue
        fact = spec.get("fact")
        if fact not in FACTS:
            problems.append(
                f"{where}.fact 应为 reporting_rate（报送率）或 escalations（督办单），"
                f"而不是 {fact!r}"
            )
            continue
        if key in entered:
            problems.append(f"{where}：分项“{key}”已列为录入分项（entered），不能同时由系统计算")
        if key == engine.get("items_component"):
            problems.append(f"{where}：分项“{key}”已是事项完成分项（items_component）")
        if used and key not in used:
            problems.append(f"{where}：分项“{key}”未出现在任何考评周期的 composite 中，不会计分")
        known = {
            "fact",
            "name",
            "points",
            "rule",
            "full_at",
            "deduct",
            "max_deduction",
            "if_not_owed",
        }
        for unknown in sorted(set(spec) - known, key=str):
            problems.append(f"{where}：不认识的设置“{unknown}”（可用：{'、'.join(sorted(known))}）")
        name = spec.get("name") or DEFAULT_NAMES[fact]
        if not isinstance(name, str):
            problems.append(f"{where}.name 应为文字")
            name = DEFAULT_NAMES[fact]
        points = (
            _number(spec["points"], f"{where}.points", problems)
            if spec.get("points") is not None
            else None
        )
        max_deduction = (
            _number(spec["max_deduction"], f"{where}.max_deduction", problems)
            if spec.get("max_deduction") is not None
            else None
        )
        if_not_owed = spec.get("if_not_owed", "full")
        if if_not_owed not in ("full", "none"):
            problems.append(
                f"{where}.if_not_owed 应为 full（无应报送时按满分计）或 none（不计分），"
                f"而不是 {if_not_owed!r}"
            )
        component = FactComponent(
            key=key,
            fact=fact,
            name=name,
            points=points,
            max_deduction=max_deduction,
            if_not_owed=str(if_not_owed),
        )
        if fact == "reporting_rate":
            rule = spec.get("rule", "linear")
            if rule not in REPORTING_RULES:
                problems.append(
                    f"{where}.rule 应为 linear（按报送率折算）或 per_missed（每次未按时报送扣分），"
                    f"而不是 {rule!r}"
                )
                continue
            if rule == "linear":
                if points is None:
                    problems.append(f"{where}：按报送率折算（linear）须写明满分 points")
                full_at = _number(
                    spec.get("full_at", 100), f"{where}.full_at", problems, positive=True
                )
                if full_at > 100:
                    problems.append(f"{where}.full_at 是满分所需的报送率（%），应在 0 至 100 之间")
                if "deduct" in spec:
                    problems.append(
                        f"{where}：按报送率折算（linear）不扣分，请删去 deduct 或改用 per_missed"
                    )
                component = _replace(component, rule=rule, full_at=full_at)
            else:
                if "deduct" not in spec:
                    problems.append(
                        f'{where}：每次未按时报送扣分（per_missed）须写明 deduct，如 "0.5"'
                    )
                deduct = _number(spec.get("deduct", 0), f"{where}.deduct", problems, positive=True)
                component = _replace(component, rule=rule, deduct=deduct)
        else:
            raw_deduct = spec.get("deduct")
            if raw_deduct is None:
                problems.append(
                    f"{where}：督办单扣分须写明 deduct（每件扣分，或按级别："
                    '{urge: "0.5", supervise: "1"}）'
                )
                continue
            levels = raw_deduct if isinstance(raw_deduct, dict) else {"*": raw_deduct}
            by_level = {
                str(code): _number(v, f"{where}.deduct.{code}", problems)
                for code, v in levels.items()
            }
            component = _replace(component, rule="per_notice", deduct_by_level=by_level)
        found[key] = component
    return found, problems


def _replace(c: FactComponent, **changes: Any) -> FactComponent:
    return replace(c, **changes)


def problems_of(engine: Any) -> list[str]:
    """Problems of a scheme engine's computed components (for the seed loader)."""
    if not isinstance(engine, dict):
        return []
    return parse(engine.get("computed"), engine)[1]


# -- the arithmetic (pure) ------------------------------------------------------------------------


def _deducted(points: Fraction | None, deduction: Fraction, cap: Fraction | None) -> Fraction:
    """Points less the deduction, down to zero (扣完为止); without points, minus the deduction
    (a 扣分项), at most ``cap``."""
    if cap is not None:
        deduction = min(deduction, cap)
    if points is None:
        return -deduction
    return max(Fraction(0), points - deduction)


def reporting_value(c: FactComponent, due: int, reported: int) -> Fraction | None:
    """The 报送率 component's value for ``due`` reports owed, ``reported`` made in time."""
    if due <= 0:  # nothing owed: full points (no deduction) or not counted
        if c.if_not_owed != "full":
            return None
        return c.points if c.points is not None else Fraction(0)
    if c.rule == "per_missed":
        return _deducted(c.points, c.deduct * (due - reported), c.max_deduction)
    assert c.points is not None
    return c.points * min(Fraction(1), Fraction(reported, due) * 100 / c.full_at)


def escalation_value(c: FactComponent, counts: Mapping[str, int]) -> Fraction:
    """The notices' component: its points less the deduction per notice by level."""
    deduction = sum((c.level_deduction(code) * n for code, n in counts.items()), Fraction(0))
    return _deducted(c.points, deduction, c.max_deduction)


# -- the facts (one grouped query each) -----------------------------------------------------------


@dataclass
class FactValue:
    value: Fraction | None
    source: str  #: supervision | not_applicable
    fraction: Fraction | None = None
    details: list[str] = field(default_factory=list)


def _cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _amount(value: Fraction) -> str:
    text = f"{Decimal(value.numerator) / Decimal(value.denominator):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(value: Fraction) -> str:
    text = f"{Decimal(value.numerator * 100) / Decimal(value.denominator):.1f}"
    return text.rstrip("0").rstrip(".") + "%"


def values(
    plan: Plan,
    starts_on: date,
    ends_on: date,
    components: Mapping[str, FactComponent],
    units: Mapping[int, str],
    *,
    explain: bool,
    unit_id: int | None = None,
    today: date | None = None,
) -> dict[str, dict[int, FactValue]]:
    """Each computed component's value per unit for the period, with the events when
    ``explain`` (the missed reports and the notices, dated)."""
    today = today or office_today()
    out: dict[str, dict[int, FactValue]] = {}
    wanted = {c.fact for c in components.values()}
    rates = (
        _reporting(plan, starts_on, ends_on, today, unit_id, explain)
        if "reporting_rate" in wanted
        else None
    )
    notices = (
        _escalations(plan, starts_on, ends_on, unit_id, explain)
        if "escalations" in wanted
        else None
    )
    for key, c in components.items():
        per_unit: dict[int, FactValue] = {}
        for uid in units:
            if c.fact == "reporting_rate":
                assert rates is not None
                per_unit[uid] = _reporting_value(c, rates, uid)
            else:
                assert notices is not None
                per_unit[uid] = _escalation_value(c, notices, uid)
        out[key] = per_unit
    return out


@dataclass
class _Reporting:
    has_cadence: bool
    counts: dict[int, tuple[int, int]]
    misses: dict[int, list[tuple[date, str]]]


def _reporting(
    plan: Plan, starts_on: date, ends_on: date, today: date, unit_id: int | None, explain: bool
) -> _Reporting:
    from taskhub.cadence import services as cadence

    if not cadence.has_cadence(plan):
        return _Reporting(False, {}, {})
    counts = cadence.period_rates(plan, starts_on, ends_on, today, unit_id=unit_id)
    misses: dict[int, list[tuple[date, str]]] = defaultdict(list)
    if explain:
        found = cadence.period_misses(plan, starts_on, ends_on, today, unit_id=unit_id)
        labels = _item_labels({aid for _, aid, _ in found})
        for uid, aid, due_on in found:
            misses[uid].append((due_on, labels.get(aid, "")))
    return _Reporting(True, counts, misses)


def _item_labels(assignment_ids: set[int]) -> dict[int, str]:
    if not assignment_ids:
        return {}
    rows = select(Assignment.id, Item.number, Item.title, Item.text).join(
        Item, Item.id == Assignment.item_id
    )
    out = {}
    for aid, number, title, text in db.session.execute(
        rows.where(Assignment.id.in_(list(assignment_ids)))
    ):
        name = (title or text or "")[:20]
        out[aid] = f"事项{number} {name}".strip() if number else name
    return out


def _reporting_value(c: FactComponent, r: _Reporting, uid: int) -> FactValue:
    due, done = r.counts.get(uid, (0, 0))
    if due <= 0:
        why = "本方案未设报送周期" if not r.has_cadence else "本期无应报送的进展"
        value = reporting_value(c, 0, 0)
        tail = "，按满分计" if value is not None and c.points is not None else "，不计分"
        return FactValue(value, "not_applicable", None, [f"{why}，此项不适用{tail}。"])
    value = reporting_value(c, due, done)
    rate = Fraction(done, due)
    details = [
        f"报送率{_percent(rate)}（应报送{due}次，按时报送{done}次，未按时报送{due - done}次）"
    ]
    if c.rule == "per_missed":
        deduction = c.deduct * (due - done)
        details[0] += f"，每次扣{_amount(c.deduct)}分，共扣{_amount(deduction)}分"
        if c.max_deduction is not None and deduction > c.max_deduction:
            details[0] += f"（最多扣{_amount(c.max_deduction)}分）"
        elif c.points is not None and deduction > c.points:
            details[0] += "（扣完为止）"
        details[0] += "。"
        events = r.misses.get(uid, [])
        for due_on, item in events[:DETAILS_SHOWN]:
            details.append(f"{_cn(due_on)}到期未按时报送：{item}，扣{_amount(c.deduct)}分")
    else:
        full = "" if c.full_at == 100 else f"（报送率达{_amount(c.full_at)}%即得满分）"
        details[0] += f"，按报送率折算{full}。"
        events = r.misses.get(uid, [])
        for due_on, item in events[:DETAILS_SHOWN]:
            details.append(f"{_cn(due_on)}到期未按时报送：{item}")
    if len(events) > DETAILS_SHOWN:
        details.append(f"另有{len(events) - DETAILS_SHOWN}次未按时报送未逐一列出。")
    return FactValue(value, "supervision", rate, details)


@dataclass
class _Notices:
    counts: dict[int, dict[str, int]]
    names: dict[str, str]
    events: dict[int, list[tuple[date, str, str, str]]]  #: (day, number, level code, item)


def _escalations(
    plan: Plan, starts_on: date, ends_on: date, unit_id: int | None, explain: bool
) -> _Notices:
    in_plan = select(Assignment.id).join(Item, Item.id == Assignment.item_id)
    where = [
        Escalation.assignment_id.in_(in_plan.where(Item.plan_id == plan.id)),
        Escalation.state != EscalationState.WITHDRAWN.value,
        Escalation.issued_on >= starts_on,
        Escalation.issued_on <= ends_on,
    ]
    if unit_id is not None:
        where.append(Escalation.unit_id == unit_id)
    query = (
        select(Escalation.unit_id, EscalationLevel.code, EscalationLevel.name, func.count())
        .join(EscalationLevel, EscalationLevel.id == Escalation.level_id)
        .where(*where)
        .group_by(Escalation.unit_id, EscalationLevel.code, EscalationLevel.name)
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    names: dict[str, str] = {}
    for uid, code, name, n in db.session.execute(query):
        counts[uid][code] = counts[uid].get(code, 0) + int(n)
        names[code] = name
    events: dict[int, list[tuple[date, str, str, str]]] = defaultdict(list)
    if explain:
        rows = db.session.execute(
            select(
                Escalation.unit_id,
                Escalation.issued_on,
                Escalation.number,
                EscalationLevel.code,
                Escalation.assignment_id,
            )
            .join(EscalationLevel, EscalationLevel.id == Escalation.level_id)
            .where(*where)
            .order_by(Escalation.unit_id, Escalation.issued_on, Escalation.serial)
        ).all()
        labels = _item_labels({r[4] for r in rows})
        for uid, day, number, code, aid in rows:
            events[uid].append((day, number, code, labels.get(aid, "")))
    return _Notices(dict(counts), names, events)


def _escalation_value(c: FactComponent, n: _Notices, uid: int) -> FactValue:
    counts = n.counts.get(uid, {})
    value = escalation_value(c, counts)
    if not counts:
        return FactValue(value, "supervision", None, ["本期未被发督办单，不扣分。"])
    deduction = sum((c.level_deduction(code) * k for code, k in counts.items()), Fraction(0))
    parts = "、".join(f"{n.names.get(code, code)}{k}件" for code, k in counts.items())
    head = f"本期被发督办单{sum(counts.values())}件（{parts}），共扣{_amount(deduction)}分"
    if c.max_deduction is not None and deduction > c.max_deduction:
        head += f"（最多扣{_amount(c.max_deduction)}分）"
    elif c.points is not None and deduction > c.points:
        head += "（扣完为止）"
    details = [head + "。"]
    events = n.events.get(uid, [])
    for day, number, code, item in events[:DETAILS_SHOWN]:
        details.append(
            f"{_cn(day)} {number} {n.names.get(code, code)}：{item}，"
            f"扣{_amount(c.level_deduction(code))}分"
        )
    if len(events) > DETAILS_SHOWN:
        details.append(f"另有{len(events) - DETAILS_SHOWN}件未逐一列出。")
    return FactValue(value, "supervision", None, details)


def as_rational(value: Fraction | None) -> Any:
    """A Fraction as gmpy2's rational (the roll-up's arithmetic), None unchanged."""
    return None if value is None else mpq(value.numerator, value.denominator)
