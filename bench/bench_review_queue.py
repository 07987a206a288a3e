"""Time and SQL statements of 待审核 (/review) as the queue grows, in-process on SQLite.

    .venv/bin/python bench/bench_review_queue.py [--rounds 7] [--requests 20]

Builds a temporary SQLite database (migrations, the shipped seeds), then puts ``n`` reports
awaiting review (each with three evidence rows) on Baotou assignments for n = 5, 25 and 50 (one
page). For each size it requests /review as the office ``--requests`` times per round over
``--rounds`` rounds, interleaved with the same-run baseline: /review with nothing pending. It
prints the median and spread (min–max of the round medians) of the request time in ms and the
number of SQL statements one request runs; the statements must not grow with the queue (no
N+1). Progress goes to stderr; the last line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, select

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from taskhub import create_app  # noqa: E402
from taskhub.accounts.services import create_user  # noqa: E402
from taskhub.config import TestConfig  # noqa: E402
from taskhub.core.db import db  # noqa: E402
from taskhub.plans.models import Item, Plan  # noqa: E402
from taskhub.plans.seeds import load_seeds  # noqa: E402
from taskhub.tracking.models import Assignment, Evidence, ProgressReport  # noqa: E402

PASSWORD = "bench-only-password"
SIZES = (5, 25, 50)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(tmp: Path) -> Flask:
    config = TestConfig()
    config.INSTANCE_PATH = str(tmp)
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp / 'bench.db'}"
    config.EVIDENCE_PATH = str(tmp / "evidence")
    app = create_app(config, WTF_CSRF_ENABLED=False)
    with app.app_context():
        upgrade(directory=str(PROJECT / "migrations"))
        load_seeds(PROJECT / "seeds")
        create_user(username="bench-office", password=PASSWORD, role="office")
        db.session.commit()
    return app


def set_pending(app: Flask, n: int) -> None:
    """Exactly ``n`` reports awaiting review, each with three evidence rows (rows only: the
    page never opens the files)."""
    with app.app_context():
        db.session.query(Evidence).delete()
        db.session.query(ProgressReport).delete()
        assignments = db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(Plan.code == "baotou-2022")
            .order_by(Assignment.id)
            .limit(n)
        ).all()
        assert len(assignments) == n, f"only {len(assignments)} assignments"
        author = create_user(
            username=f"bench-author-{n}-{time.monotonic_ns()}", password=None, role="office"
        )
        for a in assignments:
            report = ProgressReport(
                assignment_id=a.id,
                author_id=author.id,
                progress="已完成平台升级招标，正在组织系统联调。" * 3,
                problems="部分街道数据尚未归集。",
                next_steps="下月底前完成全部数据归集。",
                percent=60,
            )
            db.session.add(report)
            db.session.flush()
            for k, (name, kind) in enumerate(
                (("方案.pdf", "application/pdf"), ("照片.png", "image/png"), ("表.xlsx", "x"))
            ):
                db.session.add(
                    Evidence(
                        report_id=report.id,
                        sha256=f"{report.id:032d}{k:032d}",
                        original_name=name,
                        content_type=kind,
                        size_bytes=1000 * (k + 1),
                        uploaded_by_id=author.id,
                    )
                )
        db.session.commit()


def measure(app: Flask, client: Any, requests: int) -> tuple[float, int]:
    """Median ms of ``requests`` GET /review, and the statements of one of them."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/review").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get("/review")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(times), len(statements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp))
        client = app.test_client()
        response = client.post("/login", data={"username": "bench-office", "password": PASSWORD})
        assert response.status_code == 302
        medians: dict[int, list[float]] = {n: [] for n in (0, *SIZES)}
        queries: dict[int, int] = {}
        for round_no in range(args.rounds):
            for n in (0, *SIZES):  # interleaved: machine noise hits every size alike
                set_pending(app, n)
                ms, statements = measure(app, client, args.requests)
                medians[n].append(ms)
                queries[n] = statements
            log(f"round {round_no + 1}/{args.rounds} done")
    print(f"{'reports':>8} {'median ms':>10} {'spread ms':>14} {'statements':>11}")
    figures = {}
    for n, values in medians.items():
        figures[n] = {
            "median_ms": round(statistics.median(values), 2),
            "min_ms": round(min(values), 2),
            "max_ms": round(max(values), 2),
            "statements": queries[n],
        }
        spread = f"{min(values):.1f}–{max(values):.1f}"
        label = f"{n} (base)" if n == 0 else str(n)
        print(f"{label:>8} {statistics.median(values):>10.1f} {spread:>14} {queries[n]:>11}")
    print(json.dumps({"rounds": args.rounds, "requests": args.requests, "figures": figures}))


if __name__ == "__main__":
    main()
