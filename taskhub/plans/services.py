"""Reading plans: summaries with counts, the full tree, JSON-ready output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.jsondump import dumps as dumps  # the CLI's JSON, re-exported
from taskhub.plans.models import Item, ItemUnit, Plan, PlanStatus, Section
from taskhub.scoring.models import Scheme
from taskhub.tracking.models import Assignment


@dataclass
class PlanSummary:
    plan: Plan
    items: int
    assignments: int
    units: int


def in_everyday_lists() -> ColumnElement[bool]:
    """Archived plans leave the everyday lists (plans, dashboard, filters); their URLs stay."""
    return Plan.status != PlanStatus.ARCHIVED.value


def list_plans(*, include_archived: bool = False) -> list[PlanSummary]:
    """Every plan (archived ones only when asked) with its item, assignment and unit counts
    (three grouped queries)."""
    query = select(Plan).options(selectinload(Plan.city)).order_by(Plan.year, Plan.code)
    if not include_archived:
        query = query.where(in_everyday_lists())
    plans = db.session.scalars(query).all()
    items = {
        pid: n
        for pid, n in db.session.execute(select(Item.plan_id, func.count()).group_by(Item.plan_id))
    }
    per_plan = (
        select(
            Item.plan_id,
            func.count(Assignment.id),
            func.count(func.distinct(Assignment.unit_id)),
        )
        .join(Assignment, Assignment.item_id == Item.id)
        .group_by(Item.plan_id)
    )
    counts = {pid: (n, u) for pid, n, u in db.session.execute(per_plan)}
    return [PlanSummary(p, items.get(p.id, 0), *counts.get(p.id, (0, 0))) for p in plans]


def get_plan(code: str) -> Plan | None:
    """A plan with its whole tree loaded in a fixed number of queries."""
    return db.session.scalar(
        select(Plan)
        .where(Plan.code == code)
        .options(
            selectinload(Plan.city),
            selectinload(Plan.assessees),
            selectinload(Plan.sections).selectinload(Section.children),
            selectinload(Plan.sections).selectinload(Section.items),
            selectinload(Plan.items)
            .selectinload(Item.units)
            .options(selectinload(ItemUnit.unit), selectinload(ItemUnit.group)),
        )
    )


def scheme_of(plan: Plan) -> dict[str, Any] | None:
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    return scheme.definition if scheme else None


def section_trail(item: Item) -> list[Section]:
    """The sections above an item, outermost first."""
    trail = []
    section = item.section
    while section is not None:
        trail.append(section)
        section = section.parent
    return list(reversed(trail))


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data, each item with its schedule and unparsed phrase."""
    from taskhub.plans.schemas import PlanSchema

    data: dict[str, Any] = PlanSchema().dump(plan)
    schedules = item_schedules(plan)
    unparsed = {i.id: i.deadline_phrase for i in plan.items if i.is_deadline_unparsed}

    def visit(node: dict[str, Any]) -> None:
        for item in node.get("items", []):
            item["milestones"] = schedules.get(item["id"], [])
            item["unparsed_deadline"] = unparsed.get(item["id"])
        for child in node.get("sections", []):
            visit(child)

    visit(data)
    return data


def item_schedules(plan: Plan) -> dict[int, list[dict[str, Any]]]:
    """Each item's schedule steps with how many assignments are open, done or overdue."""
    from taskhub.tracking.models import ItemMilestone, Milestone

    counts: dict[int, dict[str, int]] = {}
    for step_id, status, overdue, n in db.session.execute(
        select(Milestone.item_milestone_id, Milestone.status, Milestone.is_overdue, func.count())
        .join(ItemMilestone, ItemMilestone.id == Milestone.item_milestone_id)
        .join(Item, Item.id == ItemMilestone.item_id)
        .where(Item.plan_id == plan.id)
        .group_by(Milestone.item_milestone_id, Milestone.status, Milestone.is_overdue)
    ):
        if step_id is None:
            continue
        bucket = counts.setdefault(step_id, {"open": 0, "done": 0, "overdue": 0})
        bucket[
            "overdue" if overdue and status == "open" else status if status in bucket else "done"
        ] += n
    out: dict[int, list[dict[str, Any]]] = {}
    for step in db.session.scalars(
        select(ItemMilestone)
        .join(Item, Item.id == ItemMilestone.item_id)
        .where(Item.plan_id == plan.id)
        .order_by(ItemMilestone.item_id, ItemMilestone.due_on, ItemMilestone.id)
    ):
        out.setdefault(step.item_id, []).append(
            {
                "id": step.id,
                "kind": step.kind,
                "title": step.title,
                "due_on": step.due_on.isoformat(),
                "source": step.source,
                "status": counts.get(step.id, {"open": 0, "done": 0, "overdue": 0}),
            }
        )
    return out
