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
from taskhub.core.db import db

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
    full = (*key, *(fingerprint or audit_fingerprint()))
    with _CACHE_LOCK:
        if full in _CACHE:
            _CACHE.move_to_end(full)
            return cast(T, _CACHE[full])
    # Computed outside the lock: two requests missing together may both compute (rare and
    # harmless), but nobody waits behind another figure.
    value = compute()
    with _CACHE_LOCK:
        for old in [k for k in _CACHE if k[: len(key)] == key]:
            del _CACHE[old]  # superseded by a newer fingerprint
        _CACHE[full] = value
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def clear_cache() -> None:
    """Forget every cached figure (tests, or after restoring a database)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def cached_keys() -> list[tuple[Any, ...]]:
    """The keys held now (for tests and diagnostics)."""
    with _CACHE_LOCK:
        return list(_CACHE)
