"""Issue #6's speed goals for the JSON API, on the API ledger, under gunicorn.

    .venv/bin/python bench/bench_api.py --db URL [--workers 2] [--requests 500] [--warmup 30]
        [--clients 8] [--duration 20] [--reminder-runs 5] [--profile]

Works on a fresh copy of the ledger that bench/generate_api.py built (the ledger itself never
changes), served by ``gunicorn --workers 2 wsgi:app`` on 127.0.0.1. The load generator is this
script: Python threads with http.client on loopback (gunicorn's sync workers close each
connection, so every request opens a new one, as a real client of this server would).

1. One client, interleaved rounds of three requests, each with a real API token:
   ``list_100``   GET /api/v1/assignments/?open=true&page_size=100 (office token): the 100-item
                  list of open assignments with their units and next milestone;
   ``unit_open``  GET /api/v1/assignments/?open=true with a unit's token (the 50 units in turn);
   ``report``     POST /api/v1/assignments/<id>/reports {"progress", "percent"} with the unit's
                  token, each on a different open assignment (201 expected).
2. ``list_100`` by ``--clients`` threads for ``--duration`` seconds: requests per second.
3. The scheduler's reminders job (``taskhub.jobs.services.run_job`` of the "reminders" job, as
   the scheduler runs it) as of the ledger's day: decide every digest, then deliver them all to
   a real SMTP server on 127.0.0.1 (aiosmtpd) and into the in-app notifications. The outbox is
   emptied before each run.
4. Resident memory (VmRSS) of each gunicorn worker after all that.

Client time is from sending the request to reading the last byte; server time is the app's own
``Server-Timing: app;dur=…`` header. Percentiles are nearest-rank. Prints tables, then one JSON
line with every figure. Progress goes to stderr. ``--profile`` runs each request kind and the
reminders job under pyinstrument in this process (not under gunicorn) and prints where the time
goes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_common import (
    DATA_DIR,
    DEFAULT_API_DB,
    Gunicorn,
    Http,
    Reply,
    SmtpSink,
    api_database_url,
    cpu_ticks,
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
from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.engine import URL

from taskhub.core.db import db
from taskhub.jobs.models import JobRun
from taskhub.jobs.registry import get_job
from taskhub.jobs.services import run_job
from taskhub.reminders import services
from taskhub.reminders.jobs import _calendar
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.tracking.models import Assignment

#: Issue #6's floors.
GOALS = {
    "list_100": ("median client ms", 17.0),
    "unit_open": ("median client ms", 5.0),
    "report": ("median client ms", 10.0),
    "list_100_throughput": ("requests/s", 100.0),
    "reminders": ("median s", 0.5),
    "rss": ("max MiB per worker", 120.0),
}
LIST_100 = "/api/v1/assignments/?open=true&page_size=100"
UNIT_OPEN = "/api/v1/assignments/?open=true"


@dataclass
class Series:
    name: str
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def add(self, reply: Reply) -> None:
        self.client_ms.append(reply.client_ms)
        if reply.server_ms is not None:
            self.server_ms.append(reply.server_ms)
        self.sizes.append(len(reply.body))

    def figures(self) -> dict[str, Any]:
        return {
            "client_ms": percentiles(self.client_ms),
            "server_ms": percentiles(self.server_ms),
            "bytes": sorted(self.sizes)[len(self.sizes) // 2] if self.sizes else 0,
        }


class Ledger:
    """Tokens and the open assignments each unit may report on, from the working copy."""

    def __init__(self, url: URL, data: dict[str, Any]) -> None:
        self.as_of = date.fromisoformat(data["as_of"])
        tokens = data["tokens"]
        self.office = [t["token"] for t in tokens if t["role"] == "office"]
        self.unit_token: dict[int, str] = {}
        for t in tokens:
            if t["role"] == "unit":
                self.unit_token.setdefault(t["unit_id"], t["token"])
        self.units = sorted(self.unit_token)
        app = make_api_app(url)
        with app.app_context():
            rows = db.session.execute(
                select(Assignment.id, Assignment.unit_id)
                .where(Assignment.status.notin_(("completed", "submitted")))
                .order_by(Assignment.id)
            ).all()
            db.session.remove()
            db.engine.dispose()
        self.reportable: dict[int, list[int]] = {}
        for aid, uid in rows:
            self.reportable.setdefault(uid, []).append(aid)
        rng = random.Random(6)
        for ids in self.reportable.values():
            rng.shuffle(ids)

    def next_reportable(self, unit: int) -> int | None:
        ids = self.reportable.get(unit)
        return ids.pop() if ids else None


def expect(reply: Reply, status: int, what: str) -> Reply:
    if reply.status != status:
        raise SystemExit(f"{what}: HTTP {reply.status} (expected {status}): {reply.body[:300]!r}")
    return reply


def report_body(n: int) -> dict[str, Any]:
    return {"progress": f"基准测试报送第{n}条：已完成阶段性工作，系统已上线试运行。", "percent": 50}


def one_client(port: int, ledger: Ledger, rounds: int, warmup: int) -> dict[str, Series]:
    """Interleaved rounds: list_100, unit_open, report; so machine noise hits all alike."""
    series = {name: Series(name) for name in ("list_100", "unit_open", "report")}
    http = Http(port)
    units = ledger.units
    for r in range(warmup + rounds):
        unit = units[r % len(units)]
        token = ledger.unit_token[unit]
        replies = {
            "list_100": expect(http.get(LIST_100, token=ledger.office[0]), 200, "list_100"),
            "unit_open": expect(http.get(UNIT_OPEN, token=token), 200, "unit_open"),
        }
        aid = ledger.next_reportable(unit)
        if aid is None:
            raise SystemExit(f"unit {unit} has no open assignment left to report on")
        path = f"/api/v1/assignments/{aid}/reports"
        replies["report"] = expect(http.post_json(path, report_body(r), token=token), 201, path)
        if r >= warmup:
            for name, reply in replies.items():
                series[name].add(reply)
        if (r + 1) % 100 == 0:
            log(f"  round {r + 1}/{warmup + rounds}")
    http.close()
    if len(series["list_100"].sizes) and b'"next_milestone"' not in replies["list_100"].body:
        raise SystemExit("list_100: no next_milestone in the answer")
    return series


def many_clients(
    server: Gunicorn, token: str, path: str, clients: int, duration: float, warmup: float
) -> dict[str, Any]:
    """``clients`` threads requesting ``path`` back to back for ``duration`` seconds."""
    series = Series("throughput")
    errors: list[str] = []
    lock = threading.Lock()
    start_at = time.monotonic() + warmup
    stop_at = start_at + duration

    def worker() -> None:
        http = Http(server.port, token=token)
        mine: list[Reply] = []
        while (now := time.monotonic()) < stop_at:
            try:
                reply = http.get(path)
            except OSError as exc:
                with lock:
                    errors.append(str(exc))
                continue
            if reply.status != 200:
                with lock:
                    errors.append(f"HTTP {reply.status}")
            elif now >= start_at:
                mine.append(reply)
        http.close()
        with lock:
            for reply in mine:
                series.add(reply)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    for t in threads:
        t.start()
    # The workers' own CPU time over the timed part: what a request costs whatever else the
    # machine is doing (other load stretches the wall-clock figures, not this one).
    time.sleep(max(0.0, start_at - time.monotonic()))
    workers = server.worker_pids()
    ticks_before = sum(cpu_ticks(pid) for pid in workers)
    time.sleep(max(0.0, stop_at - time.monotonic()))
    ticks_after = sum(cpu_ticks(pid) for pid in workers)
    for t in threads:
        t.join()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    tick = os.sysconf("SC_CLK_TCK")
    worker_cpu_ms = (ticks_after - ticks_before) * 1000 / tick / max(1, len(series.client_ms))
    client_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
        cpu_before.ru_utime + cpu_before.ru_stime
    )
    return {
        **series.figures(),
        "clients": clients,
        "seconds": duration,
        "requests": len(series.client_ms),
        "requests_per_s": round(len(series.client_ms) / duration, 1),
        "worker_cpu_ms_per_request": round(worker_cpu_ms, 2),
        # Requests per second the workers could serve with every core to themselves.
        "capacity_per_s_on_all_cores": round((os.cpu_count() or 1) * 1000 / worker_cpu_ms, 1)
        if worker_cpu_ms
        else None,
        "errors": len(errors),
        "error_samples": errors[:5],
        # The load generator shares the 2 cores with gunicorn: its own CPU, for the record.
        "client_cpu_s": round(client_cpu, 1),
    }


def reminders(url: URL, as_of: date, runs: int) -> dict[str, Any]:
    """Time the reminders job (decide + deliver) as the scheduler runs it, ``runs`` times."""
    sink = SmtpSink().start()
    app = make_api_app(url)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_TLS=False)
    spec = get_job("reminders")
    assert spec is not None
    seconds: list[float] = []
    result: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        with app.app_context():
            for run in range(runs + 1):  # the first run warms the process up, untimed
                db.session.execute(delete(OutboxMessage))
                db.session.execute(delete(Notification))
                db.session.execute(delete(JobRun))
                db.session.commit()
                db.session.expire_all()
                gc.collect()
                before = sink.count()
                started = time.perf_counter()
                result = run_job(spec, as_of)
                elapsed = time.perf_counter() - started
                mails = sink.count() - before
                counts = dict(
                    db.session.execute(
                        select(OutboxMessage.channel, func.count()).group_by(OutboxMessage.channel)
                    ).all()
                )
                unsent = db.session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status != "sent")
                )
                db.session.rollback()
                if unsent:
                    raise SystemExit(f"reminders: {unsent} outbox rows not sent: {result}")
                if mails != counts.get("email", 0):
                    raise SystemExit(f"reminders: {mails} mails received, {counts} queued")
                log(f"  reminders run {run}: {elapsed:.3f} s, {result}")
                if run:
                    seconds.append(elapsed)
            phases = reminder_phases(as_of)
            db.session.remove()
            db.engine.dispose()
    finally:
        sink.stop()
    return {
        "seconds": percentiles(seconds),
        "phases_s": phases,
        "result": result,
        "outbox_by_channel": counts,
        "mails_received": counts.get("email", 0),
    }


def reminder_phases(as_of: date) -> dict[str, float]:
    """One more run of the job's two steps, timed apart: decide (and commit), then deliver."""
    db.session.execute(delete(OutboxMessage))
    db.session.execute(delete(Notification))
    db.session.commit()
    days = _calendar(as_of)
    started = time.perf_counter()
    services.decide(as_of, days, base_url=current_app.config["BASE_URL"])
    db.session.commit()
    decided = time.perf_counter()
    services.deliver(current_app.config)
    delivered = time.perf_counter()
    return {
        "decide": round(decided - started, 3),
        "deliver": round(delivered - decided, 3),
    }


def profile(url: URL, ledger: Ledger) -> None:
    """Each request kind and the reminders job under pyinstrument, in this process (the
    request kinds through Flask's test client): the call tree, then the functions by own time."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    app = make_api_app(url)
    client = app.test_client()
    unit = ledger.units[0]

    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def report(n: int) -> Any:
        unit = ledger.units[n % len(ledger.units)]
        return client.post(
            f"/api/v1/assignments/{ledger.next_reportable(unit)}/reports",
            json=report_body(n),
            headers=header(ledger.unit_token[unit]),
        )

    calls: dict[str, Callable[[int], Any]] = {
        "list_100": lambda _: client.get(LIST_100, headers=header(ledger.office[0])),
        "unit_open": lambda _: client.get(UNIT_OPEN, headers=header(ledger.unit_token[unit])),
        "report": report,
    }

    def show(name: str, profiler: Any) -> None:
        print(f"\n=== {name} ===")
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        print(f"--- {name}: functions by own time ---")
        flat = profiler.output_text(unicode=True, color=False, flat=True)
        print("\n".join(flat.splitlines()[:40]))

    # The access log lines would bury the output; they are still formatted and written.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        for name, call in calls.items():
            for n in range(20):
                call(n)
            profiler = Profiler(interval=0.0002)
            profiler.start()
            for n in range(20, 220):
                response = call(n)
                assert response.status_code in (200, 201), response.get_data(as_text=True)[:300]
            profiler.stop()
            show(f"{name}: 200 requests in-process", profiler)
        app.config.update(SMTP_HOST="127.0.0.1")
        sink = SmtpSink().start()
        app.config["SMTP_PORT"] = sink.port
        spec = get_job("reminders")
        assert spec is not None
        try:
            with app.app_context():
                profiler = Profiler(interval=0.0002)
                profiler.start()
                result = run_job(spec, ledger.as_of)
                profiler.stop()
                db.session.remove()
        finally:
            sink.stop()
        show(f"reminders job: {result}", profiler)


def verdict(name: str, value: float) -> str:
    what, goal = GOALS[name]
    met = value >= goal if name.endswith("throughput") else value <= goal
    return f"{'met' if met else 'MISSED'} ({what} {'≥' if 'throughput' in name else '≤'} {goal:g})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_API_DB, help=f"default {DEFAULT_API_DB}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=500, help="timed rounds, one client")
    parser.add_argument("--warmup", type=int, default=30, help="untimed rounds first")
    parser.add_argument("--clients", type=int, default=8, help="threads for the throughput run")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of that run")
    parser.add_argument("--reminder-runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="where the time goes, in-process")
    parser.add_argument("--keep", action="store_true", help="keep the working copy afterwards")
    args = parser.parse_args(argv)
    base = api_database_url(args.db)
    data = load_ledger(base)
    backend = base.get_backend_name()
    log(f"copying the ledger ({backend}) to a working database")
    url = working_copy(base, "run")
    try:
        ledger = Ledger(url, data)
        if args.profile:
            profile(url, ledger)
            return
        info = machine(url)
        log_path = DATA_DIR / f"bench_api.{backend}.gunicorn.log"
        log(f"starting gunicorn ({args.workers} workers); its log: {log_path}")
        with log_path.open("w") as server_log:
            server = Gunicorn(url, args.workers, output=server_log)
            try:
                server.warm_up(UNIT_OPEN, ledger.office[0])
                log(f"1/4 one client: {args.warmup} + {args.requests} rounds")
                single = one_client(server.port, ledger, args.requests, args.warmup)
                log(f"2/4 {args.clients} clients for {args.duration:g} s")
                throughput = many_clients(
                    server, ledger.office[0], LIST_100, args.clients, args.duration, 3.0
                )
                workers = server.worker_pids()
                rss = {str(pid): round(rss_mib(pid), 1) for pid in workers}
                master_rss = round(rss_mib(server.process.pid), 1)
            finally:
                server.stop()
        log(f"3/4 reminders job, {args.reminder_runs} runs")
        job = reminders(url, ledger.as_of, args.reminder_runs)
        log("4/4 done")
    finally:
        if not args.keep:
            drop_copy(url)

    info["load_average_after"] = machine()["load_average"]
    results: dict[str, Any] = {name: s.figures() for name, s in single.items()}
    results["list_100_throughput"] = throughput
    results["reminders"] = job
    results["rss_mib"] = {"workers": rss, "master": master_rss}
    checks = {
        "list_100": verdict("list_100", results["list_100"]["client_ms"]["median"]),
        "unit_open": verdict("unit_open", results["unit_open"]["client_ms"]["median"]),
        "report": verdict("report", results["report"]["client_ms"]["median"]),
        "list_100_throughput": verdict("list_100_throughput", throughput["requests_per_s"]),
        "reminders": verdict("reminders", job["seconds"]["median"]),
        "rss": verdict("rss", max(rss.values())),
    }

    print(f"{backend}: gunicorn {args.workers} workers, {args.requests} requests per kind")
    print(f"{info['nproc']} × {info['cpu']}, {info['mem_gib']} GiB, {info['date']}")
    print(f"{'request':<12}{'client':>9}{'p95':>8}{'p99':>8}{'server':>9}{'p95':>8}{'p99':>8}")
    for name in ("list_100", "unit_open", "report"):
        c, s = results[name]["client_ms"], results[name]["server_ms"]
        print(
            f"{name:<12}{c['median']:>9.1f}{c['p95']:>8.1f}{c['p99']:>8.1f}"
            f"{s['median']:>9.1f}{s['p95']:>8.1f}{s['p99']:>8.1f}  {checks[name]}"
        )
    c = throughput["client_ms"]
    print(
        f"list_100 × {args.clients} clients: {throughput['requests_per_s']} requests/s, "
        f"client median {c['median']} p95 {c['p95']} p99 {c['p99']} ms, "
        f"{throughput['errors']} errors  {checks['list_100_throughput']}"
    )
    print(
        f"  workers' CPU per request {throughput['worker_cpu_ms_per_request']} ms "
        f"(capacity on {info['nproc']} idle cores ≈ {throughput['capacity_per_s_on_all_cores']}/s)"
    )
    r = job["seconds"]
    print(
        f"reminders job: median {r['median']:.3f} s (max {r['max']:.3f}; one more run: decide "
        f"{job['phases_s']['decide']} s, deliver {job['phases_s']['deliver']} s), "
        f"{job['result']}  {checks['reminders']}"
    )
    print(f"RSS per worker MiB: {rss} (master {master_rss})  {checks['rss']}")
    log_json(
        {
            "db": backend,
            "workers": args.workers,
            "requests": args.requests,
            "warmup": args.warmup,
            "load_generator": "python threads + http.client, loopback",
            "ledger": {k: v for k, v in data.items() if k != "tokens"},
            "machine": info,
            "results": results,
            "goals": {k: {"measure": m, "goal": g} for k, (m, g) in GOALS.items()},
            "verdicts": checks,
        }
    )


if __name__ == "__main__":
    main()
