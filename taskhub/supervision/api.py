"""JSON API of escalation notices (督办单): list, issue, answer, close or withdraw, the Word
notice, and each city's levels. Units read and answer their own notices; the office issues and
closes; viewers and assessors read."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from werkzeug.wrappers import Response

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, commit_or_fail, get_or_404, paged
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.reports.downloads import DOCX
from taskhub.supervision import services
from taskhub.supervision.models import Escalation, EscalationLevel
from taskhub.supervision.schemas import (
    ESCALATION_SORTS,
    EscalationAnswerArgs,
    EscalationCloseArgs,
    EscalationIssueArgs,
    EscalationLevelPatchArgs,
    EscalationLevelSchema,
    EscalationListArgs,
    EscalationSchema,
)
from taskhub.tracking.models import Assignment

blp = core.blueprint("escalations", __name__, description="Escalation notices (督办单).")

_ID = "int(min=1, max=2147483647)"
_FILE = {"type": "string", "format": "binary"}
_SORT_COLUMNS = {
    "id": Escalation.id,
    "issued_at": Escalation.issued_at,
    "answer_due_on": Escalation.answer_due_on,
}
assert set(_SORT_COLUMNS) == set(ESCALATION_SORTS)


def _readable(escalation_id: int) -> Escalation:
    found: Escalation = get_or_404(Escalation, escalation_id)
    if not services.can_view(found, api_user()):
        core.abort(403, "This notice was sent to another unit.")
    return found


@blp.route("/escalations/")
class Escalations(MethodView):
    @blp.arguments(EscalationListArgs, location="query")
    @blp.response(200, EscalationSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Escalation]:
        """List notices, newest first (a unit's token: its own)."""
        filters = services.Filters(
            level=args.get("level"),
            state=args.get("state"),
            answer_overdue=bool(args.get("answer_overdue")),
            unit_id=args.get("unit_id"),
            assignment_id=args.get("assignment_id"),
            plan_id=args.get("plan_id"),
        )
        query = services.query_escalations(filters, viewer=api_user(), today=office_today())
        query = apply_sort(query.order_by(None), args["sort"], _SORT_COLUMNS, Escalation.id)
        return paged(query, pagination_parameters)

    @core.roles(*STAFF)
    @blp.arguments(EscalationIssueArgs)
    @blp.response(201, EscalationSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Refused (level, state).")
    def post(self, args: dict[str, Any]) -> Escalation:
        """Issue a notice of a level on an assignment (the office); numbered 督办〔year〕N号."""
        assignment: Assignment = get_or_404(Assignment, args["assignment_id"])
        return commit_or_fail(
            lambda: services.issue(
                assignment,
                services.level_by_code(services.city_of(assignment), args["level"]),
                actor=api_user(),
                today=office_today(),
                required_action=args.get("required_action"),
            )
        )


@blp.route(f"/escalations/<{_ID}:escalation_id>")
class EscalationById(MethodView):
    @blp.response(200, EscalationSchema)
    def get(self, escalation_id: int) -> Escalation:
        """One notice."""
        return _readable(escalation_id)


@blp.route(f"/escalations/<{_ID}:escalation_id>/answer")
class EscalationAnswer(MethodView):
    @blp.arguments(EscalationAnswerArgs)
    @blp.response(200, EscalationSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not awaiting an answer.")
    def post(self, args: dict[str, Any], escalation_id: int) -> Escalation:
        """The unit's answer (反馈); ``is_answered_late`` tells whether it came after the date."""
        escalation = _readable(escalation_id)
        return commit_or_fail(
            lambda: services.answer(
                escalation, actor=api_user(), text=args["answer"], today=office_today()
            )
        )


@blp.route(f"/escalations/<{_ID}:escalation_id>/close")
class EscalationClose(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(EscalationCloseArgs)
    @blp.response(200, EscalationSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Already closed or withdrawn.")
    def post(self, args: dict[str, Any], escalation_id: int) -> Escalation:
        """Close the notice (销号), or withdraw it with ``withdraw: true`` (the office)."""
        escalation = _readable(escalation_id)
        end = services.withdraw if args["withdraw"] else services.close
        return commit_or_fail(lambda: end(escalation, actor=api_user(), note=args.get("note")))


@blp.route(f"/escalations/<{_ID}:escalation_id>/notice.docx")
class EscalationNotice(MethodView):
    @blp.response(200, _FILE, content_type=DOCX, description="The notice as Word.")
    def get(self, escalation_id: int) -> Response:
        """The formal notice (督办通知单) as a Word document in official-document layout."""
        response = services.notice_file(_readable(escalation_id))
        if response is None:
            core.abort(404, "Word export is not available here (python-docx is not installed).")
        result: Response = response
        return result


@blp.route(f"/cities/<{_ID}:city_id>/escalation-levels")
class EscalationLevels(MethodView):
    @blp.response(200, EscalationLevelSchema(many=True))
    def get(self, city_id: int) -> list[EscalationLevel]:
        """A city's escalation ladder by rank (the defaults until the office changes them)."""
        from taskhub.units.models import City

        get_or_404(City, city_id)
        # First use stores the default ladder (idempotent), so its levels have ids.
        return commit_or_fail(lambda: services.ensure_levels(city_id))


@blp.route(f"/cities/<{_ID}:city_id>/escalation-levels/<code>")
class EscalationLevelByCode(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(EscalationLevelPatchArgs)
    @blp.response(200, EscalationLevelSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Invalid days or name.")
    def patch(self, args: dict[str, Any], city_id: int, code: str) -> EscalationLevel:
        """Change a level's name, trigger, answer days, recipients or enabled flag (the office)."""
        from taskhub.units.models import City

        get_or_404(City, city_id)

        def change() -> EscalationLevel:
            level = next((lv for lv in services.ensure_levels(city_id) if lv.code == code), None)
            if level is None:
                core.abort(404, f"The city has no escalation level {code!r}.")
            return services.update_level(level, actor=api_user(), **args)

        return commit_or_fail(change)
