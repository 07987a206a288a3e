"""On SQLite, as on PostgreSQL (tests/test_pg_read_commit.py), a request that only runs marked
reads (``taskhub.core.db.reads_only``: the API's lists and the token check) sends no BEGIN and
no COMMIT; the first statement that is not marked begins the transaction before it runs, and a
request that may write still takes the write lock at its start (BEGIN IMMEDIATE).

SQLite only: the PostgreSQL pass skips these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, literal, select, update

from taskhub.core.db import db, reads_only
from taskhub.tracking.models import Assignment


@pytest.fixture
def sqlite_app(app: Flask) -> Flask:
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        pytest.skip("SQLite only (the PostgreSQL pass has tests/test_pg_read_commit.py)")
    return app


@pytest.fixture
def sent(sqlite_app: Flask) -> Iterator[list[str]]:
    """Every BEGIN, COMMIT and ROLLBACK the app's SQLite connections send from now on (the pool
    is emptied first, so every connection is a new one that reports what it runs)."""
    statements: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    with sqlite_app.app_context():
        engine = db.engine
        engine.dispose()
        event.listen(engine, "connect", trace)
    try:
        yield statements
    finally:
        event.remove(engine, "connect", trace)
        engine.dispose()


def transactions(statements: list[str]) -> list[str]:
    words = ("BEGIN", "COMMIT", "ROLLBACK")
    return [s.strip() for s in statements if s.strip().upper().startswith(words)]


def in_transaction() -> bool:
    return bool(db.session.connection().connection.dbapi_connection.in_transaction)


@pytest.fixture
def pooled_office(sqlite_app: Flask) -> Iterator[Any]:
    from tests.conftest import committed_office_client

    with committed_office_client(sqlite_app, "pooled-office-sqlite") as client:
        yield client


def test_the_assignment_list_reads_without_begin_or_commit(pooled_office, sent) -> None:
    from tests.test_pg_read_commit import read_the_list

    office = pooled_office
    read_the_list(office, sent)
    assert transactions(sent) == []
    # A unit's page too (one statement with its total).
    response = office.get("/api/v1/assignments/?open=true&unit=1&page_size=5")
    assert response.status_code == 200
    assert transactions(sent) == []


def test_a_statement_not_marked_as_reading_runs_in_a_transaction(sqlite_app, sent) -> None:
    with sqlite_app.test_request_context():
        db.session.execute(reads_only(select(literal(1))))
        assert not in_transaction()
        db.session.execute(select(literal(2)))  # not marked: it may write
        assert in_transaction()
        assert transactions(sent) == ["BEGIN"]
        # A marked read after it runs in the same transaction.
        db.session.execute(reads_only(select(literal(3))))
        assert in_transaction()
        db.session.rollback()
        assert not in_transaction()


def test_a_request_that_may_write_takes_the_lock_at_its_start(sqlite_app, sent) -> None:
    with sqlite_app.test_request_context(method="POST"):
        db.session.execute(reads_only(select(literal(1))))
        assert in_transaction()
        assert transactions(sent) == ["BEGIN IMMEDIATE"]
        db.session.rollback()


def test_a_write_after_reads_without_commit_is_rolled_back(sqlite_app) -> None:
    with sqlite_app.app_context():
        first = db.session.scalar(select(Assignment.id).order_by(Assignment.id).limit(1))
        before = db.session.scalar(select(Assignment.percent).where(Assignment.id == first))
        db.session.rollback()
    with sqlite_app.test_request_context():
        db.session.execute(reads_only(select(Assignment.id).limit(1)))
        db.session.execute(update(Assignment).where(Assignment.id == first).values(percent=77))
        db.session.remove()  # the request's end: Flask-SQLAlchemy rolls back
    with sqlite_app.app_context():
        assert db.session.scalar(select(Assignment.percent).where(Assignment.id == first)) == before
        db.session.rollback()
