"""marshmallow schemas of the decompose (分解) and co-handle (协办) API: ``…Schema`` for
output, ``…Args`` for input. The rules live in taskhub.supervision.subtasks and .cohandle."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from taskhub.core.api import DecimalString
from taskhub.core.limits import length
from taskhub.supervision.models import SUBTASK_REPORT_STATUSES, SUBTASK_STATUSES

_ID = validate.Range(min=1, max=2147483647)


class SubtaskMilestoneSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    due_on = fields.Date(required=True)
    completed_on = fields.Date(allow_none=True)
    is_late = fields.Boolean(required=True)


class SubtaskSchema(Schema):
    """A sub-task (分解任务) of an assignment."""

    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True, metadata={"description": "The parent task."})
    unit_id = fields.Integer(required=True, metadata={"description": "承办单位: reports it."})
    unit = fields.Function(lambda s: s.unit.name, required=True)
    department = fields.String(allow_none=True, metadata={"description": "承办处室."})
    text = fields.String(required=True)
    target = fields.String(allow_none=True)
    weight = DecimalString(required=True, metadata={"description": "Weight in the roll-up."})
    status = fields.String(required=True, validate=validate.OneOf(SUBTASK_STATUSES))
    percent = fields.Integer(
        required=True, metadata={"description": "The last accepted report's percent."}
    )
    acknowledged_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    close_reason = fields.String(allow_none=True)
    milestones = fields.List(fields.Nested(SubtaskMilestoneSchema), required=True)


class PartSchema(Schema):
    """One sub-task's part of the parent's roll-up."""

    subtask = fields.Nested(SubtaskSchema, required=True)
    share = DecimalString(required=True, metadata={"description": "weight ÷ Σ counted weights"})
    percent = fields.Integer(required=True, metadata={"description": "100 when completed."})
    contribution = DecimalString(
        required=True, metadata={"description": "share × percent, in points of the parent."}
    )
    counted = fields.Boolean(required=True, metadata={"description": "false: closed."})


class RollupSchema(Schema):
    """The parent's progress from its sub-tasks."""

    percent = DecimalString(
        allow_none=True, metadata={"description": "Σ contributions, exact; null: none counted."}
    )
    shown = fields.Integer(allow_none=True, metadata={"description": "Half up, whole number."})
    open = fields.Integer(required=True, metadata={"description": "Sub-tasks still open."})
    parts = fields.List(fields.Nested(PartSchema), required=True)


class MilestoneArgs(Schema):
    title = fields.String(load_default="", validate=length("subtask.milestone"))
    due_on = fields.Date(required=True)


class SubtaskCreateArgs(Schema):
    """Another unit (``unit_id``), or a department of the task's own unit (``department``)."""

    text = fields.String(required=True, validate=length("subtask.text", required=True))
    unit_id = fields.Integer(validate=_ID, load_default=None)
    department = fields.String(validate=length("subtask.department"), load_default=None)
    target = fields.String(validate=length("subtask.target"), load_default=None)
    weight = DecimalString(load_default=None, metadata={"description": "Default 1."})
    milestones = fields.List(
        fields.Nested(MilestoneArgs), required=True, validate=validate.Length(min=1, max=12)
    )


class SubtaskReportSchema(Schema):
    id = fields.Integer(required=True)
    subtask_id = fields.Integer(required=True)
    milestone_id = fields.Integer(allow_none=True)
    author_id = fields.Integer(required=True)
    progress = fields.String(required=True)
    problems = fields.String(allow_none=True)
    next_steps = fields.String(allow_none=True)
    percent = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SUBTASK_REPORT_STATUSES))
    submitted_at = fields.DateTime(required=True)
    lead_reviewer_id = fields.Integer(allow_none=True)
    lead_reviewed_at = fields.DateTime(allow_none=True)
    office_reviewer_id = fields.Integer(allow_none=True)
    office_reviewed_at = fields.DateTime(allow_none=True)
    return_reason = fields.String(allow_none=True)


class SubtaskReportArgs(Schema):
    progress = fields.String(required=True, validate=length("report.progress", required=True))
    problems = fields.String(validate=length("report.problems"), load_default=None)
    next_steps = fields.String(validate=length("report.next_steps"), load_default=None)
    percent = fields.Integer(required=True, validate=validate.Range(min=0, max=100))
    milestone_id = fields.Integer(validate=_ID, load_default=None)


class SubtaskReviewArgs(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("accept", "return")))
    reason = fields.String(validate=length("review.reason"), load_default=None)


class SubtaskCloseArgs(Schema):
    reason = fields.String(required=True, validate=length("subtask.close_reason", required=True))


class SubtaskListArgs(Schema):
    status = fields.String(validate=validate.OneOf(SUBTASK_STATUSES))


class CoReportSchema(Schema):
    """协办意见: a co-handling unit's part of one round."""

    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    unit_id = fields.Integer(required=True)
    unit = fields.Function(lambda c: c.unit.name, required=True)
    round_due_on = fields.Date(required=True)
    text = fields.String(required=True)
    author_id = fields.Integer(required=True)
    submitted_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class UnitRefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class CoRoundSchema(Schema):
    """The current round of the lead unit's task: parts given, units whose part is missing."""

    due_on = fields.Date(allow_none=True, metadata={"description": "null: no round open."})
    given = fields.List(fields.Nested(CoReportSchema), required=True)
    missing = fields.List(fields.Nested(UnitRefSchema), required=True)


class CoReportArgs(Schema):
    text = fields.String(required=True, validate=length("co_report.text", required=True))


class SubtaskSettingArgs(Schema):
    second_review = fields.Boolean(
        required=True, metadata={"description": "The office reviews after the lead unit."}
    )
