"""Write and verify the hash-chained audit trail.

Each event's digest covers its fields and the previous event's digest. Since issue 12 the
digest is an HMAC-SHA256 keyed with the audit key (``TASKHUB_AUDIT_KEY``, or one derived from
the secret key), which is not in the database: whoever can write the database cannot
recompute it. Such digests are stored as ``hmac-sha256:<hex>``. Events written before were
digested with plain SHA-256 (64 hex digits, no prefix); they stay valid, but only before the
first keyed event: the keyed event after them covers the last one, and so all of them.

A cut tail (the newest events deleted) leaves a valid chain; :mod:`taskhub.audit.checkpoints`
keeps signed (count, head) checkpoints outside the database so :func:`verify` notices it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Connection, func, select, text

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db, now_utc, use_primary

if TYPE_CHECKING:
    from taskhub.audit.checkpoints import Checkpoint

#: Arbitrary constant naming the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK = 7_411_002
#: Marks a digest keyed with the audit key (a bare 64-hex digest is the old, unkeyed rule).
KEYED_PREFIX = "hmac-sha256:"


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


def _payload(event: AuditEvent) -> bytes:
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
    return raw.encode()


def subkey(key: str, purpose: str) -> bytes:
    """A key for one purpose (event digests, checkpoint signatures) from the audit key."""
    return hmac.new(key.encode(), f"taskhub audit {purpose}".encode(), hashlib.sha256).digest()


def audit_key() -> str:
    """The app's audit key (config AUDIT_KEY, filled in by Config.finalize)."""
    return str(current_app.config["AUDIT_KEY"])


def event_digest(event: AuditEvent, key: str) -> str:
    """The keyed digest of an event: ``hmac-sha256:`` + HMAC-SHA256 of its fields and the
    previous digest, with the audit key ``key``."""
    mac = hmac.new(subkey(key, "event digest"), _payload(event), hashlib.sha256)
    return KEYED_PREFIX + mac.hexdigest()


def legacy_digest(event: AuditEvent) -> str:
    """The digest events had before issue 12: plain SHA-256, which anyone can recompute."""
    return hashlib.sha256(_payload(event)).hexdigest()


#: The newest event's digest, the next one's predecessor (built once: every change reads it).
_HEAD_DIGEST = select(AuditEvent.digest).order_by(AuditEvent.id.desc()).limit(1)


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
    # Chained to the newest event: the primary's, never a read replica's (taskhub.core.replica).
    use_primary()
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # Appends must be serialised or two writers would chain to the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    prev = session.scalar(_HEAD_DIGEST)
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
    event.digest = event_digest(event, audit_key())
    session.add(event)
    session.flush()
    return event


@dataclass
class ChainProblem:
    #: None for a problem of the chain as a whole (a cut tail).
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        return f"event {self.event_id}: {self.problem}" if self.event_id else self.problem


@dataclass(frozen=True)
class Head:
    """How long the chain is and how it ends."""

    count: int
    last_id: int | None
    digest: str | None


def chain_head(conn: Connection | None = None) -> Head:
    """The chain's length and newest event, read on ``conn`` (a backup's snapshot) or the
    session."""
    reader: Any = conn if conn is not None else db.session
    count = reader.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    last = reader.execute(
        select(AuditEvent.id, AuditEvent.digest).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return Head(int(count), last[0] if last else None, last[1] if last else None)


def verify(checkpoint: Checkpoint | None = None) -> tuple[int, list[ChainProblem]]:
    """Re-walk the chain; report edited events, broken links and deletions, and, given a
    checkpoint, a chain that no longer holds the events it recorded (a cut tail)."""
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000)
    return _walk(events, checkpoint=checkpoint)


def verify_since(checkpoint: Checkpoint) -> list[ChainProblem]:
    """Check only what changed since ``checkpoint``: its head is still where it was, and the
    events after it chain from it (quick enough for every new checkpoint)."""
    problems = _check_head(checkpoint)
    if problems:
        return problems
    query = select(AuditEvent).order_by(AuditEvent.id)
    if checkpoint.head_id is not None:
        query = query.where(AuditEvent.id > checkpoint.head_id)
    _, problems = _walk(
        db.session.scalars(query).yield_per(1000),
        prev=checkpoint.head,
        prev_id=checkpoint.head_id,
        keyed=(checkpoint.head or "").startswith(KEYED_PREFIX),
    )
    return problems


def _check_head(checkpoint: Checkpoint) -> list[ChainProblem]:
    if checkpoint.count == 0:
        return []
    digest = db.session.scalar(select(AuditEvent.digest).where(AuditEvent.id == checkpoint.head_id))
    before = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.id <= checkpoint.head_id)
    )
    if digest == checkpoint.head and before == checkpoint.count:
        return []
    return [_tail_problem(checkpoint, before or 0)]


def _tail_problem(checkpoint: Checkpoint, found: int) -> ChainProblem:
    if found < checkpoint.count:
        return ChainProblem(
            None,
            f"the checkpoint of {checkpoint.created_at} ({checkpoint.reason}) recorded "
            f"{checkpoint.count} events ending with event {checkpoint.head_id}, but only "
            f"{found} of them are here: the newest events were deleted (a cut tail)",
        )
    return ChainProblem(
        None,
        f"the checkpoint of {checkpoint.created_at} ({checkpoint.reason}) recorded "
        f"{checkpoint.count} events ending with event {checkpoint.head_id} and digest "
        f"{checkpoint.head}, which the chain here does not hold: events were deleted or "
        "the chain was rewritten",
    )


def _walk(
    events: Iterable[AuditEvent],
    *,
    checkpoint: Checkpoint | None = None,
    prev: str | None = None,
    prev_id: int | None = None,
    keyed: bool = False,
) -> tuple[int, list[ChainProblem]]:
    key = audit_key()
    problems: list[ChainProblem] = []
    count = 0
    at_checkpoint: str | None = None
    for event in events:
        count += 1
        if event.prev_digest != prev:
            problems.append(
                ChainProblem(
                    event.id,
                    f"does not follow event {prev_id}: an event before it was deleted or edited",
                )
            )
        if event.digest.startswith(KEYED_PREFIX):
            keyed = True
            if event_digest(event, key) != event.digest:
                problems.append(ChainProblem(event.id, "content does not match its digest: edited"))
        elif keyed:
            problems.append(
                ChainProblem(
                    event.id,
                    "has an unkeyed digest after keyed events: the chain was recomputed "
                    "without the audit key",
                )
            )
        elif legacy_digest(event) != event.digest:
            problems.append(ChainProblem(event.id, "content does not match its digest: edited"))
        if checkpoint is not None and count == checkpoint.count:
            at_checkpoint = event.digest
        prev, prev_id = event.digest, event.id
    if checkpoint is not None and checkpoint.count and at_checkpoint != checkpoint.head:
        problems.append(_tail_problem(checkpoint, count))
    return count, problems
