"""Hand over and send back (转办 / 退回): a unit asks to send its task back with a reason, the
office reassigns it to another unit of the same city or rejects the request.

Reassigning moves the assignment itself (``unit_id``) to the receiving unit, so its reports,
milestones, scores and audit trail stay one record, and the plan's item names the new unit in
the old one's place. The receiving unit must acknowledge (签收) again. Due dates stay unless the
office restarts the clock: then every open milestone moves by the days the task spent with the
first unit (assignment created → decision). Every step is audited on the assignment
(``assignment.handover_requested``, ``assignment.handed_over``, ``assignment.handover_rejected``)
so the task's history shows the chain; the units concerned are told in-app at once and by
e-mail / robot through the outbox, once per decision.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError, PermissionDenied
from taskhub.core.limits import check_text
from taskhub.core.permissions import STAFF
from taskhub.plans.models import ItemUnit
from taskhub.supervision.models import HandoverRequest, HandoverState
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Milestone,
    MilestoneStatus,
    refresh_next_due,
)
from taskhub.tracking.services import lock_assignment
from taskhub.units.models import Unit

REQUEST_EVENT = "handover_requested"
DECIDED_EVENT = "handover_decided"


class HandoverRefused(DomainError):
    """A rule refused the change; ``code`` lets pages say it in the user's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def can_ask(assignment: Assignment, user: User) -> bool:
    """The assignment's own unit users ask to send it back."""
    return user.role == "unit" and user.unit_id == assignment.unit_id


def can_view(request: HandoverRequest, user: User) -> bool:
    return user.role in ("admin", "office", "viewer", "assessor") or user.unit_id in (
        request.from_unit_id,
        request.to_unit_id,
    )


def pending_of(assignment_id: int) -> HandoverRequest | None:
    return db.session.scalar(
        select(HandoverRequest).where(
            HandoverRequest.assignment_id == assignment_id,
            HandoverRequest.state == HandoverState.PENDING.value,
        )
    )


def of_assignment(assignment_id: int) -> list[HandoverRequest]:
    return list(
        db.session.scalars(
            select(HandoverRequest)
            .where(HandoverRequest.assignment_id == assignment_id)
            .order_by(HandoverRequest.id)
        )
    )


def query_requests(*, viewer: User, state: str | None = None) -> Any:
    """Requests the viewer may read (a unit: those it asked or received), newest first."""
    query = select(HandoverRequest).order_by(HandoverRequest.id.desc())
    if state:
        query = query.where(HandoverRequest.state == state)
    if viewer.role not in ("admin", "office", "viewer", "assessor"):
        query = query.where(
            (HandoverRequest.from_unit_id == viewer.unit_id)
            | (HandoverRequest.to_unit_id == viewer.unit_id)
        )
    return query


def pending_requests() -> Any:
    """Requests awaiting the office's decision, oldest first (the menu's badge counts them)."""
    return (
        select(HandoverRequest)
        .where(HandoverRequest.state == "pending")
        .order_by(HandoverRequest.id)
    )


def unit_choices(assignment: Assignment) -> list[Unit]:
    """Active units of the task's city that do not have the task yet (the 转办 targets)."""
    city_id = assignment.item.plan.city_id
    taken = select(Assignment.unit_id).where(Assignment.item_id == assignment.item_id)
    return list(
        db.session.scalars(
            select(Unit)
            .where(Unit.city_id == city_id, Unit.retired_on.is_(None), Unit.id.not_in(taken))
            .order_by(Unit.name)
        )
    )


def ask(assignment: Assignment, *, actor: User, reason: str) -> HandoverRequest:
    """The unit asks to send its task back (退回), with a reason. Audited; the office is told."""
    if not can_ask(assignment, actor):
        raise PermissionDenied("only the task's unit asks to send it back")
    lock_assignment(assignment)
    if assignment.status == AssignmentStatus.COMPLETED.value:
        raise HandoverRefused("completed", "the task is completed")
    if pending_of(assignment.id) is not None:
        raise HandoverRefused("pending", "a request to send this task back is already pending")
    reason = (reason or "").strip()
    if not reason:
        raise HandoverRefused("reason_required", "say why the task is not yours")
    check_text("handover.reason", reason, field="reason")
    request = HandoverRequest(
        assignment_id=assignment.id,
        from_unit_id=assignment.unit_id,
        requested_by_id=actor.id,
        reason=reason,
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        "assignment.handover_requested",
        "assignment",
        assignment.id,
        actor_id=actor.id,
        after={"handover_request_id": request.id, "reason": reason},
    )
    from taskhub.supervision import notices

    notices.handover_requested(request)
    return request


def decide(
    request: HandoverRequest,
    *,
    actor: User,
    reassign: bool,
    to_unit_id: int | None = None,
    note: str | None = None,
    restart_clock: bool = False,
    today: date,
) -> HandoverRequest:
    """The office reassigns the task to another unit (转办) or rejects the request. Audited;
    both units are told."""
    if actor.role not in STAFF:
        raise PermissionDenied("only the office decides")
    assignment = request.assignment
    lock_assignment(assignment)
    db.session.refresh(request)
    if request.state != HandoverState.PENDING.value:
        raise HandoverRefused("decided", "this request is already decided")
    note = (note or "").strip() or None
    check_text("handover.note", note, field="note")
    request.decided_by_id = actor.id
    request.decided_at = now_utc()
    request.note = note
    if not reassign:
        if note is None:
            raise HandoverRefused("note_required", "say why the request is rejected")
        request.state = HandoverState.REJECTED.value
        db.session.flush()
        audit.record(
            "assignment.handover_rejected",
            "assignment",
            assignment.id,
            actor_id=actor.id,
            after={"handover_request_id": request.id, "reason": note},
        )
    else:
        _reassign(request, assignment, actor=actor, to_unit_id=to_unit_id, today=today,
                  restart_clock=restart_clock)  # fmt: skip
    from taskhub.supervision import notices

    notices.handover_decided(request)
    return request


def _reassign(
    request: HandoverRequest,
    assignment: Assignment,
    *,
    actor: User,
    to_unit_id: int | None,
    today: date,
    restart_clock: bool,
) -> None:
    target = db.session.get(Unit, to_unit_id) if to_unit_id else None
    if target is None or target.retired_on is not None:
        raise HandoverRefused("unit_unknown", "choose the receiving unit")
    if target.city_id != assignment.item.plan.city_id or target.id == assignment.unit_id:
        raise HandoverRefused("unit_other_city", "choose another unit of the task's city")
    taken = db.session.scalar(
        select(Assignment.id).where(
            Assignment.item_id == assignment.item_id, Assignment.unit_id == target.id
        )
    )
    if taken is not None:
        raise HandoverRefused("unit_has_task", "that unit already has this task")
    old_unit_id = assignment.unit_id
    before = {"unit": assignment.unit.name, "unit_id": old_unit_id, "status": assignment.status}
    # The plan's item names the receiving unit in the old one's place (same role, same place).
    db.session.execute(
        update(ItemUnit)
        .where(
            ItemUnit.item_id == assignment.item_id,
            ItemUnit.unit_id == old_unit_id,
            ItemUnit.role == assignment.role,
        )
        .values(unit_id=target.id)
    )
    assignment.unit_id = target.id
    # The receiving unit must acknowledge (签收) afresh.
    assignment.acknowledged_at = None
    if assignment.status == AssignmentStatus.ACKNOWLEDGED.value:
        assignment.status = AssignmentStatus.NEW.value
    days = 0
    if restart_clock:
        days = max((today - assignment.created_at.date()).days, 0)
        for m in db.session.scalars(
            select(Milestone).where(
                Milestone.assignment_id == assignment.id,
                Milestone.status == MilestoneStatus.OPEN.value,
            )
        ):
            m.due_on += timedelta(days=days)
            if m.extended_to is not None:
                m.extended_to += timedelta(days=days)
        refresh_next_due(db.session, assignment_ids=[assignment.id])
    request.state = HandoverState.REASSIGNED.value
    request.to_unit_id = target.id
    request.restart_days = days if restart_clock else None
    db.session.flush()
    audit.record(
        "assignment.handed_over",
        "assignment",
        assignment.id,
        actor_id=actor.id,
        before=before,
        after={
            "unit": target.name,
            "unit_id": target.id,
            "status": assignment.status,
            "handover_request_id": request.id,
            **({"restart_days": days} if restart_clock else {}),
            **({"reason": request.note} if request.note else {}),
        },
    )
