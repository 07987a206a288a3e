"""SQLAlchemy Core without the ORM: what a command that only reads a few rows needs.

`taskhub jobs list` and `taskhub plan list` read their rows with Core statements over light
table clauses (``sqlalchemy.table``), not the 46 mapped models: importing the ORM, the models
and configuring their mappers cost most of their start (bench/README.md, "# CLI start").
This module imports no Flask-SQLAlchemy, no ``sqlalchemy.orm`` and no model.

The engine is made from the same configuration as the app's (taskhub.config.Config: the same
URL, engine options and SQLite settings); a test compares the table clauses with the models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Numeric, create_engine, event
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from taskhub.config import Config

#: Points and weights: exact decimals, never floats (the models' type for ``Decimal``).
Points = Numeric(10, 4, asdecimal=True)


def configure_sqlite(engine: Engine, expects_writes: Callable[[], bool]) -> None:
    """Make SQLite behave: real transactions (savepoints work), foreign keys, WAL; the file
    (it holds password hashes) is readable by the service account only.

    ``expects_writes`` tells, as a transaction begins, whether it will write: it then takes
    the write lock at BEGIN (BEGIN IMMEDIATE, see ``taskhub.app._expects_writes``)."""
    from taskhub.core.files import private_sqlite_file

    @event.listens_for(engine, "do_connect")
    def before_connect(*_: Any) -> None:
        # Before SQLite opens (and maybe creates) the file: 0600, not the umask's 0644.
        private_sqlite_file(engine.url.database)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if expects_writes() else "BEGIN")


def reading_engine(config: Config) -> Engine:
    """An engine for a command that only reads, made as the app's is (Flask-SQLAlchemy's
    defaults included: a relative SQLite path lies in the instance folder)."""
    options = dict(config.SQLALCHEMY_ENGINE_OPTIONS)
    url = make_url(config.SQLALCHEMY_DATABASE_URI)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite:
        # As taskhub.app._configure_database: a local file never drops a connection.
        options.pop("pool_pre_ping", None)
        database = url.database or ""
        if database not in ("", ":memory:"):
            is_uri = bool(url.query.get("uri"))
            path = database[5:] if is_uri else database
            if not os.path.isabs(path):
                os.makedirs(config.INSTANCE_PATH, exist_ok=True)
                path = os.path.join(config.INSTANCE_PATH, path)
                url = url.set(database=f"file:{path}" if is_uri else path)
    engine = create_engine(url, **options)
    if sqlite:
        configure_sqlite(engine, lambda: False)
    return engine
