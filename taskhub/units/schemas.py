"""Schemas for units, groups and contacts: ``…Args`` validate input (the contact form, the
Excel import and the API share ContactArgs, so each rule exists once), ``…Schema`` is output."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError

from taskhub.core import outbound
from taskhub.core.limits import length
from taskhub.core.schemas import ID_RANGE, no_nul, sort_args
from taskhub.tracking.schemas import RefSchema  # one "Ref" in the OpenAPI document
from taskhub.units.models import UNIT_KINDS

_PHONE = validate.Regexp(r"^[0-9+\-() ]{3,30}$", error="not a phone number")

#: A robot URL that is not an official robot's nor on an allowed host (taskhub.core.outbound).
ROBOT_URL_ERROR = (
    "not a DingTalk (https://oapi.dingtalk.com/robot/send?access_token=…) or WeCom "
    "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…) robot address"
)


def robot_url(value: str) -> None:
    """Reminders POST to this URL from inside the network: official robots only, unless the
    operator allows more hosts (TASKHUB_WEBHOOK_ALLOW)."""
    try:
        outbound.check_robot_url(value, outbound.allowed_hosts())
    except outbound.AddressRefused:
        raise MarshmallowError(ROBOT_URL_ERROR) from None


#: The ways to reach a contact; reminders need at least one.
REACH_FIELDS = ("office_phone", "mobile", "email", "webhook_url")


def check_reachable(data: Mapping[str, Any]) -> None:
    """A contact nobody can reach is useless for reminders."""
    if not any(data.get(k) for k in REACH_FIELDS):
        raise MarshmallowError(
            "give at least one of office phone, mobile, email or webhook", "mobile"
        )


class ContactArgs(Schema):
    """A unit contact as entered in the form or the API."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=[length("contact.name", required=True), no_nul])
    position = fields.String(load_default=None, validate=[length("contact.position"), no_nul])
    office_phone = fields.String(load_default=None, validate=_PHONE)
    mobile = fields.String(load_default=None, validate=_PHONE)
    email = fields.Email(load_default=None, validate=[length("contact.email"), no_nul])
    webhook_url = fields.URL(
        load_default=None,
        schemes={"http", "https"},
        validate=[length("contact.webhook_url"), no_nul, robot_url],
        metadata={
            "description": "DingTalk (https://oapi.dingtalk.com/robot/send?access_token=…) or "
            "WeCom (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…) robot URL for chat "
            "reminders; other hosts only if the operator allows them."
        },
    )
    is_unit_leader = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The unit's principal leader (单位主要负责人): receives the escalation "
            "notices of levels addressed to the unit's leader. A unit may mark several."
        },
    )

    @pre_load
    def blank_to_none(self, data: Any, partial: Any = None, **kwargs: Any) -> Any:
        """HTML forms send empty strings for empty fields."""
        if not isinstance(data, Mapping):
            return data  # marshmallow answers "Invalid input type"
        out = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
            out[key] = value if value != "" else None
        # A missing name is "required"; in a change (partial) an emptied one is refused instead.
        if out.get("name") is None and not partial:
            out.pop("name", None)
        return out

    @validates_schema
    def reachable(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> None:
        # A partial change is checked once merged with the contact's current fields.
        if not partial:
            check_reachable(data)


class ContactPatchArgs(ContactArgs):
    """Changes to a contact: only the fields sent change (load with ``partial=True``)."""


class ContactSchema(Schema):
    id = fields.Integer(required=True)
    unit = fields.Nested(RefSchema, required=True)
    name = fields.String(required=True)
    position = fields.String(required=True, allow_none=True)
    office_phone = fields.String(required=True, allow_none=True)
    mobile = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    webhook_url = fields.String(required=True, allow_none=True)
    is_unit_leader = fields.Boolean(
        required=True, metadata={"description": "The unit's principal leader (单位主要负责人)."}
    )
    is_demo = fields.Boolean(
        required=True, metadata={"description": "Made up for a demonstration; not a real person."}
    )
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


CONTACT_SORTS = ("id", "name", "unit", "updated_at")


class UnitContactListArgs(sort_args(CONTACT_SORTS, "id")):  # type: ignore[misc]
    """Filters of a unit's contacts."""

    q = fields.String(
        validate=[length("search.text", required=True), no_nul],
        metadata={"description": "Name contains."},
    )


class ContactListArgs(UnitContactListArgs):
    """Filters of the contact list (a unit's token: only its unit's contacts)."""

    unit = fields.Integer(validate=ID_RANGE, metadata={"description": "A unit id."})


# -- units and groups ---------------------------------------------------------------------------


class CityRefSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class UnitSchema(Schema):
    """A unit as lists show it."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    city = fields.Nested(CityRefSchema, required=True)
    parent_id = fields.Integer(required=True, allow_none=True)
    retired_on = fields.Date(
        required=True,
        allow_none=True,
        metadata={"description": "When the unit was retired; null while active."},
    )
    merged_into_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "The unit this one was merged into (机构改革)."},
    )
    assignment_count = fields.Integer(
        required=True, metadata={"description": "Assignments of this unit, all plans."}
    )


class UnitPlanCountSchema(Schema):
    """How many assignments a unit has in one plan and role."""

    plan = fields.String(required=True, metadata={"description": "The plan's code."})
    title = fields.String(required=True)
    role = fields.String(required=True)
    count = fields.Integer(required=True)


class UnitDetailSchema(UnitSchema):
    aliases = fields.List(
        fields.String(), required=True, metadata={"description": "Every name it is known by."}
    )
    groups = fields.List(fields.Nested(RefSchema), required=True)
    assignments_by_plan = fields.List(fields.Nested(UnitPlanCountSchema), required=True)


UNIT_SORTS = ("id", "name", "kind")


class UnitListArgs(sort_args(UNIT_SORTS, "id")):  # type: ignore[misc]
    """Filters of the unit list."""

    city = fields.String(
        validate=[validate.Length(min=1, max=50), no_nul],
        metadata={"description": "A city code."},
    )
    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    group = fields.Integer(validate=ID_RANGE, metadata={"description": "Members of this group."})
    q = fields.String(
        validate=[length("search.text", required=True), no_nul],
        metadata={"description": "Name or alias contains."},
    )
    include_retired = fields.Boolean(
        load_default=False, metadata={"description": "Also list retired (and merged) units."}
    )


# -- keeping cities and units (taskhub.units.admin) ---------------------------------------------

#: The IANA time zones a city may have (the OpenAPI document lists them).
TIME_ZONES = sorted(zoneinfo.available_timezones())

#: no_nul, as a pattern the OpenAPI document states (clients and generators then know it).
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")

_CITY_CODE = validate.Regexp(
    r"^[a-z][a-z0-9-]{1,49}$", error="2 to 50 lower-case letters, digits or hyphens"
)


class CitySchema(Schema):
    """A city whose units and plans are kept here."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    province = fields.String(required=True, allow_none=True)
    timezone = fields.String(required=True, metadata={"description": "IANA time zone."})
    unit_count = fields.Integer(required=True, metadata={"description": "Active units."})


class CityPatchArgs(Schema):
    """Changes to a city (the code stays); only the fields sent change."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(validate=[length("city.name", required=True), NO_NUL])
    province = fields.String(allow_none=True, validate=[length("city.province"), NO_NUL])
    timezone = fields.String(
        validate=validate.OneOf(TIME_ZONES, error="not an IANA time zone such as Asia/Shanghai"),
        metadata={"description": "IANA time zone, default Asia/Shanghai."},
    )


class CityArgs(CityPatchArgs):
    """A new city."""

    code = fields.String(required=True, validate=[_CITY_CODE])
    name = fields.String(required=True, validate=[length("city.name", required=True), NO_NUL])


CITY_SORTS = ("code", "name")


class CityListArgs(sort_args(CITY_SORTS, "name")):  # type: ignore[misc]
    """Filters of the city list."""

    q = fields.String(
        validate=[length("search.text", required=True), NO_NUL],
        metadata={"description": "Name contains."},
    )


class UnitPatchArgs(Schema):
    """Changes to a unit; only the fields sent change (a new name keeps the old as alias)."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(validate=[length("unit.name", required=True), NO_NUL])
    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    parent_id = fields.Integer(allow_none=True, validate=ID_RANGE)


class UnitArgs(UnitPatchArgs):
    """A new unit of a city, with its other names."""

    city = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=50), NO_NUL],
        metadata={"description": "The city's code."},
    )
    name = fields.String(required=True, validate=[length("unit.name", required=True), NO_NUL])
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    aliases = fields.List(
        fields.String(validate=[length("alias.name", required=True), NO_NUL]),
        load_default=list,
        validate=validate.Length(max=100),
        metadata={"description": "Short names and other spellings."},
    )


class AliasSchema(Schema):
    """One name a unit is known by."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    is_own_name = fields.Boolean(
        required=True, metadata={"description": "The unit's own name (cannot be removed)."}
    )


class AliasArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=[length("alias.name", required=True), NO_NUL])


class AliasListArgs(sort_args(("id", "name"), "name")):  # type: ignore[misc]
    """Sorting of a unit's names."""


class RetireArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    retired_on = fields.Date(metadata={"description": "Default: today."})


class MergeArgs(Schema):
    """Merge this unit into another (机构改革)."""

    class Meta:
        unknown = EXCLUDE

    into = fields.Integer(
        required=True, validate=ID_RANGE, metadata={"description": "The unit that carries on."}
    )
    reason = fields.String(
        required=True,
        validate=[length("merge.reason", required=True), NO_NUL],
        metadata={"description": "Why (such as the reform document); recorded in the audit."},
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Only preview what would move."}
    )


class MergeConflictSchema(Schema):
    source_assignment = fields.Integer(required=True)
    target_assignment = fields.Integer(required=True)
    item_id = fields.Integer(required=True)


class MergeSchema(Schema):
    """What a merge moves (a dry run) or moved. Conflicts: items both units have; the
    target's assignment carries on, the source's stays with it as history."""

    dry_run = fields.Boolean(required=True)
    source = fields.Nested(RefSchema, required=True)
    target = fields.Nested(RefSchema, required=True)
    problems = fields.List(fields.String(), required=True)
    assignments = fields.List(fields.Integer(), required=True)
    conflicts = fields.List(fields.Nested(MergeConflictSchema), required=True)
    kept_assignments = fields.Integer(required=True)
    contacts = fields.List(fields.Integer(), required=True)
    users = fields.List(fields.Integer(), required=True)
    groups = fields.List(fields.Integer(), required=True)
    aliases = fields.List(fields.String(), required=True)


class MemberListArgs(sort_args(UNIT_SORTS, "id")):  # type: ignore[misc]
    """Filters of a group's members."""

    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    q = fields.String(
        validate=[length("search.text", required=True), no_nul],
        metadata={"description": "Name contains."},
    )


class GroupSchema(Schema):
    """A named set of units such as 各县(区)政府."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    city = fields.Nested(CityRefSchema, required=True)
    source = fields.String(
        required=True, allow_none=True, metadata={"description": "Where the member list came from."}
    )
    size = fields.Integer(required=True, metadata={"description": "How many members."})
    rule_kind = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "A rule group: its members are every unit of this kind "
            "(county, township, department, enterprise, other); null: a list group."
        },
    )
    rule_parent_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "A rule group only of the units directly under this unit."},
    )


GROUP_SORTS = ("id", "name", "size")


class GroupListArgs(sort_args(GROUP_SORTS, "id")):  # type: ignore[misc]
    """Filters of the group list."""

    city = fields.String(
        validate=[validate.Length(min=1, max=50), no_nul],
        metadata={"description": "A city code."},
    )
    q = fields.String(
        validate=[length("search.text", required=True), no_nul],
        metadata={"description": "Name contains."},
    )


class GroupPatchArgs(Schema):
    """Changes to a group (only the fields sent change). A rule (``rule_kind``, optionally
    ``rule_parent_id``) makes it a rule group; ``rule_kind: null`` makes it a list group."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(validate=[length("group.name", required=True), no_nul])
    source = fields.String(
        allow_none=True,
        validate=[length("group.source"), no_nul],
        metadata={"description": "Where the member list came from."},
    )
    rule_kind = fields.String(allow_none=True, validate=validate.OneOf(UNIT_KINDS))
    rule_parent_id = fields.Integer(allow_none=True, validate=ID_RANGE)
    members = fields.List(
        fields.Integer(validate=ID_RANGE),
        validate=validate.Length(max=5000),
        metadata={"description": "Unit ids of a list group's members (the whole list)."},
    )


class GroupArgs(GroupPatchArgs):
    """A new group of a city: a list of ``members``, or a rule."""

    city = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=50), no_nul],
        metadata={"description": "The city's code."},
    )
    name = fields.String(required=True, validate=[length("group.name", required=True), no_nul])


class GroupMembersArgs(Schema):
    """The whole member list of a list group."""

    class Meta:
        unknown = EXCLUDE

    members = fields.List(
        fields.Integer(validate=ID_RANGE),
        required=True,
        validate=validate.Length(max=5000),
        metadata={"description": "Unit ids, all of the group's city."},
    )
