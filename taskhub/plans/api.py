"""JSON API of plans, their sections and items (see taskhub.core.api for authentication,
errors and paging).

Reading is open to every signed-in role as the plan pages are: plans are public within the
deployment. The lifecycle actions (publish, close, archive, reopen, copy) need an admin or
office token and run taskhub.plans.lifecycle, as the plan page's buttons do.
What a unit's token sees narrower than the office is what the item page
narrows: the assignment counts and step progress of an item are its own unit's only.
Lists read plain rows (Core selects), never ORM objects one by one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from flask.views import MethodView
from sqlalchemy import Select, case, exists, func, or_, select

from taskhub.accounts.models import User
from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, commit_or_fail, paged
from taskhub.core.db import db
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.plans import lifecycle, services
from taskhub.plans.models import (
    UNIT_ROLES,
    Item,
    ItemUnit,
    Plan,
    PlanAssessee,
    PlanRevision,
    Section,
)
from taskhub.plans.schemas import (
    ITEM_SORTS,
    PLAN_SORTS,
    SECTION_SORTS,
    ItemDetailSchema,
    ItemListArgs,
    ItemRowSchema,
    PlanCopyArgs,
    PlanDetailSchema,
    PlanListArgs,
    PlanRevisionSchema,
    PlanRowSchema,
    SectionListArgs,
    SectionRowSchema,
)
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, ItemMilestone
from taskhub.units.models import City, Unit, UnitGroup
from taskhub.units.services import groups_containing

blp = core.blueprint("plans", __name__, description="Plans, their sections and items.")


# -- plans --------------------------------------------------------------------------------------

_PLAN_SORT_COLUMNS = {
    "code": Plan.code,
    "year": Plan.year,
    "issued_on": Plan.issued_on,
    "title": Plan.title,
}
assert set(_PLAN_SORT_COLUMNS) == set(PLAN_SORTS)


def _plan_rows() -> Select[Any]:
    query = select(
        Plan.id,
        Plan.code,
        Plan.title,
        City.code.label("city_code"),
        City.name.label("city_name"),
        Plan.document_number,
        Plan.issued_on,
        Plan.year,
        Plan.kind,
        Plan.points,
        Plan.status,
        Plan.revision,
    ).join(City, City.id == Plan.city_id)
    return cast(Select[Any], query)


def _plan_counts(plan_ids: list[int]) -> dict[int, dict[str, int]]:
    """Items, assignments and assigned units of each plan (two grouped queries)."""
    counts = {pid: {"items": 0, "assignments": 0, "units": 0} for pid in plan_ids}
    if not plan_ids:
        return counts
    for pid, n in db.session.execute(
        select(Item.plan_id, func.count()).where(Item.plan_id.in_(plan_ids)).group_by(Item.plan_id)
    ):
        counts[pid]["items"] = n
    for pid, n, units in db.session.execute(
        select(
            Item.plan_id, func.count(Assignment.id), func.count(func.distinct(Assignment.unit_id))
        )
        .join(Assignment, Assignment.item_id == Item.id)
        .where(Item.plan_id.in_(plan_ids))
        .group_by(Item.plan_id)
    ):
        counts[pid].update(assignments=n, units=units)
    return counts


def _plan_dict(row: Any, counts: dict[str, Any]) -> dict[str, Any]:
    return {
        **row._asdict(),
        "city": {"code": row.city_code, "name": row.city_name},
        "counts": counts,
    }


@blp.route("/plans/")
class Plans(MethodView):
    @blp.arguments(PlanListArgs, location="query")
    @blp.response(200, PlanRowSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List plans with their item, assignment and unit counts."""
        query = _plan_rows()
        if "city" in args:
            query = query.where(City.code == args["city"])
        if "year" in args:
            query = query.where(Plan.year == args["year"])
        if "kind" in args:
            query = query.where(Plan.kind == args["kind"])
        if "status" in args:
            query = query.where(Plan.status == args["status"])
        query = apply_sort(query, args["sort"], _PLAN_SORT_COLUMNS, Plan.code)
        rows = paged(query, pagination_parameters, scalars=False)
        counts = _plan_counts([r.id for r in rows])
        return [_plan_dict(r, counts[r.id]) for r in rows]


def _plan_row_or_404(code: str) -> Any:
    row = db.session.execute(_plan_rows().where(Plan.code == code)).one_or_none()
    if row is None:
        core.abort(404, f"Plan {code} does not exist.")
    return row


def _detail_counts(plan_id: int) -> dict[str, Any]:
    """What the plan's summary counts: items, sections, assignments by status, overdue."""
    counts: dict[str, Any] = _plan_counts([plan_id])[plan_id]
    counts["sections"] = (
        db.session.scalar(select(func.count()).where(Section.plan_id == plan_id)) or 0
    )
    counts["unparsed_deadlines"] = (
        db.session.scalar(
            select(func.count()).where(Item.plan_id == plan_id, Item.is_deadline_unparsed)
        )
        or 0
    )
    in_plan = select(Item.id).where(Item.plan_id == plan_id)
    by_status = db.session.execute(
        select(
            Assignment.status,
            func.count(),
            func.coalesce(func.sum(case((Assignment.overdue_on(office_today()), 1), else_=0)), 0),
        )
        .where(Assignment.item_id.in_(in_plan))
        .group_by(Assignment.status)
    ).all()
    counts["by_status"] = {status: n for status, n, _ in by_status}
    counts["overdue"] = sum(int(overdue) for _, _, overdue in by_status)
    return counts


def _assessed(plan_id: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(PlanAssessee.unit_id, PlanAssessee.group_id, Unit.name, UnitGroup.name)
        .outerjoin(Unit, Unit.id == PlanAssessee.unit_id)
        .outerjoin(UnitGroup, UnitGroup.id == PlanAssessee.group_id)
        .where(PlanAssessee.plan_id == plan_id)
        .order_by(PlanAssessee.position)
    )
    return [_target(unit_id, group_id, unit, group) for unit_id, group_id, unit, group in rows]


def _target(unit_id: int | None, group_id: int | None, unit: str, group: str) -> dict[str, Any]:
    if unit_id is not None:
        return {"type": "unit", "id": unit_id, "name": unit}
    return {"type": "group", "id": group_id, "name": group}


@blp.route("/plans/<code>")
class PlanByCode(MethodView):
    @blp.etag
    @blp.response(200, PlanDetailSchema)
    def get(self, code: str) -> dict[str, Any]:
        """One plan with its summary counts and the units it assesses."""
        return _plan_detail(code)


def _plan_detail(code: str) -> dict[str, Any]:
    row = _plan_row_or_404(code)
    plan = db.session.get(Plan, row.id)
    assert plan is not None
    return {
        **_plan_dict(row, _detail_counts(row.id)),
        "source": plan.source,
        "notes": plan.notes,
        "source_label": plan.source_label,
        "assessed": _assessed(row.id),
    }


# -- lifecycle ----------------------------------------------------------------------------------


def _plan_for_change(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code).with_for_update())
    if plan is None:
        core.abort(404, f"Plan {code} does not exist.")
    return plan


def _lifecycle_route(action: str, change: Any, doc: str) -> None:
    class Change(MethodView):
        @core.roles(*STAFF)
        @blp.response(200, PlanDetailSchema)
        @blp.alt_response(422, schema=core.ErrorSchema, description="Not allowed now, or invalid.")
        def post(self, code: str) -> dict[str, Any]:
            plan = _plan_for_change(code)
            commit_or_fail(lambda: change(plan, actor=api_user()))
            return _plan_detail(code)

    Change.post.__doc__ = doc
    Change.__name__ = f"Plan{action.title()}"
    blp.route(f"/plans/<code>/{action}")(Change)


_lifecycle_route(
    "publish",
    lifecycle.publish,
    "Publish a draft: checked with the seed loader's rules (422 lists the problems), then "
    "its assignments and milestones are created.",
)
_lifecycle_route("close", lifecycle.close, "Close a published plan: read-only, still ranked.")
_lifecycle_route("archive", lifecycle.archive, "Archive a plan: left out of everyday lists, kept.")
_lifecycle_route("reopen", lifecycle.reopen, "Use a closed or archived plan again.")


@blp.route("/plans/<code>/copy")
class PlanCopy(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(PlanCopyArgs)
    @blp.response(201, PlanDetailSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Code taken or invalid input.")
    def post(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Copy the plan to a new year (年度复制): a draft with the same structure and units;
        deadline phrases naming a year are shifted and listed in its revision record."""
        plan = _plan_for_change(code)
        made = commit_or_fail(lambda: lifecycle.copy_to_year(plan, actor=api_user(), **args))
        return _plan_detail(made.code)


@blp.route("/plans/<code>/revisions")
class PlanRevisions(MethodView):
    @blp.response(200, PlanRevisionSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, code: str, pagination_parameters: Any) -> list[dict[str, Any]]:
        """The plan's revision record (修订记录), newest first."""
        plan_id = _plan_row_or_404(code).id
        query = cast(
            Select[Any],
            select(PlanRevision, User.id.label("uid"), User.display_name)
            .outerjoin(User, User.id == PlanRevision.actor_id)
            .where(PlanRevision.plan_id == plan_id)
            .order_by(PlanRevision.id.desc()),
        )
        rows = paged(query, pagination_parameters, scalars=False)
        return [
            {
                "number": r.PlanRevision.number,
                "kind": r.PlanRevision.kind,
                "reason": r.PlanRevision.reason,
                "summary": r.PlanRevision.summary,
                "changes": r.PlanRevision.changes,
                "actor": {"id": r.uid, "name": r.display_name} if r.uid else None,
                "created_at": r.PlanRevision.created_at,
            }
            for r in rows
        ]


# -- sections -----------------------------------------------------------------------------------

_SECTION_SORT_COLUMNS = {
    "position": Section.position,
    "title": Section.title,
    "points": Section.points,
}
assert set(_SECTION_SORT_COLUMNS) == set(SECTION_SORTS)


@blp.route("/plans/<code>/sections")
class PlanSections(MethodView):
    @blp.arguments(SectionListArgs, location="query")
    @blp.response(200, SectionRowSchema(many=True))
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], code: str, pagination_parameters: Any
    ) -> list[dict[str, Any]]:
        """A plan's sections, depth-first, each with its parent's id (build the tree from it)."""
        plan_id = _plan_row_or_404(code).id
        item_counts = (
            select(Item.section_id, func.count().label("n"))
            .where(Item.plan_id == plan_id)
            .group_by(Item.section_id)
            .subquery()
        )
        query = (
            select(
                Section.id,
                Section.parent_id,
                Section.position,
                Section.depth,
                Section.path,
                Section.number,
                Section.title,
                Section.points,
                Section.applies_to,
                func.coalesce(item_counts.c.n, 0).label("item_count"),
            )
            .outerjoin(item_counts, item_counts.c.section_id == Section.id)
            .where(Section.plan_id == plan_id)
        )
        if "depth" in args:
            query = query.where(Section.depth == args["depth"])
        if "parent" in args:
            query = query.where(Section.parent_id == args["parent"])
        query = apply_sort(query, args["sort"], _SECTION_SORT_COLUMNS, Section.position)
        return [row._asdict() for row in paged(query, pagination_parameters, scalars=False)]


# -- items --------------------------------------------------------------------------------------

_ITEM_SORT_COLUMNS = {
    "id": Item.id,
    "position": Item.position,
    "code": Item.code,
    "points": Item.points,
}
assert set(_ITEM_SORT_COLUMNS) == set(ITEM_SORTS)


def _item_rows() -> Select[Any]:
    query = select(
        Item.id,
        Plan.code.label("plan"),
        Item.section_id,
        Item.position,
        Item.number,
        Item.code,
        Item.title,
        Item.text,
        Item.points,
        Item.weight,
        Item.deadline_phrase.label("deadline"),
        Item.is_deadline_unparsed,
        Item.target,
        Item.applicability,
        Item.applies_to,
    ).join(Plan, Plan.id == Item.plan_id)
    return cast(Select[Any], query)


def _names_unit(unit_id: int, role: str | None) -> Any:
    """The item names the unit (in ``role``, or any), itself or through a group it belongs to."""
    groups = groups_containing(unit_id)
    condition = exists().where(
        ItemUnit.item_id == Item.id,
        or_(ItemUnit.unit_id == unit_id, ItemUnit.group_id.in_(groups)),
    )
    if role is not None:
        condition = condition.where(ItemUnit.role == role)
    return condition


def _in_section(section_id: int) -> Any:
    """Items in the section or any section below it (paths nest: "2" holds "2/1")."""
    section = db.session.get(Section, section_id)
    if section is None:
        return Item.id.is_(None)  # no such section: no items
    below = select(Section.id).where(
        Section.plan_id == section.plan_id,
        or_(Section.path == section.path, Section.path.startswith(section.path + "/")),
    )
    return Item.section_id.in_(below)


def _units_of(item_ids: list[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """The units and groups each item names, by role (one query for the whole page)."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {
        i: {role: [] for role in UNIT_ROLES} for i in item_ids
    }
    if not item_ids:
        return out
    rows = db.session.execute(
        select(
            ItemUnit.item_id,
            ItemUnit.role,
            ItemUnit.unit_id,
            ItemUnit.group_id,
            Unit.name,
            UnitGroup.name,
        )
        .outerjoin(Unit, Unit.id == ItemUnit.unit_id)
        .outerjoin(UnitGroup, UnitGroup.id == ItemUnit.group_id)
        .where(ItemUnit.item_id.in_(item_ids))
        .order_by(ItemUnit.item_id, ItemUnit.role, ItemUnit.position)
    )
    for item_id, role, unit_id, group_id, unit, group in rows:
        out[item_id][role].append(_target(unit_id, group_id, unit, group))
    return out


def _item_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    units = _units_of([r.id for r in rows])
    return [{**row._asdict(), "units": units[row.id]} for row in rows]


@blp.route("/items/")
class Items(MethodView):
    @blp.arguments(ItemListArgs, location="query")
    @blp.response(200, ItemRowSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List items (tasks or indicators) with their units by role."""
        query = _item_rows()
        if "plan" in args:
            query = query.where(Plan.code == args["plan"])
        if "section" in args:
            query = query.where(_in_section(args["section"]))
        if "lead" in args:
            query = query.where(_names_unit(args["lead"], "lead"))
        if "unit" in args:
            query = query.where(_names_unit(args["unit"], None))
        if "applicability" in args:
            query = query.where(Item.applicability == args["applicability"])
        if "unparsed" in args:
            query = query.where(Item.is_deadline_unparsed.is_(args["unparsed"]))
        if "q" in args:
            q = args["q"]
            query = query.where(
                or_(
                    Item.code.contains(q, autoescape=True),
                    Item.title.contains(q, autoescape=True),
                    Item.text.contains(q, autoescape=True),
                )
            )
        query = apply_sort(query, args["sort"], _ITEM_SORT_COLUMNS, Item.id)
        return _item_dicts(paged(query, pagination_parameters, scalars=False))


def _schedule(item_id: int, own_unit: int | None) -> list[dict[str, Any]]:
    """The item's schedule steps with their progress (``own_unit``: that unit's copies only)."""
    today = office_today()
    steps = db.session.scalars(
        select(ItemMilestone)
        .where(ItemMilestone.item_id == item_id)
        .order_by(ItemMilestone.due_on, ItemMilestone.id)
    ).all()
    progress = tracking.step_progress(item_id, today, unit_id=own_unit)
    # The timeline keeps the steps' order (they arrive sorted by date): pair them up.
    timeline = tracking.schedule_timeline(steps, progress, today)
    none = {"total": 0, "done": 0, "late": 0, "overdue": 0}
    return [
        {
            "id": step.id,
            "kind": step.kind,
            "title": step.title,
            "due_on": step.due_on,
            "source": step.source,
            "state": shown.state,
            "progress": asdict(progress[step.id]) if step.id in progress else none,
        }
        for step, shown in zip(steps, timeline, strict=True)
    ]


@blp.route("/items/<int:item_id>")
class ItemById(MethodView):
    @blp.etag
    @blp.response(200, ItemDetailSchema)
    def get(self, item_id: int) -> dict[str, Any]:
        """One item with what its page shows: units by role, points, schedule with progress,
        assignment counts (a unit's token: its own unit's assignment only)."""
        row = db.session.execute(_item_rows().where(Item.id == item_id)).one_or_none()
        if row is None:
            core.abort(404, f"Item {item_id} does not exist.")
        item = db.session.get(Item, item_id)
        assert item is not None
        user = api_user()
        # As on the item page: unit staff see only their own unit's assignment (-1: none).
        own = (user.unit_id or -1) if user.role == "unit" else None
        shown = tracking.shown_points(item)
        return {
            **_item_dicts([row])[0],
            "measure": item.measure,
            "sections": [
                {"id": s.id, "number": s.number, "title": s.title}
                for s in services.section_trail(item)
            ],
            "shown_points": {"basis": shown[0], "value": shown[1]} if shown else None,
            "schedule": _schedule(item_id, own),
            "assignment_counts": tracking.item_status_counts(item_id, unit_id=own),
        }
