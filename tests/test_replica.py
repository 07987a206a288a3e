"""The heavy read pages from a PostgreSQL read replica (issue 17, taskhub.core.replica).

The streaming test starts a throw-away PostgreSQL 15 primary (initdb in a temporary folder, a
loopback port; never the machine's own cluster) and a hot standby made from it by
``pg_basebackup -R``, both as the ``postgres`` OS user (the servers refuse root), each in a
process group of its own that is stopped for sure at the end (SIGINT, SIGKILL after 10 s).
It runs in the PostgreSQL pass only, and is skipped with the reason when the machine has no
PostgreSQL 15 binaries, no ``postgres`` user, or the tests do not run as root.

The replica is told apart from the primary by pausing its replay: a report committed on the
primary is then on the primary only, so a page that does not count it was read from the
replica.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from taskhub.accounts import services as accounts
from taskhub.cli import main
from taskhub.config import Config, normalize_database_url
from taskhub.core.db import db
from taskhub.tracking.models import Assignment
from tests.race_kit import PASSWORD, PERIOD, PLAN, Kit, race_app
from tests.test_packaging import ONCE

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE_URL = os.environ.get("TASKHUB_TEST_DATABASE_URL", "")
PG_PASS = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgresql", "postgres:")),
    reason="runs in the PostgreSQL pass (TASKHUB_TEST_DATABASE_URL): a replica is PostgreSQL's "
    "streaming replication; the servers it starts are its own",
)
#: Seconds a server may take to start or stop, and the replica to replay a commit.
WAIT = 20.0


# -- the settings (no database needed: one pass) ------------------------------------------------


@ONCE
def test_replica_settings_are_checked_and_shown_with_the_password_hidden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKHUB_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TASKHUB_DATABASE_URL", "sqlite:///" + str(tmp_path / "taskhub.db"))
    monkeypatch.setenv("TASKHUB_DATABASE_REPLICA_URL", "postgresql://taskhub:pw@10.0.0.22/taskhub")
    monkeypatch.setenv("TASKHUB_REPLICA_MAX_LAG_SECONDS", "-1")
    problems = {p.variable: p.message for p in Config().validate()}
    assert "needs TASKHUB_DATABASE_URL on PostgreSQL" in problems["TASKHUB_DATABASE_REPLICA_URL"]
    assert "out of range" in problems["TASKHUB_REPLICA_MAX_LAG_SECONDS"]

    monkeypatch.setenv("TASKHUB_DATABASE_REPLICA_URL", "mysql://taskhub@10.0.0.22/taskhub")
    problems = {p.variable: p.message for p in Config().validate()}
    assert "PostgreSQL streaming replica" in problems["TASKHUB_DATABASE_REPLICA_URL"]

    monkeypatch.setenv("TASKHUB_DATABASE_URL", "postgresql://taskhub:pw@10.0.0.21/taskhub")
    monkeypatch.setenv("TASKHUB_DATABASE_REPLICA_URL", "postgresql://taskhub:Secret-9@10.0.0.22/th")
    monkeypatch.setenv("TASKHUB_REPLICA_MAX_LAG_SECONDS", "30")
    config = Config()
    assert config.validate() == []
    assert config.DATABASE_REPLICA_URL.startswith("postgresql+psycopg://")
    result = CliRunner().invoke(main, ["config", "check"])
    assert re.search(
        r"^TASKHUB_DATABASE_REPLICA_URL +postgresql\+psycopg://taskhub:\*\*\*@10\.0\.0\.22/th$",
        result.stdout,
        re.M,
    ), result.output
    assert re.search(r"^TASKHUB_REPLICA_MAX_LAG_SECONDS +30$", result.stdout, re.M)
    assert "Secret-9" not in result.output


# -- a primary and its streaming replica --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str) -> list[str]:
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


@dataclass
class Server:
    """One PostgreSQL server, in a process group of its own."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Fast shutdown of the whole group; SIGKILL when it has not ended within 10 s."""
        if self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        with _no_such_process():
            os.killpg(group, signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with _no_such_process():
                os.killpg(group, signal.SIGKILL)
            self.process.wait(5)


class _no_such_process:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is ProcessLookupError


def _start(name: str, data: Path, root: Path) -> Server:
    port = _free_port()
    log = root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _as_postgres(
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={root}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=40",
                "-c",
                f"cluster_name=taskhub-test-{name}",
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + WAIT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the {name} did not start:\n{log.read_text()[-2000:]}")
        ready = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
            capture_output=True,
        )
        if ready.returncode == 0:
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"the {name} did not answer in {WAIT} s:\n{log.read_text()}")
        time.sleep(0.2)


def _machine_problem() -> str | None:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_basebackup").exists():
        return f"no PostgreSQL 15 binaries in {PG_BIN}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres OS user to run the servers as"
    if os.geteuid() != 0:
        return "not root: cannot start servers as the postgres user"
    if shutil.which("setpriv") is None:
        return "no setpriv (util-linux) to run the servers as the postgres user"
    return None


@dataclass
class Pair:
    primary: Server
    standby: Server
    primary_engine: Engine
    standby_engine: Engine

    def replayed(self) -> None:
        """Wait until the standby has replayed everything the primary has written."""
        with self.primary_engine.connect() as conn:
            lsn = conn.execute(text("SELECT CAST(pg_current_wal_insert_lsn() AS text)")).scalar()
        deadline = time.monotonic() + WAIT
        while True:
            with self.standby_engine.connect() as conn:
                done = conn.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}
                ).scalar()
            if done:
                return
            assert time.monotonic() < deadline, "the standby did not replay the primary's WAL"
            time.sleep(0.05)

    def replay(self, *, paused: bool) -> None:
        with self.standby_engine.connect() as conn:
            call = "pg_wal_replay_pause" if paused else "pg_wal_replay_resume"
            conn.execute(text(f"SELECT {call}()"))
            deadline = time.monotonic() + WAIT
            while paused:
                state = conn.execute(text("SELECT pg_get_wal_replay_pause_state()")).scalar()
                if state == "paused":
                    return
                assert time.monotonic() < deadline, "the standby's replay did not pause"
                time.sleep(0.05)


@contextmanager
def streaming_pair() -> Iterator[Pair]:
    """A throw-away primary and its streaming standby, stopped and removed at the end
    (raises MachineLacks naming what the machine lacks; the fixture skips on it)."""
    problem = _machine_problem()
    if problem:
        raise MachineLacks(problem)
    root = Path(tempfile.mkdtemp(prefix="taskhub-replica-"))
    shutil.chown(root, "postgres", "postgres")
    root.chmod(0o700)
    servers: list[Server] = []
    engines: list[Engine] = []
    try:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(root / "primary"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        servers.append(_start("primary", root / "primary", root))
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(servers[0].port),
                "-U",
                "postgres",
                "-D",
                str(root / "standby"),
                "-R",  # standby.signal and primary_conninfo: a streaming replica
                "-X",
                "stream",
                "-c",
                "fast",
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        servers.append(_start("standby", root / "standby", root))
        engines = [create_engine(s.url, isolation_level="AUTOCOMMIT") for s in servers]
        with engines[1].connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
        yield Pair(servers[0], servers[1], engines[0], engines[1])
    finally:
        for engine in engines:
            engine.dispose()
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


class MachineLacks(RuntimeError):
    """The machine cannot run the pair (no binaries, no postgres user, not root)."""


@pytest.fixture
def pair() -> Iterator[Pair]:
    try:
        with streaming_pair() as started:
            yield started
    except MachineLacks as lack:
        pytest.skip(str(lack))


# -- the pages ----------------------------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def said(self, words: str) -> bool:
        return any(words in line for line in self.lines)


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def _submitted(client: FlaskClient) -> int:
    """How many of the plan's assignments the ledger page lists as awaiting review."""
    response = client.get(f"/ledger?plan={PLAN}&status=submitted")
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    found = re.search(r'data-total="(\d+)"', response.get_data(as_text=True))
    assert found is not None
    return int(found.group(1))


def _report(app: Flask, kit: Kit, client: FlaskClient) -> None:
    """The client's user reports on a fresh assignment (its status becomes submitted)."""
    with app.app_context():
        assignment = kit.fresh_assignment()
        aid, version = assignment.id, assignment.version
        db.session.remove()
    response = client.post(
        f"/assignments/{aid}/reports",
        data={"progress": "已完成调研", "percent": "40", "version": str(version)},
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[-2000:]
    with app.app_context():
        assert db.session.get(Assignment, aid).status == "submitted"  # type: ignore[union-attr]
        db.session.remove()


def _heavy_pages_answer(client: FlaskClient) -> None:
    dashboard = client.get(f"/plans/{PLAN}/dashboard")
    assert dashboard.status_code == 200, dashboard.get_data(as_text=True)[-2000:]
    export = client.get(f"/ledger.xlsx?plan={PLAN}&status=submitted")
    assert export.status_code == 200
    assert export.get_data()[:2] == b"PK"  # the streamed workbook, complete
    bulletin = client.get(f"/plans/{PLAN}/bulletin.xlsx?period={PERIOD}")
    assert bulletin.status_code == 200, bulletin.get_data(as_text=True)[-2000:]


@PG_PASS
def test_heavy_pages_read_the_replica_but_a_user_sees_their_own_change_at_once(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKHUB_DATABASE_REPLICA_URL", pair.standby.url)
    monkeypatch.setenv("TASKHUB_REPLICA_MAX_LAG_SECONDS", "600")
    lines = Lines()
    logging.getLogger("taskhub.replica").addHandler(lines)
    try:
        with race_app(pair.primary.url, tmp_path) as app:
            _check_pages(app, pair, lines)
    finally:
        logging.getLogger("taskhub.replica").removeHandler(lines)


def _check_pages(app: Flask, pair: Pair, lines: Lines) -> None:
    kit = Kit.build(app)
    with app.app_context():
        accounts.create_user(
            username="observer", password=PASSWORD, role="office", display_name="observer"
        )
        db.session.commit()
        db.session.remove()
    writer = _signed_in(app, kit.office.username)
    observer = _signed_in(app, "observer")
    pair.replayed()
    before = _submitted(observer)
    assert _submitted(writer) == before

    # The replica stops replaying: what the primary commits now is on the primary only.
    pair.replay(paused=True)
    _report(app, kit, writer)
    # The writer sees their own report at once (their pages read the primary until the
    # replica has replayed it) ...
    assert _submitted(writer) == before + 1
    # ... while everybody else's ledger, dashboard and exports come from the replica.
    assert _submitted(observer) == before
    _heavy_pages_answer(observer)
    assert _submitted(observer) == before  # the dashboard's period row went to the primary

    # A replica lagging more than the bound is not read (its last replayed commit is older).
    replica = app.extensions["taskhub_replica"]
    replica.max_lag = 1.0
    time.sleep(1.5)
    assert _submitted(observer) == before + 1
    assert lines.said("lags")
    replica.max_lag = 600.0

    # Replayed: everybody reads the replica again, and it has the report.
    pair.replay(paused=False)
    pair.replayed()
    assert _submitted(observer) == before + 1
    assert lines.said("in use again")
    assert _submitted(writer) == before + 1

    # The replica stops: the pages read the primary, without an error.
    pair.standby.stop()
    assert _submitted(observer) == before + 1
    assert lines.said("does not answer")
    _heavy_pages_answer(observer)
    _report(app, kit, writer)
    assert _submitted(observer) == before + 2


@PG_PASS
def test_the_streamed_ledger_export_reads_the_signed_in_user_after_the_teardown(
    tmp_path: Path,
) -> None:
    """Flask tears the app context down before a streamed body is read; the PostgreSQL
    teardown's COMMIT (of a request that wrote nothing) must leave the user loaded."""
    with race_app(normalize_database_url(DATABASE_URL), tmp_path) as app:
        kit = Kit.build(app)
        client = _signed_in(app, kit.office.username)
        export = client.get(f"/ledger.xlsx?plan={PLAN}")
        assert export.status_code == 200
        assert export.get_data()[:2] == b"PK"
