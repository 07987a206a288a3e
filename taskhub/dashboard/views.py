"""Dashboard pages (thin views; the figures come from ``services``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import format_datetime
from flask_login import current_user
from sqlalchemy import select

from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.errors import DomainError, PermissionDenied
from taskhub.core.inputs import page_arg
from taskhub.core.permissions import READ_ALL, login_required, roles_required
from taskhub.core.replica import reads_replica
from taskhub.core.timeutil import office_today
from taskhub.dashboard import landing, services
from taskhub.dashboard.charts import chart_data
from taskhub.plans.models import Plan
from taskhub.scoring.views import period_codes
from taskhub.tracking.lights import DUE_SOON_WORKING_DAYS

bp = Blueprint("dashboard", __name__)


def _scope() -> int | None:
    """The unit the user is limited to (unit staff), None for all units, or 403."""
    try:
        return services.unit_scope(current_user)
    except PermissionDenied:
        abort(403)


@bp.get("/dashboard")
@login_required
@reads_replica
def index() -> Any:
    """The dashboard of the plan chosen in the selector (the newest active plan by default)."""
    unit_id = _scope()
    code = request.args.get("plan")
    if not code:
        plans = services.plans_for(unit_id)
        return _render(landing.newest_active(plans), plans, unit_id)
    every = services.plans_for(unit_id, include_archived=True)
    return _render(_chosen(code, every), services.everyday(every), unit_id)


@bp.get("/plans/<code>/dashboard")
@login_required
@reads_replica
def plan(code: str) -> Any:
    """One plan's dashboard: completion by area, overdue and at risk, ranking, due soon."""
    unit_id = _scope()
    every = services.plans_for(unit_id, include_archived=True)  # one read for both
    return _render(_chosen(code, every), services.everyday(every), unit_id)


def _chosen(code: str, plans: list[Plan]) -> Plan:
    """The plan with this code among those the user may open: 404 unknown, 403 not theirs."""
    found = next((p for p in plans if p.code == code), None)
    if found is not None:
        return found
    if db.session.scalar(select(Plan.id).where(Plan.code == code)) is None:
        abort(404)
    abort(403)  # a unit user and a plan their unit has no work in


def _render(plan: Plan | None, plans: list[Plan], unit_id: int | None) -> Any:
    if plan is None:
        return render_template("dashboard/index.html", plan=None, plans=plans)
    today = office_today()
    periods = period_codes(plan)
    period = request.args.get("period") or services.current_period(periods, today)
    if request.args.get("period") and period not in periods:
        abort(400)
    fingerprint = services.audit_fingerprint()  # one read for every cached figure
    ranking, ranking_problem = None, None
    if period:
        try:
            ranking = services.ranking(plan, period, fingerprint=fingerprint)
        except DomainError as exc:
            db.session.rollback()
            ranking_problem = exc.message
    areas = services.area_completion(plan, unit_id=unit_id, today=today, fingerprint=fingerprint)
    risk = services.risk_by_unit(plan, today, unit_id=unit_id, fingerprint=fingerprint)
    # Open milestones' dates move only with changes that are not settled-neutral (a report
    # submitted is: the first view after one keeps this figure).
    due = services.due_soon(
        plan,
        today,
        unit_id=unit_id,
        page=page_arg("due_page"),
        fingerprint=cache.settled_fingerprint(fingerprint),
    )
    ranked = ranking.top(unit_id=unit_id) if ranking and ranking.has_scores else []
    page = render_template(
        "dashboard/index.html",
        plan=plan,
        plans=plans,
        unit_id=unit_id,
        today=today,
        areas=areas,
        risk=risk,
        due=due,
        ranking=ranking,
        ranked=ranked,
        ranking_problem=ranking_problem,
        period=period,
        periods=periods,
        computed_time=format_datetime(ranking.computed_at, "HH:mm") if ranking else None,
        buckets=services.BUCKETS,
        due_soon_days=DUE_SOON_WORKING_DAYS,
        charts=chart_data(areas, risk, ranked, due),
    )
    # A first computation records the period row, as the rankings page does. Committed after
    # rendering, so the page's objects are not expired and read again.
    db.session.commit()
    return page


# -- landing pages: the setup checklist, 待评分, the overview -------------------------------------


@bp.get("/setup")
@roles_required("admin")
def setup() -> Any:
    """The admin's checklist for an empty installation: each step, done or not."""
    steps = landing.setup_steps()
    return render_template("dashboard/setup.html", steps=steps, complete=all(s.done for s in steps))


@bp.get("/to-score")
@roles_required("assessor")
def to_score() -> Any:
    """待评分: the items the assessor's unit leads the assessment of, still unscored for the
    current period, each unit linked to its task page where the score is entered."""
    plans = landing.to_score(current_user, office_today())
    return render_template("dashboard/to_score.html", plans=plans)


@bp.get("/overview")
@roles_required(*READ_ALL)
def overview() -> Any:
    """Every active plan at a glance (the leader's landing page)."""
    rows = landing.overview(office_today())
    page = render_template("dashboard/overview.html", rows=rows)
    db.session.commit()  # rankings record their period on first use
    return page
