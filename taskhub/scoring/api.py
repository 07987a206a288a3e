"""JSON API of scoring (see taskhub.core.api for authentication, errors and paging).

The rules are the scoring services' (taskhub.scoring.services); these views load, authorise,
parse, call them and answer. Who may do what follows the pages in taskhub.scoring.views:
every signed-in role sees the rankings (as published), a unit sees only its own unit's
explanation and entered scores, the office and lead assessment units score items, and the
office enters unit-level components and closes periods.

Results are computed for the whole plan at once (one SQL roll-up), so their lists are paged in
Python after the roll-up. Entered scores carry a ``version`` (how many times they were set, from
their audit records) so concurrent changes are detected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar, cast

from flask.views import MethodView
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core import api as core
from taskhub.core.api import PAGE, abort_for, api_user, apply_sort, paged
from taskhub.core.db import db
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.permissions import READ_ALL, STAFF
from taskhub.plans.models import Item, Plan
from taskhub.reports.services import period_codes, scored_kinds
from taskhub.scoring import services
from taskhub.scoring.engine import dec, display
from taskhub.scoring.models import ComponentScore, ItemScore, Period, Snapshot
from taskhub.scoring.schemas import (
    COMPONENT_SCORE_SORTS,
    ITEM_SCORE_SORTS,
    MAX_ID,
    SNAPSHOT_SORTS,
    ClosePeriodArgs,
    ComponentScoreArgs,
    ComponentScoreInput,
    ComponentScoreSchema,
    ExplanationSchema,
    ItemScoreArgs,
    ItemScoreInput,
    ItemScoreSchema,
    PeriodArgs,
    PeriodQueryArgs,
    PeriodSchema,
    RankingArgs,
    RankingSchema,
    ScoreArgs,
    ScoreSchema,
    SnapshotArgs,
    SnapshotDetailSchema,
    SnapshotSchema,
)
from taskhub.scoring.schemes import engine_of, get_period, parse_period_code, previous_code
from taskhub.tracking.models import Assignment
from taskhub.units.models import Unit

blp = core.blueprint(
    "scoring", __name__, description="Scores, explanations, rankings and period snapshots."
)

T = TypeVar("T")

#: Who may score items (the service then requires the office or the item's lead assessor).
SCORERS = ("admin", "office", "assessor")

_FIELD = re.compile(r"^[a-z_]+$")


# -- loading and checking ----------------------------------------------------------------------


def load_plan(code: str) -> Plan:
    """The plan with this code, or 404."""
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        core.abort(404, f"There is no plan {code!r}.")
    return plan


def fail(error: DomainError) -> NoReturn:
    """Roll back and answer a service's refusal.

    The scoring services name the offending input fields in ``problems`` (["value"]), so
    those become field errors rather than general ones.
    """
    db.session.rollback()
    problems = error.problems if isinstance(error, ValidationFailed) else []
    if problems and all(_FIELD.match(p) for p in problems):
        core.abort(422, error.message, errors={p: [error.message] for p in problems})
    abort_for(error)


def plan_periods(plan: Plan) -> list[dict[str, Any]]:
    """The plan's periods: those of its year for the kinds it is scored by, plus any other
    recorded ones of those kinds, each with its closed state and snapshot revisions."""
    kinds = scored_kinds(plan)
    recorded = {
        p.code: p for p in db.session.scalars(select(Period).where(Period.plan_id == plan.id))
    }
    revisions: dict[int, list[int]] = {}
    if recorded:
        query = (
            select(Snapshot.period_id, Snapshot.revision)
            .join(Period, Period.id == Snapshot.period_id)
            .where(Period.plan_id == plan.id)
            .order_by(Snapshot.period_id, Snapshot.revision)
        )
        for period_id, revision in db.session.execute(query):
            revisions.setdefault(period_id, []).append(revision)
    codes = set(period_codes(plan)) | {c for c, p in recorded.items() if p.kind in kinds}
    out = []
    for code in codes:
        kind, starts_on, ends_on = parse_period_code(code)
        period = recorded.get(code)
        revs = revisions.get(period.id, []) if period else []
        out.append(
            {
                "code": code,
                "kind": kind,
                "starts_on": starts_on,
                "ends_on": ends_on,
                "is_closed": bool(period and period.is_closed),
                "closed_at": period.closed_at if period else None,
                "revision": revs[-1] if revs else None,
                "revisions": revs,
            }
        )
    out.sort(key=lambda p: (p["starts_on"], p["ends_on"], p["code"]))
    return out


def check_period(plan: Plan, code: str, *, field: str = "period") -> str:
    """A period of the plan: 422 for something that is not a period code, 404 for a period
    the plan is not scored by (another kind, or a year it was never scored in)."""
    code = code.strip()
    try:
        parse_period_code(code)
    except (ValidationFailed, ValueError):  # ValueError: a year such as 0000
        message = f"{code!r} is not a period code: write 2022, 2022-H1, 2022-H2 or 2021-11."
        core.abort(422, message, errors={field: [message]})
    known = [p["code"] for p in plan_periods(plan)]
    if code not in known:
        listed = ", ".join(known) or "none: it has no scoring scheme"
        core.abort(404, f"Plan {plan.code} has no period {code} (its periods: {listed}).")
    return code


def first_use_retried(compute: Callable[[], T]) -> T:
    """Run a computation that records its period on first use; two first uses at once would
    collide on the unique (plan, code), so the loser runs again over the winner's row."""
    try:
        return compute()
    except IntegrityError:
        db.session.rollback()
        return compute()


def page_of(rows: Sequence[T], pagination: Any) -> list[T]:
    """One page of rows computed in Python; sets the total for the X-Pagination header."""
    pagination.item_count = len(rows)
    start = pagination.first_item
    return list(rows[start : start + pagination.page_size])


def rows_page(query: Select[Any], pagination: Any) -> list[Any]:
    """One page of a select's rows (core.paged), or none for a page far past any list: an
    OFFSET beyond the database's integers would fail instead of finding nothing."""
    if pagination.first_item > MAX_ID:
        total = select(func.count()).select_from(query.order_by(None).subquery())
        pagination.item_count = db.session.scalar(total) or 0
        return []
    return paged(query, pagination, scalars=False)


def sort_rows(rows: list[dict[str, Any]], sort: str, keys: dict[str, Callable[..., Any]]) -> list:
    """Sort by a whitelisted key (``-key`` descending); rows without a value come last.

    Python's sort is stable both ways, so ties keep the services' order (rank, then name).
    """
    key = keys[sort.lstrip("-")]
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=key, reverse=sort.startswith("-"))
    return present + missing


# -- periods -------------------------------------------------------------------------------------


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


@blp.route("/plans/<code>/periods/<period>")
class PeriodByCode(MethodView):
    @blp.etag
    @blp.response(200, PeriodSchema)
    def get(self, code: str, period: str) -> dict[str, Any]:
        """One period: closed or open, and its snapshot revisions."""
        plan = load_plan(code)
        period = check_period(plan, period)
        return next(p for p in plan_periods(plan) if p["code"] == period)


# -- results -------------------------------------------------------------------------------------


def _results(plan: Plan, period: str) -> tuple[list[services.Ranked], int | None, int]:
    """Every unit's result (a closed period: its latest snapshot), its revision and the
    scheme's display rounding."""
    try:
        rows, snapshot = first_use_retried(lambda: services.results(plan, period))
        rounding = engine_of(plan).rounding
    except DomainError as error:
        fail(error)
    db.session.commit()  # the period is recorded on first use, as on the rankings page
    return rows, (snapshot.revision if snapshot else None), rounding


def _unit_filter(rows: list[services.Ranked], args: dict[str, Any]) -> list[services.Ranked]:
    if "unit" in args:
        wanted = set(args["unit"])
        rows = [r for r in rows if r.unit_id in wanted]
    return rows


@blp.route("/plans/<code>/scores")
class Scores(MethodView):
    @blp.arguments(ScoreArgs, location="query")
    @blp.response(200, ScoreSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """Every unit's total, components, area scores and rank in a period.

        As on the rankings page, every role sees every unit's row: rankings are published.
        """
        plan = load_plan(code)
        period = check_period(plan, args["period"])
        ranked, revision, rounding = _results(plan, period)
        rows = [
            {
                "period": period,
                "revision": revision,
                "unit": {"id": r.unit_id, "name": r.unit_name},
                "rank": r.rank,
                "previous_rank": r.previous_rank,
                "change": r.change,
                "total": r.total,
                "display_total": display(r.total, rounding),
                "components": r.components,
                "areas": r.areas,
            }
            for r in _unit_filter(ranked, args)
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
        plan = load_plan(code)
        period = check_period(plan, args["period"])
        ranked, revision, rounding = _results(plan, period)
        rows = [
            {
                "period": period,
                "previous_period": previous_code(period),
                "revision": revision,
                "rank": r.rank,
                "previous_rank": r.previous_rank,
                "change": r.change,
                "unit": {"id": r.unit_id, "name": r.unit_name},
                "total": r.total,
                "display_total": display(r.total, rounding),
            }
            for r in _unit_filter(ranked, args)
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


# -- entered scores ------------------------------------------------------------------------------


def _versions(object_type: str, action: str, ids: list[int]) -> dict[int, int]:
    """How many times each score was set: its audit records (one per change)."""
    if not ids:
        return {}
    query = (
        select(AuditEvent.object_id, func.count())
        .where(
            AuditEvent.object_type == object_type,
            AuditEvent.action == action,
            AuditEvent.object_id.in_([str(i) for i in ids]),
        )
        .group_by(AuditEvent.object_id)
    )
    return {int(object_id): count for object_id, count in db.session.execute(query)}


def _check_version(expected: int | None, current: int) -> None:
    if expected is not None and expected != current:
        core.abort(
            409,
            f"The score was changed by someone else (version {current}, you sent {expected}); "
            "read it again.",
            code="stale",
        )


def _scoped(query: Select[Any], unit_column: Any) -> Select[Any]:
    """A unit's token sees only its own unit's entered scores, as on its assignment pages."""
    user = api_user()
    if user.role not in READ_ALL:
        query = query.where(unit_column == user.unit_id)
    return query


def _ref(ident: int | None, name: str | None) -> dict[str, Any] | None:
    return {"id": ident, "name": name} if ident is not None else None


_ITEM_SET = "score.item_set"
_COMPONENT_SET = "score.component_set"


def _item_score_rows() -> Select[Any]:
    entered_by = aliased(User)
    query = (
        select(
            ItemScore.id,
            Period.code.label("period"),
            ItemScore.assignment_id,
            ItemScore.unit_id,
            Unit.name.label("unit_name"),
            ItemScore.item_id,
            Item.code.label("item_code"),
            ItemScore.scorer_key,
            ItemScore.value,
            ItemScore.numerator,
            ItemScore.denominator,
            ItemScore.source,
            ItemScore.reason,
            ItemScore.entered_by_id,
            entered_by.display_name.label("entered_by_name"),
            ItemScore.entered_at,
        )
        .join(Period, Period.id == ItemScore.period_id)
        .join(Unit, Unit.id == ItemScore.unit_id)
        .join(Item, Item.id == ItemScore.item_id)
        .outerjoin(entered_by, entered_by.id == ItemScore.entered_by_id)
    )
    return cast(Select[Any], query)


def _item_score_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    versions = _versions("item_score", _ITEM_SET, [r.id for r in rows])
    return [
        {
            "id": r.id,
            "period": r.period,
            "assignment_id": r.assignment_id,
            "unit": {"id": r.unit_id, "name": r.unit_name},
            "item": {"id": r.item_id, "code": r.item_code},
            "scorer": r.scorer_key,
            "value": r.value,
            "numerator": r.numerator,
            "denominator": r.denominator,
            "source": r.source,
            "reason": r.reason,
            "entered_by": _ref(r.entered_by_id, r.entered_by_name),
            "entered_at": r.entered_at,
            "version": versions.get(r.id, 0),
        }
        for r in rows
    ]


def _assignment(plan: Plan, args: dict[str, Any]) -> Assignment:
    """The assignment to score: by id, or by unit and item code; 404 if not in the plan."""
    query = (
        select(Assignment).join(Item, Item.id == Assignment.item_id).where(Item.plan_id == plan.id)
    )
    if "assignment_id" in args:
        query = query.where(Assignment.id == args["assignment_id"])
        what = f"assignment {args['assignment_id']}"
    else:
        query = query.where(Assignment.unit_id == args["unit_id"], Item.code == args["item"])
        what = f"an assignment of item {args['item']} to unit {args['unit_id']}"
    found = db.session.scalar(query)
    if found is None:
        core.abort(404, f"Plan {plan.code} has no {what}.")
    return found


@blp.route("/plans/<code>/scores/items")
class ItemScores(MethodView):
    @blp.arguments(ItemScoreArgs, location="query")
    @blp.response(200, ItemScoreSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """Item scores entered by assessors or imports (they override completion)."""
        plan = load_plan(code)
        query = _scoped(_item_score_rows().where(Period.plan_id == plan.id), ItemScore.unit_id)
        if "period" in args:
            query = query.where(Period.code == check_period(plan, args["period"]))
        if "unit" in args:
            query = query.where(ItemScore.unit_id.in_(args["unit"]))
        if "item" in args:
            query = query.where(Item.code == args["item"])
        if "assignment" in args:
            query = query.where(ItemScore.assignment_id == args["assignment"])
        if "scorer" in args:
            query = query.where(ItemScore.scorer_key == args["scorer"])
        if "source" in args:
            query = query.where(ItemScore.source == args["source"])
        columns = {
            "entered_at": ItemScore.entered_at,
            "unit": Unit.name,
            "item": Item.position,
            "value": ItemScore.value,
        }
        assert set(columns) == set(ITEM_SCORE_SORTS)
        query = apply_sort(query, args["sort"], columns, ItemScore.id)
        return _item_score_dicts(rows_page(query, pagination_parameters))

    @core.roles(*SCORERS)
    @blp.arguments(ItemScoreInput)
    @blp.response(200, ItemScoreSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def put(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Set the acting scorer's score of one assignment, with a reason (audited).

        The office, or an assessor whose unit leads the item's assessment (as on the
        assignment page). It overrides completion; after a period is closed it changes the
        live figures, which a new revision then publishes.
        """
        plan = load_plan(code)
        period = check_period(plan, args["period"])
        assignment = _assignment(plan, args)
        actor = api_user()
        try:
            key, _ = services.scorer_key_for(actor, assignment.item)
        except DomainError as error:
            fail(error)
        recorded = get_period(plan, period, create=False)
        existing = (
            db.session.scalar(
                select(ItemScore)
                .where(
                    ItemScore.period_id == recorded.id,
                    ItemScore.assignment_id == assignment.id,
                    ItemScore.scorer_key == key,
                )
                .with_for_update()  # PostgreSQL: a concurrent change waits for this one
            )
            if recorded is not None
            else None
        )
        current = (
            _versions("item_score", _ITEM_SET, [existing.id]).get(existing.id, 0) if existing else 0
        )
        _check_version(args.get("version"), current)
        try:
            score = services.score_item(
                assignment,
                period,
                actor=actor,
                reason=args["reason"],
                value=args.get("value"),
                numerator=args.get("numerator"),
                denominator=args.get("denominator"),
                occurrences=args.get("occurrences"),
                parts=args.get("parts"),
            )
        except DomainError as error:
            fail(error)
        except IntegrityError:  # another request created the same score meanwhile
            db.session.rollback()
            core.abort(409, "The score was entered by someone else just now.", code="stale")
        score_id = score.id if score is not None else existing.id  # type: ignore[union-attr]
        db.session.commit()
        row = db.session.execute(_item_score_rows().where(ItemScore.id == score_id)).one()
        return _item_score_dicts([row])[0]


def _component_rows() -> Select[Any]:
    entered_by = aliased(User)
    query = (
        select(
            ComponentScore.id,
            Period.code.label("period"),
            ComponentScore.unit_id,
            Unit.name.label("unit_name"),
            ComponentScore.component,
            ComponentScore.value,
            ComponentScore.source,
            ComponentScore.reason,
            ComponentScore.entered_by_id,
            entered_by.display_name.label("entered_by_name"),
            ComponentScore.entered_at,
        )
        .join(Period, Period.id == ComponentScore.period_id)
        .join(Unit, Unit.id == ComponentScore.unit_id)
        .outerjoin(entered_by, entered_by.id == ComponentScore.entered_by_id)
    )
    return cast(Select[Any], query)


def _component_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    versions = _versions("component_score", _COMPONENT_SET, [r.id for r in rows])
    return [
        {
            "id": r.id,
            "period": r.period,
            "unit": {"id": r.unit_id, "name": r.unit_name},
            "component": r.component,
            "value": r.value,
            "source": r.source,
            "reason": r.reason,
            "entered_by": _ref(r.entered_by_id, r.entered_by_name),
            "entered_at": r.entered_at,
            "version": versions.get(r.id, 0),
        }
        for r in rows
    ]


@blp.route("/plans/<code>/scores/components")
class ComponentScores(MethodView):
    @blp.arguments(ComponentScoreArgs, location="query")
    @blp.response(200, ComponentScoreSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """Unit-level components entered per period (Baotou's field, survey, third_party...)."""
        plan = load_plan(code)
        query = _scoped(_component_rows().where(Period.plan_id == plan.id), ComponentScore.unit_id)
        if "period" in args:
            query = query.where(Period.code == check_period(plan, args["period"]))
        if "unit" in args:
            query = query.where(ComponentScore.unit_id.in_(args["unit"]))
        if "component" in args:
            query = query.where(ComponentScore.component == args["component"])
        columns = {
            "entered_at": ComponentScore.entered_at,
            "unit": Unit.name,
            "component": ComponentScore.component,
            "value": ComponentScore.value,
        }
        assert set(columns) == set(COMPONENT_SCORE_SORTS)
        query = apply_sort(query, args["sort"], columns, ComponentScore.id)
        return _component_dicts(rows_page(query, pagination_parameters))

    @core.roles(*STAFF)
    @blp.arguments(ComponentScoreInput)
    @blp.response(200, ComponentScoreSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def put(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """The office sets a unit's component for a period, with a reason (audited)."""
        plan = load_plan(code)
        period = check_period(plan, args["period"])
        unit_id = args["unit_id"]
        if db.session.get(Unit, unit_id) is None:
            core.abort(404, f"There is no unit {unit_id}.")
        recorded = get_period(plan, period, create=False)
        existing = (
            db.session.scalar(
                select(ComponentScore)
                .where(
                    ComponentScore.period_id == recorded.id,
                    ComponentScore.unit_id == unit_id,
                    ComponentScore.component == args["component"],
                )
                .with_for_update()
            )
            if recorded is not None
            else None
        )
        versions = _versions("component_score", _COMPONENT_SET, [existing.id] if existing else [])
        current = versions.get(existing.id, 0) if existing else 0
        _check_version(args.get("version"), current)
        try:
            score = services.score_component(
                plan,
                unit_id,
                period,
                args["component"],
                args["value"],
                actor=api_user(),
                reason=args["reason"],
            )
        except DomainError as error:
            fail(error)
        except IntegrityError:  # another request created the same score meanwhile
            db.session.rollback()
            core.abort(409, "The score was entered by someone else just now.", code="stale")
        score_id = score.id if score is not None else existing.id  # type: ignore[union-attr]
        db.session.commit()
        row = db.session.execute(_component_rows().where(ComponentScore.id == score_id)).one()
        return _component_dicts([row])[0]


# -- snapshots -----------------------------------------------------------------------------------


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
        "created_by": _ref(r.created_by_id, r.created_by_name),
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


@blp.route("/plans/<code>/periods/<period>/snapshots/<int:revision>")
class SnapshotByRevision(MethodView):
    @blp.etag
    @blp.response(200, SnapshotDetailSchema)
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


@blp.route("/plans/<code>/periods/<period>/close")
class ClosePeriod(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(ClosePeriodArgs, required=False)
    @blp.response(201, SnapshotSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Closed by someone else.")
    def post(self, args: dict[str, Any], code: str, period: str) -> dict[str, Any]:
        """Close the period: freeze every unit's score, rank and explanation in a snapshot.

        Closing a closed period publishes a correction: a new revision, which needs a reason.
        """
        plan = load_plan(code)
        period = check_period(plan, period)
        recorded = get_period(plan, period, create=False)
        current = (
            db.session.scalar(
                select(func.max(Snapshot.revision)).where(Snapshot.period_id == recorded.id)
            )
            if recorded is not None
            else None
        ) or 0
        if args.get("revision") is not None and args["revision"] != current:
            core.abort(
                409,
                f"Revision {current} was published since you read revision {args['revision']}.",
                code="stale",
            )
        try:
            snapshot = services.close_period(
                plan, period, actor=api_user(), reason=args.get("reason")
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
