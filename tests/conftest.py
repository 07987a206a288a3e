"""Fixtures: one app and migrated database per session, a rolled-back transaction per test.

TASKHUB_TEST_DATABASE_URL selects the database (PostgreSQL in CI); the default is a
temporary SQLite file.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import scoped_session, sessionmaker
from sqlalchemy.pool import NullPool
from werkzeug.test import TestResponse

from taskhub import create_app
from taskhub.accounts import services as accounts
from taskhub.accounts.models import User
from taskhub.config import PROJECT_ROOT, TestConfig
from taskhub.core.db import db
from taskhub.plans.seeds import load_seeds
from taskhub.units.models import Unit

PASSWORD = "correct horse battery"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (test_gw0, …).

    Every test starts from a migrated, seeded schema it rolls back; two workers dropping and
    migrating one schema would break each other. Tests that make more databases (backups,
    races) name them after this one, so they stay apart too.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TASKHUB_TEST_DATABASE_URL", "")
    if not worker or not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from taskhub.config import normalize_database_url

    base = make_url(normalize_database_url(url))
    name = f"{base.database}_{worker}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    os.environ["TASKHUB_TEST_DATABASE_URL"] = base.set(database=name).render_as_string(False)


def _reset_database(app: Flask) -> None:
    """Start from an empty schema so the migrations, not create_all, build the tables."""
    engine = db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            db.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    instance = tmp_path_factory.mktemp("instance")
    os.environ["TASKHUB_INSTANCE_PATH"] = str(instance)
    config = TestConfig()
    if config.SQLALCHEMY_DATABASE_URI in (None, "sqlite://"):
        config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{instance / 'test.db'}"
    app = create_app(config, WTF_CSRF_ENABLED=False)
    with app.app_context():
        _reset_database(app)
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds")
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


_checkpoint_logs = itertools.count(1)


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A database session whose work is rolled back after the test (commits are savepoints)."""
    from taskhub.core import cache

    # Figures are cached under the latest audit event; tests write rows without services and
    # roll back, which production never does, so each test starts with an empty cache.
    cache.clear_cache()
    # Each test's audit checkpoints go to a log of its own: its events are rolled back.
    app.config["AUDIT_CHECKPOINT_LOG"] = str(
        Path(app.instance_path) / "checkpoints" / f"{next(_checkpoint_logs)}.log"
    )
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        # A plain Session: Flask-SQLAlchemy's own would pick the engine, not this connection.
        scoped = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        original, db.session = db.session, scoped
        try:
            yield scoped
        finally:
            scoped.remove()
            db.session = original
            outer.rollback()
            connection.close()
            _vacuum_if_bloated()


#: Dead rows a table may hold (beyond twice its live ones) before the tests vacuum it.
_DEAD_ROWS_ALLOWED = 20_000

_BLOATED = text(
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
    " WHERE n_dead_tup > :allowed + 2 * n_live_tup"
)


def _vacuum_if_bloated() -> None:
    """Vacuum the tables that the rolled-back tests have filled with dead rows (PostgreSQL).

    Every test's writes are rolled back, which leaves their rows dead in the tables; autovacuum
    removes them in production, but a test server may run without it (the CI machine's does).
    Without this, the seeded tables held a hundred times their live rows by the end of the
    PostgreSQL pass and the same statements ran 10-20 times slower (28 minutes for the pass).
    """
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as conn:
            tables = conn.scalars(_BLOATED, {"allowed": _DEAD_ROWS_ALLOWED}).all()
            conn.rollback()
        if tables:
            # A connection of its own: an isolation level set on a pooled one is reset to an
            # explicit READ COMMITTED on its return, and the app's connections would then send
            # "BEGIN ISOLATION LEVEL READ COMMITTED" (tests/test_pg_read_commit.py counts BEGINs).
            vacuum = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            try:
                with vacuum.connect() as conn:
                    conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")
            finally:
                vacuum.dispose()
    except SQLAlchemyError as error:  # housekeeping: never the test's own failure
        warnings.warn(f"vacuuming the test database failed: {error}", stacklevel=1)


@pytest.fixture
def client(app: Flask, session: Any) -> FlaskClient:
    return app.test_client()


def unit_named(name: str, city: str | None = None) -> Unit:
    from taskhub.units.models import City, UnitAlias

    query = select(Unit).join(UnitAlias, UnitAlias.unit_id == Unit.id).where(UnitAlias.name == name)
    if city:
        query = query.join(City, City.id == Unit.city_id).where(City.code == city)
    return db.session.scalars(query).one()


def make_user(role: str, unit: Unit | None = None, username: str | None = None) -> User:
    if role in ("unit", "assessor") and unit is None:
        unit = unit_named("昆都仑区人民政府", "baotou")
    user = accounts.create_user(
        username=username or f"{role}-{unit.id if unit else 'x'}",
        password=PASSWORD,
        role=role,
        unit=unit,
    )
    db.session.commit()
    return user


def login(client: FlaskClient, user: User) -> None:
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def login_as(client: FlaskClient, session: Any) -> Any:
    """login_as("office") or login_as("unit", unit) signs the test client in as a new user."""

    def _login(role: str, unit: Unit | None = None) -> User:
        user = make_user(role, unit)
        login(client, user)
        return user

    return _login


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A writable copy of seeds/ for tests that break or change seed files."""
    import shutil

    target = tmp_path / "seeds"
    shutil.copytree(PROJECT_ROOT / "seeds", target)
    return target


# Real servers on 127.0.0.1 for reminder delivery tests.
# A real S3-protocol server on 127.0.0.1 for the object-store backend.
from tests.s3 import any_storage, s3_config, s3_server  # noqa: E402, F401
from tests.servers import silent_server, smtp_server, webhook_server  # noqa: E402, F401


class Browser:
    """One person at a browser: a test client whose requests each get their own app context.

    The session fixture keeps one app context open for the whole test and requests reuse it,
    so g, where Flask-Login caches the signed-in user, would carry one person's identity into
    another client's requests. A context per request behaves as production does.
    """

    def __init__(self, app: Flask, user: User) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        # Read now: each request ends the shared session, detaching the row.
        self.user_id, self.name = user.id, user.display_name
        response = self.post("/login", data={"username": user.username, "password": PASSWORD})
        assert response.status_code == 302

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.post(url, **kwargs)

    def page(self, url: str) -> str:
        response = self.get(url)
        assert response.status_code == 200, url
        return response.get_data(as_text=True)

    def submit(self, url: str, **kwargs: Any) -> str:
        """POST a form the way a browser does (then follow the redirect); the page shown."""
        response = self.post(url, follow_redirects=True, **kwargs)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)


class ApiClient:
    """A JSON API client authenticated with a real personal token of ``user``."""

    def __init__(self, client: FlaskClient, user: User, token: str) -> None:
        self.client, self.user, self.token = client, user, token

    def _call(self, method: str, url: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self._call("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        return self._call("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> TestResponse:
        return self._call("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> TestResponse:
        return self._call("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return self._call("DELETE", url, **kwargs)


@contextmanager
def committed_office_client(app: Flask, username: str) -> Iterator[ApiClient]:
    """An API client with an office user's token committed for real, removed afterwards (the
    other fixtures work inside one held transaction: here each request checks a connection
    out of the pool, as in production)."""
    from sqlalchemy import delete

    from taskhub.accounts.models import ApiToken
    from taskhub.accounts.tokens import TOKEN_PREFIX, digest

    plain = f"{TOKEN_PREFIX}{username}-token-for-this-test-only"
    with app.app_context():
        # Plain rows (no audit events), so that they can be removed afterwards.
        user = User(username=username, display_name="pooled", password_hash="x", role="office")
        db.session.add(user)
        db.session.flush()
        db.session.add(
            ApiToken(user_id=user.id, name="t", token_hash=digest(plain), prefix=plain[:10])
        )
        db.session.commit()
        user_id = user.id
        db.session.remove()
    try:
        yield ApiClient(app.test_client(), user, plain)
    finally:
        with app.app_context():
            db.session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
            db.session.execute(delete(User).where(User.id == user_id))
            db.session.commit()
            db.session.remove()


@pytest.fixture
def api_as(client: FlaskClient, session: Any) -> Any:
    """api_as("office") or api_as("unit", unit) is an API client with a new user's token."""
    from taskhub.accounts.tokens import create_token

    made: dict[str, int] = {}

    def _make(role: str, unit: Unit | None = None) -> ApiClient:
        key = f"{role}-{unit.id if unit else 'x'}"
        made[key] = made.get(key, 0) + 1
        user = make_user(role, unit, username=f"api-{key}-{made[key]}")
        _, plain = create_token(user, "test", actor=user)
        db.session.commit()
        return ApiClient(client, user, plain)

    return _make
