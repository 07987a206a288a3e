"""Heavy read pages from a PostgreSQL streaming replica (issue 17).

With ``TASKHUB_DATABASE_REPLICA_URL`` set, the views marked :func:`reads_replica` (the
dashboard, the ledger page and its export, the bulletin and its downloads) read from a second
engine on the replica, for GET and HEAD only. Everything else stays on the primary, and so does
any of those requests once it writes: the first flush or INSERT/UPDATE/DELETE (or a locking
SELECT) in it turns the rest of the request to the primary (``taskhub.core.db.RoutingSession``),
and code about to read-then-write calls :func:`use_primary` first (a plan's period row made on
first use, an audit event chained to the newest one).

The replica is used only when it can be trusted for this user, checked once per request with
one small query on the replica:

- it answers (else the primary, and the replica is left alone for :data:`RETRY_SECONDS`);
- it is a standby (``pg_is_in_recovery()``; a promoted or wrong server is not read);
- it lags at most ``TASKHUB_REPLICA_MAX_LAG_SECONDS`` (0 when it has replayed all it
  received, else the age of the last transaction replayed);
- read-your-writes: after a signed-in user's request that may have written (any method but
  GET/HEAD/OPTIONS), the primary's WAL position is kept in their session cookie, and their
  heavy pages stay on the primary until the replica has replayed past it.

Every fallback is logged (logger ``taskhub.replica``) when the reason changes, so a replica
that is down or behind shows in the journal once, not on every request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from time import monotonic
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, request, session
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from taskhub.config import mask_url
from taskhub.core.db import reading_replica, use_primary

__all__ = ["reading_replica", "reads_replica", "use_primary"]

logger = logging.getLogger("taskhub.replica")

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds the replica is left alone after it did not answer (no connection attempts).
RETRY_SECONDS = 10
#: Seconds a new connection to the replica may take before the page reads the primary.
CONNECT_TIMEOUT = 2
#: The session key holding the primary's WAL position after the user's last write.
SESSION_KEY = "_primary_lsn"
#: Methods that never write; a request with any other method marks the user as a writer.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Whether the replica may be read: a standby, its lag in seconds, whether it has replayed
#: the WAL position given (the user's last write; 0/0 when none).
_STATUS = text(
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()"
    "  THEN 0"
    "  ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END,"
    " COALESCE(pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn), false)"
)


@dataclass
class Replica:
    """The replica's engine and what this process last learned about it."""

    engine: Engine
    max_lag: float
    #: monotonic() before which the replica is not tried again (it did not answer).
    down_until: float = 0.0
    #: Why the last heavy page read the primary ("" while the replica serves).
    reason: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, reason: str, level: int = logging.WARNING) -> None:
        """Log a change of state once (per process), not every request."""
        with self.lock:
            changed, self.reason = reason != self.reason, reason
        if not changed:
            return
        if reason:
            logger.log(level, "read replica not used, reading the primary: %s", reason)
        else:
            logger.info("read replica %s in use again", mask_url(str(self.engine.url)))


def reads_replica(view: F) -> F:
    """Serve this view's GET/HEAD requests from the replica when it is configured, answers,
    is recent enough and has the user's own last write (see the module's docstring)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method in ("GET", "HEAD"):
            engine = _usable_engine()
            if engine is not None:
                g.replica_engine = engine
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _usable_engine() -> Engine | None:
    replica: Replica | None = current_app.extensions.get("taskhub_replica")
    if replica is None:
        return None
    now = monotonic()
    if replica.down_until > now:
        return None
    written = session.get(SESSION_KEY)
    try:
        with replica.engine.connect() as conn:
            standby, lag, replayed = conn.execute(_STATUS, {"lsn": written or "0/0"}).one()
            conn.rollback()
    except (SQLAlchemyError, OSError) as exc:
        replica.down_until = now + RETRY_SECONDS
        replica.note(
            f"{mask_url(str(replica.engine.url))} does not answer "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            f"trying again in {RETRY_SECONDS} s"
        )
        return None
    if not standby:
        replica.note(f"{mask_url(str(replica.engine.url))} is not a standby (promoted?)")
        return None
    if float(lag) > replica.max_lag:
        replica.note(
            f"it lags {float(lag):.1f} s behind, more than TASKHUB_REPLICA_MAX_LAG_SECONDS "
            f"({replica.max_lag:g})"
        )
        return None
    replica.note("")
    if written:
        if not replayed:
            # Read-your-writes: this user's last change is not on the replica yet.
            logger.debug("replica has not replayed %s yet: the primary serves this user", written)
            return None
        session.pop(SESSION_KEY, None)
    return replica.engine


def _remember_write(response: Any) -> Any:
    """After a signed-in user's request that may have written, keep the primary's WAL
    position in their session: their heavy pages read the primary until the replica has it."""
    if request.method in _READ_METHODS or "_user_id" not in session:
        return response
    from taskhub.core.db import db

    try:
        with db.engine.connect() as conn:
            lsn = conn.execute(text("SELECT CAST(pg_current_wal_insert_lsn() AS text)")).scalar()
            conn.rollback()
    except SQLAlchemyError:
        logger.debug("primary WAL position unknown after a write", exc_info=True)
        return response
    session[SESSION_KEY] = lsn
    return response


def init_app(app: Flask) -> None:
    """The replica's engine (the primary's engine options, a short connect timeout), when
    ``DATABASE_REPLICA_URL`` is set and the primary is PostgreSQL."""
    url = app.config.get("DATABASE_REPLICA_URL")
    if not url or not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["connect_timeout"] = min(
        int(connect_args.get("connect_timeout", CONNECT_TIMEOUT)), CONNECT_TIMEOUT
    )
    options["connect_args"] = connect_args
    options.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **options)
    app.extensions["taskhub_replica"] = Replica(
        engine, float(app.config.get("REPLICA_MAX_LAG_SECONDS", 5))
    )
    app.after_request(_remember_write)
