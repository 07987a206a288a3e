"""App time of the timeline and of the dashboard's first view after a change (issue 15).

    .venv/bin/python bench/bench_timeline_dashboard.py --db URL [--rounds 7]

Runs the real app in process against the database that bench/generate.py built, signs in as
the synthetic province's office user through the login form, and reads each page's app time
from the ``Server-Timing`` header (the time inside the app, as bench_pages.py does; no HTTP
server, so no socket time). Each round:

1. forgets every cached figure and opens the big plan's dashboard (``dashboard_cold``: what
   a change that can move the ranking costs, e.g. a review that completes a milestone), then
   the timeline by unit and by area (``timeline_cold``, ``timeline_area_cold``);
2. submits a progress report through the service (tracking.services.submit_report: an
   audited change), then opens the dashboard (``dashboard_after_report``: the first view after
   the change) and again (``dashboard_cached``);
3. opens the timeline's page starting at today (``timeline_after_report``, then
   ``timeline_today``), a page by keyset in the middle of the year (``timeline_deep``), and by
   area today's page (``timeline_area_after_report``) and page 3 (``timeline_area_page``);
4. a report on a second-half milestone accepted through the review service
   (``dashboard_after_review``: the ranking may move) and a unit's field score entered
   (``dashboard_after_score``), each followed by the dashboard's first view;
5. the same-run baselines: ``/healthz`` and the ledger's first page.

Prints a table (median, min, max, spread = max − min over the rounds, and the median CPU time
of the request's thread), then one JSON line with
every sample. Each round adds one progress report to the benchmark database. Progress goes to
stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PLAN_CODE, database_url, log, make_app
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.plans.models import Item, Plan
from taskhub.scoring import rollup
from taskhub.scoring import services as scoring
from taskhub.scoring.models import ComponentScore, Period
from taskhub.tracking import services as tracking
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Milestone,
    MilestoneStatus,
    ProgressReport,
    ReportStatus,
)

OFFICE_USER, PASSWORD = "bench-office", "bench-only"
#: The issue's goal for the timeline and the dashboard's first view after a change (ms).
GOAL_MS = 300.0


def sign_in(client: FlaskClient) -> None:
    page = client.get("/login").data
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise SystemExit("login page: no CSRF token")
    response = client.post(
        "/login",
        data={"csrf_token": token.group(1).decode(), "username": OFFICE_USER, "password": PASSWORD},
    )
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {OFFICE_USER} (HTTP {response.status_code})")


def app_ms(client: FlaskClient, path: str) -> tuple[float, float, int]:
    """The app's time (Server-Timing), the CPU time of this thread (the app runs in it, and on
    SQLite the database too: steadier than wall time on a shared machine), and the size."""
    cpu = time.thread_time()
    response = client.get(path, headers={"Accept-Language": "zh-CN"})
    cpu_ms = (time.thread_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path}: HTTP {response.status_code}")
    timing = re.search(r"app;dur=([\d.]+)", response.headers.get("Server-Timing", ""))
    if timing is None:
        raise SystemExit(f"{path}: no Server-Timing header")
    return float(timing.group(1)), cpu_ms, len(response.data)


def submit_one(app: Flask, n: int) -> int:
    """A progress report on an open assignment of the big plan, as its unit would submit it."""
    with app.app_context():
        assignment = db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(
                Plan.code == PLAN_CODE,
                Assignment.status.in_(
                    [
                        AssignmentStatus.NEW.value,
                        AssignmentStatus.ACKNOWLEDGED.value,
                        AssignmentStatus.IN_PROGRESS.value,
                        AssignmentStatus.RETURNED.value,
                    ]
                ),
                ~Assignment.is_not_applicable,
            )
            .order_by(Assignment.id)
            .offset(n * 97)
            .limit(1)
        ).one()
        actor = db.session.scalars(select(User).where(User.username == OFFICE_USER)).one()
        tracking.submit_report(
            assignment,
            actor=actor,
            progress=f"基准测试进展 {n}",
            percent=min(100, assignment.percent + 5),
            storage=storage_for(app.config),
            max_bytes=app.config["MAX_UPLOAD_BYTES"],
        )
        db.session.commit()
        aid = assignment.id
        db.session.remove()
        return aid


def review_one(app: Flask, n: int) -> int:
    """A report on an open milestone due in the second half (the dashboard's period), accepted
    by the office through the review service: the milestone is done, the ranking may move."""
    with app.app_context():
        office = db.session.scalars(select(User).where(User.username == OFFICE_USER)).one()
        milestone = db.session.scalars(
            select(Milestone)
            .join(Assignment, Assignment.id == Milestone.assignment_id)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(
                Plan.code == PLAN_CODE,
                Milestone.status == MilestoneStatus.OPEN.value,
                Milestone.due_on >= date(2022, 7, 1),
                ~Assignment.is_not_applicable,
                Assignment.status != AssignmentStatus.COMPLETED.value,
                ~select(ProgressReport.id)
                .where(
                    ProgressReport.assignment_id == Assignment.id,
                    ProgressReport.status == ReportStatus.SUBMITTED.value,
                )
                .exists(),
            )
            .order_by(Milestone.id)
            .offset(n * 89)
            .limit(1)
        ).one()
        assignment = milestone.assignment
        report = tracking.submit_report(
            assignment,
            actor=office,
            progress=f"基准测试节点完成 {n}",
            percent=min(99, assignment.percent + 5),
            milestone_id=milestone.id,
            storage=storage_for(app.config),
            max_bytes=app.config["MAX_UPLOAD_BYTES"],
        )
        db.session.flush()
        tracking.review_report(report, actor=office, decision="accept")
        db.session.commit()
        unit_id = assignment.unit_id
        db.session.remove()
        return unit_id


def score_one(app: Flask, n: int) -> int:
    """The office enters a unit's 实地核查 (field) score for the dashboard's period."""
    with app.app_context():
        office = db.session.scalars(select(User).where(User.username == OFFICE_USER)).one()
        plan = db.session.scalars(select(Plan).where(Plan.code == PLAN_CODE)).one()
        unit_id = rollup.scored_units(plan)
        uid = sorted(unit_id)[(n * 131) % len(unit_id)]
        held = db.session.scalar(
            select(ComponentScore.value)
            .join(Period, Period.id == ComponentScore.period_id)
            .where(
                Period.plan_id == plan.id,
                Period.code == "2022-H2",
                ComponentScore.unit_id == uid,
                ComponentScore.component == "field",
            )
        )
        # Always a new value, also on a database an earlier run scored.
        value = Decimal(60 + (n * 7) % 40) if held is None else (held + 1) % 100
        scoring.score_component(
            plan,
            uid,
            "2022-H2",
            "field",
            value,
            actor=office,
            reason="基准测试评分",
        )
        db.session.commit()
        db.session.remove()
        return uid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL built by bench/generate.py")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    args = parser.parse_args(argv)

    app = make_app(database_url(args.db))
    client = app.test_client()
    sign_in(client)
    plan = PLAN_CODE
    #: (name, path, what happens just before: "clear" forgets every cached figure, "report"
    #: submits a progress report).
    steps = [
        ("dashboard_cold", f"/plans/{plan}/dashboard", "clear"),
        ("timeline_cold", f"/timeline?plan={plan}", None),
        ("timeline_area_cold", f"/timeline?plan={plan}&group=area", None),
        ("dashboard_after_report", f"/plans/{plan}/dashboard", "report"),
        ("dashboard_cached", f"/plans/{plan}/dashboard", None),
        ("dashboard_after_review", f"/plans/{plan}/dashboard", "review"),
        ("dashboard_after_score", f"/plans/{plan}/dashboard", "score"),
        ("timeline_after_report", f"/timeline?plan={plan}", None),
        ("timeline_today", f"/timeline?plan={plan}", None),
        ("timeline_deep", f"/timeline?plan={plan}&after=2022-06-30.0", None),
        ("timeline_area_after_report", f"/timeline?plan={plan}&group=area", None),
        ("timeline_area_page", f"/timeline?plan={plan}&group=area&page=3", None),
        ("healthz", "/healthz", None),
        ("ledger", f"/ledger?plan={plan}", None),
    ]
    pages = {name: path for name, path, _ in steps}
    samples: dict[str, list[float]] = {name: [] for name in pages}
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for round_ in range(args.warmup + args.rounds):
        submitted = 0
        for name, path, before in steps:
            if before == "clear":
                cache.clear_cache()
            elif before == "report":
                submitted = submit_one(app, round_)
            elif before == "review":
                review_one(app, round_)
            elif before == "score":
                score_one(app, round_)
            ms, cpu_ms, size = app_ms(client, path)
            sizes[name] = size
            if round_ >= args.warmup:
                samples[name].append(ms)
                cpu[name].append(cpu_ms)
        log(f"round {round_ + 1}/{args.warmup + args.rounds} (report on assignment {submitted})")
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())

    backend = database_url(args.db).get_backend_name()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"{backend}, {args.rounds} rounds, {date.today()}, commit {commit}")
    print(f"load average before {load_before}, after {load_after}")
    print(f"{'page':<28}{'median':>9}{'min':>9}{'max':>9}{'spread':>9}{'cpu med':>9}{'KB':>7}")
    results: dict[str, Any] = {}
    for name, values in samples.items():
        med = statistics.median(values)
        cpu_med = statistics.median(cpu[name])
        results[name] = {
            "cpu_median_ms": round(cpu_med, 1),
            "cpu_samples_ms": [round(x, 1) for x in cpu[name]],
            "path": pages[name],
            "median_ms": round(med, 1),
            "min_ms": round(min(values), 1),
            "max_ms": round(max(values), 1),
            "samples_ms": values,
            "kb": round(sizes[name] / 1024, 1),
        }
        print(
            f"{name:<28}{med:>9.1f}{min(values):>9.1f}{max(values):>9.1f}"
            f"{max(values) - min(values):>9.1f}{cpu_med:>9.1f}{sizes[name] / 1024:>7.1f}"
        )
    print(
        json.dumps(
            {
                "db": backend,
                "rounds": args.rounds,
                "commit": commit,
                "goal_ms": GOAL_MS,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average": [load_before, load_after],
                "pages": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
