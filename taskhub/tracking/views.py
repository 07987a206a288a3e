"""Pages of the daily loop: my tasks, an assignment, review queue, extensions, deadline board."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.permissions import login_required, roles_required
from taskhub.core.storage import storage_for
from taskhub.core.timeutil import office_today
from taskhub.core.web import attempt
from taskhub.plans.models import Item, ItemUnit, Plan, UnitRole
from taskhub.tracking import services
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
)
from taskhub.tracking.schedule import (
    MilestoneInput,
    add_item_milestones,
    move_item_milestone,
    remove_item_milestone,
)
from taskhub.tracking.uploads import UploadRejected
from taskhub.units.models import Unit

bp = Blueprint("tracking", __name__)

PAGE_SIZE = 50


def _lights(assignments: list[Assignment]) -> dict[int, Light]:
    today = office_today()
    cal = WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=30))
    return {
        a.id: light_for(a, today, cal, year_start=date(a.item.plan.year, 1, 1)) for a in assignments
    }


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def get_assignment_or_404(assignment_id: int, need: str = "view") -> Assignment:
    """Load an assignment and check the user may view (or edit) it, or abort."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    allowed = (
        assignment.can_edit(current_user) if need == "edit" else assignment.can_view(current_user)
    )
    if not allowed:
        abort(403)
    return assignment


def _error_message(exc: Exception) -> str:
    if isinstance(exc, UploadRejected):
        return exc.message_zh if _locale() == "zh" else exc.message_en
    code = getattr(exc, "code", None)
    messages = {
        "closed": _("This task is completed and closed; no further reports."),
        "pending": _("A report is already awaiting review."),
        "already_reviewed": _("This report has already been reviewed."),
        "milestone_closed": _("This milestone is already done."),
        "extension_pending": _("An extension request is already pending."),
        "already_decided": _("This request has already been decided."),
    }
    if code in messages:
        return messages[code]
    if isinstance(exc, services.StaleObject):
        return _("This task was changed by someone else. Reload the page and try again.")
    if isinstance(exc, ValidationFailed):
        fields = {
            "progress": _("Describe the work done."),
            "percent": _("Progress must be a whole number from 0 to 100."),
            "reason": _("Give a reason."),
            "requested_due_on": _("The new date must be after the current due date."),
            "milestone_id": _("That milestone is not part of this task."),
            "due_on": _("The item already has this step on that date."),
            "title": _("Give the milestone a title."),
        }
        for problem in exc.problems:
            if problem in fields:
                return fields[problem]
    return str(getattr(exc, "message", exc))


def _locale() -> str:
    from flask import g

    return str(g.get("locale", "zh"))


# -- my tasks and the board ------------------------------------------------------------------

VIEWS = ("open", "due_soon", "overdue", "returned", "submitted", "completed", "all")


def _filtered(query: Any, view: str, today: date) -> Any:
    soon = today + timedelta(days=14)
    next_due = (
        select(func.min(func.coalesce(Milestone.extended_to, Milestone.due_on)))
        .where(
            Milestone.assignment_id == Assignment.id, Milestone.status == MilestoneStatus.OPEN.value
        )
        .scalar_subquery()
    )
    if view == "open":
        query = query.where(Assignment.status != AssignmentStatus.COMPLETED.value)
    elif view == "due_soon":
        query = query.where(next_due >= today, next_due <= soon)
    elif view == "overdue":
        query = query.where(Assignment.is_overdue)
    elif view in ("returned", "submitted", "completed"):
        query = query.where(Assignment.status == view)
    # Overdue first, then by the next due date.
    return query.order_by(Assignment.is_overdue.desc(), next_due.asc().nulls_last(), Assignment.id)


@bp.get("/my")
@login_required
def my_tasks() -> Any:
    """The unit's assignments with traffic lights: due soon, overdue, returned, awaiting review."""
    if current_user.unit_id is None or current_user.role not in ("unit", "assessor"):
        return redirect(url_for("tracking.board"))
    view = request.args.get("view", "open")
    view = view if view in VIEWS else "open"
    base = select(Assignment).where(Assignment.unit_id == current_user.unit_id)
    counts = {
        v: db.session.scalar(
            select(func.count()).select_from(_filtered(base, v, office_today()).subquery())
        )
        for v in VIEWS
    }
    page = _page()
    rows = list(
        db.session.scalars(
            _filtered(base, view, office_today())
            .options(
                selectinload(Assignment.milestones),
                selectinload(Assignment.item).selectinload(Item.plan),
            )
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return render_template(
        "tracking/my.html",
        rows=rows,
        lights=_lights(rows),
        view=view,
        views=VIEWS,
        counts=counts,
        page=page,
        page_size=PAGE_SIZE,
    )


@bp.get("/board")
@roles_required("admin", "office", "assessor", "viewer")
def board() -> Any:
    """Every assignment by plan, unit, lead unit and status; overdue first."""
    args = request.args
    view = args.get("view", "open") if args.get("view") in VIEWS else "open"
    query = select(Assignment).join(Item, Item.id == Assignment.item_id)
    plan = (
        db.session.scalar(select(Plan).where(Plan.code == args.get("plan")))
        if args.get("plan")
        else None
    )
    if plan:
        query = query.where(Item.plan_id == plan.id)
    unit_id = args.get("unit", type=int)
    if unit_id:
        query = query.where(Assignment.unit_id == unit_id)
    lead_id = args.get("lead", type=int)
    if lead_id:
        led = select(ItemUnit.item_id).where(
            ItemUnit.unit_id == lead_id,
            ItemUnit.role.in_([UnitRole.LEAD.value, UnitRole.LEAD_ASSESSOR.value]),
        )
        query = query.where(Assignment.item_id.in_(led))
    status = args.get("status")
    if status in tuple(s.value for s in AssignmentStatus):
        query = query.where(Assignment.status == status)
    query = _filtered(query, view, office_today())
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = _page()
    rows = list(
        db.session.scalars(
            query.options(
                selectinload(Assignment.milestones),
                selectinload(Assignment.unit),
                selectinload(Assignment.item).selectinload(Item.plan),
            )
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    plans = db.session.scalars(select(Plan).order_by(Plan.code)).all()
    units = (
        db.session.scalars(
            select(Unit).where(Unit.city_id == plan.city_id).order_by(Unit.kind, Unit.id)
        ).all()
        if plan
        else []
    )
    return render_template(
        "tracking/board.html",
        rows=rows,
        lights=_lights(rows),
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        plans=plans,
        plan=plan,
        units=units,
        view=view,
        views=VIEWS,
        statuses=[s.value for s in AssignmentStatus],
        args=args,
    )


# -- one assignment -----------------------------------------------------------------------


@bp.get("/assignments/<int:assignment_id>")
@login_required
def assignment(assignment_id: int) -> Any:
    """An assignment: status, light, milestones, reports with evidence and reviews, audit."""
    found = get_assignment_or_404(assignment_id)
    from taskhub.plans.services import section_trail

    report_ids = [r.id for r in found.reports]
    milestone_ids = [m.id for m in found.milestones]
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            ((AuditEvent.object_type == "assignment") & (AuditEvent.object_id == str(found.id)))
            | (
                (AuditEvent.object_type == "progress_report")
                & AuditEvent.object_id.in_([str(i) for i in report_ids])
            )
        )
        .order_by(AuditEvent.id.desc())
        .limit(100)
    ).all()
    actors = {
        u.id: u.display_name
        for u in db.session.scalars(
            select(User).where(User.id.in_({e.actor_id for e in events if e.actor_id}))
        )
    }
    extensions = (
        db.session.scalars(
            select(ExtensionRequest)
            .where(ExtensionRequest.milestone_id.in_(milestone_ids))
            .order_by(ExtensionRequest.id.desc())
        ).all()
        if milestone_ids
        else []
    )
    pending = next((r for r in found.reports if r.status == ReportStatus.SUBMITTED.value), None)
    return render_template(
        "tracking/assignment.html",
        assignment=found,
        item=found.item,
        trail=section_trail(found.item),
        light=_lights([found])[found.id],
        can_edit=found.can_edit(current_user),
        can_review=services.can_review(current_user, found),
        pending=pending,
        audit_events=events,
        actors=actors,
        score_periods=_score_periods(found),
        extensions=extensions,
        today=office_today(),
        max_mb=current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
    )


def _score_periods(assignment: Assignment) -> list[str]:
    from taskhub.scoring.views import period_codes

    return period_codes(assignment.item.plan)


def _back(assignment: Assignment) -> Any:
    return redirect(url_for("tracking.assignment", assignment_id=assignment.id))


@bp.post("/assignments/<int:assignment_id>/acknowledge")
@login_required
def acknowledge(assignment_id: int) -> Any:
    """签收 an assignment."""
    found = get_assignment_or_404(assignment_id, need="edit")
    services.acknowledge(found, actor=current_user)
    db.session.commit()
    flash(_("Acknowledged."), "success")
    return _back(found)


@bp.post("/assignments/<int:assignment_id>/reports")
@login_required
def submit_report(assignment_id: int) -> Any:
    """Report progress with evidence files."""
    found = get_assignment_or_404(assignment_id, need="edit")
    form = request.form
    files = [
        services.UploadedFile(f.filename or "", f.read())
        for f in request.files.getlist("evidence")
        if f and f.filename
    ]
    try:
        percent = int(form.get("percent", ""))
    except ValueError:
        percent = -1
    try:
        services.submit_report(
            found,
            actor=current_user,
            progress=form.get("progress", ""),
            percent=percent,
            problems=form.get("problems"),
            next_steps=form.get("next_steps"),
            milestone_id=form.get("milestone_id", type=int),
            files=files,
            storage=storage_for(current_app.config),
            max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
            expected_version=form.get("version", type=int),
        )
    except (DomainError, UploadRejected) as exc:
        db.session.rollback()
        flash(_("The report was not submitted: %(problem)s", problem=_error_message(exc)), "error")
        return _back(found)
    db.session.commit()
    flash(_("Report submitted for review."), "success")
    return _back(found)


@bp.get("/evidence/<int:evidence_id>")
@login_required
def evidence(evidence_id: int) -> Any:
    """Download (or preview, for images and PDFs) an evidence file."""
    ev = db.session.get(Evidence, evidence_id)
    if ev is None:
        abort(404)
    get_assignment_or_404(ev.report.assignment_id)
    storage = storage_for(current_app.config)
    if not storage.exists(ev.sha256):
        abort(404)
    inline = ev.content_type.startswith("image/") or ev.content_type == "application/pdf"
    response = send_file(
        storage.open(ev.sha256),
        mimetype=ev.content_type,
        as_attachment=not inline,
        download_name=ev.original_name,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/reports/<int:report_id>/review")
@login_required
def review(report_id: int) -> Any:
    """Accept or return a report."""
    report = db.session.get(ProgressReport, report_id)
    if report is None:
        abort(404)
    if not services.can_review(current_user, report.assignment):
        abort(403)
    try:
        services.review_report(
            report,
            actor=current_user,
            decision=request.form.get("decision", ""),
            reason=request.form.get("reason"),
        )
    except DomainError as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=_error_message(exc)), "error")
        return _back(report.assignment)
    db.session.commit()
    flash(_("Review saved."), "success")
    target = request.form.get("next")
    if target == "queue":
        return redirect(url_for("tracking.review_queue"))
    return _back(report.assignment)


@bp.post("/milestones/<int:milestone_id>/extension")
@login_required
def request_extension(milestone_id: int) -> Any:
    """Ask for an extension (延期) of a milestone."""
    milestone = db.session.get(Milestone, milestone_id)
    if milestone is None:
        abort(404)
    found = get_assignment_or_404(milestone.assignment_id, need="edit")
    try:
        wanted = date.fromisoformat(request.form.get("requested_due_on", ""))
    except ValueError:
        flash(_("Not saved: %(problem)s", problem=_("Give the new date as YYYY-MM-DD.")), "error")
        return _back(found)
    try:
        services.request_extension(
            milestone,
            actor=current_user,
            reason=request.form.get("reason", ""),
            requested_due_on=wanted,
        )
    except DomainError as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=_error_message(exc)), "error")
        return _back(found)
    db.session.commit()
    flash(_("Extension requested; the office will decide."), "success")
    return _back(found)


# -- the office's queues -------------------------------------------------------------------


@bp.get("/review")
@roles_required("admin", "office", "assessor")
def review_queue() -> Any:
    """Reports awaiting review that this user may review, oldest first."""
    query = (
        select(ProgressReport)
        .where(ProgressReport.status == ReportStatus.SUBMITTED.value)
        .order_by(ProgressReport.submitted_at)
    )
    if current_user.role == "assessor":
        led = select(ItemUnit.item_id).where(
            ItemUnit.unit_id == current_user.unit_id, ItemUnit.role == UnitRole.LEAD_ASSESSOR.value
        )
        query = query.join(Assignment).where(Assignment.item_id.in_(led))
    reports = db.session.scalars(
        query.options(
            selectinload(ProgressReport.evidence),
            selectinload(ProgressReport.assignment).selectinload(Assignment.unit),
        ).limit(200)
    ).all()
    return render_template("tracking/review.html", reports=reports)


@bp.get("/extensions")
@roles_required("admin", "office")
def extensions() -> Any:
    """Pending extension requests for the office to decide."""
    pending = db.session.scalars(
        select(ExtensionRequest)
        .where(ExtensionRequest.status == ExtensionStatus.PENDING.value)
        .order_by(ExtensionRequest.requested_at)
    ).all()
    return render_template("tracking/extensions.html", pending=pending)


@bp.post("/extensions/<int:extension_id>/decide")
@roles_required("admin", "office")
def decide_extension(extension_id: int) -> Any:
    """Approve or reject an extension request."""
    ext = db.session.get(ExtensionRequest, extension_id)
    if ext is None:
        abort(404)
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        flash(_("Not saved: %(problem)s", problem=_("Choose approve or reject.")), "error")
        return redirect(url_for("tracking.extensions"))
    try:
        services.decide_extension(
            ext,
            actor=current_user,
            approve=decision == "approve",
            reason=request.form.get("reason"),
        )
    except (DomainError, PermissionDenied) as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=_error_message(exc)), "error")
        return redirect(url_for("tracking.extensions"))
    db.session.commit()
    flash(_("Decision saved."), "success")
    return redirect(url_for("tracking.extensions"))


# -- schedules (the office sets, moves and removes milestones) -----------------------------


KIND_TITLES = {
    "stage": "取得阶段性成效",
    "notable": "取得明显成效",
    "complete": "完成",
    "checkpoint": "持续推进检查",
    "step": "进度节点",
}


def _milestone_input(form: Any) -> MilestoneInput | None:
    """A milestone from the form: a date, or "N working days" from today (holidays skipped)."""
    days = (form.get("working_days") or "").strip()
    if days:
        if not days.isdigit() or not 0 < int(days) <= 366:
            flash(
                _(
                    "Not saved: %(problem)s",
                    problem=_("Working days must be a whole number from 1 to 366."),
                ),
                "error",
            )
            return None
        today = office_today()
        calendar = WorkingCalendar.load(today, today + timedelta(days=int(days) * 2 + 60))
        due_on = calendar.add_working_days(today, int(days))
    else:
        try:
            due_on = date.fromisoformat(form.get("due_on", ""))
        except ValueError:
            flash(
                _(
                    "Not saved: %(problem)s",
                    problem=_("Give the date as YYYY-MM-DD, or a number of working days."),
                ),
                "error",
            )
            return None
    kind = form.get("kind", "complete")
    # Stored titles are Chinese whatever the editor's UI language: the schedule is the plan's.
    title = (form.get("title") or "").strip() or (
        f"{due_on.month}月{due_on.day}日{KIND_TITLES.get(kind, '')}"
    )
    return MilestoneInput(kind=kind, due_on=due_on, title=title)


@bp.post("/items/<int:item_id>/milestones")
@roles_required("admin", "office")
def add_milestone(item_id: int) -> Any:
    """Add a step to an item's schedule (and so to each of its assignments)."""
    item = db.session.get(Item, item_id)
    if item is None:
        abort(404)
    step = _milestone_input(request.form)
    if step is not None:
        attempt(
            lambda: add_item_milestones([item], [step], actor_id=current_user.id),
            done=_("Milestone added."),
            describe=_error_message,
        )
    return redirect(url_for("plans.item", item_id=item.id))


@bp.post("/plans/<code>/milestones")
@roles_required("admin", "office")
def bulk_milestones(code: str) -> Any:
    """Set the same milestone on every selected item of a plan, in one transaction."""
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        abort(404)
    ids = [int(i) for i in request.form.getlist("item_ids") if i.isdigit()]
    items = db.session.scalars(select(Item).where(Item.plan_id == plan.id, Item.id.in_(ids))).all()
    if not items:
        flash(_("Not saved: %(problem)s", problem=_("Select at least one item.")), "error")
        return redirect(url_for("plans.show", code=code))
    step = _milestone_input(request.form)
    if step is not None:
        attempt(
            lambda: add_item_milestones(items, [step], actor_id=current_user.id),
            done=lambda added: _("Milestone set on %(n)d items.", n=len(added)),
            describe=_error_message,
        )
    return redirect(url_for("plans.show", code=code))


def _item_milestone_or_404(step_id: int) -> ItemMilestone:
    step = db.session.get(ItemMilestone, step_id)
    if step is None:
        abort(404)
    return step


@bp.post("/item-milestones/<int:step_id>/move")
@roles_required("admin", "office")
def move_milestone(step_id: int) -> Any:
    """Move a schedule step to another date."""
    step = _item_milestone_or_404(step_id)
    try:
        due_on = date.fromisoformat(request.form.get("due_on", ""))
    except ValueError:
        flash(_("Not saved: %(problem)s", problem=_("Give the date as YYYY-MM-DD.")), "error")
    else:
        attempt(
            lambda: move_item_milestone(step, due_on, actor_id=current_user.id),
            done=_("Milestone moved."),
            describe=_error_message,
        )
    return redirect(url_for("plans.item", item_id=step.item_id))


@bp.post("/item-milestones/<int:step_id>/delete")
@roles_required("admin", "office")
def remove_milestone(step_id: int) -> Any:
    """Remove a schedule step (completed copies stay on record)."""
    step = _item_milestone_or_404(step_id)
    item_id = step.item_id
    remove_item_milestone(step, actor_id=current_user.id)
    db.session.commit()
    flash(_("Milestone removed."), "success")
    return redirect(url_for("plans.item", item_id=item_id))
