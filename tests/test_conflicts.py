"""The safety net: a collision with a concurrent transaction that reaches the top of a request
answers 409 (API: the usual error body; pages: a page saying so in Chinese), never 500.

The services prevent these collisions (tests/test_races.py); this is what a request gets if
one slips through: the ORM's version check failing at the write, a deadlock or serialisation
failure broken by PostgreSQL, two requests inserting the same row. Other database errors
stay 500.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from taskhub import config as settings
from taskhub import create_app
from taskhub.core.conflicts import is_conflict


def _deadlock() -> DBAPIError:
    return OperationalError("UPDATE …", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


FAILURES: dict[str, Any] = {
    "stale": lambda: StaleDataError("UPDATE statement on table 'assignments' matched 0 rows"),
    "deadlock": _deadlock,
    "serialization": lambda: OperationalError(
        "UPDATE …", {}, psycopg.errors.SerializationFailure("could not serialize access")
    ),
    "duplicate": lambda: DBAPIError("INSERT …", {}, psycopg.errors.UniqueViolation("duplicate")),
    "other": lambda: DBAPIError("SELECT …", {}, psycopg.errors.UndefinedTable("no such table")),
}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    config = settings.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'conflicts.db'}"
    config.INSTANCE_PATH = str(tmp_path)
    app = create_app(config, WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)

    def fail(kind: str) -> Any:
        raise FAILURES[kind]()

    app.add_url_rule("/api/v1/probe/<kind>", "api_probe", fail, methods=["POST"])
    app.add_url_rule("/probe/<kind>", "page_probe", fail, methods=["POST"])
    return app


@pytest.mark.parametrize("kind", ["stale", "deadlock", "serialization", "duplicate"])
def test_a_collision_answers_409_in_the_api(app: Flask, kind: str) -> None:
    response = app.test_client().post(f"/api/v1/probe/{kind}")
    assert response.status_code == 409
    assert response.json is not None and response.json["code"] == "stale"
    assert "changed by someone else" in response.json["message"]


@pytest.mark.parametrize("kind", ["stale", "deadlock"])
def test_a_collision_answers_a_page_in_chinese(app: Flask, kind: str) -> None:
    response = app.test_client().post(f"/probe/{kind}")
    assert response.status_code == 409
    assert "他人在同一时刻修改了此内容，本次未保存" in response.get_data(as_text=True)


def test_other_database_errors_stay_server_errors(app: Flask) -> None:
    assert app.test_client().post("/api/v1/probe/other").status_code == 500
    assert app.test_client().post("/probe/other").status_code == 500


@pytest.fixture
def postgresql_url() -> str:
    url = os.environ.get("TASKHUB_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: set TASKHUB_TEST_DATABASE_URL")
    return url


def test_a_real_postgresql_deadlock_is_a_conflict(postgresql_url: str) -> None:
    """Two transactions lock two rows in opposite orders; PostgreSQL breaks the deadlock by
    failing one of them, and that failure is recognised."""
    engine = create_engine(postgresql_url)
    table = "race_probe_deadlock"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)"))
        conn.execute(text(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
    errors: list[BaseException] = []
    both_locked = threading.Barrier(2, timeout=30)

    def run(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                conn.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = {first}"))
                both_locked.wait()
                conn.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = {second}"))
        except DBAPIError as error:
            errors.append(error)

    try:
        threads = [threading.Thread(target=run, args=a) for a in ((1, 2), (2, 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {table} VALUES (3, 0)"))
        try:
            with engine.begin() as conn:
                conn.execute(text(f"INSERT INTO {table} VALUES (3, 0)"))
        except DBAPIError as error:
            errors.append(error)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
        engine.dispose()
    assert len(errors) == 2  # the deadlock's victim, the duplicate row
    assert all(is_conflict(error) for error in errors), errors
