"""Pages: the plan list, a plan's tree, an item, an assignment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.inputs import page_arg
from taskhub.core.permissions import login_required
from taskhub.core.timeutil import office_today
from taskhub.plans import services
from taskhub.plans.models import UNIT_ROLES, Item, ItemUnit
from taskhub.scoring.services import allocatable_sections
from taskhub.tracking import services as tracking
from taskhub.tracking.models import ItemMilestone, MilestoneKind
from taskhub.tracking.views import STEP_STATES

bp = Blueprint("plans", __name__)


@bp.get("/plans")
@login_required
def index() -> Any:
    """All plans with their counts."""
    return render_template("plans/index.html", summaries=services.list_plans())


@bp.get("/plans/<code>")
@login_required
def show(code: str) -> Any:
    """A plan's tree of sections and items with points, lead units and deadlines."""
    plan = services.get_plan(code)
    if plan is None:
        abort(404)
    return render_template(
        "plans/show.html",
        plan=plan,
        scheme=services.scheme_of(plan),
        roles=UNIT_ROLES,
        unparsed=[i for i in plan.items if i.is_deadline_unparsed],
        unassigned=[i for i in plan.items if i.is_unassigned],
        allocatable=allocatable_sections(plan) if plan.kind == "indicators" else [],
        kinds=[k.value for k in MilestoneKind],
    )


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
        status_counts=tracking.item_status_counts(item.id, unit_id=own),
        schedule=schedule,
        steps=tracking.schedule_timeline(schedule, progress, today),
        step_states=STEP_STATES,
        today=today,
        kinds=[k.value for k in MilestoneKind],
        roles=UNIT_ROLES,
    )
