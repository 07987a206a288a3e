"""Schemas for plans, sections and items.

PlanSchema and the classes it nests write the CLI's JSON document (decimals as numbers); the
classes under "the API" are the JSON API's (decimals as strings, every key always present).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from taskhub.core.limits import length
from taskhub.core.schemas import ID_RANGE, DecimalString, no_nul, sort_args
from taskhub.plans.models import (
    APPLICABILITIES,
    PLAN_KINDS,
    PLAN_STATUSES,
    REVISION_KINDS,
    UNIT_ROLES,
    Item,
)
from taskhub.tracking.models import AssignmentStatus, MilestoneKind, MilestoneSource
from taskhub.units.schemas import CityRefSchema


class ItemSchema(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True)
    code = fields.String()
    title = fields.String(allow_none=True)
    text = fields.String()
    points = fields.Decimal(allow_none=True)
    weight = fields.Decimal(allow_none=True)
    deadline = fields.String(attribute="deadline_phrase", allow_none=True)
    target = fields.String(allow_none=True)
    measure = fields.Dict(allow_none=True)
    applicability = fields.String()
    applies_to = fields.List(fields.String(), allow_none=True)
    units = fields.Method("units_by_role")

    def units_by_role(self, item: Item) -> dict[str, list[dict[str, Any]]]:
        return {
            role: [
                {
                    "name": u.name,
                    "type": "unit" if u.unit_id else "group",
                    "id": u.unit_id or u.group_id,
                }
                for u in item.units_by_role(role)
            ]
            for role in UNIT_ROLES
        }


class SectionSchema(Schema):
    number = fields.String(allow_none=True)
    title = fields.String()
    points = fields.Decimal(allow_none=True)
    depth = fields.Integer()
    path = fields.String()
    applies_to = fields.List(fields.String(), allow_none=True)
    items = fields.List(fields.Nested(ItemSchema))
    sections = fields.List(fields.Nested(lambda: SectionSchema()), attribute="children")


class PlanSummarySchema(Schema):
    code = fields.String()
    title = fields.String()
    city = fields.Function(lambda p: p.city.name)
    document_number = fields.String(allow_none=True)
    issued_on = fields.Date(allow_none=True)
    year = fields.Integer()
    kind = fields.String()
    points = fields.Decimal(allow_none=True)
    status = fields.String()
    revision = fields.Integer()


class PlanSchema(PlanSummarySchema):
    source = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    assessed = fields.Method("assessed_names")
    scheme = fields.Method("scheme_definition")
    sections = fields.List(fields.Nested(SectionSchema), attribute="top_sections")
    #: Items placed directly under the plan (no section).
    items = fields.Method("loose_items")

    def assessed_names(self, plan: Any) -> list[dict[str, Any]]:
        return [
            {"name": (a.unit or a.group).name, "type": "unit" if a.unit_id else "group"}
            for a in plan.assessees
        ]

    def scheme_definition(self, plan: Any) -> dict[str, Any] | None:
        from taskhub.plans import services

        return services.scheme_of(plan)

    def loose_items(self, plan: Any) -> list[dict[str, Any]]:
        return ItemSchema(many=True).dump([i for i in plan.items if i.section_id is None])


# -- the API ------------------------------------------------------------------------------------

PLAN_SORTS = ("code", "year", "issued_on", "title")


class PlanListArgs(sort_args(PLAN_SORTS, "code")):  # type: ignore[misc]
    """Filters of the plan list."""

    city = fields.String(
        validate=[validate.Length(min=1, max=50), no_nul],
        metadata={"description": "A city code."},
    )
    year = fields.Integer(validate=validate.Range(min=1900, max=2999))
    kind = fields.String(validate=validate.OneOf(PLAN_KINDS))
    status = fields.String(validate=validate.OneOf(PLAN_STATUSES))


class PlanCountsSchema(Schema):
    items = fields.Integer(required=True)
    assignments = fields.Integer(required=True)
    units = fields.Integer(required=True, metadata={"description": "Units with an assignment."})


class PlanRowSchema(Schema):
    """A plan as the list shows it."""

    code = fields.String(required=True, metadata={"description": "The plan's key in URLs."})
    title = fields.String(required=True)
    city = fields.Nested(CityRefSchema, required=True)
    document_number = fields.String(
        required=True, allow_none=True, metadata={"description": "文号"}
    )
    issued_on = fields.Date(required=True, allow_none=True)
    year = fields.Integer(
        required=True, metadata={"description": "The year deadline phrases are read in."}
    )
    kind = fields.String(required=True, validate=validate.OneOf(PLAN_KINDS))
    points = DecimalString(required=True, allow_none=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(PLAN_STATUSES),
        metadata={"description": "draft, published, closed or archived."},
    )
    revision = fields.Integer(
        required=True, metadata={"description": "The last revision (修订); 0 as first published."}
    )
    counts = fields.Nested(PlanCountsSchema, required=True)


class PlanDetailCountsSchema(PlanCountsSchema):
    sections = fields.Integer(required=True)
    overdue = fields.Integer(required=True, metadata={"description": "Overdue assignments."})
    unparsed_deadlines = fields.Integer(
        required=True, metadata={"description": "Items whose deadline phrase was not understood."}
    )
    by_status = fields.Dict(
        keys=fields.String(validate=validate.OneOf([s.value for s in AssignmentStatus])),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Assignments by status."},
    )


class TargetSchema(Schema):
    """A unit or a group of units, as a plan or item names it."""

    type = fields.String(required=True, validate=validate.OneOf(["unit", "group"]))
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PlanDetailSchema(PlanRowSchema):
    source = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The transcription's file (for maintainers)."},
    )
    notes = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Transcription notes (for maintainers)."},
    )
    source_label = fields.String(
        required=True,
        metadata={"description": "The source as users read it: 《title》（文号）."},
    )
    assessed = fields.List(
        fields.Nested(TargetSchema),
        required=True,
        metadata={"description": "Units and groups an indicator system assesses."},
    )
    counts = fields.Nested(PlanDetailCountsSchema, required=True)


class PlanCopyArgs(Schema):
    """A copy of the plan for another year (年度复制)."""

    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    code = fields.String(required=True, validate=[validate.Length(min=1, max=64), no_nul])
    title = fields.String(required=True, validate=[length("plan.title", required=True), no_nul])


class UserRefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PlanRevisionSchema(Schema):
    """One entry of the plan's revision record (修订记录)."""

    number = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(REVISION_KINDS))
    reason = fields.String(required=True)
    summary = fields.String(required=True)
    changes = fields.Dict(
        required=True,
        metadata={
            "description": "items_added/removed/changed (codes), assignments_added/removed "
            "([item code, unit name]), units_notified; for a copy: review (shifted phrases)."
        },
    )
    actor = fields.Nested(UserRefSchema, required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


SECTION_SORTS = ("position", "title", "points")


class SectionListArgs(sort_args(SECTION_SORTS, "position")):  # type: ignore[misc]
    """Filters of a plan's sections (``position`` is the tree's depth-first order)."""

    depth = fields.Integer(validate=validate.Range(min=1, max=20))
    parent = fields.Integer(
        validate=ID_RANGE, metadata={"description": "Children of this section."}
    )


class SectionRowSchema(Schema):
    """A level of a plan's hierarchy; ``parent_id`` builds the tree."""

    id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True, allow_none=True)
    position = fields.Integer(required=True, metadata={"description": "Depth-first order."})
    depth = fields.Integer(required=True, metadata={"description": "1 for top-level sections."})
    path = fields.String(required=True, metadata={"description": "Stable key within the plan."})
    number = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)
    points = DecimalString(required=True, allow_none=True)
    applies_to = fields.List(fields.String(), required=True, allow_none=True)
    item_count = fields.Integer(required=True, metadata={"description": "Items directly in it."})


class ItemUnitsSchema(Schema):
    """The units and groups named for an item, by role, in the document's order."""

    lead = fields.List(fields.Nested(TargetSchema), required=True)
    responsible = fields.List(fields.Nested(TargetSchema), required=True)
    lead_assessor = fields.List(fields.Nested(TargetSchema), required=True)


assert set(ItemUnitsSchema().fields) == set(UNIT_ROLES)

ITEM_SORTS = ("id", "position", "code", "points")


class ItemListArgs(sort_args(ITEM_SORTS, "id")):  # type: ignore[misc]
    """Filters of the item list."""

    plan = fields.String(
        validate=[validate.Length(min=1, max=100), no_nul],
        metadata={"description": "A plan code."},
    )
    section = fields.Integer(
        validate=ID_RANGE,
        metadata={"description": "Items in this section or any section below it."},
    )
    lead = fields.Integer(
        validate=ID_RANGE,
        metadata={"description": "Items this unit leads, named itself or through a group."},
    )
    unit = fields.Integer(
        validate=ID_RANGE,
        metadata={"description": "Items naming this unit in any role, itself or via a group."},
    )
    applicability = fields.String(validate=validate.OneOf(APPLICABILITIES))
    unparsed = fields.Boolean(
        metadata={"description": "Only items whose deadline phrase was (not) understood."}
    )
    q = fields.String(
        validate=[length("search.text", required=True), no_nul],
        metadata={"description": "Code, title or text contains."},
    )


class ItemRowSchema(Schema):
    """A numbered task or indicator."""

    id = fields.Integer(required=True)
    plan = fields.String(required=True, metadata={"description": "The plan's code."})
    section_id = fields.Integer(required=True, allow_none=True)
    position = fields.Integer(required=True)
    number = fields.String(required=True, allow_none=True)
    code = fields.String(required=True, metadata={"description": "Unique within the plan."})
    title = fields.String(required=True, allow_none=True)
    text = fields.String(required=True)
    points = DecimalString(required=True, allow_none=True)
    weight = DecimalString(required=True, allow_none=True)
    deadline = fields.String(
        required=True, allow_none=True, metadata={"description": "The deadline phrase verbatim."}
    )
    is_deadline_unparsed = fields.Boolean(required=True)
    target = fields.String(required=True, allow_none=True)
    applicability = fields.String(required=True, validate=validate.OneOf(APPLICABILITIES))
    applies_to = fields.List(fields.String(), required=True, allow_none=True)
    units = fields.Nested(ItemUnitsSchema, required=True)


class SectionRefSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)


class ShownPointsSchema(Schema):
    """The points as the item page shows them."""

    basis = fields.String(
        required=True,
        validate=validate.OneOf(["points", "weight", "share"]),
        metadata={"description": "Its own points, its weight, or its share of a section budget."},
    )
    value = DecimalString(required=True)


class StepProgressSchema(Schema):
    total = fields.Integer(required=True, metadata={"description": "Assignments with the step."})
    done = fields.Integer(required=True)
    late = fields.Integer(required=True, metadata={"description": "Done after the due date."})
    overdue = fields.Integer(required=True)


#: An item step's state on the timeline (see tracking.services.schedule_timeline).
STEP_STATES = ("overdue", "done", "late", "due_soon", "upcoming", "past")


class ScheduleStepSchema(Schema):
    """A step of the item's schedule; every assignment of the item has a milestone from it."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in MilestoneKind]))
    title = fields.String(required=True)
    due_on = fields.Date(required=True)
    source = fields.String(
        required=True, validate=validate.OneOf([s.value for s in MilestoneSource])
    )
    state = fields.String(
        required=True,
        validate=validate.OneOf(STEP_STATES),
        metadata={"description": "As of today; past: its date went by with no copy overdue."},
    )
    progress = fields.Nested(StepProgressSchema, required=True)


class ItemDetailSchema(ItemRowSchema):
    """An item with what its page shows (a unit's token: counts of its own assignment only)."""

    measure = fields.Dict(
        required=True, allow_none=True, metadata={"description": "How an indicator is measured."}
    )
    sections = fields.List(
        fields.Nested(SectionRefSchema),
        required=True,
        metadata={"description": "The sections above the item, outermost first."},
    )
    shown_points = fields.Nested(ShownPointsSchema, required=True, allow_none=True)
    schedule = fields.List(fields.Nested(ScheduleStepSchema), required=True)
    assignment_counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Assignments by status, and how many are overdue."},
    )
