"""Pages: the plan list, a plan's tree, an item, an assignment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.permissions import login_required
from taskhub.plans import services
from taskhub.plans.models import UNIT_ROLES, Item, ItemUnit
from taskhub.scoring.services import allocatable_sections
from taskhub.tracking.models import Assignment, ItemMilestone, MilestoneKind

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


@bp.get("/items/<int:item_id>")
@login_required
def item(item_id: int) -> Any:
    """An item: text, units by role, points, and the assignments the user may see."""
    item = get_item_or_404(item_id)
    query = (
        select(Assignment)
        .where(Assignment.item_id == item.id)
        .options(selectinload(Assignment.unit))
        .order_by(Assignment.role, Assignment.unit_id)
    )
    if current_user.role == "unit":
        # Unit staff see only their own unit's assignment of the item.
        query = query.where(Assignment.unit_id == current_user.unit_id)
    assignments = db.session.scalars(query).all()
    schedule = db.session.scalars(
        select(ItemMilestone)
        .where(ItemMilestone.item_id == item.id)
        .order_by(ItemMilestone.due_on, ItemMilestone.id)
    ).all()
    return render_template(
        "plans/item.html",
        item=item,
        trail=services.section_trail(item),
        assignments=assignments,
        schedule=schedule,
        kinds=[k.value for k in MilestoneKind],
        roles=UNIT_ROLES,
    )
