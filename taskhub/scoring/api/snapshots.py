"""Frozen period snapshots: their revisions, one revision as published, and closing a period."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from taskhub.accounts.models import User
from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.permissions import STAFF
from taskhub.scoring import services
from taskhub.scoring.api import blp
from taskhub.scoring.api.common import check_period, fail, load_plan, ref, rows_page
from taskhub.scoring.engine import dec, display
from taskhub.scoring.models import Period, Snapshot
from taskhub.scoring.schemas import (
    MAX_ID,
    PERIOD_PATH,
    SNAPSHOT_SORTS,
    ClosePeriodArgs,
    SnapshotArgs,
    SnapshotDetailSchema,
    SnapshotSchema,
)
from taskhub.scoring.schemes import engine_of


def _snapshot_rows() -> Select[Any]:
    latest = (
        select(Snapshot.period_id, func.max(Snapshot.revision).label("latest"))
        .group_by(Snapshot.period_id)
        .subquery()
    )
    return (
        select(
            Snapshot.id,
            Period.code.label("period"),
            Snapshot.revision,
            latest.c.latest,
            Snapshot.reason,
            Snapshot.created_at,
            Snapshot.created_by_id,
            User.display_name.label("created_by_name"),
        )
        .join(Period, Period.id == Snapshot.period_id)
        .join(latest, latest.c.period_id == Snapshot.period_id)
        .outerjoin(User, User.id == Snapshot.created_by_id)
    )


def _snapshot_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "period": r.period,
        "revision": r.revision,
        "is_latest": r.revision == r.latest,
        "reason": r.reason,
        "created_at": r.created_at,
        "created_by": ref(r.created_by_id, r.created_by_name),
    }


@blp.route("/plans/<code>/snapshots")
class Snapshots(MethodView):
    @blp.arguments(SnapshotArgs, location="query")
    @blp.response(200, SnapshotSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """Every frozen revision of the plan's closed periods (the latest is what they show)."""
        plan = load_plan(code)
        query = _snapshot_rows().where(Period.plan_id == plan.id)
        if "period" in args:
            query = query.where(Period.code == check_period(plan, args["period"]))
        columns = {
            "created_at": Snapshot.created_at,
            "period": Period.starts_on,
            "revision": Snapshot.revision,
        }
        assert set(columns) == set(SNAPSHOT_SORTS)
        query = apply_sort(query, args["sort"], columns, Snapshot.id)
        return [_snapshot_dict(r) for r in rows_page(query, pagination_parameters)]


@blp.route("/plans/<code>/periods/<period>/snapshots/<int:revision>", parameters=[PERIOD_PATH])
class SnapshotByRevision(MethodView):
    @blp.etag
    @blp.response(200, SnapshotDetailSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def get(self, code: str, period: str, revision: int) -> dict[str, Any]:
        """One revision as it was published: every unit's total, components, areas and rank."""
        plan = load_plan(code)
        period = check_period(plan, period)
        row = (
            None
            if revision > MAX_ID
            else db.session.execute(
                _snapshot_rows().where(
                    Period.plan_id == plan.id, Period.code == period, Snapshot.revision == revision
                )
            ).one_or_none()
        )
        if row is None:
            core.abort(404, f"Period {period} of plan {plan.code} has no revision {revision}.")
        data = db.session.scalar(select(Snapshot.data).where(Snapshot.id == row.id)) or {}
        rounding = engine_of(plan).rounding

        def decimals(values: dict[str, Any]) -> dict[str, Any]:
            return {k: (dec(v) if v is not None else None) for k, v in values.items()}

        units = [
            {
                "period": period,
                "revision": revision,
                "unit": {"id": u["unit_id"], "name": u["unit"]},
                "rank": u["rank"],
                "previous_rank": u["previous_rank"],
                "change": u["change"],
                "total": dec(u["total"]),
                "display_total": display(dec(u["total"]), rounding),
                "components": decimals(u["components"]),
                "areas": decimals(u.get("areas", {})),
            }
            for u in data.get("units", [])
        ]
        return {**_snapshot_dict(row), "units": units}


@blp.route("/plans/<code>/periods/<period>/close", parameters=[PERIOD_PATH])
class ClosePeriod(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(ClosePeriodArgs, required=False)
    @blp.response(201, SnapshotSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Closed by someone else.")
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def post(self, args: dict[str, Any], code: str, period: str) -> dict[str, Any]:
        """Close the period: freeze every unit's score, rank and explanation in a snapshot.

        Closing a closed period publishes a correction: a new revision, which needs a reason.
        """
        plan = load_plan(code)
        period = check_period(plan, period)
        try:
            # The revision is checked under the period's lock, after a concurrent close.
            snapshot = services.close_period(
                plan,
                period,
                actor=api_user(),
                reason=args.get("reason"),
                expected_revision=args.get("revision"),
                doc_number=args.get("doc_number"),
            )
        except DomainError as error:
            fail(error)
        except IntegrityError:  # two closes at once: the other one got this revision
            db.session.rollback()
            core.abort(409, "The period was closed by someone else just now.", code="stale")
        snapshot_id = snapshot.id
        db.session.commit()
        row = db.session.execute(_snapshot_rows().where(Snapshot.id == snapshot_id)).one()
        return _snapshot_dict(row)
