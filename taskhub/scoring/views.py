"""Pages: rankings of a period, one unit's explanation, and entering scores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from taskhub.core.db import db
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.inputs import decimal_arg, id_arg
from taskhub.core.numbers import format_points
from taskhub.core.permissions import login_required, roles_required
from taskhub.core.web import attempt, problem_text
from taskhub.core.xlsx import xlsx_response
from taskhub.ledger.exports import scores_file_names, scores_xlsx
from taskhub.plans.models import Plan, Section
from taskhub.scoring import services
from taskhub.scoring.labels import component_label, component_names, explanation_lines
from taskhub.scoring.models import Period
from taskhub.scoring.schemes import engine_of, parse_period_code
from taskhub.scoring.services import period_codes  # the dashboard imports it from here too
from taskhub.tracking.models import Assignment

bp = Blueprint("scoring", __name__)


def may_explain(unit_id: int) -> bool:
    """Whether the signed-in user may open this unit's explanation: unit staff only their
    own unit's (pages link only to what the user may follow)."""
    return current_user.role != "unit" or current_user.unit_id == unit_id


def _plan_or_404(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        abort(404)
    return plan


def _period(plan: Plan) -> str:
    codes = period_codes(plan)
    wanted = request.values.get("period")
    if wanted and wanted not in codes:
        abort(400)
    return wanted or (codes[0] if codes else str(plan.year))


def _results(code: str) -> tuple[Plan, str, Any, Any, Any] | Response:
    """The plan, the requested period, its results, snapshot and scheme, or a redirect back
    with the problem."""
    plan = _plan_or_404(code)
    period = _period(plan)
    try:
        rows, snapshot = services.results(plan, period)
        spec = engine_of(plan)
    except DomainError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("plans.show", code=plan.code))
    db.session.commit()  # the period is recorded on first use
    return plan, period, rows, snapshot, spec


@bp.get("/plans/<code>/scores")
@login_required
def rankings(code: str) -> Any:
    """Every unit's total and rank for a period, with the change against the previous one."""
    outcome = _results(code)
    if not isinstance(outcome, tuple):
        return outcome
    plan, period, rows, snapshot, spec = outcome
    components = list(rows[0].components) if rows else []
    areas = list(rows[0].areas) if rows else []
    entered = spec.rule_for(parse_period_code(period)[0]).entered
    names = component_names(plan)
    return render_template(
        "scoring/rankings.html",
        # The scheme's own names (日常监测, 第三方评估…), never its keys.
        headers={c: component_label(c, names) for c in [*components, *entered]},
        plan=plan,
        period=period,
        rows=rows,
        # Every total zero: nothing scored yet, so no one is ranked first.
        has_scores=any(r.total for r in rows),
        may_explain=may_explain,
        snapshot=snapshot,
        periods=period_codes(plan),
        spec=spec,
        components=components,
        entered=entered,
        areas=areas,
        doc_number=db.session.scalar(
            select(Period.doc_number).where(Period.plan_id == plan.id, Period.code == period)
        ),
    )


@bp.get("/plans/<code>/scores.xlsx")
@login_required
def rankings_xlsx(code: str) -> Any:
    """The rankings page as Excel: rank, change, unit, total, components and area scores."""
    outcome = _results(code)
    if not isinstance(outcome, tuple):
        return outcome
    plan, period, rows, snapshot, spec = outcome
    data = scores_xlsx(plan, period, rows, spec, snapshot)
    return xlsx_response(data, *scores_file_names(plan, period))


@bp.get("/plans/<code>/scores/<id:unit_id>")
@login_required
def explanation(code: str, unit_id: int) -> Any:
    """Why a unit's score is what it is: every contribution, adding up to the total."""
    plan = _plan_or_404(code)
    if not may_explain(unit_id):
        abort(403)
    period = _period(plan)
    try:
        data = services.explain(plan, unit_id, period)
    except DomainError:
        abort(404)
    db.session.commit()
    spec = engine_of(plan)
    rule = spec.periods.get(parse_period_code(period)[0])
    lines = explanation_lines(
        data["contributions"],
        component_names(plan),
        rule.composite if rule else {},
        spec.items_component,
    )
    return render_template(
        "scoring/explain.html",
        plan=plan,
        period=period,
        data=data,
        lines=lines,
        periods=period_codes(plan),
    )


def problem(exc: DomainError, plan: Plan | None = None) -> str:
    """A refused score in the user's language; a component by the scheme's name for it."""
    if isinstance(exc, services.OutOfRange):
        low, high = format_points(exc.low), format_points(exc.high)
        if exc.component is None:
            return _("The score must be between 0 and the item's %(points)s points.", points=high)
        names = component_names(plan) if plan is not None else {}
        return _(
            "%(name)s must be between %(low)s and %(high)s.",
            name=component_label(exc.component, names),
            low=low,
            high=high,
        )
    if isinstance(exc, services.AllocationMismatch):
        return _(
            "The points add up to %(total)s; they must add up to the section's %(budget)s "
            "points, none negative.",
            total=format_points(exc.total),
            budget=format_points(exc.budget),
        )
    if isinstance(exc, ValidationFailed) and exc.message == services.NO_REASON:
        return _("Give a reason for the score.")
    return problem_text(exc)


def _decimal(name: str) -> Decimal | None:
    """A number of the form; NaN, Infinity and the like raise InvalidNumber (a DomainError)."""
    return decimal_arg(name, request.form)


def _required(name: str) -> Decimal:
    value = _decimal(name)
    return Decimal(-1) if value is None else value  # refused by the service with a clear message


@bp.post("/assignments/<id:assignment_id>/score")
@roles_required("admin", "office", "assessor")
def score_assignment(assignment_id: int) -> Any:
    """An assessor scores an item they lead the assessment of (overrides completion)."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    period = _period(assignment.item.plan)
    try:
        services.score_item(
            assignment,
            period,
            actor=current_user,
            reason=request.form.get("reason", ""),
            value=_decimal("value"),
            numerator=_decimal("numerator"),
            denominator=_decimal("denominator"),
        )
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=problem(exc, assignment.item.plan)), "error")
    else:
        db.session.commit()
        flash(_("Score saved."), "success")
    return redirect(url_for("tracking.assignment", assignment_id=assignment.id))


@bp.post("/plans/<code>/components")
@roles_required("admin", "office")
def score_component(code: str) -> Any:
    """The office enters a unit-level component (field check, survey...)."""
    plan = _plan_or_404(code)
    period = _period(plan)
    attempt(
        lambda: services.score_component(
            plan,
            id_arg("unit_id", request.form) or 0,
            period,
            request.form.get("component", ""),
            _required("value"),
            actor=current_user,
            reason=request.form.get("reason", ""),
        ),
        done=_("Score saved."),
        describe=lambda exc: problem(exc, plan),
    )
    return redirect(url_for("scoring.rankings", code=code, period=period))


@bp.post("/plans/<code>/close")
@roles_required("admin", "office")
def close(code: str) -> Any:
    """Close the period: freeze a snapshot (a later close is an audited revision)."""
    plan = _plan_or_404(code)
    period = _period(plan)
    attempt(
        lambda: services.close_period(
            plan,
            period,
            actor=current_user,
            reason=request.form.get("reason"),
            doc_number=request.form.get("doc_number"),
        ),
        done=lambda snapshot: _("Period closed: revision %(n)d.", n=snapshot.revision),
    )
    return redirect(url_for("scoring.rankings", code=code, period=period))


@bp.post("/plans/<code>/doc-number")
@roles_required("admin", "office")
def doc_number(code: str) -> Any:
    """The office sets or corrects the bulletin's document number (文号) of a period."""
    plan = _plan_or_404(code)
    period = _period(plan)
    attempt(
        lambda: services.set_doc_number(
            plan, period, request.form.get("doc_number"), actor=current_user
        ),
        done=_("Document number saved."),
    )
    return redirect(url_for("scoring.rankings", code=code, period=period))


@bp.post("/sections/<id:section_id>/allocation")
@roles_required("admin", "office", "assessor")
def allocate(section_id: int) -> Any:
    """The lead assessment unit shares a section's budget among its items."""
    section = db.session.get(Section, section_id)
    if section is None:
        abort(404)
    try:
        items = services.free_items(section)[0]
        points = {item.id: _required(f"points_{item.id}") for item in items}
        services.allocate_points(section, points, actor=current_user)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=problem(exc)), "error")
    else:
        db.session.commit()
        flash(_("Points allocated."), "success")
    return redirect(url_for("plans.show", code=section.plan.code))
