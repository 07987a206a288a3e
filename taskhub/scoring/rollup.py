"""The roll-up: per-unit totals of a plan for a period, with explanations that add up.

SQL aggregates the whole plan at once: milestones due in the period are counted per
assignment and then grouped by (unit, points class, due, on time, late), so Python only sees a
handful of rows per unit. Arithmetic is exact (Decimal inputs, rational intermediates);
totals and contributions are quantised to 4 places for output, the contributions apportioned
so that they add up to the total exactly. Display rounding is the scheme's ``rounding``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import lcm
from typing import Any

from gmpy2 import mpq
from sqlalchemy import BigInteger, Integer, and_, case, cast, column, func, select, text
from sqlalchemy.orm import aliased

from taskhub.core.db import db
from taskhub.core.sections import section_label
from taskhub.plans.models import Item, Plan, PlanAssessee, Section
from taskhub.scoring import facts
from taskhub.scoring.engine import competition_ranks
from taskhub.scoring.models import ComponentScore, ItemScore, Period, PeriodKind, PointAllocation
from taskhub.scoring.schemes import EngineSpec, PeriodRule, engine_of, get_period, parse_period_code
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus, PeriodCount
from taskhub.units.models import Unit
from taskhub.units.services import membership

#: Totals and contributions are given to this many places; they add up exactly at it.
PLACES = 4
QUANTUM = Decimal(1).scaleb(-PLACES)


@dataclass
class Contribution:
    """One line of an explanation: what it is, its points, fraction, source and weight."""

    kind: str  #: item | component | period
    key: str  #: item code, component code or period code
    label: str
    points: Fraction | None  #: the item's points (or the component's value)
    fraction: Fraction | None  #: share of the points earned
    source: str  #: completion | assessor | import | not_scored | entered | not_entered | period
    weight: Fraction  #: what one point earned is worth in the total
    value: Fraction  #: the contribution to the total
    #: The events behind a computed component, in words (missed reports, notices, dated).
    details: list[str] = field(default_factory=list)

    def as_dict(self, value: Decimal) -> dict[str, Any]:
        # Only computed components have details: snapshots keep no empty list per item.
        extra: dict[str, Any] = {"details": self.details} if self.details else {}
        return {
            **extra,
            "kind": self.kind,
            "key": self.key,
            "label": self.label,
            "points": _dec(self.points),
            "fraction": _dec(self.fraction, 6),
            "source": self.source,
            "weight": _dec(self.weight, 6),
            "value": value,
        }


@dataclass
class UnitResult:
    unit_id: int
    unit_name: str
    total: Fraction
    components: dict[str, Fraction | None] = field(default_factory=dict)
    contributions: list[Contribution] = field(default_factory=list)
    rank: int | None = None
    #: What each area (top-level section) adds to the total, by area title.
    areas: dict[str, Fraction] = field(default_factory=dict)


def _dec(value: Fraction | None, places: int = PLACES) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(int(value.numerator)) / Decimal(int(value.denominator))).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
    )


def quantised_total(total: Fraction) -> Decimal:
    value = _dec(total)
    assert value is not None
    return value


def apportion(values: list[Fraction], total: Decimal) -> list[Decimal]:
    """Round values to PLACES so they add up to ``total`` exactly (largest remainder)."""
    scale = 10**PLACES
    floors = [Decimal(int((v * scale).__floor__())) / scale for v in values]
    remainders = [v * scale - (v * scale).__floor__() for v in values]
    missing = int(((total - sum(floors, Decimal(0))) * scale).to_integral_value(ROUND_FLOOR))
    order = sorted(range(len(values)), key=lambda i: (-remainders[i], i))
    for i in order[: max(0, missing)]:
        floors[i] += QUANTUM
    return floors


# -- points -----------------------------------------------------------------------------------


def effective_points(plan: Plan, spec: EngineSpec) -> dict[int, Fraction]:
    """Each item's points: its own, an allocation, or its share of the section budget."""
    items = list(db.session.scalars(select(Item).where(Item.plan_id == plan.id)))
    if spec.type == "index":
        return {i.id: Fraction(i.weight or 0) for i in items}
    allocations = {
        a.item_id: Fraction(a.points)
        for a in db.session.scalars(
            select(PointAllocation).where(PointAllocation.item_id.in_([i.id for i in items]))
        )
    }
    sections = list(db.session.scalars(select(Section).where(Section.plan_id == plan.id)))
    own = {
        i.id: Fraction(i.points) if i.points is not None else allocations.get(i.id) for i in items
    }
    if all(p is None for p in own.values()) and all(s.points is None for s in sections):
        # No points anywhere (Hegang's tasks): the scale is shared evenly by all items.
        share = Fraction(spec.scale) / len(items) if items else Fraction(0)
        return {i.id: share for i in items}
    children: dict[int | None, list[Section]] = defaultdict(list)
    for s in sorted(sections, key=lambda s: s.position):
        children[s.parent_id].append(s)
    section_items: dict[int | None, list[Item]] = defaultdict(list)
    for i in sorted(items, key=lambda i: i.position):
        section_items[i.section_id].append(i)
    result: dict[int, Fraction] = {}

    def distribute(section: Section, budget: Fraction | None) -> None:
        subs, its = children[section.id], section_items[section.id]
        if budget is None:
            for s in subs:
                distribute(s, Fraction(s.points) if s.points is not None else None)
            for i in its:
                result[i.id] = own[i.id] or Fraction(0)
            return
        fixed: list[Fraction | None] = [
            *[Fraction(s.points) if s.points is not None else None for s in subs],
            *[own[i.id] for i in its],
        ]
        # Children with their own points keep them; the others share what is left evenly.
        left = budget - sum((f for f in fixed if f is not None), Fraction(0))
        free = sum(1 for f in fixed if f is None)
        share = left / free if free and left > 0 else Fraction(0)
        shares = [f if f is not None else share for f in fixed]
        for s, share in zip(subs, shares[: len(subs)], strict=True):
            distribute(s, share)
        for i, share in zip(its, shares[len(subs) :], strict=True):
            result[i.id] = share

    for top in children[None]:
        distribute(top, Fraction(top.points) if top.points is not None else None)
    for i in section_items[None]:
        result[i.id] = own[i.id] or Fraction(0)
    return result


# -- units ------------------------------------------------------------------------------------


def scored_units(plan: Plan, only: Collection[int] | None = None) -> dict[int, str]:
    """Units scored by the plan: those with assignments, or the assessed units (no items).

    ``only``: those of these units (the live totals' recount of units a change touched)."""
    # The unique (item, unit) index covers this sub-select, so no assignment row is read.
    plan_items = select(Item.id).where(Item.plan_id == plan.id)
    with_assignments = select(Assignment.unit_id).where(Assignment.item_id.in_(plan_items))
    query = select(Unit.id, Unit.name).order_by(Unit.id)
    if only is None:
        query = query.where(Unit.id.in_(with_assignments))
    else:
        # A few units: each looked up by its assignments (unit index), not the plan's.
        own = (
            select(Assignment.id)
            .where(Assignment.unit_id == Unit.id, Assignment.item_id.in_(plan_items))
            .exists()
        )
        query = query.where(Unit.id.in_(list(only)), own)
    rows = db.session.execute(query).all()
    if rows:
        return {uid: name for uid, name in rows}
    if only is not None and db.session.scalar(
        select(Assignment.id).where(Assignment.item_id.in_(plan_items)).limit(1)
    ):
        return {}  # the plan has assignments, none of these units'
    direct = select(PlanAssessee.unit_id).where(
        PlanAssessee.plan_id == plan.id, PlanAssessee.unit_id.isnot(None)
    )
    members = membership(city_id=plan.city_id)
    grouped = (
        select(members.c.unit_id)
        .join(PlanAssessee, PlanAssessee.group_id == members.c.group_id)
        .where(PlanAssessee.plan_id == plan.id)
    )
    assessed = select(Unit.id, Unit.name).where(Unit.id.in_(direct.union(grouped)))
    if only is not None:
        assessed = assessed.where(Unit.id.in_(list(only)))
    return {uid: name for uid, name in db.session.execute(assessed)}


# -- the item component -------------------------------------------------------------------------


@dataclass
class ItemRollup:
    earned: Fraction = field(default_factory=mpq)
    maximum: Fraction = field(default_factory=mpq)
    lines: list[tuple[Item | None, int, Fraction, Fraction | None, str]] = field(
        default_factory=list
    )  #: (item, count, points, fraction, source) for explanations
    #: Earned points per top-level section (area) id.
    by_area: dict[int | None, Fraction] = field(default_factory=dict)
    #: Whether ``lines`` lists every item (explanations) or is left empty (totals only).
    itemized: bool = False


def _areas(plan: Plan) -> dict[int, int | None]:
    """Each item's top-level section (its area: 一、政务服务…), for per-area scores."""
    parents = dict(
        db.session.execute(
            select(Section.id, Section.parent_id).where(Section.plan_id == plan.id)
        ).all()
    )
    out: dict[int, int | None] = {}
    for item_id, section_id in db.session.execute(
        select(Item.id, Item.section_id).where(Item.plan_id == plan.id)
    ):
        node = section_id
        while node is not None and parents.get(node) is not None:
            node = parents[node]
        out[item_id] = node
    return out


def area_titles(plan: Plan) -> dict[int, str]:
    return {
        sid: section_label(number, title)
        for sid, number, title in db.session.execute(
            select(Section.id, Section.number, Section.title)
            .where(Section.plan_id == plan.id, Section.parent_id.is_(None))
            .order_by(Section.position)
        )
    }


def rollup_items(
    plan: Plan,
    period: Period,
    spec: EngineSpec,
    *,
    unit_id: int | None = None,
    by_item: bool = False,
    units: Collection[int] | None = None,
) -> dict[int, ItemRollup]:
    """Earned and maximum item points per unit for the period (one grouped query + scores);
    ``units``: those units only (totals, not item by item)."""
    # gmpy2's rationals: the same exact arithmetic as Fraction, about ten times faster.
    points = {iid: mpq(p) for iid, p in effective_points(plan, spec).items()}
    if not points:
        return {}
    area_of = _areas(plan)
    done = Milestone.status == MilestoneStatus.DONE.value
    due_query = (
        select(
            Milestone.assignment_id.label("aid"),
            func.count().label("due"),
            func.sum(case((and_(done, ~Milestone.is_late), 1), else_=0)).label("on_time"),
            func.sum(case((and_(done, Milestone.is_late), 1), else_=0)).label("late"),
        )
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Item.plan_id == plan.id,
            Milestone.due_on >= period.starts_on,
            Milestone.due_on <= period.ends_on,
            Milestone.status != MilestoneStatus.WAIVED.value,
        )
        .group_by(Milestone.assignment_id)
    )
    if unit_id is not None:
        due_query = due_query.where(Assignment.unit_id == unit_id)
    due = due_query.subquery()
    scored = select(ItemScore.assignment_id).where(ItemScore.period_id == period.id)
    a = aliased(Assignment)
    itemwise = by_item or unit_id is not None
    result: dict[int, ItemRollup] = defaultdict(lambda: ItemRollup(itemized=itemwise))
    # The items themselves only name explanation lines: totals need their ids alone.
    items = (
        {i.id: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))}
        if itemwise
        else {}
    )
    mapping = _exact_mapping(spec)
    if itemwise:
        _itemwise(plan, a, due, scored, unit_id, points, area_of, items, mapping, spec, result)
    else:
        _grouped(plan, period, scored, points, area_of, mapping, spec, result, units)
    # Assessors' scores override completion; several scorers of one assignment are averaged.
    per_assignment: dict[int, list[tuple[int, int, Decimal, str]]] = defaultdict(list)
    score_query = (
        select(
            ItemScore.assignment_id,
            ItemScore.unit_id,
            ItemScore.item_id,
            ItemScore.value,
            ItemScore.source,
        )
        .join(Assignment, Assignment.id == ItemScore.assignment_id)
        .where(ItemScore.period_id == period.id, ~Assignment.is_not_applicable)
    )
    if unit_id is not None:
        score_query = score_query.where(ItemScore.unit_id == unit_id)
    if units is not None:
        score_query = score_query.where(ItemScore.unit_id.in_(list(units)))
    for aid, uid, iid, value, source in _rows(score_query):
        per_assignment[aid].append((uid, iid, value, source))
    for scores in per_assignment.values():
        uid, iid = scores[0][0], scores[0][1]
        if iid not in points:
            continue
        p = points[iid]
        earned = min(sum((_rational(v) for _, _, v, _ in scores), mpq(0)) / len(scores), p)
        r = result[uid]
        r.earned += earned
        r.maximum += p
        area = area_of.get(iid)
        r.by_area[area] = r.by_area.get(area, mpq(0)) + earned
        if itemwise:
            source = "import" if all(src == "import" for *_, src in scores) else "assessor"
            r.lines.append((items[iid], 1, p, earned / p if p else mpq(0), source))
    return result


def _exact_mapping(spec: EngineSpec) -> tuple[Fraction, Fraction, Fraction]:
    m = spec.completion
    return mpq(m.on_time), mpq(m.late), mpq(m.missed)


def _share(
    mapping: tuple[Fraction, Fraction, Fraction], due: int, on_time: int, late: int
) -> Fraction | None:
    """The share earned over milestones due, exactly; None when nothing was due."""
    if due <= 0:
        return None
    on, lt, missed = mapping
    return (on * on_time + lt * late + missed * (due - on_time - late)) / due


def _itemwise(
    plan: Plan,
    a: Any,
    due: Any,
    scored: Any,
    unit_id: int | None,
    points: dict[int, Fraction],
    area_of: dict[int, int | None],
    items: dict[int, Item],
    mapping: tuple[Fraction, Fraction, Fraction],
    spec: EngineSpec,
    result: dict[int, ItemRollup],
) -> None:
    """Item by item (for explanations): one grouped row per unit, item and outcome."""
    query = (
        select(
            a.unit_id,
            a.item_id,
            func.coalesce(due.c.due, 0),
            func.coalesce(due.c.on_time, 0),
            func.coalesce(due.c.late, 0),
            func.count(),
        )
        .join(Item, Item.id == a.item_id)
        .outerjoin(due, due.c.aid == a.id)
        .where(Item.plan_id == plan.id, ~a.is_not_applicable, a.id.not_in(scored))
        .group_by(a.unit_id, a.item_id, due.c.due, due.c.on_time, due.c.late)
    )
    if unit_id is not None:
        query = query.where(a.unit_id == unit_id)
    for uid, iid, n_due, on_time, late, count in db.session.execute(query):
        p, area, r = points[iid], area_of.get(iid), result[uid]
        f = _share(mapping, int(n_due), int(on_time), int(late))
        if f is None:
            if spec.unscored != "zero":
                continue  # nothing due in the period: not assessable, out of the maximum
            r.maximum += p * count
            r.lines.append((items[iid], count, p, mpq(0), "not_scored"))
            continue
        r.earned += p * f * count
        r.maximum += p * count
        r.by_area[area] = r.by_area.get(area, mpq(0)) + p * f * count
        r.lines.append((items[iid], count, p, f, "completion"))


def _grouped(
    plan: Plan,
    period: Period,
    scored: Any,
    points: dict[int, Fraction],
    area_of: dict[int, int | None],
    mapping: tuple[Fraction, Fraction, Fraction],
    spec: EngineSpec,
    result: dict[int, ItemRollup],
    units: Collection[int] | None = None,
) -> None:
    """Totals for every unit (or ``units``) from one aggregate over the period counts, in
    whole numbers.

    An assignment with ``d`` milestones due earns ``P·(on·on_time + late·late + missed·missed
    count) / (d·L)``, where ``P`` is its points times the common denominator ``L`` and the
    mapping's weights are scaled to integers too. SQL sums the integer numerators per unit and
    due count (one pair of columns per area), so Python brings a handful of rows per unit over
    one denominator: exact, with no Fraction per assignment.
    """
    scale = _lcm(p.denominator for p in points.values())
    whole = {iid: int(p * scale) for iid, p in points.items()}
    areas = sorted({area_of.get(iid) for iid in points}, key=lambda x: (x is None, x or 0))
    area_index = {iid: areas.index(area_of.get(iid)) for iid in points}
    c = PeriodCount
    # A few units' rows, not the whole period's: through the (period, unit) index, or the
    # primary key (period, assignment) from the assignments' unit index (SQLite's choice).
    for_units = (
        [
            c.unit_id.in_(list(units)),
            c.assignment_id.in_(select(Assignment.id).where(Assignment.unit_id.in_(list(units)))),
        ]
        if units is not None
        else []
    )
    not_applicable = select(Assignment.id).where(
        Assignment.is_not_applicable, Assignment.item_id.in_(list(points))
    )
    if units is not None:
        not_applicable = not_applicable.where(Assignment.unit_id.in_(list(units)))
        scored = scored.where(ItemScore.unit_id.in_(list(units)))
    # Each item's whole points and area index as a small table to join: a CASE over the item
    # would be re-evaluated inside every one of the sums below, for every row. The values are
    # integers computed here, so they are written into the SQL (building 50 bound SELECTs in
    # SQLAlchemy costs more than the query).
    weight_rows = " UNION ALL ".join(
        f"SELECT {int(iid)} AS item_id, {int(whole[iid])} AS p, {int(area_index[iid])} AS k"
        for iid in points
    )
    item_weights = (
        text(weight_rows)
        .columns(column("item_id", Integer), column("p", BigInteger), column("k", Integer))
        .subquery("item_weights")
    )
    w = item_weights.c
    # Per assignment: its unit, whole points, area and counts of milestones due in the period,
    # kept per period by the milestone upkeep (tracking.models.PeriodCount): one flat read.
    per_assignment = (
        select(
            c.unit_id.label("uid"),
            w.p.label("p"),
            w.k.label("k"),
            c.due.label("due"),
            c.on_time.label("on_time"),
            c.late.label("late"),
        )
        .join(item_weights, w.item_id == c.item_id)
        .where(
            c.period_id == period.id,
            c.assignment_id.not_in(not_applicable),
            c.assignment_id.not_in(scored),
            *for_units,
        )
        .subquery()
    )
    weights = _lcm(w.denominator for w in mapping)
    on, lt, missed = (int(w * weights) for w in mapping)
    s = per_assignment.c
    # Per assignment, on·on_time + late·late + missed·(due − on_time − late), times its points.
    earned = s.p * (on * s.on_time + lt * s.late + missed * (s.due - s.on_time - s.late))
    sums = []
    for k in range(len(areas)):
        in_area = s.k == k
        sums += [func.sum(s.p).filter(in_area), func.sum(earned).filter(in_area)]
    query = select(s.uid, s.due, *(cast(x, BigInteger) for x in sums)).group_by(s.uid, s.due)
    # unit → [(due count, per area (ΣP, Σ earned))]
    per_unit: dict[int, list[tuple[int, list[int]]]] = defaultdict(list)
    for uid, n_due, *row in _rows(query):
        per_unit[uid].append((n_due, [x or 0 for x in row]))
    for uid, by_due in per_unit.items():
        # Bring every due count's sums over one denominator: whole integers until the end.
        common = lcm(*(d for d, _ in by_due))
        denominator = common * scale * weights
        maximum, area_earned = 0, [0] * len(areas)
        for d, cells in by_due:
            times = common // d
            maximum += sum(cells[0::2])
            for k, value in enumerate(cells[1::2]):
                area_earned[k] += value * times
        r = result[uid]
        r.maximum += mpq(maximum, scale)
        r.earned += mpq(sum(area_earned), denominator)
        for area, value in zip(areas, area_earned, strict=True):
            if value:
                r.by_area[area] = r.by_area.get(area, mpq(0)) + mpq(value, denominator)
    if spec.unscored == "zero":
        _unscored_maximum(plan, period, scored, whole, scale, result, units)


def _unscored_maximum(
    plan: Plan,
    period: Period,
    scored: Any,
    whole: dict[int, int],
    scale: int,
    result: dict[int, ItemRollup],
    units: Collection[int] | None = None,
) -> None:
    """Schemes that score 'nothing due' as zero: those assignments still count in the maximum."""
    due_in_period = select(Milestone.assignment_id).where(
        Milestone.due_on >= period.starts_on,
        Milestone.due_on <= period.ends_on,
        Milestone.status != MilestoneStatus.WAIVED.value,
    )
    query = (
        select(Assignment.unit_id, func.sum(case(whole, value=Assignment.item_id, else_=0)))
        .where(
            Assignment.item_id.in_(list(whole)),
            ~Assignment.is_not_applicable,
            Assignment.id.not_in(scored),
            Assignment.id.not_in(due_in_period),
        )
        .group_by(Assignment.unit_id)
    )
    if units is not None:
        query = query.where(Assignment.unit_id.in_(list(units)))
    for uid, total in db.session.execute(query):
        if total:
            result[uid].maximum += mpq(int(total), scale)


def _rational(value: Decimal) -> Fraction:
    """A stored decimal as an exact rational (via its integer ratio: ~6× faster than mpq(value))."""
    return mpq(*value.as_integer_ratio())


def _lcm(numbers: Iterable[int]) -> int:
    return lcm(*(int(n) for n in numbers))  # int(): gmpy2's denominators are mpz


def _rows(query: Any) -> Any:
    """Plain rows through Core on the session's connection: no ORM result processing, fetched
    at once (psycopg's fetchall is several times faster than row-by-row iteration)."""
    return db.session.connection().execute(query).all()


# -- totals -----------------------------------------------------------------------------------


def _components(
    period: Period, rule: PeriodRule, units: Collection[int] | None = None
) -> dict[int, dict[str, Fraction]]:
    out: dict[int, dict[str, Fraction]] = defaultdict(dict)
    query = select(ComponentScore.unit_id, ComponentScore.component, ComponentScore.value).where(
        ComponentScore.period_id == period.id
    )
    if units is not None:
        query = query.where(ComponentScore.unit_id.in_(list(units)))
    rows = _rows(query)
    for unit_id, component, raw in rows:
        value = _rational(raw)
        if component in rule.caps:
            low, high = rule.caps[component]
            value = min(max(value, mpq(low)), mpq(high))
        out[unit_id][component] = value
    return out


def compute(
    plan: Plan,
    code: str,
    *,
    unit_id: int | None = None,
    explain: bool = False,
    only: Collection[int] | None = None,
) -> list[UnitResult]:
    """Every unit's total for a period; with ``explain`` (or for one unit) item by item.

    ``only``: the totals of these units alone, by the same grouped arithmetic as the whole
    plan's (each unit's total depends on its own rows only), ranked among themselves: the
    live totals (taskhub.scoring.live) recount the units a change touched and rank the whole
    plan again. Composite periods only (not a mean of periods, not an annual formula).
    """
    spec = engine_of(plan)
    kind, _, _ = parse_period_code(code)
    rule = spec.rule_for(kind)
    units = scored_units(plan, only)
    if unit_id is not None:
        units = {unit_id: units[unit_id]} if unit_id in units else {}
    if only is not None and (rule.mean_of or rule.annual):
        raise ValueError("a period of periods is computed whole")
    if rule.mean_of:
        return _mean_of(plan, code, rule.mean_of, units, unit_id)
    period = get_period(plan, code)
    assert period is not None
    results = _composite(
        plan, period, spec, rule, units, unit_id, explain or unit_id is not None, only
    )
    if rule.annual:
        _annual(plan, code, spec, rule, results, unit_id)
    _rank(results, spec)
    return results


def _composite(
    plan: Plan,
    period: Period,
    spec: EngineSpec,
    rule: PeriodRule,
    units: dict[int, str],
    unit_id: int | None,
    by_item: bool = False,
    only: Collection[int] | None = None,
) -> list[UnitResult]:
    items = (
        rollup_items(plan, period, spec, unit_id=unit_id, by_item=by_item, units=only)
        if spec.items_component and spec.items_component in rule.composite
        else {}
    )
    entered = _components(period, rule, only)
    titles = area_titles(plan) if items else {}
    # Parsed once: Fraction(str) per unit and component would dominate a 2,000-unit roll-up.
    weights = {component: mpq(weight) for component, weight in rule.composite.items()}
    scale = mpq(spec.scale)
    explain = by_item or unit_id is not None
    computed = {k: spec.computed[k] for k in weights if k in spec.computed}
    # One grouped query per supervision fact for the whole plan (报送率, 督办单).
    from_facts = (
        facts.values(
            plan,
            period.starts_on,
            period.ends_on,
            computed,
            units,
            explain=explain,
            unit_id=unit_id,
        )
        if computed
        else {}
    )
    results = []
    for uid, name in units.items():
        res = UnitResult(uid, name, mpq(0))
        for component, w in weights.items():
            if component == spec.items_component:
                r = items.get(uid)
                if r is None or r.maximum == 0:
                    res.components[component] = None
                    continue
                share = r.earned / r.maximum
                factor = w * scale / r.maximum
                res.components[component] = scale * share
                for area_id, title in titles.items():
                    earned = r.by_area.get(area_id)
                    res.areas[title] = factor * earned if earned else mpq(0)
                if not r.itemized:
                    res.total += w * scale * share
                    continue
                for item, count, p, f, source in r.lines:
                    value = factor * p * (f or 0) * count
                    res.total += value
                    res.contributions.append(
                        Contribution(
                            "item",
                            item.code if item else "",
                            _item_label(item),
                            p,
                            f,
                            source,
                            factor,
                            value,
                        )
                    )
            else:
                # Entered by the office, or computed from the supervision facts (报送率, 督办单).
                fact = from_facts[component][uid] if component in from_facts else None
                if fact is not None:
                    v = facts.as_rational(fact.value)
                    fraction, source = facts.as_rational(fact.fraction), fact.source
                else:
                    v = entered.get(uid, {}).get(component)
                    fraction, source = None, "entered" if v is not None else "not_entered"
                res.components[component] = v
                if v:
                    res.total += w * v
                if explain:
                    res.contributions.append(
                        Contribution(
                            "component",
                            component,
                            component,
                            v,
                            fraction,
                            source,
                            w,
                            w * (v or 0),
                            fact.details if fact is not None else [],
                        )
                    )
        results.append(res)
    return results


def _item_label(item: Item | None) -> str:
    if item is None:
        return ""
    # An item without a number is named by its text, not by its internal code (t2-40b).
    text = item.title or item.text[:30]
    return f"{item.number} {text}" if item.number else text


def _mean_of(
    plan: Plan, code: str, sub_kind: str, units: dict[int, str], unit_id: int | None
) -> list[UnitResult]:
    """Baotou's year: the mean of its half-years that have results."""
    year = parse_period_code(code)[1].year
    subs = (
        [f"{year}-H1", f"{year}-H2"]
        if sub_kind == PeriodKind.HALF_YEAR.value
        else [f"{year}-{m:02d}" for m in range(1, 13)]
    )
    per_sub = {c: _published_or_live(plan, c, unit_id) for c in subs}
    results = []
    for uid, name in units.items():
        parts = [per_sub[c][uid] for c in subs if uid in per_sub[c]]
        res = UnitResult(uid, name, mpq(0))
        for c, part in zip(subs, parts, strict=False):
            w = mpq(1, len(parts))
            res.total += w * part.total
            res.components[c] = part.total
            res.contributions.append(
                Contribution("period", c, c, part.total, None, "period", w, w * part.total)
            )
        results.append(res)
    _rank(results, engine_of(plan))
    return results


def _annual(
    plan: Plan,
    code: str,
    spec: EngineSpec,
    rule: PeriodRule,
    results: list[UnitResult],
    unit_id: int | None,
) -> None:
    """Shanwei's year: weighted mean of monthly results (from a month on) plus the year end."""
    annual = rule.annual or {}
    year = int(code[:4])
    monthly = annual.get("monthly_mean") or {}
    first = int(monthly.get("from_month", 1))
    w_month = Fraction(str(monthly.get("weight", "0")))
    w_year = Fraction(str((annual.get("year_end") or {}).get("weight", "1")))
    months = [f"{year}-{m:02d}" for m in range(first, 13)]
    per_month = {
        c: {uid: r.total for uid, r in _published_or_live(plan, c, unit_id).items()}
        for c in months
        if _has_scores(plan, c)
    }

    for res in results:
        year_end = res.total
        for line in res.contributions:
            line.weight *= w_year
            line.value *= w_year
        res.total = w_year * year_end
        res.components["year_end_total"] = year_end
        got = [(c, per_month[c][res.unit_id]) for c in per_month if res.unit_id in per_month[c]]
        for c, total in got:
            w = w_month / len(got)
            res.total += w * total
            res.contributions.append(
                Contribution("period", c, c, total, None, "period", w, w * total)
            )
        res.components["monthly_mean"] = (
            sum((t for _, t in got), Fraction(0)) / len(got) if got else None
        )


def _published_or_live(plan: Plan, code: str, unit_id: int | None) -> dict[int, UnitResult]:
    """A sub-period's results: its latest snapshot when it was closed, else computed live."""
    from taskhub.scoring.models import Snapshot

    period = get_period(plan, code, create=False)
    snapshot = (
        db.session.scalar(
            select(Snapshot)
            .where(Snapshot.period_id == period.id)
            .order_by(Snapshot.revision.desc())
            .limit(1)
        )
        if period is not None
        else None
    )
    if snapshot is None:
        return {r.unit_id: r for r in compute(plan, code, unit_id=unit_id)}
    out = {}
    for d in snapshot.data["units"]:
        if unit_id is None or d["unit_id"] == unit_id:
            out[d["unit_id"]] = UnitResult(
                d["unit_id"], d["unit"], Fraction(d["total"]), rank=d["rank"]
            )
    return out


def _has_scores(plan: Plan, code: str) -> bool:
    period = get_period(plan, code, create=False)
    return period is not None and db.session.scalar(
        select(func.count())
        .select_from(ComponentScore)
        .where(ComponentScore.period_id == period.id)
    ) not in (None, 0)


def shown_totals(results: Iterable[UnitResult], spec: EngineSpec) -> dict[int, Decimal | None]:
    """Each unit's total as displayed (the scheme's rounding): what ranks compare."""
    return {r.unit_id: _dec(r.total, spec.rounding) for r in results}


def ranks_of(results: Iterable[UnitResult], spec: EngineSpec) -> dict[int, int]:
    """Competition ranks on the totals as displayed (equal displayed totals share a rank)."""
    shown = shown_totals(results, spec)
    return competition_ranks({k: v for k, v in shown.items() if v is not None})


def _rank(results: Iterable[UnitResult], spec: EngineSpec) -> None:
    results = list(results)
    ranks = ranks_of(results, spec)
    for r in results:
        r.rank = ranks.get(r.unit_id)
