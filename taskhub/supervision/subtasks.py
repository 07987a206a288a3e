"""Decompose (分解): the unit of an assignment (or the office) splits it into sub-tasks
(分解任务), each handled by another unit or by one of its own departments (承办处室).

The sub-task's unit acknowledges (签收) and reports with evidence; the lead unit reviews first
and, when the plan says so (``Plan.subtask_second_review``), the office reviews second. The
parent's progress is the weighted roll-up of its sub-tasks (:func:`rollup`); the parent cannot
be completed while a sub-task is open, unless the lead unit closes that sub-task with a reason.
Every change locks the parent assignment first (one lock order with its own reports) and is
audited (object ``subtask`` / ``subtask_report``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.limits import check_text, check_texts
from taskhub.core.permissions import READ_ALL, STAFF
from taskhub.core.storage import Storage
from taskhub.evidence import services as evidence_files
from taskhub.supervision.models import (
    SUBTASK_OPEN,
    Subtask,
    SubtaskMilestone,
    SubtaskReport,
    SubtaskReportStatus,
    SubtaskStatus,
)
from taskhub.tracking.models import Assignment, AssignmentStatus, Evidence
from taskhub.tracking.services import (
    CLOSED_PLAN_STATUSES,
    UploadedFile,
    check_decision,
    check_report_fields,
    lock_assignment,
)
from taskhub.tracking.uploads import check_upload
from taskhub.units.models import Unit

CREATED_EVENT = "subtask_created"
REPORTED_EVENT = "subtask_reported"
REVIEWED_EVENT = "subtask_reviewed"

#: At most this many sub-tasks per assignment, and milestones per sub-task (a form, not a plan).
MAX_SUBTASKS = 50
MAX_MILESTONES = 12
MAX_WEIGHT = Decimal(1000)


class SubtaskRefused(DomainError):
    """A rule refused the change; ``code`` lets pages say it in the user's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- who may ------------------------------------------------------------------------------------


def leads(assignment: Assignment, user: User) -> bool:
    """The assignment's own unit leads its sub-tasks (承办单位 of the parent)."""
    return user.role == "unit" and user.unit_id == assignment.unit_id


def can_decompose(assignment: Assignment, user: User) -> bool:
    return user.role in STAFF or leads(assignment, user)


def can_view(subtask: Subtask, user: User) -> bool:
    """Readers of everything, the sub-task's unit, and the parent's unit (a unit: only the
    sub-tasks it owns or leads)."""
    return (
        user.role in READ_ALL or user.unit_id == subtask.unit_id or leads(subtask.assignment, user)
    )


def owns(subtask: Subtask, user: User) -> bool:
    return user.role == "unit" and user.unit_id == subtask.unit_id


def can_review(report: SubtaskReport, user: User) -> bool:
    """First stage: the lead unit (or the office); second stage: the office only."""
    if report.status == SubtaskReportStatus.LEAD_ACCEPTED.value:
        return user.role in STAFF
    return user.role in STAFF or leads(report.subtask.assignment, user)


def visible(user: User) -> Any:
    """Sub-tasks the user may read, newest first (a unit: those it owns or leads)."""
    query = select(Subtask).order_by(Subtask.id.desc())
    if user.role not in READ_ALL:
        led = select(Assignment.id).where(Assignment.unit_id == user.unit_id)
        query = query.where(or_(Subtask.unit_id == user.unit_id, Subtask.assignment_id.in_(led)))
    return query


def of_assignment(assignment_id: int) -> list[Subtask]:
    return list(
        db.session.scalars(
            select(Subtask)
            .where(Subtask.assignment_id == assignment_id)
            .order_by(Subtask.id)
            # The task page's table reads each one's unit and due dates.
            .options(joinedload(Subtask.unit), selectinload(Subtask.milestones))
        )
    )


def open_count(assignment_id: int) -> int:
    """Sub-tasks holding the parent open (neither completed nor closed with a reason)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Subtask)
            .where(Subtask.assignment_id == assignment_id, Subtask.status.in_(SUBTASK_OPEN))
        )
        or 0
    )


# -- roll-up ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One sub-task's part of the parent: its share of the weights and what it adds."""

    subtask: Subtask
    #: weight ÷ the sum of the counted weights (0 for a closed sub-task: not counted).
    share: Decimal
    #: The percent counted: 100 when completed, else the last accepted report's.
    percent: int
    #: share × percent, in percentage points of the parent.
    contribution: Decimal
    counted: bool


@dataclass(frozen=True)
class Rollup:
    parts: list[Part]
    #: Σ contributions, exact; None when no sub-task counts.
    percent: Decimal | None
    open: int

    @property
    def shown(self) -> int | None:
        """The parent's percent as shown: half up to a whole number."""
        if self.percent is None:
            return None
        return int(self.percent.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def counted_percent(subtask: Subtask) -> int:
    return 100 if subtask.status == SubtaskStatus.COMPLETED.value else subtask.percent


def rollup_of(subtasks: Sequence[Subtask]) -> Rollup:
    """The parent's progress = Σ weightᵢ × percentᵢ ÷ Σ weightᵢ over the sub-tasks not closed
    with a reason (a closed one leaves both sums, like a not-applicable indicator)."""
    counted = [s for s in subtasks if s.status != SubtaskStatus.CLOSED.value]
    total = sum((s.weight for s in counted), Decimal(0))
    parts = []
    for s in subtasks:
        is_counted = s in counted and total > 0
        share = s.weight / total if is_counted else Decimal(0)
        percent = counted_percent(s)
        parts.append(Part(s, share, percent, share * percent, is_counted))
    value = sum((p.contribution for p in parts), Decimal(0)) if total > 0 else None
    return Rollup(parts, value, sum(1 for s in subtasks if s.is_open))


def rollup(assignment: Assignment) -> Rollup:
    return rollup_of(of_assignment(assignment.id))


# -- changes ------------------------------------------------------------------------------------


def _state(s: Subtask) -> dict[str, Any]:
    return {"status": s.status, "percent": s.percent}


def _check_open_parent(assignment: Assignment) -> None:
    if assignment.item.plan.status in CLOSED_PLAN_STATUSES:
        raise SubtaskRefused("plan_closed", "the plan is closed")
    if assignment.status == AssignmentStatus.COMPLETED.value:
        raise SubtaskRefused("completed", "the task is completed")


def parse_weight(value: Any) -> Decimal:
    try:
        weight = Decimal(str(value if value not in (None, "") else 1)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed("the weight is a number above 0", ["weight"]) from exc
    if not weight.is_finite() or weight <= 0 or weight > MAX_WEIGHT:
        raise ValidationFailed("the weight is a number above 0, at most 1000", ["weight"])
    return weight


def unit_choices(assignment: Assignment) -> list[Unit]:
    """Active units of the task's city: another unit may handle a sub-task."""
    return list(
        db.session.scalars(
            select(Unit)
            .where(Unit.city_id == assignment.item.plan.city_id, Unit.retired_on.is_(None))
            .order_by(Unit.name)
        )
    )


def create(
    assignment: Assignment,
    *,
    actor: User,
    text: str,
    unit_id: int | None,
    department: str | None,
    milestones: Sequence[tuple[str, date]],
    target: str | None = None,
    weight: Any = 1,
) -> Subtask:
    """分解: add a sub-task to the assignment, for another unit or a department of its own."""
    if not can_decompose(assignment, actor):
        raise PermissionDenied("only the task's unit or the office decomposes it")
    lock_assignment(assignment)
    _check_open_parent(assignment)
    text = (text or "").strip()
    department = (department or "").strip() or None
    target = (target or "").strip() or None
    if not text:
        raise ValidationFailed("describe the sub-task", ["text"])
    check_texts("subtask", {"text": text, "target": target})
    check_text("subtask.department", department, field="department")
    owner = db.session.get(Unit, unit_id) if unit_id else assignment.unit
    if owner is None or owner.retired_on is not None:
        raise SubtaskRefused("unit_unknown", "choose the unit that handles the sub-task")
    if owner.city_id != assignment.item.plan.city_id:
        raise SubtaskRefused("unit_other_city", "choose a unit of the task's city")
    if department and owner.id != assignment.unit_id:
        raise SubtaskRefused("department_own", "a department belongs to the task's own unit")
    if not unit_id and not department:
        raise SubtaskRefused("owner_required", "choose a unit or name a department")
    steps = [((title or "").strip() or "完成", due) for title, due in milestones if due]
    if not steps:
        raise ValidationFailed("give at least one due date", ["milestones"])
    if len(steps) > MAX_MILESTONES:
        raise ValidationFailed("too many milestones", ["milestones"])
    for title, _due in steps:
        check_text("subtask.milestone", title, field="milestones")
    if len(of_assignment(assignment.id)) >= MAX_SUBTASKS:
        raise SubtaskRefused("too_many", "this task has as many sub-tasks as it may have")
    subtask = Subtask(
        assignment_id=assignment.id,
        unit_id=owner.id,
        department=department,
        text=text,
        target=target,
        weight=parse_weight(weight),
        created_by_id=actor.id,
        milestones=[SubtaskMilestone(title=t, due_on=d) for t, d in sorted(steps, key=_by_due)],
    )
    db.session.add(subtask)
    db.session.flush()
    after = {
        "assignment_id": assignment.id,
        "unit": owner.name,
        "unit_id": owner.id,
        **({"department": department} if department else {}),
        "text": text,
        **({"target": target} if target else {}),
        "weight": subtask.weight,
        "milestones": [{"title": t, "due_on": d} for t, d in steps],
    }
    audit.record("subtask.created", "subtask", subtask.id, actor_id=actor.id, after=after)
    from taskhub.supervision import notices

    notices.subtask_created(subtask)
    return subtask


def _by_due(step: tuple[str, date]) -> date:
    return step[1]


def acknowledge(subtask: Subtask, *, actor: User) -> None:
    """签收 by the sub-task's unit (reporting implies it too)."""
    if not owns(subtask, actor):
        raise PermissionDenied("only the sub-task's unit acknowledges it")
    lock_assignment(subtask.assignment)
    _acknowledge(subtask, actor=actor)


def _acknowledge(subtask: Subtask, *, actor: User) -> None:
    if subtask.acknowledged_at is not None:
        return
    before = _state(subtask)
    subtask.acknowledged_at = now_utc()
    if subtask.status == SubtaskStatus.NEW.value:
        subtask.status = SubtaskStatus.ACKNOWLEDGED.value
    db.session.flush()
    audit.record(
        "subtask.acknowledged", "subtask", subtask.id, actor_id=actor.id, before=before,
        after=_state(subtask),
    )  # fmt: skip


def submit_report(
    subtask: Subtask,
    *,
    actor: User,
    progress: str,
    percent: int | None,
    problems: str | None = None,
    next_steps: str | None = None,
    milestone_id: int | None = None,
    files: Sequence[UploadedFile] = (),
    storage: Storage | None = None,
    max_bytes: int = 0,
) -> SubtaskReport:
    """The sub-task's unit reports (工作进展 / 存在问题 / 下步计划, percent, evidence)."""
    if not owns(subtask, actor):
        raise PermissionDenied("only the sub-task's unit reports on it")
    lock_assignment(subtask.assignment)
    db.session.refresh(subtask)
    _check_open_parent(subtask.assignment)
    if not subtask.is_open:
        raise SubtaskRefused("ended", "this sub-task is completed or closed")
    if subtask.status == SubtaskStatus.SUBMITTED.value:
        raise SubtaskRefused("pending", "a report is already awaiting review")
    check_report_fields(progress, percent, problems, next_steps)
    assert percent is not None
    if milestone_id is not None and milestone_id not in {m.id for m in subtask.milestones}:
        raise ValidationFailed("that milestone is not part of this sub-task", ["milestone_id"])
    checked = [(check_upload(f.filename, f.data, max_bytes=max_bytes), f.data) for f in files]
    before = _state(subtask)
    _acknowledge(subtask, actor=actor)
    report = SubtaskReport(
        subtask_id=subtask.id,
        milestone_id=milestone_id,
        author_id=actor.id,
        progress=progress.strip(),
        problems=(problems or "").strip() or None,
        next_steps=(next_steps or "").strip() or None,
        percent=percent,
    )
    db.session.add(report)
    db.session.flush()
    for upload, data in checked:
        assert storage is not None
        db.session.add(
            Evidence(
                subtask_report_id=report.id,
                sha256=evidence_files.store(storage, data),
                original_name=upload.safe_name,
                content_type=upload.content_type,
                size_bytes=upload.size,
                uploaded_by_id=actor.id,
            )
        )
    subtask.status = SubtaskStatus.SUBMITTED.value
    db.session.flush()
    audit.record(
        "subtask.report_submitted",
        "subtask_report",
        report.id,
        actor_id=actor.id,
        before=before,
        after={
            **_state(subtask),
            "subtask_id": subtask.id,
            "percent": percent,
            "subtask_milestone_id": milestone_id,
            "evidence": [u.safe_name for u, _ in checked],
        },
    )
    from taskhub.supervision import notices

    notices.subtask_reported(report)
    return report


def review(
    report: SubtaskReport,
    *,
    actor: User,
    decision: str,
    reason: str | None = None,
    today: date,
) -> SubtaskReport:
    """Accept or return (with a reason) a sub-task report: the lead unit first, then the office
    when the plan asks for a second review."""
    subtask = report.subtask
    lock_assignment(subtask.assignment)
    db.session.refresh(report)
    db.session.refresh(subtask)
    if not can_review(report, actor):
        raise PermissionDenied("you may not review this report")
    stage = "office" if report.status == SubtaskReportStatus.LEAD_ACCEPTED.value else "lead"
    if report.status not in (
        SubtaskReportStatus.SUBMITTED.value,
        SubtaskReportStatus.LEAD_ACCEPTED.value,
    ):
        raise SubtaskRefused("already_reviewed", "this report has already been reviewed")
    reason = check_decision(decision, reason)
    before = {**_state(subtask), "report_status": report.status}
    if stage == "lead":
        report.lead_reviewer_id, report.lead_reviewed_at = actor.id, now_utc()
    else:
        report.office_reviewer_id, report.office_reviewed_at = actor.id, now_utc()
    if decision == "return":
        report.status = SubtaskReportStatus.RETURNED.value
        report.return_reason = reason
        subtask.status = SubtaskStatus.RETURNED.value
        action = "subtask.report_returned"
    elif stage == "lead" and subtask.assignment.item.plan.subtask_second_review:
        report.status = SubtaskReportStatus.LEAD_ACCEPTED.value
        action = "subtask.report_lead_accepted"
    else:
        report.status = SubtaskReportStatus.ACCEPTED.value
        _accept(report, subtask, today)
        action = "subtask.report_accepted"
    db.session.flush()
    audit.record(
        action,
        "subtask_report",
        report.id,
        actor_id=actor.id,
        before=before,
        after={
            **_state(subtask),
            "report_status": report.status,
            "subtask_id": subtask.id,
            "stage": stage,
            "reason": reason,
        },
    )
    from taskhub.supervision import notices

    notices.subtask_reviewed(report, stage=stage)
    return report


def _accept(report: SubtaskReport, subtask: Subtask, today: date) -> None:
    subtask.percent = report.percent
    open_steps = [m for m in subtask.milestones if m.completed_on is None]
    done = [m for m in open_steps if m.id == report.milestone_id or report.percent == 100]
    for m in done:
        m.completed_on = today
        m.is_late = today > m.due_on
    if report.percent == 100:
        subtask.status = SubtaskStatus.COMPLETED.value
        subtask.completed_at = now_utc()
    else:
        subtask.status = SubtaskStatus.IN_PROGRESS.value


def close(subtask: Subtask, *, actor: User, reason: str) -> Subtask:
    """The lead unit (or the office) closes an open sub-task without completion, with a reason;
    it then leaves the roll-up and no longer holds the parent open."""
    if not can_decompose(subtask.assignment, actor):
        raise PermissionDenied("only the task's unit or the office closes a sub-task")
    lock_assignment(subtask.assignment)
    db.session.refresh(subtask)
    if not subtask.is_open:
        raise SubtaskRefused("ended", "this sub-task is completed or closed")
    reason = (reason or "").strip()
    if not reason:
        raise SubtaskRefused("reason_required", "say why the sub-task is closed")
    check_text("subtask.close_reason", reason, field="reason")
    before = _state(subtask)
    pending = [r for r in subtask.reports if r.status in _AWAITING]
    for r in pending:  # a report still awaiting review is ended with the sub-task
        r.status = SubtaskReportStatus.RETURNED.value
        r.return_reason = reason
    subtask.status = SubtaskStatus.CLOSED.value
    subtask.close_reason = reason
    subtask.closed_at = now_utc()
    subtask.closed_by_id = actor.id
    db.session.flush()
    audit.record(
        "subtask.closed",
        "subtask",
        subtask.id,
        actor_id=actor.id,
        before=before,
        after={**_state(subtask), "reason": reason, "assignment_id": subtask.assignment_id},
    )
    return subtask


_AWAITING = (SubtaskReportStatus.SUBMITTED.value, SubtaskReportStatus.LEAD_ACCEPTED.value)


def awaiting_review(user: User) -> list[SubtaskReport]:
    """Sub-task reports this user may decide now (the lead unit's first stage, the office's
    second stage, and any stage for the office)."""
    return list(db.session.scalars(_awaiting_review_query(user)))


def awaiting_action(user: User) -> Select[Any]:
    """The sub-tasks awaiting this user (the menu's badge counts them): those with a report the
    user may review now and, for a unit, those it handles that it has still to acknowledge
    (未签收) or to report on again (退回)."""
    reviews = (
        _awaiting_review_query(user).order_by(None).with_only_columns(SubtaskReport.subtask_id)
    )
    waiting: ColumnElement[bool] = Subtask.id.in_(reviews)
    if user.role == "unit":
        mine = (SubtaskStatus.NEW.value, SubtaskStatus.RETURNED.value)
        waiting = or_(waiting, and_(Subtask.unit_id == user.unit_id, Subtask.status.in_(mine)))
    return select(Subtask.id).where(waiting)


def _awaiting_review_query(user: User) -> Select[Any]:
    query = (
        select(SubtaskReport)
        .join(Subtask, Subtask.id == SubtaskReport.subtask_id)
        .where(SubtaskReport.status.in_(_AWAITING))
        .order_by(SubtaskReport.submitted_at)
    )
    if user.role not in STAFF:
        led = select(Assignment.id).where(Assignment.unit_id == user.unit_id)
        query = query.where(
            Subtask.assignment_id.in_(led),
            SubtaskReport.status == SubtaskReportStatus.SUBMITTED.value,
        )
    return query


def set_second_review(plan: Any, *, actor: User, enabled: bool) -> None:
    """The plan setting: sub-task reports go to the office after the lead unit's review."""
    if actor.role not in STAFF:
        raise PermissionDenied("only the office changes the plan's settings")
    before = plan.subtask_second_review
    if before == enabled:
        return
    plan.subtask_second_review = enabled
    db.session.flush()
    audit.record(
        "plan.subtask_review_set", "plan", plan.id, actor_id=actor.id,
        before={"subtask_second_review": before}, after={"subtask_second_review": enabled},
    )  # fmt: skip
