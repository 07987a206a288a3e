"""What the tracking API's modules share: loading with permission checks, error answers, and
the assignment columns that lists of reports and extensions show."""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy import Select

from taskhub.core import api as core
from taskhub.core.api import abort_for, api_user, get_or_404
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.plans.models import Item, Plan
from taskhub.tracking import services
from taskhub.tracking.models import Assignment
from taskhub.units.models import Unit


def load_assignment(
    assignment_id: int, *, need: str = "view", for_report: bool = False
) -> Assignment:
    """The assignment, if this token's user may ``need`` ("view" or "edit") it; else 404/403.

    ``for_report``: read as the report about to be submitted needs it (its row lock, item,
    plan and unit: :func:`services.assignment_for_report`), in one SELECT."""
    assignment: Assignment | None
    if for_report:
        assignment = services.assignment_for_report(assignment_id)
        if assignment is None:
            core.abort(404, f"Assignment {assignment_id} does not exist.")
    else:
        assignment = get_or_404(Assignment, assignment_id)
    user = api_user()
    allowed = assignment.can_edit(user) if need == "edit" else assignment.can_view(user)
    if not allowed:
        core.abort(403, "You may not access this assignment.")
    return assignment


def fail(error: DomainError) -> NoReturn:
    """Undo the request's changes and answer with the error the service raised."""
    db.session.rollback()
    abort_for(error)  # answers by field when the service names the fields at fault


#: An assignment as lists of reports and extensions show it (labels avoid name clashes).
REF_COLUMNS = (
    Assignment.id.label("a_id"),
    Assignment.item_id.label("a_item_id"),
    Item.code.label("a_item_code"),
    Item.text.label("a_item_text"),
    Plan.code.label("a_plan"),
    Assignment.unit_id.label("a_unit_id"),
    Unit.name.label("a_unit_name"),
    Assignment.status.label("a_status"),
    Assignment.version.label("a_version"),
)


def join_ref(query: Select[Any], on: Any) -> Select[Any]:
    """Join the assignment (on ``on``) and its item, plan and unit for REF_COLUMNS."""
    return (
        query.join(Assignment, on)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
    )


def scoped(query: Select[Any], args: dict[str, Any]) -> Select[Any]:
    """The filters every tracking list shares; a unit's token sees only its unit's rows."""
    user = api_user()
    if user.role == "unit":
        query = query.where(Assignment.unit_id == user.unit_id)
    if "plan" in args:
        query = query.where(Plan.code == args["plan"])
    if "unit" in args:
        query = query.where(Assignment.unit_id == args["unit"])
    if "item" in args:
        query = query.where(Assignment.item_id == args["item"])
    if "assignment" in args:
        query = query.where(Assignment.id == args["assignment"])
    return query


def assignment_ref(row: Any) -> dict[str, Any]:
    return {
        "id": row.a_id,
        "item": {"id": row.a_item_id, "code": row.a_item_code, "text": row.a_item_text},
        "plan": row.a_plan,
        "unit": {"id": row.a_unit_id, "name": row.a_unit_name},
        "status": row.a_status,
        "version": row.a_version,
    }
