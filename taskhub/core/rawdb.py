"""The database driver alone (sqlite3 or psycopg), for commands that only read a few rows.

`taskhub jobs list` and `taskhub plan list` answer with one or three plain SQL statements.
Importing SQLAlchemy costs more than the rest of such a command (bench/README.md, "# CLI
start"), so they talk to the driver directly: the two database URLs TaskHub supports map onto
the drivers without SQLAlchemy (a SQLite path, a libpq URI). Everything else in TaskHub uses
SQLAlchemy; this module imports none of it.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from taskhub.config import Config


class DatabaseError(Exception):
    """The database cannot be opened; the message is the driver's own."""


def connect(config: Config) -> Any:
    """A DB-API connection to the configured database, in autocommit mode (each statement its
    own snapshot: these commands only read). Raises DatabaseError when it cannot be opened."""
    url = config.SQLALCHEMY_DATABASE_URI or ""
    scheme, _, rest = url.partition("://")
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return _sqlite(rest, config.INSTANCE_PATH)
    if scheme == "postgresql+psycopg":
        return _postgresql("postgresql://" + rest, config)
    # Config.validate refuses every other URL before a command gets here.
    raise DatabaseError(f"unsupported database URL {scheme!r}")


def _sqlite(rest: str, instance_path: str) -> sqlite3.Connection:
    # As SQLAlchemy reads sqlite:///path?uri=true and Flask-SQLAlchemy places a relative path
    # in the instance folder (taskhub.app builds the app's engine the same way).
    path, _, query = rest.removeprefix("/").partition("?")
    is_uri = "uri=true" in query.split("&")
    path = unquote(path)
    if path in ("", ":memory:"):
        raise DatabaseError("an in-memory database holds no plans")
    file_path = path[5:] if is_uri and path.startswith("file:") else path
    if not os.path.isabs(file_path):
        os.makedirs(instance_path, exist_ok=True)
        file_path = os.path.join(instance_path, file_path)
        path = f"file:{file_path}" if is_uri else file_path
    from taskhub.core.files import private_sqlite_file

    private_sqlite_file(path)
    try:
        connection = sqlite3.connect(path, uri=is_uri, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 10000")
    except sqlite3.Error as exc:
        raise DatabaseError(str(exc)) from exc
    return connection


def _postgresql(conninfo: str, config: Config) -> Any:
    import psycopg

    # finalize() put the connect timeout into the engine's options (fail fast on a dead host).
    options = config.SQLALCHEMY_ENGINE_OPTIONS.get("connect_args", {})
    try:
        return psycopg.connect(conninfo, autocommit=True, **options)
    except psycopg.Error as exc:
        raise DatabaseError(str(exc).strip()) from exc


def has_table(connection: Any, name: str) -> bool:
    """Whether the schema has table ``name`` (as SQLAlchemy's ``inspect().has_table``)."""
    if isinstance(connection, sqlite3.Connection):
        row = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None
    row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row[0])


def as_date(value: date | str | None) -> date | None:
    """A DATE column's value: SQLite hands back SQLAlchemy's ISO text, PostgreSQL a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def as_points(value: Decimal | float | int | None) -> Decimal | None:
    """A Numeric(10, 4) column's value as SQLAlchemy returns it: SQLite stores a float, which
    SQLAlchemy turns into a Decimal of 4 places; PostgreSQL hands back the Decimal."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(f"{value:.4f}")
