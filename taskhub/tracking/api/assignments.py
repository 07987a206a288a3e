"""Assignments (list, one, acknowledge) and their milestones."""

from __future__ import annotations

from typing import Any, cast

from flask.views import MethodView
from sqlalchemy import Select, func, select

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, get_or_404, paged
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.plans.models import Item, Plan
from taskhub.tracking import services
from taskhub.tracking.api import blp
from taskhub.tracking.api.common import fail, load_assignment
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus
from taskhub.tracking.schemas import (
    ASSIGNMENT_SORTS,
    AssignmentArgs,
    AssignmentSchema,
    MilestoneArgs,
    MilestoneSchema,
    VersionArgs,
)
from taskhub.units.models import Unit

_SORT_COLUMNS = {
    "id": Assignment.id,
    "due_on": Assignment.next_due_on,
    "updated_at": Assignment.updated_at,
    "status": Assignment.status,
    "percent": Assignment.percent,
}
assert set(_SORT_COLUMNS) == set(ASSIGNMENT_SORTS)


def _rows() -> Select[Any]:
    """Assignment columns with their item, plan and unit, as one joined select."""
    query = (
        select(
            Assignment.id,
            Assignment.item_id,
            Item.code.label("item_code"),
            Item.text.label("item_text"),
            Plan.code.label("plan_code"),
            Assignment.unit_id,
            Unit.name.label("unit_name"),
            Assignment.role,
            Assignment.status,
            Assignment.percent,
            Assignment.is_overdue,
            Assignment.is_not_applicable,
            Assignment.next_due_on,
            Assignment.acknowledged_at,
            Assignment.completed_at,
            Assignment.updated_at,
            Assignment.version,
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
    )
    return cast(Select[Any], query)


def _filtered(args: dict[str, Any]) -> Select[Any]:
    query = _rows()
    user = api_user()
    # A unit's token sees only its unit, whatever it asks for.
    if user.role == "unit":
        query = query.where(Assignment.unit_id == user.unit_id)
    if "plan" in args:
        query = query.where(Plan.code == args["plan"])
    if "unit" in args:
        query = query.where(Assignment.unit_id == args["unit"])
    if "item" in args:
        query = query.where(Assignment.item_id == args["item"])
    if "status" in args:
        query = query.where(Assignment.status.in_(args["status"]))
    if "role" in args:
        query = query.where(Assignment.role == args["role"])
    if "overdue" in args:
        query = query.where(Assignment.is_overdue.is_(args["overdue"]))
    if args.get("open"):
        query = query.where(Assignment.status != "completed")
    if "due_from" in args:
        query = query.where(Assignment.next_due_on >= args["due_from"])
    if "due_to" in args:
        query = query.where(Assignment.next_due_on <= args["due_to"])
    return query


def _next_milestones(assignment_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each assignment's next open milestone (earliest effective due date), in one query."""
    if not assignment_ids:
        return {}
    effective = func.coalesce(Milestone.extended_to, Milestone.due_on)
    rows = db.session.execute(
        select(
            Milestone.assignment_id,
            Milestone.id,
            Milestone.kind,
            Milestone.title,
            Milestone.due_on,
            Milestone.extended_to,
        )
        # Only the open milestones on the stored next due date (kept by the milestone upkeep):
        # about one row per assignment instead of every open monthly checkpoint.
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .where(
            Milestone.assignment_id.in_(assignment_ids),
            Milestone.status == MilestoneStatus.OPEN.value,
            effective == Assignment.next_due_on,
        )
        .order_by(Milestone.assignment_id, Milestone.due_on, Milestone.id)
    )
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        due = row.extended_to or row.due_on
        best = found.get(row.assignment_id)
        if best is None or due < best["effective_due_on"]:
            found[row.assignment_id] = {
                "id": row.id,
                "kind": row.kind,
                "title": row.title,
                "due_on": row.due_on,
                "extended_to": row.extended_to,
                "effective_due_on": due,
            }
    return found


def _as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    nexts = _next_milestones([r.id for r in rows])
    return [
        {
            **row._asdict(),
            "item": {"id": row.item_id, "code": row.item_code, "text": row.item_text},
            "plan": row.plan_code,
            "unit": {"id": row.unit_id, "name": row.unit_name},
            "next_milestone": nexts.get(row.id),
        }
        for row in rows
    ]


@blp.route("/assignments/")
class Assignments(MethodView):
    @blp.arguments(AssignmentArgs, location="query")
    @blp.response(200, AssignmentSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List assignments (a unit's token: only its unit's), with unit and next milestone."""
        query = apply_sort(_filtered(args), args["sort"], _SORT_COLUMNS, Assignment.id)
        return _as_dicts(paged(query, pagination_parameters, scalars=False))


def _one(assignment_id: int) -> dict[str, Any]:
    row = db.session.execute(_rows().where(Assignment.id == assignment_id)).one()
    return _as_dicts([row])[0]


@blp.route("/assignments/<int:assignment_id>")
class AssignmentById(MethodView):
    @blp.etag
    @blp.response(200, AssignmentSchema)
    def get(self, assignment_id: int) -> dict[str, Any]:
        """One assignment; its ETag (or ``version``) guards later changes."""
        load_assignment(assignment_id)
        return _one(assignment_id)


@blp.route("/assignments/<int:assignment_id>/acknowledge")
class Acknowledge(MethodView):
    @blp.arguments(VersionArgs, required=False)
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def post(self, args: dict[str, Any], assignment_id: int) -> dict[str, Any]:
        """Acknowledge (签收) a new assignment: its unit or the office."""
        assignment = load_assignment(assignment_id, need="edit")
        try:
            services.check_version(assignment, args.get("version"))
            services.acknowledge(assignment, actor=api_user())
        except DomainError as error:
            fail(error)
        db.session.commit()
        return _one(assignment_id)


# -- milestones ------------------------------------------------------------------------------

_EFFECTIVE_DUE = func.coalesce(Milestone.extended_to, Milestone.due_on)
_MILESTONE_SORT_COLUMNS = {
    "due_on": Milestone.due_on,
    "effective_due_on": _EFFECTIVE_DUE,
    "id": Milestone.id,
}
_MILESTONE_COLUMNS = (
    Milestone.id,
    Milestone.assignment_id,
    Milestone.kind,
    Milestone.title,
    Milestone.due_on,
    Milestone.extended_to,
    Milestone.status,
    Milestone.completed_on,
    Milestone.is_late,
    Milestone.is_overdue,
)


def _milestone(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "effective_due_on": values["extended_to"] or values["due_on"]}


@blp.route("/assignments/<int:assignment_id>/milestones")
class AssignmentMilestones(MethodView):
    @blp.arguments(MilestoneArgs, location="query")
    @blp.response(200, MilestoneSchema(many=True))
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit's assignment.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such assignment.")
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], pagination_parameters: Any, assignment_id: int
    ) -> list[dict[str, Any]]:
        """An assignment's milestones (by due date), with their status, lateness and extension."""
        load_assignment(assignment_id)
        query = cast(
            Select[Any],
            select(*_MILESTONE_COLUMNS).where(Milestone.assignment_id == assignment_id),
        )
        if "status" in args:
            query = query.where(Milestone.status.in_(args["status"]))
        query = apply_sort(query, args["sort"], _MILESTONE_SORT_COLUMNS, Milestone.id)
        rows = paged(query, pagination_parameters, scalars=False)
        return [_milestone(row._asdict()) for row in rows]


@blp.route("/milestones/<int:milestone_id>")
class MilestoneById(MethodView):
    @blp.etag
    @blp.response(200, MilestoneSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit's milestone.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such milestone.")
    def get(self, milestone_id: int) -> dict[str, Any]:
        """One milestone."""
        milestone: Milestone = get_or_404(Milestone, milestone_id)
        load_assignment(milestone.assignment_id)
        return _milestone({c.key: getattr(milestone, c.key) for c in _MILESTONE_COLUMNS})
