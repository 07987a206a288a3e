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
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from taskhub.audit.models import AuditEvent
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.dates import cn_date
from taskhub.core.db import db
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.inputs import InvalidNumber, digits, id_arg, id_list_arg, int_arg, page_arg
from taskhub.core.labels import label
from taskhub.core.limits import TextTooLong
from taskhub.core.permissions import login_required, roles_required
from taskhub.core.storage import signed_redirect, storage_for
from taskhub.core.timeutil import office_today
from taskhub.core.web import attempt, problem_text
from taskhub.ledger import services as ledger
from taskhub.ledger.schemas import BoardArgs, load_args
from taskhub.ledger.views import filter_context, page_numbers, stream_export
from taskhub.ledger.views import messages as filter_messages
from taskhub.plans.models import Item, ItemUnit, Plan, UnitRole
from taskhub.scoring.labels import period_text
from taskhub.tracking import queues, services
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Evidence,
    ExtensionRequest,
    ExtensionStatus,
    ItemMilestone,
    Milestone,
    ProgressReport,
    ReportStatus,
    Review,
)
from taskhub.tracking.schedule import (
    MilestoneInput,
    add_item_milestones,
    move_item_milestone,
    remove_item_milestone,
)
from taskhub.tracking.uploads import ACCEPT, UploadRejected, format_size
from taskhub.units.models import Contact

bp = Blueprint("tracking", __name__)

PAGE_SIZE = 50
#: Rows in each short list (returned, due soon, awaiting review) at the top of /my.
SECTION_SIZE = 10
VIEWS = services.VIEWS


def get_assignment_or_404(
    assignment_id: int, need: str = "view", options: list[LoaderOption] | None = None
) -> Assignment:
    """Load an assignment and check the user may view (or edit) it, or abort."""
    assignment = db.session.get(Assignment, assignment_id, options=options)
    if assignment is None:
        abort(404)
    allowed = (
        assignment.can_edit(current_user) if need == "edit" else assignment.can_view(current_user)
    )
    if not allowed:
        abort(403)
    return assignment


#: The form field each refused report problem belongs to, so the message sits next to it.
REPORT_FIELDS = ("progress", "problems", "next_steps", "percent", "milestone_id", "evidence")


def _report_field(exc: Exception) -> str | None:
    if isinstance(exc, UploadRejected):
        return "evidence"
    if isinstance(exc, ValidationFailed):
        return next((p for p in exc.problems if p in REPORT_FIELDS), None)
    return None  # stale version, closed task, pending report: about the whole form


def _error_message(exc: Exception) -> str:
    if isinstance(exc, UploadRejected):
        return exc.message_zh if _locale() == "zh" else exc.message_en
    if isinstance(exc, TextTooLong | InvalidNumber):
        return problem_text(exc)
    code = getattr(exc, "code", None)
    messages = {
        "closed": _("This task is completed and closed; no further reports."),
        "plan_closed": _("This plan is closed; no further reports."),
        "pending": _("A report is already awaiting review."),
        "already_reviewed": _("This report has already been reviewed."),
        "milestone_closed": _("This milestone is already done."),
        "extension_pending": _("An extension request is already pending."),
        "already_decided": _("This request has already been decided."),
        "not_completed": _("Only a completed task can be reopened."),
        "subtasks_open": _(
            "Sub-tasks are still open: they are completed, or the task's unit closes them with "
            "a reason, before the task is completed."
        ),
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


@bp.get("/my")
@login_required
def my_tasks() -> Any:
    """The unit's workspace: returned, due soon, awaiting review, every task, the contacts."""
    if current_user.unit_id is None or current_user.role not in ("unit", "assessor"):
        return redirect(url_for("tracking.board"))
    view = request.args.get("view", "open")
    view = view if view in VIEWS else "open"
    today, page, unit_id = office_today(), page_arg(), current_user.unit_id
    rows = services.unit_assignments(
        unit_id, view, today, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    # The short lists lead the first page of the default view; a chosen view is its own list.
    attention = (
        services.workspace(unit_id, today, limit=SECTION_SIZE)
        if view == "open" and page == 1
        else None
    )
    listed = rows + (
        attention.returned + attention.due_soon + attention.submitted if attention else []
    )
    unit = current_user.unit
    contacts = db.session.scalars(
        select(Contact).where(Contact.unit_id == unit_id).order_by(Contact.id)
    ).all()
    return render_template(
        "tracking/my.html",
        rows=rows,
        lights=services.lights(listed, today),
        view=view,
        views=VIEWS,
        counts=services.view_counts(unit_id, today),
        attention=attention,
        section_size=SECTION_SIZE,
        due_soon_days=services.DUE_SOON_DAYS,
        contacts=contacts,
        can_edit_contacts=unit.can_edit_contacts(current_user),
        page=page,
        page_size=PAGE_SIZE,
        today=today,
    )


@bp.get("/board")
@roles_required("admin", "office", "assessor", "viewer")
def board() -> Any:
    """时限督办 (the deadline board): every assignment by plan, unit, lead unit, status and
    view; overdue first."""
    from taskhub.plans.services import in_everyday_lists

    values, invalid = load_args(BoardArgs(), request.args)
    resolved = ledger.resolve_filters(values)
    filters = ledger.board_filters(resolved.filters)
    today = office_today()
    rows = ledger.Ledger(filters, viewer=current_user, today=today)
    total = rows.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(values["page"], pages)
    plans = db.session.scalars(select(Plan).where(in_everyday_lists()).order_by(Plan.code)).all()
    return render_template(
        "tracking/board.html",
        rows=rows.page(page, PAGE_SIZE),
        total=total,
        page=page,
        pages=pages,
        page_size=PAGE_SIZE,
        page_numbers=page_numbers(page, pages),
        plans=plans,
        plan=resolved.plan,
        filters=filters,
        view=filters.view,
        views=VIEWS,
        statuses=[s.value for s in AssignmentStatus],
        errors=filter_messages(invalid, resolved.problems),
        today=today,
        **filter_context(resolved),
    )


@bp.get("/board.xlsx")
@roles_required("admin", "office", "assessor", "viewer")
def board_export() -> Any:
    """The deadline board as Excel: every row its filters match, in its order (streamed)."""
    values, invalid = load_args(BoardArgs(), request.args)
    resolved = ledger.resolve_filters(values)
    if invalid or resolved.problems:
        flash(_("Not exported: correct the filters marked below first."), "error")
        query = request.query_string.decode("utf-8", "replace")
        return redirect(f"{url_for('tracking.board')}?{query}")
    filters = ledger.board_filters(resolved.filters)
    return stream_export(resolved, filters, kind="时限督办", ascii_kind="board")


# -- one assignment -----------------------------------------------------------------------

#: What the assignment page shows, loaded up front (a handful of queries, whatever the size).
ASSIGNMENT_PAGE_LOAD: list[LoaderOption] = [
    joinedload(Assignment.unit),
    joinedload(Assignment.item).options(
        joinedload(Item.plan),
        selectinload(Item.units).options(joinedload(ItemUnit.unit), joinedload(ItemUnit.group)),
    ),
    selectinload(Assignment.milestones),
    selectinload(Assignment.reports).options(
        joinedload(ProgressReport.author),
        selectinload(ProgressReport.evidence),
        selectinload(ProgressReport.reviews).joinedload(Review.reviewer),
    ),
]

#: Names of the audit trail's actions that core.labels does not name.
MORE_ACTIONS = {
    "score.item_set": _l("Scored the item"),
    "milestone.added": _l("Added a milestone"),
    "milestone.moved": _l("Moved a milestone"),
    "milestone.removed": _l("Removed a milestone"),
}
#: Readable names of the fields that audit records carry in before/after.
CHANGE_FIELDS = {
    "status": _l("Status"),
    "percent": _l("Progress"),
    "milestone_id": _l("Milestone"),
    "evidence": _l("Evidence"),
    "seconds_to_acknowledge": _l("Time to acknowledge"),
    "due_on": _l("Due"),
    "extended_to": _l("Extended to"),
    "requested_due_on": _l("Requested date"),
    "kind": _l("Kind"),
    "title": _l("Title"),
    "value": _l("Score"),
    "numerator": _l("Numerator"),
    "denominator": _l("Denominator"),
    "period": _l("Period"),
    "unit": _l("Unit"),
    "restart_days": _l("Due dates moved by (days)"),
    "text": _l("Sub-task"),
    "department": _l("Handling department"),
    "target": _l("Target"),
    "weight": _l("Weight"),
    "round_due_on": _l("Round due"),
    "number": _l("Notice number"),
    "answer_due_on": _l("Answer by"),
    "overdue_working_days": _l("Working days overdue"),
    "late": _l("Answered late"),
    "instructed_on": _l("Day of the instruction"),
    "unit_leaders": _l("Copied to the unit's principal leader"),
}
#: Fields whose name depends on the object of the event (a co-handling part's text is no sub-task).
OBJECT_FIELDS = {"co_report": {"text": _l("Co-handling part")}}
#: Fields not worth a line: ids shown by the page itself, and the reason (beside the action).
QUIET_FIELDS = frozenset(
    {
        "assignment_id",
        "item_id",
        "reason",
        "scorer",
        "unit_id",
        "handover_request_id",
        "closing",
        "report_id",
        "completed_at",
        "subtask_id",
        "subtask_milestone_id",
        "milestones",
        "report_status",
        "stage",
        # Escalation notices and leaders' instructions: the action and number say enough.
        "level",
        "state",
        "automatic",
        "assignment_ids",
        "leader_id",
        "on_behalf",
        "instruction_id",
    }
)
#: Timeline states in words (the colour is never alone).
STEP_STATES = {
    "done": _l("Done"),
    "late": _l("done late"),
    "waived": _l("Waived"),
    "overdue": _l("Overdue"),
    "due_soon": _l("Due soon"),
    "upcoming": _l("Not yet due"),
    "past": _l("Date passed"),
}


def _duration(seconds: int) -> str:
    if seconds < 3600:
        return ngettext("%(num)d minute", "%(num)d minutes", max(1, seconds // 60))
    if seconds < 86400:
        return ngettext("%(num)d hour", "%(num)d hours", seconds // 3600)
    return ngettext("%(num)d day", "%(num)d days", seconds // 86400)


def _change_value(key: str, value: Any, milestones: dict[int, str]) -> str:
    """One before/after value in words: labels for codes, dates in the reader's style."""
    if value is None or value == []:
        return _("The task as a whole") if key == "milestone_id" else "—"
    if key == "status":
        return label("status", value)
    if key == "kind":
        return label("milestone_kind", value)
    if key == "percent":
        return f"{value}%"
    if key == "milestone_id":
        return milestones.get(value, "—")
    if key == "period":
        return period_text(str(value))
    if key in ("evidence", "unit_leaders") and isinstance(value, list):
        return "、".join(str(v) for v in value)
    if key == "seconds_to_acknowledge":
        return _duration(int(value))
    if key == "late":
        return _("Yes") if value else _("No")
    dates = ("due_on", "extended_to", "requested_due_on", "round_due_on", "answer_due_on")
    if key in (*dates, "instructed_on"):
        try:
            return cn_date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    return str(value)


def describe_changes(event: AuditEvent, milestones: dict[int, str]) -> list[str]:
    """An audit event's before → after, field by field, in words (unchanged fields left out)."""
    before, after = event.before or {}, event.after or {}
    lines = []
    for key in dict.fromkeys([*before, *after]):
        if key in QUIET_FIELDS:
            continue
        name = str(OBJECT_FIELDS.get(event.object_type, {}).get(key) or CHANGE_FIELDS.get(key, key))
        if key in before and key in after:
            if before[key] == after[key]:
                continue
            lines.append(
                _(
                    "%(field)s: %(before)s → %(after)s",
                    field=name,
                    before=_change_value(key, before[key], milestones),
                    after=_change_value(key, after[key], milestones),
                )
            )
        else:
            value = after[key] if key in after else before[key]
            lines.append(
                _("%(field)s: %(value)s", field=name, value=_change_value(key, value, milestones))
            )
    return lines


def _history_rows(assignment: Assignment, history: services.History) -> list[dict[str, Any]]:
    titles = {m.id: m.title or label("milestone_kind", m.kind) for m in assignment.milestones}
    return [
        {
            "event": e,
            "action": str(MORE_ACTIONS.get(e.action) or label("audit_action", e.action)),
            "actor": history.actors.get(e.actor_id) if e.actor_id else None,
            "changes": describe_changes(e, titles),
        }
        for e in history.events
    ]


#: Evidence a browser may show in the page: images it renders, and PDF. Anything else (Office
#: files, archives, TIFF, types not vetted here) is only ever served as a download.
PREVIEW_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"})
INLINE_TYPES = PREVIEW_IMAGES | {"application/pdf"}
#: An image loads nothing and runs nothing; the sandbox also disarms it were it ever
#: taken for a document.
IMAGE_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"
)
#: Browsers show a PDF through a generated page that embeds it (object-src) with inline
#: styles, and some (Safari, older Chrome) refuse to in a sandbox, so there is none here;
#: scripts, requests and forms stay blocked.
PDF_CSP = (
    "default-src 'none'; object-src 'self'; img-src 'self' data: blob:; "
    "style-src 'unsafe-inline'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
DOWNLOAD_CSP = "default-src 'none'; sandbox"


def evidence_kind(ev: Evidence) -> str:
    """image or pdf (shown in the page) or file (downloaded)."""
    if ev.content_type in PREVIEW_IMAGES:
        return "image"
    return "pdf" if ev.content_type == "application/pdf" else "file"


def _assignment_page(
    found: Assignment,
    *,
    report_values: dict[str, Any] | None = None,
    report_error: tuple[str | None, str] | None = None,
) -> str:
    """The assignment page; after a refused report, with what was typed and why it failed."""
    from taskhub.plans.services import section_trail

    today = office_today()
    history = services.assignment_history(found, limit=services.HISTORY_SHOWN)
    milestone_ids = [m.id for m in found.milestones]
    extensions = (
        db.session.scalars(
            select(ExtensionRequest)
            .where(ExtensionRequest.milestone_id.in_(milestone_ids))
            .options(joinedload(ExtensionRequest.milestone))
            .order_by(ExtensionRequest.id.desc())
        ).all()
        if milestone_ids
        else []
    )
    people = {e.requested_by_id for e in extensions} | {
        e.decided_by_id for e in extensions if e.decided_by_id
    }
    names = services.user_names(people)
    pending = next((r for r in found.reports if r.status == ReportStatus.SUBMITTED.value), None)
    is_unit_staff = current_user.role == "unit"
    prefilled = False
    if report_values is None:
        report_values = _returned_report_values(found)
        prefilled = bool(report_values)
    return render_template(
        "tracking/assignment.html",
        assignment=found,
        item=found.item,
        trail=section_trail(found.item),
        points=services.shown_points(found.item),
        roles=[r.value for r in UnitRole],
        light=services.lights([found], today)[found.id],
        steps=services.milestone_timeline(found.milestones, today),
        step_states=STEP_STATES,
        can_edit=found.can_edit(current_user),
        can_review=services.can_review(current_user, found),
        pending=pending,
        history=history,
        history_rows=_history_rows(found, history),
        score_periods=_score_periods(found),
        extensions=extensions,
        # Milestones with a request awaiting the office: 待审批 instead of another form.
        pending_extensions={
            e.milestone_id: e for e in extensions if e.status == ExtensionStatus.PENDING.value
        },
        names=names,
        evidence_kind=evidence_kind,
        format_size=format_size,
        today=today,
        # The report form is open for the unit's staff, and opened and focused from /my.
        report_open=is_unit_staff or bool(request.args.get("report")) or report_error is not None,
        report_focus=bool(request.args.get("report")),
        report_values=report_values or {},
        report_prefilled=prefilled,
        report_error=report_error,
        max_mb=current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
        evidence_accept=ACCEPT,
    )


def _returned_report_values(assignment: Assignment) -> dict[str, Any]:
    """After a return, the report form starts from the returned report: the unit corrects it
    instead of typing it all again."""
    if assignment.status != AssignmentStatus.RETURNED.value:
        return {}
    returned = [r for r in assignment.reports if r.status == ReportStatus.RETURNED.value]
    if not returned:
        return {}
    last = max(returned, key=lambda r: (r.submitted_at, r.id))
    return {
        "progress": last.progress,
        "problems": last.problems or "",
        "next_steps": last.next_steps or "",
        "percent": str(last.percent),
        "milestone_id": str(last.milestone_id) if last.milestone_id else "",
    }


@bp.get("/assignments/<id:assignment_id>")
@login_required
def assignment(assignment_id: int) -> Any:
    """An assignment: item, units, timeline, reports with evidence and reviews, extensions,
    and its audit trail."""
    return _assignment_page(get_assignment_or_404(assignment_id, options=ASSIGNMENT_PAGE_LOAD))


@bp.get("/assignments/<id:assignment_id>/history")
@login_required
def assignment_history(assignment_id: int) -> Any:
    """An assignment's whole audit trail, newest first, paged."""
    found = get_assignment_or_404(assignment_id, options=[selectinload(Assignment.milestones)])
    page = page_arg()
    history = services.assignment_history(found, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "tracking/history.html",
        assignment=found,
        item=found.item,
        history=history,
        history_rows=_history_rows(found, history),
        page=page,
        page_size=PAGE_SIZE,
    )


def _score_periods(assignment: Assignment) -> list[str]:
    from taskhub.scoring.services import period_codes

    return period_codes(assignment.item.plan)


def _back(assignment: Assignment) -> Any:
    return redirect(url_for("tracking.assignment", assignment_id=assignment.id))


@bp.post("/assignments/<id:assignment_id>/acknowledge")
@login_required
def acknowledge(assignment_id: int) -> Any:
    """签收 an assignment."""
    found = get_assignment_or_404(assignment_id, need="edit")
    services.acknowledge(found, actor=current_user)
    db.session.commit()
    flash(_("Acknowledged."), "success")
    return _back(found)


@bp.post("/assignments/<id:assignment_id>/reports")
@login_required
def submit_report(assignment_id: int) -> Any:
    """Report progress with evidence files; a refused report comes back with what was typed."""
    found = get_assignment_or_404(assignment_id, need="edit")
    form = request.form
    files = [
        services.UploadedFile(f.filename or "", f.read())
        for f in request.files.getlist("evidence")
        if f and f.filename
    ]
    try:
        percent = int_arg("percent", form, minimum=0, maximum=100)
    except ValueError:
        percent = None  # refused by the service, with its message
    try:
        services.submit_report(
            found,
            actor=current_user,
            progress=form.get("progress", ""),
            percent=-1 if percent is None else percent,
            problems=form.get("problems"),
            next_steps=form.get("next_steps"),
            milestone_id=id_arg("milestone_id", form),
            closing=form.get("closing") == "1",
            files=files,
            storage=storage_for(current_app.config),
            max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
            expected_version=int_arg("version", form, minimum=0),
        )
    except (DomainError, UploadRejected) as exc:
        db.session.rollback()
        problem = _error_message(exc)
        flash(_("The report was not submitted: %(problem)s", problem=problem), "error")
        # Shown again (not redirected) so the text typed is kept and the error sits by its field.
        reloaded = get_assignment_or_404(assignment_id, options=ASSIGNMENT_PAGE_LOAD)
        return _assignment_page(
            reloaded, report_values=form.to_dict(), report_error=(_report_field(exc), problem)
        )
    db.session.commit()
    if form.get("closing") == "1":
        flash(_("Closing report submitted: the office signs the task off."), "success")
    else:
        flash(_("Report submitted for review."), "success")
    return _back(found)


@bp.post("/assignments/<id:assignment_id>/reopen")
@roles_required("admin", "office")
def reopen(assignment_id: int) -> Any:
    """重新打开 a completed task, with the reason (the office)."""
    found = get_assignment_or_404(assignment_id)
    try:
        services.reopen(
            found,
            actor=current_user,
            reason=request.form.get("reason", ""),
            expected_version=int_arg("version", request.form, minimum=0),
        )
    except DomainError as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=_error_message(exc)), "error")
        return _back(found)
    db.session.commit()
    flash(_("The task was reopened."), "success")
    return _back(found)


@bp.get("/evidence/<id:evidence_id>")
@login_required
def evidence(evidence_id: int) -> Any:
    """Serve an evidence file: images and PDFs inline for preview, everything else (and any
    file asked for with ?download=1) as a download."""
    ev = db.session.get(Evidence, evidence_id)
    if ev is None:
        abort(404)
    if ev.report is not None:
        get_assignment_or_404(ev.report.assignment_id)
    else:  # a sub-task report's file: the sub-task's own rule
        from taskhub.supervision.subtask_views import get_subtask_or_404

        get_subtask_or_404(ev.subtask_report_id or 0, by_report=True)
    storage = storage_for(current_app.config)
    if not storage.exists(ev.sha256):
        abort(404)
    inline = ev.content_type in INLINE_TYPES and not request.args.get("download")
    signed = signed_redirect(storage, ev, current_app.config, inline=inline)
    if signed:
        return signed
    response = send_file(
        storage.open(ev.sha256),
        mimetype=ev.content_type,
        as_attachment=not inline,
        download_name=ev.original_name,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        (PDF_CSP if ev.content_type == "application/pdf" else IMAGE_CSP) if inline else DOWNLOAD_CSP
    )
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    # Unit data: never kept by shared caches.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/reports/<id:report_id>/review")
@login_required
def review(report_id: int, from_queue: bool = False) -> Any:
    """Accept or return a report (from the task page, or from the queue: ``from_queue``)."""
    from_queue = from_queue or request.form.get("next") == "queue"
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
            # The queue's forms carry the version shown, so a decision on a changed task
            # is refused instead of taken blind.
            expected_version=int_arg("version", request.form, minimum=0),
        )
    except DomainError as exc:
        db.session.rollback()
        problem = _error_message(exc)
        flash(_("Not saved: %(problem)s", problem=problem), "error")
        if from_queue:
            # The queue again, not the task: the reviewer stays where the form was, with the
            # problem beside the field and what was typed kept.
            return _review_queue_page(
                errors={report_id: problem}, values={report_id: request.form.get("reason", "")}
            )
        return _back(report.assignment)
    db.session.commit()
    flash(_("Review saved."), "success")
    if from_queue:
        return redirect(url_for("tracking.review_queue"))
    return _back(report.assignment)


@bp.post("/review")
@roles_required("admin", "office", "assessor")
def review_from_queue() -> Any:
    """A decision taken on the queue, posted to the queue's own address: a refused one shows
    the queue again at /review, with the problem beside the report's reason field."""
    report_id = id_arg("report_id", request.form)
    if report_id is None:
        abort(400)
    return review(report_id, from_queue=True)


@bp.post("/milestones/<id:milestone_id>/extension")
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
    return _review_queue_page()


def _review_queue_page(
    errors: dict[int, str] | None = None,
    values: dict[int, str] | None = None,
    selected: set[int] | None = None,
) -> str:
    """The review queue, paged; after a refused decision, with the problem beside that
    report (``errors``), the reason typed (``values``) and the boxes ticked (``selected``)."""
    page = page_arg()
    queue = queues.review_queue(current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "tracking/review.html",
        reports=queue.reports,
        steps=queue.steps,
        total=queue.total,
        page=page,
        page_size=PAGE_SIZE,
        errors=errors or {},
        values=values or {},
        selected=selected or set(),
        evidence_kind=evidence_kind,
        format_size=format_size,
        task_shown=TASK_SHOWN,
    )


#: Characters of an item's task text shown before the disclosure (展开全文) in the queue.
TASK_SHOWN = 120


def _report_name(report: ProgressReport) -> str:
    """A report as the office names it: the unit and the item."""
    item = report.assignment.item
    return _(
        "the report of %(unit)s on %(item)s",
        unit=report.assignment.unit.name,
        item=f"{item.plan.title} {_('item %(n)s', n=item.label)}",
    )


def _refusal(exc: queues.SelectionRefused) -> str:
    """Why a bulk acceptance accepted nothing, naming the report at fault."""
    name = _report_name(exc.report) if exc.report else _("a selected report")
    if exc.report is None or getattr(exc.cause, "code", None) == "already_reviewed":
        return _(
            "%(report)s was already handled by someone else; nothing was accepted. "
            "Reload the page and try again.",
            report=name,
        )
    if isinstance(exc.cause, services.StaleObject):
        return _(
            "%(report)s was changed since the page was shown; nothing was accepted. "
            "Reload the page and try again.",
            report=name,
        )
    return _(
        "%(report)s could not be accepted (%(problem)s); nothing was accepted.",
        report=name,
        problem=_error_message(exc.cause),
    )


@bp.post("/review/accept")
@roles_required("admin", "office", "assessor")
def accept_selected() -> Any:
    """批量通过: accept every ticked report in one transaction, or none of them."""
    ids = id_list_arg("report_ids", request.form)
    if not ids:
        flash(_("Not saved: %(problem)s", problem=_("Select at least one report.")), "error")
        return redirect(url_for("tracking.review_queue"))
    if len(ids) > PAGE_SIZE:
        abort(400)  # the page lists at most PAGE_SIZE: only a crafted request sends more
    selection = {rid: int_arg(f"version-{rid}", request.form, minimum=0) for rid in ids}
    try:
        accepted = queues.accept_reports(selection, actor=current_user)
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except queues.SelectionRefused as exc:
        db.session.rollback()
        problem = _refusal(exc)
        flash(problem, "error")
        return _review_queue_page(errors={exc.report_id: problem}, selected=set(ids))
    db.session.commit()
    flash(
        ngettext("%(num)d report accepted.", "%(num)d reports accepted.", len(accepted)),
        "success",
    )
    return redirect(url_for("tracking.review_queue"))


@bp.get("/extensions")
@roles_required("admin", "office")
def extensions() -> Any:
    """Pending extension requests for the office to decide."""
    return _extensions_page()


def _extensions_page(errors: dict[int, str] | None = None) -> str:
    """The pending requests; after a refused decision, the problem beside its reason field."""
    pending = queues.extension_queue()
    return render_template(
        "tracking/extensions.html",
        pending=pending,
        names=services.user_names({e.requested_by_id for e in pending}),
        errors=errors or {},
    )


@bp.post("/extensions/<id:extension_id>/decide")
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
        problem = _error_message(exc)
        flash(_("Not saved: %(problem)s", problem=problem), "error")
        return _extensions_page(errors={extension_id: problem})
    db.session.commit()
    flash(_("Decision saved."), "success")
    return redirect(url_for("tracking.extensions"))


@bp.post("/extensions")
@roles_required("admin", "office")
def decide_from_queue() -> Any:
    """A decision posted to the queue's own address (a refused one stays at /extensions)."""
    extension_id = id_arg("extension_id", request.form)
    if extension_id is None:
        abort(400)
    return decide_extension(extension_id)


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
        number = digits(days)
        if number is None or not 0 < number <= 366:
            flash(
                _(
                    "Not saved: %(problem)s",
                    problem=_("Working days must be a whole number from 1 to 366."),
                ),
                "error",
            )
            return None
        today = office_today()
        calendar = WorkingCalendar.load(today, today + timedelta(days=number * 2 + 60))
        due_on = calendar.add_working_days(today, number)
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


@bp.post("/items/<id:item_id>/milestones")
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
    ids = id_list_arg("item_ids", request.form)
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


@bp.post("/item-milestones/<id:step_id>/move")
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


@bp.post("/item-milestones/<id:step_id>/delete")
@roles_required("admin", "office")
def remove_milestone(step_id: int) -> Any:
    """Remove a schedule step (completed copies stay on record)."""
    step = _item_milestone_or_404(step_id)
    item_id = step.item_id
    remove_item_milestone(step, actor_id=current_user.id)
    db.session.commit()
    flash(_("Milestone removed."), "success")
    return redirect(url_for("plans.item", item_id=item_id))
