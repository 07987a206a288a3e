"""Running in production: probes, request ids, structured logs without secrets, config checks."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from taskhub import config as settings
from taskhub import create_app
from taskhub.cli import main
from taskhub.config import PROJECT_ROOT, Config, ConfigError
from taskhub.core import logs
from taskhub.core.db import db
from tests.conftest import login, make_user

SMTP_SECRET = "smtp-Pa55word-xyz"
#: A port nothing listens on: connecting is refused at once.
UNREACHABLE_DB = "postgresql+psycopg://taskhub:db-Pa55word@127.0.0.1:1/taskhub"


def _config(app: Flask, **changes: Any) -> settings.TestConfig:
    """A test configuration on the suite's database and instance, with some settings changed."""
    config = settings.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
    config.INSTANCE_PATH = app.instance_path
    config.EVIDENCE_PATH = app.config["EVIDENCE_PATH"]
    for key, value in changes.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="module")
def ops_app(app: Flask) -> Iterator[Flask]:
    """The app as production runs it: JSON logs, one trusted proxy, an SMTP password set."""
    config = _config(app, LOG_FORMAT="json", PROXY_COUNT=1, SMTP_PASSWORD=SMTP_SECRET)
    ops = create_app(config, WTF_CSRF_ENABLED=False)
    yield ops
    with ops.app_context():
        db.engine.dispose()
    logs.configure("text", "INFO")


@pytest.fixture(scope="module")
def down_app(app: Flask) -> Iterator[Flask]:
    """An app whose database does not answer."""
    down = create_app(_config(app, LOG_FORMAT="json", SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB))
    yield down
    with down.app_context():
        db.engine.dispose()


@pytest.fixture
def ops(ops_app: Flask, session: Any) -> FlaskClient:
    # Every app created since (by other tests) set up logging its own way.
    logs.configure("json", "INFO")
    return ops_app.test_client()


def json_lines(captured: str) -> list[dict[str, Any]]:
    """Every log line of the captured stderr that is one of ours (one JSON object per line)."""
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def access_lines(captured: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(captured) if line["logger"] == "taskhub.access"]


# -- probes ---------------------------------------------------------------------------------


def test_healthz_is_cheap_public_and_sets_no_cookie(ops: FlaskClient, down_app: Flask) -> None:
    for client in (ops, down_app.test_client()):  # the second has no reachable database
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}
        assert "Set-Cookie" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_each_check(ops: FlaskClient) -> None:
    response = ops.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "failing": [],
        "checks": {"database": "ok", "migrations": "ok", "storage": "ok"},
    }
    assert "Set-Cookie" not in response.headers


def test_readyz_is_503_when_the_database_is_unreachable(
    down_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    response = down_app.test_client().get("/readyz", headers={"X-Request-ID": "probe-7"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["database", "migrations"]
    assert body["checks"]["database"] == "unreachable"
    # The reason is in the log, with the request's id; not told to the anonymous caller.
    assert "127.0.0.1" not in response.get_data(as_text=True)
    lines = json_lines(capsys.readouterr().err)
    warning = next(line for line in lines if line["logger"] == "taskhub.ops.health")
    assert warning["level"] == "WARNING"
    assert warning["request_id"] == "probe-7"
    assert "OperationalError" in warning["message"]
    assert "db-Pa55word" not in json.dumps(lines)


def test_readyz_is_503_when_migrations_are_behind_or_storage_unwritable(
    app: Flask, tmp_path: Path
) -> None:
    database = tmp_path / "old.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('c9ffc5c6bab3')")  # the first one
    not_a_folder = tmp_path / "evidence-file"
    not_a_folder.write_text("a file where the evidence folder should be")
    config = _config(app, SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}")
    behind = create_app(config, EVIDENCE_PATH=str(not_a_folder))
    try:
        response = behind.test_client().get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["failing"] == ["migrations", "storage"]
        assert body["checks"]["database"] == "ok"
        assert "taskhub db upgrade" in body["checks"]["migrations"]
    finally:
        with behind.app_context():
            db.engine.dispose()


# -- request ids and access lines -----------------------------------------------------------


def test_a_request_id_is_made_or_taken_and_echoed(
    ops: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    made = ops.get("/login").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert ops.get("/login").headers["X-Request-ID"] != made  # one per request
    taken = ops.get("/login", headers={"X-Request-ID": "nginx-5d1f.2"})
    assert taken.headers["X-Request-ID"] == "nginx-5d1f.2"
    odd = ops.get("/login", headers={"X-Request-ID": 'a b<script>"x\t' + "9" * 100})
    cleaned = odd.headers["X-Request-ID"]
    assert cleaned.startswith("abscriptx9") and len(cleaned) == logs.MAX_REQUEST_ID
    lines = access_lines(capsys.readouterr().err)
    assert [line["request_id"] for line in lines][-2:] == ["nginx-5d1f.2", cleaned]


def test_access_lines_are_json_with_the_request_fields(
    ops: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    user = make_user("office")
    login(ops, user)
    capsys.readouterr()
    response = ops.get(
        "/plans", headers={"X-Request-ID": "req-1", "X-Forwarded-For": "203.0.113.9"}
    )
    assert response.status_code == 200
    (line,) = access_lines(capsys.readouterr().err)
    assert line["ts"].endswith("+00:00")
    assert line["level"] == "INFO"
    assert line["message"].startswith("GET /plans 200")
    assert line["request_id"] == "req-1"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/plans", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    # Behind one trusted proxy the client's address comes from X-Forwarded-For.
    assert line["remote_addr"] == "203.0.113.9"
    assert line["user_id"] == user.id


def test_probe_successes_are_not_logged_at_info(
    ops: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ops.get("/healthz")
    ops.get("/readyz")
    assert access_lines(capsys.readouterr().err) == []


def test_text_lines_carry_the_request_id_too(
    ops: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("text", "INFO")
    try:
        ops.get("/login", headers={"X-Request-ID": "text-42"})
    finally:
        logs.configure("json", "INFO")
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "taskhub.access" in x]
    assert re.fullmatch(r"\S+ \S+ INFO taskhub\.access \[text-42\] GET /login 200 [\d.]+ ms", line)


# -- no secrets in logs ---------------------------------------------------------------------


def test_secrets_are_scrubbed_from_every_line(
    ops: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("taskhub.somewhere")
    token = "thk_" + "Zx9_aB-" * 6
    log.warning("connecting to %s", "postgresql+psycopg://taskhub:hunter2-pw@db.internal/taskhub")
    log.warning("token %s used; headers %s", token, {"Authorization": "Bearer abcdef123456"})
    log.warning("login form: username=li&password=Tr0ub4dor&csrf_token=abc123def")
    log.warning("mail settings: TASKHUB_SMTP_PASSWORD=%s", SMTP_SECRET)
    log.warning("the SMTP server said no to %s", SMTP_SECRET)  # configured value, verbatim
    log.warning("Cookie: session=eyJfZnJlc2giOmZhbHNlfQ.Z2; theme=dark")
    try:
        raise ValueError(f"could not use {token} with password='s3cret!'")
    except ValueError:
        log.exception("failed")
    out = capsys.readouterr().err
    for secret in (
        "hunter2-pw",
        token,
        "Zx9_aB",
        "abcdef123456",
        "Tr0ub4dor",
        "abc123def",
        SMTP_SECRET,
        "eyJfZnJlc2giOmZhbHNlfQ",
        "s3cret!",
    ):
        assert secret not in out, secret
    lines = [line for line in json_lines(out) if line["logger"] == "taskhub.somewhere"]
    assert len(lines) == 7
    assert (
        lines[0]["message"] == "connecting to postgresql+psycopg://taskhub:***@db.internal/taskhub"
    )
    assert "thk_***" in lines[1]["message"]
    assert "username=li" in lines[2]["message"]  # the rest of the line stays readable
    assert "ValueError" in lines[6]["exc"] and "thk_***" in lines[6]["exc"]


# -- configuration checked at start ---------------------------------------------------------

BAD_ENVIRONMENT = {
    "TASKHUB_SMTP_PORT": "twenty-five",
    "TASKHUB_TIMEZONE": "Asia/Beijing",
    "TASKHUB_BASE_URL": "taskhub.example.gov.cn",
    "TASKHUB_MAX_UPLOAD_MB": "0",
    "TASKHUB_SECRET_KEY": "short",
    "TASKHUB_DATABASE_URL": "mysql://taskhub:db-Pa55word@127.0.0.1/taskhub",
    "TASKHUB_SMTP_TLS": "maybe",
    "TASKHUB_LOG_FORMAT": "xml",
}


@pytest.fixture
def bad_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    env = {
        **BAD_ENVIRONMENT,
        "TASKHUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "TASKHUB_EVIDENCE_PATH": str(blocker / "evidence"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_every_problem_is_reported_at_once_naming_its_variable(bad_env: dict[str, str]) -> None:
    problems = {p.variable: p.message for p in Config().validate()}
    assert set(problems) == {*BAD_ENVIRONMENT, "TASKHUB_EVIDENCE_PATH"}
    assert problems["TASKHUB_SMTP_PORT"] == "'twenty-five' is not a whole number"
    assert "not a known time zone" in problems["TASKHUB_TIMEZONE"]
    assert "not an http:// or https:// address" in problems["TASKHUB_BASE_URL"]
    assert "out of range" in problems["TASKHUB_MAX_UPLOAD_MB"]
    assert "at least 32" in problems["TASKHUB_SECRET_KEY"]
    assert "'mysql' is not supported" in problems["TASKHUB_DATABASE_URL"]
    assert "not a folder" in problems["TASKHUB_EVIDENCE_PATH"]
    with pytest.raises(ConfigError) as raised:
        create_app(Config())
    message = str(raised.value)
    assert all(name in message for name in problems)
    assert "db-Pa55word" not in message


def test_defaults_pass_and_the_new_settings_are_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("TASKHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TASKHUB_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TASKHUB_DATABASE_URL", "postgres://taskhub@db/taskhub")
    config = Config()
    assert config.validate() == []
    # psycopg 3 is the installed driver, whatever the URL's spelling.
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://taskhub@db/taskhub"
    assert (config.LOG_FORMAT, config.LOG_LEVEL, config.PROXY_COUNT) == ("text", "INFO", 0)
    assert (config.LOGIN_MAX_FAILURES, config.LOGIN_WINDOW_MINUTES) == (5, 60)
    assert (config.LOGIN_MAX_FAILURES_PER_ADDRESS, config.SESSION_IDLE_MINUTES) == (20, 120)


def test_config_check_prints_settings_masked_and_the_problems(bad_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 1
    assert "TASKHUB_DATABASE_URL" in result.stdout
    assert "mysql://taskhub:***@127.0.0.1/taskhub" in result.stdout
    assert re.search(r"^TASKHUB_SMTP_PORT +'twenty-five' \(invalid\)$", result.stdout, re.M)
    assert "set (5 characters, hidden)" in result.stdout
    assert "db-Pa55word" not in result.output and "short" not in result.stdout
    assert "9 problem(s)" in result.stderr
    assert "TASKHUB_TIMEZONE: 'Asia/Beijing' is not a known time zone" in result.stderr


def test_config_check_passes_a_good_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKHUB_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TASKHUB_SMTP_PASSWORD", SMTP_SECRET)
    for name in ("TASKHUB_DATABASE_URL", "TASKHUB_EVIDENCE_PATH", "TASKHUB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("configuration OK\n")
    assert SMTP_SECRET not in result.output
    assert "TASKHUB_SMTP_PASSWORD" in result.stdout


def test_commands_refuse_a_bad_configuration_without_a_traceback(bad_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["plan", "list"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "TASKHUB_SMTP_PORT: 'twenty-five' is not a whole number" in result.stderr
    assert "taskhub config check" in result.stderr


def test_the_wsgi_entry_point_stops_gunicorn_on_a_bad_configuration(
    bad_env: dict[str, str],
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **bad_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3  # gunicorn halts on this status instead of respawning
    assert "TASKHUB_BASE_URL" in result.stderr and "Traceback" not in result.stderr


# -- gunicorn as deployed -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_gunicorn_with_the_deploy_config_logs_json_lines(app: Flask, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TASKHUB_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "TASKHUB_INSTANCE_PATH": app.instance_path,
        "TASKHUB_EVIDENCE_PATH": app.config["EVIDENCE_PATH"],
        "TASKHUB_LOG_FORMAT": "json",
        "TASKHUB_BIND": f"127.0.0.1:{port}",
        "TASKHUB_WEB_WORKERS": "1",
    }
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [str(gunicorn), "-c", str(PROJECT_ROOT / "deploy" / "gunicorn.conf.py")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _get(f"{base}/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            assert _get(f"{base}/readyz")[0] == 200
            status, headers = _get(f"{base}/no-such-page", {"X-Request-ID": "gunicorn-1"})
            assert (status, headers["X-Request-ID"]) == (404, "gunicorn-1")
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line, gunicorn's own included
    booted = [r for r in records if r["logger"] == "gunicorn.error" and "Booting" in r["message"]]
    assert booted
    (access,) = [r for r in records if r["logger"] == "taskhub.access"]
    assert (access["request_id"], access["status"], access["path"]) == (
        "gunicorn-1",
        404,
        "/no-such-page",
    )
