"""Assignments (list, one, acknowledge) and their milestones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, cast
from urllib.parse import urlencode

from flask import current_app, request
from flask.views import MethodView
from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import aliased
from werkzeug.wrappers import Response

from taskhub.core import api as core
from taskhub.core.api import (
    PAGE,
    Keyset,
    api_user,
    apply_sort,
    count_total,
    get_or_404,
    limit_to_page,
    paged,
)
from taskhub.core.db import db, reads_only
from taskhub.core.errors import DomainError
from taskhub.core.inputs import MAX_ID
from taskhub.plans.models import Item, Plan
from taskhub.tracking import services
from taskhub.tracking.api import blp
from taskhub.tracking.api.common import fail, load_assignment
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus
from taskhub.tracking.schemas import (
    ASSIGNMENT_SORTS,
    AssignmentArgs,
    AssignmentSchema,
    MilestoneArgs,
    MilestoneSchema,
    ReopenArgs,
    VersionArgs,
)
from taskhub.units.models import Unit

_SORT_COLUMNS = {
    "id": Assignment.id,
    "due_on": Assignment.next_due_on,
    "updated_at": Assignment.updated_at,
    "status": Assignment.status,
    "percent": Assignment.percent,
}
assert set(_SORT_COLUMNS) == set(ASSIGNMENT_SORTS)


#: The id of an assignment's next open milestone: the one on its stored next due date (kept by
#: the milestone upkeep), the earliest original date first.
_NEXT_MILESTONE_ID = (
    select(Milestone.id)
    .where(
        Milestone.assignment_id == Assignment.id,
        Milestone.status == MilestoneStatus.OPEN.value,
        func.coalesce(Milestone.extended_to, Milestone.due_on) == Assignment.next_due_on,
    )
    .order_by(Milestone.due_on, Milestone.id)
    .limit(1)
    .correlate(Assignment)
    .scalar_subquery()
)
_Next = aliased(Milestone, name="next_milestone")


#: The assignments whose ids are given, each with its next milestone's id (looked up by index).
_PAGE = (
    select(Assignment.id.label("id"), _NEXT_MILESTONE_ID.label("next_id"))
    .where(Assignment.id.in_(bindparam("ids", expanding=True)))
    .cte("page")
    # Evaluated first, so the next milestones are joined on a plain column (by primary key).
    .prefix_with("MATERIALIZED", dialect="postgresql")
)

#: Their columns with item, plan, unit and next milestone, as one statement whatever the ids
#: (built once: composing it anew cost a tenth of a millisecond per request). The next
#: milestone is joined on its primary key from the page: joined on the correlated subquery
#: itself, PostgreSQL hashed every milestone for each page (5 ms on the bench ledger).
_ROWS_BY_ID = cast(
    Select[Any],
    reads_only(
        select(
            Assignment.id,
            Assignment.item_id,
            Item.code.label("item_code"),
            Item.text.label("item_text"),
            Plan.code.label("plan_code"),
            Assignment.unit_id,
            Unit.name.label("unit_name"),
            Assignment.role,
            Assignment.status,
            Assignment.percent,
            Assignment.is_overdue,
            Assignment.is_not_applicable,
            Assignment.next_due_on,
            Assignment.acknowledged_at,
            Assignment.completed_at,
            Assignment.updated_at,
            Assignment.version,
            _Next.id.label("next_id"),
            _Next.kind.label("next_kind"),
            _Next.title.label("next_title"),
            _Next.due_on.label("next_original_due_on"),
            _Next.extended_to.label("next_extended_to"),
        )
        .select_from(_PAGE)
        .join(Assignment, Assignment.id == _PAGE.c.id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .outerjoin(_Next, _Next.id == _PAGE.c.next_id)
    ),
)
#: A page of the list is chosen, and counted, on the assignments table alone. (Reads only:
#: on PostgreSQL the list runs without BEGIN and COMMIT, see taskhub.core.db.READS_ONLY.)
_IDS = reads_only(select(Assignment.id))
_COUNT = reads_only(select(func.count()).select_from(Assignment))


def _conditions(args: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The list's filters, on the assignments table alone (so the total counts it alone)."""
    conditions: list[ColumnElement[bool]] = []
    user = api_user()
    # A unit's token sees only its unit, whatever it asks for.
    if user.role == "unit":
        conditions.append(Assignment.unit_id == user.unit_id)
    if "plan" in args:
        plan_items = select(Item.id).join(Plan, Plan.id == Item.plan_id)
        conditions.append(Assignment.item_id.in_(plan_items.where(Plan.code == args["plan"])))
    if "unit" in args:
        conditions.append(Assignment.unit_id == args["unit"])
    if "item" in args:
        conditions.append(Assignment.item_id == args["item"])
    if "status" in args:
        conditions.append(Assignment.status.in_(args["status"]))
    if "role" in args:
        conditions.append(Assignment.role == args["role"])
    if "overdue" in args:
        conditions.append(Assignment.is_overdue.is_(args["overdue"]))
    if args.get("open"):
        conditions.append(Assignment.status != "completed")
    if "due_from" in args:
        conditions.append(Assignment.next_due_on >= args["due_from"])
    if "due_to" in args:
        conditions.append(Assignment.next_due_on <= args["due_to"])
    return conditions


def _same(value: Any) -> Any:
    return value


def _iso(value: date | None) -> str | None:
    """A date or time as AssignmentSchema writes it (ISO 8601); datetimes are dates too."""
    return None if value is None else value.isoformat()


def _as_dict(row: Any, day: Callable[[Any], Any] = _same) -> dict[str, Any]:
    """A row of ``_ROWS_BY_ID`` in the shape of AssignmentSchema, each date and time passed through
    ``day`` (``_iso``: ready for JSON without the schema)."""
    # Unpacked, not read by name: a Row's attribute lookups cost more than the rest here.
    (
        id_,
        item_id,
        item_code,
        item_text,
        plan_code,
        unit_id,
        unit_name,
        role,
        status,
        percent,
        is_overdue,
        is_not_applicable,
        next_due_on,
        acknowledged_at,
        completed_at,
        updated_at,
        version,
        next_id,
        next_kind,
        next_title,
        next_original_due_on,
        next_extended_to,
    ) = row
    next_milestone = None
    if next_id is not None:
        next_milestone = {
            "id": next_id,
            "kind": next_kind,
            "title": next_title,
            "due_on": day(next_original_due_on),
            "extended_to": day(next_extended_to),
            "effective_due_on": day(next_extended_to or next_original_due_on),
        }
    return {
        "id": id_,
        "item": {"id": item_id, "code": item_code, "text": item_text},
        "plan": plan_code,
        "unit": {"id": unit_id, "name": unit_name},
        "role": role,
        "status": status,
        "percent": percent,
        "is_overdue": is_overdue,
        "is_not_applicable": is_not_applicable,
        "next_due_on": day(next_due_on),
        "next_milestone": next_milestone,
        "acknowledged_at": day(acknowledged_at),
        "completed_at": day(completed_at),
        "updated_at": day(updated_at),
        "version": version,
    }


def _json(rows: list[dict[str, Any]]) -> Response:
    """The list as JSON, already in its documented shape.

    It skips the response schema's dump: ``_as_dict`` builds exactly that shape, and
    marshmallow walking every field again cost more than the queries. flask-smorest passes a
    Response through (the paging header still gets set), ``@blp.response`` still documents
    the schema, and the tests check both answers stay the same.
    """
    return cast(Response, current_app.json.response(rows))


#: How each sort key's value is written in a cursor.
_KEYSET = Keyset(
    _SORT_COLUMNS,
    Assignment.id,
    {"id": "int", "due_on": "date", "updated_at": "datetime", "status": "str", "percent": "int"},
)


def _wants_cursor(pagination: Any) -> bool:
    """Whether a page asked for by number gets a next cursor too: the first page does (a
    client starts there), deeper numbered pages keep their old answer."""
    return "page" not in request.args or pagination.page == 1


#: Where each sort key's value is in a row of ``_ROWS_BY_ID``.
_ROW_INDEX = {"id": 0, "status": 8, "percent": 9, "due_on": 12, "updated_at": 15}


def _next_page(args: dict[str, Any], pagination: Any, last: Any, last_id: int) -> None:
    """Put the next page's cursor and URL into X-Pagination (and a Link header); ``last`` is
    the page's last row, None if it was deleted meanwhile."""
    sort = args["sort"].lstrip("-")
    if last is not None:
        value = last[_ROW_INDEX[sort]]
    else:
        value = db.session.scalar(select(_SORT_COLUMNS[sort]).where(Assignment.id == last_id))
    cursor = _KEYSET.encode(args, value, last_id)
    query = request.args.to_dict(flat=False)
    query.pop("page", None)
    query["cursor"] = [cursor]
    extra = getattr(pagination, "extra", None) or {}
    pagination.extra = {
        **extra,
        "next_cursor": cursor,
        "next": f"{request.base_url}?{urlencode(query, doseq=True)}",
    }


@blp.route("/assignments/")
class Assignments(MethodView):
    @blp.arguments(AssignmentArgs(), location="query")  # an instance: not one per request
    @blp.response(200, AssignmentSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Response:
        """List assignments (a unit's token: only its unit's), with unit and next milestone."""
        conditions = _conditions(args)
        ordered = apply_sort(_IDS.where(*conditions), args["sort"], _SORT_COLUMNS, Assignment.id)
        position = _KEYSET.decode(args) if "cursor" in args else None
        # An exact count is cheap when an index bounds it to one unit's or one item's rows.
        cheap = "unit" in args or "item" in args or api_user().role == "unit"
        size = pagination_parameters.page_size
        wants_next = position is not None or _wants_cursor(pagination_parameters)
        connection = db.session.connection()
        ids: list[int]
        if position is None and cheap and connection.dialect.name == "postgresql":
            # An exact total with the page's ids, in one statement (a window over the same
            # filtered rows): one round trip less than counting apart. Only for few rows (one
            # unit's or item's): over thousands the window costs more than the round trip
            # (2 ms against 0.7 for the city's 5,734 open rows), and SQLite has no round trip.
            first = pagination_parameters.first_item
            if first >= MAX_ID:
                return self._past_the_end(pagination_parameters, conditions)
            page = ordered.add_columns(func.count().over()).offset(first)
            found = connection.execute(page.limit(size + 1 if wants_next else size)).all()
            if not found:
                return self._past_the_end(pagination_parameters, conditions)
            pagination_parameters.item_count = found[0][1]
            ids = [row[0] for row in found]
        else:
            count_total(
                pagination_parameters,
                _COUNT.where(*conditions),
                _IDS.where(*conditions),
                table=Assignment.__table__,
                cheap=cheap,
            )
            page_or_none: Select[Any] | None
            if position is not None:
                page_or_none = _KEYSET.after(ordered, args["sort"], *position)
            else:
                page_or_none = limit_to_page(ordered, pagination_parameters, total=False)
            if page_or_none is None:
                return _json([])
            if wants_next:
                # One row more than the page says whether there is a next one.
                page_or_none = page_or_none.limit(size + 1)
            ids = list(connection.scalars(page_or_none))
        # The page is picked from the assignments alone, then only its rows are joined: a sort
        # on another column would otherwise join and sort every matching row. The second
        # query is the same statement every time (the ids are a parameter), so SQLAlchemy
        # neither builds it nor works out its cache key again.
        more = len(ids) > size
        del ids[size:]
        by_id = {row[0]: row for row in connection.execute(_ROWS_BY_ID, {"ids": ids})}
        if more:
            _next_page(args, pagination_parameters, by_id.get(ids[-1]), ids[-1])
        # (An assignment deleted in between, under READ COMMITTED, is left out.)
        return _json([_as_dict(by_id[id_], _iso) for id_ in ids if id_ in by_id])

    @staticmethod
    def _past_the_end(pagination: Any, conditions: list[ColumnElement[bool]]) -> Response:
        """An empty page with the list's exact total (the page's statement gave no row)."""
        pagination.item_count = (
            0 if pagination.first_item == 0 else db.session.scalar(_COUNT.where(*conditions)) or 0
        )
        return _json([])


def _one(assignment_id: int) -> dict[str, Any]:
    return _as_dict(db.session.execute(_ROWS_BY_ID, {"ids": [assignment_id]}).one())


@blp.route("/assignments/<int:assignment_id>")
class AssignmentById(MethodView):
    @blp.etag
    @blp.response(200, AssignmentSchema)
    def get(self, assignment_id: int) -> dict[str, Any]:
        """One assignment; its ETag (or ``version``) guards later changes."""
        load_assignment(assignment_id)
        return _one(assignment_id)


@blp.route("/assignments/<int:assignment_id>/acknowledge")
class Acknowledge(MethodView):
    @blp.arguments(VersionArgs, required=False)
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    def post(self, args: dict[str, Any], assignment_id: int) -> dict[str, Any]:
        """Acknowledge (签收) a new assignment: its unit or the office."""
        assignment = load_assignment(assignment_id, need="edit")
        try:
            services.acknowledge(assignment, actor=api_user(), expected_version=args.get("version"))
        except DomainError as error:
            fail(error)
        db.session.commit()
        return _one(assignment_id)


@blp.route("/assignments/<int:assignment_id>/reopen")
class Reopen(MethodView):
    @blp.arguments(ReopenArgs)
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(409, schema=core.ErrorSchema, description="Changed by someone else.")
    @blp.alt_response(
        422, schema=core.ErrorSchema, description="No reason, or the task is not completed."
    )
    def post(self, args: dict[str, Any], assignment_id: int) -> dict[str, Any]:
        """重新打开 a completed (销号) task, with the reason: the office; audited."""
        assignment = load_assignment(assignment_id)
        try:
            services.reopen(
                assignment,
                actor=api_user(),
                reason=args["reason"],
                expected_version=args.get("version"),
            )
        except DomainError as error:
            fail(error)
        db.session.commit()
        return _one(assignment_id)


# -- milestones ------------------------------------------------------------------------------

_EFFECTIVE_DUE = func.coalesce(Milestone.extended_to, Milestone.due_on)
_MILESTONE_SORT_COLUMNS = {
    "due_on": Milestone.due_on,
    "effective_due_on": _EFFECTIVE_DUE,
    "id": Milestone.id,
}
_MILESTONE_COLUMNS = (
    Milestone.id,
    Milestone.assignment_id,
    Milestone.kind,
    Milestone.title,
    Milestone.due_on,
    Milestone.extended_to,
    Milestone.status,
    Milestone.completed_on,
    Milestone.is_late,
    Milestone.is_overdue,
)


def _milestone(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "effective_due_on": values["extended_to"] or values["due_on"]}


@blp.route("/assignments/<int:assignment_id>/milestones")
class AssignmentMilestones(MethodView):
    @blp.arguments(MilestoneArgs, location="query")
    @blp.response(200, MilestoneSchema(many=True))
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit's assignment.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such assignment.")
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], pagination_parameters: Any, assignment_id: int
    ) -> list[dict[str, Any]]:
        """An assignment's milestones (by due date), with their status, lateness and extension."""
        load_assignment(assignment_id)
        query = cast(
            Select[Any],
            select(*_MILESTONE_COLUMNS).where(Milestone.assignment_id == assignment_id),
        )
        if "status" in args:
            query = query.where(Milestone.status.in_(args["status"]))
        query = apply_sort(query, args["sort"], _MILESTONE_SORT_COLUMNS, Milestone.id)
        rows = paged(query, pagination_parameters, scalars=False)
        return [_milestone(row._asdict()) for row in rows]


@blp.route("/milestones/<int:milestone_id>")
class MilestoneById(MethodView):
    @blp.etag
    @blp.response(200, MilestoneSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit's milestone.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such milestone.")
    def get(self, milestone_id: int) -> dict[str, Any]:
        """One milestone."""
        milestone: Milestone = get_or_404(Milestone, milestone_id)
        load_assignment(milestone.assignment_id)
        return _milestone({c.key: getattr(milestone, c.key) for c in _MILESTONE_COLUMNS})
