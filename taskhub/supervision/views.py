"""Pages of escalation notices: the office's list, issuing on a task, the unit's answer, closing,
withdrawing, and the notice document. The panels on the task, unit and dashboard pages come
from template globals (``escalation_panel`` …), so those pages need only an include line."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import id_arg, page_arg
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.timeutil import office_today
from taskhub.core.web import attempt, problem_text
from taskhub.supervision import handover, services
from taskhub.supervision.models import ESCALATION_STATES, Escalation, HandoverRequest
from taskhub.tracking.models import Assignment

bp = Blueprint("supervision", __name__)

PAGE_SIZE = 50

STATE_LABELS = {
    "issued": _l("Awaiting answer"),
    "answered": _l("Answered"),
    "closed": _l("Signed off"),
    "withdrawn": _l("Withdrawn"),
}

#: The services' refusals in the user's language.
ERRORS = {
    "level_city": _l("This level belongs to another city."),
    "level_unknown": _l("Choose a level from the list."),
    "level_disabled": _l("This level is disabled."),
    "plan_closed": _l("The plan is not under way."),
    "completed": _l("The task is completed."),
    "already_issued": _l("This level was already issued on this task."),
    "busy": _l("No free notice number was found; try again."),
    "not_open": _l("This notice is not awaiting an answer."),
    "answer_required": _l("Write the answer."),
    "note_required": _l("Say why the notice is withdrawn."),
    "ended": _l("This notice is already closed or withdrawn."),
}
FIELDS = {"required_action": _l("Required action"), "answer": _l("Answer"), "note": _l("Note")}


def _problem(exc: DomainError) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in ERRORS:
        return str(ERRORS[code])
    return problem_text(exc, FIELDS)


def get_escalation_or_404(escalation_id: int) -> Escalation:
    """Load a notice the user may read, or abort (404 unknown, 403 another unit's)."""
    found = db.session.get(Escalation, escalation_id)
    if found is None:
        abort(404)
    if not services.can_view(found, current_user):
        abort(403)
    return found


def _back(escalation: Escalation) -> Any:
    return redirect(
        url_for("tracking.assignment", assignment_id=escalation.assignment_id) + "#escalations"
    )


def _level_cities() -> list[Any]:
    """The cities whose escalation levels the user may keep (the office: every city)."""
    if current_user.role not in STAFF:
        return []
    from taskhub.units.models import City

    return list(db.session.scalars(select(City).order_by(City.id)))


@bp.get("/escalations")
@login_required
def index() -> Any:
    """Every notice the user may read, filtered by level, state and unanswered past due."""
    today = office_today()
    state = request.args.get("state") or None
    filters = services.Filters(
        level=(request.args.get("level") or None),
        state=state if state in ESCALATION_STATES else None,
        answer_overdue=request.args.get("answer_overdue") == "1",
        unit_id=id_arg("unit"),
    )
    page = page_arg()
    query = services.query_escalations(filters, viewer=current_user, today=today)
    rows = list(db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template(
        "supervision/index.html",
        rows=rows,
        filters=filters,
        level_choices=services.level_choices(),
        level_cities=_level_cities(),
        states=STATE_LABELS,
        page=page,
        page_size=PAGE_SIZE,
        today=today,
    )


@bp.post("/assignments/<id:assignment_id>/escalations")
@roles_required(*STAFF)
def issue(assignment_id: int) -> Any:
    """The office issues a notice of the chosen level on the task."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    code = request.form.get("level", "")
    attempt(
        lambda: services.issue(
            assignment,
            services.level_by_code(services.city_of(assignment), code),
            actor=current_user,
            today=office_today(),
            required_action=request.form.get("required_action"),
        ),
        done=lambda e: _("Notice %(number)s issued.", number=e.number),
        describe=_problem,
    )
    return redirect(url_for("tracking.assignment", assignment_id=assignment_id) + "#escalations")


@bp.post("/escalations/<id:escalation_id>/answer")
@login_required
def answer(escalation_id: int) -> Any:
    """The unit answers the notice (反馈)."""
    escalation = get_escalation_or_404(escalation_id)
    if not services.can_answer(escalation, current_user):
        abort(403)
    attempt(
        lambda: services.answer(
            escalation,
            actor=current_user,
            text=request.form.get("answer", ""),
            today=office_today(),
        ),
        done=_("Answer sent."),
        describe=_problem,
    )
    return _back(escalation)


@bp.post("/escalations/<id:escalation_id>/close")
@roles_required(*STAFF)
def close(escalation_id: int) -> Any:
    """The office closes the notice (销号)."""
    escalation = get_escalation_or_404(escalation_id)
    attempt(
        lambda: services.close(escalation, actor=current_user, note=request.form.get("note")),
        done=_("Notice closed."),
        describe=_problem,
    )
    return _back(escalation)


@bp.post("/escalations/<id:escalation_id>/withdraw")
@roles_required(*STAFF)
def withdraw(escalation_id: int) -> Any:
    """The office withdraws a notice issued by mistake."""
    escalation = get_escalation_or_404(escalation_id)
    attempt(
        lambda: services.withdraw(escalation, actor=current_user, note=request.form.get("note")),
        done=_("Notice withdrawn."),
        describe=_problem,
    )
    return _back(escalation)


@bp.get("/escalations/<id:escalation_id>/notice.docx")
@login_required
def notice(escalation_id: int) -> Any:
    """The formal notice (督办通知单) as a Word document."""
    response = services.notice_file(get_escalation_or_404(escalation_id))
    if response is None:
        abort(404)
    return response


# -- panels on other pages -------------------------------------------------------------------------


@bp.app_template_global()
def escalation_panel(assignment: Assignment) -> dict[str, Any]:
    """The task page's 督办 panel: its notices, and the levels the office may issue."""
    user = current_user
    notices = services.of_assignment(assignment.id)
    can_issue = user.role in STAFF
    levels = []
    if can_issue:
        issued = {e.level.code for e in notices if e.state != "withdrawn"}
        levels = [
            lv
            for lv in services.levels_or_defaults(services.city_of(assignment))
            if lv.is_enabled and lv.code not in issued
        ]
    return {
        "notices": notices,
        "levels": levels,
        "can_issue": can_issue,
        "can_answer": {e.id: services.can_answer(e, user) for e in notices},
        # The office's note: the level asks for the unit's leader, the unit marked none.
        "no_unit_leader": {
            e.id
            for e in notices
            if can_issue and e.state != "withdrawn" and services.unit_leader_missing(e)
        },
        "states": STATE_LABELS,
        "today": office_today(),
    }


@bp.app_template_global()
def unit_escalations(unit_id: int) -> list[Escalation]:
    """The unit page's list: its notices, newest first (the first 20)."""
    query = services.query_escalations(
        services.Filters(unit_id=unit_id), viewer=current_user, today=office_today()
    )
    return list(db.session.scalars(query.limit(20)))


@bp.app_template_global()
def escalation_counts(plan_id: int, unit_id: int | None = None) -> list[services.LevelCount]:
    """The dashboard's counts per level for a plan (a unit's own when ``unit_id``)."""
    return services.counts_by_level(plan_id=plan_id, unit_id=unit_id)


@bp.app_template_global()
def escalation_today() -> Any:
    return office_today()


@bp.app_template_global()
def escalation_state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


# -- hand over and send back (转办 / 退回) --------------------------------------------------------

HANDOVER_STATE_LABELS = {
    "pending": _l("Awaiting the office's decision"),
    "reassigned": _l("Handed over"),
    "rejected": _l("Not agreed"),
}
HANDOVER_ERRORS = {
    "completed": _l("The task is completed."),
    "pending": _l("A request to send this task back is already pending."),
    "reason_required": _l("Say why the task is not your unit's."),
    "decided": _l("This request is already decided."),
    "note_required": _l("Say why the request is not agreed."),
    "unit_unknown": _l("Choose the receiving unit."),
    "unit_other_city": _l("Choose another unit of the task's city."),
    "unit_has_task": _l("That unit already has this task."),
}
HANDOVER_FIELDS = {"reason": _l("Reason"), "note": _l("Note")}


def _handover_problem(exc: DomainError) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in HANDOVER_ERRORS:
        return str(HANDOVER_ERRORS[code])
    return problem_text(exc, HANDOVER_FIELDS)


@bp.get("/handovers")
@login_required
def handovers() -> Any:
    """Requests to send tasks back (退回): the office's queue, a unit's own."""
    chosen = request.args.get("state", "pending")
    state = chosen if chosen in HANDOVER_STATE_LABELS else None
    page = page_arg()
    query = handover.query_requests(viewer=current_user, state=state)
    rows = list(db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template(
        "supervision/handovers.html",
        rows=rows,
        state=state,
        states=HANDOVER_STATE_LABELS,
        page=page,
        page_size=PAGE_SIZE,
    )


@bp.post("/assignments/<id:assignment_id>/handover-requests")
@login_required
def ask_handover(assignment_id: int) -> Any:
    """The unit asks to send its task back (退回), with a reason."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    if not handover.can_ask(assignment, current_user):
        abort(403)
    attempt(
        lambda: handover.ask(assignment, actor=current_user, reason=request.form.get("reason", "")),
        done=_("Your request to send the task back was sent to the office."),
        describe=_handover_problem,
    )
    return redirect(url_for("tracking.assignment", assignment_id=assignment_id) + "#handover")


@bp.post("/handovers/<id:request_id>/decide")
@roles_required(*STAFF)
def decide_handover(request_id: int) -> Any:
    """The office hands the task to another unit (转办) or does not agree."""
    found = db.session.get(HandoverRequest, request_id)
    if found is None:
        abort(404)
    reassign = request.form.get("decision") == "reassign"
    attempt(
        lambda: handover.decide(
            found,
            actor=current_user,
            reassign=reassign,
            to_unit_id=id_arg("to_unit", source=request.form),
            note=request.form.get("note"),
            restart_clock=request.form.get("restart_clock") == "1",
            today=office_today(),
        ),
        done=_("Task handed over.") if reassign else _("Request not agreed."),
        describe=_handover_problem,
    )
    return redirect(url_for("tracking.assignment", assignment_id=found.assignment_id) + "#handover")


@bp.app_template_global()
def handover_panel(assignment: Assignment) -> dict[str, Any]:
    """The task page's 退回 / 转办 panel: its requests, the unit's ask, the office's decision."""
    user = current_user
    requests = handover.of_assignment(assignment.id)
    pending = next((r for r in requests if r.state == "pending"), None)
    can_decide = user.role in STAFF
    return {
        "requests": requests,
        "pending": pending,
        "can_ask": handover.can_ask(assignment, user)
        and pending is None
        and assignment.status != "completed",
        "can_decide": can_decide and pending is not None,
        "units": handover.unit_choices(assignment) if can_decide and pending else [],
        "states": HANDOVER_STATE_LABELS,
    }
