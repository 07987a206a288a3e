"""Live totals of an open period, brought forward from change to change.

Rolling a province's plan up (2,000 units, 100,000 assignments) costs a few hundred ms, twice
for a ranking with the change against the previous period. Most changes that can move a
ranking touch one unit: a report accepted or returned, an item or component score entered, an
extension decided, a task signed off or reopened. Each unit's total depends on its own rows
only (its period counts, its item scores, its components) and on the plan's points, so after
such changes the units they touched are counted again by the same grouped arithmetic
(``rollup.compute(..., only=units)``) and the whole plan is ranked again from the totals: the
result is the full roll-up's, exactly (tests/test_live_ranking.py compares them).

The events since the totals were held are read from the audit trail (at most SCAN, checked by
digest at both ends). Any other change (a schedule change, points, a plan revision, a unit
added, merged or handed a task, a period closed) or an event whose object is gone counts the
whole plan again: nothing outside the list below is assumed to leave other units alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from flask import g, has_request_context
from sqlalchemy import select

from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Plan
from taskhub.scoring.engine import competition_ranks
from taskhub.scoring.models import ComponentScore, ItemScore
from taskhub.scoring.rollup import UnitResult, compute, shown_totals
from taskhub.scoring.schemes import engine_of, parse_period_code
from taskhub.tracking.models import Assignment, ExtensionRequest, Milestone, ProgressReport

#: Events read at most to bring totals forward; past that the plan is counted again.
SCAN = 200
#: Units counted again at most; past that the whole plan is (one grouped read is cheaper).
MAX_TOUCHED = 200


def _report_units(ids: list[int]) -> Any:
    return (
        select(ProgressReport.id, Assignment.unit_id)
        .join(Assignment, Assignment.id == ProgressReport.assignment_id)
        .where(ProgressReport.id.in_(ids))
    )


def _item_score_units(ids: list[int]) -> Any:
    return select(ItemScore.id, ItemScore.unit_id).where(ItemScore.id.in_(ids))


def _component_units(ids: list[int]) -> Any:
    return select(ComponentScore.id, ComponentScore.unit_id).where(ComponentScore.id.in_(ids))


def _extension_units(ids: list[int]) -> Any:
    return (
        select(ExtensionRequest.id, Assignment.unit_id)
        .join(Milestone, Milestone.id == ExtensionRequest.milestone_id)
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .where(ExtensionRequest.id.in_(ids))
    )


def _assignment_units(ids: list[int]) -> Any:
    return select(Assignment.id, Assignment.unit_id).where(Assignment.id.in_(ids))


#: Object type → (object id, its unit) for the ids given.
_UNIT_OF: dict[str, Callable[[list[int]], Any]] = {
    "progress_report": _report_units,
    "item_score": _item_score_units,
    "component_score": _component_units,
    "extension_request": _extension_units,
    "assignment": _assignment_units,
}
#: Audited actions whose changes stay within the unit of their object (its assignments, their
#: milestones and period counts, its scores), by the object type they are recorded on.
UNIT_SCOPED = {
    "report.submitted": "progress_report",
    "assignment.acknowledged": "assignment",
    "extension.requested": "extension_request",
    "report.accepted": "progress_report",
    "report.returned": "progress_report",
    "score.item_set": "item_score",
    "score.component_set": "component_score",
    "extension.approved": "extension_request",
    "extension.rejected": "extension_request",
    "assignment.closed": "assignment",
    "assignment.reopened": "assignment",
}


#: Audited actions that change no assignment, milestone, score, unit or plan at all.
UNTOUCHED = cache.SETTLED_NEUTRAL - set(UNIT_SCOPED)
#: Audited actions that move no score of a plan whose scores read the reports (报送率).
REPORT_NEUTRAL = cache.SETTLED_NEUTRAL - {"report.submitted"}


def touched_units(
    seen: cache.Fingerprint,
    current: cache.Fingerprint,
    neutral: frozenset[str] = cache.SETTLED_NEUTRAL,
) -> set[int] | None:
    """The units whose figures the changes after ``seen`` up to ``current`` may have moved,
    or None when they cannot all be told (the whole plan is counted again). ``neutral``: the
    actions that move none of the figures (by default those that move no score; UNTOUCHED
    for figures read from the tasks' status, percent and dates)."""
    # A dashboard view asks for the same span for several figures: answered once a request.
    memo: dict[Any, set[int] | None] | None = None
    if has_request_context():
        memo = g.get("touched_units")
        if memo is None:
            memo = g.touched_units = {}
        key = (seen, current, neutral)
        if key in memo:
            found = memo[key]
            return None if found is None else set(found)
    units = _touched_units(seen, current, neutral)
    if memo is not None:
        memo[(seen, current, neutral)] = None if units is None else set(units)
    return units


def _touched_units(
    seen: cache.Fingerprint, current: cache.Fingerprint, neutral: frozenset[str]
) -> set[int] | None:
    events = cache.events_since(seen, current, SCAN)
    if events is None:
        return None
    ids: dict[str, set[int]] = defaultdict(set)
    for action, object_type, object_id in events:
        if action in neutral:
            continue
        if UNIT_SCOPED.get(action) != object_type or not object_id.isdigit():
            return None
        ids[object_type].add(int(object_id))
    units: set[int] = set()
    for object_type, wanted in ids.items():
        found = db.session.execute(_UNIT_OF[object_type](sorted(wanted))).all()
        if len(found) != len(wanted):
            return None  # an object is gone (deleted since): no guess at its unit
        units.update(int(unit_id) for _, unit_id in found)
    return units


@dataclass(frozen=True)
class LiveTotals:
    """Every scored unit's exact result (its rank left unset) and the ranks of them all."""

    units: dict[int, UnitResult]
    ranks: dict[int, int]
    #: Each unit's total as displayed (what ranks compare), kept so a re-rank rounds the
    #: touched units' totals only.
    shown: dict[int, Decimal | None]

    def results(self) -> list[UnitResult]:
        """Copies with their ranks, in unit order (as the roll-up gives them)."""
        return [replace(r, rank=self.ranks.get(uid)) for uid, r in sorted(self.units.items())]


def _unranked(results: list[UnitResult]) -> dict[int, UnitResult]:
    return {r.unit_id: replace(r, rank=None) for r in results}


def reads_reports(plan: Plan) -> bool:
    """Whether the plan's scores read the reports' dates (a 报送率 component): then a report
    submitted moves a score, and so does the day (a reporting window closes at midnight)."""
    try:
        spec = engine_of(plan)
    except ValidationFailed:
        return False
    return any(c.fact == "reporting_rate" for c in spec.computed.values())


def score_key(plan: Plan, fingerprint: cache.Fingerprint | None = None) -> cache.Fingerprint:
    """The audit event a plan's scores are current as of: cache.settled_fingerprint, or the
    newest event of all when its scores read the reports (reads_reports)."""
    if reads_reports(plan):
        return fingerprint or cache.audit_fingerprint()
    return cache.settled_fingerprint(fingerprint)


def score_day(plan: Plan) -> str | None:
    """The office day a plan's live scores hold for (None: any day, no score reads it)."""
    return office_today().isoformat() if reads_reports(plan) else None


def live_totals(plan: Plan, code: str, settled: cache.Fingerprint) -> LiveTotals:
    """The plan's totals and ranks for an open period as of ``settled`` (the newest audit
    event that may move a score: score_key), brought forward from the totals held before
    when every change since names its unit, else rolled up whole."""
    reports_count = reads_reports(plan)
    key = ("live_totals", plan.id, code, score_day(plan))
    held = cache.held(key)
    if held is not None and held[0] == settled:
        return held[1]
    spec = engine_of(plan)
    rule = spec.rule_for(parse_period_code(code)[0])
    touched = None
    if held is not None and not rule.mean_of and not rule.annual:
        # A 报送率 component: a submitted report moves its unit's score (still one unit's).
        neutral = REPORT_NEUTRAL if reports_count else cache.SETTLED_NEUTRAL
        touched = touched_units(held[0], settled, neutral)
    if held is not None and touched is not None and len(touched) <= MAX_TOUCHED:
        before: LiveTotals = held[1]
        units, shown = dict(before.units), dict(before.shown)
        for uid in touched:
            units.pop(uid, None)
            shown.pop(uid, None)
        if touched:
            fresh = _unranked(compute(plan, code, only=touched))
            units.update(fresh)
            shown.update(shown_totals(fresh.values(), spec))
    else:
        units = _unranked(compute(plan, code))
        shown = shown_totals(units.values(), spec)
    ranks = competition_ranks({uid: v for uid, v in shown.items() if v is not None})
    totals = LiveTotals(units, ranks, shown)
    cache.store(key, settled, totals)
    return totals
