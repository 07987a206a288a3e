"""Issue #6's speed goals for the JSON API, on the API ledger, under gunicorn.

    .venv/bin/python bench/bench_api.py --db URL [--workers 2] [--requests 500] [--warmup 30]
        [--clients 8] [--duration 20] [--throughput-rounds 1] [--reminder-runs 5]
        [--busy-cores N] [--profile]

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

``--busy-cores N`` (issue 17) starts N separate processes that each spin one core with a plain
busy loop (``python -c "while True: pass"``) for the whole measurement, and measures every phase
twice, taking turns: with them ("busy") and with them paused by SIGSTOP ("idle", the same-run
baseline). One-client rounds alternate in blocks of 25 (each block's median is kept, for the
spread), throughput windows and reminder runs alternate one by one. Each phase records the CPU
the busy processes really got (on a machine loaded by others they get less than a core) and the
load average; the reminders job also its CPU time (this process and the SMTP sink). The JSON
line has ``results`` (the first condition) and ``conditions`` (both).

Client time is from sending the request to reading the last byte; server time is the app's own
``Server-Timing: app;dur=…`` header. Percentiles are nearest-rank. Prints tables, then one JSON
line with every figure. Progress goes to stderr. ``--profile`` runs each request kind and the
reminders job under pyinstrument in this process (not under gunicorn) and prints where the time
goes (cProfile when pyinstrument is not installed); with ``--busy-cores`` the busy
processes spin meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import resource
import signal
import statistics
import subprocess
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

from taskhub.core.db import db, now_utc
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


#: The two conditions of a run with --busy-cores: with the spinning processes, and without.
BUSY, IDLE = "busy", "idle"
#: One-client rounds in a row under one condition before switching to the other.
BLOCK_ROUNDS = 25


class BusyCores:
    """``n`` separate processes, each spinning one core with a plain busy loop
    (``python -c "while True: pass"``) from start to stop. For the same-run baseline they are
    paused (SIGSTOP) and resumed (SIGCONT) rather than started anew; ``cpu_s`` tells how much
    CPU they really got, so a report can say whether the load was there."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.processes: list[subprocess.Popen[bytes]] = []
        self.on = False

    def __enter__(self) -> BusyCores:
        self.processes = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)
        ]
        self.on = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        for p in self.processes:
            p.kill()  # SIGKILL ends a stopped process too
        for p in self.processes:
            p.wait()
        self.processes = []

    def set(self, on: bool) -> None:
        if on != self.on:
            for p in self.processes:
                os.kill(p.pid, signal.SIGCONT if on else signal.SIGSTOP)
            self.on = on

    def condition(self, name: str) -> None:
        """Load or unload the cores for ``name`` (BUSY or IDLE)."""
        self.set(name == BUSY)

    def cpu_s(self) -> float:
        return sum(cpu_ticks(p.pid) for p in self.processes) / os.sysconf("SC_CLK_TCK")


class Phase:
    """Wall time, the busy processes' CPU and the load average over one timed stretch."""

    def __init__(self, busy: BusyCores) -> None:
        self.busy = busy
        self.wall = 0.0
        self.busy_cpu = 0.0
        self.loads: list[float] = []

    @contextlib.contextmanager
    def timing(self) -> Any:
        self.loads.append(os.getloadavg()[0])
        started, cpu = time.monotonic(), self.busy.cpu_s()
        try:
            yield
        finally:
            self.wall += time.monotonic() - started
            self.busy_cpu += self.busy.cpu_s() - cpu
            self.loads.append(os.getloadavg()[0])

    def figures(self) -> dict[str, Any]:
        return {
            # Cores' worth of CPU the spinning processes got: 1.0 per busy core at most.
            "busy_cores_cpu": round(self.busy_cpu / self.wall, 2) if self.wall else None,
            "load_average_1min": [round(min(self.loads), 2), round(max(self.loads), 2)]
            if self.loads
            else None,
        }


def spread(values: list[float]) -> dict[str, float]:
    """Median and the lowest and highest of per-round figures."""
    if not values:
        return {}
    return {
        "rounds": len(values),
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def expect(reply: Reply, status: int, what: str) -> Reply:
    if reply.status != status:
        raise SystemExit(f"{what}: HTTP {reply.status} (expected {status}): {reply.body[:300]!r}")
    return reply


def report_body(n: int) -> dict[str, Any]:
    return {"progress": f"基准测试报送第{n}条：已完成阶段性工作，系统已上线试运行。", "percent": 50}


def one_client(
    port: int, ledger: Ledger, rounds: int, warmup: int, busy: BusyCores, conditions: list[str]
) -> dict[str, dict[str, Any]]:
    """Interleaved rounds: list_100, unit_open, report; so machine noise hits all alike.

    With two conditions (busy cores on and off) the rounds go in blocks of BLOCK_ROUNDS,
    alternating, ``rounds`` timed ones for each condition; each block's medians are kept too.
    """
    kinds = ("list_100", "unit_open", "report")
    series = {c: {name: Series(name) for name in kinds} for c in conditions}
    blocks: dict[str, dict[str, list[float]]] = {
        c: {name: [] for name in kinds} for c in conditions
    }
    phases = {c: Phase(busy) for c in conditions}
    http = Http(port)
    units = ledger.units
    total = warmup + rounds * len(conditions)
    r = 0
    while r < total:
        timed = r >= warmup
        block = (r - warmup) // BLOCK_ROUNDS if timed else 0
        condition = conditions[block % len(conditions)]
        busy.condition(condition)
        size = min(BLOCK_ROUNDS, total - r) if timed else warmup
        mine = {name: Series(name) for name in kinds}
        with phases[condition].timing():
            for r in range(r, r + size):  # noqa: B020 (goes on from the block's last round)
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
                body = report_body(r)
                replies["report"] = expect(http.post_json(path, body, token=token), 201, path)
                for name, reply in replies.items():
                    mine[name].add(reply)
                if (r + 1) % 100 == 0:
                    log(f"  round {r + 1}/{total}")
        r += 1
        if timed:
            for name in kinds:
                s = series[condition][name]
                s.client_ms += mine[name].client_ms
                s.server_ms += mine[name].server_ms
                s.sizes += mine[name].sizes
                blocks[condition][name].append(statistics.median(mine[name].client_ms))
    http.close()
    if b'"next_milestone"' not in replies["list_100"].body:
        raise SystemExit("list_100: no next_milestone in the answer")
    return {
        c: {
            **{
                name: {**series[c][name].figures(), "block_medians_ms": spread(blocks[c][name])}
                for name in kinds
            },
            "phase": phases[c].figures(),
        }
        for c in conditions
    }


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


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reminders(
    url: URL, as_of: date, runs: int, busy: BusyCores, conditions: list[str]
) -> dict[str, dict[str, Any]]:
    """Time the reminders job (decide + deliver) as the scheduler runs it, ``runs`` times for
    each condition, the conditions taking turns (busy, idle, idle, busy, …)."""
    sink = SmtpSink().start()
    app = make_api_app(url)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_TLS=False)
    spec = get_job("reminders")
    assert spec is not None
    seconds: dict[str, list[float]] = {c: [] for c in conditions}
    # CPU time of this process (all its threads) and of the SMTP sink during each run: what
    # the job costs whatever else the machine does (the wall time also waits for the CPU).
    cpu_seconds: dict[str, list[float]] = {c: [] for c in conditions}
    phases = {c: Phase(busy) for c in conditions}
    split: dict[str, dict[str, float]] = {}
    result: dict[str, Any] = {}
    counts: dict[str, int] = {}
    held: int | None = 0
    deferred = 0
    held_mails: int | None = 0
    order = [conditions[0]]  # the first run warms the process up, untimed
    for run in range(runs):
        order += conditions if run % 2 == 0 else conditions[::-1]
    try:
        with app.app_context():
            for run, condition in enumerate(order):
                busy.condition(condition)
                db.session.execute(delete(OutboxMessage))
                db.session.execute(delete(Notification))
                db.session.execute(delete(JobRun))
                db.session.commit()
                db.session.expire_all()
                gc.collect()
                before = sink.count()
                with phases[condition].timing():
                    cpu_before = own_cpu_s() + sink.cpu_s()
                    started = time.perf_counter()
                    result = run_job(spec, as_of)
                    elapsed = time.perf_counter() - started
                    cpu = own_cpu_s() + sink.cpu_s() - cpu_before
                mails = sink.count() - before
                counts = dict(
                    db.session.execute(
                        select(OutboxMessage.channel, func.count()).group_by(OutboxMessage.channel)
                    ).all()
                )
                # Digests held by quiet hours (the co-handling reminders keep 22:00-08:00,
                # Beijing time, whatever the rules say) wait, pending and untried.
                held = db.session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.status == "pending",
                        OutboxMessage.attempts == 0,
                        OutboxMessage.next_attempt_at > now_utc(),
                    )
                )
                # Digests due now that the run's delivery batch did not reach: the next run
                # (a minute later) sends them. In the daytime (00:00-14:00 UTC) the co-handling
                # digests are due too and the day's 762 exceed one batch of DELIVERY_BATCH.
                deferred = 0
                if result.get("sent", 0) >= services.DELIVERY_BATCH:
                    deferred = (
                        db.session.scalar(
                            select(func.count())
                            .select_from(OutboxMessage)
                            .where(
                                OutboxMessage.status == "pending",
                                OutboxMessage.attempts == 0,
                                OutboxMessage.next_attempt_at <= now_utc(),
                            )
                        )
                        or 0
                    )
                unsent = (
                    (
                        db.session.scalar(
                            select(func.count())
                            .select_from(OutboxMessage)
                            .where(OutboxMessage.status != "sent")
                        )
                        or 0
                    )
                    - (held or 0)
                    - deferred
                )
                held_mails = db.session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.status == "pending",
                        OutboxMessage.channel == "email",
                    )
                )
                db.session.rollback()
                if unsent:
                    raise SystemExit(f"reminders: {unsent} outbox rows not sent: {result}")
                if mails != counts.get("email", 0) - (held_mails or 0):
                    raise SystemExit(f"reminders: {mails} mails received, {counts} queued")
                log(
                    f"  reminders run {run} ({condition}): {elapsed:.3f} s, "
                    f"CPU {cpu:.3f} s, {result}"
                )
                if run:
                    seconds[condition].append(elapsed)
                    cpu_seconds[condition].append(cpu)
            for condition in conditions:
                busy.condition(condition)
                split[condition] = reminder_phases(as_of)
            db.session.remove()
            db.engine.dispose()
    finally:
        sink.stop()
    return {
        c: {
            "seconds": percentiles(seconds[c]),
            "runs_s": [round(x, 3) for x in seconds[c]],
            "cpu_s": percentiles(cpu_seconds[c]),
            "phases_s": split[c],
            "result": result,
            "outbox_by_channel": counts,
            "mails_received": counts.get("email", 0) - (held_mails or 0),
            "held_by_quiet_hours": held,
            "left_for_the_next_run": deferred,
            "phase": phases[c].figures(),
        }
        for c in conditions
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


class CProfiler:
    """cProfile behind the two calls of pyinstrument's Profiler used here (when pyinstrument
    is not installed): cumulative time for the tree, own time for the flat list."""

    def __init__(self, interval: float = 0.0) -> None:
        import cProfile

        self.profile = cProfile.Profile()

    def start(self) -> None:
        self.profile.enable()

    def stop(self) -> None:
        self.profile.disable()

    def output_text(self, *, flat: bool = False, **_: Any) -> str:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(self.profile, stream=out).strip_dirs()
        stats.sort_stats("tottime" if flat else "cumulative").print_stats(45)
        return out.getvalue()


def profile(url: URL, ledger: Ledger) -> None:
    """Each request kind and the reminders job under pyinstrument, in this process (the
    request kinds through Flask's test client): the call tree, then the functions by own time."""
    Profiler: Any
    try:
        from pyinstrument import Profiler
    except ImportError:  # the standard library's deterministic profiler instead
        Profiler = CProfiler
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


def throughput_rounds(
    server: Gunicorn,
    token: str,
    args: argparse.Namespace,
    busy: BusyCores,
    conditions: list[str],
) -> dict[str, dict[str, Any]]:
    """``--throughput-rounds`` windows of ``--duration`` s per condition, taking turns."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in conditions}
    phases = {c: Phase(busy) for c in conditions}
    for n in range(args.throughput_rounds):
        for condition in conditions if n % 2 == 0 else conditions[::-1]:
            busy.condition(condition)
            with phases[condition].timing():
                runs[condition].append(
                    many_clients(server, token, LIST_100, args.clients, args.duration, 3.0)
                )
            log(f"  {condition}: {runs[condition][-1]['requests_per_s']} requests/s")
    out: dict[str, dict[str, Any]] = {}
    for c in conditions:
        rates = [r["requests_per_s"] for r in runs[c]]
        # The round with the median rate stands for the condition; all rounds are kept.
        middle = sorted(runs[c], key=lambda r: r["requests_per_s"])[(len(rates) - 1) // 2]
        out[c] = {
            **middle,
            "requests_per_s": round(statistics.median(rates), 1),
            "requests_per_s_rounds": spread(rates),
            "errors": sum(r["errors"] for r in runs[c]),
            "rounds": runs[c],
            "phase": phases[c].figures(),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_API_DB, help=f"default {DEFAULT_API_DB}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--requests", type=int, default=500, help="timed rounds, one client (per condition)"
    )
    parser.add_argument("--warmup", type=int, default=30, help="untimed rounds first")
    parser.add_argument("--clients", type=int, default=8, help="threads for the throughput run")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of that run")
    parser.add_argument(
        "--throughput-rounds", type=int, default=1, help="throughput runs (per condition)"
    )
    parser.add_argument("--reminder-runs", type=int, default=5, help="timed (per condition)")
    parser.add_argument(
        "--busy-cores",
        type=int,
        default=0,
        help="processes that each spin one core during the measurements; every phase is "
        "then measured with them and without them (paused), taking turns",
    )
    parser.add_argument("--profile", action="store_true", help="where the time goes, in-process")
    parser.add_argument("--keep", action="store_true", help="keep the working copy afterwards")
    args = parser.parse_args(argv)
    base = api_database_url(args.db)
    data = load_ledger(base)
    backend = base.get_backend_name()
    conditions = [BUSY, IDLE] if args.busy_cores else [IDLE]
    log(f"copying the ledger ({backend}) to a working database")
    url = working_copy(base, "run")
    try:
        ledger = Ledger(url, data)
        if args.profile:
            with BusyCores(args.busy_cores):
                profile(url, ledger)
            return
        info = machine(url)
        log_path = DATA_DIR / f"bench_api.{backend}.gunicorn.log"
        log(f"starting gunicorn ({args.workers} workers); its log: {log_path}")
        with BusyCores(args.busy_cores) as busy, log_path.open("w") as server_log:
            if args.busy_cores:
                log(f"{args.busy_cores} busy-loop processes: {[p.pid for p in busy.processes]}")
            server = Gunicorn(url, args.workers, output=server_log)
            try:
                server.warm_up(UNIT_OPEN, ledger.office[0])
                log(f"1/4 one client: {args.warmup} + {args.requests} rounds × {conditions}")
                single = one_client(
                    server.port, ledger, args.requests, args.warmup, busy, conditions
                )
                log(f"2/4 {args.clients} clients, {args.throughput_rounds} × {args.duration:g} s")
                throughput = throughput_rounds(server, ledger.office[0], args, busy, conditions)
                workers = server.worker_pids()
                rss = {str(pid): round(rss_mib(pid), 1) for pid in workers}
                master_rss = round(rss_mib(server.process.pid), 1)
            finally:
                server.stop()
            log(f"3/4 reminders job, {args.reminder_runs} runs × {conditions}")
            job = reminders(url, ledger.as_of, args.reminder_runs, busy, conditions)
        log("4/4 done")
    finally:
        if not args.keep:
            drop_copy(url)

    info["load_average_after"] = machine()["load_average"]
    by_condition: dict[str, dict[str, Any]] = {}
    for c in conditions:
        results: dict[str, Any] = dict(single[c])
        results["list_100_throughput"] = throughput[c]
        results["reminders"] = job[c]
        results["rss_mib"] = {"workers": rss, "master": master_rss}
        results["verdicts"] = {
            "list_100": verdict("list_100", results["list_100"]["client_ms"]["median"]),
            "unit_open": verdict("unit_open", results["unit_open"]["client_ms"]["median"]),
            "report": verdict("report", results["report"]["client_ms"]["median"]),
            "list_100_throughput": verdict("list_100_throughput", throughput[c]["requests_per_s"]),
            "reminders": verdict("reminders", job[c]["seconds"]["median"]),
            "rss": verdict("rss", max(rss.values())),
        }
        by_condition[c] = results

    print(f"{backend}: gunicorn {args.workers} workers, {args.requests} requests per kind")
    print(
        f"{info['nproc']} × {info['cpu']}, {info['mem_gib']} GiB, {info['date']}, commit "
        f"{info['commit']}{' + changes' if info['taskhub_changed'] else ''}, load average "
        f"{info['load_average']} → {info['load_average_after']}"
    )
    for c in conditions:
        results = by_condition[c]
        checks = results["verdicts"]
        if args.busy_cores:
            what = f"{args.busy_cores} busy core(s)" if c == BUSY else "without them (paused)"
            print(f"\n== {c}: {what}; {describe_phases(results)}")
        print(
            f"{'request':<12}{'client':>9}{'p95':>8}{'p99':>8}{'server':>9}{'p95':>8}{'p99':>8}"
            f"{'blocks':>14}"
        )
        for name in ("list_100", "unit_open", "report"):
            cl, sv = results[name]["client_ms"], results[name]["server_ms"]
            b = results[name]["block_medians_ms"]
            print(
                f"{name:<12}{cl['median']:>9.1f}{cl['p95']:>8.1f}{cl['p99']:>8.1f}"
                f"{sv['median']:>9.1f}{sv['p95']:>8.1f}{sv['p99']:>8.1f}"
                f"{b['min']:>7.1f}–{b['max']:<6.1f}  {checks[name]}"
            )
        t = results["list_100_throughput"]
        cl, rr = t["client_ms"], t["requests_per_s_rounds"]
        print(
            f"list_100 × {args.clients} clients: {t['requests_per_s']} requests/s "
            f"({rr['min']}–{rr['max']} over {rr['rounds']} rounds), client median "
            f"{cl['median']} p95 {cl['p95']} p99 {cl['p99']} ms, {t['errors']} errors  "
            f"{checks['list_100_throughput']}"
        )
        print(
            f"  workers' CPU per request {t['worker_cpu_ms_per_request']} ms "
            f"(capacity on {info['nproc']} idle cores ≈ {t['capacity_per_s_on_all_cores']}/s)"
        )
        j = results["reminders"]
        r = j["seconds"]
        print(
            f"reminders job: median {r['median']:.3f} s ({r['min']:.3f}–{r['max']:.3f} over "
            f"{r['n']} runs; CPU median {j['cpu_s']['median']:.3f} s; one more run: decide "
            f"{j['phases_s']['decide']} s, deliver "
            f"{j['phases_s']['deliver']} s), {j['result']}  {checks['reminders']}"
        )
    rss_check = by_condition[conditions[0]]["verdicts"]["rss"]
    print(f"RSS per worker MiB: {rss} (master {master_rss})  {rss_check}")
    log_json(
        {
            "db": backend,
            "workers": args.workers,
            "requests": args.requests,
            "warmup": args.warmup,
            "busy_cores": args.busy_cores,
            "busy_load": 'separate processes, each `python -c "while True: pass"`, paused '
            "(SIGSTOP) for the idle condition"
            if args.busy_cores
            else None,
            "load_generator": "python threads + http.client, loopback",
            "ledger": {k: v for k, v in data.items() if k != "tokens"},
            "machine": info,
            # The first condition's figures (with the busy cores when there are any) ...
            "results": by_condition[conditions[0]],
            # ... and each condition's, for the same-run baseline.
            "conditions": by_condition,
            "goals": {k: {"measure": m, "goal": g} for k, (m, g) in GOALS.items()},
            "verdicts": by_condition[conditions[0]]["verdicts"],
        }
    )


def describe_phases(results: dict[str, Any]) -> str:
    """The busy processes' CPU share and the load average in each phase of a condition."""
    parts = []
    for label, phase in (
        ("one client", results["phase"]),
        ("many clients", results["list_100_throughput"]["phase"]),
        ("reminders", results["reminders"]["phase"]),
    ):
        parts.append(
            f"{label}: busy loop got {phase['busy_cores_cpu']} core(s), load "
            f"{phase['load_average_1min'][0]}–{phase['load_average_1min'][1]}"
        )
    return "; ".join(parts)


if __name__ == "__main__":
    main()
