"""marshmallow schemas of the tracking API: ``…Schema`` for output, ``…Args`` for input."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from taskhub.core.limits import length
from taskhub.core.schemas import ID_RANGE, sort_args
from taskhub.tracking.models import (
    AssignmentRole,
    AssignmentStatus,
    ExtensionStatus,
    MilestoneKind,
    MilestoneStatus,
    ReportStatus,
    ReviewDecision,
)

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
    unit = fields.Integer(validate=ID_RANGE)
    item = fields.Integer(validate=ID_RANGE)
    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in AssignmentStatus])),
        metadata={"description": "Repeat to allow several statuses."},
    )
    role = fields.String(validate=validate.OneOf([r.value for r in AssignmentRole]))
    overdue = fields.Boolean()
    open = fields.Boolean(metadata={"description": "Only assignments not yet completed."})
    due_from = fields.Date(metadata={"description": "Next due date on or after."})
    due_to = fields.Date(metadata={"description": "Next due date on or before."})
    cursor = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "Keyset paging, the way to deep pages: the `next_cursor` of the "
            "previous page's X-Pagination (or follow its `next` URL / `Link: rel=next`). "
            "Costs the same at any depth, unlike `page`; use the same filters and sort."
        },
    )


class VersionArgs(Schema):
    """The version the client last saw: a change based on an older one is refused (409)."""

    version = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )


# -- milestones ---------------------------------------------------------------------------------

MILESTONE_SORTS = ("due_on", "effective_due_on", "id")


class MilestoneSchema(Schema):
    """A dated step of an assignment; ``due_on`` never moves, an extension sets ``extended_to``."""

    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in MilestoneKind]))
    title = fields.String(allow_none=True)
    due_on = fields.Date(required=True, metadata={"description": "The original due date."})
    extended_to = fields.Date(
        allow_none=True, metadata={"description": "The approved extended date, if any."}
    )
    effective_due_on = fields.Date(
        required=True, metadata={"description": "The date that counts: extended_to or due_on."}
    )
    status = fields.String(
        required=True, validate=validate.OneOf([s.value for s in MilestoneStatus])
    )
    completed_on = fields.Date(allow_none=True)
    is_late = fields.Boolean(
        required=True, metadata={"description": "Accepted after the original due date."}
    )
    is_overdue = fields.Boolean(required=True)


class MilestoneArgs(sort_args(MILESTONE_SORTS, "due_on")):  # type: ignore[misc]
    """Filters of an assignment's milestones."""

    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in MilestoneStatus])),
        metadata={"description": "Repeat to allow several statuses."},
    )


# -- progress reports, evidence, reviews --------------------------------------------------------

REPORT_SORTS = ("submitted_at", "id", "percent")


class AssignmentRefSchema(Schema):
    """The assignment a report or extension belongs to, with what a list needs to show."""

    id = fields.Integer(required=True)
    item = fields.Nested(ItemRefSchema, required=True)
    plan = fields.String(required=True, metadata={"description": "The plan's code."})
    unit = fields.Nested(RefSchema, required=True)
    status = fields.String(
        required=True, validate=validate.OneOf([s.value for s in AssignmentStatus])
    )
    version = fields.Integer(
        required=True, metadata={"description": "Send it back as `version` to detect changes."}
    )


class EvidenceSchema(Schema):
    """An evidence file (佐证材料); download it from ``url``."""

    id = fields.Integer(required=True)
    report_id = fields.Integer(required=True)
    original_name = fields.String(required=True, metadata={"description": "A safe file name."})
    content_type = fields.String(required=True, metadata={"description": "Seen in the content."})
    size_bytes = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    uploaded_at = fields.DateTime(required=True)
    url = fields.String(required=True, metadata={"description": "Where to download the file."})


class ReviewSchema(Schema):
    id = fields.Integer(required=True)
    decision = fields.String(
        required=True, validate=validate.OneOf([d.value for d in ReviewDecision])
    )
    reason = fields.String(allow_none=True)
    reviewer = fields.Nested(RefSchema, required=True)
    reviewed_at = fields.DateTime(required=True)


class ReportSchema(Schema):
    """A progress report (工作进展 / 存在问题 / 下步计划) with its evidence and reviews."""

    id = fields.Integer(required=True)
    assignment = fields.Nested(AssignmentRefSchema, required=True)
    milestone_id = fields.Integer(
        allow_none=True, metadata={"description": "The milestone reported on; null: the task."}
    )
    author = fields.Nested(RefSchema, required=True)
    progress = fields.String(required=True)
    problems = fields.String(allow_none=True)
    next_steps = fields.String(allow_none=True)
    percent = fields.Integer(required=True)
    closing = fields.Boolean(
        required=True, metadata={"description": "办结报告: its acceptance is the office's 销号."}
    )
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in ReportStatus]))
    submitted_at = fields.DateTime(required=True)
    evidence = fields.List(fields.Nested(EvidenceSchema), required=True)
    reviews = fields.List(fields.Nested(ReviewSchema), required=True)


class AssignmentReportArgs(sort_args(REPORT_SORTS, "submitted_at")):  # type: ignore[misc]
    """Filters of an assignment's reports."""

    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in ReportStatus])),
        metadata={"description": "Repeat to allow several statuses."},
    )


class ReportArgs(AssignmentReportArgs):
    """Filters of all reports (``status=submitted`` is the review queue)."""

    plan = fields.String(validate=validate.Length(min=1, max=100))
    unit = fields.Integer(validate=ID_RANGE)
    item = fields.Integer(validate=ID_RANGE)
    assignment = fields.Integer(validate=ID_RANGE)
    reviewable = fields.Boolean(
        metadata={"description": "Only reports of assignments this user may review."}
    )


class NewReportArgs(Schema):
    """A progress report as JSON; the service checks the text, the percent and the milestone."""

    class Meta:
        unknown = RAISE

    # Blank text is refused by the service; the pattern only documents it.
    progress = fields.String(
        required=True,
        validate=length("report.progress"),
        metadata={"description": "工作进展 (required).", "pattern": r"\S"},
    )
    problems = fields.String(
        allow_none=True, validate=length("report.problems"), metadata={"description": "存在问题."}
    )
    next_steps = fields.String(
        allow_none=True, validate=length("report.next_steps"), metadata={"description": "下步计划."}
    )
    # The range is the service's rule; minimum/maximum only document it.
    percent = fields.Integer(required=True, strict=True, metadata={"minimum": 0, "maximum": 100})
    closing = fields.Boolean(
        load_default=False,
        metadata={
            "description": "办结报告: apply to close the task (percent must be 100); the "
            "office's acceptance is 销号, a return keeps the task open."
        },
    )
    milestone_id = fields.Integer(
        allow_none=True,
        strict=True,
        validate=ID_RANGE,
        metadata={"description": "A milestone of this assignment."},
    )
    version = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )


class NewReportFormArgs(NewReportArgs):
    """The same report as multipart/form-data, with any number of files in ``evidence``."""

    percent = fields.Integer(required=True, metadata={"minimum": 0, "maximum": 100})
    closing = fields.Boolean(load_default=False)
    milestone_id = fields.Integer(allow_none=True, validate=ID_RANGE)
    version = fields.Integer(allow_none=True)
    evidence = fields.List(
        fields.Raw(metadata={"type": "string", "format": "binary"}),
        load_only=True,
        metadata={"description": "Evidence files (佐证材料); repeat the field for several."},
    )


class ReviewArgs(Schema):
    """Accept a report, or return it with the reason."""

    decision = fields.String(
        required=True, validate=validate.OneOf([d.value for d in ReviewDecision])
    )
    reason = fields.String(
        allow_none=True,
        validate=length("review.reason"),
        metadata={"description": "Required to return a report."},
    )
    version = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )


class ReopenArgs(Schema):
    """Reopen a completed (销号) task: the reason is required."""

    class Meta:
        unknown = RAISE

    reason = fields.String(
        required=True,
        validate=length("review.reason", required=True),
        metadata={"description": "Why the task is reopened (required)."},
    )
    version = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )


# -- extensions ---------------------------------------------------------------------------------

EXTENSION_SORTS = ("requested_at", "requested_due_on", "id")


class ExtensionMilestoneSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(allow_none=True)
    due_on = fields.Date(required=True)
    extended_to = fields.Date(allow_none=True)
    status = fields.String(required=True)


class ExtensionSchema(Schema):
    """A request to move a milestone (延期) and the office's decision."""

    id = fields.Integer(required=True)
    milestone = fields.Nested(ExtensionMilestoneSchema, required=True)
    assignment = fields.Nested(AssignmentRefSchema, required=True)
    requested_by = fields.Nested(RefSchema, required=True)
    reason = fields.String(required=True)
    requested_due_on = fields.Date(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf([s.value for s in ExtensionStatus])
    )
    requested_at = fields.DateTime(required=True)
    decided_by = fields.Nested(RefSchema, allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class ExtensionListArgs(sort_args(EXTENSION_SORTS, "requested_at")):  # type: ignore[misc]
    """Filters of extension requests (``status=pending`` is the office's queue)."""

    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in ExtensionStatus])),
        metadata={"description": "Repeat to allow several statuses."},
    )
    plan = fields.String(validate=validate.Length(min=1, max=100))
    unit = fields.Integer(validate=ID_RANGE)
    assignment = fields.Integer(validate=ID_RANGE)


class NewExtensionArgs(Schema):
    """Ask to move a milestone to a later date, saying why."""

    reason = fields.String(
        required=True, validate=length("extension.reason"), metadata={"pattern": r"\S"}
    )
    requested_due_on = fields.Date(
        required=True, metadata={"description": "After the milestone's current due date."}
    )
    version = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )


class ExtensionDecisionArgs(Schema):
    """Approve (the milestone moves) or reject (with the reason) an extension request."""

    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(
        allow_none=True,
        validate=length("extension.decision_reason"),
        metadata={"description": "Required to reject a request."},
    )


class SelectedReportArgs(Schema):
    """One report of a bulk acceptance, with the version of its assignment last read."""

    id = fields.Integer(required=True, strict=True, validate=ID_RANGE)
    version = fields.Integer(
        allow_none=True,
        strict=True,
        metadata={"description": "The assignment's version as last read; omit to skip the check."},
    )


class BulkAcceptArgs(Schema):
    """批量通过: accept several submitted reports at once, all of them or none."""

    reports = fields.List(
        fields.Nested(SelectedReportArgs),
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The reports to accept (at most 200)."},
    )
