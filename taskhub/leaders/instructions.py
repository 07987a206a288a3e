"""Leaders' instructions (领导批示): recorded on an item or one of its reports, answered (反馈) by
each unit concerned, like an escalation notice.

An instruction on an item concerns every task (assignment) of the item; one on a report concerns
that report's task only. Each task concerned is a target that is 待落实 (open) until its unit
answers, then 已反馈; the answer, who gave it, when, and whether after the answer date are kept.
The office records instructions on a leader's behalf; a leader's own account records its own.
Every step is audited; changes are flushed, never committed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import pgettext
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, lock, now_utc
from taskhub.core.errors import DomainError, PermissionDenied
from taskhub.core.limits import check_text
from taskhub.core.permissions import STAFF
from taskhub.leaders.models import (
    Instruction,
    InstructionState,
    InstructionTarget,
    Leader,
)
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, ProgressReport

#: The in-app notices' event names (not personal preferences: an instruction is always told).
RECORDED_EVENT = "instruction_recorded"
ANSWERED_EVENT = "instruction_answered"


class InstructionRefused(DomainError):
    """A rule refused the instruction or its answer (``field`` names the input)."""


def _city_of(item: Item) -> int:
    city_id = db.session.scalar(select(Plan.city_id).where(Plan.id == item.plan_id))
    assert city_id is not None
    return city_id


def own_leader(user: Any, city_id: int) -> Leader | None:
    """The active leader of the city whose account ``user`` is, if any."""
    if not getattr(user, "is_authenticated", True) or getattr(user, "id", None) is None:
        return None
    return db.session.scalar(
        select(Leader).where(
            Leader.user_id == user.id, Leader.city_id == city_id, Leader.is_active.is_(True)
        )
    )


def can_record(item: Item, user: Any) -> bool:
    """The office and admins (on any leader's behalf), or a leader's own account."""
    return getattr(user, "role", None) in STAFF or own_leader(user, _city_of(item)) is not None


def recordable_leaders(item: Item, user: Any) -> list[Leader]:
    """The leaders ``user`` may record an instruction for on ``item`` (a picker's choices)."""
    city_id = _city_of(item)
    if getattr(user, "role", None) in STAFF:
        from taskhub.leaders.services import leaders_of

        return leaders_of(city_id, active_only=True)
    leader = own_leader(user, city_id)
    return [leader] if leader is not None else []


def record(
    item: Item,
    *,
    actor: User,
    leader_id: int | None,
    text: str,
    today: date,
    instructed_on: date | None = None,
    answer_due_on: date | None = None,
    report_id: int | None = None,
) -> Instruction:
    """Record a leader's instruction on ``item`` (or on one of its reports) and tell the units
    concerned. Audited as ``instruction.recorded``."""
    if not can_record(item, actor):
        raise PermissionDenied("only the office or the leader records an instruction")
    choices = {leader.id: leader for leader in recordable_leaders(item, actor)}
    if leader_id is None and actor.role not in STAFF and len(choices) == 1:
        leader_id = next(iter(choices))
    if leader_id not in choices:
        raise InstructionRefused(_("Choose an active leader of the city."), field="leader_id")
    text = (text or "").strip()
    if not text:
        raise InstructionRefused(_("Write the instruction."), field="text")
    check_text("instruction.text", text, field="text")
    instructed_on = instructed_on or today
    if instructed_on > today:
        raise InstructionRefused(
            _("The day of the instruction cannot be in the future."), field="instructed_on"
        )
    if answer_due_on is not None and answer_due_on < instructed_on:
        raise InstructionRefused(
            _("The answer date cannot be before the day of the instruction."),
            field="answer_due_on",
        )
    query = select(Assignment).where(Assignment.item_id == item.id)
    if report_id is not None:
        report = db.session.get(ProgressReport, report_id)
        if report is None or report.assignment.item_id != item.id:
            raise InstructionRefused(_("No such report of this item."), field="report_id")
        query = query.where(Assignment.id == report.assignment_id)
    assignments = list(db.session.scalars(query.order_by(Assignment.id)))
    if not assignments:
        raise InstructionRefused(_("The item has no task to instruct on."), field="item_id")
    instruction = Instruction(
        leader_id=leader_id,
        item_id=item.id,
        report_id=report_id,
        text=text,
        instructed_on=instructed_on,
        answer_due_on=answer_due_on,
        recorded_by_id=actor.id,
    )
    db.session.add(instruction)
    db.session.flush()
    for a in assignments:
        db.session.add(InstructionTarget(instruction_id=instruction.id, assignment_id=a.id,
                                         unit_id=a.unit_id))  # fmt: skip
    db.session.flush()
    db.session.refresh(instruction)
    audit.record(
        "instruction.recorded",
        "leader_instruction",
        instruction.id,
        actor_id=actor.id,
        after={
            "leader_id": leader_id,
            "item_id": item.id,
            "report_id": report_id,
            "assignment_ids": [a.id for a in assignments],
            "instructed_on": instructed_on.isoformat(),
            "answer_due_on": answer_due_on.isoformat() if answer_due_on else None,
            "on_behalf": actor.role in STAFF,
        },
    )
    from taskhub.leaders import notices

    notices.instruction_recorded(instruction)
    return instruction


def can_answer(target: InstructionTarget, user: Any) -> bool:
    """The task's unit answers (its unit now, should the task have been handed over)."""
    return getattr(user, "role", None) == "unit" and user.unit_id == target.assignment.unit_id


def answer(target: InstructionTarget, *, actor: User, text: str, today: date) -> InstructionTarget:
    """The unit's answer (反馈) to an instruction; late when after its answer date. Audited."""
    if not can_answer(target, actor):
        raise PermissionDenied("only the task's unit answers the instruction")
    lock(target)
    if target.state != InstructionState.OPEN.value:
        raise InstructionRefused(_("This instruction has been answered already."), field="answer")
    text = (text or "").strip()
    if not text:
        raise InstructionRefused(_("Write the answer."), field="answer")
    check_text("instruction.answer", text, field="answer")
    due = target.instruction.answer_due_on
    target.state = InstructionState.ANSWERED.value
    target.answer = text
    target.answered_at = now_utc()
    target.answered_by_id = actor.id
    target.is_answered_late = None if due is None else today > due
    db.session.flush()
    audit.record(
        "instruction.answered",
        # The target, not the instruction: the answer is one task's, in that task's history.
        "leader_instruction_target",
        target.id,
        actor_id=actor.id,
        before={"state": InstructionState.OPEN.value},
        after={
            "state": target.state,
            "instruction_id": target.instruction_id,
            "assignment_id": target.assignment_id,
            "late": target.is_answered_late,
        },
    )
    from taskhub.leaders import notices

    notices.instruction_answered(target)
    return target


def can_view(instruction: Instruction, user: Any) -> bool:
    """Those who read every task, the leader's account, and the units concerned."""
    if getattr(user, "role", None) in ("admin", "office", "viewer", "assessor"):
        return True
    if instruction.leader.user_id is not None and instruction.leader.user_id == user.id:
        return True
    return any(t.assignment.unit_id == user.unit_id for t in instruction.targets)


def _loaded() -> Any:
    return select(Instruction).options(
        selectinload(Instruction.leader),
        selectinload(Instruction.targets).selectinload(InstructionTarget.assignment),
    )


def of_item(item_id: int) -> list[Instruction]:
    """An item's instructions, newest first."""
    return list(
        db.session.scalars(
            _loaded().where(Instruction.item_id == item_id).order_by(Instruction.id.desc())
        )
    )


def of_assignment(assignment_id: int) -> list[Instruction]:
    """The instructions concerning one task, newest first."""
    concerned = exists().where(
        InstructionTarget.instruction_id == Instruction.id,
        InstructionTarget.assignment_id == assignment_id,
    )
    return list(db.session.scalars(_loaded().where(concerned).order_by(Instruction.id.desc())))


def open_of_leader(leader_id: int) -> list[Instruction]:
    """The leader's instructions still 待落实 (some unit has not answered), oldest first."""
    still_open = exists().where(
        InstructionTarget.instruction_id == Instruction.id,
        InstructionTarget.state == InstructionState.OPEN.value,
    )
    return list(
        db.session.scalars(
            _loaded()
            .where(Instruction.leader_id == leader_id, still_open)
            .order_by(Instruction.instructed_on, Instruction.id)
        )
    )


def target_of(instruction: Instruction, assignment_id: int) -> InstructionTarget | None:
    return next((t for t in instruction.targets if t.assignment_id == assignment_id), None)


def target_for(instruction: Instruction, user: Any) -> InstructionTarget | None:
    """The open target ``user``'s unit answers, if any."""
    return next(
        (
            t
            for t in instruction.targets
            if t.state == InstructionState.OPEN.value and can_answer(t, user)
        ),
        None,
    )


def state_names() -> dict[str, str]:
    """待落实 / 已反馈."""
    return {
        InstructionState.OPEN.value: pgettext("instruction", "Pending"),
        InstructionState.ANSWERED.value: pgettext("instruction", "Answered"),
    }
