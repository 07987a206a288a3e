"""What the benchmark scripts share: the database URL, the app, and the synthetic plan's name."""

from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import URL, make_url

from taskhub import create_app
from taskhub.config import Config

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
DEFAULT_DB = f"sqlite:///{DATA_DIR / 'bench.db'}"
#: The synthetic province and its one big plan (a copy of Baotou's engine spec).
CITY_CODE = "bench-province"
PLAN_CODE = "bench-province-2022"
#: The plan whose scheme and section tree the big plan copies.
TEMPLATE_PLAN = "baotou-2022"


def log(message: str) -> None:
    """Progress goes to stderr so that stdout stays the results."""
    print(message, file=sys.stderr, flush=True)


def database_url(raw: str) -> URL:
    """The URL as SQLAlchemy needs it: a bare postgresql:// means psycopg 3 (the one installed)."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SystemExit(f"--db: only SQLite and PostgreSQL are supported, not {url.drivername}")
    if backend == "sqlite" and url.database and url.database != ":memory:":
        # Flask-SQLAlchemy would read a relative path against the instance folder.
        url = url.set(database=str(Path(url.database).resolve()))
    # The test suite owns `test` (and others may own other databases): only ours is touched.
    if backend == "postgresql" and "bench" not in (url.database or ""):
        raise SystemExit(
            f"--db: PostgreSQL database {url.database!r} is not the benchmark's: "
            "its name must contain 'bench' (e.g. taskhub_bench)"
        )
    return url


def make_app(url: URL) -> Flask:
    """The real app against ``url``, with nothing written under instance/."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.INSTANCE_PATH = str(DATA_DIR)
    config.EVIDENCE_PATH = str(DATA_DIR / "evidence")
    # No instance secret file is needed for a benchmark (the key must still be 32+ characters).
    config.SECRET_KEY = "bench-only-secret-key-not-for-production-use"
    config.SQLALCHEMY_DATABASE_URI = url.render_as_string(hide_password=False)
    return create_app(config)
