"""Pages of the leaders (分管领导): a city's list (the office keeps it) and a leader's view."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import id_arg
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.timeutil import office_today
from taskhub.core.web import attempt
from taskhub.leaders import services
from taskhub.leaders.models import Leader
from taskhub.units.city_pages import get_city_or_404

bp = Blueprint("leaders", __name__)


@bp.app_template_global()
def city_leaders(city_id: int) -> list[Leader]:
    """The active leaders of a city (the unit form's 分管领导 picker)."""
    return services.leaders_of(city_id, active_only=True)


@bp.app_template_global()
def unit_leader_id(unit_id: int) -> int | None:
    return services.unit_leader_id(unit_id)


def _form_data() -> dict[str, Any]:
    data: dict[str, Any] = {k: request.form.get(k, "") for k in ("name", "title", "portfolio")}
    data["email"] = request.form.get("email", "")
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
    return render_template("leaders/index.html", city=city, leaders=services.leaders_of(city.id))


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
    return render_template("leaders/edit.html", leader=leader, city=leader.city)


@bp.get("/leaders/<id:leader_id>")
@login_required
def show(leader_id: int) -> Any:
    """A leader's tasks across published plans, red and yellow first; prints as one page."""
    leader = get_leader_or_404(leader_id)
    if not services.can_view(leader, current_user):
        abort(403)
    today = office_today()
    view = services.leader_view(leader, today)
    return render_template("leaders/show.html", leader=leader, view=view, today=today)
