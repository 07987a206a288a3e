"""Server time of the everyday pages on the province-scale workload, under gunicorn.

    .venv/bin/python bench/bench_pages.py --db URL [--workers 2] [--requests 100] [--warmup 10]

Starts ``gunicorn --workers 2 wsgi:app`` on 127.0.0.1 against the database that
bench/generate.py built, signs in as the synthetic province's office user, and requests each
page in turn (one client, so the figures are server time, not queueing): the dashboard of the
big plan, the ledger's first page without and with filters, and the item page (an assignment
with its milestones, reports and trail) plus the plan item page. Pages are interleaved, so
machine noise hits all of them alike. The server time is the app's own ``Server-Timing``
header; the client time (request sent to last byte read, over loopback) is reported beside it.
Prints a table, then one JSON line with every figure. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR, DATA_DIR, DEFAULT_DB, PLAN_CODE, database_url, log, make_app
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, ProgressReport
from taskhub.units.models import Unit

PROJECT = BENCH_DIR.parent
#: The issue's goals, median server time in ms.
GOALS = {"dashboard": 150.0, "ledger": 50.0, "ledger_filtered": 50.0, "item": 50.0}
OFFICE_USER, PASSWORD = "bench-office", "bench-only"


@dataclass
class Page:
    name: str
    path: str
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """A minimal cookie-keeping HTTP client on loopback (a new connection per request, as
    gunicorn's sync workers close them)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        headers = {"Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        conn.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, dict(response.headers.items()), payload, elapsed

    def sign_in(self, username: str, password: str) -> None:
        status, _, page, _ = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        if status != 200 or token is None:
            raise SystemExit(f"login page: HTTP {status}, no CSRF token")
        status, headers, _, _ = self.request(
            "POST",
            "/login",
            {"csrf_token": token.group(1).decode(), "username": username, "password": password},
        )
        if status != 302 or "/login" in headers.get("Location", ""):
            raise SystemExit(f"could not sign in as {username} (HTTP {status})")


def targets(url: str) -> list[Page]:
    """The pages to time, with ids read from the benchmark database."""
    app = make_app(database_url(url))
    with app.app_context():
        plan = db.session.scalars(select(Plan).where(Plan.code == PLAN_CODE)).one_or_none()
        if plan is None:
            raise SystemExit(f"no plan {PLAN_CODE}: run bench/generate.py --db {url} first")
        # The busiest assignment of the plan: the item page at its heaviest.
        busiest = db.session.execute(
            select(ProgressReport.assignment_id, func.count())
            .join(Assignment, Assignment.id == ProgressReport.assignment_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == plan.id)
            .group_by(ProgressReport.assignment_id)
            .order_by(func.count().desc(), ProgressReport.assignment_id)
            .limit(1)
        ).one()
        assignment = db.session.get(Assignment, busiest[0])
        assert assignment is not None
        unit = db.session.get(Unit, assignment.unit_id)
        assert unit is not None
        item_id, unit_id = assignment.item_id, unit.id
        db.session.remove()
    filters = urllib.parse.urlencode(
        {"plan": PLAN_CODE, "status": "in_progress", "light": "red", "sort": "due"}
    )
    return [
        Page("dashboard", f"/plans/{PLAN_CODE}/dashboard"),
        Page("ledger", "/ledger"),
        Page("ledger_filtered", f"/ledger?{filters}"),
        Page("ledger_unit", f"/ledger?plan={PLAN_CODE}&unit={unit_id}"),
        Page("item", f"/assignments/{busiest[0]}"),
        Page("plan_item", f"/items/{item_id}"),
    ]


def start_gunicorn(url: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        TASKHUB_DATABASE_URL=database_url(url).render_as_string(hide_password=False),
        TASKHUB_SECRET_KEY="bench-only-secret-key-not-for-production-use",
        TASKHUB_INSTANCE_PATH=str(DATA_DIR),
        TASKHUB_EVIDENCE_PATH=str(DATA_DIR / "evidence"),
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=PROJECT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit("gunicorn exited at start") from None
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start within 60 s")


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per page first")
    args = parser.parse_args(argv)

    pages = targets(args.db)
    port = free_port()
    log(f"starting gunicorn ({args.workers} workers) on 127.0.0.1:{port}")
    server = start_gunicorn(args.db, args.workers, port)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        client = Client(port)
        client.sign_in(OFFICE_USER, PASSWORD)
        for round_ in range(args.warmup + args.requests):
            for page in pages:
                status, headers, body, elapsed = client.request("GET", page.path)
                if status != 200:
                    raise SystemExit(f"{page.name} {page.path}: HTTP {status}")
                if round_ < args.warmup:
                    continue
                timing = re.search(r"app;dur=([\d.]+)", headers.get("Server-Timing", ""))
                if timing is None:
                    raise SystemExit(f"{page.name}: no Server-Timing header")
                page.server_ms.append(float(timing.group(1)))
                page.client_ms.append(elapsed)
                page.sizes.append(len(body))
            if (round_ + 1) % 20 == 0:
                log(f"round {round_ + 1}/{args.warmup + args.requests}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())

    backend = database_url(args.db).get_backend_name()
    print(f"{backend}: gunicorn {args.workers} workers, {args.requests} requests per page")
    print(f"load average before {load_before}, after {load_after}")
    print(f"{'page':<16}{'server median':>14}{'p95':>9}{'client median':>15}{'p95':>9}  goal")
    results: dict[str, Any] = {}
    for page in pages:
        server_stats, client_stats = summary(page.server_ms), summary(page.client_ms)
        goal = GOALS.get(page.name)
        met = None if goal is None else server_stats["median_ms"] <= goal
        results[page.name] = {
            "path": page.path,
            "server": server_stats,
            "client": client_stats,
            "bytes": int(statistics.median(page.sizes)),
            "goal_median_ms": goal,
            "meets_goal": met,
        }
        verdict = "" if goal is None else f"≤ {goal:.0f} ms: {'met' if met else 'MISSED'}"
        print(
            f"{page.name:<16}{server_stats['median_ms']:>14.1f}{server_stats['p95_ms']:>9.1f}"
            f"{client_stats['median_ms']:>15.1f}{client_stats['p95_ms']:>9.1f}  {verdict}"
        )
    print(
        json.dumps(
            {
                "db": backend,
                "workers": args.workers,
                "requests": args.requests,
                "warmup": args.warmup,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average": [load_before, load_after],
                "pages": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
