"""The page where the office keeps a city's escalation levels (督办等级): every level in one form,
saved in one transaction, each changed level audited by the service the API uses."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.permissions import STAFF, roles_required
from taskhub.core.web import attempt
from taskhub.supervision import services
from taskhub.supervision.models import EscalationLevel
from taskhub.supervision.views import bp
from taskhub.units.city_pages import get_city_or_404

FLAGS = ("to_contacts", "to_unit_leader", "to_responsible_leader", "is_enabled")


def _days(raw: str, *, optional: bool) -> tuple[int | None, str | None]:
    """A whole number of working days from 1 (blank allowed when ``optional``), or an error."""
    text = raw.strip()
    if not text:
        return (None, None) if optional else (None, _("Enter the number of working days."))
    if not text.isdigit() or int(text) < 1:
        return None, _("Enter a whole number of working days from 1.")
    return int(text), None


def read_form(levels: list[EscalationLevel]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each level's wanted values from the form, and the errors by field id."""
    wanted: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for level in levels:
        code = level.code
        values: dict[str, Any] = {"name": request.form.get(f"name-{code}", "").strip()}
        if not values["name"]:
            errors[f"name-{code}"] = _("Enter the level's name.")
        trigger = request.form.get(f"trigger-{code}", "")
        values["overdue_working_days"], problem = _days(trigger, optional=True)
        if problem:
            errors[f"trigger-{code}"] = problem
        answer = request.form.get(f"answer-{code}", "")
        values["answer_working_days"], problem = _days(answer, optional=False)
        if problem:
            errors[f"answer-{code}"] = problem
        for flag in FLAGS:
            values[flag] = request.form.get(f"{flag}-{code}") == "1"
        wanted[code] = values
    return wanted, errors


def save_levels(city_id: int, wanted: dict[str, dict[str, Any]]) -> int:
    """Apply the changed values (one service call per changed level); the count changed."""
    changed = 0
    for level in services.ensure_levels(city_id):
        values = wanted.get(level.code)
        if values is None:
            continue
        changes = {k: v for k, v in values.items() if getattr(level, k) != v}
        if changes:
            services.update_level(level, actor=current_user, **changes)
            changed += 1
    return changed


def _problem(exc: DomainError) -> str:
    if getattr(exc, "code", None) == "level_name":
        return _("Enter the level's name.")
    if getattr(exc, "code", None) == "level_days":
        return _("Enter a whole number of working days from 1.")
    return exc.message


@bp.route("/cities/<code>/escalation-levels", methods=["GET", "POST"])
@roles_required(*STAFF)
def levels(code: str) -> Any:
    """A city's escalation ladder: name, trigger, answer days, recipients, enabled; edit all."""
    city = get_city_or_404(code)
    rows = services.levels_or_defaults(city.id)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        wanted, errors = read_form(rows)
        if not errors:
            done = attempt(
                lambda: save_levels(city.id, wanted),
                done=lambda n: _("Escalation levels saved (%(n)d changed).", n=n),
                describe=_problem,
            )
            if done is not None:
                return redirect(url_for("supervision.levels", code=city.code))
            rows = services.levels_or_defaults(city.id)
        else:
            db.session.rollback()
            status = 422
    return (
        render_template(
            "supervision/levels.html", city=city, levels=rows, errors=errors, form=request.form
        ),
        status,
    )
