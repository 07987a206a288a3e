"""JSON API of hand over and send back (转办 / 退回): a unit asks to send its task back, the
office lists the requests and decides. The rules live in taskhub.supervision.handover."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, commit_or_fail, get_or_404, paged
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.supervision import handover
from taskhub.supervision.models import HandoverRequest
from taskhub.supervision.schemas import (
    HandoverAskArgs,
    HandoverDecideArgs,
    HandoverListArgs,
    HandoverRequestSchema,
)
from taskhub.tracking.models import Assignment

blp = core.blueprint(
    "handover-requests", __name__, description="Hand over and send back (转办 / 退回)."
)

_ID = "int(min=1, max=2147483647)"


@blp.route(f"/assignments/<{_ID}:assignment_id>/handover-requests")
class AssignmentHandover(MethodView):
    @blp.arguments(HandoverAskArgs)
    @blp.response(201, HandoverRequestSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Refused (pending, completed).")
    def post(self, args: dict[str, Any], assignment_id: int) -> HandoverRequest:
        """The assignment's unit asks to send it back (退回) with a reason."""
        assignment: Assignment = get_or_404(Assignment, assignment_id)
        if not handover.can_ask(assignment, api_user()):
            core.abort(403, "Only the task's unit asks to send it back.")
        return commit_or_fail(
            lambda: handover.ask(assignment, actor=api_user(), reason=args["reason"])
        )


@blp.route("/handover-requests")
class HandoverRequests(MethodView):
    @blp.arguments(HandoverListArgs, location="query")
    @blp.response(200, HandoverRequestSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[HandoverRequest]:
        """Requests, newest first (a unit's token: those it asked or received)."""
        query = handover.query_requests(viewer=api_user(), state=args.get("state"))
        return paged(query, pagination_parameters)


@blp.route(f"/handover-requests/<{_ID}:request_id>/decide")
class HandoverDecide(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(HandoverDecideArgs)
    @blp.response(200, HandoverRequestSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Refused (decided, unit).")
    def post(self, args: dict[str, Any], request_id: int) -> HandoverRequest:
        """The office hands the task over (转办) or rejects the request (a note is required)."""
        found: HandoverRequest = get_or_404(HandoverRequest, request_id)
        return commit_or_fail(
            lambda: handover.decide(
                found,
                actor=api_user(),
                reassign=args["decision"] == "reassign",
                to_unit_id=args.get("to_unit_id"),
                note=args.get("note"),
                restart_clock=args["restart_clock"],
                today=office_today(),
            )
        )
