"""Faults: say what happened, leave nothing behind.

The database going away (a restart, its connections used up) answers 503 with Retry-After and
keeps what a form sent; the scheduler steps down and comes back; a full evidence disk refuses
the report in plain words and keeps the typed text; files a failed submission stored are removed,
and `taskhub evidence gc` (also the daily evidence_gc job) removes what killed workers left.

Outages are real: on PostgreSQL the test database stops accepting connections and the app's
connections are terminated (the server itself is never restarted: other suites share it); on
SQLite the database's folder goes away. Those tests run on a database of their own (a schema
on PostgreSQL, a file on SQLite) because they commit, and the shared test session would hide
the app's own connections. A full disk is simulated at the storage boundary (``FullDisk``):
mounting a small filesystem needs root privileges the test machines do not give.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from taskhub import config as settings
from taskhub import create_app
from taskhub.accounts.models import User
from taskhub.accounts.tokens import create_token
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.storage import LocalStorage
from taskhub.evidence import services as evidence_files
from taskhub.jobs.models import JobRun
from taskhub.jobs.registry import get_job
from taskhub.jobs.services import missed_daily_jobs, run_job
from taskhub.plans.seeds import load_seeds
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, Evidence, ProgressReport
from tests.conftest import login, make_user, unit_named
from tests.test_tracking_pages import (
    KUNDULUN,
    PDF,
    assignment_id,
    audit_count,
    blobs,
    count,
    form_version,
    fresh,
    report_form,
    visible,
)

UNAVAILABLE = "数据库暂时不可用，请稍后重试。"
STORAGE_FULL = (
    "服务器存储空间已满，无法保存文件，本次提交未保存任何内容。请联系管理员清理空间后重试。"
)


# -- a database of our own, and outages of it ----------------------------------------------


@pytest.fixture(scope="module")
def own_database(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Settings of a migrated database with one seeded plan that the tests may commit to."""
    suite_url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    folder = tmp_path_factory.mktemp("own")
    if suite_url.get_backend_name() == "postgresql":
        schema = f"faults_{secrets.token_hex(4)}"
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        own = {
            "SQLALCHEMY_DATABASE_URI": suite_url.render_as_string(hide_password=False),
            "connect_args": {"options": f"-csearch_path={schema}"},
            "folder": folder,
        }
    else:
        (folder / "db").mkdir()
        own = {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'db' / 'own.db'}",
            "connect_args": {},
            "folder": folder,
        }
    setup = make_app(own)
    with setup.app_context():
        upgrade(directory=str(settings.PROJECT_ROOT / "migrations"))
        load_seeds(settings.PROJECT_ROOT / "seeds", codes=["baotou-2022"])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    yield own
    if suite_url.get_backend_name() == "postgresql":
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def make_app(own: dict[str, Any], **pool: Any) -> Flask:
    """An app on the own database (its own engine and connection pool)."""
    config = settings.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = own["SQLALCHEMY_DATABASE_URI"]
    config.INSTANCE_PATH = str(own["folder"])
    config.EVIDENCE_PATH = str(own["folder"] / "evidence")
    config.SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": True,
        "connect_args": dict(own["connect_args"]),
        **pool,
    }
    # Failures answer as in production (500 page) instead of raising into the test.
    return create_app(config, WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)


@contextmanager
def outage(app: Flask) -> Iterator[None]:
    """The database goes away: open connections die and new ones are refused; then it is back.

    PostgreSQL: the test database stops accepting connections and every connection to it is
    terminated, as a restart does. SQLite: the pool is emptied and the database's folder
    moves away, so opening the file fails.
    """
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = url.database
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            admin.dispose()
    else:
        folder = Path(str(url.database)).parent
        with app.app_context():
            db.engine.dispose()
        folder.rename(folder.with_name("away"))
        try:
            yield
        finally:
            folder.with_name("away").rename(folder)


@pytest.fixture
def own(own_database: dict[str, Any]) -> Iterator[Flask]:
    made = make_app(own_database)
    yield made
    with made.app_context():
        db.engine.dispose()


def unit_staff(app: Flask) -> tuple[User, int]:
    """A new unit user of Kundulun (committed) and one of its assignments that takes reports."""
    with app.app_context():
        user = make_user("unit", unit_named(KUNDULUN, "baotou"), f"unit-{secrets.token_hex(4)}")
        aid = db.session.scalars(
            select(Assignment.id)
            .where(
                Assignment.unit_id == user.unit_id, Assignment.status.in_(["new", "acknowledged"])
            )
            .order_by(Assignment.id)
        ).first()
        assert aid is not None
        db.session.remove()
    return user, aid


class Forms(HTMLParser):
    """The forms of a page: action, and the (name, value) of each input and textarea."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._textarea: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append({**found, "fields": [], "files": []})
        elif tag == "input" and self.forms:
            if found.get("type") == "file":
                self.forms[-1]["files"].append(found["name"])
            else:
                self.forms[-1]["fields"].append((found["name"], found.get("value") or ""))
        elif tag == "textarea" and self.forms:
            self._textarea = found["name"]
            self.forms[-1]["fields"].append((self._textarea, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.forms[-1]["fields"].pop()
            self.forms[-1]["fields"].append((name, value + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


# -- the database unavailable ---------------------------------------------------------------


def test_pages_and_api_say_the_database_is_unavailable_and_recover(own: Flask) -> None:
    user, _aid = unit_staff(own)
    with own.app_context():
        _, token = create_token(db.session.get(User, user.id), "outage", actor=user)
        db.session.commit()
        db.session.remove()
    browser, anonymous = own.test_client(), own.test_client()
    login(browser, user)

    with outage(own):
        api = browser.get("/api/v1/plans", headers={"Authorization": f"Bearer {token}"})
        page = browser.get("/plans")
        sign_in = anonymous.post(
            "/login", data={"username": "王小明", "password": "s3cret-typed-pw"}
        )
        ready = anonymous.get("/readyz")
        alive = anonymous.get("/healthz")

    assert api.status_code == 503
    assert api.headers["Retry-After"] == "5"
    assert api.get_json() == {"code": "database_unavailable", "message": UNAVAILABLE}
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert UNAVAILABLE in visible(page.get_data(as_text=True))
    assert 'href="/plans"' in page.get_data(as_text=True)  # try again
    # A sign-in form comes back with the name typed, never the password.
    assert sign_in.status_code == 503
    body = sign_in.get_data(as_text=True)
    (form,) = Forms(body).forms
    assert form["action"] == "/login"
    assert ("username", "王小明") in form["fields"]
    assert ("password", "") in form["fields"]
    assert "s3cret-typed-pw" not in body
    assert "请重新输入密码" in visible(body)
    # The probes answer as they always did.
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == "unreachable"
    assert alive.status_code == 200

    # Back: the same pages work again without a restart of the app.
    assert browser.get("/plans").status_code == 200
    assert anonymous.get("/readyz").status_code == 200


def test_a_report_sent_while_connections_are_used_up_comes_back_and_can_be_sent_again(
    own_database: dict[str, Any],
) -> None:
    tight = make_app(own_database, pool_size=1, max_overflow=0, pool_timeout=0.2)
    user, aid = unit_staff(tight)
    browser = tight.test_client()
    login(browser, user)
    url = f"/assignments/{aid}"
    typed = report_form(
        form_version(browser.get(url).get_data(as_text=True)),
        progress="完成热线平台升级招标，<b>合同</b>已签订。\n第二行",
    )
    try:
        with tight.app_context():
            held = db.engine.connect()  # every connection of the pool is in use
            try:
                refused = browser.post(
                    f"{url}/reports",
                    data={**typed, "evidence": (io.BytesIO(PDF), "纪要.pdf")},
                )
            finally:
                held.close()

        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        page = refused.get_data(as_text=True)
        text = visible(page)
        assert UNAVAILABLE in text
        assert "您填写的内容已保留" in text and "重新提交前请再次选择文件" in text
        (form,) = Forms(page).forms
        assert form["action"] == f"{url}/reports"
        assert form["enctype"] == "multipart/form-data"
        assert form["files"] == ["evidence"]
        sent = dict(form["fields"])
        assert {k: sent[k] for k in typed} == typed  # every field as typed, escaped in the page
        assert "<b>合同</b>" not in page

        # The user sends the form again once the database answers.
        again = browser.post(form["action"], data=dict(form["fields"]))
        assert again.status_code == 302
        with tight.app_context():
            report = db.session.scalars(
                select(ProgressReport).where(ProgressReport.assignment_id == aid)
            ).one()
            assert report.progress == typed["progress"]
    finally:
        with tight.app_context():
            db.engine.dispose()


def test_a_database_error_that_is_not_an_outage_is_still_a_500(app: Flask, tmp_path: Path) -> None:
    """A table missing is a fault of the deployment, not a brief outage: no Retry-After."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    schema = f"empty_{secrets.token_hex(4)}"
    own = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}",
        "connect_args": {},
        "folder": tmp_path,
    }
    if url.get_backend_name() == "postgresql":
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        own["SQLALCHEMY_DATABASE_URI"] = url.render_as_string(hide_password=False)
        own["connect_args"] = {"options": f"-csearch_path={schema}"}
    empty = make_app(own)
    try:
        response = empty.test_client().post("/login", data={"username": "a", "password": "b"})
        assert response.status_code == 500
        assert "Retry-After" not in response.headers
    finally:
        with empty.app_context():
            db.engine.dispose()
        if url.get_backend_name() == "postgresql":
            with app.app_context(), db.engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def test_the_scheduler_steps_down_in_an_outage_and_takes_the_lease_back(own: Flask) -> None:
    from taskhub.jobs.scheduler import SchedulerRunner

    runner = SchedulerRunner(own, blocking=False)
    for job in runner.scheduler.get_jobs():
        if job.id != "lease":  # only the lease: no real job runs against the database
            job.remove()
    events: list[JobExecutionEvent] = []
    done = threading.Event()

    def seen(event: JobExecutionEvent) -> None:
        events.append(event)
        done.set()

    runner.scheduler.add_listener(seen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def renew_now() -> JobExecutionEvent:
        done.clear()
        runner.scheduler.get_job("lease").modify(next_run_time=datetime.now(UTC))
        assert done.wait(30), "the lease job did not run"
        return events[-1]

    runner.start()
    try:
        assert runner.is_leader
        with outage(own):
            during = renew_now()
            ready = own.test_client().get("/readyz")
        # The renewal failed quietly: no error, not the leader, the scheduler still running.
        assert during.code == EVENT_JOB_EXECUTED and during.exception is None
        assert during.retval is False and runner.is_leader is False
        assert runner.scheduler.running
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["database"] == "unreachable"

        after = renew_now()
        assert after.code == EVENT_JOB_EXECUTED and after.retval is True
        assert runner.is_leader is True
        # /readyz, which named the outage, says ready again once the database is back.
        back = own.test_client().get("/readyz")
        assert back.get_json()["checks"]["database"] == "ok"
    finally:
        runner.shutdown()


# -- the evidence disk full -----------------------------------------------------------------


def full_disk(room: int) -> type[LocalStorage]:
    """Evidence storage on a disk with ``room`` bytes left: a write past it fails with ENOSPC
    after writing what fits, as the kernel's does."""
    left = {"bytes": room}

    class FullDisk(LocalStorage):
        def _write(self, fh: BinaryIO, data: bytes) -> None:
            fits = min(len(data), left["bytes"])
            fh.write(data[:fits])
            left["bytes"] -= fits
            if fits < len(data):
                fh.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return FullDisk


SHARED, SMALL, LARGE = PDF + b"% shared\n", PDF + b"% small\n", PDF + b"% large\n" * 5000


@pytest.fixture
def evidence_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "evidence"
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(path))
    return path


def shared_blob(app: Flask, user: User) -> str:
    """SHARED stored as evidence of another of the unit's assignments (committed)."""
    owner = db.session.get(User, user.id)
    aid = db.session.scalars(
        select(Assignment.id)
        .where(Assignment.unit_id == owner.unit_id, Assignment.id != assignment_id("3"))
        .order_by(Assignment.id)
    ).first()
    report = services.submit_report(
        db.session.get(Assignment, aid),
        actor=owner,
        progress="已有材料",
        percent=10,
        files=[services.UploadedFile("共用.pdf", SHARED)],
        storage=LocalStorage(Path(app.config["EVIDENCE_PATH"])),
        max_bytes=1024 * 1024,
    )
    db.session.commit()
    return report.evidence[0].sha256


@pytest.fixture
def unit_user(session: Any) -> User:
    return make_user("unit", unit_named(KUNDULUN, "baotou"), "unit-disk")


def test_a_full_disk_refuses_the_report_in_chinese_keeps_the_text_and_leaves_nothing(
    app: Flask,
    client: Any,
    unit_user: User,
    evidence_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = shared_blob(app, unit_user)
    login(client, unit_user)
    aid = assignment_id("3")
    url = f"/assignments/{aid}"
    before = fresh(Assignment, aid)
    state = (before.status, before.version, before.percent)
    audits, evidence = audit_count(), count(Evidence)
    form = report_form(form_version(client.get(url).get_data(as_text=True)))
    form["evidence"] = [
        (io.BytesIO(SHARED), "共用.pdf"),  # already stored for another report
        (io.BytesIO(SMALL), "方案.pdf"),  # fits on the disk
        (io.BytesIO(LARGE), "附件.pdf"),  # does not
    ]
    monkeypatch.setitem(app.config, "EVIDENCE_STORAGE", full_disk(len(SMALL) + 100))

    response = client.post(f"{url}/reports", data=form)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"报送未提交：{STORAGE_FULL}" in visible(page)
    # The typed text is in the form again.
    (kept,) = [
        f
        for f in Forms(page).forms
        if f.get("action") == f"{url}/reports" and ("closing", "1") not in f["fields"]
    ]  # the report form, not the closing application (办结) beside it
    fields = dict(kept["fields"])
    for name in ("progress", "problems", "next_steps", "percent"):
        assert fields[name] == form[name]
    # Nothing half-written: no report, no evidence row, no audit event, and on disk only the
    # blob another report refers to (the one stored for this report and the partial are gone).
    after = fresh(Assignment, aid)
    assert (after.status, after.version, after.percent) == state
    assert count(ProgressReport, ProgressReport.assignment_id == aid) == 0
    assert (count(Evidence), audit_count()) == (evidence, audits)
    assert [p.name for p in blobs(evidence_dir)] == [shared]


def test_a_full_disk_answers_507_in_the_api(
    app: Flask, api_as: Any, evidence_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_as("unit", unit_named(KUNDULUN, "baotou"))
    shared = shared_blob(app, api.user)
    aid = assignment_id("3")
    audits = audit_count()
    monkeypatch.setitem(app.config, "EVIDENCE_STORAGE", full_disk(len(SMALL) + 100))
    data: dict[str, Any] = {"progress": "平台已上线。", "percent": "50"}
    data["evidence"] = [
        (io.BytesIO(SHARED), "共用.pdf"),
        (io.BytesIO(SMALL), "方案.pdf"),
        (io.BytesIO(LARGE), "附件.pdf"),
    ]

    response = api.post(
        f"/api/v1/assignments/{aid}/reports", data=data, content_type="multipart/form-data"
    )

    assert response.status_code == 507
    assert response.get_json() == {"code": "insufficient_storage", "message": STORAGE_FULL}
    assert count(ProgressReport, ProgressReport.assignment_id == aid) == 0
    assert audit_count() == audits
    assert [p.name for p in blobs(evidence_dir)] == [shared]


def test_an_import_upload_on_a_full_disk_is_refused_in_plain_words(
    app: Flask, client: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskhub.imports import services as imports
    from tests.test_imports import plan_file, upload

    login_as("office")
    monkeypatch.setattr(imports, "LocalStorage", full_disk(100))
    root = imports.uploads_root(app.instance_path)
    before = set(root.rglob("*")) if root.exists() else set()

    response = upload(client, "/imports/plan", plan_file())

    assert response.status_code == 422
    assert STORAGE_FULL in visible(response.get_data(as_text=True))
    assert (set(root.rglob("*")) if root.exists() else set()) - before <= {
        p for p in root.rglob("*") if p.is_dir()
    }  # no file left, partial or whole


def test_readyz_reports_storage_below_the_free_space_floor(
    app: Flask, session: Any, tmp_path: Path
) -> None:
    free_mb = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    config = settings.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
    config.INSTANCE_PATH = app.instance_path
    config.EVIDENCE_PATH = str(tmp_path / "evidence")
    config.STORAGE_MIN_FREE_MB = free_mb + 1024  # more than the disk has
    low = create_app(config)
    try:
        response = low.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["storage"] == "low on space"
        low.config["STORAGE_MIN_FREE_MB"] = max(free_mb - 1024, 0)
        assert low.test_client().get("/readyz").get_json()["checks"]["storage"] == "ok"
    finally:
        with low.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    ("value", "problem"), [("lots", "not a whole number"), ("-1", "out of range")]
)
def test_the_free_space_floor_setting_is_checked(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("TASKHUB_STORAGE_MIN_FREE_MB", value)
    problems = [str(p) for p in settings.Config().validate()]
    assert any(p.startswith("TASKHUB_STORAGE_MIN_FREE_MB:") and problem in p for p in problems)
    monkeypatch.setenv("TASKHUB_STORAGE_MIN_FREE_MB", "2048")
    assert settings.Config().STORAGE_MIN_FREE_MB == 2048


# -- orphans: taskhub evidence gc -----------------------------------------------------------


def age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_evidence_gc_removes_only_old_unreferenced_blobs_and_stale_partial_files(
    app: Flask, unit_user: User, evidence_dir: Path
) -> None:
    storage = LocalStorage(evidence_dir)
    referenced = shared_blob(app, unit_user)
    orphan = storage.put(PDF + b"% killed worker\n" * 100)
    young = storage.put(PDF + b"% a transaction may still commit it\n")
    for sha in (referenced, orphan):
        age(storage.path_of(sha), 25)
    stale = storage.path_of(orphan).parent / ".tmp-abc123.part"
    stale.write_bytes(b"%PDF-1.4 half")
    age(stale, 30)
    writing = storage.path_of(young).parent / ".tmp-def456.part"
    writing.write_bytes(b"%PDF-1.4 being written")
    imports = Path(app.instance_path) / "imports" / "ab" / "cd"
    imports.mkdir(parents=True, exist_ok=True)
    forgotten = imports / ("ab" + "cd" + "0" * 60)
    forgotten.write_bytes(b"an unconfirmed import")
    age(forgotten, 48)
    runner = app.test_cli_runner()
    audits = audit_count()
    orphan_path = storage.path_of(orphan)
    sizes = {p: p.stat().st_size for p in (orphan_path, stale, forgotten)}
    total = sum(sizes.values())

    dry = runner.invoke(args=["evidence", "gc", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    assert f"would remove blob {orphan_path} ({sizes[orphan_path]:,} bytes)" in dry.output
    assert f"would remove partial file {stale} ({sizes[stale]} bytes)" in dry.output
    assert f"would remove import upload {forgotten} ({sizes[forgotten]} bytes)" in dry.output
    assert f"{total:,} bytes in all" in dry.output
    assert "kept 1 unreferenced blob(s) younger than 24 h" in dry.output
    assert storage.exists(orphan) and stale.exists() and forgotten.exists()
    assert audit_count() == audits  # a dry run changes nothing

    real = runner.invoke(args=["evidence", "gc"])

    assert real.exit_code == 0, real.output
    assert f"removed blob {orphan_path} ({sizes[orphan_path]:,} bytes)" in real.output
    assert f"removed 1 unreferenced blob(s) ({sizes[orphan_path]:,} bytes)" in real.output
    assert not storage.exists(orphan) and not stale.exists() and not forgotten.exists()
    assert storage.exists(referenced) and storage.exists(young) and writing.exists()
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.gc")).one()
    assert event.after["blobs"] == 1 and event.after["partial_files"] == 1
    assert event.after["import_uploads"] == 1 and event.after["bytes"] == total
    assert audit_count() == audits + 1


def test_evidence_gc_is_a_daily_job(app: Flask, session: Any, evidence_dir: Path) -> None:
    storage = LocalStorage(evidence_dir)
    orphan = storage.put(PDF + b"% left by a kill\n")
    age(storage.path_of(orphan), 25)
    spec = get_job("evidence_gc")
    assert spec is not None and spec.is_daily

    result = run_job(spec, date(2026, 12, 6))

    assert result["blobs"] == 1 and result["dry_run"] is False
    assert not storage.exists(orphan)


def test_a_blob_a_transaction_in_flight_is_storing_is_kept(own: Flask, tmp_path: Path) -> None:
    """Another request has stored a blob (and locked it) but not committed its row yet."""
    user, aid = unit_staff(own)
    own.config["EVIDENCE_PATH"] = str(tmp_path / "evidence")
    storage = LocalStorage(tmp_path / "evidence")
    stored, release, finished = threading.Event(), threading.Event(), threading.Event()
    blob: dict[str, str] = {}

    def submission() -> None:
        # What submit_report does for a file, without its audit event: the audit chain's lock
        # would make the collector wait for this transaction anyway.
        with own.test_request_context(method="POST"):
            try:
                report = ProgressReport(
                    assignment_id=aid, author_id=user.id, progress="在途", percent=20
                )
                db.session.add(report)
                db.session.flush()
                blob["sha"] = evidence_files.store(storage, PDF + b"% in flight\n")
                db.session.add(
                    Evidence(
                        report_id=report.id,
                        sha256=blob["sha"],
                        original_name="在途.pdf",
                        content_type="application/pdf",
                        size_bytes=100,
                        uploaded_by_id=user.id,
                    )
                )
                db.session.flush()
                age(storage.path_of(blob["sha"]), 25)  # as if an old orphan was reused
                stored.set()
                release.wait(30)
                db.session.commit()
            finally:
                finished.set()

    worker = threading.Thread(target=submission)
    worker.start()
    try:
        assert stored.wait(30)
        if make_url(own.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
            # SQLite: the submission holds the write lock, so the collector waits for it.
            release.set()
        result = own.test_cli_runner().invoke(args=["evidence", "gc"])
        release.set()
    finally:
        release.set()
        worker.join(30)
    assert result.exit_code == 0, result.output
    if make_url(own.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql":
        assert "1 being stored right now" in result.output
    assert storage.exists(blob["sha"])
    with own.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Evidence).where(Evidence.sha256 == blob["sha"])
            )
            == 1
        )


# -- jobs: the last run never goes back -----------------------------------------------------


def test_running_a_job_for_an_earlier_day_never_moves_its_last_run_back(
    app: Flask, session: Any
) -> None:
    runner = app.test_cli_runner()
    today = date(2026, 12, 6)
    assert (
        runner.invoke(args=["jobs", "run", "overdue", "--today", today.isoformat()]).exit_code == 0
    )
    earlier = (today - timedelta(days=30)).isoformat()
    assert runner.invoke(args=["jobs", "run", "overdue", "--today", earlier]).exit_code == 0

    db.session.expire_all()
    assert db.session.get(JobRun, "overdue").last_run_on == today
    from datetime import time as clock

    assert "overdue" not in [j.name for j in missed_daily_jobs(today, clock(23, 59))]
