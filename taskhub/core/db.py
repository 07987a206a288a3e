"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from flask import g, has_app_context
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import JSON, Delete, Insert, MetaData, Numeric, String, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import DateTime, TypeDecorator

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: True while code that will write runs outside a request (a scheduled job): on SQLite its
#: transactions then start with BEGIN IMMEDIATE (see ``taskhub.app._configure_sqlite``).
_writing: ContextVar[bool] = ContextVar("writing", default=False)


@contextmanager
def writing() -> Iterator[None]:
    """Mark the transactions begun inside as writers: on SQLite they take the write lock at
    BEGIN and wait for it, instead of failing when a read has to become a write."""
    token = _writing.set(True)
    try:
        yield
    finally:
        _writing.reset(token)


def is_writing() -> bool:
    return _writing.get()


#: How long a long job pauses after committing a batch on SQLite. SQLite's busy handler polls
#: (at most every 100 ms), so a job that began its next transaction at once would keep the
#: write lock from a waiting web request for the whole run.
SQLITE_YIELD_SECONDS = 0.15


class Batches:
    """Commits a long job's work about every ``seconds`` and lets waiting writers in, for jobs
    that are safe to resume (a rerun skips what was committed). On SQLite a job holds the
    database's write lock from its first write, so without this a sign-in waits for the whole
    run and then fails."""

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds
        self._since = time.monotonic()

    def done_one(self) -> None:
        if time.monotonic() - self._since < self.seconds:
            return
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            time.sleep(SQLITE_YIELD_SECONDS)
        self._since = time.monotonic()


#: Execution option of a statement that only reads: a plain SELECT, without a row lock or a
#: function that changes anything. On PostgreSQL such statements may run before the
#: transaction begins (``taskhub.app._configure_postgresql``): a request that runs nothing
#: else (the API's lists) then needs no BEGIN and no COMMIT.
READS_ONLY = "taskhub_reads_only"


def reads_only(statement: T) -> T:
    """``statement`` marked as one that only reads (:data:`READS_ONLY`)."""
    return statement.execution_options(**{READS_ONLY: True})  # type: ignore[attr-defined]


def lock(obj: T) -> T:
    """Take the row lock of a loaded object and reload it, before checking a rule on it.

    PostgreSQL: ``SELECT … FOR UPDATE``, which waits for a concurrent writer of the row to end
    and then reads what it committed; the lock is held to the end of the transaction, so the
    check and the write act on the same values (a compare-and-set). SQLite has no row locks:
    its write requests already hold the database's write lock from BEGIN IMMEDIATE, and the
    reload is only a reload. Every relationship loaded before is expired and loads anew.
    """
    db.session.refresh(obj, with_for_update=True)
    return obj


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC (pass the function, not its result, as default)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns aware UTC datetimes, also on SQLite which drops the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use taskhub.core.db.now_utc()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _date_iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    ).isoformat()


def _sqlite_utc_iso(value: str | None) -> str | None:
    """SQLite's stored text of a UTCDateTime as ``datetime.isoformat`` writes it."""
    if value is None:
        return None
    if len(value) == 26 and value[10] == " " and value[19] == ".":  # SQLAlchemy's own format
        micro = value[20:]
        return f"{value[:10]}T{value[11:19]}{'' if micro == '000000' else '.' + micro}+00:00"
    return _utc_iso(datetime.fromisoformat(value))  # written some other way: parse it


class IsoText(TypeDecorator[str]):
    """A stored date (or, ``with_time``, a UTCDateTime) read as the ISO 8601 text the API
    writes, for lists that send thousands: on SQLite, which stores that text already, no date
    object is made only to be written back out. Read only (``type_coerce`` in a SELECT)."""

    impl = String
    cache_ok = True

    def __init__(self, with_time: bool = False) -> None:
        super().__init__()
        self.with_time = with_time

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        sqlite = dialect.name == "sqlite"
        if self.with_time:
            return _sqlite_utc_iso if sqlite else _utc_iso
        return None if sqlite else _date_iso


#: Points and weights: exact decimals, never floats.
Points = Numeric(10, 4, asdecimal=True)


class Base(DeclarativeBase):
    # One registry carrying both, so Flask-SQLAlchemy's subclass of this base reuses it.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            datetime: UTCDateTime(),
            Decimal: Points,
            dict[str, Any]: JSON(),
            list[Any]: JSON(),
            str: String(),
        },
    )


class RoutingSession(FlaskSession):
    """Flask-SQLAlchemy's session, reading from the read replica inside a request that
    ``taskhub.core.replica.reads_replica`` sent there (``g.replica_engine``) until that request
    writes: a flush, an INSERT/UPDATE/DELETE or a locking SELECT goes to the primary and turns
    the rest of the request to the primary too."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        if bind is None and has_app_context():
            engine = g.get("replica_engine")
            if engine is not None:
                if not (self._flushing or _writes(clause)):
                    return engine
                use_primary()
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def _writes(clause: Any) -> bool:
    if isinstance(clause, Insert | Update | Delete):
        return True
    # SELECT … FOR UPDATE (lock() above) takes a row lock: the primary's.
    return getattr(clause, "_for_update_arg", None) is not None


def use_primary() -> bool:
    """Read the primary for the rest of this request, before reading what it will write
    from. True when the request had been reading the replica (read again what matters)."""
    if not has_app_context() or g.get("replica_engine") is None:
        return False
    g.replica_engine = None
    return True


def reading_replica() -> bool:
    """Whether this request's statements now go to the read replica."""
    return has_app_context() and g.get("replica_engine") is not None


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
