"""The ledger query: every assignment filtered, sorted and paged in SQL, for pages and exports.

A page is one count, one query for the page's ids in order, one for those rows with their joins,
and one each for their milestones, lead units, areas and the calendar: the number of statements
does not grow with the page size. Unit staff only ever get their own unit's rows: the
restriction is part of every query's WHERE.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, case, false, func, or_, select, tuple_
from sqlalchemy.orm import contains_eager, selectinload
from sqlalchemy.sql.elements import ColumnElement

from taskhub.accounts.models import User
from taskhub.calendar.services import WorkingCalendar
from taskhub.core import cache, counts
from taskhub.core.db import db
from taskhub.core.permissions import READ_ALL
from taskhub.core.sections import section_label
from taskhub.core.timeutil import local_time
from taskhub.ledger.lights import (
    COLOR_OF,
    due_soon_before,
    light_is,
    light_rank,
    light_reason,
    next_due,
)
from taskhub.plans.models import Item, ItemUnit, Plan, Section, UnitRole
from taskhub.tracking.lights import Light, light_for
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Milestone,
    MilestoneStatus,
    ProgressReport,
)
from taskhub.tracking.services import view_condition
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup
from taskhub.units.services import groups_containing

PAGE_SIZE = 50
#: Roles whose lead units the ledger shows and filters by (牵头单位, 牵头考核单位).
LEAD_ROLES = (UnitRole.LEAD.value, UnitRole.LEAD_ASSESSOR.value)
STATUS_ORDER = tuple(s.value for s in AssignmentStatus)


@dataclass(frozen=True)
class LedgerFilters:
    """What the ledger shows; every field None means "no filter"."""

    plan_id: int | None = None
    #: The chosen area (top-level section) and every section below it.
    area_section_ids: tuple[int, ...] | None = None
    unit_id: int | None = None
    lead_id: int | None = None
    status: str | None = None
    light: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    #: A view of the deadline board (open, due_soon, overdue, …; see tracking.services.VIEWS).
    view: str | None = None
    sort: str = "item"
    descending: bool = False


@dataclass
class Resolved:
    """Filters after looking up the plan and area, with the problems found."""

    filters: LedgerFilters
    plan: Plan | None
    #: Top-level sections of the chosen plan (the area choices).
    areas: list[Section] = field(default_factory=list)
    #: Argument name → problem code (plan, area, area_without_plan, range, unit_none,
    #: unit_many).
    problems: dict[str, str] = field(default_factory=dict)
    #: What the unit search box shows: the typed text, or the chosen unit's name.
    unit_name: str | None = None
    #: Units matching an ambiguous search (a few, to pick from).
    unit_matches: list[Any] = field(default_factory=list)


def resolve_filters(values: dict[str, Any]) -> Resolved:
    """Turn validated arguments into filters: plan code → plan, area → its section subtree."""
    problems: dict[str, str] = {}
    plan = None
    if values.get("plan"):
        plan = db.session.scalar(select(Plan).where(Plan.code == values["plan"]))
        if plan is None:
            problems["plan"] = "plan"
    sections = plan_sections(plan.id) if plan else []
    areas = [s for s in sections if s.parent_id is None]
    area_ids: tuple[int, ...] | None = None
    if values.get("area"):
        top = next((s for s in areas if s.id == values["area"]), None)
        if top is None:
            problems["area"] = "area" if plan else "area_without_plan"
        else:
            by_id = {s.id: s for s in sections}
            area_ids = tuple(s.id for s in sections if _top_of(s, by_id) is top)
    unit_id, unit_name, matches = values.get("unit"), values.get("unit_name"), []
    if unit_id is None and unit_name:
        matches = find_units(unit_name, plan.city_id if plan else None)
        if len(matches) == 1:
            unit_id, unit_name, matches = matches[0].id, matches[0].name, []
        else:
            problems["unit_name"] = "unit_many" if matches else "unit_none"
    due_from, due_to = values.get("due_from"), values.get("due_to")
    if due_from and due_to and due_to < due_from:
        problems["to"] = "range"
        due_to = None
    filters = LedgerFilters(
        plan_id=plan.id if plan else None,
        area_section_ids=area_ids,
        unit_id=unit_id,
        lead_id=values.get("lead"),
        status=values.get("status"),
        light=values.get("light"),
        due_from=due_from,
        due_to=due_to,
        view=values.get("view"),
        sort=values.get("sort", "item"),
        descending=values.get("dir") == "desc",
    )
    return Resolved(filters, plan, areas, problems, unit_name, matches)


#: Matches listed when a typed unit name is ambiguous.
UNIT_MATCHES = 10


def find_units(text: str, city_id: int | None) -> list[Any]:
    """Units a typed name means: an exact name or alias wins; else those containing the text
    (id and name rows, at most UNIT_MATCHES + 1 so callers can tell "more")."""
    text = text.strip()
    named = select(UnitAlias.unit_id).where(UnitAlias.name == text, UnitAlias.unit_id.is_not(None))
    exact = select(Unit.id, Unit.name).where(or_(Unit.name == text, Unit.id.in_(named)))
    like = select(Unit.id, Unit.name).where(Unit.name.contains(text, autoescape=True))
    if city_id is not None:
        exact, like = exact.where(Unit.city_id == city_id), like.where(Unit.city_id == city_id)
    found = list(db.session.execute(exact.order_by(Unit.id).limit(2)))
    if len(found) == 1:
        return found
    return list(db.session.execute(like.order_by(Unit.name, Unit.id).limit(UNIT_MATCHES + 1)))


def plan_sections(plan_id: int) -> list[Section]:
    """A plan's sections, depth-first (the order they are printed in)."""
    query = select(Section).where(Section.plan_id == plan_id).order_by(Section.position)
    return list(db.session.scalars(query))


def _top_of(section: Section, by_id: dict[int, Section]) -> Section:
    while section.parent_id is not None and section.parent_id in by_id:
        section = by_id[section.parent_id]
    return section


def area_labels(plan_ids: set[int]) -> dict[int, str]:
    """Section id → its area's label (一、政务服务), for the sections of these plans (one query)."""
    if not plan_ids:
        return {}
    rows = db.session.execute(
        select(Section.id, Section.parent_id, Section.number, Section.title).where(
            Section.plan_id.in_(plan_ids)
        )
    ).all()
    parents = {r.id: r.parent_id for r in rows}
    names = {r.id: section_label(r.number, r.title) for r in rows}
    labels = {}
    for section_id in parents:
        top = section_id
        while parents.get(top) is not None:
            top = parents[top]
        labels[section_id] = names[top]
    return labels


def lead_units(item_ids: Any) -> dict[int, list[tuple[str, str]]]:
    """Item id → [(name, role)] of its lead and lead assessment units and groups (one query)."""
    rows = db.session.execute(
        select(ItemUnit.item_id, ItemUnit.role, Unit.name, UnitGroup.name)
        .outerjoin(Unit, Unit.id == ItemUnit.unit_id)
        .outerjoin(UnitGroup, UnitGroup.id == ItemUnit.group_id)
        .where(ItemUnit.item_id.in_(item_ids), ItemUnit.role.in_(LEAD_ROLES))
        .order_by(ItemUnit.item_id, ItemUnit.role, ItemUnit.position)
    ).all()
    out: dict[int, list[tuple[str, str]]] = {}
    for item_id, role, unit_name, group_name in rows:
        out.setdefault(item_id, []).append((unit_name or group_name, role))
    return out


def days_overdue(status: str, next_due: date | None, today: date) -> int | None:
    """Calendar days the next due date is past (超期N天), None when not overdue: the same rule
    as ``Assignment.overdue_on`` (not completed, next open milestone before today)."""
    if status == AssignmentStatus.COMPLETED.value or next_due is None or next_due >= today:
        return None
    return (today - next_due).days


def visible_to(user: User) -> ColumnElement[bool] | None:
    """The WHERE that limits a user to what they may see (None: everything)."""
    if user.role in READ_ALL:
        return None
    if user.unit_id is None:
        return false()
    return Assignment.unit_id == user.unit_id


class CountingCalendar:
    """Working days from one start day, counted once, so each count is a subtraction.

    light_for asks for working_days_between(today, next due) per row, which walks the days one
    by one; across a page that is thousands of calendar lookups. Counts from another start or
    beyond the window go to the wrapped calendar, so every answer is the calendar's own.
    """

    def __init__(self, calendar: WorkingCalendar, start: date, end: date) -> None:
        self.calendar = calendar
        self.start = start
        #: counts[n] = working days in (start, start + n days]
        self.counts = [0]
        day = start
        while day < end:
            day += timedelta(days=1)
            self.counts.append(self.counts[-1] + calendar.is_working_day(day))

    def working_days_between(self, start: date, end: date) -> int:
        offset = (end - start).days
        if start == self.start and 0 <= offset < len(self.counts):
            return self.counts[offset]
        return self.calendar.working_days_between(start, end)


@dataclass
class LedgerRow:
    """One assignment as the ledger page shows it."""

    assignment: Assignment
    area: str | None
    leads: list[tuple[str, str]]
    next_due: date | None
    next_title: str | None
    last_report_on: date | None
    light: Light
    #: Days past the next due date (超期N天), None when not overdue.
    days_overdue: int | None = None


@dataclass(frozen=True)
class ExportRow:
    """One assignment as the Excel export writes it (plain values, no ORM objects)."""

    assignment_id: int
    plan: str
    number: str
    title: str | None
    text: str
    area: str | None
    unit: str
    leads: list[tuple[str, str]]
    status: str
    light_reason: str
    percent: int
    next_due: date | None
    last_report_on: date | None
    #: Days past the next due date, None when not overdue (as ``days_overdue`` counts them).
    days_overdue: int | None = None
    #: The next open milestone's title (its date is ``next_due``).
    next_title: str | None = None
    #: The newest report's 工作进展 / 存在问题 / 下步计划.
    progress: str | None = None
    problems: str | None = None
    next_steps: str | None = None

    @property
    def light(self) -> str:
        return COLOR_OF[self.light_reason]


class InvalidCursor(ValueError):
    """A page link's cursor that this ledger did not give out for this sort (changed, cut
    short, or made for another sort or direction)."""


#: How each sort's key values are written in a cursor (after them comes the row's id).
CURSOR_KINDS: dict[str, tuple[str, ...]] = {
    "item": ("int", "int"),
    "plan": ("str", "int"),
    "unit": ("str", "int"),
    "status": ("int",),
    "light": ("int",),
    "percent": ("int",),
    "due": ("date",),
    "report": ("datetime",),
}
#: Sorts whose one key may be NULL (those rows come last, in either direction).
NULLABLE_SORTS = ("due", "report")
_CURSOR_SALT = "taskhub-ledger-cursor"


@dataclass(frozen=True)
class Cursor:
    """A place in the ledger's order: one row's sort key values and id.

    A page link carries the first or last row's cursor: the next page is the rows after it,
    the previous one the rows before it, read from an index where one serves the sort
    (keyset paging: the same cost at any depth, where OFFSET reads every row before the page).
    The values, not the row, are the place: a deep link stays valid when its row is gone.
    """

    sort: str
    descending: bool
    values: tuple[Any, ...]
    id: int

    def encode(self) -> str:
        """The cursor as a URL-safe string, signed with the app's secret key."""
        values = [v.isoformat() if isinstance(v, date) else v for v in self.values]
        direction = "desc" if self.descending else "asc"
        return str(_serializer().dumps([self.sort, direction, values, self.id]))

    @classmethod
    def decode(cls, raw: str, filters: LedgerFilters) -> Cursor:
        """The cursor of a page link, for the filters' sort and direction (InvalidCursor)."""
        try:
            sort, direction, raw_values, ident = _serializer().loads(raw)
        except (BadData, ValueError, TypeError) as exc:
            raise InvalidCursor("invalid") from exc
        if sort != f_sort(filters) or direction != ("desc" if filters.descending else "asc"):
            raise InvalidCursor("other_sort")
        kinds = CURSOR_KINDS[sort]
        if not isinstance(raw_values, list) or len(raw_values) != len(kinds):
            raise InvalidCursor("invalid")
        if not isinstance(ident, int) or isinstance(ident, bool):
            raise InvalidCursor("invalid")
        values: list[Any] = []
        try:
            for kind, value in zip(kinds, raw_values, strict=True):
                if value is None and sort in NULLABLE_SORTS:
                    values.append(None)
                elif kind == "date":
                    values.append(date.fromisoformat(value))
                elif kind == "datetime":
                    values.append(datetime.fromisoformat(value))
                elif isinstance(value, int if kind == "int" else str) and not isinstance(
                    value, bool
                ):
                    values.append(value)
                else:
                    raise ValueError(value)
        except (ValueError, TypeError) as exc:
            raise InvalidCursor("invalid") from exc
        return cls(sort, filters.descending, tuple(values), ident)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_CURSOR_SALT)


def f_sort(filters: LedgerFilters) -> str:
    """The sort a page is in (unknown sorts are the document order)."""
    return filters.sort if filters.sort in CURSOR_KINDS else "item"


@dataclass
class Page:
    """One page of the ledger read by cursor: its rows and where the pages next to it start."""

    rows: list[LedgerRow]
    #: The first and last row's cursors (the previous and next pages' links), None when empty.
    first: Cursor | None
    last: Cursor | None
    has_previous: bool
    has_next: bool


class Ledger:
    """The filtered assignments as one SQL query, with counts, pages and a full export."""

    def __init__(
        self,
        filters: LedgerFilters,
        *,
        viewer: User,
        today: date,
        fingerprint: cache.Fingerprint | None = None,
    ) -> None:
        self.filters = filters
        self.fingerprint = fingerprint
        self.viewer = viewer
        self.today = today
        # The due-soon bound needs the calendar a few weeks ahead (one query).
        self.calendar = WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=30))
        self.next_due = next_due()
        self.soon_before = due_soon_before(today, self.calendar)
        self.reason = light_reason(today, self.soon_before)
        self.last_report = (
            select(func.max(ProgressReport.submitted_at))
            .where(ProgressReport.assignment_id == Assignment.id)
            .correlate(Assignment)
            .scalar_subquery()
        )

    # -- the query -----------------------------------------------------------------------------

    def _filtered(self, query: Any, *, join: bool = True) -> Any:
        f = self.filters
        # The count needs no item or plan columns (unless the pace rule of yellow/green does):
        # without the joins PostgreSQL counts 100,000 assignments about three times faster.
        if join or f.light in ("yellow", "green"):
            query = query.join(Item, Item.id == Assignment.item_id).join(
                Plan, Plan.id == Item.plan_id
            )
            plan_items, area_items = Item.plan_id == f.plan_id, Item.section_id
        else:
            plan_items = Assignment.item_id.in_(select(Item.id).where(Item.plan_id == f.plan_id))
            area_items = None
        scope = visible_to(self.viewer)
        if scope is not None:
            query = query.where(scope)
        if f.plan_id is not None:
            query = query.where(plan_items)
        if f.area_section_ids is not None:
            if area_items is None:
                in_area = select(Item.id).where(Item.section_id.in_(f.area_section_ids))
                query = query.where(Assignment.item_id.in_(in_area))
            else:
                query = query.where(area_items.in_(f.area_section_ids))
        if f.unit_id is not None:
            query = query.where(Assignment.unit_id == f.unit_id)
        if f.lead_id is not None:
            # Named directly, or through a group the unit belongs to.
            groups = groups_containing(f.lead_id)
            led = select(ItemUnit.item_id).where(
                ItemUnit.role.in_(LEAD_ROLES),
                or_(ItemUnit.unit_id == f.lead_id, ItemUnit.group_id.in_(groups)),
            )
            query = query.where(Assignment.item_id.in_(led))
        if f.status is not None:
            query = query.where(Assignment.status == f.status)
        if f.light is not None:
            query = query.where(light_is(f.light, self.today, self.soon_before))
        # The stored next due date (indexed): a range, no subquery per row.
        if f.due_from is not None and f.due_to is not None:
            query = query.where(self.next_due.between(f.due_from, f.due_to))
        elif f.due_from is not None:
            query = query.where(self.next_due >= f.due_from)
        elif f.due_to is not None:
            query = query.where(self.next_due <= f.due_to)
        if f.view is not None:
            condition = view_condition(f.view, self.today)
            if condition is not None:
                query = query.where(condition)
        return query

    def _keys(self) -> list[Any]:
        """The sort's key expressions (the row's id follows them as the tiebreak)."""
        sorts = self._sorts()
        return sorts.get(self.filters.sort, sorts["item"])

    def _sorts(self) -> dict[str, list[Any]]:
        return {
            "item": [Item.plan_id, Item.position],
            "plan": [Plan.title, Item.position],
            # Units of the same name (one per city) one after the other, each in id order.
            "unit": [Unit.name, Unit.id],
            "status": [case({s: i for i, s in enumerate(STATUS_ORDER)}, value=Assignment.status)],
            "light": [light_rank(self.reason)],
            "percent": [Assignment.percent],
            "due": [self.next_due],
            "report": [self.last_report],
            # The deadline board: overdue first, then by the next due date.
            "board": [case((Assignment.overdue_on(self.today), 0), else_=1), self.next_due],
        }

    def _ordered(self, query: Any, *, reverse: bool = False) -> Any:
        """``query`` in the page's order (``reverse``: backwards, for the rows before a place).

        The id breaks ties in the sort's direction, so paging is stable and every key with the
        id can come from one index read forwards or backwards.
        """
        f = self.filters
        descending = f.descending != reverse
        nullable = f.sort in ("due", "report", "board")
        order = []
        for key in self._keys():
            directed = key.desc() if descending else key.asc()
            if nullable:
                directed = directed.nulls_first() if reverse else directed.nulls_last()
            order.append(directed)
        return query.order_by(*order, Assignment.id.desc() if descending else Assignment.id)

    def count(self) -> int:
        """How many assignments match, counted once per state of the data.

        Counting 100,000 rows is the costliest statement of a ledger page (15-25 ms on
        PostgreSQL) and its answer changes only when an audited change happens, so it is cached
        per filters, visibility and day under the audit fingerprint (taskhub.core.cache).
        """
        f = self.filters
        scope = None if visible_to(self.viewer) is None else self.viewer.unit_id
        key = (
            "ledger-count",
            replace(f, sort="item", descending=False),
            scope,
            self.today,
        )
        return cache.cached(key, self._count, self.fingerprint)

    def total(self) -> tuple[int, bool]:
        """How many assignments match and whether that is an estimate (see
        taskhub.core.counts): exact for one unit's rows or a small ledger, otherwise
        PostgreSQL's planner estimate (the page shows 约N). Cached like :meth:`count`."""
        f = self.filters
        scope = None if visible_to(self.viewer) is None else self.viewer.unit_id
        key = ("ledger-total", replace(f, sort="item", descending=False), scope, self.today)
        return cache.cached(key, self._total, self.fingerprint)

    def _total(self) -> tuple[int, bool]:
        cheap = self.filters.unit_id is not None or visible_to(self.viewer) is not None
        if cheap or not counts.is_big(Assignment.__table__):
            return self._count(), False
        ids = self._filtered(select(Assignment.id).select_from(Assignment), join=False)
        return counts.planner_rows(ids), True

    def _count(self) -> int:
        query = self._filtered(
            select(func.count(Assignment.id)).select_from(Assignment), join=False
        )
        return db.session.scalar(query) or 0

    def _places(self) -> Any:
        """The ids of the matching rows with their sort keys (a row's place in the order)."""
        query = select(Assignment.id, *self._keys())
        if self.filters.sort == "unit":
            query = query.join(Unit, Unit.id == Assignment.unit_id)
        return self._filtered(query)

    def _cursor(self, row: Any) -> Cursor:
        f = self.filters
        return Cursor(f_sort(f), f.descending, tuple(row[1:]), row[0])

    def page(self, number: int, size: int = PAGE_SIZE) -> list[LedgerRow]:
        """One page of rows by number (OFFSET: reads every row before it; see :meth:`at`)."""
        return self.numbered(number, size).rows

    def numbered(self, number: int, size: int = PAGE_SIZE) -> Page:
        """Page ``number`` by OFFSET, with cursors to go on from it (cheap near the start)."""
        # First the page's ids alone: sorting 100,000 rows is cheap without the per-row
        # subqueries (last report, light), which then run for these rows only.
        query = self._ordered(self._places()).limit(size + 1).offset((number - 1) * size)
        places = list(db.session.execute(query))
        return self._page(places[:size], number > 1, len(places) > size)

    def at(self, cursor: Cursor | None, *, backward: bool = False, size: int = PAGE_SIZE) -> Page:
        """The ``size`` rows after ``cursor`` (``backward``: before it; no cursor: the first
        page, or backward the last), read by keyset: flat at any depth where an index serves
        the sort (see bench/README.md "Flat with data")."""
        places: list[Any] = []
        for query in self._segments(cursor, backward):
            places += db.session.execute(query.limit(size + 1 - len(places))).all()
            if len(places) > size:
                break
        more = len(places) > size
        places = places[:size]
        if backward:
            places.reverse()
            return self._page(places, more, cursor is not None)
        return self._page(places, cursor is not None, more)

    def _segments(self, cursor: Cursor | None, backward: bool) -> list[Any]:
        """The queries that read the rows after (or before) ``cursor``, one after the other.

        First the cursor's ties (its sort values, ids past its id: a range of the id within
        them), then the rows strictly past its values (``WHERE (keys) > (values)``, a range of
        the sort's index): each is read in index order. One condition for both made
        PostgreSQL read every later row of a large tie (an item's 5,000 units nationally) and
        sort them. A sort that may be NULL (next due, last report) puts those rows last: they
        are one more query (by id), as an OR would make PostgreSQL gather and sort every
        later row.
        """
        keys = self._keys()
        descending = self.filters.descending != backward
        places = self._places()
        by_id = Assignment.id.desc() if descending else Assignment.id
        if self.filters.sort not in NULLABLE_SORTS:
            if cursor is None:
                return [self._ordered(places, reverse=backward)]
            return self._beyond(places, keys, cursor, descending, backward)
        key = keys[0]
        valued = places.where(key.is_not(None))
        nulls = places.where(key.is_(None))
        if cursor is not None and cursor.values[0] is None:
            # A place among the NULLs: forwards, the NULLs after it; backwards, those before
            # it and then every valued row.
            past = Assignment.id < cursor.id if descending else Assignment.id > cursor.id
            nulls_after = nulls.where(past).order_by(by_id)
            if backward:
                return [nulls_after, self._ordered(valued, reverse=True)]
            return [nulls_after]
        if cursor is not None:
            # From a valued place backwards only valued rows are before it.
            ahead = self._beyond(valued, keys, cursor, descending, backward)
            return ahead if backward else [*ahead, nulls.order_by(by_id)]
        if backward:  # the last page: the NULLs come first backwards
            return [nulls.order_by(by_id), self._ordered(valued, reverse=True)]
        return [self._ordered(valued), nulls.order_by(by_id)]

    def _beyond(
        self, query: Any, keys: list[Any], cursor: Cursor, descending: bool, backward: bool
    ) -> list[Any]:
        """The rows of ``query`` past ``cursor`` going up (``descending``: going down): its
        ties past its id, then the rows past its values."""
        values = list(cursor.values)
        same = and_(*(k == v for k, v in zip(keys, values, strict=True)))
        if len(keys) == 1:
            key, value = keys[0], values[0]
        else:
            key, value = tuple_(*keys), tuple_(*values)
        if descending:
            ties = query.where(same, Assignment.id < cursor.id).order_by(Assignment.id.desc())
            past = query.where(key < value)
        else:
            ties = query.where(same, Assignment.id > cursor.id).order_by(Assignment.id)
            past = query.where(key > value)
        return [ties, self._ordered(past, reverse=backward)]

    def _page(self, places: list[Any], has_previous: bool, has_next: bool) -> Page:
        return Page(
            rows=self._rows([p[0] for p in places]),
            first=self._cursor(places[0]) if places else None,
            last=self._cursor(places[-1]) if places else None,
            has_previous=has_previous,
            has_next=has_next,
        )

    def _rows(self, ids: list[int]) -> list[LedgerRow]:
        """These assignments as page rows, in this order, with their lights (lights as
        tracking.lights computes them)."""
        if not ids:
            return []
        query = (
            select(Assignment, self.next_due.label("next_due"), self.last_report.label("last"))
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .join(Unit, Unit.id == Assignment.unit_id)
            .where(Assignment.id.in_(ids))
            .options(
                contains_eager(Assignment.item).contains_eager(Item.plan),
                contains_eager(Assignment.unit),
                selectinload(Assignment.milestones),
            )
        )
        loaded = {row[0].id: row for row in db.session.execute(query)}
        found = [loaded[i] for i in ids]
        leads = lead_units([a.item_id for a, _, _ in found])
        areas = area_labels({a.item.plan_id for a, _, _ in found})
        # light_for counts working days up to each next due date: one calendar covers them all.
        reach = max([d for _, d, _ in found if d is not None], default=self.today)
        calendar = CountingCalendar(
            WorkingCalendar.load(
                self.today - timedelta(days=7), max(reach, self.today + timedelta(days=30))
            ),
            self.today,
            reach,
        )
        rows = []
        for assignment, due, last in found:
            open_steps = [
                m for m in assignment.milestones if m.status == MilestoneStatus.OPEN.value
            ]
            upcoming = min(open_steps, key=lambda m: (m.effective_due_on, m.id), default=None)
            rows.append(
                LedgerRow(
                    assignment=assignment,
                    area=areas.get(assignment.item.section_id or 0),
                    leads=leads.get(assignment.item_id, []),
                    next_due=due,
                    next_title=upcoming.title if upcoming else None,
                    last_report_on=_local_date(last),
                    days_overdue=days_overdue(assignment.status, due, self.today),
                    light=light_for(
                        assignment,
                        self.today,
                        calendar,
                        year_start=date(assignment.item.plan.year, 1, 1),
                    ),
                )
            )
        return rows

    def export_rows(self, *, chunk: int = 2000) -> Iterator[ExportRow]:
        """Every matching row in the page's order, streamed in chunks (lights from SQL).

        The rows come through a server-side cursor (``yield_per``: PostgreSQL fetches
        ``chunk`` rows at a time, memory stays flat); each chunk then reads its newest
        reports and next milestones in one query each, never one per row.
        """
        # Items and sections are few next to assignments: read the plan's (or all) at once.
        plan_id = self.filters.plan_id
        items = (
            select(Item.id) if plan_id is None else select(Item.id).where(Item.plan_id == plan_id)
        )
        leads = lead_units(items)
        plan_ids = {plan_id} if plan_id else set(db.session.scalars(select(Plan.id)))
        areas = area_labels(plan_ids)
        query = select(
            Assignment.id,
            Plan.title,
            Item.number,
            Item.code,
            Item.title,
            Item.text,
            Item.section_id,
            Item.id,
            Unit.name,
            Assignment.status,
            self.reason,
            Assignment.percent,
            self.next_due,
            self.last_report,
        ).select_from(Assignment)
        query = self._ordered(self._filtered(query).join(Unit, Unit.id == Assignment.unit_id))
        result = db.session.execute(query.execution_options(yield_per=chunk))
        for batch in result.partitions():
            ids = [row[0] for row in batch]
            reports = newest_reports(ids)
            steps = next_milestones(ids)
            for (
                aid,
                plan,
                number,
                code,
                title,
                text,
                section_id,
                item_id,
                unit,
                status,
                reason,
                percent,
                due,
                last,
            ) in batch:
                report = reports.get(aid)
                yield ExportRow(
                    assignment_id=aid,
                    plan=plan,
                    number=number or code,
                    title=title,
                    text=text,
                    area=areas.get(section_id or 0),
                    unit=unit,
                    leads=leads.get(item_id, []),
                    status=status,
                    light_reason=reason,
                    percent=percent,
                    next_due=due,
                    last_report_on=_local_date(last),
                    days_overdue=days_overdue(status, due, self.today),
                    next_title=steps.get(aid),
                    progress=report.progress if report else None,
                    problems=report.problems if report else None,
                    next_steps=report.next_steps if report else None,
                )


def newest_reports(assignment_ids: list[int]) -> dict[int, Any]:
    """Assignment id → its newest report's progress, problems and next steps (one query).

    Newest is the highest id (reports are only ever added), whatever its review state: the
    same report whose date the "last report" column shows.
    """
    if not assignment_ids:
        return {}
    newest = (
        select(func.max(ProgressReport.id))
        .where(ProgressReport.assignment_id.in_(assignment_ids))
        .group_by(ProgressReport.assignment_id)
    )
    rows = db.session.execute(
        select(
            ProgressReport.assignment_id,
            ProgressReport.progress,
            ProgressReport.problems,
            ProgressReport.next_steps,
        ).where(ProgressReport.id.in_(newest))
    )
    return {row.assignment_id: row for row in rows}


def next_milestones(assignment_ids: list[int]) -> dict[int, str]:
    """Assignment id → the title of its next open milestone (the one ``next_due`` dates)."""
    if not assignment_ids:
        return {}
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    rows = db.session.execute(
        select(Milestone.assignment_id, Milestone.title, Milestone.kind)
        .where(
            Milestone.assignment_id.in_(assignment_ids),
            Milestone.status == MilestoneStatus.OPEN.value,
        )
        .order_by(Milestone.assignment_id, due.desc(), Milestone.id.desc())
    )
    # Ordered latest first: the last one written per assignment is the earliest (the page's).
    out: dict[int, str] = {}
    kinds: dict[str, str] = {}
    for aid, title, kind in rows:
        if not title and kind not in kinds:
            kinds[kind] = kind_title(kind)
        out[aid] = title or kinds[kind]
    return out


def kind_title(kind: str) -> str:
    """A milestone without a title is named by its kind, in Chinese (the export's language)."""
    from flask_babel import force_locale

    from taskhub.core.labels import label

    with force_locale("zh"):
        return str(label("milestone_kind", kind))


def _local_date(moment: datetime | None) -> date | None:
    return local_time(moment).date() if moment is not None else None


#: Above this many units a city's unit filter is a search box, not a list.
UNIT_LIST_MAX = 200


@dataclass(frozen=True)
class Choice:
    """One option of a unit filter."""

    id: int
    name: str


def unit_choices(plan: Plan | None) -> list[Any] | None:
    """Units the unit filter lists: those of the plan's city, or of every city when no plan is
    chosen (named with their city then, as names repeat across cities); None when there are
    too many for a list (a province has thousands): the filter is a search box then."""
    if plan is not None:
        rows = list(
            db.session.execute(
                select(Unit.id, Unit.name)
                .where(Unit.city_id == plan.city_id)
                .order_by(Unit.kind, Unit.id)
                .limit(UNIT_LIST_MAX + 1)
            )
        )
        return None if len(rows) > UNIT_LIST_MAX else rows
    found = list(
        db.session.execute(
            select(Unit.id, Unit.name, City.name)
            .join(City, City.id == Unit.city_id)
            .order_by(City.name, Unit.kind, Unit.id)
            .limit(UNIT_LIST_MAX + 1)
        )
    )
    if len(found) > UNIT_LIST_MAX:
        return None
    several = len({city for _, _, city in found}) > 1
    return [Choice(i, f"{name}（{city}）" if several else name) for i, name, city in found]


def unit_name(unit_id: int) -> str | None:
    return db.session.scalar(select(Unit.name).where(Unit.id == unit_id))


def lead_choices(plan: Plan | None) -> list[Unit]:
    """Units named as lead or lead assessment unit on the plan's items (every plan's when no
    plan is chosen)."""
    named = select(ItemUnit.unit_id).where(ItemUnit.role.in_(LEAD_ROLES))
    if plan is not None:
        named = named.join(Item, Item.id == ItemUnit.item_id).where(Item.plan_id == plan.id)
    return list(db.session.scalars(select(Unit).where(Unit.id.in_(named)).order_by(Unit.id)))


def board_filters(filters: LedgerFilters) -> LedgerFilters:
    """The deadline board's filters: a view instead of a sort (overdue first, then by date)."""
    return replace(filters, view=filters.view or "open", sort="board", descending=False)
