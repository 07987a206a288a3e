"""Input and output schemas for units and contacts (shared by forms and the API)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError

_PHONE = validate.Regexp(r"^[0-9+\-() ]{3,30}$", error="not a phone number")


class ContactArgs(Schema):
    """A unit contact as entered in the form or the API."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    position = fields.String(load_default=None, validate=validate.Length(max=100))
    office_phone = fields.String(load_default=None, validate=_PHONE)
    mobile = fields.String(load_default=None, validate=_PHONE)
    email = fields.Email(load_default=None)
    webhook_url = fields.URL(load_default=None, schemes={"http", "https"})

    @pre_load
    def blank_to_none(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        """HTML forms send empty strings for empty fields."""
        out = {}
        for key, value in dict(data).items():
            if isinstance(value, str):
                value = value.strip()
            out[key] = value if value != "" else None
        if out.get("name") is None:
            out.pop("name", None)
        return out

    @validates_schema
    def reachable(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A contact nobody can reach is useless for reminders."""
        if not any(data.get(k) for k in ("office_phone", "mobile", "email", "webhook_url")):
            raise MarshmallowError(
                "give at least one of office phone, mobile, email or webhook", "mobile"
            )


class ContactSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    position = fields.String(allow_none=True)
    office_phone = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    webhook_url = fields.String(allow_none=True)
