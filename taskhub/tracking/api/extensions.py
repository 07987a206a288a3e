"""Extension requests (延期): the list, asking for one, and the office's decision."""

from __future__ import annotations

from typing import Any, cast

from flask import url_for
from flask.views import MethodView
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from taskhub.accounts.models import User
from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, get_or_404, paged
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.tracking import services
from taskhub.tracking.api import blp
from taskhub.tracking.api.common import (
    REF_COLUMNS,
    assignment_ref,
    fail,
    join_ref,
    load_assignment,
    scoped,
)
from taskhub.tracking.models import Assignment, ExtensionRequest, Milestone
from taskhub.tracking.schemas import (
    EXTENSION_SORTS,
    ExtensionDecisionArgs,
    ExtensionListArgs,
    ExtensionSchema,
    NewExtensionArgs,
)

_SORT_COLUMNS = {
    "requested_at": ExtensionRequest.requested_at,
    "requested_due_on": ExtensionRequest.requested_due_on,
    "id": ExtensionRequest.id,
}
assert set(_SORT_COLUMNS) == set(EXTENSION_SORTS)

_Requester = aliased(User)
_Decider = aliased(User)


def _rows() -> Select[Any]:
    """Requests with their milestone, assignment (item, plan, unit) and people, in one select."""
    query = (
        select(
            ExtensionRequest.id,
            ExtensionRequest.reason,
            ExtensionRequest.requested_due_on,
            ExtensionRequest.status,
            ExtensionRequest.requested_at,
            ExtensionRequest.decided_at,
            ExtensionRequest.decision_reason,
            ExtensionRequest.requested_by_id,
            _Requester.display_name.label("requested_by_name"),
            ExtensionRequest.decided_by_id,
            _Decider.display_name.label("decided_by_name"),
            Milestone.id.label("m_id"),
            Milestone.kind.label("m_kind"),
            Milestone.title.label("m_title"),
            Milestone.due_on.label("m_due_on"),
            Milestone.extended_to.label("m_extended_to"),
            Milestone.status.label("m_status"),
            *REF_COLUMNS,
        )
        .join(Milestone, Milestone.id == ExtensionRequest.milestone_id)
        .join(_Requester, _Requester.id == ExtensionRequest.requested_by_id)
        .outerjoin(_Decider, _Decider.id == ExtensionRequest.decided_by_id)
    )
    return join_ref(cast(Select[Any], query), Assignment.id == Milestone.assignment_id)


def _as_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "milestone": {
            "id": row.m_id,
            "kind": row.m_kind,
            "title": row.m_title,
            "due_on": row.m_due_on,
            "extended_to": row.m_extended_to,
            "status": row.m_status,
        },
        "assignment": assignment_ref(row),
        "requested_by": {"id": row.requested_by_id, "name": row.requested_by_name},
        "reason": row.reason,
        "requested_due_on": row.requested_due_on,
        "status": row.status,
        "requested_at": row.requested_at,
        "decided_by": (
            {"id": row.decided_by_id, "name": row.decided_by_name} if row.decided_by_id else None
        ),
        "decided_at": row.decided_at,
        "decision_reason": row.decision_reason,
    }


def _one(extension_id: int) -> dict[str, Any]:
    return _as_dict(db.session.execute(_rows().where(ExtensionRequest.id == extension_id)).one())


@blp.route("/extensions/")
class Extensions(MethodView):
    @blp.arguments(ExtensionListArgs, location="query")
    @blp.response(200, ExtensionSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List extension requests (a unit's token: only its unit's); ``status=pending`` is
        the office's queue, oldest first by default."""
        query = scoped(_rows(), args)
        if "status" in args:
            query = query.where(ExtensionRequest.status.in_(args["status"]))
        query = apply_sort(query, args["sort"], _SORT_COLUMNS, ExtensionRequest.id)
        return [_as_dict(row) for row in paged(query, pagination_parameters, scalars=False)]


@blp.route("/extensions/<int:extension_id>")
class ExtensionById(MethodView):
    @blp.etag
    @blp.response(200, ExtensionSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit's request.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such request.")
    def get(self, extension_id: int) -> dict[str, Any]:
        """One extension request and its decision."""
        ext: ExtensionRequest = get_or_404(ExtensionRequest, extension_id)
        load_assignment(ext.milestone.assignment_id)
        return _one(extension_id)


@blp.route("/milestones/<int:milestone_id>/extensions")
class MilestoneExtensions(MethodView):
    @blp.arguments(NewExtensionArgs)
    @blp.response(201, ExtensionSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit's milestone.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such milestone.")
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def post(
        self, args: dict[str, Any], milestone_id: int
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Ask the office to move a milestone to a later date (its unit or the office); the
        original date stays on record."""
        milestone: Milestone = get_or_404(Milestone, milestone_id)
        load_assignment(milestone.assignment_id, need="edit")
        try:
            ext = services.request_extension(
                milestone,
                actor=api_user(),
                reason=args["reason"],
                requested_due_on=args["requested_due_on"],
                expected_version=args.get("version"),
            )
        except DomainError as error:
            fail(error)
        extension_id = ext.id
        db.session.commit()
        location = url_for("api_tracking.ExtensionById", extension_id=extension_id)
        return _one(extension_id), {"Location": location}


@blp.route("/extensions/<int:extension_id>/decision")
class ExtensionDecision(MethodView):
    @blp.arguments(ExtensionDecisionArgs)
    @blp.response(200, ExtensionSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Only the office decides.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such request.")
    def post(self, args: dict[str, Any], extension_id: int) -> dict[str, Any]:
        """Approve (the milestone's date moves) or reject (with the reason) a pending request:
        the office only."""
        ext: ExtensionRequest = get_or_404(ExtensionRequest, extension_id)
        try:
            services.decide_extension(
                ext,
                actor=api_user(),
                approve=args["decision"] == "approve",
                reason=args.get("reason"),
            )
        except DomainError as error:
            fail(error)
        db.session.commit()
        return _one(extension_id)
