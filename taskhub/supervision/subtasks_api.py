"""JSON API of decompose (分解) and co-handle (协办): sub-tasks of an assignment with the
parent's roll-up, the sub-task unit's acknowledgement and reports, the two review stages,
closing with a reason, the plan's second-review setting, and the co-handling parts (协办意见).
The rules live in taskhub.supervision.subtasks and taskhub.supervision.cohandle."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, commit_or_fail, get_or_404, paged
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.supervision import cohandle, subtasks
from taskhub.supervision.models import CoReport, Subtask, SubtaskReport
from taskhub.supervision.subtask_schemas import (
    CoReportArgs,
    CoReportSchema,
    CoRoundSchema,
    RollupSchema,
    SubtaskCloseArgs,
    SubtaskCreateArgs,
    SubtaskListArgs,
    SubtaskReportArgs,
    SubtaskReportSchema,
    SubtaskReviewArgs,
    SubtaskSchema,
    SubtaskSettingArgs,
)
from taskhub.tracking.models import Assignment

blp = core.blueprint("subtasks", __name__, description="Decompose and co-handle (分解 / 协办).")

_ID = "int(min=1, max=2147483647)"


def _assignment(assignment_id: int) -> Assignment:
    found: Assignment = get_or_404(Assignment, assignment_id)
    if not found.can_view(api_user()):
        core.abort(403, "This task is another unit's.")
    return found


def _subtask(subtask_id: int) -> Subtask:
    found: Subtask = get_or_404(Subtask, subtask_id)
    if not subtasks.can_view(found, api_user()):
        core.abort(403, "A unit sees only the sub-tasks it handles or leads.")
    return found


@blp.route(f"/assignments/<{_ID}:assignment_id>/subtasks")
class AssignmentSubtasks(MethodView):
    @blp.response(200, RollupSchema)
    def get(self, assignment_id: int) -> subtasks.Rollup:
        """The task's sub-tasks, each with its part, and the parent's rolled-up progress."""
        return subtasks.rollup(_assignment(assignment_id))

    @blp.arguments(SubtaskCreateArgs)
    @blp.response(201, SubtaskSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Refused (unit, completed).")
    def post(self, args: dict[str, Any], assignment_id: int) -> Subtask:
        """分解: the task's unit (or the office) adds a sub-task; audited, the unit is told."""
        found: Assignment = get_or_404(Assignment, assignment_id)
        if not subtasks.can_decompose(found, api_user()):
            core.abort(403, "Only the task's unit or the office decomposes it.")
        return commit_or_fail(
            lambda: subtasks.create(
                found,
                actor=api_user(),
                text=args["text"],
                unit_id=args["unit_id"],
                department=args["department"],
                target=args["target"],
                weight=args["weight"],
                milestones=[(m["title"], m["due_on"]) for m in args["milestones"]],
            )
        )


@blp.route("/subtasks")
class Subtasks(MethodView):
    @blp.arguments(SubtaskListArgs, location="query")
    @blp.response(200, SubtaskSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Subtask]:
        """Sub-tasks, newest first (a unit's token: those it handles or leads)."""
        query = subtasks.visible(api_user())
        if args.get("status"):
            query = query.where(Subtask.status == args["status"])
        return paged(query, pagination_parameters)


@blp.route(f"/subtasks/<{_ID}:subtask_id>")
class SubtaskOne(MethodView):
    @blp.response(200, SubtaskSchema)
    def get(self, subtask_id: int) -> Subtask:
        """One sub-task with its milestones."""
        return _subtask(subtask_id)


@blp.route(f"/subtasks/<{_ID}:subtask_id>/acknowledge")
class SubtaskAcknowledge(MethodView):
    @blp.response(200, SubtaskSchema)
    def post(self, subtask_id: int) -> Subtask:
        """签收 by the sub-task's unit."""
        found = _subtask(subtask_id)
        if not subtasks.owns(found, api_user()):
            core.abort(403, "Only the sub-task's unit acknowledges it.")
        commit_or_fail(lambda: subtasks.acknowledge(found, actor=api_user()))
        return found


@blp.route(f"/subtasks/<{_ID}:subtask_id>/reports")
class SubtaskReports(MethodView):
    @blp.response(200, SubtaskReportSchema(many=True))
    def get(self, subtask_id: int) -> list[SubtaskReport]:
        """The sub-task's reports, oldest first."""
        return list(_subtask(subtask_id).reports)

    @blp.arguments(SubtaskReportArgs)
    @blp.response(201, SubtaskReportSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Refused (pending, ended).")
    def post(self, args: dict[str, Any], subtask_id: int) -> SubtaskReport:
        """The sub-task's unit reports (evidence files: on the page)."""
        found = _subtask(subtask_id)
        if not subtasks.owns(found, api_user()):
            core.abort(403, "Only the sub-task's unit reports on it.")
        return commit_or_fail(lambda: subtasks.submit_report(found, actor=api_user(), **args))


@blp.route(f"/subtask-reports/<{_ID}:report_id>/review")
class SubtaskReportReview(MethodView):
    @blp.arguments(SubtaskReviewArgs)
    @blp.response(200, SubtaskReportSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Already reviewed; no reason.")
    def post(self, args: dict[str, Any], report_id: int) -> SubtaskReport:
        """Accept or return: the lead unit first, the office second when the plan says so."""
        found: SubtaskReport = get_or_404(SubtaskReport, report_id)
        if not subtasks.can_review(found, api_user()):
            core.abort(403, "Not this report's reviewer at this stage.")
        return commit_or_fail(
            lambda: subtasks.review(found, actor=api_user(), today=office_today(), **args)
        )


@blp.route(f"/subtasks/<{_ID}:subtask_id>/close")
class SubtaskClose(MethodView):
    @blp.arguments(SubtaskCloseArgs)
    @blp.response(200, SubtaskSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Already ended.")
    def post(self, args: dict[str, Any], subtask_id: int) -> Subtask:
        """The lead unit (or the office) closes an open sub-task with a reason; audited."""
        found: Subtask = get_or_404(Subtask, subtask_id)
        if not subtasks.can_decompose(found.assignment, api_user()):
            core.abort(403, "Only the task's unit or the office closes a sub-task.")
        return commit_or_fail(
            lambda: subtasks.close(found, actor=api_user(), reason=args["reason"])
        )


@blp.route("/plans/<code>/subtask-settings")
class PlanSubtaskSettings(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(SubtaskSettingArgs)
    @blp.response(200, SubtaskSettingArgs)
    def put(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Whether sub-task reports go to the office after the lead unit (default: no)."""
        from taskhub.cadence.api import _plan_or_404

        plan = _plan_or_404(code)
        commit_or_fail(
            lambda: subtasks.set_second_review(
                plan, actor=api_user(), enabled=args["second_review"]
            )
        )
        return {"second_review": plan.subtask_second_review}


@blp.route(f"/assignments/<{_ID}:assignment_id>/co-reports")
class AssignmentCoReports(MethodView):
    @blp.response(200, CoRoundSchema)
    def get(self, assignment_id: int) -> cohandle.Round:
        """The current round of the lead unit's task: parts given and missing (协办意见)."""
        found: Assignment = get_or_404(Assignment, assignment_id)
        if not cohandle.can_view(found, api_user()):
            core.abort(403, "This task is another unit's.")
        return cohandle.round_of(found, office_today())

    @blp.arguments(CoReportArgs)
    @blp.response(201, CoReportSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="No round open; completed.")
    def post(self, args: dict[str, Any], assignment_id: int) -> CoReport:
        """A co-handling unit gives (or replaces) its part of the current round."""
        found: Assignment = get_or_404(Assignment, assignment_id)
        if not cohandle.can_add(found, api_user()):
            core.abort(403, "Only a co-handling unit of the task adds its part.")
        return commit_or_fail(
            lambda: cohandle.submit(found, actor=api_user(), text=args["text"],
                                    today=office_today())
        )  # fmt: skip
