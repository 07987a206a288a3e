"""The dashboard's live ranking (taskhub.scoring.live) equals the full roll-up after every kind
of change: the units a change names are counted again and the plan ranked again; any other
change rolls the plan up whole. Compared row by row (totals, ranks, previous ranks, components,
areas) with scoring.results() without the live totals, for both half-years of Baotou 2022; the
dashboard's overdue and at-risk counts per unit and its completion by area, brought forward the
same way, likewise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from taskhub.audit import services as audit
from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.storage import LocalStorage
from taskhub.dashboard import services as dashboard
from taskhub.plans import editor
from taskhub.plans.models import Item, Plan
from taskhub.scoring import live
from taskhub.scoring import services as scoring
from taskhub.scoring.models import ComponentScore
from taskhub.scoring.schemes import get_period
from taskhub.tracking import schedule
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, ItemMilestone, Milestone, MilestoneStatus
from taskhub.units.admin import create_unit
from taskhub.units.models import City, Unit
from tests.conftest import make_user, unit_named

BAOTOU = "baotou-2022"
CODES = ("2022-H1", "2022-H2")
H2 = (date(2022, 7, 1), date(2022, 12, 31))


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    cache.clear_cache()
    yield
    cache.clear_cache()


def baotou() -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == BAOTOU)).one()


def held(plan: Plan, code: str) -> live.LiveTotals:
    found = cache.held(("live_totals", plan.id, code, live.score_day(plan)))
    assert found is not None
    return found[1]  # type: ignore[no-any-return]


def check(plan: Plan) -> dict[str, live.LiveTotals]:
    """Live and full rankings of both halves agree row by row; the totals held now."""
    settled = cache.settled_fingerprint()
    for code in reversed(CODES):  # H2 first: its previous ranks bring H1 forward too
        fast = [r.as_dict() for r in scoring.results(plan, code, settled=settled)[0]]
        full = [r.as_dict() for r in scoring.results(plan, code)[0]]
        assert fast == full, code
        assert any(r["total"] for r in full)
    ranking = dashboard.ranking(plan, "2022-H2")
    assert [(r.unit_id, r.rank, r.previous_rank, r.total) for r in ranking.rows] == [
        (r.unit_id, r.rank, r.previous_rank, r.total) for r in scoring.results(plan, "2022-H2")[0]
    ]
    # The dashboard's overdue and at-risk counts per unit, brought forward the same way.
    day = date(2022, 6, 27)
    soon = dashboard.due_soon_until(day)
    overdue, at_risk = dashboard._plan_risk_counts(plan, day, cache.audit_fingerprint())
    assert overdue == dashboard._overdue_by_unit(plan, day, None)
    assert at_risk == dashboard._at_risk_by_unit(plan, day, soon, None)
    # Its completion by area, held unit by unit and brought forward the same way.
    areas = dashboard._plan_areas(plan, day, cache.audit_fingerprint())
    assert [(a.area_id, a.title, a.counts) for a in areas] == [
        (a.area_id, a.title, a.counts) for a in dashboard.area_completion(plan, today=day)
    ]
    return {code: held(plan, code) for code in CODES}


def kept(before: live.LiveTotals, after: live.LiveTotals, touched: set[int]) -> bool:
    """Whether every unit but ``touched`` was carried over (not counted again)."""
    return all(
        (after.units[uid] is result) == (uid not in touched)
        for uid, result in before.units.items()
        if uid in after.units
    )


def open_milestone(plan: Plan, unit: Unit, start: date, end: date) -> Milestone:
    return db.session.scalars(
        select(Milestone)
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Item.plan_id == plan.id,
            Assignment.unit_id == unit.id,
            ~Assignment.is_not_applicable,
            Milestone.status == MilestoneStatus.OPEN.value,
            Milestone.due_on >= start,
            Milestone.due_on <= end,
        )
        .order_by(Milestone.id)
        .limit(1)
    ).one()


def test_the_live_ranking_equals_the_full_roll_up_after_every_kind_of_change(
    session: Any, tmp_path: Any
) -> None:
    plan = baotou()
    office = make_user("office")
    for code in CODES:
        get_period(plan, code)  # both halves in use: H2 ranks against a live H1
    city = db.session.get(City, plan.city_id)
    assert city is not None
    units = sorted(scoring.scored_units(plan))
    first, second = unit_named("昆都仑区人民政府", "baotou"), unit_named("青山区人民政府", "baotou")
    for n, uid in enumerate(units):  # field scores, so that the halves rank differently
        scoring.score_component(
            plan, uid, "2022-H1", "field", Decimal(50 + n), actor=office, reason="实地核查"
        )
        scoring.score_component(
            plan, uid, "2022-H2", "field", Decimal(90 - n), actor=office, reason="实地核查"
        )
    session.commit()
    held_now = check(plan)

    def reviewed(unit: Unit, half: int, decision: str, **how: Any) -> Milestone:
        """A report on the unit's first open milestone of the half, decided by the office."""
        start, end = (date(2022, 1, 1), date(2022, 6, 30)) if half == 1 else H2
        milestone = open_milestone(plan, unit, start, end)
        report = tracking.submit_report(
            milestone.assignment,
            actor=office,
            progress="节点进展。",
            percent=60,
            milestone_id=milestone.id,
            storage=LocalStorage(tmp_path),
            max_bytes=1024,
        )
        session.flush()
        tracking.review_report(report, actor=office, decision=decision, **how)
        return milestone

    # A report on an H1 milestone accepted through the review service: that unit only.
    reviewed(first, 1, "accept", today=date(2022, 6, 20))
    session.commit()
    after = check(plan)
    assert all(kept(held_now[c], after[c], {first.id}) for c in CODES)

    # A report returned, then a score entered for each half, of two other units.
    reviewed(second, 2, "return", reason="佐证不足")
    scoring.score_component(
        plan, units[-1], "2022-H2", "field", Decimal("97.5"), actor=office, reason="实地核查"
    )
    scoring.score_component(
        plan, units[0], "2022-H1", "survey", Decimal(12), actor=office, reason="群众满意度"
    )
    session.commit()
    before, after = after, check(plan)
    touched = {second.id, units[-1], units[0]}
    assert all(kept(before[c], after[c], touched) for c in CODES)

    # A report accepted for the second half completes a milestone there.
    milestone = reviewed(second, 2, "accept", today=date(2022, 12, 1))
    session.commit()
    before, after = after, check(plan)
    assert all(kept(before[c], after[c], {second.id}) for c in CODES)

    # A milestone of an item moved from the first half into the second: every unit of the
    # item, so the plan is rolled up whole.
    copy = open_milestone(plan, first, date(2022, 1, 1), date(2022, 6, 30))
    step = db.session.get(ItemMilestone, copy.item_milestone_id)
    assert step is not None
    schedule.move_item_milestone(step, date(2022, 7, 15), actor_id=office.id)
    session.commit()
    before, after = after, check(plan)
    assert not any(after["2022-H1"].units[u] is before["2022-H1"].units[u] for u in units)

    # A unit added to an item of the published plan (a revision): rolled up whole, new unit in.
    added = create_unit(city, {"name": "新设园区管委会", "kind": "department"}, actor=office)
    item = milestone.assignment.item
    leads = [u.name for u in item.units_by_role("lead")]
    data = editor.ItemInput(
        section_id=item.section_id,
        number=item.number,
        text=item.text,
        title=item.title,
        points=item.points,
        deadline=item.deadline_phrase,
        target=item.target,
        units={"lead": "、".join([*leads, added.name])},
    )
    editor.update_item(plan, item, data, actor=office, reason="新设单位承担任务")
    session.commit()
    assert added.id in scoring.scored_units(plan)
    after = check(plan)
    assert added.id in after["2022-H2"].units

    # A change rolled back and its event id reused by another: the chain tells them apart.
    scoring.score_component(
        plan, units[1], "2022-H2", "field", Decimal(1), actor=office, reason="误录"
    )
    session.flush()
    check(plan)  # held as of the event about to be rolled back
    session.rollback()
    scoring.score_component(
        plan, units[2], "2022-H2", "field", Decimal(2), actor=office, reason="实地核查"
    )
    session.commit()
    check(plan)
    assert db.session.scalar(
        select(ComponentScore.value).where(
            ComponentScore.unit_id == units[1], ComponentScore.component == "field"
        )
    ) != Decimal(1)


def test_events_that_do_not_name_their_unit_roll_the_plan_up(session: Any) -> None:
    office = make_user("office")
    base = audit.record("plan.published", "plan", 1, actor_id=office.id)
    session.flush()
    seen = (base.id, base.digest)
    score = audit.record("score.component_set", "component_score", 10**9, actor_id=office.id)
    session.flush()
    # The object is gone (or never was): no guess at its unit.
    assert live.touched_units(seen, (score.id, score.digest)) is None
    moved = audit.record("milestone.moved", "item_milestone", 1, actor_id=office.id)
    session.flush()
    assert live.touched_units(seen, (moved.id, moved.digest)) is None
    # Neutral events name nothing to count again.
    submitted = audit.record("report.submitted", "progress_report", 1, actor_id=office.id)
    session.flush()
    now = (submitted.id, submitted.digest)
    assert live.touched_units((moved.id, moved.digest), now) == set()
    # A fingerprint not in the chain any more: start over.
    assert live.touched_units((moved.id, "not-its-digest"), now) is None
