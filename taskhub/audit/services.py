"""Write and verify the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db, now_utc

#: Arbitrary constant naming the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK = 7_411_002


def jsonable(value: Any) -> Any:
    """Make a value JSON-safe and stable: Decimal and dates become strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _digest(event: AuditEvent) -> str:
    payload = {
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "prev": event.prev_digest,
    }
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def record(
    action: str,
    object_type: str,
    object_id: object,
    *,
    actor_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event to the chain (flushes; the caller commits)."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # Appends must be serialised or two writers would chain to the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    prev = session.scalar(select(AuditEvent.digest).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        occurred_at=now_utc(),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        prev_digest=prev,
    )
    event.digest = _digest(event)
    session.add(event)
    session.flush()
    return event


@dataclass
class ChainProblem:
    event_id: int
    problem: str


def verify() -> tuple[int, list[ChainProblem]]:
    """Re-walk the chain; report edited events, broken links and deletions."""
    problems: list[ChainProblem] = []
    prev: str | None = None
    prev_id: int | None = None
    count = 0
    for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        count += 1
        if event.prev_digest != prev:
            problems.append(
                ChainProblem(
                    event.id,
                    f"does not follow event {prev_id}: an event before it was deleted or edited",
                )
            )
        if _digest(event) != event.digest:
            problems.append(ChainProblem(event.id, "content does not match its digest: edited"))
        prev, prev_id = event.digest, event.id
    return count, problems
