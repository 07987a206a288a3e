"""On PostgreSQL a request that wrote nothing ends with COMMIT, so psycopg keeps its prepared
statements from one request to the next; anything that wrote, or failed, still rolls back.

PostgreSQL only (TASKHUB_TEST_DATABASE_URL): on SQLite the hook is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.orm import scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

from taskhub.app import _end_reads_with_commit
from taskhub.core.db import db


@pytest.fixture
def one_connection(app: Flask) -> Iterator[scoped_session[Any]]:
    """db.session on a single PostgreSQL connection of its own (so its server-side state can
    be looked at), with a temporary table to write into; nothing outlives the test."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        pytest.skip("PostgreSQL only: set TASKHUB_TEST_DATABASE_URL")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=StaticPool)
    scoped = scoped_session(sessionmaker(bind=engine))
    with app.app_context():
        original, db.session = db.session, scoped
        try:
            scoped.execute(text("CREATE TEMP TABLE notes (body text)"))
            scoped.commit()
            yield scoped
        finally:
            db.session = original
            scoped.remove()
            engine.dispose()


def end_request(session: scoped_session[Any], exc: BaseException | None = None) -> None:
    """What the app's teardown does after a request: this hook, then Flask-SQLAlchemy's."""
    _end_reads_with_commit(exc)
    session.remove()


def notes(session: scoped_session[Any]) -> list[str]:
    rows = list(session.scalars(text("SELECT body FROM notes ORDER BY body")))
    session.rollback()
    return rows


def test_read_only_requests_keep_prepared_statements(one_connection: scoped_session[Any]) -> None:
    session = one_connection
    # psycopg prepares a statement once it has run it 5 times on a connection; a ROLLBACK at
    # the end of each request used to throw the prepared statements away every time.
    for n in range(8):
        session.execute(text("SELECT count(*) FROM notes WHERE body = :b"), {"b": str(n)})
        end_request(session)
    prepared = session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    session.rollback()
    assert prepared and prepared >= 1


def test_a_request_that_wrote_without_commit_is_rolled_back(
    one_connection: scoped_session[Any],
) -> None:
    session = one_connection
    session.execute(text("INSERT INTO notes VALUES ('left uncommitted')"))
    end_request(session)
    assert notes(session) == []


def test_a_failed_request_is_rolled_back(one_connection: scoped_session[Any]) -> None:
    session = one_connection
    session.execute(text("INSERT INTO notes VALUES ('before the error')"))
    end_request(session, RuntimeError("the view failed"))
    assert notes(session) == []


def test_a_request_in_a_failed_transaction_is_rolled_back(
    one_connection: scoped_session[Any],
) -> None:
    session = one_connection
    session.execute(text("INSERT INTO notes VALUES ('then a bad statement')"))
    with pytest.raises(Exception, match="division by zero"):
        session.execute(text("SELECT 1 / 0"))
    end_request(session)
    session.execute(text("INSERT INTO notes VALUES ('committed')"))
    session.commit()
    assert notes(session) == ["committed"]


# -- reads without a transaction (issue 17) ---------------------------------------------------

IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open on the server


@pytest.fixture
def pg_app(app: Flask) -> Flask:
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        pytest.skip("PostgreSQL only: set TASKHUB_TEST_DATABASE_URL")
    return app


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every BEGIN, COMMIT and ROLLBACK psycopg sends from now on."""
    import psycopg

    commands: list[bytes] = []
    original = psycopg.Connection._exec_command

    def spy(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, bytes):
            commands.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "_exec_command", spy)
    return commands


def server_status() -> int:
    return int(db.session.connection().connection.dbapi_connection.info.transaction_status)


@pytest.fixture
def pooled_office(pg_app: Flask) -> Iterator[Any]:
    from tests.conftest import committed_office_client

    with committed_office_client(pg_app, "pooled-office") as client:
        yield client


def read_the_list(office: Any, sent: list[Any]) -> None:
    """A first request (it may record the token's use), then three pages of the list with
    ``sent`` cleared before them."""
    assert office.get("/api/v1/assignments/?open=true").status_code == 200  # token touched
    sent.clear()
    for _ in range(3):
        response = office.get("/api/v1/assignments/?open=true&page_size=5")
        assert response.status_code == 200 and len(response.json) == 5


def test_the_assignment_list_reads_without_begin_or_commit(pooled_office, sent) -> None:
    office = pooled_office
    read_the_list(office, sent)
    assert sent == []
    # The connection went back to the pool ready for a transaction: what may write begins one.
    from sqlalchemy import literal, select

    with pooled_office_app(office).test_request_context():
        db.session.execute(select(literal(1)))
        assert server_status() != IDLE
        db.session.rollback()
    assert sent == [b"BEGIN", b"ROLLBACK"]


def pooled_office_app(client: Any) -> Flask:
    return cast(Flask, client.client.application)


def test_a_statement_not_marked_as_reading_runs_in_a_transaction(pg_app, sent) -> None:
    from sqlalchemy import literal, select

    from taskhub.core.db import reads_only

    with pg_app.test_request_context():
        db.session.execute(reads_only(select(literal(1))))
        assert server_status() == IDLE
        db.session.execute(select(literal(2)))  # not marked: it may write
        assert server_status() != IDLE
        assert sent == [b"BEGIN"]
        # A marked read after it runs in the same transaction.
        db.session.execute(reads_only(select(literal(3))))
        assert server_status() != IDLE
        db.session.rollback()


def test_a_write_after_reads_without_commit_is_rolled_back(pg_app) -> None:
    from sqlalchemy import select, update

    from taskhub.core.db import reads_only
    from taskhub.tracking.models import Assignment

    with pg_app.app_context():
        first = db.session.scalar(select(Assignment.id).order_by(Assignment.id).limit(1))
        before = db.session.scalar(select(Assignment.percent).where(Assignment.id == first))
        db.session.rollback()
    with pg_app.test_request_context():
        db.session.execute(reads_only(select(Assignment.id).limit(1)))
        db.session.execute(update(Assignment).where(Assignment.id == first).values(percent=77))
        _end_reads_with_commit(None)
        db.session.remove()
    with pg_app.app_context():
        assert db.session.scalar(select(Assignment.percent).where(Assignment.id == first)) == before
        db.session.rollback()


def test_an_autocommit_connection_asked_for_stays_autocommit(pg_app, sent) -> None:
    from sqlalchemy import text

    with (
        pg_app.app_context(),
        db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        conn.execute(text("SELECT 1"))
        assert conn.connection.dbapi_connection.info.transaction_status == IDLE
    assert b"BEGIN" not in sent


def test_a_connection_the_server_closed_is_replaced_at_checkout(pg_app, pooled_office) -> None:
    from sqlalchemy import create_engine, text

    office = pooled_office
    assert office.get("/api/v1/assignments/").status_code == 200
    with pg_app.app_context():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.rollback()
        db.session.remove()
        admin = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
    import time

    time.sleep(0.2)  # the server's goodbye reaches the pooled connection's socket
    assert office.get("/api/v1/assignments/").status_code == 200
