"""JSON API of units, unit groups and contacts (see taskhub.core.api for authentication,
errors and paging).

Units and groups are readable by every signed-in role, as on the units pages. Contacts are
personal data: who may read and change them is the unit's own rule
(``Unit.can_view_contacts`` / ``can_edit_contacts``, the same the pages and the unit workspace
use), and changes go through ``units.services``, which checks it again and writes the audit
record.
"""

from __future__ import annotations

from typing import Any, cast

from flask.views import MethodView
from marshmallow import ValidationError
from sqlalchemy import Select, exists, func, or_, select

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, commit_or_fail, get_or_404, paged
from taskhub.core.db import db
from taskhub.core.permissions import READ_ALL, STAFF
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment
from taskhub.units import services
from taskhub.units.models import City, Contact, Unit, UnitAlias, UnitGroup
from taskhub.units.schemas import (
    CONTACT_SORTS,
    GROUP_SORTS,
    UNIT_SORTS,
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
    UnitContactListArgs,
    UnitDetailSchema,
    UnitListArgs,
    UnitSchema,
    check_reachable,
)

blp = core.blueprint("units", __name__, description="Units, unit groups and contacts.")


# -- units --------------------------------------------------------------------------------------

_UNIT_SORT_COLUMNS = {"id": Unit.id, "name": Unit.name, "kind": Unit.kind}
assert set(_UNIT_SORT_COLUMNS) == set(UNIT_SORTS)


def _unit_rows() -> Select[Any]:
    query = select(
        Unit.id,
        Unit.name,
        Unit.kind,
        Unit.parent_id,
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


@blp.route("/units/<int:unit_id>")
class UnitById(MethodView):
    @blp.etag
    @blp.response(200, UnitDetailSchema)
    def get(self, unit_id: int) -> dict[str, Any]:
        """One unit with its aliases, groups and assignment counts by plan."""
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
        """One group; its members are a list of their own (``/groups/{id}/members``)."""
        return _group_dict(_group_or_404(group_id))

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
        return _group_dict(_group_or_404(group_id))

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
    blp.check_etag(_group_dict(_group_or_404(group_id)), GroupSchema)
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
        return _group_dict(_group_or_404(group_id))


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
        merged = {**{f: getattr(contact, f) for f in services.CONTACT_FIELDS}, **args}
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
