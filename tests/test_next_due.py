"""Assignment.next_due_on stays the earliest open milestone date on every kind of change.

The ledger filters lights and sorts by this stored column, so a stale value would show a wrong
light. Each test changes milestones the way the application does and compares the column with
the value recomputed from the milestones.
"""

from __future__ import annotations

import importlib.util
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from taskhub.core.db import db
from taskhub.core.storage import LocalStorage
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import (
    Assignment,
    Milestone,
    MilestoneStatus,
    refresh_next_due,
)
from taskhub.tracking.schedule import (
    MilestoneInput,
    add_item_milestones,
    apply_parsed_schedules,
    move_item_milestone,
    remove_item_milestone,
)
from taskhub.tracking.services import decide_extension, request_extension, review_report
from tests.conftest import make_user
from tests.test_tracking import assignment, assignments_of, office, plan_item, report, unit_user

D = date.fromisoformat
MIGRATION = (
    Path(__file__).resolve().parent.parent
    / "migrations/versions/20261125_a3e1f07c52b9_assignment_next_due_on.py"
)
COUNTS_MIGRATION = MIGRATION.with_name("20261125_f3c8a1d5b7e2_period_counts.py")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "evidence")


def recomputed(assignment_id: int) -> date | None:
    """The earliest open (extended) due date, from the milestones as the database has them."""
    dates = [
        m.effective_due_on
        for m in db.session.scalars(
            select(Milestone)
            .where(Milestone.assignment_id == assignment_id, Milestone.status == "open")
            .execution_options(populate_existing=True)
        )
    ]
    return min(dates, default=None)


def stored(assignment_id: int) -> date | None:
    return db.session.scalar(select(Assignment.next_due_on).where(Assignment.id == assignment_id))


def assert_current(*assignments: Assignment) -> None:
    """The stored date is right, in the database and on the loaded objects."""
    for a in assignments:
        expected = recomputed(a.id)
        assert stored(a.id) == expected, a.id
        assert a.next_due_on == expected, a.id  # the loaded object is not left stale


def period_count_errors() -> int:
    """Stored period counts that differ from the milestones' (recounted here in Python)."""
    from taskhub.scoring.models import Period
    from taskhub.tracking.models import PeriodCount

    expected: dict[tuple[int, int], list[int]] = {}
    rows = db.session.execute(
        select(
            Period.id,
            Assignment.id,
            Milestone.due_on,
            Milestone.status,
            Milestone.is_late,
            Period.starts_on,
            Period.ends_on,
        )
        .join(Item, Item.plan_id == Period.plan_id)
        .join(Assignment, Assignment.item_id == Item.id)
        .join(Milestone, Milestone.assignment_id == Assignment.id)
    )
    for period_id, aid, due_on, status, late, starts, ends in rows:
        if status == "waived" or not starts <= due_on <= ends:
            continue
        counts = expected.setdefault((period_id, aid), [0, 0, 0])
        counts[0] += 1
        if status == "done":
            counts[2 if late else 1] += 1
    stored = {
        (r.period_id, r.assignment_id): [r.due, r.on_time, r.late]
        for r in db.session.scalars(select(PeriodCount))
    }
    keys = expected.keys() | stored.keys()
    return sum(1 for k in keys if expected.get(k) != stored.get(k))


def with_periods(*codes: str, plan_code: str = "baotou-2022") -> None:
    """Scoring periods of a plan, so that its period counts are kept."""
    from taskhub.scoring.schemes import get_period

    plan = db.session.scalars(select(Plan).where(Plan.code == plan_code)).one()
    for code in codes:
        get_period(plan, code)
    db.session.flush()


def stale_count() -> int:
    """Assignments whose stored date differs from the milestones' (all of them, one query),
    plus stored period counts that differ from the milestones'."""
    return next_due_stale() + period_count_errors()


def next_due_stale() -> int:
    # A grouped join, not a subquery per row: right after a reload PostgreSQL's statistics are
    # stale and it would scan the milestones once per assignment.
    earliest = (
        select(
            Milestone.assignment_id,
            func.min(func.coalesce(Milestone.extended_to, Milestone.due_on)).label("due"),
        )
        .where(Milestone.status == MilestoneStatus.OPEN.value)
        .group_by(Milestone.assignment_id)
        .subquery()
    )
    query = (
        select(func.count())
        .select_from(Assignment)
        .outerjoin(earliest, earliest.c.assignment_id == Assignment.id)
        .where(Assignment.next_due_on.is_distinct_from(earliest.c.due))
    )
    return db.session.scalar(query) or 0


def test_the_seeded_plans_have_their_next_due_dates(session: Any) -> None:
    """The seed loader (phrases parsed, copies inserted in bulk) leaves every row right."""
    assert stale_count() == 0
    with_periods("2022-H1", "2022-H2", "2022")  # filled when a period is created
    from taskhub.tracking.models import PeriodCount

    assert db.session.scalar(select(func.count()).select_from(PeriodCount))
    assert stale_count() == 0
    a = assignment("baotou-2022", "3")  # 6月底完成: one step
    assert a.next_due_on == D("2022-06-30")
    assert db.session.scalar(select(func.count()).where(Assignment.next_due_on.is_not(None))) > 0


def test_accepting_a_report_moves_it_to_the_next_step_then_clears_it(
    session: Any, storage: LocalStorage
) -> None:
    with_periods("2022-H1", "2022-H2")
    a = assignment("baotou-2022", "1")  # notable 05-31, then monthly checkpoints to 12-31
    first, second = a.milestones[:2]
    assert a.next_due_on == first.due_on
    reviewer, user = office(), unit_user(a)

    r = report(a, user, storage, percent=40, milestone=first)
    review_report(r, actor=reviewer, decision="accept", today=D("2022-05-20"))
    assert first.status == "done"
    assert a.next_due_on == second.due_on
    assert_current(a)

    final = report(a, user, storage, percent=100)
    review_report(final, actor=reviewer, decision="accept", today=D("2022-07-15"))
    assert a.status == "completed"
    assert a.next_due_on is None
    assert_current(a)


def test_a_returned_report_changes_nothing(session: Any, storage: LocalStorage) -> None:
    with_periods("2022-H1", "2022-H2")
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    r = report(a, unit_user(a), storage, milestone=ms)
    review_report(r, actor=office(), decision="return", reason="佐证不足", today=D("2022-06-01"))
    assert a.next_due_on == D("2022-06-30")
    assert_current(a)


def test_an_approved_extension_moves_it_a_rejected_one_does_not(session: Any) -> None:
    with_periods("2022-H1", "2022-H2")
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    user, decider = unit_user(a), office()
    ext = request_extension(ms, actor=user, reason="系统对接延迟", requested_due_on=D("2022-07-31"))
    decide_extension(ext, actor=decider, approve=False, reason="不符合条件")
    assert a.next_due_on == D("2022-06-30")

    ext = request_extension(ms, actor=user, reason="系统对接延迟", requested_due_on=D("2022-08-31"))
    decide_extension(ext, actor=decider, approve=True)

    assert a.next_due_on == D("2022-08-31")
    assert_current(a)


def test_adding_moving_and_removing_item_steps_reach_every_assignment(
    session: Any, storage: LocalStorage
) -> None:
    with_periods("2022", plan_code="hegang-2022")
    item = plan_item("hegang-2022", "3")  # no schedule of its own
    copies = assignments_of(item)
    assert len(copies) == 9 and all(a.next_due_on is None for a in copies)
    actor = office()

    stage, complete = add_item_milestones(
        [item],
        [
            MilestoneInput("stage", D("2022-06-30"), "完成平台建设"),
            MilestoneInput("complete", D("2022-09-30"), "全面上线运行"),
        ],
        actor_id=actor.id,
    )
    assert {a.next_due_on for a in copies} == {D("2022-06-30")}
    assert_current(*copies)

    # One unit finishes the stage; moving the step then moves only the others' dates.
    done_a, *open_as = copies
    done_copy = next(m for m in done_a.milestones if m.item_milestone_id == stage.id)
    review_report(
        report(done_a, unit_user(done_a), storage, milestone=done_copy),
        actor=actor,
        decision="accept",
        today=D("2022-06-20"),
    )
    move_item_milestone(stage, D("2022-07-15"), actor_id=actor.id)
    assert done_a.next_due_on == D("2022-09-30")
    assert {a.next_due_on for a in open_as} == {D("2022-07-15")}
    assert_current(*copies)

    # Moving the later step before the stage makes it the next one.
    move_item_milestone(complete, D("2022-07-01"), actor_id=actor.id)
    assert {a.next_due_on for a in copies} == {D("2022-07-01")}
    assert_current(*copies)

    remove_item_milestone(complete, actor_id=actor.id)
    assert done_a.next_due_on is None
    assert {a.next_due_on for a in open_as} == {D("2022-07-15")}
    assert_current(*copies)
    assert stale_count() == 0


def test_reapplying_phrases_keeps_it_right(session: Any) -> None:
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    item = db.session.scalars(select(Item).where(Item.plan_id == plan.id, Item.code == "3")).one()
    item.deadline_phrase = "9月底完成"
    apply_parsed_schedules(plan)
    copies = assignments_of(item)
    assert {a.next_due_on for a in copies} == {D("2022-09-30")}
    assert_current(*copies)
    assert stale_count() == 0


def test_waiving_and_the_orm_paths_keep_it_without_an_edit(session: Any) -> None:
    """Direct ORM changes (waive, add, delete, orphan) update it, with no version bump."""
    with_periods("2022-H1", "2022")
    a = assignment("baotou-2022", "1")
    first, second, third = a.milestones[:3]
    version, updated_at = a.version, a.updated_at

    first.status = "waived"
    db.session.flush()
    assert a.next_due_on == second.due_on
    assert (a.version, a.updated_at) == (version, updated_at)  # derived, not an edit

    db.session.add(Milestone(assignment=a, kind="step", title="提前", due_on=D("2022-01-15")))
    db.session.flush()
    assert a.next_due_on == D("2022-01-15")

    early = next(m for m in a.milestones if m.due_on == D("2022-01-15"))
    a.milestones.remove(early)  # delete-orphan
    db.session.flush()
    assert a.next_due_on == second.due_on

    db.session.delete(second)
    db.session.commit()
    assert a.next_due_on == third.due_on
    assert_current(a)

    # A milestone added by id only (no relationship set) counts too.
    db.session.add(Milestone(assignment_id=a.id, kind="step", title="x", due_on=D("2022-02-01")))
    db.session.commit()
    assert a.next_due_on == D("2022-02-01")
    assert_current(a)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_milestone_changes_keep_every_row_right(session: Any, seed: int) -> None:
    rng = random.Random(seed)
    with_periods("2022-H1", "2022")
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    rows = list(
        db.session.scalars(
            select(Assignment).join(Item).where(Item.plan_id == plan.id).order_by(Assignment.id)
        )
    )
    picked = rng.sample(rows, 25)
    for _ in range(6):
        for a in picked:
            op = rng.choice(["done", "waive", "reopen", "extend", "add", "delete"])
            ms = a.milestones
            m = rng.choice(ms) if ms else None
            if op == "add" or m is None:
                day = D("2022-01-01") + timedelta(days=rng.randrange(365))
                a.milestones.append(Milestone(kind="step", title="随机", due_on=day))
            elif op == "done":
                m.status, m.completed_on = "done", m.due_on
            elif op == "waive":
                m.status = "waived"
            elif op == "reopen":
                m.status, m.completed_on = "open", None
            elif op == "extend":
                m.extended_to = m.due_on + timedelta(days=rng.randrange(1, 60))
            else:
                a.milestones.remove(m)  # deleted as an orphan; the collection stays true
        if rng.random() < 0.5:
            db.session.commit()
        else:
            db.session.flush()
        assert stale_count() == 0
        for a in picked:
            assert a.next_due_on == recomputed(a.id)


def test_refresh_and_the_migration_backfill_recompute_from_the_milestones(session: Any) -> None:
    from taskhub.tracking.models import PeriodCount

    with_periods("2022-H1", "2022")
    make_user("office")  # anything committed, then spoil every stored date and count
    db.session.execute(update(Assignment).values(next_due_on=D("1999-01-01")))
    db.session.execute(update(PeriodCount).values(due=PeriodCount.due + 1))
    assert stale_count() > 0

    refresh_next_due(db.session, item_ids=db.session.scalars(select(Item.id)).all())
    assert stale_count() == 0

    db.session.execute(update(Assignment).values(next_due_on=None))
    spec = importlib.util.spec_from_file_location("next_due_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    db.session.execute(text(migration.BACKFILL))
    assert next_due_stale() == 0

    db.session.execute(delete(PeriodCount))
    assert period_count_errors() > 0
    spec = importlib.util.spec_from_file_location("counts_migration", COUNTS_MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    db.session.execute(text(migration.BACKFILL))
    assert stale_count() == 0
