"""A small in-process cache of costly figures, valid as of the latest audit event.

Every task, report, review, extension, score, allocation, schedule, calendar and period change
appends an audit event (taskhub.audit), so the latest event's id and digest tell in one O(1)
read whether a cached figure can still be right, in every process. Entries are per (figure
key…, audit id, audit digest): an entry is either still right or never asked for again. Each
gunicorn worker keeps its own copy (nothing shared to keep consistent, and the fingerprint read
is what makes every worker agree). A lock guards the dict because threaded servers share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db, reading_replica

_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
#: Entries kept, least recently used dropped first.
CACHE_SIZE = 256

T = TypeVar("T")

Fingerprint = tuple[int, str]


def audit_fingerprint() -> Fingerprint:
    """The latest audit event's id and digest: it changes whenever any state changes.

    The digest, chained over the content, tells apart two events that got the same id in
    transactions rolled back.
    """
    row = db.session.execute(
        select(AuditEvent.id, AuditEvent.digest).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row else (0, "")


def cached(key: tuple[Any, ...], compute: Callable[[], T], fingerprint: Fingerprint | None) -> T:
    """``compute()``'s value for ``key`` as of the audit fingerprint, computed once."""
    spaced = _spaced(key)
    full = (*spaced, *(fingerprint or audit_fingerprint()))
    with _CACHE_LOCK:
        if full in _CACHE:
            _CACHE.move_to_end(full)
            return cast(T, _CACHE[full])
    # Computed outside the lock: two requests missing together may both compute (rare and
    # harmless), but nobody waits behind another figure.
    value = compute()
    _store(spaced, (full[-2], full[-1]), value)
    return value


def _spaced(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Figures read from a read replica (taskhub.core.replica) are held apart from the
    primary's: the replica may be a few events behind, and the two would otherwise supersede
    each other's entries (live totals rolled up whole again on every other request)."""
    return ("replica", *key) if reading_replica() else key


def held(key: tuple[Any, ...]) -> tuple[Fingerprint, Any] | None:
    """The entry held for ``key`` (whatever its fingerprint) and its fingerprint: a figure
    that can be brought forward from the events since (taskhub.scoring.live)."""
    key = _spaced(key)
    n = len(key)
    with _CACHE_LOCK:
        for full in reversed(_CACHE):
            if full[:n] == key and len(full) == n + 2:
                return (full[n], full[n + 1]), _CACHE[full]
    return None


def store(key: tuple[Any, ...], fingerprint: Fingerprint, value: Any) -> None:
    """Hold ``value`` for ``key`` as of ``fingerprint``, superseding the entry held before."""
    _store(_spaced(key), fingerprint, value)


def _store(key: tuple[Any, ...], fingerprint: Fingerprint, value: Any) -> None:
    with _CACHE_LOCK:
        for old in [k for k in _CACHE if k[: len(key)] == key]:
            del _CACHE[old]  # superseded by a newer fingerprint
        _CACHE[(*key, *fingerprint)] = value
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)


def events_since(
    seen: Fingerprint, current: Fingerprint, limit: int
) -> list[tuple[str, str, str]] | None:
    """(action, object type, object id) of the events after ``seen`` up to ``current``, or
    None when they cannot be told exactly: more than ``limit`` of them, or ``seen`` is no
    longer in the chain as it was (rolled back and its id reused), or ``current`` is not."""
    if current[0] <= seen[0]:
        return None
    rows = db.session.execute(
        select(
            AuditEvent.id,
            AuditEvent.digest,
            AuditEvent.action,
            AuditEvent.object_type,
            AuditEvent.object_id,
        )
        .where(AuditEvent.id >= seen[0], AuditEvent.id <= current[0])
        .order_by(AuditEvent.id)
        .limit(limit + 2)
    ).all()
    if len(rows) > limit + 1 or not rows:
        return None
    if (rows[0][0], rows[0][1]) != seen or (rows[-1][0], rows[-1][1]) != current:
        return None
    return [(str(action), str(otype), str(oid)) for _, _, action, otype, oid in rows[1:]]


def clear_cache() -> None:
    """Forget every cached figure (tests, or after restoring a database)."""
    with _CACHE_LOCK:
        _CACHE.clear()
    with _settled_lock:
        _settled_memos.clear()


def cached_keys() -> list[tuple[Any, ...]]:
    """The keys held now (for tests and diagnostics)."""
    with _CACHE_LOCK:
        return list(_CACHE)


# -- a finer key: changes that move no milestone, score, unit or plan ---------------------

#: Audited actions that change no milestone (nor its period counts), score, applicability,
#: unit, plan, scheme or period: a ranking or a timeline computed before them is still right
#: after them. A report submitted changes the task's status and percent only; its review,
#: which may complete a milestone, is not in this list.
SETTLED_NEUTRAL = frozenset(
    {
        "report.submitted",
        "assignment.acknowledged",
        "extension.requested",
        "api_token.created",
        "api_token.revoked",
        "contact.created",
        "contact.updated",
        "contact.deleted",
        "contact.user_linked",
        "contact.user_unlinked",
        "invitation.created",
        "invitation.email_failed",
        "invitation.revoked",
        "invitation.sent",
        "notifications.preferences_changed",
        "outbox.retried",
        "plan_draft.created",
        "plan_draft.updated",
        "plan_draft.discarded",
        "reminder_rule.saved",
        "reminders.decided",
        "sign_in_throttle.cleared",
        "user.created",
        "user.updated",
        "user.disabled",
        "user.enabled",
        "user.role_changed",
        "user.unit_changed",
        "user.password_change_failed",
        "user.password_changed",
        "user.password_reset",
        "user.sign_in_failed",
        "user.signed_out",
        "user.signed_out_everywhere",
        "webhook.created",
        "webhook.deleted",
        "webhook.secret_rotated",
        "webhook.test_queued",
        "webhook.updated",
    }
)
#: Newer events read at most to carry a figure forward; past that it is computed again.
NEUTRAL_SCAN = 200

_settled_lock = threading.Lock()
#: (latest audit fingerprint seen, the newest event at or before it not SETTLED_NEUTRAL), for
#: the primary ("") and a read replica ("replica") apart.
_settled_memos: dict[str, tuple[Fingerprint, Fingerprint]] = {}


def settled_fingerprint(fingerprint: Fingerprint | None = None) -> Fingerprint:
    """The newest audit event that may change milestones, scores, units or plans: figures
    read from those alone (the ranking, the timeline) are cached under it.

    Read incrementally from the audit fingerprint: the events since the one seen last are
    looked at (at most NEUTRAL_SCAN, by primary key), and when all are SETTLED_NEUTRAL the key
    stays as it was, so the first dashboard view after a report is submitted does not roll
    the plan up again. The event seen last is checked by digest first: an event rolled back
    and its id reused starts over.
    """
    space = "replica" if reading_replica() else ""
    current = fingerprint or audit_fingerprint()
    with _settled_lock:
        memo = _settled_memos.get(space)
    if memo is not None and memo[0] == current:
        return memo[1]
    start = memo[0][0] if memo is not None and memo[0][0] < current[0] else None
    if start is not None:
        rows = db.session.execute(
            select(AuditEvent.id, AuditEvent.digest, AuditEvent.action)
            .where(AuditEvent.id >= start, AuditEvent.id <= current[0])
            .order_by(AuditEvent.id)
            .limit(NEUTRAL_SCAN + 2)
        ).all()
        assert memo is not None
        seen_still_there = bool(rows) and (rows[0][0], rows[0][1]) == memo[0]
        newest_is_current = bool(rows) and (rows[-1][0], rows[-1][1]) == current
        if seen_still_there and newest_is_current:
            result = memo[1]
            for eid, digest, action in rows[1:]:
                if action not in SETTLED_NEUTRAL:
                    result = (int(eid), str(digest))
        else:
            result = current
    else:
        result = current  # a fresh worker: the latest event, as any cached figure
    with _settled_lock:
        _settled_memos[space] = (current, result)
    return result
