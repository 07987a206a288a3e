"""The reporting cadence and 报送率 in the API (the plan page's form uses the same rules)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from taskhub.cadence.models import CADENCE_KINDS
from taskhub.cadence.services import EARLIEST, LATEST
from taskhub.core.schemas import DecimalString, no_nul


class CadenceArgs(Schema):
    """A plan's (or, with ``section``, one section's) reporting cadence; fields not sent keep
    their current values."""

    class Meta:
        unknown = EXCLUDE

    section = fields.String(
        validate=[validate.Length(min=1, max=50), no_nul],
        metadata={"description": "A section's path (e.g. 2/1): set that section's override."},
    )
    kind = fields.String(
        validate=validate.OneOf((*CADENCE_KINDS, "inherit")),
        metadata={
            "description": "monthly, weekly or none; inherit (with section) removes the "
            "section's override."
        },
    )
    day = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0, max=31),
        metadata={
            "description": "Day of month 1-31 (monthly; past the month's end = its last "
            "day) or weekday 0 = Monday … 6 = Sunday (weekly)."
        },
    )
    starts_on = fields.Date(allow_none=True, validate=validate.Range(min=EARLIEST, max=LATEST))
    is_shifted_to_working_day = fields.Boolean()
    remind_days_before = fields.Integer(validate=validate.Range(min=0, max=30))


class CadenceSchema(Schema):
    kind = fields.String(required=True)
    day = fields.Integer(required=True, allow_none=True)
    starts_on = fields.Date(required=True, allow_none=True)
    is_shifted_to_working_day = fields.Boolean(required=True)
    remind_days_before = fields.Integer(required=True)


class SectionCadenceSchema(CadenceSchema):
    section = fields.String(required=True, metadata={"description": "The section's path."})
    title = fields.String(required=True)


class PlanCadenceSchema(Schema):
    plan = fields.String(required=True, metadata={"description": "The plan's code."})
    cadence = fields.Nested(CadenceSchema, required=True)
    sections = fields.List(fields.Nested(SectionCadenceSchema), required=True)


class RatesArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    as_of = fields.Date(
        validate=validate.Range(min=EARLIEST, max=LATEST),
        metadata={"description": "Count windows closed before this day (default: today)."},
    )


class UnitRateSchema(Schema):
    unit_id = fields.Integer(required=True)
    unit_name = fields.String(required=True)
    due = fields.Integer(required=True, metadata={"description": "Closed windows owed."})
    reported = fields.Integer(required=True, metadata={"description": "Of them, reported."})
    missing = fields.Integer(
        required=True, metadata={"description": "Open tasks flagged 未按时报送 now."}
    )
    rate = DecimalString(
        required=True,
        allow_none=True,
        metadata={"description": "报送率 in percent; null: none owed."},
    )


class ReportingRatesSchema(Schema):
    plan = fields.String(required=True)
    as_of = fields.Date(required=True)
    units = fields.List(fields.Nested(UnitRateSchema), required=True)
