"""The daily loop: acknowledge, report with evidence, review, extensions.

Services take the acting user explicitly, guard state transitions, write the audit record and
flush; the request or job commits once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.storage import Storage
from taskhub.core.timeutil import office_today
from taskhub.plans.models import ItemUnit, UnitRole
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Evidence,
    ExtensionRequest,
    ExtensionStatus,
    Milestone,
    MilestoneStatus,
    ProgressReport,
    ReportStatus,
    Review,
    ReviewDecision,
)
from taskhub.tracking.uploads import UploadRejected, check_upload


class StaleObject(DomainError):
    """Someone else changed the object since the form was loaded."""


class Rejected(DomainError):
    """A rule refused the change; ``code`` lets the UI show it in the user's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_version(assignment: Assignment, expected: int | None) -> None:
    """Optimistic locking: refuse a change based on an outdated view of the assignment."""
    if expected is not None and expected != assignment.version:
        raise StaleObject("this task was changed by someone else; reload and try again")


def _state(a: Assignment) -> dict[str, Any]:
    return {"status": a.status, "percent": a.percent}


def can_review(user: User, assignment: Assignment) -> bool:
    """The office, or an assessor of a unit that leads the item's assessment."""
    if user.role in ("admin", "office"):
        return True
    if user.role != "assessor" or user.unit_id is None:
        return False
    return (
        db.session.scalar(
            select(ItemUnit.id).where(
                ItemUnit.item_id == assignment.item_id,
                ItemUnit.role == UnitRole.LEAD_ASSESSOR.value,
                ItemUnit.unit_id == user.unit_id,
            )
        )
        is not None
    )


def acknowledge(assignment: Assignment, *, actor: User) -> None:
    """签收: the unit confirms it has received the assignment; the time taken is recorded."""
    if not assignment.can_edit(actor):
        raise PermissionDenied("you may not act on this assignment")
    if assignment.acknowledged_at is not None:
        return  # acknowledging twice changes nothing
    before = _state(assignment)
    assignment.acknowledged_at = now_utc()
    if assignment.status == AssignmentStatus.NEW.value:
        assignment.status = AssignmentStatus.ACKNOWLEDGED.value
    waited = assignment.acknowledged_at - assignment.created_at
    db.session.flush()
    audit.record(
        "assignment.acknowledged",
        "assignment",
        assignment.id,
        actor_id=actor.id,
        before=before,
        after={**_state(assignment), "seconds_to_acknowledge": int(waited.total_seconds())},
    )


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    data: bytes


def submit_report(
    assignment: Assignment,
    *,
    actor: User,
    progress: str,
    percent: int,
    problems: str | None = None,
    next_steps: str | None = None,
    milestone_id: int | None = None,
    files: Sequence[UploadedFile] = (),
    storage: Storage,
    max_bytes: int,
    expected_version: int | None = None,
) -> ProgressReport:
    """Report progress (工作进展 / 存在问题 / 下步计划, percent, evidence) for review."""
    if not assignment.can_edit(actor):
        raise PermissionDenied("you may not report on this assignment")
    check_version(assignment, expected_version)
    if assignment.status == AssignmentStatus.COMPLETED.value:
        raise Rejected("closed", "this task is completed and closed; no further reports")
    if assignment.status == AssignmentStatus.SUBMITTED.value:
        raise Rejected("pending", "a report is already awaiting review")
    if not progress or not progress.strip():
        raise ValidationFailed("describe the work done", ["progress"])
    if not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValidationFailed("percent must be a whole number from 0 to 100", ["percent"])
    milestone = None
    if milestone_id is not None:
        milestone = db.session.get(Milestone, milestone_id)
        if milestone is None or milestone.assignment_id != assignment.id:
            raise ValidationFailed("that milestone is not part of this task", ["milestone_id"])
    checked = []
    for f in files:  # check every file before storing any
        try:
            checked.append((check_upload(f.filename, f.data, max_bytes=max_bytes), f.data))
        except UploadRejected:
            raise
    before = _state(assignment)
    if assignment.acknowledged_at is None:
        acknowledge(assignment, actor=actor)  # reporting implies receipt
    report = ProgressReport(
        assignment_id=assignment.id,
        milestone_id=milestone.id if milestone else None,
        author_id=actor.id,
        progress=progress.strip(),
        problems=(problems or "").strip() or None,
        next_steps=(next_steps or "").strip() or None,
        percent=percent,
    )
    db.session.add(report)
    db.session.flush()
    for upload, data in checked:
        sha = storage.put(data)
        db.session.add(
            Evidence(
                report_id=report.id,
                sha256=sha,
                original_name=upload.safe_name,
                content_type=upload.content_type,
                size_bytes=upload.size,
                uploaded_by_id=actor.id,
            )
        )
    assignment.status = AssignmentStatus.SUBMITTED.value
    assignment.percent = percent
    db.session.flush()
    audit.record(
        "report.submitted",
        "progress_report",
        report.id,
        actor_id=actor.id,
        before=before,
        after={
            **_state(assignment),
            "assignment_id": assignment.id,
            "percent": percent,
            "milestone_id": report.milestone_id,
            "evidence": [u.safe_name for u, _ in checked],
        },
    )
    return report


def review_report(
    report: ProgressReport,
    *,
    actor: User,
    decision: str,
    reason: str | None = None,
    today: date | None = None,
) -> Review:
    """Accept or return (with a reason) a submitted report."""
    assignment = report.assignment
    if not can_review(actor, assignment):
        raise PermissionDenied("you may not review this report")
    if report.status != ReportStatus.SUBMITTED.value:
        raise Rejected("already_reviewed", "this report has already been reviewed")
    if decision not in (ReviewDecision.ACCEPT.value, ReviewDecision.RETURN.value):
        raise ValidationFailed("decision must be accept or return", ["decision"])
    reason = (reason or "").strip() or None
    if decision == ReviewDecision.RETURN.value and not reason:
        raise ValidationFailed("give the reason for returning the report", ["reason"])
    today = today or office_today()
    before = _state(assignment)
    review = Review(report_id=report.id, reviewer_id=actor.id, decision=decision, reason=reason)
    db.session.add(review)
    if decision == ReviewDecision.RETURN.value:
        report.status = ReportStatus.RETURNED.value
        assignment.status = AssignmentStatus.RETURNED.value
    else:
        report.status = ReportStatus.ACCEPTED.value
        _accept(report, assignment, today)
    db.session.flush()
    audit.record(
        f"report.{'accepted' if decision == 'accept' else 'returned'}",
        "progress_report",
        report.id,
        actor_id=actor.id,
        before=before,
        after={**_state(assignment), "assignment_id": assignment.id, "reason": reason},
    )
    return review


def _accept(report: ProgressReport, assignment: Assignment, today: date) -> None:
    """Close the reported milestone; complete the assignment when all of it is done."""
    open_ms = [m for m in assignment.milestones if m.status == MilestoneStatus.OPEN.value]
    targets = [m for m in open_ms if m.id == report.milestone_id]
    if report.percent == 100 and not targets:
        targets = open_ms  # a final report closes every remaining step
    for m in targets:
        m.status = MilestoneStatus.DONE.value
        m.completed_on = today
        m.is_late = today > m.due_on  # lateness against the original date stays on record
        m.is_overdue = False
    still_open = [m for m in open_ms if m not in targets]
    if report.percent == 100 and not still_open:
        assignment.status = AssignmentStatus.COMPLETED.value
        assignment.completed_at = now_utc()
    else:
        assignment.status = AssignmentStatus.IN_PROGRESS.value
    assignment.is_overdue = any(m.is_overdue for m in still_open)


def request_extension(
    milestone: Milestone, *, actor: User, reason: str, requested_due_on: date
) -> ExtensionRequest:
    """延期: ask the office to move a milestone; the original due date stays on record."""
    assignment = milestone.assignment
    if not assignment.can_edit(actor):
        raise PermissionDenied("you may not request an extension for this task")
    if milestone.status != MilestoneStatus.OPEN.value:
        raise Rejected("milestone_closed", "this milestone is already done")
    if not reason or not reason.strip():
        raise ValidationFailed("give the reason for the extension", ["reason"])
    if requested_due_on <= milestone.effective_due_on:
        raise ValidationFailed(
            "the new date must be after the current due date", ["requested_due_on"]
        )
    pending = db.session.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.milestone_id == milestone.id,
            ExtensionRequest.status == ExtensionStatus.PENDING.value,
        )
    )
    if pending is not None:
        raise Rejected("extension_pending", "an extension request is already pending")
    ext = ExtensionRequest(
        milestone_id=milestone.id,
        requested_by_id=actor.id,
        reason=reason.strip(),
        requested_due_on=requested_due_on,
    )
    db.session.add(ext)
    db.session.flush()
    audit.record(
        "extension.requested",
        "extension_request",
        ext.id,
        actor_id=actor.id,
        after={
            "milestone_id": milestone.id,
            "due_on": milestone.due_on,
            "requested_due_on": requested_due_on,
            "reason": ext.reason,
        },
    )
    return ext


def decide_extension(
    ext: ExtensionRequest, *, actor: User, approve: bool, reason: str | None = None
) -> None:
    """The office approves (moving the effective date) or rejects an extension."""
    if actor.role not in ("admin", "office"):
        raise PermissionDenied("only the office decides extensions")
    if ext.status != ExtensionStatus.PENDING.value:
        raise Rejected("already_decided", "this request has already been decided")
    reason = (reason or "").strip() or None
    if not approve and not reason:
        raise ValidationFailed("give the reason for rejecting", ["reason"])
    if approve and ext.milestone.status != MilestoneStatus.OPEN.value:
        raise Rejected("milestone_closed", "this milestone is already done")
    ext.status = (ExtensionStatus.APPROVED if approve else ExtensionStatus.REJECTED).value
    ext.decided_by_id, ext.decided_at, ext.decision_reason = actor.id, now_utc(), reason
    milestone = ext.milestone
    before = {"extended_to": milestone.extended_to}
    if approve:
        milestone.extended_to = ext.requested_due_on
        milestone.is_overdue = False
        assignment = milestone.assignment
        assignment.is_overdue = any(
            m.is_overdue
            for m in assignment.milestones
            if m.id != milestone.id and m.status == MilestoneStatus.OPEN.value
        )
    db.session.flush()
    audit.record(
        f"extension.{ext.status}",
        "extension_request",
        ext.id,
        actor_id=actor.id,
        before=before,
        after={"extended_to": milestone.extended_to, "due_on": milestone.due_on, "reason": reason},
    )
