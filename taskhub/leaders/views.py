"""Pages of the leaders (分管领导): a city's list (the office keeps it) and a leader's view."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import id_arg
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.timeutil import office_today
from taskhub.core.web import attempt
from taskhub.leaders import digest, instructions, services
from taskhub.leaders.models import InstructionTarget, Leader
from taskhub.plans.models import Item
from taskhub.units.city_pages import get_city_or_404
from taskhub.units.models import City

bp = Blueprint("leaders", __name__)


@bp.app_template_global()
def city_leaders(city_id: int) -> list[Leader]:
    """The active leaders of a city (the unit form's 分管领导 picker)."""
    return services.leaders_of(city_id, active_only=True)


@bp.app_template_global()
def unit_leader_id(unit_id: int) -> int | None:
    return services.unit_leader_id(unit_id)


@bp.app_template_global()
def item_leader(item_id: int) -> Leader | None:
    """The item's own 分管领导 (the item page), None when it names none."""
    leader_id = services.item_leader_id(item_id)
    return db.session.get(Leader, leader_id) if leader_id is not None else None


def _form_data() -> dict[str, Any]:
    data: dict[str, Any] = {k: request.form.get(k, "") for k in ("name", "title", "portfolio")}
    data["email"] = request.form.get("email", "")
    data["webhook_url"] = request.form.get("webhook_url", "")
    data["user_id"] = id_arg("user_id", request.form)
    data["is_active"] = request.form.get("is_active") == "1"
    return data


def _problem(exc: DomainError) -> str:
    return exc.message


@bp.route("/cities/<code>/leaders", methods=["GET", "POST"])
@roles_required(*STAFF)
def index(code: str) -> Any:
    """A city's leaders and their portfolios; add one (admins and the office)."""
    city = get_city_or_404(code)
    if request.method == "POST":
        data = _form_data()
        data["is_active"] = True
        done = attempt(
            lambda: services.create_leader(city, data, actor=current_user),
            done=lambda leader: _("Leader “%(name)s” added.", name=leader.name),
            describe=_problem,
        )
        if done is not None:
            return redirect(url_for("leaders.index", code=city.code))
    return render_template(
        "leaders/index.html",
        city=city,
        leaders=services.leaders_of(city.id),
        digest_setting=digest.own_setting(city_id=city.id),
        weekdays=digest.WEEKDAYS_CN,
    )


def get_leader_or_404(leader_id: int) -> Leader:
    leader = db.session.get(Leader, leader_id)
    if leader is None:
        abort(404)
    return leader


@bp.route("/leaders/<id:leader_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(leader_id: int) -> Any:
    """Change a leader's name, title, portfolio, e-mail, account, or mark them inactive."""
    leader = get_leader_or_404(leader_id)
    if request.method == "POST":
        data = _form_data()
        done = attempt(
            lambda: services.update_leader(leader, data, actor=current_user),
            done=_("Leader saved."),
            describe=_problem,
        )
        if done is not None:
            return redirect(url_for("leaders.index", code=leader.city.code))
    return render_template(
        "leaders/edit.html",
        leader=leader,
        city=leader.city,
        digest_setting=digest.own_setting(leader_id=leader.id),
        weekdays=digest.WEEKDAYS_CN,
    )


def _save_digest(owner: Leader | City, back: str) -> Any:
    """Save the digest form for a city or a leader (or remove the setting), then go ``back``."""
    data: dict[str, Any] | None = None
    if not request.form.get("remove"):
        data = {
            "weekday": request.form.get("weekday"),
            "send_at": request.form.get("send_at"),
            "channels": request.form.getlist("channels"),
            "is_enabled": request.form.get("is_enabled") == "1",
        }
    attempt(
        lambda: digest.set_setting(owner, data, actor=current_user),
        done=_("Weekly summary setting saved."),
    )
    return redirect(back + "#digest")


@bp.post("/cities/<code>/leader-digest")
@roles_required(*STAFF)
def city_digest(code: str) -> Any:
    """Set the city's weekly summary day, time and channels."""
    city = get_city_or_404(code)
    return _save_digest(city, url_for("leaders.index", code=city.code))


@bp.post("/leaders/<id:leader_id>/digest")
@roles_required(*STAFF)
def leader_digest(leader_id: int) -> Any:
    """Set one leader's own weekly summary day, time and channels."""
    leader = get_leader_or_404(leader_id)
    return _save_digest(leader, url_for("leaders.edit", leader_id=leader.id))


@bp.get("/leaders/<id:leader_id>")
@login_required
def show(leader_id: int) -> Any:
    """A leader's tasks across published plans, red and yellow first; prints as one page."""
    leader = get_leader_or_404(leader_id)
    if not services.can_view(leader, current_user):
        abort(403)
    today = office_today()
    view = services.leader_view(leader, today)
    return render_template(
        "leaders/show.html",
        leader=leader,
        view=view,
        today=today,
        pending=instructions.open_of_leader(leader.id),
        states=instructions.state_names(),
    )


# -- leaders' instructions (领导批示) -------------------------------------------------------------


def _date_field(name: str) -> date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise instructions.InstructionRefused(
            _("Write the date as 2026-12-07."), field=name
        ) from None


@bp.post("/items/<id:item_id>/leader")
@roles_required(*STAFF)
def set_item_leader(item_id: int) -> Any:
    """Name the item's 分管领导 from the city's list, or clear it (无); audited."""
    item = db.session.get(Item, item_id)
    if item is None:
        abort(404)
    raw = request.form.get("leader_id", "").strip()
    leader_id = id_arg("leader_id", request.form) if raw else None
    if raw and leader_id is None:
        flash(
            _("Not saved: %(problem)s", problem=_("Choose a leader of the city from the list.")),
            "error",
        )
    else:
        attempt(
            lambda: services.set_item_leader(item, leader_id, actor=current_user),
            done=_("Responsible leader saved."),
            describe=_problem,
        )
    return redirect(url_for("plans.item", item_id=item.id) + "#leader")


def _back_to(item: Item) -> Any:
    assignment_id = id_arg("assignment_id", request.form)
    if assignment_id is not None:
        return redirect(
            url_for("tracking.assignment", assignment_id=assignment_id) + "#instructions"
        )
    return redirect(url_for("plans.item", item_id=item.id) + "#instructions")


@bp.post("/items/<id:item_id>/instructions")
@login_required
def record_instruction(item_id: int) -> Any:
    """Record a leader's instruction on an item or one of its reports (the office, the leader)."""
    item = db.session.get(Item, item_id)
    if item is None:
        abort(404)
    if not instructions.can_record(item, current_user):
        abort(403)
    attempt(
        lambda: instructions.record(
            item,
            actor=current_user,
            leader_id=id_arg("leader_id", request.form),
            text=request.form.get("text", ""),
            today=office_today(),
            instructed_on=_date_field("instructed_on"),
            answer_due_on=_date_field("answer_due_on"),
            report_id=id_arg("report_id", request.form),
        ),
        done=_("Instruction recorded; the units concerned are told."),
    )
    return _back_to(item)


@bp.post("/instruction-targets/<id:target_id>/answer")
@login_required
def answer_instruction(target_id: int) -> Any:
    """The unit's answer (反馈) to a leader's instruction on its task."""
    target = db.session.get(InstructionTarget, target_id)
    if target is None:
        abort(404)
    if not instructions.can_answer(target, current_user):
        abort(403)
    attempt(
        lambda: instructions.answer(
            target, actor=current_user, text=request.form.get("answer", ""), today=office_today()
        ),
        done=_("Answer sent."),
    )
    return redirect(
        url_for("tracking.assignment", assignment_id=target.assignment_id) + "#instructions"
    )


@bp.app_template_global()
def instruction_panel(item: Item, assignment: Any = None) -> dict[str, Any]:
    """The 领导批示 panel of an item page (all its instructions) or a task page (its own)."""
    user = current_user
    found = (
        instructions.of_assignment(assignment.id)
        if assignment is not None
        else instructions.of_item(item.id)
    )
    can_record = instructions.can_record(item, user)
    return {
        "instructions": found,
        "states": instructions.state_names(),
        "can_record": can_record,
        "leaders": instructions.recordable_leaders(item, user) if can_record else [],
        "answerable": {
            t.id for ins in found for t in ins.targets if instructions.can_answer(t, user)
        },
        "today": office_today(),
    }
