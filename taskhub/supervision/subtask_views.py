"""Pages of decompose (分解) and co-handle (协办): the sub-task list and page, and the forms
of the task page's 分解任务 and 协办意见 panels (``subtask_panel``, a template global)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from taskhub.core.db import db
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.inputs import id_arg, int_arg
from taskhub.core.limits import TextTooLong
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.storage import storage_for
from taskhub.core.timeutil import office_today
from taskhub.core.web import attempt, problem_text
from taskhub.supervision import cohandle, subtasks
from taskhub.supervision.models import Subtask, SubtaskReport
from taskhub.tracking.models import Assignment
from taskhub.tracking.services import UploadedFile
from taskhub.tracking.uploads import ACCEPT, UploadRejected, format_size

bp = Blueprint("subtasks", __name__)

STATUS_LABELS = {
    "new": _l("Not acknowledged"),
    "acknowledged": _l("Acknowledged"),
    "in_progress": _l("In progress"),
    "submitted": _l("Awaiting review"),
    "returned": _l("Returned"),
    "completed": _l("Completed"),
    "closed": _l("Closed with a reason"),
}
REPORT_STATUS_LABELS = {
    "submitted": _l("Awaiting the lead unit's review"),
    "lead_accepted": _l("Awaiting the office's review"),
    "accepted": _l("Accepted"),
    "returned": _l("Returned"),
}
ERRORS = {
    "plan_closed": _l("The plan is not under way."),
    "completed": _l("The task is completed."),
    "unit_unknown": _l("Choose the unit that handles the sub-task."),
    "unit_other_city": _l("Choose a unit of the task's city."),
    "department_own": _l("A department belongs to the task's own unit: leave the unit empty."),
    "owner_required": _l("Choose a unit or name a department."),
    "too_many": _l("This task has as many sub-tasks as it may have."),
    "ended": _l("This sub-task is completed or closed."),
    "pending": _l("A report is already awaiting review."),
    "already_reviewed": _l("This report has already been reviewed."),
    "reason_required": _l("Say why the sub-task is closed."),
    "no_round": _l("The task has no reporting round open."),
}
FIELDS = {
    "text": _l("Sub-task"),
    "weight": _l("Weight"),
    "milestones": _l("Due dates"),
    "progress": _l("Work done"),
    "percent": _l("Progress (%%)"),
    "milestone_id": _l("For milestone"),
    "reason": _l("Reason"),
    "department": _l("Handling department"),
    "target": _l("Target"),
}


#: What a refused field needs, in the user's language.
INVALID = {
    "text": _l("Describe the sub-task."),
    "weight": _l("The weight is a number above 0, at most 1000."),
    "milestones": _l("Give at least one due date (yyyy-mm-dd)."),
    "progress": _l("Describe the work done."),
    "percent": _l("Progress must be a whole number from 0 to 100."),
    "milestone_id": _l("Choose a milestone of this sub-task."),
    "reason": _l("Give the reason for returning the report."),
    "decision": _l("Choose to accept or to return."),
}


def _problem(exc: DomainError) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in ERRORS:
        return str(ERRORS[code])
    if isinstance(exc, ValidationFailed) and not isinstance(exc, TextTooLong):
        field = next((p for p in exc.problems if p in INVALID), None)
        if field is not None:
            return str(INVALID[field])
    return problem_text(exc, FIELDS)


def get_subtask_or_404(ident: int, *, by_report: bool = False) -> Subtask:
    """Load a sub-task (or a sub-task report's) the user may read, or abort (404, 403)."""
    if by_report:
        report = db.session.get(SubtaskReport, ident)
        found = report.subtask if report is not None else None
    else:
        found = db.session.get(Subtask, ident)
    if found is None:
        abort(404)
    if not subtasks.can_view(found, current_user):
        abort(403)
    return found


def _to_subtask(subtask: Subtask, anchor: str = "") -> Any:
    return redirect(url_for("subtasks.show", subtask_id=subtask.id) + anchor)


def _to_task(assignment_id: int, anchor: str) -> Any:
    return redirect(url_for("tracking.assignment", assignment_id=assignment_id) + anchor)


@bp.get("/subtasks")
@login_required
def index() -> Any:
    """The sub-tasks the user may read (a unit: those it handles or leads), and the sub-task
    reports awaiting the user's review."""
    found = list(db.session.scalars(subtasks.visible(current_user).limit(500)))
    return render_template(
        "supervision/subtasks.html",
        subtasks=found,
        awaiting=subtasks.awaiting_review(current_user),
        states=STATUS_LABELS,
    )


@bp.get("/subtasks/<id:subtask_id>")
@login_required
def show(subtask_id: int) -> Any:
    """A sub-task: its text, unit, milestones, reports with evidence and the review forms."""
    found = get_subtask_or_404(subtask_id)
    user = current_user
    return render_template(
        "supervision/subtask.html",
        subtask=found,
        assignment=found.assignment,
        states=STATUS_LABELS,
        report_states=REPORT_STATUS_LABELS,
        owns=subtasks.owns(found, user),
        can_close=subtasks.can_decompose(found.assignment, user) and found.is_open,
        can_review=lambda r: subtasks.can_review(r, user),
        second_review=found.assignment.item.plan.subtask_second_review,
        max_mb=current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
        evidence_accept=ACCEPT,
        format_size=format_size,
        evidence_kind=_evidence_kind,
    )


def _evidence_kind(ev: Any) -> str:
    from taskhub.tracking.views import evidence_kind

    return evidence_kind(ev)


def _milestones(form: Any) -> list[tuple[str, date]]:
    titles = form.getlist("ms_title")
    found = []
    for index, raw in enumerate(form.getlist("ms_due")):
        if not raw.strip():
            continue
        try:
            due = date.fromisoformat(raw.strip())
        except ValueError as exc:
            raise ValidationFailed("bad date", ["milestones"]) from exc
        found.append((titles[index] if index < len(titles) else "", due))
    return found


@bp.post("/assignments/<id:assignment_id>/subtasks")
@login_required
def create(assignment_id: int) -> Any:
    """分解: add a sub-task to the task."""
    found = db.session.get(Assignment, assignment_id)
    if found is None:
        abort(404)
    if not subtasks.can_decompose(found, current_user):
        abort(403)
    form = request.form
    attempt(
        lambda: subtasks.create(
            found,
            actor=current_user,
            text=form.get("text", ""),
            unit_id=id_arg("unit", source=form),
            department=form.get("department"),
            target=form.get("target"),
            weight=form.get("weight"),
            milestones=_milestones(form),
        ),
        done=str(_l("Sub-task added; its unit is told.")),
        describe=_problem,
    )
    return _to_task(found.id, "#subtasks")


@bp.post("/subtasks/<id:subtask_id>/acknowledge")
@login_required
def acknowledge(subtask_id: int) -> Any:
    """签收 a sub-task."""
    found = get_subtask_or_404(subtask_id)
    if not subtasks.owns(found, current_user):
        abort(403)
    attempt(
        lambda: subtasks.acknowledge(found, actor=current_user),
        done=str(_l("Acknowledged.")),
        describe=_problem,
    )
    return _to_subtask(found)


@bp.post("/subtasks/<id:subtask_id>/reports")
@login_required
def report(subtask_id: int) -> Any:
    """The sub-task's unit reports with evidence files."""
    found = get_subtask_or_404(subtask_id)
    if not subtasks.owns(found, current_user):
        abort(403)
    form = request.form
    files = [
        UploadedFile(f.filename or "", f.read())
        for f in request.files.getlist("evidence")
        if f and f.filename
    ]
    try:
        percent = int_arg("percent", form, minimum=0, maximum=100)
    except ValueError:
        percent = None
    try:
        attempt(
            lambda: subtasks.submit_report(
                found,
                actor=current_user,
                progress=form.get("progress", ""),
                problems=form.get("problems"),
                next_steps=form.get("next_steps"),
                percent=percent,
                milestone_id=id_arg("milestone_id", source=form),
                files=files,
                storage=storage_for(current_app.config),
                max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
            ),
            done=str(_l("Report submitted for review.")),
            describe=_problem,
        )
    except UploadRejected as exc:
        from flask import flash

        db.session.rollback()
        flash(exc.message_zh, "error")
    return _to_subtask(found, "#reports")


@bp.post("/subtask-reports/<id:report_id>/review")
@login_required
def review(report_id: int) -> Any:
    """Accept or return a sub-task report (the lead unit, then the office if asked)."""
    found = db.session.get(SubtaskReport, report_id)
    if found is None:
        abort(404)
    if not subtasks.can_review(found, current_user):
        abort(403)
    attempt(
        lambda: subtasks.review(
            found,
            actor=current_user,
            decision=request.form.get("decision", ""),
            reason=request.form.get("reason"),
            today=office_today(),
        ),
        done=str(_l("Review saved.")),
        describe=_problem,
    )
    return _to_subtask(found.subtask, "#reports")


@bp.post("/subtasks/<id:subtask_id>/close")
@login_required
def close(subtask_id: int) -> Any:
    """The lead unit closes an open sub-task with a reason."""
    found = db.session.get(Subtask, subtask_id)
    if found is None:
        abort(404)
    if not subtasks.can_decompose(found.assignment, current_user):
        abort(403)
    attempt(
        lambda: subtasks.close(found, actor=current_user, reason=request.form.get("reason", "")),
        done=str(_l("Sub-task closed.")),
        describe=_problem,
    )
    return _to_subtask(found)


@bp.post("/assignments/<id:assignment_id>/co-reports")
@login_required
def co_report(assignment_id: int) -> Any:
    """A co-handling unit gives its part (协办意见) of the lead task's current round."""
    lead = db.session.get(Assignment, assignment_id)
    if lead is None:
        abort(404)
    if not cohandle.can_add(lead, current_user):
        abort(403)
    attempt(
        lambda: cohandle.submit(
            lead, actor=current_user, text=request.form.get("text", ""), today=office_today()
        ),
        done=str(_l("Co-handling part saved; the lead unit is told.")),
        describe=_problem,
    )
    back = id_arg("back", source=request.form)
    return _to_task(back or lead.id, "#cohandle")


@bp.app_template_global()
def subtask_panel(assignment: Assignment) -> dict[str, Any]:
    """The task page's 分解任务 and 协办意见 panels."""
    user = current_user
    today = office_today()
    roll = subtasks.rollup(assignment)
    can_decompose = subtasks.can_decompose(assignment, user) and assignment.status != "completed"
    lead = cohandle.lead_of(assignment)
    # On the lead task: the round's parts; on a co-handling unit's own task: its part's form.
    co_round = cohandle.round_of(assignment, today) if lead is assignment else None
    co_lead = lead if lead is not None and lead is not assignment else None
    co_form = None
    if co_lead is not None and cohandle.can_add(co_lead, user):
        lead_round = cohandle.round_of(co_lead, today)
        mine = next((c for c in lead_round.given if c.unit_id == user.unit_id), None)
        co_form = {"lead": co_lead, "round": lead_round, "mine": mine}
    return {
        "rollup": roll,
        "can_decompose": can_decompose,
        "units": subtasks.unit_choices(assignment) if can_decompose else [],
        "states": STATUS_LABELS,
        "co_round": co_round,
        "co_history": cohandle.history(assignment) if lead is assignment else [],
        "co_form": co_form,
        "is_staff": user.role in STAFF,
    }


@bp.app_template_global()
def report_notes(assignment: Assignment) -> dict[str, Any]:
    """What the task's report form says: co-handling parts missing in the current round, and
    the sub-tasks' rolled-up progress."""
    roll = subtasks.rollup(assignment)
    round_ = cohandle.round_of(assignment, office_today())
    return {
        "missing": round_.missing,
        "due_on": round_.due_on,
        "rollup": roll.shown,
        "open": roll.open,
    }


@bp.post("/plans/<code>/subtask-review")
@roles_required(*STAFF)
def set_second_review(code: str) -> Any:
    """The plan's setting: sub-task reports go to the office after the lead unit's review
    (shown and changed on the plan's reporting page)."""
    from taskhub.plans import services as plans

    plan = plans.get_plan(code)
    if plan is None:
        abort(404)
    subtasks.set_second_review(
        plan, actor=current_user, enabled=bool(request.form.get("second_review"))
    )
    db.session.commit()
    flash(_("The review of sub-task reports is saved."), "success")
    return redirect(url_for("cadence.reporting", code=plan.code) + "#subtask-review")
