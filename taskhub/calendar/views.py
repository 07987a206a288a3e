"""The working-day calendar page: official holidays plus the admin's overrides."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from taskhub.calendar import services
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import InvalidNumber, int_arg
from taskhub.core.permissions import roles_required
from taskhub.core.timeutil import office_today

bp = Blueprint("calendar", __name__)


@bp.get("/calendar")
@roles_required("admin", "office", "viewer", "assessor")
def index() -> Any:
    """Overrides of a year, and whether the package covers it."""
    try:
        year = int_arg("year", minimum=2000, maximum=2100) or office_today().year
    except InvalidNumber:
        abort(404)  # a year the calendar does not cover has no page
    return render_template(
        "calendar/index.html",
        year=year,
        overrides=services.list_overrides(year),
        covered=year in services.covered_years(),
        can_edit=current_user.role == "admin",
    )


@bp.post("/calendar/overrides")
@roles_required("admin")
def set_override() -> Any:
    """Mark a day as a working day or a holiday (a new year's 调休 before the package has it)."""
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash(_("Not saved: %(problem)s", problem=_("Give the date as YYYY-MM-DD.")), "error")
        return redirect(url_for("calendar.index"))
    try:
        services.set_override(
            day,
            request.form.get("is_working_day") == "1",
            request.form.get("note", ""),
            actor_id=current_user.id,
        )
    except DomainError:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=_("Give a note, e.g. 2027年春节调休.")), "error")
        return redirect(url_for("calendar.index", year=day.year))
    db.session.commit()
    flash(_("Calendar saved."), "success")
    return redirect(url_for("calendar.index", year=day.year))


@bp.post("/calendar/overrides/<day>/delete")
@roles_required("admin")
def remove_override(day: str) -> Any:
    """Remove an override: the official calendar applies again."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    try:
        services.remove_override(parsed, actor_id=current_user.id)
    except DomainError:
        abort(404)
    db.session.commit()
    flash(_("Calendar saved."), "success")
    return redirect(url_for("calendar.index", year=parsed.year))
