"""Pages: the plan list, a plan's tree, an item, an assignment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.inputs import InvalidNumber, int_arg, page_arg
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.timeutil import office_today
from taskhub.plans import lifecycle, services
from taskhub.plans.models import UNIT_ROLES, Item, ItemUnit, Plan, PlanStatus
from taskhub.scoring.services import allocatable_sections
from taskhub.tracking import services as tracking
from taskhub.tracking.models import ItemMilestone, MilestoneKind
from taskhub.tracking.views import STEP_STATES

bp = Blueprint("plans", __name__)


@bp.get("/plans")
@login_required
def index() -> Any:
    """All plans with their counts (archived plans are left out; drafts are the office's)."""
    summaries = services.list_plans()
    if current_user.role not in STAFF:
        summaries = [s for s in summaries if s.plan.status != PlanStatus.DRAFT.value]
    return render_template("plans/index.html", summaries=summaries)


@bp.get("/plans/<code>")
@login_required
def show(code: str) -> Any:
    """A plan's tree of sections and items with points, lead units and deadlines."""
    plan = services.get_plan(code)
    if plan is None:
        abort(404)
    return _show(plan)


def _show(plan: Plan, *, problems: list[str] | None = None, status: int = 200) -> Any:
    return render_template(
        "plans/show.html",
        plan=plan,
        problems=problems or [],
        revisions=lifecycle.revisions(plan)[:5],
        to_review=lifecycle.to_review(plan),
        can_manage=current_user.role in STAFF,
        scheme=services.scheme_of(plan),
        roles=UNIT_ROLES,
        unparsed=[i for i in plan.items if i.is_deadline_unparsed],
        unassigned=[i for i in plan.items if i.is_unassigned],
        allocatable=allocatable_sections(plan) if plan.kind == "indicators" else [],
        kinds=[k.value for k in MilestoneKind],
    ), status


def _plan_or_404(code: str) -> Plan:
    plan = services.get_plan(code)
    if plan is None:
        abort(404)
    return plan


@bp.post("/plans/<code>/publish")
@roles_required(*STAFF)
def publish(code: str) -> Any:
    """Check the draft with the seed loader's rules and publish it; problems are listed."""
    plan = _plan_or_404(code)
    try:
        lifecycle.publish(plan, actor=current_user)
    except lifecycle.PlanInvalid as exc:
        db.session.rollback()
        flash(_("The plan was not published: correct the problems listed below."), "error")
        return _show(_plan_or_404(code), problems=exc.problems, status=422)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("plans.show", code=code))
    db.session.commit()
    flash(_("The plan is published: its units have their tasks."), "success")
    return redirect(url_for("plans.show", code=code))


#: The status changes of the plan page: service, message when done.
_MOVES = {
    "close": (lifecycle.close, "The plan is closed."),
    "archive": (lifecycle.archive, "The plan is archived."),
    "reopen": (lifecycle.reopen, "The plan is in use again."),
}


def _move(code: str, action: str) -> Any:
    plan = _plan_or_404(code)
    change, done = _MOVES[action]
    try:
        change(plan, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("plans.show", code=code))
    db.session.commit()
    flash(_(done), "success")
    return redirect(url_for("plans.show", code=code))


@bp.post("/plans/<code>/close-plan")  # /plans/<code>/close closes a scoring period
@roles_required(*STAFF)
def close(code: str) -> Any:
    """Close a published plan: read-only, still in rankings and history."""
    return _move(code, "close")


@bp.post("/plans/<code>/archive")
@roles_required(*STAFF)
def archive(code: str) -> Any:
    """Archive a plan: it leaves the everyday lists and stays reachable by URL."""
    return _move(code, "archive")


@bp.post("/plans/<code>/reopen")
@roles_required(*STAFF)
def reopen(code: str) -> Any:
    """Use a closed or archived plan again."""
    return _move(code, "reopen")


@bp.route("/plans/<code>/copy", methods=["GET", "POST"])
@roles_required(*STAFF)
def copy(code: str) -> Any:
    """Copy the plan to a new year (年度复制): a draft with the same structure and units."""
    plan = _plan_or_404(code)
    title = lifecycle.shift_years(plan.title, 1) or plan.title
    values = {"year": str(plan.year + 1), "code": "", "title": title}
    error: tuple[str, str] | None = None
    if request.method == "POST":
        values = {k: (request.form.get(k) or "").strip() for k in values}
        try:
            year = int_arg("year", request.form, minimum=2000, maximum=2100)
            if year is None:
                raise ValidationFailed(_("Enter the year of the new plan."), ["year"])
            made = lifecycle.copy_to_year(
                plan, year=year, code=values["code"], title=values["title"], actor=current_user
            )
        except (ValidationFailed, InvalidNumber) as exc:
            db.session.rollback()
            error = (exc.problems[0] if exc.problems else "", exc.message)
        else:
            db.session.commit()
            flash(
                _("A draft for %(year)s was made; check it and publish it.", year=year), "success"
            )
            return redirect(url_for("plans.show", code=made.code))
    return (
        render_template("plans/copy.html", plan=plan, values=values, error=error),
        422 if error else 200,
    )


@bp.get("/plans/<code>/revisions")
@login_required
def revisions(code: str) -> Any:
    """The plan's revision record (修订记录): number, time, who, reason, what changed."""
    plan = _plan_or_404(code)
    return render_template("plans/revisions.html", plan=plan, revisions=lifecycle.revisions(plan))


def get_item_or_404(item_id: int) -> Item:
    item = db.session.get(
        Item,
        item_id,
        options=[
            selectinload(Item.units).options(
                selectinload(ItemUnit.unit), selectinload(ItemUnit.group)
            )
        ],
    )
    if item is None:
        abort(404)
    return item


#: Assignments listed per page on an item page (Shengzhou-size items have dozens of units).
ITEM_PAGE_SIZE = 50


@bp.get("/items/<id:item_id>")
@login_required
def item(item_id: int) -> Any:
    """An item: text, units by role, points, its schedule on a timeline, and the assignments
    the user may see with their lights (all units for the office, paged)."""
    item = get_item_or_404(item_id)
    # Unit staff see only their own unit's assignment of the item (-1: no unit, none at all).
    own = (current_user.unit_id or -1) if current_user.role == "unit" else None
    today = office_today()
    page = page_arg()
    assignments, total = tracking.item_assignments(
        item.id, unit_id=own, limit=ITEM_PAGE_SIZE, offset=(page - 1) * ITEM_PAGE_SIZE
    )
    schedule = db.session.scalars(
        select(ItemMilestone)
        .where(ItemMilestone.item_id == item.id)
        .order_by(ItemMilestone.due_on, ItemMilestone.id)
    ).all()
    progress = tracking.step_progress(item.id, today, unit_id=own)
    return render_template(
        "plans/item.html",
        item=item,
        trail=services.section_trail(item),
        points=tracking.shown_points(item),
        assignments=assignments,
        total=total,
        page=page,
        page_size=ITEM_PAGE_SIZE,
        lights=tracking.lights(assignments, today),
        status_counts=tracking.item_status_counts(item.id, unit_id=own, today=today),
        schedule=schedule,
        steps=tracking.schedule_timeline(schedule, progress, today),
        step_states=STEP_STATES,
        today=today,
        kinds=[k.value for k in MilestoneKind],
        roles=UNIT_ROLES,
    )
