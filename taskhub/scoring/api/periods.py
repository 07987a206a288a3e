"""The plan's scoring periods with their closed state and snapshot revisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask.views import MethodView

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user
from taskhub.core.db import db, lock
from taskhub.core.errors import DomainError
from taskhub.core.permissions import STAFF
from taskhub.scoring import services
from taskhub.scoring.api import blp
from taskhub.scoring.api.common import (
    check_period,
    fail,
    load_plan,
    page_of,
    plan_periods,
    sort_rows,
)
from taskhub.scoring.schemas import PERIOD_PATH, PeriodArgs, PeriodSchema, PeriodUpdateArgs
from taskhub.scoring.schemes import get_period


@blp.route("/plans/<code>/periods")
class Periods(MethodView):
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, PeriodSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """The plan's periods with their closed state and snapshot revisions."""
        rows = plan_periods(load_plan(code))
        if "kind" in args:
            rows = [r for r in rows if r["kind"] == args["kind"]]
        if "closed" in args:
            rows = [r for r in rows if r["is_closed"] is args["closed"]]
        keys: dict[str, Callable[..., Any]] = {
            "starts_on": lambda r: (r["starts_on"], r["ends_on"]),
            "code": lambda r: r["code"],
        }
        return page_of(sort_rows(rows, args["sort"], keys), pagination_parameters)


#: If-Match as an option: clients that send it get a compare-and-set, others the last word.
IF_MATCH_OPTIONAL = {
    **core.IF_MATCH,
    "required": False,
    "description": "The period's ETag as last read (GET): optional; with another one the "
    "answer is 412 (someone changed the period since) and nothing is saved.",
}
STALE_IF_MATCH = "If-Match names an ETag the period no longer has (changed since)."


@blp.route("/plans/<code>/periods/<period>", parameters=[PERIOD_PATH])
class PeriodByCode(MethodView):
    @blp.etag
    @blp.response(200, PeriodSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def get(self, code: str, period: str) -> dict[str, Any]:
        """One period: closed or open, and its snapshot revisions."""
        plan = load_plan(code)
        period = check_period(plan, period)
        return next(p for p in plan_periods(plan) if p["code"] == period)

    @core.roles(*STAFF)
    @blp.arguments(PeriodUpdateArgs)
    @blp.response(200, PeriodSchema)
    @blp.alt_response(412, schema=core.ErrorSchema, description=STALE_IF_MATCH)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    @blp.doc(parameters=[IF_MATCH_OPTIONAL])
    def patch(self, args: dict[str, Any], code: str, period: str) -> dict[str, Any]:
        """Set or correct the bulletin's document number (文号) of the period (office only;
        audited). Null or blank clears it. With the period's ETag in If-Match, the change is
        refused (412) when someone changed the period since it was read."""
        plan = load_plan(code)
        period = check_period(plan, period)
        # The period's row lock before the check: of simultaneous changes sent with one
        # ETag exactly one passes (the others see its 文号 and get 412).
        found = get_period(plan, period)
        assert found is not None  # created on first use
        lock(found)
        if request.if_match:
            current = next(p for p in plan_periods(plan) if p["code"] == period)
            blp.check_etag(current, PeriodSchema)
        try:
            services.set_doc_number(plan, period, args.get("doc_number"), actor=api_user())
        except DomainError as error:
            fail(error)
        db.session.commit()
        return next(p for p in plan_periods(plan) if p["code"] == period)
