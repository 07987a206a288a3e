"""SQLite with several workers: writers queue for the lock instead of failing with "database
is locked", and reads stay concurrent.

In WAL mode a transaction that read first cannot start writing once another connection has
committed (SQLITE_BUSY_SNAPSHOT), and SQLite says so at once, without waiting. So requests
that may write (not GET, HEAD or OPTIONS) and scheduled jobs begin with BEGIN IMMEDIATE, and
the token check ends its read before it records the token's use.

Each test builds its own SQLite file (WAL) in tmp_path, whatever database the rest of the
suite uses, and drives it from two app instances (two engines, as two gunicorn workers have)
and real threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from taskhub import config as settings
from taskhub import create_app
from taskhub.accounts import services as accounts
from taskhub.accounts.models import ApiToken, User
from taskhub.accounts.tokens import create_token
from taskhub.core.db import db
from taskhub.jobs.registry import JobSpec
from taskhub.jobs.services import run_job
from taskhub.plans.seeds import load_seeds
from taskhub.units.models import Contact, Unit
from tests.conftest import PASSWORD

WRITERS_PER_APP = 4
POSTS_PER_WRITER = 12


def _app(database: Path, instance: Path) -> Flask:
    config = settings.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{database}"
    config.INSTANCE_PATH = str(instance)
    config.EVIDENCE_PATH = str(instance / "evidence")
    # A failure answers 500 as in production instead of raising in the client's thread.
    return create_app(config, WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (two engines) on one new SQLite file, migrated, with one seeded plan."""
    database = tmp_path / "shared.db"
    first, second = _app(database, tmp_path), _app(database, tmp_path)
    with first.app_context():
        upgrade(directory=str(settings.PROJECT_ROOT / "migrations"))
        load_seeds(settings.PROJECT_ROOT / "seeds", codes=["baotou-2022"])
        db.session.commit()
        db.session.remove()
    yield first, second
    for app in (first, second):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _office_token(app: Flask, name: str) -> str:
    """A new office user's token, never used yet (so its first use records it)."""
    with app.app_context():
        user = accounts.create_user(username=name, password=PASSWORD, role="office")
        _, plain = create_token(user, "locking", actor=user)
        db.session.commit()
        db.session.remove()
    return plain


def _a_unit_id(app: Flask) -> int:
    with app.app_context():
        unit_id = db.session.scalars(select(Unit.id).order_by(Unit.id)).first()
        db.session.remove()
    assert unit_id is not None
    return unit_id


def _run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _holding_the_write_lock(database: str) -> sqlite3.Connection:
    """Another process's writer: a raw connection that has taken the write lock."""
    other = sqlite3.connect(database, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE units SET name = name WHERE id = (SELECT min(id) FROM units)")
    return other


def _database(app: Flask) -> str:
    with app.app_context():
        return str(db.engine.url.database)


def test_concurrent_writers_in_two_workers_all_succeed(apps: tuple[Flask, Flask]) -> None:
    unit_id = _a_unit_id(apps[0])
    answers: list[tuple[int, str]] = []
    record = threading.Lock()

    def writer(app: Flask, token: str, n: int) -> Callable[[], None]:
        def run() -> None:
            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}
            for i in range(POSTS_PER_WRITER):
                # Each request reads (token, unit) before it writes (contact, audit record).
                response = client.post(
                    f"/api/v1/units/{unit_id}/contacts",
                    json={"name": f"联系人{n}-{i}", "position": "科员", "mobile": "13800000001"},
                    headers=headers,
                )
                # A reader in between keeps a snapshot open on the same file.
                client.get("/api/v1/assignments/?page_size=5", headers=headers)
                with record:
                    answers.append((response.status_code, response.get_data(as_text=True)))

        return run

    writers = [
        writer(app, _office_token(app, f"writer-{a}-{n}"), a * WRITERS_PER_APP + n)
        for a, app in enumerate(apps)
        for n in range(WRITERS_PER_APP)
    ]
    _run_threads(writers)

    failed = [(status, body[:200]) for status, body in answers if status != 201]
    assert failed == []
    assert len(answers) == 2 * WRITERS_PER_APP * POSTS_PER_WRITER
    with apps[1].app_context():
        stored = db.session.scalar(
            select(func.count()).select_from(Contact).where(Contact.name.like("联系人%"))
        )
        used = db.session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.last_used_at.is_not(None))
        )
        db.session.remove()
    assert stored == len(answers)  # no acknowledged write is missing
    assert used == len(writers)  # every token's first use was recorded


def test_a_read_records_its_tokens_use_after_a_writer_lets_go(apps: tuple[Flask, Flask]) -> None:
    app = apps[0]
    token = _office_token(app, "reader")  # never used: this GET must record its use
    other = _holding_the_write_lock(_database(app))
    answers: list[int] = []

    def read() -> None:
        response = app.test_client().get(
            "/api/v1/assignments/?page_size=5", headers={"Authorization": f"Bearer {token}"}
        )
        answers.append(response.status_code)

    reader = threading.Thread(target=read)
    reader.start()
    # The reader waits for the lock (busy_timeout) instead of failing at once.
    reader.join(timeout=1)
    assert reader.is_alive()
    other.execute("COMMIT")
    other.close()
    reader.join()
    assert answers == [200]
    with app.app_context():
        used = db.session.scalar(
            select(ApiToken.last_used_at).join(User).where(User.username == "reader")
        )
        db.session.remove()
    assert used is not None


def test_reads_do_not_wait_for_a_writer(apps: tuple[Flask, Flask]) -> None:
    app = apps[0]
    token = _office_token(app, "reader")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get("/api/v1/assignments/", headers=headers).status_code == 200  # use recorded
    other = _holding_the_write_lock(_database(app))
    try:
        # Plain BEGIN: the read runs beside the writer (BEGIN IMMEDIATE would wait for it).
        assert client.get("/api/v1/assignments/", headers=headers).status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_scheduled_job_takes_the_write_lock_when_it_begins(apps: tuple[Flask, Flask]) -> None:
    app = apps[0]
    database = _database(app)
    seen: dict[str, Any] = {}

    def locked() -> bool:
        try:
            other = _holding_the_write_lock(database)
        except sqlite3.OperationalError:
            return True
        other.execute("ROLLBACK")
        other.close()
        return False

    def job(today: date) -> dict[str, Any]:
        db.session.scalar(select(func.count()).select_from(Unit))  # reads first
        seen["job"] = locked()
        return {}

    with app.app_context():
        run_job(JobSpec("probe", job, "Probe the lock", is_daily=False), date(2026, 6, 30))
        db.session.scalar(select(func.count()).select_from(Unit))
        seen["outside"] = locked()
        db.session.remove()
    assert seen == {"job": True, "outside": False}
