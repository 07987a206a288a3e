"""On PostgreSQL a request that wrote nothing ends with COMMIT, so psycopg keeps its prepared
statements from one request to the next; anything that wrote, or failed, still rolls back.

PostgreSQL only (TASKHUB_TEST_DATABASE_URL): on SQLite the hook is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
