"""What the menu's count badges cost each page, on the province-scale workload (generate.py).

Every signed-in page now runs one more statement: the three badge counts (reports awaiting
review, pending extension requests, unread notifications) in one SELECT. This script times that
statement for an office user and for an assessor against a same-run baseline, the statement
every page already runs to load the signed-in user, and builds the whole menu (entries, URLs,
counts) in a request context.

    .venv/bin/python bench/bench_nav.py --db sqlite:///bench/.data/bench.db [--rounds 7]

Stdout: a table, then one JSON line with every figure (median and spread in milliseconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DB, database_url, log, make_app
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.navigation import badge_counts, build_menu
from taskhub.tracking.models import ProgressReport, ReportStatus


def _timed(run: Callable[[], object], rounds: int, per_round: int) -> list[float]:
    """Milliseconds per call, one figure per round (each round the mean of ``per_round``)."""
    figures = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(per_round):
            run()
        figures.append((time.perf_counter() - started) * 1000 / per_round)
    return figures


def _summary(figures: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(figures), 3),
        "min": round(min(figures), 3),
        "max": round(max(figures), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=50)
    args = parser.parse_args()
    app = make_app(database_url(args.db))
    results: dict[str, object] = {}
    with app.app_context():
        awaiting = db.session.scalar(
            select(db.func.count())
            .select_from(ProgressReport)
            .where(ProgressReport.status == ReportStatus.SUBMITTED.value)
        )
        results["reports_awaiting_review"] = awaiting
        office = User(id=10**9, username="bench-office", role="office", display_name="督办室")
        lead = db.session.scalar(
            select(User).where(User.role == "assessor", User.unit_id.is_not(None)).limit(1)
        )
        assessor = lead or User(id=10**9 + 1, username="bench-a", role="assessor", unit_id=1)
        user_id = db.session.scalar(select(User.id).limit(1))

        def load_user() -> object:
            # What Flask-Login runs on every page (the baseline of the same run).
            return db.session.execute(select(User).where(User.id == user_id)).first()

        cases: dict[str, Callable[[], object]] = {
            "baseline: load the signed-in user": load_user,
            "badges, office (3 counts)": lambda: badge_counts(
                office, ["review", "extensions", "notifications"]
            ),
            "badges, assessor (2 counts)": lambda: badge_counts(
                assessor, ["review", "notifications"]
            ),
        }
        for name, run in cases.items():
            log(f"timing {name}")
            run()  # warm
            results[name] = _summary(_timed(run, args.rounds, args.per_round))
        with app.test_request_context("/dashboard"):
            log("timing the whole menu")
            results["whole menu, office"] = _summary(
                _timed(lambda: build_menu(office, "dashboard.index", {}), args.rounds, 20)
            )
    print(f"{'case':40} {'median ms':>10} {'min':>8} {'max':>8}")
    for name, figure in results.items():
        if isinstance(figure, dict):
            print(f"{name:40} {figure['median']:>10} {figure['min']:>8} {figure['max']:>8}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
