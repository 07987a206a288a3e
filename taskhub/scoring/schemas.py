"""marshmallow schemas of the scoring API: ``…Schema`` for output, ``…Args`` for input.

Scores are exact decimals and travel as JSON strings ("77.0000"): a JSON number is read as a
binary float by most clients, and contributions would then no longer add up to the total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from taskhub.core.limits import MAX_ID, NUMBER_LIMIT, NUMBER_PLACES, length
from taskhub.core.schemas import DecimalString, sort_args
from taskhub.scoring.models import PeriodKind, ScoreSource
from taskhub.tracking.schemas import RefSchema  # one "Ref" in the OpenAPI document

#: Inputs beyond this size or precision are refused (taskhub.core.limits).
LIMIT = NUMBER_LIMIT
PLACES = NUMBER_PLACES

PERIOD_SORTS = ("starts_on", "code")
SCORE_SORTS = ("rank", "total", "unit")
RANKING_SORTS = ("rank", "change", "unit")
ITEM_SCORE_SORTS = ("entered_at", "unit", "item", "value")
COMPONENT_SCORE_SORTS = ("entered_at", "unit", "component", "value")
SNAPSHOT_SORTS = ("created_at", "period", "revision")


def _few_places(value: Decimal) -> None:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        raise ValidationError(f"give at most {PLACES} decimal places")


def amount(**kwargs: Any) -> DecimalString:
    """A decimal input within ±LIMIT (NaN and infinities are refused by the field)."""
    return DecimalString(validate=[validate.Range(min=-LIMIT, max=LIMIT), _few_places], **kwargs)


def ident(**kwargs: Any) -> fields.Integer:
    """A database id."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def counter(**kwargs: Any) -> fields.Integer:
    """A version or revision (0: none yet)."""
    return fields.Integer(validate=validate.Range(min=0, max=MAX_ID), **kwargs)


#: A period code as the OpenAPI document describes it (taskhub.scoring.schemes checks it).
PERIOD_PATTERN = r"^(19|2[0-9])[0-9]{2}(-H[12]|-(0[1-9]|1[0-2]))?$"
_PERIOD_HELP = "A period code: 2022 (year), 2022-H1 / 2022-H2, 2021-11."
#: The {period} of a path, documented (a route's ``parameters``); 422 when it is not a code.
PERIOD_PATH = {
    "in": "path",
    "name": "period",
    "required": True,
    "description": _PERIOD_HELP + " Anything else is answered 422.",
    "schema": {"type": "string", "pattern": PERIOD_PATTERN},
}


def period_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": _PERIOD_HELP, "pattern": PERIOD_PATTERN},
        **kwargs,
    )


class ScoredItemSchema(Schema):
    """The item an entered score is about: its id and code."""

    id = fields.Integer(required=True)
    code = fields.String(required=True)


# -- periods and snapshots ---------------------------------------------------------------------


class PeriodSchema(Schema):
    code = fields.String(required=True, metadata={"example": "2022-H1"})
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in PeriodKind]))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    is_closed = fields.Boolean(required=True)
    closed_at = fields.DateTime(allow_none=True)
    revision = fields.Integer(
        allow_none=True,
        metadata={"description": "The latest snapshot's revision; null while never closed."},
    )
    revisions = fields.List(
        fields.Integer(), required=True, metadata={"description": "Every snapshot revision."}
    )
    doc_number = fields.String(
        allow_none=True, metadata={"description": "The bulletin's document number (文号)."}
    )


class PeriodArgs(sort_args(PERIOD_SORTS, "starts_on")):  # type: ignore[misc]
    kind = fields.String(validate=validate.OneOf([k.value for k in PeriodKind]))
    closed = fields.Boolean(metadata={"description": "Only closed (true) or open (false)."})


class SnapshotSchema(Schema):
    id = fields.Integer(required=True)
    period = fields.String(required=True)
    revision = fields.Integer(required=True)
    is_latest = fields.Boolean(
        required=True, metadata={"description": "The revision the period now answers with."}
    )
    reason = fields.String(
        allow_none=True, metadata={"description": "Why this revision (corrections only)."}
    )
    created_at = fields.DateTime(required=True)
    created_by = fields.Nested(RefSchema, allow_none=True)


class SnapshotDetailSchema(SnapshotSchema):
    """A revision as published: every unit's row as the scores list gives it."""

    units = fields.List(fields.Nested(lambda: ScoreSchema()), required=True)


class SnapshotArgs(sort_args(SNAPSHOT_SORTS, "-created_at")):  # type: ignore[misc]
    period = period_field()


class ClosePeriodArgs(Schema):
    reason = fields.String(
        validate=length("period.reason"),
        metadata={"description": "Required when the period is already closed (a correction)."},
    )
    revision = counter(
        metadata={
            "description": "The latest revision you saw (0: never closed); if another was "
            "published since, the request is refused (409 stale). Omit to skip the check."
        },
    )
    doc_number = fields.String(
        validate=length("period.doc_number"),
        metadata={
            "description": "The bulletin's document number (文号), e.g. 包数政办发〔2022〕3号. "
            "Optional; omitted or blank keeps the one already set.",
        },
    )


class PeriodUpdateArgs(Schema):
    doc_number = fields.String(
        required=True,
        allow_none=True,
        validate=length("period.doc_number"),
        metadata={"description": "The bulletin's document number (文号); null or blank clears it."},
    )


# -- scores, rankings, explanations -------------------------------------------------------------


class ScoreSchema(Schema):
    """One unit's result in a period (a closed period: its latest snapshot, frozen)."""

    period = fields.String(required=True)
    revision = fields.Integer(
        allow_none=True, metadata={"description": "The snapshot's revision; null while open."}
    )
    unit = fields.Nested(RefSchema, required=True)
    rank = fields.Integer(allow_none=True)
    previous_rank = fields.Integer(allow_none=True)
    change = fields.Integer(
        allow_none=True, metadata={"description": "Places gained since the previous period."}
    )
    total = DecimalString(required=True, metadata={"description": "Exact, to 4 places."})
    display_total = DecimalString(
        required=True, metadata={"description": "Rounded by the scheme's rule for display."}
    )
    components = fields.Dict(
        keys=fields.String(),
        values=DecimalString(allow_none=True),
        required=True,
        metadata={"description": "By component code (null: not entered or nothing assessable)."},
    )
    areas = fields.Dict(
        keys=fields.String(),
        values=DecimalString(),
        required=True,
        metadata={"description": "What each area (top-level section) adds to the total."},
    )


class ScoreArgs(sort_args(SCORE_SORTS, "rank")):  # type: ignore[misc]
    period = period_field(required=True)
    unit = fields.List(
        ident(),
        metadata={"description": "Only these units (repeat the argument)."},
    )


class RankingSchema(Schema):
    period = fields.String(required=True)
    previous_period = fields.String(required=True)
    revision = fields.Integer(allow_none=True)
    rank = fields.Integer(allow_none=True)
    previous_rank = fields.Integer(allow_none=True)
    change = fields.Integer(
        allow_none=True,
        metadata={"description": "Places gained (positive: moved up); null without a rank."},
    )
    unit = fields.Nested(RefSchema, required=True)
    total = DecimalString(required=True)
    display_total = DecimalString(required=True)


class RankingArgs(sort_args(RANKING_SORTS, "rank")):  # type: ignore[misc]
    period = period_field(required=True)
    unit = fields.List(ident())
    top = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID), metadata={"description": "Only ranks 1 to top."}
    )


class ContributionSchema(Schema):
    kind = fields.String(
        required=True, metadata={"description": "item, component or period (a sub-period)."}
    )
    key = fields.String(required=True, metadata={"description": "Item, component or period code."})
    label = fields.String(required=True)
    points = DecimalString(allow_none=True, metadata={"description": "The item's points."})
    fraction = DecimalString(allow_none=True, metadata={"description": "Share earned (0–1)."})
    source = fields.String(
        required=True,
        metadata={
            "description": "completion, assessor, import, not_scored, entered, not_entered, "
            "period, supervision (computed from 报送率 or 督办单) or not_applicable."
        },
    )
    details = fields.List(
        fields.String(),
        metadata={
            "description": "For a component computed from the supervision facts: the rate and "
            "each event (missed report, notice) with its date and deduction, in Chinese."
        },
    )
    weight = DecimalString(
        required=True, metadata={"description": "What one point earned is worth in the total."}
    )
    value = DecimalString(
        required=True, metadata={"description": "The contribution; all of them sum to total."}
    )


class ExplanationSchema(Schema):
    plan = fields.String(required=True)
    period = fields.String(required=True)
    revision = fields.Integer(allow_none=True)
    unit = fields.Nested(RefSchema, required=True)
    total = DecimalString(required=True)
    display_total = DecimalString(required=True)
    contributions = fields.List(fields.Nested(ContributionSchema), required=True)


class PeriodQueryArgs(Schema):
    period = period_field(required=True)


# -- entered scores ------------------------------------------------------------------------------


class ItemScoreSchema(Schema):
    """An assessor's (or an import's) score of one assignment, overriding completion."""

    id = fields.Integer(required=True)
    period = fields.String(required=True)
    assignment_id = fields.Integer(required=True)
    unit = fields.Nested(RefSchema, required=True)
    item = fields.Nested(ScoredItemSchema, required=True)
    scorer = fields.String(
        required=True,
        metadata={"description": "office, or unit:<id> for a lead assessment unit."},
    )
    value = DecimalString(required=True, metadata={"description": "Points earned."})
    numerator = DecimalString(allow_none=True)
    denominator = DecimalString(allow_none=True)
    source = fields.String(required=True, validate=validate.OneOf([s.value for s in ScoreSource]))
    reason = fields.String(required=True)
    entered_by = fields.Nested(RefSchema, allow_none=True)
    entered_at = fields.DateTime(required=True)
    version = fields.Integer(
        required=True, metadata={"description": "Grows with every change (send it back)."}
    )


class ItemScoreArgs(sort_args(ITEM_SCORE_SORTS, "-entered_at")):  # type: ignore[misc]
    period = period_field()
    unit = fields.List(ident())
    item = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "Code."})
    assignment = ident()
    scorer = fields.String(validate=validate.Length(min=1, max=30))
    source = fields.String(validate=validate.OneOf([s.value for s in ScoreSource]))


class ItemScoreInput(Schema):
    """Score one assignment: by ``assignment_id``, or by ``unit_id`` and the item's ``item`` code.

    Give the points earned as ``value``, or the measure's inputs: ``numerator`` and
    ``denominator`` (rate indicators), ``occurrences`` (count indicators) or ``parts``
    (whether each part of a split rubric was achieved).
    """

    period = period_field(required=True)
    assignment_id = ident()
    unit_id = ident()
    item = fields.String(validate=validate.Length(min=1, max=50))
    value = amount()
    numerator = amount()
    denominator = amount()
    occurrences = amount()
    parts = fields.List(fields.Boolean(), validate=validate.Length(min=1, max=20))
    reason = fields.String(required=True, validate=length("score.reason", required=True))
    version = counter(
        metadata={
            "description": "The score's version as last read (0: none yet); a change based on "
            "an older one is refused (409 stale). Omit to skip the check."
        },
    )

    @validates_schema
    def _one_target_one_measure(self, data: dict[str, Any], **_: Any) -> None:
        by_id = "assignment_id" in data
        by_pair = "unit_id" in data or "item" in data
        if by_id == by_pair:
            raise ValidationError(
                "give assignment_id, or unit_id and item (not both)", "assignment_id"
            )
        if by_pair and not ("unit_id" in data and "item" in data):
            missing = "item" if "unit_id" in data else "unit_id"
            raise ValidationError("give both unit_id and item", missing)
        given = [
            name
            for name, keys in (
                ("value", ("value",)),
                ("numerator", ("numerator", "denominator")),
                ("occurrences", ("occurrences",)),
                ("parts", ("parts",)),
            )
            if any(k in data for k in keys)
        ]
        if len(given) > 1:
            raise ValidationError(
                f"give one of value, numerator and denominator, occurrences or parts "
                f"(got {', '.join(given)})",
                "value",
            )
        if given == ["numerator"] and not ("numerator" in data and "denominator" in data):
            missing = "denominator" if "numerator" in data else "numerator"
            raise ValidationError("a rate needs both numerator and denominator", missing)


class ComponentScoreSchema(Schema):
    """A unit-level component entered for a period (field check, survey, key applications...)."""

    id = fields.Integer(required=True)
    period = fields.String(required=True)
    unit = fields.Nested(RefSchema, required=True)
    component = fields.String(required=True)
    value = DecimalString(required=True)
    source = fields.String(required=True, validate=validate.OneOf([s.value for s in ScoreSource]))
    reason = fields.String(required=True)
    entered_by = fields.Nested(RefSchema, allow_none=True)
    entered_at = fields.DateTime(required=True)
    version = fields.Integer(required=True)


class ComponentScoreArgs(sort_args(COMPONENT_SCORE_SORTS, "-entered_at")):  # type: ignore[misc]
    period = period_field()
    unit = fields.List(ident())
    component = fields.String(validate=validate.Length(min=1, max=40))


class ComponentScoreInput(Schema):
    period = period_field(required=True)
    unit_id = ident(required=True)
    component = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"example": "field", "description": "A component the period's rule enters."},
    )
    value = amount(required=True)
    reason = fields.String(required=True, validate=length("score.reason", required=True))
    version = counter(
        metadata={"description": "As last read (0: none yet); stale ones get 409."},
    )
