"""marshmallow schemas of the tracking API: ``…Schema`` for output, ``…Args`` for input."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from taskhub.core.api import sort_args
from taskhub.tracking.models import AssignmentRole, AssignmentStatus

ASSIGNMENT_SORTS = ("id", "due_on", "updated_at", "status", "percent")


class RefSchema(Schema):
    """A referenced object: its id and what people call it."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)


class ItemRefSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    text = fields.String(required=True)


class NextMilestoneSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(allow_none=True)
    due_on = fields.Date(required=True)
    extended_to = fields.Date(allow_none=True)
    #: The date that counts: the extension if any, else the original due date.
    effective_due_on = fields.Date(required=True)


class AssignmentSchema(Schema):
    id = fields.Integer(required=True)
    item = fields.Nested(ItemRefSchema, required=True)
    plan = fields.String(required=True, metadata={"description": "The plan's code."})
    unit = fields.Nested(RefSchema, required=True)
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in AssignmentRole]))
    status = fields.String(
        required=True, validate=validate.OneOf([s.value for s in AssignmentStatus])
    )
    percent = fields.Integer(required=True)
    is_overdue = fields.Boolean(required=True)
    is_not_applicable = fields.Boolean(required=True)
    next_due_on = fields.Date(allow_none=True)
    next_milestone = fields.Nested(NextMilestoneSchema, allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(
        required=True, metadata={"description": "Grows with every change (optimistic locking)."}
    )


class AssignmentArgs(sort_args(ASSIGNMENT_SORTS, "id")):  # type: ignore[misc]
    """Filters of the assignment list."""

    plan = fields.String(validate=validate.Length(min=1, max=100))
    unit = fields.Integer(validate=validate.Range(min=1))
    item = fields.Integer(validate=validate.Range(min=1))
    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in AssignmentStatus])),
        metadata={"description": "Repeat to allow several statuses."},
    )
    role = fields.String(validate=validate.OneOf([r.value for r in AssignmentRole]))
    overdue = fields.Boolean()
    open = fields.Boolean(metadata={"description": "Only assignments not yet completed."})
    due_from = fields.Date(metadata={"description": "Next due date on or after."})
    due_to = fields.Date(metadata={"description": "Next due date on or before."})


class VersionArgs(Schema):
    """The version the client last saw: a change based on an older one is refused (409)."""

    version = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )
