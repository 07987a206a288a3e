"""Schemas for units, groups and contacts: ``…Args`` validate input (the contact form, the
Excel import and the API share ContactArgs, so each rule exists once), ``…Schema`` is output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError

from taskhub.core import outbound
from taskhub.core.api import ID_RANGE, no_nul, sort_args
from taskhub.core.limits import length
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
