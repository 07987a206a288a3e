"""JSON API of webhooks (see taskhub.core.api for authentication, errors and paging).

Administrators only, like the admin page: every route answers 403 to other roles. The secret
appears in two answers only: creating an endpoint and rotating its secret.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import String, cast, select

from taskhub.core import api as core
from taskhub.core.api import PAGE, api_user, apply_sort, commit_or_fail, get_or_404, paged
from taskhub.reminders.models import Channel, OutboxMessage
from taskhub.webhooks import services
from taskhub.webhooks.models import WebhookEndpoint
from taskhub.webhooks.schemas import (
    DELIVERY_SORTS,
    WEBHOOK_SORTS,
    WebhookArgs,
    WebhookCreatedSchema,
    WebhookDeliveryListArgs,
    WebhookDeliverySchema,
    WebhookListArgs,
    WebhookPatchArgs,
    WebhookSchema,
    WebhookSecretSchema,
    WebhookTestSchema,
)

blp = core.blueprint("webhooks", __name__, description="Outgoing event webhooks (admins).")

_SORT_COLUMNS = {
    "id": WebhookEndpoint.id,
    "created_at": WebhookEndpoint.created_at,
    "url": WebhookEndpoint.url,
}
_DELIVERY_SORT_COLUMNS = {"id": OutboxMessage.id, "created_at": OutboxMessage.created_at}
assert set(_SORT_COLUMNS) == set(WEBHOOK_SORTS)
assert set(_DELIVERY_SORT_COLUMNS) == set(DELIVERY_SORTS)
#: Ids are 32-bit database integers: a larger number in a path is not found (404), never sent
#: to the database (SQLite cannot even bind one past 64 bits).
_ID = "int(min=1, max=2147483647)"


@blp.before_request
def _admins_only() -> None:
    """Runs after the token check (registered after it): one rule for every route."""
    if api_user().role != "admin":
        core.abort(403, "Only administrators manage webhooks.")


@blp.route("/webhooks/")
class Webhooks(MethodView):
    @blp.arguments(WebhookListArgs, location="query")
    @blp.response(200, WebhookSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[WebhookEndpoint]:
        """List endpoints (without their secrets)."""
        query = select(WebhookEndpoint)
        if "enabled" in args:
            query = query.where(WebhookEndpoint.is_enabled.is_(args["enabled"]))
        if "event" in args:
            # Event codes are [a-z.] only, so the quoted code matches exactly in the JSON text
            # on SQLite and PostgreSQL alike.
            query = query.where(cast(WebhookEndpoint.events, String).like(f'%"{args["event"]}"%'))
        query = apply_sort(query, args["sort"], _SORT_COLUMNS, WebhookEndpoint.id)
        return paged(query, pagination_parameters)

    @blp.arguments(WebhookArgs)
    @blp.response(201, WebhookCreatedSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Invalid URL or events.")
    def post(self, args: dict[str, Any]) -> WebhookEndpoint:
        """Register an endpoint; the answer carries its secret, shown this once."""
        endpoint, _secret = commit_or_fail(
            lambda: services.create_endpoint(actor=api_user(), **args)
        )
        return endpoint  # WebhookCreatedSchema includes the secret: this answer only


@blp.route(f"/webhooks/<{_ID}:webhook_id>")
class WebhookById(MethodView):
    @blp.etag
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id: int) -> WebhookEndpoint:
        """One endpoint; send its ETag in If-Match to change or delete it."""
        endpoint: WebhookEndpoint = get_or_404(WebhookEndpoint, webhook_id)
        return endpoint

    @blp.etag
    @blp.arguments(WebhookPatchArgs)
    @blp.response(200, WebhookSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Invalid URL or events.")
    def patch(self, args: dict[str, Any], webhook_id: int) -> WebhookEndpoint:
        """Change an endpoint's URL, description, events or enabled flag (If-Match required).

        Disabling it cancels its pending deliveries."""
        # Locked before the ETag check: of concurrent changes with one If-Match, one matches.
        endpoint: WebhookEndpoint = get_or_404(WebhookEndpoint, webhook_id, lock=True)
        blp.check_etag(endpoint, WebhookSchema)
        commit_or_fail(lambda: services.update_endpoint(endpoint, actor=api_user(), **args))
        return endpoint

    @blp.etag
    @blp.response(204)
    def delete(self, webhook_id: int) -> None:
        """Delete an endpoint (If-Match required); its delivery history stays in the outbox."""
        # Locked before the ETag check: of concurrent changes with one If-Match, one matches.
        endpoint: WebhookEndpoint = get_or_404(WebhookEndpoint, webhook_id, lock=True)
        blp.check_etag(endpoint, WebhookSchema)
        commit_or_fail(lambda: services.delete_endpoint(endpoint, actor=api_user()))


@blp.route(f"/webhooks/<{_ID}:webhook_id>/secret")
class WebhookSecret(MethodView):
    @blp.response(200, WebhookSecretSchema)
    def post(self, webhook_id: int) -> dict[str, Any]:
        """Rotate the secret; the answer carries the new one, shown this once."""
        endpoint: WebhookEndpoint = get_or_404(WebhookEndpoint, webhook_id)
        secret = commit_or_fail(lambda: services.rotate_secret(endpoint, actor=api_user()))
        return {"id": webhook_id, "secret": secret}


@blp.route(f"/webhooks/<{_ID}:webhook_id>/test")
class WebhookTest(MethodView):
    @blp.response(202, WebhookTestSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="The endpoint is disabled.")
    def post(self, webhook_id: int) -> dict[str, Any]:
        """Queue a test event (webhook.test) for the next delivery run."""
        endpoint: WebhookEndpoint = get_or_404(WebhookEndpoint, webhook_id)
        delivery_id = commit_or_fail(lambda: services.send_test(endpoint, actor=api_user()))
        return {"delivery_id": delivery_id, "event": services.TEST_EVENT}


@blp.route(f"/webhooks/<{_ID}:webhook_id>/deliveries/")
class WebhookDeliveries(MethodView):
    @blp.arguments(WebhookDeliveryListArgs, location="query")
    @blp.response(200, WebhookDeliverySchema(many=True))
    @blp.paginate(**PAGE)
    def get(
        self, args: dict[str, Any], pagination_parameters: Any, webhook_id: int
    ) -> list[dict[str, Any]]:
        """The endpoint's queued, sent and failed events, newest first by default."""
        get_or_404(WebhookEndpoint, webhook_id)
        query = select(OutboxMessage).where(
            OutboxMessage.channel == Channel.HOOK.value,
            OutboxMessage.recipient == str(webhook_id),
        )
        if "status" in args:
            query = query.where(OutboxMessage.status == args["status"])
        query = apply_sort(query, args["sort"], _DELIVERY_SORT_COLUMNS, OutboxMessage.id)
        return [_delivery(m) for m in paged(query, pagination_parameters)]


def _delivery(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "event": services.event_of(message) or "",
        "status": message.status,
        "attempts": message.attempts,
        "created_at": message.created_at,
        "next_attempt_at": message.next_attempt_at,
        "sent_at": message.sent_at,
        "last_error": message.error_shown,
    }
