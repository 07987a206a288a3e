"""Outgoing event webhooks: endpoints managed by admins, events queued in the outbox, signing.

An event is queued by :func:`emit` in the transaction of the change that caused it: one outbox
row (channel "hook") per enabled endpoint subscribed to the event, with a dedupe key unique per
occurrence and endpoint. A rolled-back change therefore queues nothing, and a crash or a second
scheduler never queues one twice. The outbox sender (taskhub.reminders.services.deliver) calls
:func:`deliver`, which signs the stored JSON body at send time and POSTs it; failures are
retried with the outbox's backoff and stay visible on the outbox page.

Payloads are small and stable (ids and codes, never free text); see :func:`report_submitted`,
:func:`review_done`, :func:`milestones_overdue` and :func:`period_closed`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core import outbound
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError, PermissionDenied
from taskhub.core.limits import limit
from taskhub.plans.models import Item, Plan
from taskhub.reminders.channels import DeliveryError
from taskhub.reminders.models import Channel, OutboxMessage, OutboxStatus
from taskhub.tracking.models import Assignment, Milestone, ProgressReport, Review
from taskhub.units.models import Unit
from taskhub.webhooks.models import WEBHOOK_EVENTS, WebhookEndpoint, WebhookEvent

if TYPE_CHECKING:
    from taskhub.scoring.models import Period, Snapshot


#: The event code of a test message sent from the admin page; no endpoint subscribes to it.
TEST_EVENT = "webhook.test"
#: Bytes of randomness in a generated secret (token_urlsafe makes 43 characters of them).
SECRET_BYTES = 32
URL_MAX_LENGTH = limit("webhook.url")
DESCRIPTION_MAX_LENGTH = limit("webhook.description")
#: Seconds to wait for a receiver's answer.
DELIVERY_TIMEOUT = 10.0
#: Rows per INSERT when one scan makes many events (keeps SQLite under its parameter limit).
_INSERT_CHUNK = 500

EVENT_HEADER = "X-TaskHub-Event"
DELIVERY_HEADER = "X-TaskHub-Delivery"
TIMESTAMP_HEADER = "X-TaskHub-Timestamp"
SIGNATURE_HEADER = "X-TaskHub-Signature"


class InvalidEndpoint(DomainError):
    """Endpoint input is invalid; ``code`` lets the UI translate it, ``field`` places it."""

    def __init__(self, code: str, message: str, *, field: str) -> None:
        super().__init__(message, field=field)
        self.code = code


# --- endpoints (admin only, audited) -------------------------------------------------------------


def _require_admin(actor: User) -> None:
    if actor.role != "admin":
        raise PermissionDenied("only an administrator manages webhooks")


def _state(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint (never the secret)."""
    return {
        "url": _safe_url(endpoint.url),
        "description": endpoint.description,
        "events": list(endpoint.events),
        "is_enabled": endpoint.is_enabled,
    }


def _safe_url(url: str) -> str:
    """The URL without its query string, which may hold the receiver's own token."""
    parts = urlsplit(url)
    return parts._replace(query="…" if parts.query else "", fragment="").geturl()


def validate_url(url: str | None) -> str:
    """The URL, stripped, if TaskHub can POST to it; else InvalidEndpoint saying why. An
    internal address is refused unless TASKHUB_WEBHOOK_ALLOW allows it (a name is checked
    again at each delivery: what it resolves to can change)."""
    url = (url or "").strip()
    if not url:
        raise InvalidEndpoint("url_required", "give the endpoint's URL", field="url")
    if len(url) > URL_MAX_LENGTH:
        raise InvalidEndpoint(
            "url_too_long", f"the URL is longer than {URL_MAX_LENGTH} characters", field="url"
        )
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidEndpoint("url_spaces", "the URL must not contain spaces", field="url")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidEndpoint(
            "url_scheme", "the URL must start with http:// or https://", field="url"
        )
    if not parts.hostname:
        raise InvalidEndpoint("url_host", "the URL has no host name", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidEndpoint(
            "url_credentials",
            "the URL must not contain a user name or password; the signature authenticates us",
            field="url",
        )
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number in range)
    except ValueError:
        raise InvalidEndpoint(
            "url_port", "the port must be a number from 1 to 65535", field="url"
        ) from None
    if parts.port == 0:
        raise InvalidEndpoint("url_port", "the port must be a number from 1 to 65535", field="url")
    try:
        outbound.check_endpoint_url(url, outbound.allowed_hosts())
    except outbound.AddressRefused as exc:
        raise InvalidEndpoint(exc.code, str(exc), field="url") from None
    return url


def validate_events(events: Iterable[str] | None) -> list[str]:
    """Known event codes, in the canonical order; at least one."""
    chosen = set(events or ())
    unknown = sorted(chosen - set(WEBHOOK_EVENTS))
    if unknown:
        raise InvalidEndpoint(
            "events_unknown",
            f"unknown event {', '.join(unknown)}; choose from {', '.join(WEBHOOK_EVENTS)}",
            field="events",
        )
    if not chosen:
        raise InvalidEndpoint("events_required", "choose at least one event", field="events")
    return [e for e in WEBHOOK_EVENTS if e in chosen]


def _validate_description(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise InvalidEndpoint(
            "description_too_long",
            f"the description is longer than {DESCRIPTION_MAX_LENGTH} characters",
            field="description",
        )
    return text


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def create_endpoint(
    *,
    url: str,
    events: Iterable[str],
    actor: User,
    description: str | None = None,
    is_enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret, which is shown this once."""
    _require_admin(actor)
    endpoint = WebhookEndpoint(
        url=validate_url(url),
        description=_validate_description(description),
        events=validate_events(events),
        is_enabled=is_enabled,
        secret=new_secret(),
        created_by_id=actor.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(
        "webhook.created", "webhook", endpoint.id, actor_id=actor.id, after=_state(endpoint)
    )
    return endpoint, endpoint.secret


def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    is_enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change the given fields (None: unchanged); disabling cancels its pending deliveries."""
    _require_admin(actor)
    before = _state(endpoint)
    if url is not None:
        endpoint.url = validate_url(url)
    if events is not None:
        endpoint.events = validate_events(events)
    if description is not None:
        endpoint.description = _validate_description(description)
    if is_enabled is not None:
        endpoint.is_enabled = is_enabled
    after = _state(endpoint)
    if after == before:
        return endpoint
    db.session.flush()
    if before["is_enabled"] and not endpoint.is_enabled:
        _cancel_pending(endpoint.id, "not sent: the endpoint was disabled")
    audit.record(
        "webhook.updated", "webhook", endpoint.id, actor_id=actor.id, before=before, after=after
    )
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, actor: User) -> WebhookEndpoint:
    """Switch an endpoint on or off (off: nothing more is queued or sent to it)."""
    return update_endpoint(endpoint, actor=actor, is_enabled=enabled)


def rotate_secret(endpoint: WebhookEndpoint, *, actor: User) -> str:
    """Replace the secret; returns the new one, shown this once. Pending deliveries use it."""
    _require_admin(actor)
    endpoint.secret = new_secret()
    db.session.flush()
    audit.record("webhook.secret_rotated", "webhook", endpoint.id, actor_id=actor.id)
    return endpoint.secret


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: User) -> None:
    """Remove an endpoint; its pending deliveries are cancelled, its history stays visible."""
    _require_admin(actor)
    endpoint_id, before = endpoint.id, _state(endpoint)
    _cancel_pending(endpoint_id, "not sent: the endpoint was deleted")
    # Detach the history from the id: SQLite may give a new endpoint the same id.
    db.session.execute(
        update(OutboxMessage)
        .where(_rows_of(endpoint_id))
        .values(recipient=f"{endpoint_id} (deleted)")
        .execution_options(synchronize_session=False)
    )
    db.session.delete(endpoint)
    db.session.flush()
    audit.record("webhook.deleted", "webhook", endpoint_id, actor_id=actor.id, before=before)


def send_test(endpoint: WebhookEndpoint, *, actor: User) -> int:
    """Queue a test event for this endpoint (whatever it subscribes to); the outbox id."""
    _require_admin(actor)
    if not endpoint.is_enabled:
        raise InvalidEndpoint(
            "disabled", "enable the endpoint before sending a test event", field="is_enabled"
        )
    payload = {
        "event": TEST_EVENT,
        "occurred_at": _iso_now(),
        "endpoint_id": endpoint.id,
        "requested_by": actor.id,
    }
    [message_id] = _queue([endpoint], TEST_EVENT, payload, f"test-{secrets.token_hex(8)}")
    audit.record(
        "webhook.test_queued",
        "webhook",
        endpoint.id,
        actor_id=actor.id,
        after={"outbox_id": message_id},
    )
    return message_id


def _rows_of(endpoint_id: int) -> Any:
    return (OutboxMessage.channel == Channel.HOOK.value) & (
        OutboxMessage.recipient == str(endpoint_id)
    )


def _cancel_pending(endpoint_id: int, reason: str) -> None:
    db.session.execute(
        update(OutboxMessage)
        .where(_rows_of(endpoint_id), OutboxMessage.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.FAILED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )


def recent_deliveries(endpoint_id: int, *, limit: int = 20) -> list[OutboxMessage]:
    """The endpoint's latest outbox rows, newest first."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(_rows_of(endpoint_id))
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def delivery_counts() -> dict[int, dict[str, int]]:
    """Outbox rows by endpoint id and status, for the list page (one grouped query)."""
    counts: dict[int, dict[str, int]] = {}
    rows = db.session.execute(
        select(OutboxMessage.recipient, OutboxMessage.status, func.count())
        .where(OutboxMessage.channel == Channel.HOOK.value)
        .group_by(OutboxMessage.recipient, OutboxMessage.status)
    )
    for recipient, status, n in rows:
        if recipient.isdigit():
            counts.setdefault(int(recipient), {})[status] = n
    return counts


# --- events --------------------------------------------------------------------------------------


def _iso_now() -> str:
    return now_utc().isoformat(timespec="seconds").replace("+00:00", "Z")


def _dedupe_key(event: str, key: str, endpoint_id: int) -> str:
    return f"hook:{event}:{key}:{endpoint_id}"


#: Built once: every report, review and overdue scan asks.
_ENABLED_ENDPOINTS = (
    select(WebhookEndpoint).where(WebhookEndpoint.is_enabled).order_by(WebhookEndpoint.id)
)


def subscribers(event: str) -> list[WebhookEndpoint]:
    """Enabled endpoints subscribed to ``event`` (endpoints are few: filtered here)."""
    endpoints = db.session.scalars(_ENABLED_ENDPOINTS)
    return [e for e in endpoints if event in (e.events or [])]


def emit(event: WebhookEvent | str, payload: dict[str, Any], *, key: str) -> int:
    """Queue ``payload`` for every enabled endpoint subscribed to ``event``; rows queued.

    ``key`` names the occurrence (e.g. ``report-12``): queuing it again is a no-op. Call it in
    the transaction of the change, which commits or rolls back the messages with it.
    """
    event = WebhookEvent(event).value
    return _emit_to(subscribers(event), event, payload, key)


def _emit_to(
    endpoints: Sequence[WebhookEndpoint], event: str, payload: dict[str, Any], key: str
) -> int:
    return len(_queue(endpoints, event, {"event": event, **payload}, key)) if endpoints else 0


def _queue(
    endpoints: Sequence[WebhookEndpoint], event: str, payload: dict[str, Any], key: str
) -> list[int]:
    """Queue one body for each endpoint; the ids of the new rows."""
    return _insert(
        [
            (endpoint, event, json.dumps(payload, ensure_ascii=False, separators=(",", ":")), key)
            for endpoint in endpoints
        ]
    )


def _insert(messages: Sequence[tuple[WebhookEndpoint, str, str, str]]) -> list[int]:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING; the ids of the rows that were new."""
    now = now_utc()
    rows = [
        {
            "channel": Channel.HOOK.value,
            "recipient": str(endpoint.id),
            "subject": f"{event} → {urlsplit(endpoint.url).hostname}",
            "body": body,
            "dedupe_key": _dedupe_key(event, key, endpoint.id),
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint, event, body, key in messages
    ]
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    queued: list[int] = []
    for start in range(0, len(rows), _INSERT_CHUNK):
        stmt = (
            insert(OutboxMessage)
            .values(rows[start : start + _INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OutboxMessage.id)
        )
        # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT.
        queued.extend(db.session.scalars(stmt))
    return queued


def _assignment_fields(assignment_id: int) -> dict[str, Any]:
    """Plan code, item code and unit of an assignment, in one query."""
    row = db.session.execute(
        select(Plan.code, Item.code, Unit.id, Unit.name)
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.id == assignment_id)
    ).one()
    return {
        "plan": row[0],
        "item": row[1],
        "unit": {"id": row[2], "name": row[3]},
        "assignment_id": assignment_id,
    }


def report_submitted(report: ProgressReport) -> int:
    """A unit reported progress: plan, item, unit, assignment_id, report_id, milestone_id,
    percent."""
    endpoints = subscribers(WebhookEvent.REPORT_SUBMITTED)
    if not endpoints:
        return 0
    payload = {
        "occurred_at": _iso_now(),
        **_assignment_fields(report.assignment_id),
        "report_id": report.id,
        "milestone_id": report.milestone_id,
        "percent": report.percent,
    }
    return _emit_to(endpoints, WebhookEvent.REPORT_SUBMITTED.value, payload, f"report-{report.id}")


def review_done(review: Review) -> int:
    """A report was reviewed: plan, item, unit, assignment_id, report_id, review_id, decision
    (accept / return) and the assignment's status after it."""
    endpoints = subscribers(WebhookEvent.REVIEW_DONE)
    if not endpoints:
        return 0
    report = review.report
    payload = {
        "occurred_at": _iso_now(),
        **_assignment_fields(report.assignment_id),
        "report_id": report.id,
        "review_id": review.id,
        "decision": review.decision,
        "status": report.assignment.status,
    }
    return _emit_to(endpoints, WebhookEvent.REVIEW_DONE.value, payload, f"review-{review.id}")


def milestones_overdue(milestone_ids: Sequence[int], today: date) -> int:
    """Milestones the overdue scan just flagged: one event each (plan, item, unit,
    assignment_id, milestone_id, milestone_kind, due_on, as_of)."""
    endpoints = subscribers(WebhookEvent.MILESTONE_OVERDUE) if milestone_ids else []
    if not endpoints:
        return 0
    event = WebhookEvent.MILESTONE_OVERDUE.value
    occurred_at = _iso_now()
    messages: list[tuple[WebhookEndpoint, str, str, str]] = []
    for start in range(0, len(milestone_ids), _INSERT_CHUNK):
        rows = db.session.execute(
            select(
                Milestone.id,
                Milestone.kind,
                func.coalesce(Milestone.extended_to, Milestone.due_on),
                Assignment.id,
                Plan.code,
                Item.code,
                Unit.id,
                Unit.name,
            )
            .join(Assignment, Assignment.id == Milestone.assignment_id)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .join(Unit, Unit.id == Assignment.unit_id)
            .where(Milestone.id.in_(milestone_ids[start : start + _INSERT_CHUNK]))
            .order_by(Milestone.id)
        ).all()
        for ms_id, kind, due_on, assignment_id, plan, item, unit_id, unit_name in rows:
            payload = {
                "event": event,
                "occurred_at": occurred_at,
                "plan": plan,
                "item": item,
                "unit": {"id": unit_id, "name": unit_name},
                "assignment_id": assignment_id,
                "milestone_id": ms_id,
                "milestone_kind": kind,
                "due_on": due_on.isoformat(),
                "as_of": today.isoformat(),
            }
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            # One occurrence per milestone and due date: an extension that runs out is new.
            key = f"milestone-{ms_id}-{due_on.isoformat()}"
            messages.extend((endpoint, event, body, key) for endpoint in endpoints)
    return len(_insert(messages))


def period_closed(plan: Plan, period: Period, snapshot: Snapshot) -> int:
    """A period's scores were frozen: plan, period (code), period_kind, revision (2 and up are
    audited corrections) and snapshot_id."""
    payload = {
        "occurred_at": _iso_now(),
        "plan": plan.code,
        "period": period.code,
        "period_kind": period.kind,
        "revision": snapshot.revision,
        "snapshot_id": snapshot.id,
    }
    return emit(WebhookEvent.PERIOD_CLOSED, payload, key=f"period-{period.id}-r{snapshot.revision}")


# --- signing and delivery ------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: str) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}.{body}"`` (UTF-8) with the endpoint's secret."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    message_id: int, event: str, secret: str, body: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of one delivery; the timestamp is the send time, so retries are fresh."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(message_id),
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: f"sha256={sign(secret, stamp, body)}",
    }


def event_of(message: OutboxMessage) -> str | None:
    """The event code of a queued body, or None when it is not an event."""
    try:
        event = json.loads(message.body)["event"]
    except (ValueError, KeyError, TypeError):
        return None
    return event if isinstance(event, str) else None


def signed_request(message: OutboxMessage) -> tuple[str, dict[str, str]]:
    """The endpoint URL and signed headers for one queued event (the outbox sender POSTs
    ``message.body`` there with send_hook, after ending its read: the request may take up
    to DELIVERY_TIMEOUT); DeliveryError when it cannot be sent."""
    endpoint = (
        db.session.get(WebhookEndpoint, int(message.recipient))
        if message.recipient.isdigit()
        else None
    )
    if endpoint is None:
        raise DeliveryError("not sent: the webhook endpoint no longer exists")
    if not endpoint.is_enabled:
        raise DeliveryError("not sent: the webhook endpoint is disabled")
    event = event_of(message)
    if event is None:
        raise DeliveryError("not sent: the queued body is not an event")
    # Signed at send time with the endpoint's current secret.
    return endpoint.url, signed_headers(message.id, event, endpoint.secret, message.body)
