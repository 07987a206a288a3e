"""marshmallow schemas of the bulletin API (output only; the period is in the path)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from taskhub.core.schemas import DecimalString
from taskhub.tracking.schemas import RefSchema


class BulletinColumnSchema(Schema):
    """A score column of the ranking table, in the scheme's order."""

    code = fields.String(
        required=True, metadata={"description": "A component code, or the area's title."}
    )
    name = fields.String(required=True, metadata={"description": "As the bulletin prints it."})
    kind = fields.String(required=True, validate=validate.OneOf(["component", "area"]))


class BulletinRowSchema(Schema):
    """One unit's line: rank, change, scores (rounded for display) and progress counts."""

    rank = fields.Integer(allow_none=True)
    previous_rank = fields.Integer(allow_none=True)
    change = fields.Integer(
        allow_none=True, metadata={"description": "Places gained since the previous period."}
    )
    change_label = fields.String(required=True, metadata={"example": "↑ 上升2位"})
    unit = fields.Nested(RefSchema, required=True)
    total = DecimalString(required=True, metadata={"description": "Rounded for display."})
    components = fields.Dict(keys=fields.String(), values=DecimalString(allow_none=True))
    areas = fields.Dict(
        keys=fields.String(),
        values=DecimalString(allow_none=True),
        metadata={"description": "Per-area scores, by area title."},
    )
    completed = fields.Integer(required=True, metadata={"description": "已完成"})
    on_schedule = fields.Integer(required=True, metadata={"description": "达进度 (open)"})
    behind = fields.Integer(required=True, metadata={"description": "欠进度 (open, not overdue)"})
    overdue = fields.Integer(required=True, metadata={"description": "超期"})
    reporting_rate = DecimalString(
        allow_none=True,
        metadata={"description": "报送率 in percent under the plan's cadence; null: none owed."},
    )
    settled = fields.Integer(
        metadata={"description": "Tasks settled (办结/销号, completed) within the period."}
    )
    early = fields.Integer(
        required=True, metadata={"description": "Completed ahead of a due date (in completed)."}
    )
    standing = fields.String(
        required=True,
        validate=validate.OneOf(["ahead", "on", "behind"]),
        metadata={"description": "超进度 / 达进度 / 欠进度"},
    )


class BulletinMoverSchema(Schema):
    unit = fields.Nested(RefSchema, required=True)
    rank = fields.Integer(allow_none=True)
    previous_rank = fields.Integer(allow_none=True)
    change = fields.Integer(required=True)


class BulletinStandingsSchema(Schema):
    """Unit names by standing, in ranking order."""

    ahead = fields.List(fields.String(), required=True)
    on = fields.List(fields.String(), required=True)
    behind = fields.List(fields.String(), required=True)


class BulletinOverdueItemSchema(Schema):
    number = fields.String(required=True)
    title = fields.String(required=True)
    due_on = fields.Date(allow_none=True)
    days = fields.Integer(metadata={"description": "Days overdue on the day of issue."})


class BulletinOverdueUnitSchema(Schema):
    unit = fields.String(required=True)
    items = fields.List(fields.Nested(BulletinOverdueItemSchema), required=True)


class BulletinEscalationsSchema(Schema):
    unit = fields.String(required=True)
    levels = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": 'Level name → notices, e.g. {"催办": 2}.'},
    )


class BulletinSchema(Schema):
    """The bulletin (通报) of a period as the office publishes it."""

    plan = fields.String(required=True)
    plan_title = fields.String(required=True)
    city = fields.String(required=True)
    period = fields.String(required=True)
    period_label = fields.String(required=True, metadata={"example": "2022年上半年"})
    revision = fields.Integer(
        allow_none=True, metadata={"description": "The snapshot's revision; null while open."}
    )
    is_final = fields.Boolean(required=True, metadata={"description": "The period is closed."})
    closed_reason = fields.String(allow_none=True)
    doc_number = fields.String(
        allow_none=True, metadata={"description": "The bulletin's document number (文号)."}
    )
    issued_on = fields.Date(required=True)
    issuer = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    rounding = fields.Integer(required=True, metadata={"description": "Decimal places shown."})
    columns = fields.List(fields.Nested(BulletinColumnSchema), required=True)
    rows = fields.List(fields.Nested(BulletinRowSchema), required=True)
    standings = fields.Nested(BulletinStandingsSchema, required=True)
    movers_up = fields.List(fields.Nested(BulletinMoverSchema), required=True)
    movers_down = fields.List(fields.Nested(BulletinMoverSchema), required=True)
    overdue_by_unit = fields.List(fields.Nested(BulletinOverdueUnitSchema), required=True)
    settled_text = fields.String(
        metadata={"description": "The tasks settled (办结/销号) in the period, in one sentence."}
    )
    escalations = fields.List(
        fields.Nested(BulletinEscalationsSchema),
        metadata={"description": "Escalation notices (督办单) per unit, withdrawn ones left out."},
    )
