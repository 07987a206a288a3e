"""Load test of the JSON API: mixed reads and writes by many clients, then a check that every
acknowledged write is in the database.

    .venv/bin/python bench/load_api.py --db URL [--workers 4] [--clients 50] [--duration 60]

Runs on a fresh copy of the ledger that bench/generate_api.py built, served by
``gunicorn --workers 4 wsgi:app`` on 127.0.0.1 (issue #6 asks for PostgreSQL; SQLite works too).
Bounded: a fixed number of client threads (Python, http.client, loopback only), each sending
its next request as soon as the last one is answered, for a fixed time.

Four clients in five act for a unit with that unit's token (one unit each): list the unit's
open assignments, read one, read its reports, and report progress (POST …/reports) on an open
assignment. The fifth acts for the office: the 100-item list of open assignments at a random
page, a filtered list (plan, overdue, by due date), and reviews of the reports the units sent
(accept, or return with a reason, which lets the unit report on that assignment again).

Every write the server acknowledged (201 report, 200 review) is recorded with what was sent;
afterwards the database must hold each one as acknowledged. Passes with zero server errors
(5xx or a broken connection) and zero lost writes; prints PASS or FAIL, the throughput and the
latency percentiles by request kind, then one JSON line. Exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_common import (
    DATA_DIR,
    DEFAULT_API_DB,
    Gunicorn,
    Http,
    Reply,
    api_database_url,
    drop_copy,
    load_ledger,
    log_json,
    machine,
    make_api_app,
    percentiles,
    rss_mib,
    working_copy,
)
from common import log
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from taskhub.core.db import db
from taskhub.tracking.models import Assignment, ProgressReport, Review

#: Every report this test sends starts with this, so the check can count them.
MARK = "负载测试"
LIST_100 = "/api/v1/assignments/?open=true&page_size=100&page={page}"
FILTERED = "/api/v1/assignments/?plan={plan}&overdue=true&open=true&sort=due_on&page_size=50"


@dataclass
class Written:
    kind: str  #: report or review
    report_id: int
    assignment_id: int
    #: The progress text (report) or the decision (review) that was acknowledged.
    value: str


@dataclass
class Stats:
    client_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    transport_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)


class Shared:
    """What the clients hand each other: reports awaiting review, assignments free to report."""

    def __init__(self, reportable: dict[int, list[int]]) -> None:
        self.lock = threading.Lock()
        self.reportable = reportable
        self.pending: deque[tuple[int, int, int]] = deque()  #: (report, assignment, unit)

    def take_reportable(self, unit: int) -> int | None:
        with self.lock:
            ids = self.reportable.get(unit)
            return ids.pop() if ids else None

    def give_back(self, unit: int, assignment_id: int) -> None:
        with self.lock:
            self.reportable.setdefault(unit, []).insert(0, assignment_id)

    def submitted(self, report_id: int, assignment_id: int, unit: int) -> None:
        with self.lock:
            self.pending.append((report_id, assignment_id, unit))

    def to_review(self) -> tuple[int, int, int] | None:
        with self.lock:
            return self.pending.popleft() if self.pending else None


class Client(threading.Thread):
    def __init__(
        self,
        number: int,
        port: int,
        stop_at: float,
        shared: Shared,
        stats: Stats,
        lock: threading.Lock,
        act: Callable[[Client], None],
    ) -> None:
        super().__init__(name=f"client-{number}", daemon=True)
        self.number = number
        self.http = Http(port, timeout=30)
        self.stop_at = stop_at
        self.shared = shared
        self.stats = stats
        self.stats_lock = lock
        self.rng = random.Random(number)
        self.act = act
        self.sent = 0
        self.finished_at = 0.0
        # Set by the role: the unit and its token, or the office token and plans.
        self.unit = 0
        self.token = ""
        self.own: list[int] = []
        self.plans: list[str] = []
        self.pages = 1

    def call(
        self, kind: str, method: str, path: str, body: Any = None, ok: int = 200
    ) -> Reply | None:
        try:
            if method == "GET":
                reply = self.http.get(path, token=self.token)
            else:
                reply = self.http.post_json(path, body, token=self.token)
        except OSError as exc:
            with self.stats_lock:
                self.stats.transport_errors.append(f"{kind} {path}: {exc!r}")
            return None
        with self.stats_lock:
            self.stats.client_ms[kind].append(reply.client_ms)
            if reply.server_ms is not None:
                self.stats.server_ms[kind].append(reply.server_ms)
            self.stats.statuses[kind][reply.status] += 1
            if reply.status != ok and reply.status < 500:
                self.stats.unexpected.append(f"{kind} {path}: {reply.status} {reply.body[:200]!r}")
        return reply if reply.status == ok else None

    def run(self) -> None:
        while time.monotonic() < self.stop_at:
            self.act(self)
        self.finished_at = time.monotonic()
        self.http.close()


def unit_client(c: Client) -> None:
    r = c.rng.random()
    if r < 0.3:
        aid = c.shared.take_reportable(c.unit)
        if aid is not None:
            c.sent += 1
            text = f"{MARK}：客户端{c.number}第{c.sent}条，已完成阶段性工作。"
            reply = c.call(
                "report",
                "POST",
                f"/api/v1/assignments/{aid}/reports",
                {"progress": text, "percent": c.rng.randint(10, 90)},
                ok=201,
            )
            if reply is None:
                c.shared.give_back(c.unit, aid)
                return
            report_id = int(reply.json()["id"])
            with c.stats_lock:
                c.stats.written.append(Written("report", report_id, aid, text))
            c.shared.submitted(report_id, aid, c.unit)
            return
    if r < 0.65:
        c.call("unit_open", "GET", "/api/v1/assignments/?open=true")
    elif r < 0.85:
        c.call("assignment", "GET", f"/api/v1/assignments/{c.rng.choice(c.own)}")
    else:
        c.call("reports", "GET", f"/api/v1/assignments/{c.rng.choice(c.own)}/reports")


def office_client(c: Client) -> None:
    r = c.rng.random()
    if r < 0.35:
        pending = c.shared.to_review()
        if pending is not None:
            report_id, aid, unit = pending
            decision = "accept" if c.rng.random() < 0.6 else "return"
            body = {"decision": decision}
            if decision == "return":
                body["reason"] = "佐证材料不全，请补充后重新报送。"
            reply = c.call("review", "POST", f"/api/v1/reports/{report_id}/review", body)
            if reply is None:
                c.shared.submitted(report_id, aid, unit)  # try again later
                return
            with c.stats_lock:
                c.stats.written.append(Written("review", report_id, aid, decision))
            c.shared.give_back(unit, aid)
            return
    if r < 0.75:
        c.call("list_100", "GET", LIST_100.format(page=c.rng.randint(1, c.pages)))
    else:
        c.call("filtered", "GET", FILTERED.format(plan=c.rng.choice(c.plans)))


def prepare(url: URL, data: dict[str, Any]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Each unit's assignments, and those it may report on now (not completed, not awaiting
    review), from the working copy."""
    app = make_api_app(url)
    own: dict[int, list[int]] = defaultdict(list)
    reportable: dict[int, list[int]] = defaultdict(list)
    with app.app_context():
        for aid, uid, status in db.session.execute(
            select(Assignment.id, Assignment.unit_id, Assignment.status).order_by(Assignment.id)
        ):
            own[uid].append(aid)
            if status not in ("completed", "submitted"):
                reportable[uid].append(aid)
        db.session.remove()
        db.engine.dispose()
    rng = random.Random(7)
    for ids in reportable.values():
        rng.shuffle(ids)
    return own, reportable


def check_writes(url: URL, written: list[Written]) -> dict[str, Any]:
    """Every acknowledged write, looked up in the database afterwards."""
    app = make_api_app(url)
    lost: list[str] = []
    with app.app_context():
        reports = {
            r.id: r
            for r in db.session.execute(
                select(
                    ProgressReport.id,
                    ProgressReport.assignment_id,
                    ProgressReport.progress,
                ).where(ProgressReport.progress.startswith(MARK))
            )
        }
        reviews: dict[int, list[str]] = defaultdict(list)
        for report_id, decision in db.session.execute(
            select(Review.report_id, Review.decision).where(
                Review.report_id.in_([w.report_id for w in written if w.kind == "review"] or [0])
            )
        ):
            reviews[report_id].append(decision)
        n_reviews_stored = db.session.scalar(
            select(func.count())
            .select_from(Review)
            .join(ProgressReport, ProgressReport.id == Review.report_id)
            .where(ProgressReport.progress.startswith(MARK))
        )
        db.session.remove()
        db.engine.dispose()
    acked_reports = [w for w in written if w.kind == "report"]
    acked_reviews = [w for w in written if w.kind == "review"]
    for w in acked_reports:
        row = reports.get(w.report_id)
        if row is None or row.assignment_id != w.assignment_id or row.progress != w.value:
            lost.append(f"report {w.report_id} on assignment {w.assignment_id}")
    for w in acked_reviews:
        if w.value not in reviews.get(w.report_id, []):
            lost.append(f"review ({w.value}) of report {w.report_id}")
    return {
        "reports_acknowledged": len(acked_reports),
        "reports_stored": len(reports),
        "reviews_acknowledged": len(acked_reviews),
        "reviews_stored": n_reviews_stored,
        "lost": len(lost),
        "lost_samples": lost[:10],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_API_DB, help=f"default {DEFAULT_API_DB}")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the working copy afterwards")
    args = parser.parse_args(argv)
    if args.clients < 2 or not 1 <= args.duration <= 3600:
        parser.error("--clients at least 2; --duration from 1 to 3600 s")
    base = api_database_url(args.db)
    data = load_ledger(base)
    backend = base.get_backend_name()
    log(f"copying the ledger ({backend}) to a working database")
    url = working_copy(base, "load")
    stats = Stats()
    try:
        own, reportable = prepare(url, data)
        info = machine(url)
        units = sorted(own)
        office = [t["token"] for t in data["tokens"] if t["role"] == "office"]
        unit_token: dict[int, str] = {}
        for t in data["tokens"]:
            if t["role"] == "unit":
                unit_token.setdefault(t["unit_id"], t["token"])
        shared = Shared(reportable)
        lock = threading.Lock()
        log_path = DATA_DIR / f"load_api.{backend}.gunicorn.log"
        log(f"starting gunicorn ({args.workers} workers); its log: {log_path}")
        with log_path.open("w") as server_log:
            server = Gunicorn(url, args.workers, output=server_log)
            try:
                server.warm_up("/api/v1/assignments/?open=true", office[0])
                stop_at = time.monotonic() + args.duration
                clients: list[Client] = []
                n_office = max(1, args.clients // 5)
                for n in range(args.clients):
                    is_office = n >= args.clients - n_office
                    c = Client(
                        n,
                        server.port,
                        stop_at,
                        shared,
                        stats,
                        lock,
                        office_client if is_office else unit_client,
                    )
                    if is_office:
                        c.token = office[n % len(office)]
                        c.plans = [p["code"] for p in data["plans"]]
                        c.pages = max(1, data["open_assignments"] // 100)
                    else:
                        c.unit = units[n % len(units)]
                        c.token = unit_token[c.unit]
                        c.own = own[c.unit]
                    clients.append(c)
                log(
                    f"{args.clients} clients ({args.clients - n_office} units, {n_office} office) "
                    f"for {args.duration:g} s"
                )
                cpu_before = resource.getrusage(resource.RUSAGE_SELF)
                started = time.monotonic()
                for c in clients:
                    c.start()
                last_log = started
                while any(c.is_alive() for c in clients):
                    time.sleep(0.2)
                    left = stop_at - time.monotonic()
                    if left > 0 and time.monotonic() - last_log >= 10:
                        last_log = time.monotonic()
                        log(
                            f"  {sum(len(v) for v in stats.client_ms.values()):,} requests, "
                            f"{left:.0f} s left"
                        )
                    if left < -60:
                        raise SystemExit("clients still running a minute after the end")
                # Until the last client's last answer (each finishes the request it was in).
                elapsed = max(c.finished_at for c in clients) - started
                cpu_after = resource.getrusage(resource.RUSAGE_SELF)
                rss = {str(pid): round(rss_mib(pid), 1) for pid in server.worker_pids()}
            finally:
                server.stop()
        log("checking every acknowledged write in the database")
        writes = check_writes(url, stats.written)
    finally:
        if not args.keep:
            drop_copy(url)

    total = sum(len(v) for v in stats.client_ms.values())
    server_errors = sum(n for by in stats.statuses.values() for s, n in by.items() if s >= 500)
    kinds: dict[str, dict[str, Any]] = {
        kind: {
            "requests": len(stats.client_ms[kind]),
            "per_s": round(len(stats.client_ms[kind]) / elapsed, 1),
            "statuses": dict(stats.statuses[kind]),
            "client_ms": percentiles(stats.client_ms[kind]),
            "server_ms": percentiles(stats.server_ms[kind]),
        }
        for kind in sorted(stats.client_ms)
    }
    everything = percentiles([x for v in stats.client_ms.values() for x in v])
    passed = server_errors == 0 and not stats.transport_errors and writes["lost"] == 0
    info["load_average_after"] = machine()["load_average"]
    print(
        f"{backend}: gunicorn {args.workers} workers, {args.clients} clients, "
        f"{elapsed:.0f} s; {info['nproc']} × {info['cpu']}, {info['date']}"
    )
    print(
        f"{total:,} requests, {total / elapsed:.1f}/s; all: median {everything['median']} "
        f"p95 {everything['p95']} p99 {everything['p99']} ms"
    )
    print(f"{'kind':<12}{'n':>7}{'/s':>7}{'median':>9}{'p95':>8}{'p99':>8}{'server':>9}  statuses")
    for kind, figures in kinds.items():
        cm, sm = figures["client_ms"], figures["server_ms"]
        print(
            f"{kind:<12}{figures['requests']:>7}{figures['per_s']:>7}{cm['median']:>9.1f}"
            f"{cm['p95']:>8.1f}{cm['p99']:>8.1f}{sm.get('median', 0):>9.1f}  {figures['statuses']}"
        )
    print(
        f"server errors: {server_errors}, broken connections: {len(stats.transport_errors)}, "
        f"other unexpected answers: {len(stats.unexpected)}"
    )
    print(
        f"writes: {writes['reports_acknowledged']} reports and {writes['reviews_acknowledged']} "
        f"reviews acknowledged; {writes['reports_stored']} and {writes['reviews_stored']} stored; "
        f"lost {writes['lost']}"
    )
    print(f"RSS per worker MiB: {rss}")
    print("PASS" if passed else "FAIL")
    log_json(
        {
            "db": backend,
            "workers": args.workers,
            "clients": args.clients,
            "seconds": round(elapsed, 1),
            "load_generator": "python threads + http.client, loopback, closed loop",
            "machine": info,
            "requests": total,
            "requests_per_s": round(total / elapsed, 1),
            "latency_ms": everything,
            "kinds": kinds,
            "server_errors": server_errors,
            "transport_errors": len(stats.transport_errors),
            "transport_error_samples": stats.transport_errors[:5],
            "unexpected": len(stats.unexpected),
            "unexpected_samples": stats.unexpected[:5],
            "writes": writes,
            "client_cpu_s": round(
                cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime,
                1,
            ),
            "rss_mib": rss,
            "passed": passed,
        }
    )
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
