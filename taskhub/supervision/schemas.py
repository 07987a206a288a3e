"""marshmallow schemas of the escalations API: ``…Schema`` for output, ``…Args`` for input.

The Args check types and lengths; the rules (who may, which state, once per level) live in
taskhub.supervision.services so the API and the pages give the same answers.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from taskhub.core.limits import length
from taskhub.core.schemas import sort_args
from taskhub.supervision.models import ESCALATION_STATES, HANDOVER_STATES

ESCALATION_SORTS = ("id", "issued_at", "answer_due_on")


class EscalationLevelSchema(Schema):
    """One rung of a city's ladder (提醒, 催办, 督办, 约谈 …)."""

    id = fields.Integer(required=True)
    city_id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    rank = fields.Integer(required=True)
    overdue_working_days = fields.Integer(
        allow_none=True,
        metadata={"description": "Issued by the job at this many working days overdue; "
                  "null: by the office's decision only."},
    )  # fmt: skip
    answer_working_days = fields.Integer(required=True)
    to_contacts = fields.Boolean(required=True)
    to_unit_leader = fields.Boolean(required=True)
    to_responsible_leader = fields.Boolean(required=True)
    is_enabled = fields.Boolean(required=True)


class EscalationSchema(Schema):
    """A numbered notice (督办单) and the unit's answer."""

    id = fields.Integer(required=True)
    number = fields.String(required=True, metadata={"description": "督办〔2026〕7号"})
    assignment_id = fields.Integer(required=True)
    unit_id = fields.Integer(required=True, metadata={"description": "The unit it was sent to."})
    level = fields.Function(lambda e: e.level.code, required=True)
    level_name = fields.Function(lambda e: e.level.name, required=True)
    state = fields.String(required=True, validate=validate.OneOf(ESCALATION_STATES))
    issued_at = fields.DateTime(required=True)
    issued_on = fields.Date(required=True)
    issued_by_id = fields.Integer(
        allow_none=True, metadata={"description": "null: issued by the scheduled job."}
    )
    due_on = fields.Date(allow_none=True, metadata={"description": "The task's due date."})
    overdue_working_days = fields.Integer(required=True)
    required_action = fields.String(required=True)
    answer_due_on = fields.Date(required=True)
    answer = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    answered_by_id = fields.Integer(allow_none=True)
    is_answered_late = fields.Boolean(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    closed_by_id = fields.Integer(allow_none=True)
    close_note = fields.String(allow_none=True)


class EscalationListArgs(sort_args(ESCALATION_SORTS, "-issued_at")):  # type: ignore[misc]
    """Filters of the list."""

    level = fields.String(validate=validate.Length(max=40), metadata={"description": "Level code."})
    state = fields.String(validate=validate.OneOf(ESCALATION_STATES))
    answer_overdue = fields.Boolean(
        metadata={"description": "Only notices still unanswered after their answer date."}
    )
    unit_id = fields.Integer(validate=validate.Range(min=1, max=2147483647))
    assignment_id = fields.Integer(validate=validate.Range(min=1, max=2147483647))
    plan_id = fields.Integer(validate=validate.Range(min=1, max=2147483647))


class EscalationIssueArgs(Schema):
    """Issue a notice on an assignment (the office)."""

    assignment_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2147483647))
    level = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Level code."},
    )
    required_action = fields.String(
        validate=length("escalation.required_action"),
        metadata={"description": "What the unit must do; empty: the standard text."},
    )


class EscalationAnswerArgs(Schema):
    answer = fields.String(required=True, validate=length("escalation.answer", required=True))


class EscalationCloseArgs(Schema):
    note = fields.String(validate=length("escalation.note"))
    withdraw = fields.Boolean(
        load_default=False,
        metadata={"description": "Withdraw (issued by mistake; a note is required) "
                  "instead of closing."},
    )  # fmt: skip


class EscalationLevelPatchArgs(Schema):
    """Fields of a level to change; those left out stay as they are."""

    name = fields.String(validate=length("escalation.level_name", required=True))
    overdue_working_days = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "null: issued by the office's decision only."},
    )
    answer_working_days = fields.Integer(validate=validate.Range(min=1, max=1000))
    to_contacts = fields.Boolean()
    to_unit_leader = fields.Boolean()
    to_responsible_leader = fields.Boolean()
    is_enabled = fields.Boolean()


# -- hand over and send back (转办 / 退回) --------------------------------------------------------


class HandoverRequestSchema(Schema):
    """A unit's request to send a task back (退回) and the office's decision (转办 or not)."""

    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    from_unit_id = fields.Integer(required=True, metadata={"description": "The asking unit."})
    requested_by_id = fields.Integer(required=True)
    requested_at = fields.DateTime(required=True)
    reason = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(HANDOVER_STATES))
    to_unit_id = fields.Integer(
        allow_none=True, metadata={"description": "The receiving unit when reassigned."}
    )
    restart_days = fields.Integer(
        allow_none=True,
        metadata={"description": "Open due dates moved by this many days (clock restarted)."},
    )
    decided_by_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)


class HandoverListArgs(Schema):
    state = fields.String(validate=validate.OneOf(HANDOVER_STATES))


class HandoverAskArgs(Schema):
    reason = fields.String(required=True, validate=length("handover.reason", required=True))


class HandoverDecideArgs(Schema):
    """``reassign``: hand the task to ``to_unit_id`` (转办); ``reject``: keep it where it is
    (``note`` required)."""

    decision = fields.String(required=True, validate=validate.OneOf(("reassign", "reject")))
    to_unit_id = fields.Integer(validate=validate.Range(min=1, max=2147483647))
    restart_clock = fields.Boolean(
        load_default=False,
        metadata={"description": "Move the open due dates by the days since assignment."},
    )
    note = fields.String(validate=length("handover.note"))
