"""JSON API of units, unit groups and contacts (see taskhub.core.api for authentication,
errors and paging).

Units and groups are readable by every signed-in role, as on the units pages. Contacts are
personal data: who may read and change them is the unit's own rule
(``Unit.can_view_contacts`` / ``can_edit_contacts``, the same the pages and the unit workspace
use), and changes go through ``units.services``, which checks it again and writes the audit
record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask.views import MethodView
from marshmallow import ValidationError
from sqlalchemy import Select, exists, func, or_, select

from taskhub.core import api as core
from taskhub.core.api import (
    PAGE,
    api_user,
    apply_sort,
    commit_or_fail,
    get_or_404,
    paged,
    roles,
)
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.permissions import READ_ALL, STAFF
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment
from taskhub.units import admin, merging, services
from taskhub.units.models import City, Contact, Unit, UnitAlias, UnitGroup
from taskhub.units.schemas import (
    CONTACT_SORTS,
    GROUP_SORTS,
    UNIT_SORTS,
    AliasArgs,
    AliasListArgs,
    AliasSchema,
    CityArgs,
    CityListArgs,
    CityPatchArgs,
    CitySchema,
    ContactArgs,
    ContactListArgs,
    ContactPatchArgs,
    ContactSchema,
    GroupArgs,
    GroupListArgs,
    GroupMembersArgs,
    GroupPatchArgs,
    GroupSchema,
    MemberListArgs,
    MergeArgs,
    MergeSchema,
    RetireArgs,
    UnitArgs,
    UnitContactListArgs,
    UnitDetailSchema,
    UnitListArgs,
    UnitPatchArgs,
    UnitSchema,
    check_reachable,
)

blp = core.blueprint("units", __name__, description="Units, unit groups and contacts.")


# -- cities -------------------------------------------------------------------------------------

#: The 409 of a change that the data as it stands refuses.
REFUSED = "Refused by the data as it stands (a name taken, a unit retired already …)."

R = TypeVar("R")


def _commit(change: Callable[[], R]) -> R:
    """``commit_or_fail`` for the keeping of cities and units: a change that valid input asks
    for but the data as it stands refuses (a name another unit has, a unit retired already)
    answers 409 with the reason by field; other domain errors as everywhere."""
    try:
        result = change()
    except admin.UnitRefused as error:
        db.session.rollback()
        field = error.field or "_schema"
        core.abort(409, error.message, code="conflict", errors={field: [error.message]})
    except DomainError as error:
        db.session.rollback()
        core.abort_for(error)
    db.session.commit()
    return result


def _city_dict(city: City) -> dict[str, Any]:
    active = db.session.scalar(
        select(func.count()).where(Unit.city_id == city.id, Unit.retired_on.is_(None))
    )
    return {
        "code": city.code,
        "name": city.name,
        "province": city.province,
        "timezone": city.timezone,
        "unit_count": active or 0,
    }


def _city_or_404(code: str, *, lock: bool = False) -> City:
    query = select(City).where(City.code == code)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    city = db.session.scalar(query)
    if city is None:
        core.abort(404, f"City {code} does not exist.")
    return city


@blp.route("/cities/")
class Cities(MethodView):
    @blp.arguments(CityListArgs, location="query")
    @blp.response(200, CitySchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List cities with their numbers of active units."""
        query: Select[Any] = select(City)
        if "q" in args:
            query = query.where(City.name.contains(args["q"], autoescape=True))
        query = apply_sort(query, args["sort"], {"code": City.code, "name": City.name}, City.id)
        return [_city_dict(c) for c in paged(query, pagination_parameters)]

    @roles(*STAFF)
    @blp.arguments(CityArgs)
    @blp.response(201, CitySchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Create a city (code, name, province, time zone); audited."""
        city = _commit(lambda: admin.create_city(args, actor=api_user()))
        return _city_dict(city)


@blp.route("/cities/<code>")
class CityByCode(MethodView):
    @blp.etag
    @blp.response(200, CitySchema)
    def get(self, code: str) -> dict[str, Any]:
        """One city; send its ETag in If-Match to change it."""
        return _city_dict(_city_or_404(code))

    @roles(*STAFF)
    @blp.etag
    @blp.arguments(CityPatchArgs(partial=True))
    @blp.response(200, CitySchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def patch(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Change a city's name, province or time zone (If-Match required); audited."""
        city = _city_or_404(code, lock=True)
        blp.check_etag(_city_dict(city), CitySchema)
        _commit(lambda: admin.update_city(city, args, actor=api_user()))
        return _city_dict(city)


# -- units --------------------------------------------------------------------------------------

_UNIT_SORT_COLUMNS = {"id": Unit.id, "name": Unit.name, "kind": Unit.kind}
assert set(_UNIT_SORT_COLUMNS) == set(UNIT_SORTS)


def _unit_rows() -> Select[Any]:
    query = select(
        Unit.id,
        Unit.name,
        Unit.kind,
        Unit.parent_id,
        Unit.retired_on,
        Unit.merged_into_id,
        City.code.label("city_code"),
        City.name.label("city_name"),
    ).join(City, City.id == Unit.city_id)
    return cast(Select[Any], query)


def _members_of(group_id: int) -> Any:
    return services.member_ids_of(group_id)


def _filtered_units(query: Select[Any], args: dict[str, Any], *, aliases: bool) -> Select[Any]:
    if "city" in args:
        query = query.where(City.code == args["city"])
    if "kind" in args:
        query = query.where(Unit.kind == args["kind"])
    if "group" in args:
        query = query.where(Unit.id.in_(_members_of(args["group"])))
    if args.get("include_retired") is False:
        query = query.where(Unit.retired_on.is_(None))
    if "q" in args:
        named = Unit.name.contains(args["q"], autoescape=True)
        if aliases:
            named = or_(
                named,
                exists().where(
                    UnitAlias.unit_id == Unit.id,
                    UnitAlias.name.contains(args["q"], autoescape=True),
                ),
            )
        query = query.where(named)
    return apply_sort(query, args["sort"], _UNIT_SORT_COLUMNS, Unit.id)


def _unit_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    """Units as lists show them, with their assignment counts (one grouped query)."""
    counts: dict[int, int] = {}
    if rows:
        counts = dict(
            db.session.execute(
                select(Assignment.unit_id, func.count())
                .where(Assignment.unit_id.in_([r.id for r in rows]))
                .group_by(Assignment.unit_id)
            ).all()
        )
    return [
        {
            **row._asdict(),
            "city": {"code": row.city_code, "name": row.city_name},
            "assignment_count": counts.get(row.id, 0),
        }
        for row in rows
    ]


@blp.route("/units/")
class Units(MethodView):
    @blp.arguments(UnitListArgs, location="query")
    @blp.response(200, UnitSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List units by city, kind or group, or by a name or alias they contain."""
        query = _filtered_units(_unit_rows(), args, aliases=True)
        return _unit_dicts(paged(query, pagination_parameters, scalars=False))

    @roles(*STAFF)
    @blp.arguments(UnitArgs)
    @blp.response(201, UnitDetailSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Create a unit of a city with its other names; audited."""
        city = _city_or_404(args.pop("city"))
        unit = _commit(lambda: admin.create_unit(city, args, actor=api_user()))
        return _unit_detail(unit.id)


@blp.route("/units/<int:unit_id>")
class UnitById(MethodView):
    @blp.etag
    @blp.response(200, UnitDetailSchema)
    def get(self, unit_id: int) -> dict[str, Any]:
        """One unit with its aliases, groups and assignment counts by plan."""
        return _unit_detail(unit_id)

    @roles(*STAFF)
    @blp.etag
    @blp.arguments(UnitPatchArgs(partial=True))
    @blp.response(200, UnitDetailSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def patch(self, args: dict[str, Any], unit_id: int) -> dict[str, Any]:
        """Change a unit's name, kind or parent (If-Match required); a new name keeps the old
        one as an alias; audited."""
        unit: Unit = get_or_404(Unit, unit_id, lock=True)
        blp.check_etag(_unit_detail(unit_id), UnitDetailSchema)
        _commit(lambda: admin.update_unit(unit, args, actor=api_user()))
        return _unit_detail(unit_id)


def _unit_detail(unit_id: int) -> dict[str, Any]:
    """A unit as UnitDetailSchema dumps it (404 when there is none)."""
    row = db.session.execute(_unit_rows().where(Unit.id == unit_id)).one_or_none()
    if row is None:
        core.abort(404, f"Unit {unit_id} does not exist.")
    aliases = db.session.scalars(
        select(UnitAlias.name).where(UnitAlias.unit_id == unit_id).order_by(UnitAlias.name)
    ).all()
    groups = db.session.execute(
        select(UnitGroup.id, UnitGroup.name)
        .where(UnitGroup.id.in_(services.groups_containing(unit_id)))
        .order_by(UnitGroup.name, UnitGroup.id)
    ).all()
    by_plan = db.session.execute(
        select(Plan.code, Plan.title, Assignment.role, func.count())
        .join(Item, Item.plan_id == Plan.id)
        .join(Assignment, Assignment.item_id == Item.id)
        .where(Assignment.unit_id == unit_id)
        .group_by(Plan.code, Plan.title, Assignment.role)
        .order_by(Plan.code, Assignment.role)
    ).all()
    return {
        **_unit_dicts([row])[0],
        "aliases": list(aliases),
        "groups": [{"id": g.id, "name": g.name} for g in groups],
        "assignments_by_plan": [
            {"plan": code, "title": title, "role": role, "count": n}
            for code, title, role, n in by_plan
        ],
    }


@blp.route("/units/<int:unit_id>/retire")
class UnitRetire(MethodView):
    @roles(*STAFF)
    @blp.arguments(RetireArgs)
    @blp.response(200, UnitDetailSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def post(self, args: dict[str, Any], unit_id: int) -> dict[str, Any]:
        """Retire a unit: it keeps its history and gets no new assignments; audited."""
        unit: Unit = get_or_404(Unit, unit_id, lock=True)
        on = args.get("retired_on")
        _commit(lambda: admin.retire_unit(unit, actor=api_user(), on=on))
        return _unit_detail(unit_id)


@blp.route("/units/<int:unit_id>/reactivate")
class UnitReactivate(MethodView):
    @roles(*STAFF)
    @blp.response(200, UnitDetailSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def post(self, unit_id: int) -> dict[str, Any]:
        """Make a retired (not merged) unit active again; audited."""
        unit: Unit = get_or_404(Unit, unit_id, lock=True)
        _commit(lambda: admin.reactivate_unit(unit, actor=api_user()))
        return _unit_detail(unit_id)


@blp.route("/units/<int:unit_id>/merge")
class UnitMerge(MethodView):
    @roles(*STAFF)
    @blp.arguments(MergeArgs)
    @blp.response(200, MergeSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def post(self, args: dict[str, Any], unit_id: int) -> dict[str, Any]:
        """Merge this unit into ``into`` (机构改革): open assignments, contacts, users, group
        memberships and names move; completed work stays; this unit is retired. ``dry_run``
        only previews (``problems`` lists what would refuse it). One transaction; audited."""
        source: Unit = get_or_404(Unit, unit_id, lock=True)
        target: Unit = get_or_404(Unit, args["into"], lock=True)
        if args["dry_run"]:
            return {**merging.preview_merge(source, target).summary(), "dry_run": True}
        done = _commit(
            lambda: merging.merge_units(source, target, actor=api_user(), reason=args["reason"])
        )
        return {**done.summary(), "dry_run": False}


def _alias_dicts(unit: Unit, aliases: list[UnitAlias]) -> list[dict[str, Any]]:
    return [{"id": a.id, "name": a.name, "is_own_name": a.name == unit.name} for a in aliases]


@blp.route("/units/<int:unit_id>/aliases")
class UnitAliases(MethodView):
    @blp.arguments(AliasListArgs, location="query")
    @blp.response(200, AliasSchema(many=True))
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], unit_id: int, pagination_parameters: Any
    ) -> list[dict[str, Any]]:
        """Every name a unit is known by, its own included."""
        unit: Unit = get_or_404(Unit, unit_id)
        query = apply_sort(
            select(UnitAlias).where(UnitAlias.unit_id == unit_id),
            args["sort"],
            {"id": UnitAlias.id, "name": UnitAlias.name},
            UnitAlias.id,
        )
        return _alias_dicts(unit, paged(query, pagination_parameters))

    @roles(*STAFF)
    @blp.arguments(AliasArgs)
    @blp.response(201, AliasSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def post(self, args: dict[str, Any], unit_id: int) -> dict[str, Any]:
        """Give a unit another name; a name is unique in its city across units and groups
        (422 naming the holder otherwise); audited."""
        unit: Unit = get_or_404(Unit, unit_id, lock=True)
        alias = _commit(lambda: admin.add_alias(unit, args["name"], actor=api_user()))
        return {"id": alias.id, "name": alias.name, "is_own_name": alias.name == unit.name}


@blp.route("/units/<int:unit_id>/aliases/<int:alias_id>")
class UnitAliasById(MethodView):
    @roles(*STAFF)
    @blp.response(204)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description=REFUSED)
    def delete(self, unit_id: int, alias_id: int) -> None:
        """Remove one of a unit's other names (not its own name); audited."""
        alias: UnitAlias = get_or_404(UnitAlias, alias_id)
        if alias.unit_id != unit_id:
            core.abort(404, f"Unit {unit_id} has no name {alias_id}.")
        _commit(lambda: admin.remove_alias(alias, actor=api_user()))


# -- groups -------------------------------------------------------------------------------------


def _group_rows() -> tuple[Select[Any], Any]:
    """Groups with their city and size; also the size column (to sort by)."""
    members = services.membership()
    sizes = (
        select(members.c.group_id, func.count().label("n")).group_by(members.c.group_id).subquery()
    )
    size = func.coalesce(sizes.c.n, 0).label("size")
    query = (
        select(
            UnitGroup.id,
            UnitGroup.name,
            UnitGroup.source,
            UnitGroup.rule_kind,
            UnitGroup.rule_parent_id,
            City.code.label("city_code"),
            City.name.label("city_name"),
            size,
        )
        .join(City, City.id == UnitGroup.city_id)
        .outerjoin(sizes, sizes.c.group_id == UnitGroup.id)
    )
    return cast(Select[Any], query), size


def _group_dict(row: Any) -> dict[str, Any]:
    return {**row._asdict(), "city": {"code": row.city_code, "name": row.city_name}}


def _group_etag_data(group_id: int) -> dict[str, Any]:
    """What a group's ETag covers: the group as GroupSchema dumps it and its member ids. The
    size alone would let two member lists of the same size share an ETag, so a stale
    If-Match would pass and the first list be lost."""
    data = GroupSchema().dump(_group_dict(_group_or_404(group_id)))
    members = sorted(db.session.scalars(services.member_ids_of(group_id)))
    return {"group": data, "members": members}


def _group_answer(group_id: int) -> dict[str, Any]:
    """The group as answered by GET, PATCH and PUT, with the ETag set from its members too."""
    blp.set_etag(_group_etag_data(group_id))
    return _group_dict(_group_or_404(group_id))


@blp.route("/groups/")
class Groups(MethodView):
    @blp.arguments(GroupListArgs, location="query")
    @blp.response(200, GroupSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List unit groups (such as 各县(区)政府) with their sizes."""
        query, size = _group_rows()
        if "city" in args:
            query = query.where(City.code == args["city"])
        if "q" in args:
            query = query.where(UnitGroup.name.contains(args["q"], autoescape=True))
        columns = {"id": UnitGroup.id, "name": UnitGroup.name, "size": size}
        assert set(columns) == set(GROUP_SORTS)
        query = apply_sort(query, args["sort"], columns, UnitGroup.id)
        return [_group_dict(r) for r in paged(query, pagination_parameters, scalars=False)]

    @core.roles(*STAFF)
    @blp.arguments(GroupArgs)
    @blp.response(201, GroupSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not the office.")
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Create a group of a city: a list of ``members`` or a rule (``rule_kind``, optionally
        ``rule_parent_id``); office and admin; audited."""
        city = db.session.scalar(select(City).where(City.code == args["city"]))
        if city is None:
            core.abort(422, f"No city has the code {args['city']!r}.", errors={"city": ["unknown"]})
        group = commit_or_fail(
            lambda: services.create_group(
                city,
                args["name"],
                source=args.get("source"),
                members=args.get("members") or (),
                rule_kind=args.get("rule_kind"),
                rule_parent_id=args.get("rule_parent_id"),
                actor=api_user(),
            )
        )
        return _group_dict(_group_or_404(group.id))


def _group_or_404(group_id: int) -> Any:
    query, _ = _group_rows()
    row = db.session.execute(query.where(UnitGroup.id == group_id)).one_or_none()
    if row is None:
        core.abort(404, f"Group {group_id} does not exist.")
    return row


@blp.route("/groups/<int:group_id>")
class GroupById(MethodView):
    @blp.etag
    @blp.response(200, GroupSchema)
    def get(self, group_id: int) -> dict[str, Any]:
        """One group; its members are a list of their own (``/groups/{id}/members``). Its
        ETag changes with the member list too."""
        return _group_answer(group_id)

    @core.roles(*STAFF)
    @blp.etag
    @blp.arguments(GroupPatchArgs(partial=True))
    @blp.response(200, GroupSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not the office.")
    def patch(self, args: dict[str, Any], group_id: int) -> dict[str, Any]:
        """Change the name, source, rule or member list sent (If-Match required); audited."""
        group = _group_for_change(group_id)
        changes = {
            k: args[k] for k in ("name", "source", "rule_kind", "rule_parent_id") if k in args
        }
        if "rule_kind" in args and args["rule_kind"] is None:
            changes["rule_parent_id"] = None
        commit_or_fail(
            lambda: services.update_group(
                group, members=args.get("members"), actor=api_user(), **changes
            )
        )
        return _group_answer(group_id)

    @core.roles(*STAFF)
    @blp.etag
    @blp.response(204)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not the office.")
    @blp.alt_response(409, schema=core.ErrorSchema, description="A plan names the group.")
    def delete(self, group_id: int) -> None:
        """Delete a group no plan names (If-Match required); audited."""
        group = _group_for_change(group_id)
        try:
            services.delete_group(group, actor=api_user())
        except services.GroupInUse as error:
            db.session.rollback()
            core.abort(409, error.message, code="in_use")
        db.session.commit()


def _group_for_change(group_id: int) -> UnitGroup:
    """The group, locked, after its ETag in If-Match was checked."""
    group: UnitGroup = get_or_404(UnitGroup, group_id, lock=True)
    blp.check_etag(_group_etag_data(group_id))
    return group


@blp.route("/groups/<int:group_id>/members")
class GroupMembers(MethodView):
    @blp.arguments(MemberListArgs, location="query")
    @blp.response(200, UnitSchema(many=True))
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], group_id: int, pagination_parameters: Any
    ) -> list[dict[str, Any]]:
        """A group's member units, paged (a province-wide group has hundreds)."""
        _group_or_404(group_id)
        query = _filtered_units(_unit_rows(), {**args, "group": group_id}, aliases=False)
        return _unit_dicts(paged(query, pagination_parameters, scalars=False))

    @core.roles(*STAFF)
    @blp.etag
    @blp.arguments(GroupMembersArgs)
    @blp.response(200, GroupSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not the office.")
    def put(self, args: dict[str, Any], group_id: int) -> dict[str, Any]:
        """Replace a list group's members (If-Match: the group's ETag); audited."""
        group = _group_for_change(group_id)
        commit_or_fail(lambda: services.set_members(group, args["members"], actor=api_user()))
        return _group_answer(group_id)


# -- contacts -----------------------------------------------------------------------------------

_CONTACT_SORT_COLUMNS = {
    "id": Contact.id,
    "name": Contact.name,
    "unit": Unit.name,
    "updated_at": Contact.updated_at,
}
assert set(_CONTACT_SORT_COLUMNS) == set(CONTACT_SORTS)


def _contact_rows(args: dict[str, Any]) -> Select[Any]:
    query = select(
        Contact.id,
        Contact.unit_id,
        Unit.name.label("unit_name"),
        Contact.name,
        Contact.position,
        Contact.office_phone,
        Contact.mobile,
        Contact.email,
        Contact.webhook_url,
        Contact.is_unit_leader,
        Contact.is_demo,
        Contact.created_at,
        Contact.updated_at,
    ).join(Unit, Unit.id == Contact.unit_id)
    if "unit" in args:
        query = query.where(Contact.unit_id == args["unit"])
    if "q" in args:
        query = query.where(Contact.name.contains(args["q"], autoescape=True))
    return apply_sort(cast(Select[Any], query), args["sort"], _CONTACT_SORT_COLUMNS, Contact.id)


def _contact_dict(row: Any) -> dict[str, Any]:
    """A contact (a row of _contact_rows or the model) as ContactSchema dumps it."""
    data = {f: getattr(row, f) for f in ContactSchema().fields if f != "unit"}
    name = row.unit_name if hasattr(row, "unit_name") else row.unit.name
    data["unit"] = {"id": row.unit_id, "name": name}
    return data


@blp.route("/contacts/")
class Contacts(MethodView):
    @blp.arguments(ContactListArgs, location="query")
    @blp.response(200, ContactSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
        """List contacts (a unit's token: only its own unit's)."""
        query = _contact_rows(args)
        user = api_user()
        # Unit.can_view_contacts as a filter: read-all roles see every unit, others their own.
        if user.role not in READ_ALL:
            query = query.where(Contact.unit_id == user.unit_id)
        return [_contact_dict(r) for r in paged(query, pagination_parameters, scalars=False)]


def _unit_for_contacts(unit_id: int, *, edit: bool) -> Unit:
    unit: Unit = get_or_404(Unit, unit_id)
    user = api_user()
    if not (unit.can_edit_contacts(user) if edit else unit.can_view_contacts(user)):
        core.abort(403, f"You may not {'change' if edit else 'see'} this unit's contacts.")
    return unit


@blp.route("/units/<int:unit_id>/contacts")
class UnitContacts(MethodView):
    @blp.arguments(UnitContactListArgs, location="query")
    @blp.response(200, ContactSchema(many=True))
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], unit_id: int, pagination_parameters: Any
    ) -> list[dict[str, Any]]:
        """A unit's contacts: staff, assessors, viewers and the unit itself may see them."""
        _unit_for_contacts(unit_id, edit=False)
        query = _contact_rows({**args, "unit": unit_id})
        return [_contact_dict(r) for r in paged(query, pagination_parameters, scalars=False)]

    @blp.arguments(ContactArgs)
    @blp.response(201, ContactSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit.")
    def post(self, args: dict[str, Any], unit_id: int) -> dict[str, Any]:
        """Add a contact (the office, or the unit's own staff); audited."""
        unit = _unit_for_contacts(unit_id, edit=True)
        contact = commit_or_fail(lambda: services.add_contact(unit, args, actor=api_user()))
        return _contact_dict(contact)


def _contact_for(contact_id: int, *, edit: bool) -> Contact:
    # A change locks the row before its ETag is checked: concurrent changes with the same
    # If-Match then check one after the other, and only the first one matches.
    contact: Contact = get_or_404(Contact, contact_id, lock=edit)
    _unit_for_contacts(contact.unit_id, edit=edit)
    return contact


@blp.route("/contacts/<int:contact_id>")
class ContactById(MethodView):
    @blp.etag
    @blp.response(200, ContactSchema)
    def get(self, contact_id: int) -> dict[str, Any]:
        """One contact; send its ETag in If-Match to change or remove it."""
        return _contact_dict(_contact_for(contact_id, edit=False))

    @blp.etag
    @blp.arguments(ContactPatchArgs(partial=True))
    @blp.response(200, ContactSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit.")
    def patch(self, args: dict[str, Any], contact_id: int) -> dict[str, Any]:
        """Change the fields sent (If-Match required); audited with before and after."""
        contact = _contact_for(contact_id, edit=True)
        blp.check_etag(_contact_dict(contact), ContactSchema)
        fields = services.CONTACT_FIELDS + services.CONTACT_FLAGS
        merged = {**{f: getattr(contact, f) for f in fields}, **args}
        try:
            check_reachable(merged)
        except ValidationError as error:
            core.abort(422, "The contact cannot be reached.", errors=error.normalized_messages())
        commit_or_fail(lambda: services.update_contact(contact, merged, actor=api_user()))
        return _contact_dict(contact)

    @blp.etag
    @blp.response(204)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not your unit.")
    def delete(self, contact_id: int) -> None:
        """Remove a contact (If-Match required); the audit trail keeps what it was."""
        contact = _contact_for(contact_id, edit=True)
        blp.check_etag(_contact_dict(contact), ContactSchema)
        commit_or_fail(lambda: services.delete_contact(contact, actor=api_user()))
