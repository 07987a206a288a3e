"""Assignments (list, one, acknowledge) and their milestones."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlencode

from flask import current_app, request
from flask.views import MethodView
from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, select, type_coerce
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
from taskhub.core.db import IsoText, db, reads_only
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


def _rows_of(page: Any, *, iso: bool = False) -> Select[Any]:
    """The assignments of ``page`` (a CTE of ids and next milestone ids) with item, plan, unit
    and next milestone, in the shape :func:`_as_dict` reads. The next milestone is joined on
    its primary key from the page: joined on the correlated subquery itself, PostgreSQL hashed
    every milestone for each page (5 ms on the bench ledger).

    ``iso``: the dates and times come as the ISO text the list sends (:class:`IsoText`), not as
    objects for the schema."""

    def day(column: Any, name: str, *, with_time: bool = False) -> Any:
        return type_coerce(column, IsoText(with_time)).label(name) if iso else column.label(name)

    return cast(
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
                day(Assignment.next_due_on, "next_due_on"),
                day(Assignment.acknowledged_at, "acknowledged_at", with_time=True),
                day(Assignment.completed_at, "completed_at", with_time=True),
                day(Assignment.updated_at, "updated_at", with_time=True),
                Assignment.version,
                _Next.id.label("next_id"),
                _Next.kind.label("next_kind"),
                _Next.title.label("next_title"),
                day(_Next.due_on, "next_original_due_on"),
                day(_Next.extended_to, "next_extended_to"),
            )
            .select_from(page)
            .join(Assignment, Assignment.id == page.c.id)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .join(Unit, Unit.id == Assignment.unit_id)
            .outerjoin(_Next, _Next.id == page.c.next_id)
        ),
    )


#: The rows of the assignments whose ids are given, as one statement whatever the ids (built
#: once: composing it anew cost a tenth of a millisecond per request).
_ROWS_BY_ID = _rows_of(_PAGE)
#: The same for a list: dates and times as the ISO text it sends.
_LIST_ROWS_BY_ID = _rows_of(_PAGE, iso=True)
#: A page of the list is chosen, and counted, on the assignments table alone. (Reads only:
#: on PostgreSQL the list runs without BEGIN and COMMIT, see taskhub.core.db.READS_ONLY.)
_IDS = reads_only(select(Assignment.id))
_COUNT = reads_only(select(func.count()).select_from(Assignment))


#: The filters that stand for themselves (no value): their key in a list's shape.
_OPEN = "open"
_OVERDUE = {True: "overdue", False: "not_overdue"}
#: The filters that take a value, each passed as a bound parameter of the same name.
_VALUE_FILTERS = ("scope", "plan", "unit", "item", "status", "role", "due_from", "due_to")


def _shape(args: dict[str, Any], scope: int | None) -> tuple[str, ...]:
    """Which filters a request uses (not their values): the key of its statements."""
    shape = [key for key in _VALUE_FILTERS if key in args]
    if scope is not None:
        shape.insert(0, "scope")
    if "overdue" in args:
        shape.append(_OVERDUE[bool(args["overdue"])])
    if args.get("open"):
        shape.append(_OPEN)
    return tuple(shape)


def _values(args: dict[str, Any], scope: int | None) -> dict[str, Any]:
    """The filters' values by parameter name (see :func:`_conditions`)."""
    values = {key: args[key] for key in _VALUE_FILTERS if key in args}
    if scope is not None:
        values["scope"] = scope
    return values


def _scope() -> int | None:
    """The unit a unit's token is held to (whatever it asks for), None for other roles."""
    user = api_user()
    if user.role != "unit":
        return None
    # The database refuses a unit account without a unit (ck_users_unit_roles_have_unit);
    # were one to slip through, it would see nothing (no unit has id 0), not the city.
    return user.unit_id if user.unit_id is not None else 0


def _conditions(
    shape: tuple[str, ...], values: dict[str, Any] | None = None
) -> list[ColumnElement[bool]]:
    """The list's filters, on the assignments table alone (so the total counts it alone).

    Each value is a bound parameter named after its filter: bound to ``values`` here, or left
    to be given at execution (``values`` None: a statement kept for every request of this
    shape, see :func:`_small_page`)."""

    def value(key: str, *, expanding: bool = False) -> Any:
        if values is None:
            return bindparam(key, expanding=expanding)
        return bindparam(key, values[key], expanding=expanding)

    build: dict[str, Callable[[], ColumnElement[bool]]] = {
        # A unit's token sees only its unit, whatever it asks for.
        "scope": lambda: Assignment.unit_id == value("scope"),
        "plan": lambda: Assignment.item_id.in_(
            select(Item.id).join(Plan, Plan.id == Item.plan_id).where(Plan.code == value("plan"))
        ),
        "unit": lambda: Assignment.unit_id == value("unit"),
        "item": lambda: Assignment.item_id == value("item"),
        "status": lambda: Assignment.status.in_(value("status", expanding=True)),
        "role": lambda: Assignment.role == value("role"),
        "overdue": lambda: Assignment.is_overdue.is_(True),
        "not_overdue": lambda: Assignment.is_overdue.is_(False),
        _OPEN: lambda: Assignment.status != "completed",
        "due_from": lambda: Assignment.next_due_on >= value("due_from"),
        "due_to": lambda: Assignment.next_due_on <= value("due_to"),
    }
    return [build[key]() for key in shape]


@lru_cache(maxsize=256)
def _small_page(shape: tuple[str, ...], sort: str) -> Select[Any]:
    """A page of a list bounded by an index (one unit's or one item's rows) in one statement:
    its rows (:func:`_rows_of`), each with the list's total at the end.

    One statement per shape and sort, its values all parameters (the filters', ``size`` and
    ``first``): built and keyed by SQLAlchemy once, not on every request. The page is chosen
    on the assignments table alone, then joined; the total is a window over the same rows,
    cheap over a unit's few hundred (over the city's 5,734 open ones it would cost more than
    a count apart: 2 ms against 0.7 on PostgreSQL)."""
    chosen = (
        apply_sort(
            _IDS.add_columns(func.count().over().label("total")).where(*_conditions(shape)),
            sort,
            _SORT_COLUMNS,
            Assignment.id,
        )
        .limit(bindparam("size", type_=Integer))
        .offset(bindparam("first", type_=Integer))
        .cte("chosen")
    )
    # The next milestones of the chosen rows only (not of every row the window counts).
    page = (
        select(chosen.c.id, _NEXT_MILESTONE_ID.label("next_id"), chosen.c.total)
        .join_from(chosen, Assignment, Assignment.id == chosen.c.id)
        .cte("page")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    # The page's order again (the same columns of the same rows; the id breaks ties).
    return apply_sort(
        _rows_of(page, iso=True).add_columns(page.c.total), sort, _SORT_COLUMNS, Assignment.id
    )


def _as_dict(row: Any) -> dict[str, Any]:
    """A row of ``_ROWS_BY_ID`` in the shape of AssignmentSchema (of ``_LIST_ROWS_BY_ID``: ready
    for JSON without the schema, its dates and times already ISO text)."""
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
            "due_on": next_original_due_on,
            "extended_to": next_extended_to,
            "effective_due_on": next_extended_to or next_original_due_on,
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
        "next_due_on": next_due_on,
        "next_milestone": next_milestone,
        "acknowledged_at": acknowledged_at,
        "completed_at": completed_at,
        "updated_at": updated_at,
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
        scope = _scope()
        shape = _shape(args, scope)
        position = _KEYSET.decode(args) if "cursor" in args else None
        # An exact count is cheap when an index bounds it to one unit's or one item's rows.
        cheap = "unit" in args or "item" in args or scope is not None
        size = pagination_parameters.page_size
        wants_next = position is not None or _wants_cursor(pagination_parameters)
        if position is None and cheap:
            return self._small(args, pagination_parameters, shape, scope, wants_next)
        conditions = _conditions(shape, _values(args, scope))
        ordered = apply_sort(_IDS.where(*conditions), args["sort"], _SORT_COLUMNS, Assignment.id)
        count_total(
            pagination_parameters,
            _COUNT.where(*conditions),
            _IDS.where(*conditions),
            table=Assignment.__table__,
            cheap=cheap,
        )
        page: Select[Any] | None
        if position is not None:
            page = _KEYSET.after(ordered, args["sort"], *position)
        else:
            page = limit_to_page(ordered, pagination_parameters, total=False)
        if page is None:
            return _json([])
        if wants_next:
            # One row more than the page says whether there is a next one.
            page = page.limit(size + 1)
        connection = db.session.connection()
        ids = list(connection.scalars(page))
        # The page is picked from the assignments alone, then only its rows are joined: a sort
        # on another column would otherwise join and sort every matching row. The second
        # query is the same statement every time (the ids are a parameter), so SQLAlchemy
        # neither builds it nor works out its cache key again.
        more = len(ids) > size
        del ids[size:]
        by_id = {row[0]: row for row in connection.execute(_LIST_ROWS_BY_ID, {"ids": ids})}
        if more:
            _next_page(args, pagination_parameters, by_id.get(ids[-1]), ids[-1])
        # (An assignment deleted in between, under READ COMMITTED, is left out.)
        return _json([_as_dict(by_id[id_]) for id_ in ids if id_ in by_id])

    @classmethod
    def _small(
        cls,
        args: dict[str, Any],
        pagination: Any,
        shape: tuple[str, ...],
        scope: int | None,
        wants_next: bool,
    ) -> Response:
        """A page of one unit's or one item's rows, with their exact total: one statement
        (:func:`_small_page`)."""
        first, size = pagination.first_item, pagination.page_size
        if first >= MAX_ID:
            return cls._past_the_end(pagination, shape, args, scope)
        found = (
            db.session.connection()
            .execute(
                _small_page(shape, args["sort"]),
                {**_values(args, scope), "size": size + 1 if wants_next else size, "first": first},
            )
            .all()
        )
        if not found:
            return cls._past_the_end(pagination, shape, args, scope)
        pagination.item_count = found[0][-1]
        rows = [row[:-1] for row in found[:size]]  # without the total
        if len(found) > size:
            _next_page(args, pagination, rows[-1], rows[-1][0])
        return _json([_as_dict(row) for row in rows])

    @staticmethod
    def _past_the_end(
        pagination: Any, shape: tuple[str, ...], args: dict[str, Any], scope: int | None
    ) -> Response:
        """An empty page with the list's exact total (the page's statement gave no row)."""
        if pagination.first_item == 0:
            pagination.item_count = 0
        else:
            conditions = _conditions(shape, _values(args, scope))
            pagination.item_count = db.session.scalar(_COUNT.where(*conditions)) or 0
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
