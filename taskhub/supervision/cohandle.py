"""Co-handle (协办): the co-handling units of an item add their part (协办意见) to the lead
unit's report of the current reporting round.

Plans name co-handling units (配合单位 / 协办单位) as the item's responsible units (documents'
配合 / 参与 / 协办 verbs are read into that role), so the co-handling units of a lead unit's
assignment are the units of the item's responsible-role assignments. A round is named by its due
date: the current period of the plan's (or section's) reporting cadence when one is set, else
the lead task's next due date. Each unit gives one part per round (a later change replaces
it, audited); the lead unit's page lists whose part is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.limits import check_text
from taskhub.supervision.models import CoReport
from taskhub.supervision.subtasks import SubtaskRefused, _check_open_parent
from taskhub.tracking.models import Assignment, AssignmentRole, AssignmentStatus
from taskhub.tracking.services import CLOSED_PLAN_STATUSES, lock_assignment
from taskhub.units.models import Unit

CO_REPORT_EVENT = "co_report_submitted"


def co_units(assignment: Assignment) -> list[Unit]:
    """The co-handling units of a lead unit's assignment (none for other roles): the units
    the item's responsible role assigned it to (named, or members of a named group)."""
    if assignment.role != AssignmentRole.LEAD.value:
        return []
    return list(
        db.session.scalars(
            select(Unit)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .where(
                Assignment.item_id == assignment.item_id,
                Assignment.role == AssignmentRole.RESPONSIBLE.value,
                Unit.id != assignment.unit_id,
            )
            .order_by(Assignment.id)
        )
    )


def lead_of(assignment: Assignment) -> Assignment | None:
    """The lead unit's assignment of the same item (the one co-handling parts belong to)."""
    return db.session.scalar(
        select(Assignment)
        .where(
            Assignment.item_id == assignment.item_id,
            Assignment.role == AssignmentRole.LEAD.value,
        )
        .order_by(Assignment.id)
        .limit(1)
    )


def can_add(lead: Assignment, user: User) -> bool:
    """A co-handling unit's own users add its part."""
    return user.role == "unit" and user.unit_id in {u.id for u in co_units(lead)}


def can_view(lead: Assignment, user: User) -> bool:
    return lead.can_view(user) or can_add(lead, user)


#: Working days before a round's due day that a co-handling unit is reminded of its missing part,
#: when the round is the lead task's next due date (a cadence's round: its remind days before).
REMIND_DAYS_BEFORE = 3


def _cadence_of(assignment: Assignment, memo: dict[Any, Any] | None = None) -> Any:
    """The reporting cadence that applies to the assignment's item (section, else plan).
    ``memo`` keeps the answer per section for a run over many assignments."""
    if memo is None:
        return _find_cadence(assignment)
    key = ("cadence", assignment.item.plan_id, assignment.item.section_id)
    if key not in memo:
        memo[key] = _find_cadence(assignment)
    return memo[key]


def _find_cadence(assignment: Assignment) -> Any:
    from taskhub.cadence import services as cadence

    plan = assignment.item.plan
    found = None
    section = assignment.item.section
    while section is not None and found is None:
        found = cadence.section_cadences_of(plan, section)
        section = section.parent
    return found or cadence.plan_cadence(plan)


def round_due_on(
    assignment: Assignment, today: date, memo: dict[Any, Any] | None = None
) -> date | None:
    """The current round's due date: the cadence's open period, else the next due date. A
    completed task (办结/销号) or one of a closed plan has no round open. ``memo``: as for
    _cadence_of, and each cadence's last window is computed once."""
    from taskhub.cadence import services as cadence

    plan = assignment.item.plan
    if assignment.status == AssignmentStatus.COMPLETED.value or plan.status in CLOSED_PLAN_STATUSES:
        return None
    found = _cadence_of(assignment, memo)
    if found is not None:
        key = ("last_due", found.id, today)
        if memo is not None and key in memo:
            last_due = memo[key]
        else:
            periods = cadence.windows(found, today)
            last_due = periods[-1].due_on if periods else None
            if memo is not None:
                memo[key] = last_due
        if last_due is not None and last_due >= today:
            return last_due
        if found.kind != "none":
            return None
    return assignment.next_due_on


def remind_days_before(assignment: Assignment, memo: dict[Any, Any] | None = None) -> int:
    """When the reminder of a missing part starts: the cadence's own setting, else 3."""
    found = _cadence_of(assignment, memo)
    if found is not None and found.kind != "none":
        return int(found.remind_days_before)
    return REMIND_DAYS_BEFORE


@dataclass(frozen=True)
class Round:
    due_on: date | None
    given: list[CoReport]
    missing: list[Unit]


def round_of(lead: Assignment, today: date) -> Round:
    """The current round: the parts given and the co-handling units whose part is missing."""
    due = round_due_on(lead, today)
    units = co_units(lead)
    if due is None or not units:
        return Round(due, [], [])
    given = list(
        db.session.scalars(
            select(CoReport)
            .where(CoReport.assignment_id == lead.id, CoReport.round_due_on == due)
            .order_by(CoReport.id)
        )
    )
    done = {c.unit_id for c in given}
    return Round(due, given, [u for u in units if u.id not in done])


def rounds_of(
    leads: list[Assignment], today: date, memo: dict[Any, Any] | None = None
) -> list[Round]:
    """round_of for many lead tasks at once (the reminders job): the same answers, with the
    cadences looked up once per section and the co-handling units and parts in one query
    each. ``memo`` may be given to remind_days_before afterwards."""
    if memo is None:
        memo = {}
    dues = [round_due_on(lead, today, memo) for lead in leads]
    asked = [
        (lead, due)
        for lead, due in zip(leads, dues, strict=True)
        if due is not None and lead.role == AssignmentRole.LEAD.value
    ]
    units_of: dict[int, list[Unit]] = {}
    given_of: dict[tuple[int, date], list[CoReport]] = {}
    if asked:
        for item_id, unit in db.session.execute(
            select(Assignment.item_id, Unit)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .where(
                Assignment.item_id.in_({lead.item_id for lead, _ in asked}),
                Assignment.role == AssignmentRole.RESPONSIBLE.value,
            )
            .order_by(Assignment.id)
        ):
            units_of.setdefault(item_id, []).append(unit)
        for part in db.session.scalars(
            select(CoReport)
            .where(CoReport.assignment_id.in_({lead.id for lead, _ in asked}))
            .order_by(CoReport.id)
        ):
            given_of.setdefault((part.assignment_id, part.round_due_on), []).append(part)
    rounds = []
    for lead, due in zip(leads, dues, strict=True):
        units = [u for u in units_of.get(lead.item_id, []) if u.id != lead.unit_id]
        if due is None or not units or lead.role != AssignmentRole.LEAD.value:
            rounds.append(Round(due, [], []))
            continue
        given = given_of.get((lead.id, due), [])
        done = {c.unit_id for c in given}
        rounds.append(Round(due, given, [u for u in units if u.id not in done]))
    return rounds


def history(lead: Assignment) -> list[CoReport]:
    return list(
        db.session.scalars(
            select(CoReport)
            .where(CoReport.assignment_id == lead.id)
            .order_by(CoReport.round_due_on.desc(), CoReport.id)
        )
    )


def submit(lead: Assignment, *, actor: User, text: str, today: date) -> CoReport:
    """A co-handling unit gives (or replaces) its part of the current round."""
    if not can_add(lead, actor):
        raise PermissionDenied("only a co-handling unit adds its part")
    lock_assignment(lead)
    _check_open_parent(lead)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("write the co-handling part", ["text"])
    check_text("co_report.text", text, field="text")
    due = round_due_on(lead, today)
    if due is None:
        raise SubtaskRefused("no_round", "the task has no reporting round open")
    found = db.session.scalar(
        select(CoReport).where(
            CoReport.assignment_id == lead.id,
            CoReport.unit_id == actor.unit_id,
            CoReport.round_due_on == due,
        )
    )
    before = None
    if found is None:
        assert actor.unit_id is not None
        found = CoReport(
            assignment_id=lead.id, unit_id=actor.unit_id, round_due_on=due, text=text,
            author_id=actor.id,
        )  # fmt: skip
        db.session.add(found)
        action = "co_report.submitted"
    else:
        before = {"text": found.text}
        found.text, found.author_id, found.updated_at = text, actor.id, now_utc()
        action = "co_report.updated"
    db.session.flush()
    audit.record(
        action,
        "co_report",
        found.id,
        actor_id=actor.id,
        before=before,
        after={"assignment_id": lead.id, "unit_id": actor.unit_id, "round_due_on": due,
               "text": text},
    )  # fmt: skip
    if before is None:
        from taskhub.supervision import notices

        notices.co_report_submitted(found, lead)
    return found
