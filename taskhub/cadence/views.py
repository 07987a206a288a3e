"""Pages: a plan's reporting cadence (报送周期) and 报送率 per unit."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from taskhub.cadence import services
from taskhub.cadence.models import CADENCE_KINDS, CadenceKind
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.timeutil import office_today
from taskhub.plans import services as plans
from taskhub.plans.models import Plan, Section

bp = Blueprint("cadence", __name__)


def _plan_or_404(code: str) -> Plan:
    plan = plans.get_plan(code)
    if plan is None:
        abort(404)
    return plan


def _page(plan: Plan, *, error: str | None = None, status: int = 200) -> Any:
    today = office_today()
    return render_template(
        "cadence/reporting.html",
        plan=plan,
        cadence=services.as_dict(services.plan_cadence(plan)),
        overrides=[
            (db.session.get(Section, c.section_id), c) for c in services.section_cadences(plan)
        ],
        rates=services.unit_rates([plan.id], today),
        today=today,
        kinds=CADENCE_KINDS,
        can_manage=current_user.role in STAFF,
        error=error,
    ), status


@bp.get("/plans/<code>/reporting")
@login_required
def reporting(code: str) -> Any:
    """The plan's reporting cadence and 报送率 per unit (closed windows reported on time)."""
    return _page(_plan_or_404(code))


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


@bp.post("/plans/<code>/reporting")
@roles_required(*STAFF)
def set_cadence(code: str) -> Any:
    """Set the plan's cadence, or a section's override (kind "inherit" removes it)."""
    plan = _plan_or_404(code)
    form = request.form
    kind = form.get("kind", "")
    section = None
    if form.get("section"):
        section = db.session.scalar(
            select(Section).where(Section.plan_id == plan.id, Section.path == form["section"])
        )
        if section is None:
            abort(404)
    try:
        starts_on = date.fromisoformat(form["starts_on"]) if form.get("starts_on") else None
    except ValueError:
        return _page(plan, error=_("Enter the start date as YYYY-MM-DD."), status=422)
    day_field = "weekday" if kind == CadenceKind.WEEKLY.value else "day"
    try:
        if section is not None and kind == "inherit":
            services.clear_section_cadence(plan, section, actor_id=current_user.id)
        else:
            services.set_cadence(
                plan,
                actor_id=current_user.id,
                section=section,
                kind=kind,
                day=_int(form.get(day_field)),
                starts_on=starts_on,
                is_shifted_to_working_day=bool(form.get("shift")),
                remind_days_before=_int(form.get("remind_days_before")) or 0,
            )
    except ValidationFailed as error:
        db.session.rollback()
        if "starts_on" in str(error):
            return _page(
                plan, error=_("The first period must start from 2015 to 2100."), status=422
            )
        return _page(plan, error=_("Choose a day of the month (1-31) or a weekday."), status=422)
    db.session.commit()
    flash(_("The reporting cadence is saved."), "success")
    return redirect(url_for("cadence.reporting", code=plan.code))


@bp.app_template_global("late_reports_for")
def late_reports_for(assignments: list[Any]) -> dict[int, services.Window]:
    """未按时报送 among a page's assignments (one query for the whole list)."""
    if not assignments:
        return {}
    return services.missing_for([a.id for a in assignments], office_today())
