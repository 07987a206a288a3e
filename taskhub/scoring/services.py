"""Scoring rules with side effects: entering scores, allocating points, closing periods.

The arithmetic lives in taskhub.scoring.engine (pure) and taskhub.scoring.rollup (SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core import cache
from taskhub.core.cache import Fingerprint
from taskhub.core.db import db, lock, now_utc
from taskhub.core.errors import NotFound, PermissionDenied, ValidationFailed
from taskhub.core.limits import check_number, check_text
from taskhub.plans.models import Item, ItemUnit, Plan, Section, UnitRole
from taskhub.scoring import live
from taskhub.scoring.engine import count_points, dec, rate_points, ratio, rubric_points
from taskhub.scoring.models import (
    ComponentScore,
    ItemScore,
    Period,
    PeriodKind,
    PointAllocation,
    ScoreSource,
    Snapshot,
)
from taskhub.scoring.rollup import (
    UnitResult,
    apportion,
    compute,
    effective_points,
    quantised_total,
    scored_units,
)
from taskhub.scoring.schemes import engine_of, get_period, parse_period_code, previous_code
from taskhub.tracking.models import Assignment
from taskhub.webhooks import services as webhooks


class OutOfRange(ValidationFailed):
    """A score outside what it may be. The message stays English for the API (as its other
    messages); pages say it in the user's language with the component's name
    (taskhub.scoring.views.problem)."""

    def __init__(
        self, message: str, *, field: str, low: Decimal, high: Decimal, component: str | None = None
    ) -> None:
        super().__init__(message, [field])
        self.low, self.high, self.component = low, high, component


class AllocationMismatch(ValidationFailed):
    """Points shared out that do not add up to the section's budget (or are negative)."""

    def __init__(self, message: str, *, total: Decimal, budget: Decimal) -> None:
        super().__init__(message, ["points"])
        self.total, self.budget = total, budget


#: The refusal of a score without a reason (pages say it in the user's language).
NO_REASON = "a score needs a reason"


def scorer_key_for(user: User | None, item: Item) -> tuple[str, int | None]:
    """Who scores: the office, or the user's unit when it leads the item's assessment.

    ``None`` is the operator at the command line, acting for the office.
    """
    if user is None or user.role in ("admin", "office"):
        return "office", None
    if user.role == "assessor" and user.unit_id is not None:
        leads = db.session.scalar(
            select(ItemUnit.id).where(
                ItemUnit.item_id == item.id,
                ItemUnit.role == UnitRole.LEAD_ASSESSOR.value,
                ItemUnit.unit_id == user.unit_id,
            )
        )
        if leads is not None:
            return f"unit:{user.unit_id}", user.unit_id
    raise PermissionDenied("only the office or the item's lead assessment unit may score it")


def item_points(item: Item) -> Decimal:
    points = effective_points(item.plan, engine_of(item.plan)).get(item.id, Fraction(0))
    return Decimal(points.numerator) / Decimal(points.denominator)


def score_item(
    assignment: Assignment,
    code: str,
    *,
    actor: User | None,
    reason: str,
    value: Decimal | None = None,
    numerator: Decimal | None = None,
    denominator: Decimal | None = None,
    occurrences: Decimal | None = None,
    parts: Sequence[bool] | None = None,
    source: str = ScoreSource.ASSESSOR.value,
    points: Decimal | None = None,
) -> ItemScore | None:
    """Enter (or change) a score that overrides completion; returns None when unchanged.

    Instead of a value, the measure's inputs may be given: a rate indicator's numerator and
    denominator (points × min(1, (numerator / denominator) / target)), a count indicator's
    occurrences (points − deduct_per × occurrences, not below 0), or which parts of a split
    rubric were achieved (the sum of their points).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(NO_REASON, ["reason"])
    check_text("score.reason", reason, field="reason")
    for name, number in (("value", value), ("numerator", numerator), ("denominator", denominator)):
        check_number(number, name)
    check_number(occurrences, "occurrences")
    item = assignment.item
    key, scorer_unit = scorer_key_for(actor, item)
    period = get_period(item.plan, code)
    assert period is not None
    # Bulk imports pass the item's points in, so the plan's budget is worked out once.
    points = item_points(item) if points is None else points
    if value is None:
        value = _measured(item, points, numerator, denominator, occurrences, parts)
    value = dec(value)
    if value < 0 or value > points:
        raise OutOfRange(
            f"the score must be between 0 and the item's {points} points",
            field="value",
            low=Decimal(0),
            high=points,
        )
    value = value.quantize(Decimal("0.0001"))
    # The assignment's lock first: a concurrent change of this score (or its first entry)
    # waits, and this one's "before" is what that one left (the API's version check takes
    # the same lock, as every change of the assignment does).
    lock(assignment)
    existing = db.session.scalar(
        select(ItemScore)
        .where(
            ItemScore.period_id == period.id,
            ItemScore.assignment_id == assignment.id,
            ItemScore.scorer_key == key,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    before = _score_state(existing) if existing else None
    if existing is not None and (
        existing.value,
        existing.numerator,
        existing.denominator,
        existing.reason,
    ) == (value, numerator, denominator, reason):
        return None  # importing the same file twice changes nothing
    score = existing or ItemScore(
        period_id=period.id,
        assignment_id=assignment.id,
        unit_id=assignment.unit_id,
        item_id=item.id,
        scorer_key=key,
        scorer_unit_id=scorer_unit,
    )
    score.value, score.numerator, score.denominator = value, numerator, denominator
    score.reason, score.source = reason, source
    score.entered_by_id = actor.id if actor else None
    score.entered_at = now_utc()
    db.session.add(score)
    db.session.flush()
    audit.record(
        "score.item_set",
        "item_score",
        score.id,
        actor_id=actor.id if actor else None,
        before=before,
        after={**_score_state(score), "period": code, "assignment_id": assignment.id},
    )
    return score


def _measured(
    item: Item,
    points: Decimal,
    numerator: Decimal | None,
    denominator: Decimal | None,
    occurrences: Decimal | None,
    parts: Sequence[bool] | None,
) -> Decimal:
    """A score from the measure's inputs, by the indicator's declared measure."""
    measure = item.measure or {}
    if occurrences is not None:
        deduct = measure.get("deduct_per")
        if measure.get("kind") != "count" or deduct is None:
            raise ValidationFailed(
                "this indicator declares no deduction per occurrence; enter the score as a value",
                ["value"],
            )
        if occurrences < 0:
            raise ValidationFailed("occurrences must not be negative", ["value"])
        return count_points(points, occurrences, dec(deduct))
    if parts is not None:
        declared = measure.get("parts") if measure.get("kind") == "rubric" else None
        if not declared or len(declared) != len(parts):
            count = len(declared) if declared else 0
            raise ValidationFailed(
                f"this indicator has {count} rubric parts; say for each whether it was achieved",
                ["value"],
            )
        return rubric_points([dec(p.get("points", 0)) for p in declared], list(parts))
    if numerator is None or denominator is None:
        raise ValidationFailed(
            "give a value, or the measure's inputs (numerator and denominator, occurrences, "
            "or rubric parts)",
            ["value"],
        )
    if numerator < 0 or denominator < 0:
        raise ValidationFailed("numerator and denominator must not be negative", ["value"])
    if denominator == 0:
        # Nothing to measure a rate against: not "0 achieved"; the assessor enters a value.
        raise ValidationFailed(
            "the denominator must not be 0 (a rate of no cases); enter the score as a value",
            ["denominator"],
        )
    return rate_points(points, ratio(numerator, denominator), _target(item))


def _target(item: Item) -> Decimal:
    measure = item.measure or {}
    raw = measure.get("target")
    if raw is None and item.target:
        raw = item.target.replace("≥", "").replace(">=", "").strip()
    if raw is None:
        return Decimal(1)
    text = str(raw).strip()
    if text.endswith("%"):
        return dec(text[:-1]) / 100
    try:
        return dec(text)
    except ArithmeticError:
        return Decimal(1)


def _score_state(s: ItemScore) -> dict[str, Any]:
    return {
        "value": s.value,
        "numerator": s.numerator,
        "denominator": s.denominator,
        "reason": s.reason,
        "scorer": s.scorer_key,
    }


def score_component(
    plan: Plan,
    unit_id: int,
    code: str,
    component: str,
    value: Decimal,
    *,
    actor: User | None,
    reason: str,
    source: str = ScoreSource.ASSESSOR.value,
) -> ComponentScore | None:
    """Enter a unit-level component (field check, survey, key applications...)."""
    if actor is not None and actor.role not in ("admin", "office"):
        raise PermissionDenied("only the office enters unit-level components")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(NO_REASON, ["reason"])
    check_text("score.reason", reason, field="reason")
    check_number(value, "value")
    spec = engine_of(plan)
    kind, _, _ = parse_period_code(code)
    rule = spec.rule_for(kind)
    if unit_id not in scored_units(plan):
        raise ValidationFailed(f"unit {unit_id} is not scored by plan {plan.code}", ["unit_id"])
    if component not in rule.entered:
        allowed = ", ".join(rule.entered) or "none"
        raise ValidationFailed(
            f"component {component!r} is not entered for {kind} periods (entered: {allowed})",
            ["component"],
        )
    # Components declared signed (加减分) may be negative; caps, when declared, bound them.
    floor = -spec.scale if component in rule.signed else Decimal(0)
    low, high = rule.caps.get(component, (floor, spec.scale))
    if not low <= value <= high:
        raise OutOfRange(
            f"{component} must be between {low} and {high}",
            field="value",
            low=low,
            high=high,
            component=component,
        )
    period = get_period(plan, code)
    assert period is not None
    from taskhub.units.models import Unit

    lock(db.session.get_one(Unit, unit_id))  # as in score_item: the owner's lock first
    existing = db.session.scalar(
        select(ComponentScore)
        .where(
            ComponentScore.period_id == period.id,
            ComponentScore.unit_id == unit_id,
            ComponentScore.component == component,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    value = value.quantize(Decimal("0.0001"))
    if existing is not None and (existing.value, existing.reason) == (value, reason):
        return None
    before = {"value": existing.value, "reason": existing.reason} if existing else None
    score = existing or ComponentScore(period_id=period.id, unit_id=unit_id, component=component)
    actor_id = actor.id if actor else None
    score.value, score.reason, score.source, score.entered_by_id = value, reason, source, actor_id
    score.entered_at = now_utc()
    db.session.add(score)
    db.session.flush()
    audit.record(
        "score.component_set",
        "component_score",
        score.id,
        actor_id=actor.id if actor else None,
        before=before,
        after={
            "value": value,
            "reason": reason,
            "period": code,
            "unit_id": unit_id,
            "component": component,
        },
    )
    return score


def free_items(section: Section) -> tuple[list[Item], Decimal]:
    """Items under a budgeted section that have no points of their own, and what they share.

    Walks down through sub-sections without a budget (Baotou's area 三 → (一) → items 54–58).
    """
    items: list[Item] = []
    fixed = Decimal(0)

    def walk(node: Section) -> None:
        nonlocal fixed
        for item in node.items:
            if item.points is None:
                items.append(item)
            else:
                fixed += item.points
        for child in node.children:
            if child.points is None:
                walk(child)
            else:
                fixed += child.points

    walk(section)
    budget = (section.points or Decimal(0)) - fixed
    return items, budget


def allocatable_sections(plan: Plan) -> list[tuple[Section, list[Item], Decimal]]:
    """Budgeted sections whose budget is shared by items without points (top-most first)."""
    out = []
    covered: set[int] = set()
    for section in sorted(plan.sections, key=lambda s: s.position):
        if section.points is None:
            continue
        items, budget = free_items(section)
        items = [i for i in items if i.id not in covered]
        if items:
            covered.update(i.id for i in items)
            out.append((section, items, budget))
    return out


def allocate_points(section: Section, points: dict[int, Decimal], *, actor: User) -> None:
    """The lead assessment unit shares a section's budget among its items without points."""
    if section.points is None:
        raise ValidationFailed("this section has no budget to allocate")
    items, budget = free_items(section)
    if not items:
        raise ValidationFailed("this section has no items without points to allocate")
    if set(points) != {i.id for i in items}:
        raise ValidationFailed("give points for every item without points of this section")
    for value in points.values():
        check_number(value, "points")
    for item in items:
        if actor.role not in ("admin", "office"):
            scorer_key_for(actor, item)  # raises unless the actor's unit leads its assessment
    total = sum(points.values(), Decimal(0))
    if any(p < 0 for p in points.values()) or total != budget:
        raise AllocationMismatch(
            f"the allocation adds up to {total}; it must add up to the budget {budget}",
            total=total,
            budget=budget,
        )
    for item in items:
        row = db.session.scalar(select(PointAllocation).where(PointAllocation.item_id == item.id))
        before = {"points": row.points} if row else None
        row = row or PointAllocation(item_id=item.id, points=points[item.id])
        row.points, row.allocated_by_id, row.allocated_at = points[item.id], actor.id, now_utc()
        db.session.add(row)
        db.session.flush()
        audit.record(
            "score.points_allocated",
            "item",
            item.id,
            actor_id=actor.id,
            before=before,
            after={"points": row.points},
        )


# -- results, rankings, snapshots ---------------------------------------------------------------


def scored_kinds(plan: Plan) -> list[str]:
    """The period kinds the plan's scheme scores (none without a scoring engine)."""
    try:
        return list(engine_of(plan).periods)
    except ValidationFailed:
        return []


def period_codes(plan: Plan, *, first_only: bool = False) -> list[str]:
    """The periods of the plan's year that it is scored by: months, halves, then the year
    (the first is the pages' default); ``first_only``: the first of each kind, as examples."""
    year = plan.year
    codes = {
        PeriodKind.MONTH.value: [f"{year}-{m:02d}" for m in range(1, 13)],
        PeriodKind.HALF_YEAR.value: [f"{year}-H1", f"{year}-H2"],
        PeriodKind.YEAR.value: [str(year)],
    }
    kinds = scored_kinds(plan)
    found = [c for kind, c in codes.items() if kind in kinds]
    return [c[0] for c in found] if first_only else [code for c in found for code in c]


@dataclass
class Ranked:
    unit_id: int
    unit_name: str
    total: Decimal
    rank: int | None
    previous_rank: int | None
    components: dict[str, Decimal | None]
    #: What each area adds to the total (sums to the items component's weighted share).
    areas: dict[str, Decimal] = field(default_factory=dict)

    @property
    def change(self) -> int | None:
        """Places gained since the previous period (positive: moved up)."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "unit": self.unit_name,
            "total": self.total,
            "rank": self.rank,
            "previous_rank": self.previous_rank,
            "change": self.change,
            "components": self.components,
            "areas": self.areas,
        }


def _to_ranked(r: UnitResult) -> Ranked:
    comps = {k: (quantised_total(v) if v is not None else None) for k, v in r.components.items()}
    # Apportioned, so the shown area scores add up exactly to their (rounded) sum.
    titles = list(r.areas)
    shares = apportion(
        [r.areas[t] for t in titles], quantised_total(sum(r.areas.values(), Fraction(0)))
    )
    areas = dict(zip(titles, shares, strict=True))
    return Ranked(r.unit_id, r.unit_name, quantised_total(r.total), r.rank, None, comps, areas)


def results(
    plan: Plan, code: str, *, settled: Fingerprint | None = None
) -> tuple[list[Ranked], Snapshot | None]:
    """Every unit's total and rank with the change against the previous period.

    A closed period answers from its latest snapshot, frozen. ``settled``: the newest audit
    event that may move a score (live.score_key); given, open periods answer from
    live totals brought forward from change to change (taskhub.scoring.live), equal to the
    full roll-up; without it, the plan is rolled up.
    """
    snapshot = latest_snapshot(plan, code)
    if snapshot is not None:
        rows = [
            Ranked(
                d["unit_id"],
                d["unit"],
                dec(d["total"]),
                d["rank"],
                d["previous_rank"],
                {k: (dec(v) if v is not None else None) for k, v in d["components"].items()},
                {k: dec(v) for k, v in d.get("areas", {}).items()},
            )
            for d in snapshot.data["units"]
        ]
        return rows, snapshot
    if settled is None:
        rows = [_to_ranked(r) for r in compute(plan, code)]
    else:
        rows = _live_rows(plan, code, settled)
    previous = _previous_ranks(plan, code, settled)
    for row in rows:
        row.previous_rank = previous.get(row.unit_id)
    rows.sort(key=lambda r: (r.rank or 10**9, r.unit_name))
    return rows, None


def _live_rows(plan: Plan, code: str, settled: Fingerprint) -> list[Ranked]:
    """The live totals as rows; a unit's row is converted again only when its total was
    counted again (the totals carry the other units' results over as they were)."""
    totals = live.live_totals(plan, code, settled)
    key = ("live_rows", plan.id, code, live.score_day(plan))
    held = cache.held(key)
    before: dict[int, tuple[UnitResult, Ranked]] = held[1] if held is not None else {}
    shown: dict[int, tuple[UnitResult, Ranked]] = {}
    for uid, result in totals.units.items():
        old = before.get(uid)
        shown[uid] = old if old is not None and old[0] is result else (result, _to_ranked(result))
    cache.store(key, settled, shown)
    ranks = totals.ranks
    # Fresh rows (the caller sets their previous ranks), built directly: faster than replace().
    return [
        Ranked(r.unit_id, r.unit_name, r.total, ranks.get(uid), None, r.components, r.areas)
        for uid, (_, r) in shown.items()
    ]


def _previous_ranks(
    plan: Plan, code: str, settled: Fingerprint | None = None
) -> dict[int, int | None]:
    """Ranks of the period before: its latest snapshot, else live if it is in use, else none."""
    before = previous_code(code)
    snapshot = latest_snapshot(plan, before)
    if snapshot is not None:
        return {d["unit_id"]: d["rank"] for d in snapshot.data["units"]}
    if get_period(plan, before, create=False) is None:
        return {}
    if settled is not None:
        return dict(live.live_totals(plan, before, settled).ranks)
    return {r.unit_id: r.rank for r in compute(plan, before)}


def explain(plan: Plan, unit_id: int, code: str) -> dict[str, Any]:
    """Every contribution to one unit's total; the values add up to the total exactly.

    A closed period is explained from its snapshot, as published.
    """
    snapshot = latest_snapshot(plan, code)
    if snapshot is not None:
        frozen = snapshot.data.get("explanations", {}).get(str(unit_id))
        if frozen is None:
            raise NotFound("this unit is not scored by this plan")
        return {**_decimals(frozen), "revision": snapshot.revision}
    return _explain_live(plan, unit_id, code)


_NUMERIC = ("total", "points", "fraction", "weight", "value")


def _decimals(data: dict[str, Any]) -> dict[str, Any]:
    """Numbers frozen as JSON strings, back to Decimal (so live and frozen answers match)."""
    out = {k: (dec(v) if k in _NUMERIC and v is not None else v) for k, v in data.items()}
    out["contributions"] = [
        {k: (dec(v) if k in _NUMERIC and v is not None else v) for k, v in c.items()}
        for c in data.get("contributions", [])
    ]
    return out


def _explain_live(plan: Plan, unit_id: int, code: str) -> dict[str, Any]:
    found = [r for r in compute(plan, code, unit_id=unit_id)]
    if not found:
        raise NotFound("this unit is not scored by this plan")
    return _explanation(plan, code, found[0])


def _explanation(plan: Plan, code: str, result: UnitResult) -> dict[str, Any]:
    unit_id = result.unit_id
    total = quantised_total(result.total)
    values = apportion([c.value for c in result.contributions], total)
    return {
        "plan": plan.code,
        "period": code,
        "unit_id": unit_id,
        "unit": result.unit_name,
        "total": total,
        "contributions": [c.as_dict(v) for c, v in zip(result.contributions, values, strict=True)],
    }


def latest_snapshot(plan: Plan, code: str) -> Snapshot | None:
    period = get_period(plan, code, create=False)
    if period is None:
        return None
    return db.session.scalar(
        select(Snapshot)
        .where(Snapshot.period_id == period.id)
        .order_by(Snapshot.revision.desc())
        .limit(1)
    )


def close_period(
    plan: Plan,
    code: str,
    *,
    actor: User | None,
    reason: str | None = None,
    expected_revision: int | None = None,
    doc_number: str | None = None,
) -> Snapshot:
    """Freeze the period's scores and ranks; after closing, corrections are new revisions.

    ``expected_revision``: the latest revision the client saw (0: none); another one
    published since refuses the close (StaleObject). ``doc_number``: the bulletin's 文号
    (optional; blank keeps the one already set)."""
    from taskhub.tracking.services import StaleObject

    if actor is not None and actor.role not in ("admin", "office"):
        raise PermissionDenied("only the office closes periods")
    period = get_period(plan, code)
    assert period is not None
    # Concurrent closes of one period run one after the other: each numbers its revision
    # after the one before, and the check below sees what that one published.
    lock(period)
    latest = (
        db.session.scalar(
            select(func.max(Snapshot.revision)).where(Snapshot.period_id == period.id)
        )
        or 0
    )
    if expected_revision is not None and expected_revision != latest:
        raise StaleObject(
            f"revision {latest} was published since you read revision {expected_revision}"
        )
    computed = compute(plan, code, explain=True)  # one pass, item by item, for all units
    live = [_to_ranked(r) for r in computed]
    previous = _previous_ranks(plan, code)
    for row in live:
        row.previous_rank = previous.get(row.unit_id)
    live.sort(key=lambda r: (r.rank or 10**9, r.unit_name))
    revision = latest + 1
    if revision > 1 and not (reason or "").strip():
        raise ValidationFailed("a correction after closing needs a reason", ["reason"])
    check_text("period.reason", reason, field="reason")
    number = clean_doc_number(doc_number)
    snapshot = Snapshot(
        period_id=period.id,
        revision=revision,
        reason=(reason or "").strip() or None,
        created_by_id=actor.id if actor else None,
        data={
            "units": [_jsonable(r.as_dict()) for r in live],
            # The explanation of each unit is frozen with its total, so it still adds up.
            "explanations": {
                str(r.unit_id): _jsonable(_explanation(plan, code, r)) for r in computed
            },
            "closed_at": now_utc().isoformat(),
        },
    )
    db.session.add(snapshot)
    period.is_closed, period.closed_at = True, now_utc()
    before_number = period.doc_number
    if number:
        period.doc_number = number
    db.session.flush()
    audit.record(
        "period.closed" if revision == 1 else "period.revised",
        "period",
        period.id,
        actor_id=actor.id if actor else None,
        before={"doc_number": before_number} if number and number != before_number else None,
        after={
            "plan": plan.code,
            "period": code,
            "revision": revision,
            "reason": snapshot.reason,
            "doc_number": period.doc_number,
        },
    )
    webhooks.period_closed(plan, period, snapshot)
    return snapshot


def clean_doc_number(value: str | None) -> str | None:
    """A 文号 as typed, spaces trimmed; None when blank. Brackets are the writer's choice
    (〔2022〕 by GB/T 9704, but offices type [2022] too): kept as given."""
    text = " ".join((value or "").split())
    check_text("period.doc_number", text, field="doc_number")
    return text or None


def set_doc_number(plan: Plan, code: str, doc_number: str | None, *, actor: User | None) -> Period:
    """The office sets or corrects the bulletin's 文号 of a period (blank clears it); audited."""
    if actor is not None and actor.role not in ("admin", "office"):
        raise PermissionDenied("only the office sets a bulletin's document number")
    period = get_period(plan, code)
    assert period is not None
    # Locked first: simultaneous changes then apply one after the other, each audited with
    # the number it really replaced.
    lock(period)
    number = clean_doc_number(doc_number)
    if number == period.doc_number:
        return period
    before = period.doc_number
    period.doc_number = number
    db.session.flush()
    audit.record(
        "period.doc_number",
        "period",
        period.id,
        actor_id=actor.id if actor else None,
        before={"doc_number": before},
        after={"plan": plan.code, "period": code, "doc_number": number},
    )
    return period


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    from taskhub.audit.services import jsonable

    result: dict[str, Any] = jsonable(data)
    return result


def unit_by_name(plan: Plan, name: str) -> int:
    """A unit of the plan's city by name or alias (for the CLI and imports)."""
    from taskhub.units.models import Unit, UnitAlias

    unit_id = db.session.scalar(
        select(Unit.id)
        .join(UnitAlias, UnitAlias.unit_id == Unit.id)
        .where(UnitAlias.city_id == plan.city_id, UnitAlias.name == name.strip())
    )
    if unit_id is None:
        raise NotFound(f"no unit {name!r} in {plan.city.name}")
    return unit_id
