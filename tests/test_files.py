"""Files holding secrets (the SQLite database with password hashes, the secret key) are 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from taskhub import create_app
from taskhub.config import Config
from taskhub.core.db import db


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files are created world-readable by default."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def instance_app(monkeypatch: pytest.MonkeyPatch, folder: Path) -> object:
    monkeypatch.setenv("TASKHUB_INSTANCE_PATH", str(folder))
    monkeypatch.setenv("TASKHUB_DATABASE_URL", f"sqlite:///{folder / 'taskhub.db'}")
    monkeypatch.delenv("TASKHUB_SECRET_KEY", raising=False)
    return create_app(Config())


def test_a_new_instance_creates_its_database_and_secret_key_for_the_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask: None
) -> None:
    folder = tmp_path / "instance"
    app = instance_app(monkeypatch, folder)
    with app.app_context():  # type: ignore[attr-defined]
        with db.engine.connect() as conn:  # WAL mode: the -wal and -shm files exist meanwhile
            conn.execute(text("CREATE TABLE t (x integer)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            files = [folder / name for name in ("taskhub.db", "taskhub.db-wal", "taskhub.db-shm")]
            assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
        db.engine.dispose()
    assert mode(folder / "secret_key") == 0o600
    assert mode(folder) == 0o700  # made by TaskHub: nobody else lists it


def test_an_existing_world_readable_database_is_tightened_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask: None
) -> None:
    folder = tmp_path / "instance"
    folder.mkdir()
    for name in ("taskhub.db", "taskhub.db-wal", "secret_key"):
        (folder / name).write_text("" if name != "secret_key" else "k" * 64)
        os.chmod(folder / name, 0o644)
    app = instance_app(monkeypatch, folder)
    with app.app_context():  # type: ignore[attr-defined]
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db.engine.dispose()
    assert [mode(folder / n) for n in ("taskhub.db", "taskhub.db-wal", "secret_key")] == [
        0o600,
        0o600,
        0o600,
    ]
