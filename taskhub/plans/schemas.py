"""Output schemas for plans, sections and items (CLI JSON now, the API later)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from taskhub.plans.models import UNIT_ROLES, Item


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
