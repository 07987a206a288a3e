"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, MetaData, Numeric, String
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


db = SQLAlchemy(model_class=Base)
