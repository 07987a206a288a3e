"""Scores entered by hand: an assessor's item scores and the office's unit-level components.

Both kinds are listed, set and versioned the same way; :class:`Entered` holds what differs
(the table, its extra columns and filters, its audit action).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from flask.views import MethodView
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort
from taskhub.core.db import db, lock
from taskhub.core.errors import DomainError
from taskhub.core.permissions import STAFF
from taskhub.plans.models import Item, Plan
from taskhub.scoring import services
from taskhub.scoring.api import blp
from taskhub.scoring.api.common import (
    SCORERS,
    check_period,
    fail,
    load_plan,
    ref,
    rows_page,
    scoped,
)
from taskhub.scoring.models import ComponentScore, ItemScore, Period
from taskhub.scoring.schemas import (
    COMPONENT_SCORE_SORTS,
    ITEM_SCORE_SORTS,
    ComponentScoreArgs,
    ComponentScoreInput,
    ComponentScoreSchema,
    ItemScoreArgs,
    ItemScoreInput,
    ItemScoreSchema,
)
from taskhub.scoring.schemes import get_period
from taskhub.tracking.models import Assignment
from taskhub.units.models import Unit


@dataclass(frozen=True)
class Entered:
    """One kind of entered score as the API lists and sets it."""

    model: type[ItemScore] | type[ComponentScore]
    #: Its audit records (one per change): their object type and action.
    object_type: str
    action: str
    #: Columns of its rows besides the shared ones, and the tables they need.
    columns: Sequence[Any]
    joins: Sequence[tuple[Any, Any]]
    #: Query arguments that filter by equality on a column, in the order applied.
    filters: Mapping[str, Any]
    #: Sort keys besides entered_at, unit and value.
    sorts: Mapping[str, Any]
    #: Its fields in a row's answer besides the shared ones.
    fields: Callable[[Any], dict[str, Any]]

    def rows(self) -> Select[Any]:
        """Its rows with the period's code and the names of the unit and who entered it."""
        m = self.model
        entered_by = aliased(User)
        query = select(
            m.id,
            Period.code.label("period"),
            m.unit_id,
            Unit.name.label("unit_name"),
            *self.columns,
            m.value,
            m.source,
            m.reason,
            m.entered_by_id,
            entered_by.display_name.label("entered_by_name"),
            m.entered_at,
        )
        query = query.join(Period, Period.id == m.period_id).join(Unit, Unit.id == m.unit_id)
        for target, on in self.joins:
            query = query.join(target, on)
        return cast(Select[Any], query.outerjoin(entered_by, entered_by.id == m.entered_by_id))

    def versions(self, ids: list[int]) -> dict[int, int]:
        """How many times each score was set: its audit records (one per change)."""
        if not ids:
            return {}
        query = (
            select(AuditEvent.object_id, func.count())
            .where(
                AuditEvent.object_type == self.object_type,
                AuditEvent.action == self.action,
                AuditEvent.object_id.in_([str(i) for i in ids]),
            )
            .group_by(AuditEvent.object_id)
        )
        return {int(object_id): count for object_id, count in db.session.execute(query)}

    def dicts(self, rows: list[Any]) -> list[dict[str, Any]]:
        versions = self.versions([r.id for r in rows])
        return [
            {
                "id": r.id,
                "period": r.period,
                "unit": {"id": r.unit_id, "name": r.unit_name},
                **self.fields(r),
                "value": r.value,
                "source": r.source,
                "reason": r.reason,
                "entered_by": ref(r.entered_by_id, r.entered_by_name),
                "entered_at": r.entered_at,
                "version": versions.get(r.id, 0),
            }
            for r in rows
        ]

    def listed(self, code: str, args: dict[str, Any], pagination: Any) -> list[dict[str, Any]]:
        """One page of the plan's scores of this kind that this token may see, as asked."""
        m = self.model
        plan = load_plan(code)
        query = scoped(self.rows().where(Period.plan_id == plan.id), m.unit_id)
        if "period" in args:
            query = query.where(Period.code == check_period(plan, args["period"]))
        if "unit" in args:
            query = query.where(m.unit_id.in_(args["unit"]))
        for name, column in self.filters.items():
            if name in args:
                query = query.where(column == args[name])
        columns = {"entered_at": m.entered_at, "unit": Unit.name, **self.sorts, "value": m.value}
        query = apply_sort(query, args["sort"], columns, m.id)
        return self.dicts(rows_page(query, pagination))

    def existing(self, plan: Plan, period: str, owner: Any, *where: Any) -> Any:
        """The score already entered (``where`` picks it in the period); none if there is none
        yet. The ``owner``'s row (the assignment, the unit) is locked first, as the service
        locks it: a concurrent change, or the first entry of this score, waits for this one,
        and the version is then counted from what it committed."""
        lock(owner)
        recorded = get_period(plan, period, create=False)
        if recorded is None:
            return None
        m = self.model
        return db.session.scalar(
            select(m).where(m.period_id == recorded.id, *where).with_for_update()
        )

    def check_version(self, existing: Any, expected: int | None) -> None:
        """409 when the client read another version than the current one."""
        current = self.versions([existing.id]).get(existing.id, 0) if existing else 0
        if expected is not None and expected != current:
            core.abort(
                409,
                f"The score was changed by someone else (version {current}, you sent "
                f"{expected}); read it again.",
                code="stale",
            )

    def save(self, change: Callable[[], Any], existing: Any) -> dict[str, Any]:
        """Run the service's ``change``, commit, and answer the score as it now is (the
        service returns none when nothing changed: then the existing one)."""
        try:
            score = change()
        except DomainError as error:
            fail(error)
        except IntegrityError:  # another request created the same score meanwhile
            db.session.rollback()
            core.abort(409, "The score was entered by someone else just now.", code="stale")
        score_id = score.id if score is not None else existing.id
        db.session.commit()
        row = db.session.execute(self.rows().where(self.model.id == score_id)).one()
        return self.dicts([row])[0]


ITEM_SCORES = Entered(
    model=ItemScore,
    object_type="item_score",
    action="score.item_set",
    columns=(
        ItemScore.assignment_id,
        ItemScore.item_id,
        Item.code.label("item_code"),
        ItemScore.scorer_key,
        ItemScore.numerator,
        ItemScore.denominator,
    ),
    joins=((Item, Item.id == ItemScore.item_id),),
    filters={
        "item": Item.code,
        "assignment": ItemScore.assignment_id,
        "scorer": ItemScore.scorer_key,
        "source": ItemScore.source,
    },
    sorts={"item": Item.position},
    fields=lambda r: {
        "assignment_id": r.assignment_id,
        "item": {"id": r.item_id, "code": r.item_code},
        "scorer": r.scorer_key,
        "numerator": r.numerator,
        "denominator": r.denominator,
    },
)
COMPONENT_SCORES = Entered(
    model=ComponentScore,
    object_type="component_score",
    action="score.component_set",
    columns=(ComponentScore.component,),
    joins=(),
    filters={"component": ComponentScore.component},
    sorts={"component": ComponentScore.component},
    fields=lambda r: {"component": r.component},
)
assert {"entered_at", "unit", "value", *ITEM_SCORES.sorts} == set(ITEM_SCORE_SORTS)
assert {"entered_at", "unit", "value", *COMPONENT_SCORES.sorts} == set(COMPONENT_SCORE_SORTS)


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
        return ITEM_SCORES.listed(code, args, pagination_parameters)

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
        existing = ITEM_SCORES.existing(
            plan,
            period,
            assignment,
            ItemScore.assignment_id == assignment.id,
            ItemScore.scorer_key == key,
        )
        ITEM_SCORES.check_version(existing, args.get("version"))
        return ITEM_SCORES.save(
            lambda: services.score_item(
                assignment,
                period,
                actor=actor,
                reason=args["reason"],
                value=args.get("value"),
                numerator=args.get("numerator"),
                denominator=args.get("denominator"),
                occurrences=args.get("occurrences"),
                parts=args.get("parts"),
            ),
            existing,
        )


@blp.route("/plans/<code>/scores/components")
class ComponentScores(MethodView):
    @blp.arguments(ComponentScoreArgs, location="query")
    @blp.response(200, ComponentScoreSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], code: str, pagination_parameters: Any) -> list[Any]:
        """Unit-level components entered per period (Baotou's field, survey, third_party...)."""
        return COMPONENT_SCORES.listed(code, args, pagination_parameters)

    @core.roles(*STAFF)
    @blp.arguments(ComponentScoreInput)
    @blp.response(200, ComponentScoreSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def put(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """The office sets a unit's component for a period, with a reason (audited)."""
        plan = load_plan(code)
        period = check_period(plan, args["period"])
        unit_id = args["unit_id"]
        unit = db.session.get(Unit, unit_id)
        if unit is None:
            core.abort(404, f"There is no unit {unit_id}.")
        existing = COMPONENT_SCORES.existing(
            plan,
            period,
            unit,
            ComponentScore.unit_id == unit_id,
            ComponentScore.component == args["component"],
        )
        COMPONENT_SCORES.check_version(existing, args.get("version"))
        return COMPONENT_SCORES.save(
            lambda: services.score_component(
                plan,
                unit_id,
                period,
                args["component"],
                args["value"],
                actor=api_user(),
                reason=args["reason"],
            ),
            existing,
        )
