"""Progress reports with evidence files, and their reviews."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NoReturn, cast

from flask import current_app, request, send_file, url_for
from flask.views import MethodView
from marshmallow import Schema, ValidationError
from sqlalchemy import Select, select
from werkzeug import Response

from taskhub.accounts.models import User
from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, get_or_404, paged
from taskhub.core.db import db
from taskhub.core.errors import DomainError, NotFound
from taskhub.core.storage import signed_redirect, storage_for
from taskhub.tracking import queues, services
from taskhub.tracking.api import blp
from taskhub.tracking.api.common import (
    REF_COLUMNS,
    assignment_ref,
    fail,
    join_ref,
    load_assignment,
    scoped,
)
from taskhub.tracking.models import Assignment, Evidence, ProgressReport, Review
from taskhub.tracking.schemas import (
    REPORT_SORTS,
    AssignmentReportArgs,
    BulkAcceptArgs,
    EvidenceSchema,
    NewReportArgs,
    NewReportFormArgs,
    ReportArgs,
    ReportSchema,
    ReviewArgs,
)
from taskhub.tracking.uploads import UploadRejected, check_upload
from taskhub.tracking.views import DOWNLOAD_CSP

_SORT_COLUMNS = {
    "submitted_at": ProgressReport.submitted_at,
    "id": ProgressReport.id,
    "percent": ProgressReport.percent,
}
assert set(_SORT_COLUMNS) == set(REPORT_SORTS)

_ERRORS = {
    status: {"schema": core.ErrorSchema, "description": description}
    for status, description in (
        (403, "This token's user may not do this."),
        (404, "No such object."),
    )
}


def _report_rows() -> Select[Any]:
    """Report columns with their author and assignment (item, plan, unit), as one select."""
    query = select(
        ProgressReport.id,
        ProgressReport.milestone_id,
        ProgressReport.author_id,
        User.display_name.label("author_name"),
        ProgressReport.progress,
        ProgressReport.problems,
        ProgressReport.next_steps,
        ProgressReport.percent,
        ProgressReport.is_closing,
        ProgressReport.status,
        ProgressReport.submitted_at,
        *REF_COLUMNS,
    ).join(User, User.id == ProgressReport.author_id)
    return join_ref(cast(Select[Any], query), Assignment.id == ProgressReport.assignment_id)


def _evidence(row: Any) -> dict[str, Any]:
    return {
        **row._asdict(),
        "url": url_for("api_tracking.EvidenceFile", evidence_id=row.id),
    }


_EVIDENCE_COLUMNS = (
    Evidence.id,
    Evidence.report_id,
    Evidence.original_name,
    Evidence.content_type,
    Evidence.size_bytes,
    Evidence.sha256,
    Evidence.uploaded_at,
)


def _as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    """Reports as ReportSchema wants them; evidence and reviews in one query each."""
    ids = [row.id for row in rows]
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    reviews: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for ev in db.session.execute(
            select(*_EVIDENCE_COLUMNS).where(Evidence.report_id.in_(ids)).order_by(Evidence.id)
        ):
            files[ev.report_id].append(_evidence(ev))
        for rv in db.session.execute(
            select(
                Review.id,
                Review.report_id,
                Review.decision,
                Review.reason,
                Review.reviewer_id,
                User.display_name,
                Review.reviewed_at,
            )
            .join(User, User.id == Review.reviewer_id)
            .where(Review.report_id.in_(ids))
            .order_by(Review.id)
        ):
            reviews[rv.report_id].append(
                {
                    "id": rv.id,
                    "decision": rv.decision,
                    "reason": rv.reason,
                    "reviewer": {"id": rv.reviewer_id, "name": rv.display_name},
                    "reviewed_at": rv.reviewed_at,
                }
            )
    return [
        {
            "id": row.id,
            "assignment": assignment_ref(row),
            "milestone_id": row.milestone_id,
            "author": {"id": row.author_id, "name": row.author_name},
            "progress": row.progress,
            "problems": row.problems,
            "next_steps": row.next_steps,
            "percent": row.percent,
            "closing": row.is_closing,
            "status": row.status,
            "submitted_at": row.submitted_at,
            "evidence": files[row.id],
            "reviews": reviews[row.id],
        }
        for row in rows
    ]


def _one(report_id: int) -> dict[str, Any]:
    row = db.session.execute(_report_rows().where(ProgressReport.id == report_id)).one()
    return _as_dicts([row])[0]


def _created(report: ProgressReport, *, with_evidence: bool) -> dict[str, Any]:
    """A report just submitted, as :func:`_one` would read it back, from what the request
    holds (the assignment with its item, plan and unit, the author): no review yet, and the
    evidence queried only when files came with it."""
    assignment = report.assignment
    item = assignment.item
    author = report.author
    files: list[dict[str, Any]] = []
    if with_evidence:
        files = [
            _evidence(ev)
            for ev in db.session.execute(
                select(*_EVIDENCE_COLUMNS)
                .where(Evidence.report_id == report.id)
                .order_by(Evidence.id)
            )
        ]
    return {
        "id": report.id,
        "assignment": {
            "id": assignment.id,
            "item": {"id": item.id, "code": item.code, "text": item.text},
            "plan": item.plan.code,
            "unit": {"id": assignment.unit_id, "name": assignment.unit.name},
            "status": assignment.status,
            "version": assignment.version,
        },
        "milestone_id": report.milestone_id,
        "author": {"id": author.id, "name": author.display_name},
        "progress": report.progress,
        "problems": report.problems,
        "next_steps": report.next_steps,
        "percent": report.percent,
        "closing": report.is_closing,
        "status": report.status,
        "submitted_at": report.submitted_at,
        "evidence": files,
        "reviews": [],
    }


def _listed(query: Select[Any], args: dict[str, Any], pagination: Any) -> list[dict[str, Any]]:
    if "status" in args:
        query = query.where(ProgressReport.status.in_(args["status"]))
    query = apply_sort(query, args["sort"], _SORT_COLUMNS, ProgressReport.id)
    return _as_dicts(paged(query, pagination, scalars=False))


def _load_report(report_id: int) -> ProgressReport:
    """The report, if this token's user may see its assignment; else 404/403."""
    report: ProgressReport = get_or_404(ProgressReport, report_id)
    load_assignment(report.assignment_id)
    return report


@blp.route("/reports/")
class Reports(MethodView):
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, ReportSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List reports (a unit's token: only its unit's); ``status=submitted`` with
        ``reviewable=true`` is this user's review queue."""
        query = scoped(_report_rows(), args)
        if "reviewable" in args:
            condition = services.reviewable(api_user())
            query = query.where(condition if args["reviewable"] else ~condition)
        return _listed(query, args, pagination_parameters)


#: The POST body, documented for both encodings (parsed by hand: webargs reads one location).
_REPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": NewReportArgs},
        "multipart/form-data": {"schema": NewReportFormArgs},
    },
}
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _report_input() -> tuple[dict[str, Any], list[services.UploadedFile]]:
    """The report's fields and evidence files, from JSON or a multipart form."""
    schema: Schema
    if request.mimetype in _FORM_TYPES:
        schema = NewReportFormArgs()
        # Forms send empty fields for what was left blank: that means "not given".
        data: Any = {k: v for k, v in request.form.items() if v != ""}
        errors = {name: ["Unknown field."] for name in request.files if name != "evidence"}
        if errors:
            core.abort(422, "Evidence files go in the field 'evidence'.", errors=errors)
        files = [
            services.UploadedFile(f.filename or "", f.read())
            for f in request.files.getlist("evidence")
        ]
        # A browser sends an empty part for a file input left empty.
        files = [f for f in files if f.filename or f.data]
    elif request.is_json:
        schema, files = NewReportArgs(), []
        data = request.get_json(silent=True)
        if data is None:
            core.abort(400, "The body is not valid JSON.")
    else:
        core.abort(415, "Send the report as application/json or multipart/form-data.")
    try:
        return schema.load(data), files
    except ValidationError as error:
        core.abort(422, "The report is not valid.", errors=error.normalized_messages())


def _refuse_files(files: list[services.UploadedFile], first: UploadRejected) -> NoReturn:
    """422 naming every refused file and why (the service stops at the first)."""
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    errors: dict[str, list[str]] = {}
    for index, upload in enumerate(files):
        try:
            check_upload(upload.filename, upload.data, max_bytes=max_bytes)
        except UploadRejected as rejected:
            errors[f"evidence.{index}"] = [rejected.message_en]
    message = (
        first.message_en
        if len(errors) <= 1
        else f"{len(errors)} of {len(files)} evidence files were refused."
    )
    core.abort(
        422,
        f"{message} Nothing was saved.",
        code=first.code,
        errors=errors or {"evidence": [first.message_en]},
    )


@blp.route("/assignments/<int:assignment_id>/reports")
class AssignmentReports(MethodView):
    @blp.arguments(AssignmentReportArgs, location="query")
    @blp.response(200, ReportSchema(many=True))
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], pagination_parameters: Any, assignment_id: int
    ) -> list[dict[str, Any]]:
        """An assignment's reports with their evidence and reviews, oldest first by default."""
        load_assignment(assignment_id)
        query = _report_rows().where(ProgressReport.assignment_id == assignment_id)
        return _listed(query, args, pagination_parameters)

    @blp.doc(requestBody=_REPORT_BODY)
    @blp.response(201, ReportSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    @blp.alt_response(413, schema=core.ErrorSchema, description="The request is too large.")
    @blp.alt_response(
        507, schema=core.ErrorSchema, description="No space is left to store the evidence files."
    )
    @blp.alt_response(
        415, schema=core.ErrorSchema, description="Neither JSON nor multipart/form-data."
    )
    @blp.alt_response(
        422,
        schema=core.ErrorSchema,
        description="Invalid fields, a refused evidence file (by `evidence.<index>`), "
        "a closed task or a report already awaiting review.",
    )
    def post(self, assignment_id: int) -> tuple[dict[str, Any], dict[str, str]]:
        """Report progress (工作进展 / 存在问题 / 下步计划, percent) for review, as JSON or as
        multipart/form-data with evidence files in ``evidence``; the files get the same checks
        as on the pages, and a refused file saves nothing."""
        assignment = load_assignment(assignment_id, need="edit", for_report=True)
        args, files = _report_input()
        try:
            report = services.submit_report(
                assignment,
                actor=api_user(),
                progress=args["progress"],
                percent=args["percent"],
                problems=args.get("problems"),
                next_steps=args.get("next_steps"),
                milestone_id=args.get("milestone_id"),
                closing=args.get("closing", False),
                files=files,
                storage=storage_for(current_app.config),
                max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
                expected_version=args.get("version"),
            )
        except DomainError as error:
            fail(error)
        except UploadRejected as rejected:
            db.session.rollback()
            _refuse_files(files, rejected)
        body = _created(report, with_evidence=bool(files))  # before the commit expires it
        db.session.commit()
        location = url_for("api_tracking.ReportById", report_id=body["id"])
        return body, {"Location": location}


@blp.route("/reports/<int:report_id>")
class ReportById(MethodView):
    @blp.etag
    @blp.response(200, ReportSchema)
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    def get(self, report_id: int) -> dict[str, Any]:
        """One report with its evidence and reviews."""
        _load_report(report_id)
        return _one(report_id)


@blp.route("/reports/<int:report_id>/review")
class ReviewReport(MethodView):
    @blp.arguments(ReviewArgs)
    @blp.response(200, ReportSchema)
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def post(self, args: dict[str, Any], report_id: int) -> dict[str, Any]:
        """Accept a submitted report, or return it with the reason: the office, or an assessor
        of a unit that leads the item's assessment."""
        report: ProgressReport = get_or_404(ProgressReport, report_id)
        user = api_user()
        if not services.can_review(user, report.assignment):
            core.abort(403, "You may not review this report.")
        try:
            services.review_report(
                report,
                actor=user,
                decision=args["decision"],
                reason=args.get("reason"),
                expected_version=args.get("version"),
            )
        except DomainError as error:
            fail(error)
        db.session.commit()
        return _one(report_id)


@blp.route("/reviews/bulk")
class BulkAccept(MethodView):
    @blp.arguments(BulkAcceptArgs)
    @blp.response(200, ReportSchema(many=True))
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    @blp.alt_response(
        409, schema=core.ErrorSchema, description="One of them changed since it was read."
    )
    @blp.alt_response(
        422,
        schema=core.ErrorSchema,
        description="One of them was already reviewed.",
    )
    def post(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """批量通过: accept several submitted reports in one transaction, all or none. Each
        is audited and notified as a single acceptance; a report the caller may not review
        refuses the whole request (403), and so does one that changed (409 ``stale``) or was
        reviewed meanwhile (422 ``already_reviewed``), with ``errors["reports.<n>"]``."""
        entries = args["reports"]
        selection = {e["id"]: e.get("version") for e in entries}
        try:
            queues.accept_reports(selection, actor=api_user())
        except queues.SelectionRefused as refused:
            db.session.rollback()
            index = next(i for i, e in enumerate(entries) if e["id"] == refused.report_id)
            cause = refused.cause
            message = f"Report {refused.report_id}: {cause.message} Nothing was accepted."
            errors = {f"reports.{index}": [cause.message]}
            if isinstance(cause, services.StaleObject):
                core.abort(409, message, code="stale", errors=errors)
            if isinstance(cause, NotFound):
                core.abort(404, message, errors=errors)
            core.abort(422, message, code=getattr(cause, "code", None), errors=errors)
        except DomainError as error:
            fail(error)  # PermissionDenied: 403, nothing accepted
        db.session.commit()
        rows = db.session.execute(
            _report_rows().where(ProgressReport.id.in_(selection)).order_by(ProgressReport.id)
        ).all()
        return _as_dicts(list(rows))


# -- evidence ------------------------------------------------------------------------------


def _load_evidence(evidence_id: int) -> Any:
    """The evidence row, if this token's user may see its report's assignment (as the page)."""
    row = db.session.execute(
        select(*_EVIDENCE_COLUMNS, ProgressReport.assignment_id)
        .join(ProgressReport, ProgressReport.id == Evidence.report_id)
        .where(Evidence.id == evidence_id)
    ).one_or_none()
    if row is None:
        core.abort(404, f"Evidence {evidence_id} does not exist.")
    load_assignment(row.assignment_id)
    return row


@blp.route("/evidence/<int:evidence_id>")
class EvidenceFile(MethodView):
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="*/*",
        description="The file, as a download under its original name.",
    )
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    def get(self, evidence_id: int) -> Response:
        """Download an evidence file (always as an attachment, never rendered)."""
        row = _load_evidence(evidence_id)
        storage = storage_for(current_app.config)
        if not storage.exists(row.sha256):
            core.abort(404, f"The file of evidence {evidence_id} is missing from storage.")
        signed = signed_redirect(storage, row, current_app.config, inline=False)
        if signed:
            return signed
        response = send_file(
            storage.open(row.sha256),
            mimetype=row.content_type,
            as_attachment=True,
            download_name=row.original_name,
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
        response.headers["Cache-Control"] = "private, max-age=300"
        return response


@blp.route("/evidence/<int:evidence_id>/meta")
class EvidenceMeta(MethodView):
    @blp.etag
    @blp.response(200, EvidenceSchema)
    @blp.alt_response(403, **_ERRORS[403])
    @blp.alt_response(404, **_ERRORS[404])
    def get(self, evidence_id: int) -> dict[str, Any]:
        """An evidence file's name, type, size and digest."""
        row = _load_evidence(evidence_id)
        return _evidence(row)
