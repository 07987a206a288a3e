"""The daily loop: acknowledge, report with evidence, review, extensions.

Services take the acting user explicitly, guard state transitions, write the audit record and
flush; the request or job commits once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    case,
    cast,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import joinedload, selectinload

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.audit.models import AuditEvent
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db, lock, now_utc
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.limits import check_text, check_texts
from taskhub.core.storage import Storage
from taskhub.core.timeutil import office_today
from taskhub.evidence import services as evidence_files
from taskhub.plans.models import Item, ItemUnit, PlanStatus, UnitRole
from taskhub.reminders import notices
from taskhub.tracking.lights import Light, light_for
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Evidence,
    ExtensionRequest,
    ExtensionStatus,
    ItemMilestone,
    Milestone,
    MilestoneStatus,
    ProgressReport,
    ReportStatus,
    Review,
    ReviewDecision,
)
from taskhub.tracking.uploads import UploadRejected, check_upload
from taskhub.webhooks import services as webhooks


class StaleObject(DomainError):
    """Someone else changed the object since the form was loaded."""


#: Plans whose work is over: read-only (no reports), still shown in rankings and history.
CLOSED_PLAN_STATUSES = (PlanStatus.CLOSED.value, PlanStatus.ARCHIVED.value)


class Rejected(DomainError):
    """A rule refused the change; ``code`` lets the UI show it in the user's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_version(assignment: Assignment, expected: int | None) -> None:
    """Optimistic locking: refuse a change based on an outdated view of the assignment.

    Compare with the row as locked by :func:`lock_assignment`, or two requests that read the
    same version could both pass."""
    if expected is not None and expected != assignment.version:
        raise StaleObject("this task was changed by someone else; reload and try again")


def lock_assignment(assignment: Assignment, expected_version: int | None = None) -> None:
    """Every change of an assignment or of what hangs off it (reports, reviews, milestones,
    extension requests) starts here: the assignment's row lock, then the version check.

    Concurrent changes of one assignment so run one after the other, each seeing what the
    previous one committed, instead of checking the same old state and then colliding at
    the write (a 500, or a deadlock on PostgreSQL). One lock, always taken first, also means
    one lock order."""
    lock(assignment)
    check_version(assignment, expected_version)


def _lock_with_context(assignment: Assignment, expected_version: int | None) -> None:
    """:func:`lock_assignment`, reading the item, plan and unit that a report's checks, audit
    record and notices need in the same statement (instead of one lazy load each).

    Only the assignment's row is locked (``FOR UPDATE OF``), as :func:`lock` locks it; like
    :func:`lock` it reads the values afresh (``populate_existing``)."""
    mark = db.session.info.pop(_LOCKED_FOR_REPORT, None)
    if mark != (db.session().get_transaction(), assignment.id):  # not read by the caller yet
        db.session.execute(_LOCK_WITH_CONTEXT, {"assignment_id": assignment.id}).one()
    check_version(assignment, expected_version)


def assignment_for_report(assignment_id: int) -> Assignment | None:
    """The assignment, read as :func:`submit_report` reads it (row lock, item, plan, unit),
    for a caller that checks who may report before calling it in the same transaction: the
    report then reads it no more (one SELECT, not two)."""
    assignment = db.session.execute(
        _LOCK_WITH_CONTEXT, {"assignment_id": assignment_id}
    ).scalar_one_or_none()
    if assignment is not None:
        db.session.info[_LOCKED_FOR_REPORT] = (db.session().get_transaction(), assignment_id)
    return assignment


#: :func:`_lock_with_context`'s statement, built once (every report runs it).
_LOCK_WITH_CONTEXT = (
    select(Assignment)
    .where(Assignment.id == bindparam("assignment_id"))
    .options(
        joinedload(Assignment.item, innerjoin=True).joinedload(Item.plan, innerjoin=True),
        joinedload(Assignment.unit, innerjoin=True),
    )
    .with_for_update(of=Assignment)
    .execution_options(populate_existing=True)
)


#: session.info: (transaction, assignment id) read by :func:`assignment_for_report`; a
#: commit or rollback since makes it a different transaction, and the report reads again.
_LOCKED_FOR_REPORT = "tracking.locked_for_report"


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


def reviewable(user: User) -> ColumnElement[bool]:
    """The assignments whose reports this user may review, as a condition for a whole list
    (can_review's rule): every one for the office, those of led items for an assessor."""
    if user.role in ("admin", "office"):
        return true()
    if user.role != "assessor" or user.unit_id is None:
        return false()
    led = select(ItemUnit.item_id).where(
        ItemUnit.unit_id == user.unit_id, ItemUnit.role == UnitRole.LEAD_ASSESSOR.value
    )
    return Assignment.item_id.in_(led)


def acknowledge(
    assignment: Assignment, *, actor: User, expected_version: int | None = None
) -> None:
    """签收: the unit confirms it has received the assignment; the time taken is recorded."""
    if not assignment.can_edit(actor):
        raise PermissionDenied("you may not act on this assignment")
    lock_assignment(assignment, expected_version)
    _acknowledge(assignment, actor=actor)


def _acknowledge(assignment: Assignment, *, actor: User) -> None:
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


def check_report_fields(
    progress: str, percent: int | None, problems: str | None, next_steps: str | None
) -> None:
    """The three-part report's rules (work done required, percent 0–100, text limits), shared
    with the sub-tasks' reports (taskhub.supervision.subtasks)."""
    if not progress or not progress.strip():
        raise ValidationFailed("describe the work done", ["progress"])
    check_texts("report", {"progress": progress, "problems": problems, "next_steps": next_steps})
    if not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValidationFailed("percent must be a whole number from 0 to 100", ["percent"])


def check_decision(decision: str, reason: str | None) -> str | None:
    """A review's decision (accept, or return with a reason); returns the reason, stripped."""
    if decision not in (ReviewDecision.ACCEPT.value, ReviewDecision.RETURN.value):
        raise ValidationFailed("decision must be accept or return", ["decision"])
    reason = (reason or "").strip() or None
    if decision == ReviewDecision.RETURN.value and not reason:
        raise ValidationFailed("give the reason for returning the report", ["reason"])
    check_text("review.reason", reason, field="reason")
    return reason


def submit_report(
    assignment: Assignment,
    *,
    actor: User,
    progress: str,
    percent: int,
    problems: str | None = None,
    next_steps: str | None = None,
    milestone_id: int | None = None,
    closing: bool = False,
    files: Sequence[UploadedFile] = (),
    storage: Storage,
    max_bytes: int,
    expected_version: int | None = None,
) -> ProgressReport:
    """Report progress (工作进展 / 存在问题 / 下步计划, percent, evidence) for review.

    ``closing``: a 办结报告, the unit's application to close the task (at 100%, about the whole
    task); the office's acceptance of it is 销号."""
    if not assignment.can_edit(actor):
        raise PermissionDenied("you may not report on this assignment")
    _lock_with_context(assignment, expected_version)
    if assignment.item.plan.status in CLOSED_PLAN_STATUSES:
        raise Rejected("plan_closed", "the plan is closed; no further reports")
    if assignment.status == AssignmentStatus.COMPLETED.value:
        raise Rejected("closed", "this task is completed and closed; no further reports")
    if assignment.status == AssignmentStatus.SUBMITTED.value:
        raise Rejected("pending", "a report is already awaiting review")
    check_report_fields(progress, percent, problems, next_steps)
    if closing and percent != 100:
        raise ValidationFailed("a closing report is at 100 percent", ["percent"])
    if percent == 100:
        _check_no_open_subtasks(assignment)
    milestone = None
    if milestone_id is not None and not closing:  # a closing report is about the whole task
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
        _acknowledge(assignment, actor=actor)  # reporting implies receipt
    report = ProgressReport(
        assignment_id=assignment.id,
        milestone_id=milestone.id if milestone else None,
        author_id=actor.id,
        progress=progress.strip(),
        problems=(problems or "").strip() or None,
        next_steps=(next_steps or "").strip() or None,
        percent=percent,
        is_closing=closing,
    )
    db.session.add(report)
    if checked:
        db.session.flush()  # the evidence rows need the report's id
    for upload, data in checked:
        sha = evidence_files.store(storage, data)  # removed again if this is not committed
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
            "closing": closing,
            "evidence": [u.safe_name for u, _ in checked],
        },
    )
    webhooks.report_submitted(report)
    notices.report_submitted(report)
    return report


def review_report(
    report: ProgressReport,
    *,
    actor: User,
    decision: str,
    reason: str | None = None,
    today: date | None = None,
    expected_version: int | None = None,
) -> Review:
    """Accept or return (with a reason) a submitted report. Accepting a closing report
    (办结报告) is 销号: only the office decides it."""
    assignment = report.assignment
    if not can_review(actor, assignment):
        raise PermissionDenied("you may not review this report")
    if report.is_closing and actor.role not in ("admin", "office"):
        raise PermissionDenied("only the office signs off (销号) a closing report")
    lock_assignment(assignment, expected_version)
    db.session.refresh(report)  # as another review may have left it
    if report.status != ReportStatus.SUBMITTED.value:
        raise Rejected("already_reviewed", "this report has already been reviewed")
    reason = check_decision(decision, reason)
    today = today or office_today()
    before = _state(assignment)
    review = Review(report_id=report.id, reviewer_id=actor.id, decision=decision, reason=reason)
    db.session.add(review)
    if decision == ReviewDecision.RETURN.value:
        report.status = ReportStatus.RETURNED.value
        assignment.status = AssignmentStatus.RETURNED.value
    else:
        if report.percent == 100:
            _check_no_open_subtasks(assignment)
        report.status = ReportStatus.ACCEPTED.value
        _accept(report, assignment, today)
    db.session.flush()
    audit.record(
        f"report.{'accepted' if decision == 'accept' else 'returned'}",
        "progress_report",
        report.id,
        actor_id=actor.id,
        before=before,
        after={
            **_state(assignment),
            "assignment_id": assignment.id,
            "reason": reason,
            "closing": report.is_closing,
        },
    )
    if report.is_closing and assignment.status == AssignmentStatus.COMPLETED.value:
        audit.record(  # 销号, on the assignment's own trail
            "assignment.closed",
            "assignment",
            assignment.id,
            actor_id=actor.id,
            before=before,
            after={**_state(assignment), "report_id": report.id},
        )
    webhooks.review_done(review)
    notices.report_reviewed(review)
    return review


def _check_no_open_subtasks(assignment: Assignment) -> None:
    """The parent of open sub-tasks (分解任务) is not completed: each is completed first, or
    the lead unit closes it with a reason (taskhub.supervision.subtasks)."""
    from taskhub.supervision.subtasks import open_count

    if open_count(assignment.id):
        raise Rejected("subtasks_open", "sub-tasks of this task are still open")


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


def reopen(
    assignment: Assignment, *, actor: User, reason: str, expected_version: int | None = None
) -> None:
    """重新打开: the office puts a completed (销号) task back in progress, with the reason; the
    unit reports on it again."""
    if actor.role not in ("admin", "office"):
        raise PermissionDenied("only the office reopens a task")
    lock_assignment(assignment, expected_version)
    if assignment.status != AssignmentStatus.COMPLETED.value:
        raise Rejected("not_completed", "only a completed task can be reopened")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("give the reason for reopening", ["reason"])
    check_text("review.reason", reason, field="reason")
    before = {**_state(assignment), "completed_at": assignment.completed_at}
    assignment.status = AssignmentStatus.IN_PROGRESS.value
    assignment.completed_at = None
    db.session.flush()
    audit.record(
        "assignment.reopened",
        "assignment",
        assignment.id,
        actor_id=actor.id,
        before=before,
        after={**_state(assignment), "reason": reason},
    )
    notices.assignment_reopened(assignment, reason)


def request_extension(
    milestone: Milestone,
    *,
    actor: User,
    reason: str,
    requested_due_on: date,
    expected_version: int | None = None,
) -> ExtensionRequest:
    """延期: ask the office to move a milestone; the original due date stays on record."""
    assignment = milestone.assignment
    if not assignment.can_edit(actor):
        raise PermissionDenied("you may not request an extension for this task")
    lock_assignment(assignment, expected_version)
    db.session.refresh(milestone)
    if milestone.status != MilestoneStatus.OPEN.value:
        raise Rejected("milestone_closed", "this milestone is already done")
    if not reason or not reason.strip():
        raise ValidationFailed("give the reason for the extension", ["reason"])
    check_text("extension.reason", reason, field="reason")
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
    lock_assignment(ext.milestone.assignment)
    db.session.refresh(ext)  # as a concurrent decision may have left it
    db.session.refresh(ext.milestone)
    if ext.status != ExtensionStatus.PENDING.value:
        raise Rejected("already_decided", "this request has already been decided")
    reason = (reason or "").strip() or None
    if not approve and not reason:
        raise ValidationFailed("give the reason for rejecting", ["reason"])
    check_text("extension.decision_reason", reason, field="reason")
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
    notices.extension_decided(ext)


# -- reading: the unit's workspace, an assignment's history ------------------------------------
# Queries shared by the pages; they never change anything.

#: "Due soon" on the workspace and the board: the next open milestone within this many days.
DUE_SOON_DAYS = 14
#: Views of a unit's (or the board's) assignments, in the order the pages offer them.
VIEWS = ("open", "due_soon", "overdue", "returned", "submitted", "completed", "all")


def next_due_on() -> Any:
    """The assignment's next open milestone date (extended if so): the stored, indexed column
    (kept current on every milestone change, see ``tracking.models.refresh_next_due``)."""
    return Assignment.next_due_on


def view_condition(view: str, today: date) -> Any:
    """The WHERE clause of a view (None: every assignment)."""
    if view == "open":
        return Assignment.status != AssignmentStatus.COMPLETED.value
    if view == "due_soon":
        # Due today counts; an overdue step is "overdue", not "due soon".
        return next_due_on().between(today, today + timedelta(days=DUE_SOON_DAYS))
    if view == "overdue":
        return Assignment.overdue_on(today)
    if view in ("returned", "submitted", "completed"):
        return Assignment.status == view
    return None


def in_view(query: Select[Any], view: str, today: date) -> Select[Any]:
    """Restrict a query of assignments to a view; overdue first, then by the next due date."""
    condition = view_condition(view, today)
    if condition is not None:
        query = query.where(condition)
    overdue_first = case((Assignment.overdue_on(today), 0), else_=1)
    return query.order_by(overdue_first, next_due_on().asc().nulls_last(), Assignment.id)


def view_counts(unit_id: int, today: date) -> dict[str, int]:
    """How many of the unit's assignments each view holds, in one query over the unit's rows."""
    columns = []
    for view in VIEWS:
        condition = view_condition(view, today)
        columns.append(
            func.count()
            if condition is None
            else func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
        )
    row = db.session.execute(
        select(*columns).select_from(Assignment).where(Assignment.unit_id == unit_id)
    ).one()
    return {view: int(n or 0) for view, n in zip(VIEWS, row, strict=True)}


def with_row_data(query: Select[Any]) -> Select[Any]:
    """Eager-load what an assignment row shows (milestones, item, plan, unit): no N+1."""
    return query.options(
        selectinload(Assignment.milestones),
        selectinload(Assignment.unit),
        selectinload(Assignment.item).selectinload(Item.plan),
    )


def unit_assignments(
    unit_id: int, view: str, today: date, *, limit: int, offset: int = 0
) -> list[Assignment]:
    """One page of a unit's assignments in a view."""
    query = in_view(select(Assignment).where(Assignment.unit_id == unit_id), view, today)
    return list(db.session.scalars(with_row_data(query).limit(limit).offset(offset)))


@dataclass(frozen=True)
class Workspace:
    """What a unit has to act on: returned, due soon, awaiting review (a few of each)."""

    returned: list[Assignment]
    due_soon: list[Assignment]
    submitted: list[Assignment]
    #: assignment id -> the reason its last report was returned
    return_reasons: dict[int, str]
    #: assignment id -> when the report awaiting review was sent
    submitted_at: dict[int, datetime]


def workspace(unit_id: int, today: date, *, limit: int) -> Workspace:
    """The short lists at the top of a unit's workspace."""
    returned, due_soon, submitted = (
        unit_assignments(unit_id, view, today, limit=limit)
        for view in ("returned", "due_soon", "submitted")
    )
    reasons: dict[int, str] = {}
    if returned:
        returns = db.session.execute(
            select(ProgressReport.assignment_id, Review.reason)
            .join(Review, Review.report_id == ProgressReport.id)
            .where(
                ProgressReport.assignment_id.in_([a.id for a in returned]),
                Review.decision == ReviewDecision.RETURN.value,
            )
            .order_by(Review.id)
        )
        reasons = {aid: reason for aid, reason in returns if reason}  # the latest wins
    sent: dict[int, datetime] = {}
    if submitted:
        pending = db.session.execute(
            select(ProgressReport.assignment_id, ProgressReport.submitted_at).where(
                ProgressReport.assignment_id.in_([a.id for a in submitted]),
                ProgressReport.status == ReportStatus.SUBMITTED.value,
            )
        )
        sent = {aid: at for aid, at in pending}
    return Workspace(returned, due_soon, submitted, reasons, sent)


def lights(assignments: Sequence[Assignment], today: date) -> dict[int, Light]:
    """Each assignment's traffic light (milestones, item and plan should be loaded)."""
    if not assignments:
        return {}
    calendar = WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=30))
    return {
        a.id: light_for(a, today, calendar, year_start=date(a.item.plan.year, 1, 1))
        for a in assignments
    }


def item_assignments(
    item_id: int, *, unit_id: int | None, limit: int, offset: int = 0
) -> tuple[list[Assignment], int]:
    """One page of an item's assignments (only ``unit_id``'s when given) and their total."""
    query = select(Assignment).where(Assignment.item_id == item_id)
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        with_row_data(query.order_by(Assignment.role, Assignment.unit_id))
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def item_status_counts(
    item_id: int, *, unit_id: int | None, today: date | None = None
) -> dict[str, int]:
    """How many of an item's assignments are in each status, and how many are overdue (as of
    ``today``, from the dates)."""
    query = select(Assignment.status, func.count()).where(Assignment.item_id == item_id)
    overdue = select(func.count()).where(
        Assignment.item_id == item_id, Assignment.overdue_on(today or office_today())
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
        overdue = overdue.where(Assignment.unit_id == unit_id)
    counts = {status: int(n) for status, n in db.session.execute(query.group_by(Assignment.status))}
    counts["overdue"] = db.session.scalar(overdue) or 0
    return counts


@dataclass(frozen=True)
class StepProgress:
    """Where an item's schedule step stands across the item's assignments."""

    total: int
    done: int
    late: int
    overdue: int


def step_progress(item_id: int, today: date, *, unit_id: int | None) -> dict[int, StepProgress]:
    """Per schedule step of an item: its copies, done, done late, overdue (one grouped query)."""
    is_open = Milestone.status == MilestoneStatus.OPEN.value
    late_now = is_open & (func.coalesce(Milestone.extended_to, Milestone.due_on) < today)
    query = (
        select(
            Milestone.item_milestone_id,
            func.count(),
            func.coalesce(
                func.sum(case((Milestone.status == MilestoneStatus.DONE.value, 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((Milestone.is_late, 1), else_=0)), 0),
            func.coalesce(func.sum(case((late_now, 1), else_=0)), 0),
        )
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .where(Assignment.item_id == item_id, Milestone.item_milestone_id.is_not(None))
        .group_by(Milestone.item_milestone_id)
    )
    if unit_id is not None:
        query = query.where(Assignment.unit_id == unit_id)
    return {
        step: StepProgress(int(total), int(done), int(late), int(overdue))
        for step, total, done, late, overdue in db.session.execute(query)
    }


def shown_points(item: Item) -> tuple[str, Decimal] | None:
    """The item's points as the page shows them: its own, its weight, or its share of a budget."""
    if item.points is not None:
        return "points", item.points
    if item.weight is not None:
        return "weight", item.weight
    from taskhub.scoring.services import item_points  # scoring reads tracking, not the reverse

    try:
        share = item_points(item)
    except DomainError:  # a plan without a scoring scheme has no shares
        return None
    # Shares can be repeating decimals (100/3); two places are enough to read.
    return ("share", share.quantize(Decimal("0.01"))) if share else None


#: How many audit events the assignment page shows; the rest are a click away.
HISTORY_SHOWN = 50


def history_condition(assignment: Assignment) -> Any:
    """Audit events about an assignment: itself, its reports, its milestones' extension
    requests, its scores, its item's schedule steps (which move its milestones), its
    sub-tasks and their reports, its co-handling parts, its escalation notices and the
    leaders' instructions concerning it."""
    from taskhub.leaders.models import InstructionTarget
    from taskhub.scoring.models import ItemScore
    from taskhub.supervision.models import CoReport, Escalation, Subtask, SubtaskReport

    def ids(column: Any, *where: Any) -> Any:
        return select(cast(column, String)).where(*where).scalar_subquery()

    kinds = [
        ("assignment", None),
        ("progress_report", ids(ProgressReport.id, ProgressReport.assignment_id == assignment.id)),
        (
            "extension_request",
            select(cast(ExtensionRequest.id, String))
            .join(Milestone, Milestone.id == ExtensionRequest.milestone_id)
            .where(Milestone.assignment_id == assignment.id)
            .scalar_subquery(),
        ),
        ("item_score", ids(ItemScore.id, ItemScore.assignment_id == assignment.id)),
        ("item_milestone", ids(ItemMilestone.id, ItemMilestone.item_id == assignment.item_id)),
        ("subtask", ids(Subtask.id, Subtask.assignment_id == assignment.id)),
        (
            "subtask_report",
            select(cast(SubtaskReport.id, String))
            .join(Subtask, Subtask.id == SubtaskReport.subtask_id)
            .where(Subtask.assignment_id == assignment.id)
            .scalar_subquery(),
        ),
        ("co_report", ids(CoReport.id, CoReport.assignment_id == assignment.id)),
        # Escalation notices (督办单) raised, answered, closed or withdrawn on the task.
        ("escalation", ids(Escalation.id, Escalation.assignment_id == assignment.id)),
        # Leaders' instructions (领导批示) concerning the task, and its unit's answers.
        (
            "leader_instruction",
            ids(InstructionTarget.instruction_id, InstructionTarget.assignment_id == assignment.id),
        ),
        (
            "leader_instruction_target",
            ids(InstructionTarget.id, InstructionTarget.assignment_id == assignment.id),
        ),
    ]
    return or_(
        *(
            (AuditEvent.object_type == kind)
            & (
                AuditEvent.object_id == str(assignment.id)
                if subquery is None
                else AuditEvent.object_id.in_(subquery)
            )
            for kind, subquery in kinds
        )
    )


@dataclass(frozen=True)
class History:
    events: list[AuditEvent]
    total: int
    #: user id -> display name, for the events' actors
    actors: dict[int, str]


def assignment_history(assignment: Assignment, *, limit: int, offset: int = 0) -> History:
    """One page of an assignment's audit trail, newest first, with the actors' names."""
    condition = history_condition(assignment)
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(condition)) or 0
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(condition)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    actors = user_names({e.actor_id for e in events if e.actor_id is not None})
    return History(events, total, actors)


def user_names(ids: set[int]) -> dict[int, str]:
    """Display names of these users by id (of actors, requesters, deciders)."""
    if not ids:
        return {}
    query = select(User.id, User.display_name).where(User.id.in_(ids))
    return {uid: name for uid, name in db.session.execute(query)}


@dataclass(frozen=True)
class TimelineStep:
    """A milestone (or an item's schedule step) as the timeline draws it."""

    title: str
    kind: str
    #: The date that counts now: the extended date when an extension was approved.
    due_on: date
    #: The original due date, given only when an extension moved it.
    original_due_on: date | None
    #: done | late (done after the original date) | waived | overdue | due_soon | upcoming |
    #: past (an item step whose date has gone by with no copy overdue)
    state: str
    done_on: date | None = None
    progress: StepProgress | None = None


def _open_state(due_on: date, today: date) -> str:
    if due_on < today:
        return "overdue"
    if due_on <= today + timedelta(days=DUE_SOON_DAYS):
        return "due_soon"
    return "upcoming"


def milestone_timeline(milestones: Sequence[Milestone], today: date) -> list[TimelineStep]:
    """An assignment's milestones by the date that counts, each with its state as of today."""
    steps = []
    for m in milestones:
        if m.status == MilestoneStatus.DONE.value:
            state = "late" if m.is_late else "done"
        elif m.status == MilestoneStatus.WAIVED.value:
            state = "waived"
        else:
            state = _open_state(m.effective_due_on, today)
        steps.append(
            TimelineStep(
                title=m.title or "",
                kind=m.kind,
                due_on=m.effective_due_on,
                original_due_on=m.due_on if m.extended_to else None,
                state=state,
                done_on=m.completed_on,
            )
        )
    return sorted(steps, key=lambda s: s.due_on)


def schedule_timeline(
    steps: Sequence[ItemMilestone], progress: dict[int, StepProgress], today: date
) -> list[TimelineStep]:
    """An item's schedule steps; a step is overdue while any unit's copy of it is."""
    out = []
    for s in steps:
        p = progress.get(s.id)
        if p is not None and p.overdue:
            state = "overdue"
        elif p is not None and p.total and p.done == p.total:
            state = "late" if p.late else "done"
        else:
            state = _open_state(s.due_on, today) if s.due_on >= today else "past"
        out.append(
            TimelineStep(
                title=s.title,
                kind=s.kind,
                due_on=s.due_on,
                original_due_on=None,
                state=state,
                progress=p,
            )
        )
    return sorted(out, key=lambda s: s.due_on)
