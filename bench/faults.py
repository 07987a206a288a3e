"""Fault tests: kill the scheduler mid-delivery, kill a web worker mid-import.

    .venv/bin/python bench/faults.py --db URL [--check scheduler|import|all]
        [--rcpt-delay 0.1] [--items 1000] [--kill-delay 2] [--wait-minutes 20]

Both run on a fresh copy of the ledger that bench/generate_api.py built, with real processes on
127.0.0.1 and a bounded wait. Each check prints PASS or FAIL; the script exits 1 if any fails.

scheduler: the reminders of the ledger's day are decided into the outbox (e-mails to the units'
  contacts and the office, in-app notices). A real ``taskhub scheduler`` process delivers them
  (its ``deliver`` job runs every 5 minutes) to a real SMTP server on 127.0.0.1 that answers
  each RCPT TO ``--rcpt-delay`` seconds late, so the run lasts long enough to interrupt. Once
  a third of the e-mails have arrived, the scheduler gets SIGKILL in the middle of the next
  e-mail (its RCPT TO has arrived, the server has not answered) and is started again at once.
  The new process waits for the dead one's lease to expire (90 s); the message that was being
  sent stays claimed for 10 minutes (CLAIM_MINUTES) and is then sent by the next delivery run,
  so the check waits up to ``--wait-minutes``. Passes when
  every outbox e-mail reached its recipient exactly once, nothing else arrived, every row is
  sent, and every in-app row became exactly one notification.

import: an office user signs in, uploads a plan workbook of ``--items`` task items (each with a
  lead unit and the 12 district governments as responsible units, and deadline phrases that
  give several milestones each) to /imports/plan, and confirms it, against gunicorn with 2
  workers. As soon as the confirm's transaction has started writing, the worker serving it
  gets SIGKILL. Passes when the database then holds none of the plan (every table's count as
  before) and a second confirm of the same upload imports all of it.
"""

from __future__ import annotations

import argparse
import html
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_common import (
    DATA_DIR,
    DEFAULT_API_DB,
    PASSWORD,
    PROJECT,
    Gunicorn,
    SmtpSink,
    api_database_url,
    app_env,
    cpu_ticks,
    drop_copy,
    load_ledger,
    log_json,
    machine,
    make_api_app,
    working_copy,
)
from common import log
from openpyxl import Workbook
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import URL

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.imports import plan_sheets
from taskhub.jobs.models import JobRun, SchedulerLease
from taskhub.jobs.registry import all_jobs
from taskhub.plans.models import Item, ItemUnit, Plan, Section
from taskhub.reminders import services as reminders
from taskhub.reminders.jobs import _calendar
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.tracking.deadlines import parse_deadline
from taskhub.tracking.models import Assignment, ItemMilestone, Milestone

IMPORT_CODE = "bench-faults-import"
#: Deadline phrases of the imported items, in turn (1, 8, 1 and 12 milestones).
IMPORT_PHRASES = ("6月底完成", "5月底取得阶段性成效并持续推进", "12月底完成", "持续推进")
TABLES = {
    "plans": Plan,
    "sections": Section,
    "items": Item,
    "item_units": ItemUnit,
    "item_milestones": ItemMilestone,
    "assignments": Assignment,
    "milestones": Milestone,
    "audit_events": AuditEvent,
}


def verdict(name: str, passed: bool, detail: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}", flush=True)
    return passed


# -- scheduler ------------------------------------------------------------------------------


def start_scheduler(url: URL, sink: SmtpSink, log_file: Any) -> subprocess.Popen[bytes]:
    taskhub = Path(sys.executable).with_name("taskhub")
    return subprocess.Popen(
        [str(taskhub), "scheduler"],
        cwd=PROJECT,
        env=app_env(
            url,
            TASKHUB_SMTP_HOST="127.0.0.1",
            TASKHUB_SMTP_PORT=str(sink.port),
            TASKHUB_SMTP_TLS="false",
            TASKHUB_LOG_FORMAT="json",
        ),
        stdout=log_file,
        stderr=log_file,
    )


def outbox_state(url: URL) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
                OutboxMessage.channel, OutboxMessage.status
            )
        ).all()
    engine.dispose()
    return {f"{channel}_{status}": n for channel, status, n in rows}


def check_scheduler(url: URL, as_of: date, rcpt_delay: float, wait_minutes: float) -> bool:
    app = make_api_app(url)
    with app.app_context():
        db.session.execute(delete(OutboxMessage))
        db.session.execute(delete(Notification))
        db.session.execute(delete(SchedulerLease))
        db.session.execute(delete(JobRun))
        decided = reminders.decide(as_of, _calendar(as_of), base_url=app.config["BASE_URL"])
        # The daily jobs count as done today, so that the scheduler only delivers what was
        # decided here (its catch-up would otherwise also run them for the real today).
        today = office_today()
        for spec in all_jobs():
            if spec.is_daily:
                db.session.add(JobRun(name=spec.name, last_run_on=today, status="ok"))
        db.session.commit()
        expected = Counter(
            db.session.scalars(
                select(OutboxMessage.recipient).where(OutboxMessage.channel == "email")
            )
        )
        in_app = Counter(
            int(r)
            for r in db.session.scalars(
                select(OutboxMessage.recipient).where(OutboxMessage.channel == "in_app")
            )
        )
        db.session.remove()
        db.engine.dispose()
    n_mails = sum(expected.values())
    log(
        f"scheduler: decided {decided}: {n_mails} e-mails and {sum(in_app.values())} in-app "
        f"notices in the outbox; SMTP sink answers RCPT TO after {rcpt_delay} s"
    )
    if n_mails < 10:
        return verdict("scheduler", False, f"only {n_mails} e-mails decided; nothing to test")
    sink = SmtpSink(rcpt_delay, name="faults-smtp").start()
    log_path = DATA_DIR / "faults.scheduler.log"
    timeline: dict[str, float] = {}
    started = time.monotonic()
    deadline = started + wait_minutes * 60
    try:
        with log_path.open("w") as log_file:
            first = start_scheduler(url, sink, log_file)
            log(f"scheduler started (pid {first.pid}); its deliver job runs every 5 minutes")
            threshold = max(1, n_mails // 3)
            while sink.count() < threshold:
                if time.monotonic() > started + 7 * 60 or first.poll() is not None:
                    first.kill()
                    return verdict("scheduler", False, "no delivery started within 7 minutes")
                time.sleep(0.05)
            # Kill it in the middle of an e-mail: its RCPT TO arrived, the server has not
            # answered yet, so the message is not accepted.
            while not sink.in_flight():
                if first.poll() is not None:
                    return verdict("scheduler", False, "the scheduler exited on its own")
                time.sleep(0.005)
            time.sleep(rcpt_delay / 2)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            killed_at = time.monotonic()
            at_kill = sink.count()
            timeline["killed_after_s"] = round(killed_at - started, 1)
            log(f"SIGKILL at {at_kill}/{n_mails} e-mails received; starting it again")
            second = start_scheduler(url, sink, log_file)
            try:
                last_log = 0.0
                while True:
                    state = outbox_state(url)
                    pending = sum(n for k, n in state.items() if k.endswith("_pending"))
                    if pending == 0:
                        break
                    if time.monotonic() > deadline:
                        break
                    if time.monotonic() - last_log > 30:
                        log(f"  {sink.count()}/{n_mails} e-mails received; outbox {state}")
                        last_log = time.monotonic()
                    time.sleep(1)
                time.sleep(2)  # anything still in flight
                timeline["all_sent_after_kill_s"] = round(time.monotonic() - killed_at, 1)
            finally:
                second.send_signal(signal.SIGTERM)
                try:
                    second.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    second.kill()
        received = Counter(sink.recipients())
    finally:
        sink.stop()
    state = outbox_state(url)
    app = make_api_app(url)
    with app.app_context():
        notices = Counter(db.session.scalars(select(Notification.user_id)))
        db.session.remove()
        db.engine.dispose()
    twice = {r: n for r, n in received.items() if n > 1}
    missed = [r for r in expected if r not in received]
    unexpected = [r for r in received if r not in expected]
    not_sent = {k: n for k, n in state.items() if not k.endswith("_sent")}
    passed = not twice and not missed and not unexpected and not not_sent and notices == in_app
    detail = (
        f"{n_mails} e-mails expected, {sum(received.values())} received "
        f"({len(twice)} twice, {len(missed)} missed, {len(unexpected)} unexpected); "
        f"{sum(notices.values())}/{sum(in_app.values())} in-app notices; outbox {state}; "
        f"killed at {at_kill} received; timeline {timeline}; log {log_path}"
    )
    return verdict("scheduler killed mid-delivery and restarted", passed, detail)


# -- import ---------------------------------------------------------------------------------


def workbook(items: int, year: int, city: str, leads: list[str]) -> tuple[bytes, dict[str, int]]:
    """A plan workbook (the template's sheets and headers) and the rows it should create."""
    sections = [
        {"key": str(k), "number": n, "title": f"第{n}部分重点任务"}
        for k, n in enumerate(("一", "二", "三", "四", "五"), start=1)
    ]
    rows = []
    milestones = 0
    for k in range(items):
        phrase = IMPORT_PHRASES[k % len(IMPORT_PHRASES)]
        rows.append(
            {
                "section": str(k % len(sections) + 1),
                "number": str(k + 1),
                "title": f"重点任务{k + 1}",
                "text": f"第{k + 1}项：推进政务服务事项标准化、规范化，实现同一事项无差别受理。",
                "deadline": phrase,
                "lead": leads[k % len(leads)],
                "responsible": "各区人民政府",
            }
        )
        milestones += len(parse_deadline(phrase, year=year).milestones)
    plan_row = {
        "code": IMPORT_CODE,
        "title": "基准市数字政府建设重点任务（故障测试）",
        "city": city,
        "year": year,
        "kind": "任务方案",
    }
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    for spec, data in (
        (plan_sheets.PLAN_SHEET, [plan_row]),
        (plan_sheets.SECTION_SHEET, sections),
        (plan_sheets.ITEM_SHEET, rows),
    ):
        sheet = book.create_sheet(spec.name)
        sheet.append([c.header + ("*" if c.required else "") for c in spec.columns])
        for row in data:
            sheet.append([row.get(c.key) for c in spec.columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), {"items": items, "sections": len(sections), "milestones": milestones}


class Browser:
    """Cookie-keeping HTTP client for the pages (sign-in, CSRF, multipart upload)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        fields: dict[str, str] | None = None,
        file: tuple[str, bytes] | None = None,
        timeout: float = 600,
    ) -> tuple[int, dict[str, str], str]:
        import http.client

        headers = {"Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if file is not None:
            boundary = uuid.uuid4().hex
            parts = [
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                f"{v}\r\n".encode()
                for k, v in (fields or {}).items()
            ]
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{file[0]}"\r\nContent-Type: application/vnd.openxmlformats-'
                "officedocument.spreadsheetml.sheet\r\n\r\n".encode()
                + file[1]
                + f"\r\n--{boundary}--\r\n".encode()
            )
            body = b"".join(parts)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif fields is not None:
            body = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            page = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, dict(response.headers.items()), page

    def csrf(self, path: str) -> str:
        status, _, page = self.request("GET", path)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if status != 200 or token is None:
            raise SystemExit(f"{path}: HTTP {status}, no CSRF token")
        return token.group(1)

    def sign_in(self, username: str) -> None:
        fields = {"csrf_token": self.csrf("/login"), "username": username, "password": PASSWORD}
        status, headers, _ = self.request("POST", "/login", fields=fields)
        if status != 302 or "/login" in headers.get("Location", ""):
            raise SystemExit(f"could not sign in as {username} (HTTP {status})")


def found(pattern: str, page: str) -> str:
    match = re.search(pattern, page)
    if match is None:
        raise SystemExit(f"the preview page has no {pattern}")
    return match.group(1)


def table_counts(url: URL) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in TABLES.items()
        }
    engine.dispose()
    return counts


def writer_active(url: URL) -> bool:
    """Whether some transaction has started writing (PostgreSQL: holds a transaction id;
    SQLite: holds the write lock)."""
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url)
        with engine.connect() as conn:
            n = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        engine.dispose()
        return bool(n)
    probe = sqlite3.connect(url.database or "", timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def busiest(pids: list[int]) -> int:
    """The worker using the most CPU over a short interval (the one serving the import)."""
    before = {pid: cpu_ticks(pid) for pid in pids}
    time.sleep(0.3)
    return max(pids, key=lambda pid: cpu_ticks(pid) - before[pid])


def check_import(url: URL, data: dict[str, Any], items: int, kill_delay: float) -> bool:
    city = "基准市"
    app = make_api_app(url)
    with app.app_context():
        districts = db.session.scalar(
            text(
                "SELECT count(*) FROM unit_group_members m JOIN unit_groups g "
                "ON g.id = m.group_id WHERE g.name = '各区人民政府'"
            )
        )
        leads = list(
            db.session.scalars(text("SELECT name FROM units WHERE kind = 'department' ORDER BY id"))
        )
        db.session.remove()
        db.engine.dispose()
    year = date.fromisoformat(data["as_of"]).year + 1
    book, rows = workbook(items, year, city, leads)
    per_item = 1 + int(districts or 0)
    expected = {
        "plans": 1,
        "sections": rows["sections"],
        "items": items,
        "item_units": items * 2,  # the lead unit and the district group
        "item_milestones": rows["milestones"],
        "assignments": items * per_item,
        "milestones": rows["milestones"] * per_item,
    }
    office = next(t["username"] for t in data["tokens"] if t["role"] == "office")
    log(
        f"import: {items} items × {per_item} units, {len(book) // 1024} KB workbook; "
        f"signing in as {office}"
    )
    log_path = DATA_DIR / "faults.import.gunicorn.log"
    with log_path.open("w") as server_log:
        server = Gunicorn(url, 2, timeout=900, output=server_log)
        try:
            browser = Browser(server.port)
            browser.sign_in(office)
            csrf = browser.csrf("/imports")
            started = time.monotonic()
            status, _, page = browser.request(
                "POST", "/imports/plan", fields={"csrf_token": csrf}, file=("故障测试.xlsx", book)
            )
            if status != 200:
                text_only = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
                return verdict("import", False, f"preview: HTTP {status}: {text_only[:500]}")
            log(f"preview in {time.monotonic() - started:.1f} s")
            fields = {
                "csrf_token": found(r'name="csrf_token"[^>]*value="([^"]+)"', page),
                "sha256": found(r'name="sha256" value="([0-9a-f]{64})"', page),
                "name": html.unescape(found(r'name="name" value="([^"]*)"', page)),
            }
            before = table_counts(url)
            answer: dict[str, Any] = {}

            def confirm() -> None:
                try:
                    answer["status"] = browser.request(
                        "POST", "/imports/plan/confirm", fields=fields
                    )[0]
                except OSError as exc:
                    answer["error"] = repr(exc)
                except Exception as exc:  # http.client.RemoteDisconnected and friends
                    answer["error"] = repr(exc)

            thread = threading.Thread(target=confirm)
            started = time.monotonic()
            thread.start()
            while not writer_active(url):
                if not thread.is_alive():
                    return verdict(
                        "import",
                        False,
                        f"the confirm ended ({answer}) before it was caught writing: raise --items",
                    )
                time.sleep(0.02)
            writing_at = time.monotonic() - started
            # Kill ``kill_delay`` s into the writes, unless the confirm finishes first.
            thread.join(timeout=kill_delay)
            if thread.is_alive():
                victim = busiest(server.worker_pids())
                os.kill(victim, signal.SIGKILL)
                killed = f"worker {victim} killed {time.monotonic() - started - writing_at:.2f} s"
            else:
                killed = "the confirm finished first: nothing killed"
            thread.join(timeout=60)
            log(
                f"confirm began writing after {writing_at:.1f} s; {killed}; the client saw {answer}"
            )
            # The database must drop the dead worker's transaction (PostgreSQL notices the
            # closed connection; SQLite ignores the unfinished WAL frames).
            deadline = time.monotonic() + 120
            while writer_active(url) and time.monotonic() < deadline:
                time.sleep(0.5)
            after_kill = table_counts(url)
            server.wait_for_workers()
            # A second confirm of the same kept upload, left to finish.
            fields["csrf_token"] = browser.csrf("/imports")
            started = time.monotonic()
            status, headers, _ = browser.request("POST", "/imports/plan/confirm", fields=fields)
            confirm_s = time.monotonic() - started
            after_retry = table_counts(url)
        finally:
            server.stop()

    def complete(counts: dict[str, int]) -> bool:
        """The whole plan is there: every row the file makes, and its audit records."""
        added = {name: counts[name] - before[name] for name in TABLES}
        return all(added[name] == n for name, n in expected.items()) and added["audit_events"] >= 1

    none_of_it = after_kill == before
    whole = complete(after_kill)
    outcome = "none of it" if none_of_it else "all of it" if whole else "PART OF IT"
    late = "" if "status" not in answer else "; the kill came too late: raise --items"
    passed_kill = verdict(
        "import: a worker killed mid-confirm leaves the whole plan or none of it",
        (none_of_it or whole) and "status" not in answer,
        f"{killed} into the writes: {outcome}; counts before {before}, "
        f"after the kill {after_kill}{late}",
    )
    added = {name: after_retry[name] - before[name] for name in TABLES}
    # After "none", the same upload must import completely; after "whole", change nothing.
    passed_retry = verdict(
        "import: the same upload confirmed again leaves the whole plan",
        status == 302 and complete(after_retry) and (none_of_it or after_retry == after_kill),
        f"HTTP {status} to {headers.get('Location')} in {confirm_s:.1f} s; added "
        f"{added}; expected {expected}",
    )
    return passed_kill and passed_retry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_API_DB, help=f"default {DEFAULT_API_DB}")
    parser.add_argument("--check", choices=("scheduler", "import", "all"), default="all")
    parser.add_argument("--rcpt-delay", type=float, default=0.1, help="slow SMTP sink, seconds")
    parser.add_argument("--wait-minutes", type=float, default=20.0, help="bound of the wait")
    parser.add_argument("--items", type=int, default=1000, help="items in the imported plan")
    parser.add_argument("--kill-delay", type=float, default=2.0, help="seconds into the writes")
    parser.add_argument("--keep", action="store_true", help="keep the working copy afterwards")
    args = parser.parse_args(argv)
    if not 1 <= args.items <= 5000:
        parser.error("--items from 1 to 5000 (the import's row limit)")
    base = api_database_url(args.db)
    data = load_ledger(base)
    info = machine(base)
    results: dict[str, bool] = {}
    if args.check in ("scheduler", "all"):
        url = working_copy(base, "faults")
        try:
            results["scheduler"] = check_scheduler(
                url, date.fromisoformat(data["as_of"]), args.rcpt_delay, args.wait_minutes
            )
        finally:
            if not args.keep:
                drop_copy(url)
    if args.check in ("import", "all"):
        url = working_copy(base, "faults")
        try:
            results["import"] = check_import(url, data, args.items, args.kill_delay)
        finally:
            if not args.keep:
                drop_copy(url)
    passed = all(results.values())
    print("PASS" if passed else "FAIL")
    log_json({"db": base.get_backend_name(), "machine": info, "checks": results, "passed": passed})
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
