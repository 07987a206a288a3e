"""marshmallow schemas of the webhooks API: ``…Schema`` for output, ``…Args`` for input.

The Args check types only; the rules (http(s) URLs, known events, lengths) live in
taskhub.webhooks.services so the API and the admin page give the same answers.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from taskhub.core.schemas import sort_args
from taskhub.reminders.models import OutboxStatus
from taskhub.webhooks.models import WEBHOOK_EVENTS

WEBHOOK_SORTS = ("id", "created_at", "url")
DELIVERY_SORTS = ("id", "created_at")

_EVENTS_HELP = f"Event codes to receive: {', '.join(WEBHOOK_EVENTS)}."


class WebhookSchema(Schema):
    """A registered endpoint; its secret is never shown here."""

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    description = fields.String(required=True)
    events = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
        required=True,
        metadata={"description": _EVENTS_HELP},
    )
    is_enabled = fields.Boolean(required=True)
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)


class WebhookCreatedSchema(WebhookSchema):
    """An endpoint just created, with its secret: the only time the secret is shown."""

    secret = fields.String(
        required=True,
        metadata={
            "description": "Shared secret for X-TaskHub-Signature; store it now, it is not "
            "shown again."
        },
    )


class WebhookSecretSchema(Schema):
    """A new secret after rotation, shown this once."""

    id = fields.Integer(required=True)
    secret = fields.String(required=True)


class WebhookPatchArgs(Schema):
    """Fields to change; those left out stay as they are."""

    url = fields.String(metadata={"description": "An http:// or https:// URL."})
    description = fields.String()
    events = fields.List(fields.String(), metadata={"description": _EVENTS_HELP})
    is_enabled = fields.Boolean()


class WebhookArgs(WebhookPatchArgs):
    """A new endpoint; a secret is generated and returned once."""

    url = fields.String(required=True, metadata={"description": "An http:// or https:// URL."})
    description = fields.String(load_default="")
    events = fields.List(fields.String(), required=True, metadata={"description": _EVENTS_HELP})
    is_enabled = fields.Boolean(load_default=True)


class WebhookListArgs(sort_args(WEBHOOK_SORTS, "id")):  # type: ignore[misc]
    """Filters of the endpoint list."""

    enabled = fields.Boolean()
    event = fields.String(
        validate=validate.OneOf(WEBHOOK_EVENTS),
        metadata={"description": "Only endpoints subscribed to this event."},
    )


class WebhookDeliverySchema(Schema):
    """One queued event for an endpoint, as the outbox has it."""

    id = fields.Integer(
        required=True, metadata={"description": "Sent as X-TaskHub-Delivery; stable on retries."}
    )
    event = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in OutboxStatus]))
    attempts = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    next_attempt_at = fields.DateTime(required=True)
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)


class WebhookDeliveryListArgs(sort_args(DELIVERY_SORTS, "-id")):  # type: ignore[misc]
    """Filters of an endpoint's deliveries."""

    status = fields.String(validate=validate.OneOf([s.value for s in OutboxStatus]))


class WebhookTestSchema(Schema):
    """A test event queued for the next delivery run."""

    delivery_id = fields.Integer(required=True)
    event = fields.String(required=True)
