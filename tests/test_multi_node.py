"""More than one machine (issue 17): two web instances behind nginx on one PostgreSQL and one
object store, and two schedulers of which one acts (the database lease).

Everything is real and on loopback: two gunicorn processes (deploy/gunicorn.conf.py, each with
an instance folder of its own) on a schema of the test database nobody else uses, evidence in
the moto S3 server (tests/s3.py), Debian's nginx running the shipped site (deploy/nginx.conf,
as tests/test_deploy_nginx.py does) with both instances in its upstream, `taskhub scheduler`
processes, and an aiosmtpd mail sink. A "machine" dies by SIGKILL to its whole process group.

Retries during the kill, and why they are safe:

- nginx passes a request to the other instance by itself when connecting to the dead one
  fails (``proxy_next_upstream error``, the default): nothing was sent, so even a POST is
  retried.
- A POST that was already sent to the dead instance (in its worker, or queued in its listen
  backlog) is not retried by nginx (a non-idempotent request) and the client gets a 502. The
  client sends the same report again with the same ``version``: optimistic concurrency makes
  that idempotent. Either the first attempt never committed and the retry is answered 201, or
  it did commit and the retry is refused (409 changed / 422 awaiting review) and the client
  finds its report by reading the assignment's reports. A retry never makes a second report.

PostgreSQL only: SQLite is one machine's file.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from taskhub.audit import services as audit
from taskhub.calendar.models import CalendarOverride
from taskhub.config import PROJECT_ROOT, normalize_database_url
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.jobs.models import JobRun, SchedulerLease
from taskhub.plans.models import Item, Plan
from taskhub.reminders.models import OutboxMessage
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Evidence,
    Milestone,
    MilestoneStatus,
    ProgressReport,
)
from taskhub.units.models import Contact
from tests.race_kit import PLAN, Kit, race_app
from tests.s3 import S3Server
from tests.servers import SmtpServer
from tests.test_deploy_nginx import DEPLOY, HOST, NGINX, install_and_check, site_for_test

DATABASE_URL = os.environ.get("TASKHUB_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgresql", "postgres:")),
    reason="needs PostgreSQL (TASKHUB_TEST_DATABASE_URL): several machines share one "
    "database server; SQLite is one machine's file",
)

#: The same on every machine: sessions signed on one are read on the other, and the audit
#: trail's digests stay one chain (TASKHUB_AUDIT_KEY, set from the test app's key below).
SECRET = "multi-node-shared-secret-key-0123456789abcdef"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
#: Client threads, seconds of load, and when (seconds into it) one instance is killed.
CLIENTS, LOAD_SECONDS, KILL_AT = 6, 8.0, 3.0
#: A 5xx (or a broken connection) is allowed only for a request already sent when the instance
#: was killed, answered within this many seconds of the kill: one the dead instance had taken.
KILL_WINDOW = 5.0
#: The scheduler lease in the failover test (TASKHUB_SCHEDULER_LEASE_SECONDS; 90 by default).
LEASE = 6


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(what: str, ready: Any, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            detail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what} after {timeout} s\n{detail}")
        time.sleep(0.1)


# -- the shared parts: database schema, object store, environment ---------------------------------


@dataclass
class Shared:
    """The database (a schema of its own) and bucket that every process of the test uses."""

    app: Flask
    url: str
    s3: dict[str, Any]

    def env(self, instance: Path, **extra: str) -> dict[str, str]:
        """A machine's environment: its own instance folder, everything else shared."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKHUB_", "AWS_"))}
        env.update(TASKHUB_LOG_LEVEL="WARNING")
        env.update(
            TASKHUB_DATABASE_URL=self.url,
            TASKHUB_INSTANCE_PATH=str(instance),
            TASKHUB_SECRET_KEY=SECRET,
            TASKHUB_AUDIT_KEY=self.app.config["AUDIT_KEY"],
            TASKHUB_EVIDENCE_URL=self.s3["EVIDENCE_URL"],
            TASKHUB_S3_ENDPOINT=self.s3["S3_ENDPOINT"],
            TASKHUB_S3_ACCESS_KEY=self.s3["S3_ACCESS_KEY"],
            TASKHUB_S3_SECRET_KEY=self.s3["S3_SECRET_KEY"],
            TASKHUB_BASE_URL=f"https://{HOST}",
            **extra,
        )
        instance.mkdir(parents=True, exist_ok=True)
        return env


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Shared]:
    """One schema for the module: migrating costs more than the tests' own work. The web
    test reports on assignments nobody has reported on; the scheduler test picks its own."""
    with race_app(DATABASE_URL, tmp_path_factory.mktemp("multi-node")) as app:
        # The schema's search_path, as the URL every process connects with.
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
        url = make_url(normalize_database_url(DATABASE_URL)).update_query_dict({"options": options})
        yield Shared(app, url.render_as_string(hide_password=False), s3_server.new_bucket())


# -- web instances behind nginx -----------------------------------------------------------------


@dataclass
class Node:
    """One web machine: gunicorn with the shipped settings, in a process group of its own."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [gunicorn, "-c", str(DEPLOY / "gunicorn.conf.py")],
                cwd=PROJECT_ROOT,
                env={**self.env, "TASKHUB_BIND": f"127.0.0.1:{self.port}"},
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def ready(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def kill(self) -> None:
        """The machine dies: SIGKILL to the master and its workers, no goodbye."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # quick shutdown, no draining
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def get(self, path: str, token: str) -> tuple[int, bytes]:
        """Straight to this instance, not through nginx."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@dataclass
class Front:
    """nginx with the shipped site, both instances in its upstream, on loopback."""

    https_port: int
    certs: Path
    process: subprocess.Popen[bytes]


def start_nginx(prefix: Path, nodes: list[Node]) -> Front:
    assert NGINX is not None
    http_port, https_port = _free_port(), _free_port()
    (prefix / "logs").mkdir(parents=True)
    site = site_for_test(http_port, https_port, nodes[0].port, prefix / "certs", prefix / "logs")
    one = f"server 127.0.0.1:{nodes[0].port};"
    assert one in site
    site = site.replace(one, "\n    ".join(f"server 127.0.0.1:{n.port};" for n in nodes))
    conf = install_and_check(prefix, site)
    with (prefix / "nginx.out").open("w") as out:
        process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf)], stdout=out, stderr=out
        )
    return Front(https_port, prefix / "certs", process)


class Client:
    """One person's program: a TLS connection to nginx, kept open, opened again after an error."""

    def __init__(self, front: Front, token: str) -> None:
        self.front, self.token = front, token
        self.context = ssl.create_default_context(cafile=str(front.certs / "fullchain.pem"))
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.front.https_port, timeout=30)
        raw = socket.create_connection(("127.0.0.1", self.front.https_port), timeout=30)
        conn.sock = self.context.wrap_socket(raw, server_hostname=HOST)
        return conn

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection broke before an answer."""
        headers = {"Host": HOST, "Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.request(method, path, body=body or None, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, b""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; '
        f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Written:
    """A report the server acknowledged (201), or one a retry found committed."""

    assignment_id: int
    report_id: int
    evidence_id: int
    data: bytes


@dataclass
class Load:
    """What the clients saw: every answer's status and when, and the writes that stand."""

    answers: list[tuple[float, float, int]] = field(default_factory=list)
    acknowledged: list[Written] = field(default_factory=list)
    recovered: list[Written] = field(default_factory=list)
    unexpected: list[tuple[int, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def fresh_assignments(app: Flask) -> list[tuple[int, int]]:
    """(id, version) of assignments nobody has reported on: one report each."""
    with app.app_context():
        rows = db.session.execute(
            select(Assignment.id, Assignment.version)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(Plan.code == PLAN, Assignment.status == AssignmentStatus.NEW.value)
            .order_by(Assignment.id)
        ).all()
        db.session.remove()
    return [(row.id, row.version) for row in rows]


def report_once(client: Client, aid: int, version: int, load: Load) -> None:
    """POST one report with evidence; after a 5xx or a broken connection, the same again."""
    data = PDF + f"% multi-node report on assignment {aid}\n".encode()
    progress = f"两台机器的进展 {aid}"
    body, content_type = multipart(
        {"progress": progress, "percent": "30", "version": str(version)}, f"a{aid}.pdf", data
    )
    for attempt in range(1, 6):
        sent = time.monotonic()
        status, answer = client.request(
            "POST", f"/api/v1/assignments/{aid}/reports", body, content_type
        )
        with load.lock:
            load.answers.append((sent, time.monotonic(), status))
        if status == 201:
            report = json.loads(answer)
            written = Written(aid, report["id"], report["evidence"][0]["id"], data)
            with load.lock:
                load.acknowledged.append(written)
            return
        if status == 0 or status >= 500:
            time.sleep(0.2)
            continue  # the same report with the same version: idempotent (see the top)
        if attempt > 1 and status in (409, 422):
            # The lost attempt had committed: the report is there, once.
            status, answer = client.request("GET", f"/api/v1/assignments/{aid}/reports")
            mine = [r for r in json.loads(answer) if r["progress"] == progress]
            if status == 200 and len(mine) == 1:
                found = Written(aid, mine[0]["id"], mine[0]["evidence"][0]["id"], data)
                with load.lock:
                    load.recovered.append(found)
                return
        with load.lock:
            load.unexpected.append((aid, status, answer[:300].decode(errors="replace")))
        return
    with load.lock:
        load.unexpected.append((aid, -1, "five attempts failed"))


@pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt install nginx; .ci/run does)"
)
def test_two_web_instances_behind_nginx_lose_no_acknowledged_write(
    shared: Shared, s3_server: S3Server, tmp_path: Path
) -> None:
    kit = Kit.build(shared.app)
    todo = fresh_assignments(shared.app)
    env = {"TASKHUB_WEB_WORKERS": "1", "TASKHUB_PROXY_COUNT": "1"}
    nodes = [
        Node(name, _free_port(), shared.env(tmp_path / name, **env), tmp_path / f"{name}.log")
        for name in ("web-a", "web-b")
    ]
    front: Front | None = None
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            _wait(f"{node.name} did not answer", node.ready, 60, node.log)
        front = start_nginx(tmp_path / "nginx", nodes)
        clients = [Client(front, kit.office.token) for _ in range(CLIENTS)]
        _wait("nginx did not answer", lambda: clients[0].request("GET", "/readyz")[0] == 200, 30)

        load = Load()
        start = time.monotonic()
        stop = threading.Event()
        todo_lock = threading.Lock()

        def work(client: Client) -> None:
            while not stop.is_set():
                with todo_lock:
                    if not todo:
                        return
                    aid, version = todo.pop()
                report_once(client, aid, version, load)

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        time.sleep(KILL_AT)
        # Round robin: about half of these were stored through web-a, and web-b serves them all.
        with load.lock:
            so_far = list(load.acknowledged)
        assert so_far, "no report acknowledged before the kill"
        for w in so_far[:6]:
            status, data = nodes[1].get(f"/api/v1/evidence/{w.evidence_id}", kit.office.token)
            assert (status, data) == (200, w.data), w
        killed_at = time.monotonic()
        nodes[1].kill()
        time.sleep(LOAD_SECONDS - KILL_AT)
        stop.set()
        for thread in threads:
            thread.join(60)
        elapsed = time.monotonic() - start
        for client in clients:
            client.close()

        # No answer but 2xx outside the kill; inside it, only what the dead instance held.
        assert load.unexpected == []
        failed = [(s, a, status) for s, a, status in load.answers if status == 0 or status >= 500]
        # Sent before the kill (0.2 s: SIGKILL landing after killed_at was read), answered
        # after it, and soon.
        in_flight = [killed_at - 0.2 <= a <= killed_at + KILL_WINDOW for _, a, _ in failed]
        assert all(s <= killed_at + 0.2 for s, _, _ in failed) and all(in_flight), (
            killed_at,
            failed,
        )
        assert len(failed) <= CLIENTS, failed  # each client had one request in flight at most
        writes = load.acknowledged + load.recovered
        after_kill = [a for _, a, status in load.answers if status == 201 and a > killed_at + 1]
        assert len(writes) >= 20 and after_kill, "too little load to mean anything"
        print(
            f"\nmulti-node load: {len(writes)} reports in {elapsed:.1f} s "
            f"({len(writes) / elapsed:.1f}/s) with {CLIENTS} clients; "
            f"{len(failed)} answers lost in the kill, {len(load.recovered)} found by the retry"
        )

        # Every acknowledged write is in the database, once, with its evidence.
        ids = {w.report_id for w in writes}
        assert len(ids) == len(writes)
        with shared.app.app_context():
            reports = {
                r.id: r
                for r in db.session.scalars(
                    select(ProgressReport).where(
                        ProgressReport.assignment_id.in_([w.assignment_id for w in writes])
                    )
                )
            }
            assert set(reports) == ids, "a report lost, or made twice by a retry"
            stored = dict(
                db.session.execute(
                    select(Evidence.id, Evidence.sha256).where(Evidence.report_id.in_(ids))
                ).all()
            )
            for w in writes:
                assert reports[w.report_id].assignment_id == w.assignment_id
                assert stored[w.evidence_id] == hashlib.sha256(w.data).hexdigest()
            # Both machines wrote one audit chain with one key.
            assert audit.verify()[1] == []
            db.session.remove()
        keys = set(s3_server.objects(shared.s3))
        assert {f"evidence/{stored[w.evidence_id][:2]}" for w in writes} <= {k[:11] for k in keys}

        # The survivor serves everything, the dead instance's uploads included.
        ordered = sorted(writes, key=lambda w: w.report_id)
        for w in ordered[:30] + ordered[30:][-30:]:
            status, data = nodes[0].get(f"/api/v1/evidence/{w.evidence_id}", kit.office.token)
            assert (status, data) == (200, w.data), w
    finally:
        if front is not None and front.process.poll() is None:
            front.process.send_signal(signal.SIGINT)
            front.process.wait(30)
        for node in nodes:
            node.stop()


# -- scheduler failover --------------------------------------------------------------------------


def zone_at_midday() -> str:
    """A time zone whose clock now shows 13:xx: after the morning's daily jobs, before
    midnight, whenever the test runs (the office's wall time decides what is due)."""
    offset = (13 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def reminders_due_today(today: date) -> set[str]:
    """Two units' milestones due today (a working day), every other one done; a contact with
    an e-mail address for each unit. Returns the addresses the due-day reminder must reach."""
    picked = db.session.execute(
        select(Assignment.id, Assignment.unit_id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == PLAN)
        .order_by(Assignment.id)
    ).all()
    by_unit: dict[int, int] = {}
    for row in picked:
        by_unit.setdefault(row.unit_id, row.id)
    chosen = dict(list(by_unit.items())[:2])
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id.not_in(list(chosen.values())))
        .values(status=MilestoneStatus.DONE.value, completed_on=today)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id.in_(list(chosen.values())))
        .values(status=MilestoneStatus.OPEN.value, due_on=today, extended_to=None)
        .execution_options(synchronize_session=False)
    )
    override = db.session.scalars(select(CalendarOverride).where(CalendarOverride.day == today))
    for found in override:
        db.session.delete(found)
    db.session.flush()
    db.session.add(CalendarOverride(day=today, is_working_day=True, note="多机测试：工作日"))
    addresses = set()
    for n, unit_id in enumerate(chosen, start=1):
        address = f"unit{n}@multi.example.gov.cn"
        db.session.add(Contact(unit_id=unit_id, name=f"联系人{n}", email=address))
        addresses.add(address)
    # The reminders job last ran yesterday; the test holds this row to stop the first
    # scheduler at the start of today's run.
    run = db.session.get(JobRun, "reminders") or JobRun(name="reminders")
    run.last_run_on, run.status = date.fromordinal(today.toordinal() - 1), "ok"
    db.session.add(run)
    db.session.commit()
    return addresses


@dataclass
class Scheduler:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def holder_prefix(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}:"


def start_scheduler(env: dict[str, str], log: Path) -> Scheduler:
    taskhub = str(Path(sys.executable).with_name("taskhub"))
    with log.open("w") as out:
        process = subprocess.Popen(
            [taskhub, "scheduler"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    return Scheduler(process, log)


def test_a_standby_scheduler_takes_over_and_sends_the_days_reminders_once(
    shared: Shared, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    app, zone = shared.app, zone_at_midday()
    app.config["TIMEZONE"] = zone
    with app.app_context():
        today = office_today()
        expected = reminders_due_today(today)
        db.session.remove()
    env = {
        "TASKHUB_TIMEZONE": zone,
        "TASKHUB_SCHEDULER_LEASE_SECONDS": str(LEASE),
        "TASKHUB_SMTP_HOST": smtp_server.host,
        "TASKHUB_SMTP_PORT": str(smtp_server.port),
        "TASKHUB_MAIL_FROM": "督办 <duban@example.gov.cn>",
        "TASKHUB_LOG_LEVEL": "INFO",
    }
    engine = create_engine(shared.url)
    holding = engine.connect()
    hold = holding.begin()
    schedulers: list[Scheduler] = []

    def lease_holder() -> str:
        with engine.connect() as conn:
            found = conn.scalar(
                select(SchedulerLease.holder).where(SchedulerLease.name == "scheduler")
            )
        return found or ""

    def blocked_on_the_job_row() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%job_runs%' AND pid <> pg_backend_pid()"
                    )
                )
            )

    try:
        # The first scheduler takes the lease and starts today's reminders, where it is held:
        # the row of the job's last run is locked here, so it dies before sending anything.
        holding.execute(text("SELECT name FROM job_runs WHERE name = 'reminders' FOR UPDATE"))
        active = start_scheduler(shared.env(tmp_path / "sched-a", **env), tmp_path / "a.log")
        schedulers.append(active)
        _wait(
            "the first scheduler took no lease",
            lambda: lease_holder().startswith(active.holder_prefix),
            60,
            active.log,
        )
        _wait(
            "the first scheduler did not start the reminders",
            blocked_on_the_job_row,
            30,
            active.log,
        )
        standby = start_scheduler(shared.env(tmp_path / "sched-b", **env), tmp_path / "b.log")
        schedulers.append(standby)
        _wait(
            "the standby did not start",
            lambda: "scheduler starting" in standby.log.read_text(),
            60,
            standby.log,
        )
        assert lease_holder().startswith(active.holder_prefix)  # still the first one's

        os.killpg(active.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        active.process.wait(10)
        hold.rollback()  # the dead scheduler's connection gives the row up as it goes

        _wait(
            "the standby did not take the lease",
            lambda: lease_holder().startswith(standby.holder_prefix),
            LEASE * 2 + 10,
            standby.log,
        )
        took = time.monotonic() - killed_at
        # The lease runs out at most LEASE after the last renewal; the standby looks every
        # LEASE/3 seconds (plus the machine's load).
        assert took <= LEASE + LEASE / 3 + 4, took
        _wait(
            "the reminders were not sent",
            lambda: {m.rcpt_tos[0] for m in smtp_server.messages} >= expected,
            30,
            standby.log,
        )
        time.sleep(LEASE / 3 * 2)  # two more renewals: nothing is sent again
        with engine.connect() as conn:
            # The day's reminder digests; other jobs of the catch-up (the escalation notices)
            # queue their own mails for the deliver job.
            mails = conn.execute(
                select(OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.status).where(
                    OutboxMessage.channel == "email",
                    OutboxMessage.dedupe_key.startswith(f"reminder:{today.isoformat()}:"),
                )
            ).all()
            run = conn.execute(
                select(JobRun.last_run_on, JobRun.status).where(JobRun.name == "reminders")
            ).one()
        assert mails and {status for _, _, status in mails} == {"sent"}
        subjects = {subject for _, subject, _ in mails}
        received = Counter(
            (m.rcpt_tos[0], m.subject) for m in smtp_server.messages if m.subject in subjects
        )
        assert received == Counter((to, subject) for to, subject, _ in mails), "each mail once"
        assert Counter(
            m.rcpt_tos[0] for m in smtp_server.messages if m.rcpt_tos[0] in expected
        ) == Counter(expected)
        assert tuple(run) == (today, "ok")
        print(f"\nscheduler failover: the standby held the lease {took:.1f} s after the kill")
    finally:
        with contextlib.suppress(Exception):
            hold.rollback()
        holding.close()
        for scheduler in schedulers:  # no waiting for its catch-up jobs to end
            if scheduler.process.poll() is None:
                os.killpg(scheduler.process.pid, signal.SIGKILL)
                scheduler.process.wait(10)
        engine.dispose()
