"""Computed results of a period: every unit's scores, the ranking, one unit's explanation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.views import MethodView

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.scoring import services
from taskhub.scoring.api import blp
from taskhub.scoring.api.common import (
    check_period,
    fail,
    first_use_retried,
    load_plan,
    page_of,
    sort_rows,
)
from taskhub.scoring.engine import display
from taskhub.scoring.schemas import (
    MAX_ID,
    ExplanationSchema,
    PeriodQueryArgs,
    RankingArgs,
    RankingSchema,
    ScoreArgs,
    ScoreSchema,
)
from taskhub.scoring.schemes import engine_of, previous_code
from taskhub.units.models import Unit


def _ranked(code: str, args: dict[str, Any]) -> tuple[str, list[services.Ranked], int | None, int]:
    """The asked period, its units' results (those of ``args["unit"]`` if given; a closed
    period: its latest snapshot), its revision and the scheme's display rounding."""
    plan = load_plan(code)
    period = check_period(plan, args["period"])
    try:
        rows, snapshot = first_use_retried(lambda: services.results(plan, period))
        rounding = engine_of(plan).rounding
    except DomainError as error:
        fail(error)
    db.session.commit()  # the period is recorded on first use, as on the rankings page
    if "unit" in args:
        wanted = set(args["unit"])
        rows = [r for r in rows if r.unit_id in wanted]
    return period, rows, (snapshot.revision if snapshot else None), rounding


def _row(period: str, revision: int | None, rounding: int, r: services.Ranked) -> dict[str, Any]:
    """What the lists of scores and the ranking show of every unit's result."""
    return {
        "period": period,
        "revision": revision,
        "unit": {"id": r.unit_id, "name": r.unit_name},
        "rank": r.rank,
        "previous_rank": r.previous_rank,
        "change": r.change,
        "total": r.total,
        "display_total": display(r.total, rounding),
    }


@blp.route("/plans/<code>/scores")
class Scores(MethodView):
    @blp.arguments(ScoreArgs, location="query")
    @blp.response(200, ScoreSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """Every unit's total, components, area scores and rank in a period.

        As on the rankings page, every role sees every unit's row: rankings are published.
        """
        period, ranked, revision, rounding = _ranked(code, args)
        rows = [
            {**_row(period, revision, rounding, r), "components": r.components, "areas": r.areas}
            for r in ranked
        ]
        keys: dict[str, Callable[..., Any]] = {
            "rank": lambda r: r["rank"],
            "total": lambda r: r["total"],
            "unit": lambda r: r["unit"]["name"],
        }
        return page_of(sort_rows(rows, args["sort"], keys), pagination_parameters)


@blp.route("/plans/<code>/rankings")
class Rankings(MethodView):
    @blp.arguments(RankingArgs, location="query")
    @blp.response(200, RankingSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """The period's ranking (standard competition ranking: 1, 2, 2, 4) with the change
        against the previous period."""
        period, ranked, revision, rounding = _ranked(code, args)
        rows = [
            {**_row(period, revision, rounding, r), "previous_period": previous_code(period)}
            for r in ranked
            if "top" not in args or (r.rank is not None and r.rank <= args["top"])
        ]
        keys: dict[str, Callable[..., Any]] = {
            "rank": lambda r: r["rank"],
            "change": lambda r: r["change"],
            "unit": lambda r: r["unit"]["name"],
        }
        return page_of(sort_rows(rows, args["sort"], keys), pagination_parameters)


@blp.route("/plans/<code>/units/<int:unit_id>/explanation")
class Explanation(MethodView):
    @blp.etag
    @blp.arguments(PeriodQueryArgs, location="query")
    @blp.response(200, ExplanationSchema)
    def get(self, args: dict[str, Any], code: str, unit_id: int) -> dict[str, Any]:
        """Every contribution to one unit's total (item, points, fraction, source, weight,
        value); they add up to the total exactly. A unit's token: its own unit only."""
        plan = load_plan(code)
        user = api_user()
        if user.role == "unit" and user.unit_id != unit_id:
            core.abort(403, "A unit sees only its own unit's explanation.")
        if unit_id > MAX_ID or db.session.get(Unit, unit_id) is None:
            core.abort(404, f"There is no unit {unit_id}.")
        period = check_period(plan, args["period"])
        try:
            data = first_use_retried(lambda: services.explain(plan, unit_id, period))
            rounding = engine_of(plan).rounding
        except DomainError as error:
            fail(error)
        db.session.commit()
        return {
            "plan": plan.code,
            "period": period,
            "revision": data.get("revision"),
            "unit": {"id": data["unit_id"], "name": data["unit"]},
            "total": data["total"],
            "display_total": display(data["total"], rounding),
            "contributions": data["contributions"],
        }
