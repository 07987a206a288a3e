"""The plan dashboard served by gunicorn against its floor, in the same run (issue 17).

    .venv/bin/python bench/bench_dashboard_floor.py --db URL [--rounds 7] [--per-round 5]
        [--workers 2] [--profile]

The database is one that bench/generate.py built (its big scored plan, its office user).

**Served**: ``gunicorn --workers 2 wsgi:app`` on 127.0.0.1, signed in as the office user
through the login form (a real session cookie); ``GET /plans/<plan>/dashboard`` over loopback.
The client time runs from sending the request to reading the last byte; the app's own
``Server-Timing`` is given beside it.

**Floor**: the same page's figures read by plain SQL in this one process and rendered to the
same HTML through the same Jinja template with plain values, no ORM, no session, no per-request
hooks beyond the locale. What the floor reads:

- the signed-in user's name and role from ``users`` (by id) and the plans to choose from, from
  ``plans``, as they are stored;
- the figures the page shows, held in rows (temporary tables on the floor's own connection,
  filled once from the app's services before timing), as if the app stored them: every scored
  unit's total, rank and previous rank, overdue and at-risk counts (one row per unit: the
  ranking's top 10 and the risk table's top 15 with their totals are chosen by ``ORDER BY …
  LIMIT`` and window sums in SQL), the areas' completion counts, the due-in-two-weeks groups
  (the first page of 20 with their item labels and unit names, counted by a window) and the
  per-day counts, the menu's entries with their badge counts, the period list, the escalation
  counts and when the ranking was computed.

That is the cheapest form the page could have: every figure already counted. The served page
counts the due-soon groups, the menu badges and the escalation counts on every request, and
reads the ranking, areas and risk figures from its per-worker cache (recounted after a change).
Before timing, the floor's HTML is compared with the served page's (the CSRF token and the
"computed at" time aside): they must be the same bytes.

Times are wall times (client side for the served page, in process for the floor) and CPU
times: the floor's thread's, and the gunicorn workers' own (``/proc/<pid>/schedstat``), which the
rest of the machine's load does not stretch; served ÷ floor is given for both (CPU against the
floor's CPU). On PostgreSQL neither CPU figure holds the database server's work.

Each round, interleaved: the floor ``--per-round`` times; the served page ``--per-round``
times (steady state: its caches warm); then a progress report is submitted (an audited change,
tracking.services.submit_report, in this process) and the served page's first view after it is
timed (``served_after_report``). The per-round figure is the median of its samples; the table
gives the median over the rounds, the lowest and highest round, and served ÷ floor per round.
Prints a table and one JSON line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import difflib
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pages import Client, free_port, start_gunicorn
from bench_timeline_dashboard import OFFICE_USER, PASSWORD, submit_one
from common import PLAN_CODE, database_url, log, make_app
from flask import Flask, g, request, session
from flask_babel import format_datetime, refresh
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from taskhub.accounts.models import User
from taskhub.core import navigation
from taskhub.core.db import db
from taskhub.core.labels import label
from taskhub.core.timeutil import office_today
from taskhub.dashboard import services
from taskhub.dashboard.charts import chart_data
from taskhub.plans.models import Item, Plan
from taskhub.scoring.views import period_codes
from taskhub.tracking.lights import DUE_SOON_WORKING_DAYS

TEMPLATE = "dashboard/index.html"

SCHEMA = [
    """CREATE TEMPORARY TABLE floor_units (
        unit_id INTEGER PRIMARY KEY, name TEXT NOT NULL, rpos INTEGER, rank INTEGER,
        previous_rank INTEGER, total TEXT, overdue INTEGER NOT NULL, at_risk INTEGER NOT NULL)""",
    "CREATE INDEX floor_units_rpos ON floor_units (rpos)",
    """CREATE TEMPORARY TABLE floor_areas (
        pos INTEGER PRIMARY KEY, title TEXT NOT NULL, done INTEGER, in_progress INTEGER,
        not_started INTEGER, overdue INTEGER)""",
    """CREATE TEMPORARY TABLE floor_due (
        pos INTEGER PRIMARY KEY, due_on TEXT, item_id INTEGER, kind TEXT, n INTEGER,
        assignment_id INTEGER, unit_id INTEGER, item_label TEXT, item_title TEXT,
        item_text TEXT, unit_name TEXT)""",
    "CREATE TEMPORARY TABLE floor_due_days (day TEXT PRIMARY KEY, n INTEGER)",
    """CREATE TEMPORARY TABLE floor_menu (
        user_id INTEGER, pos INTEGER, key TEXT, label TEXT, url TEXT, is_current INTEGER,
        n INTEGER, in_group INTEGER, PRIMARY KEY (user_id, pos))""",
    "CREATE TEMPORARY TABLE floor_meta (plan_id INTEGER, key TEXT, value TEXT)",
]


def hold_figures(app: Flask, conn: Connection, user_id: int, path: str, code: str) -> None:
    """Fill the floor's tables with the page's figures, computed once by the app's services."""
    with app.test_request_context(path, headers={"Accept-Language": "zh-CN"}):
        app.preprocess_request()
        user = db.session.get(User, user_id)
        assert user is not None
        plan = db.session.scalars(select(Plan).where(Plan.code == code)).one()
        today = office_today()
        periods = period_codes(plan)
        period = services.current_period(periods, today)
        ranking = services.ranking(plan, period) if period else None
        areas = services.area_completion(plan, today=today)
        soon = services.due_soon_until(today)
        overdue = services._overdue_by_unit(plan, today, None)
        at_risk = services._at_risk_by_unit(plan, today, soon, None)
        due = services.due_soon(plan, today, page_size=10**9)
        menu = navigation.build_menu(user, "dashboard.plan", {"code": code})
        escalations = app.jinja_env.globals["escalation_counts"](plan.id, None)
        units: dict[int, dict[str, Any]] = {}
        names = services._unit_names(sorted({*overdue, *at_risk}))
        for uid in {*overdue, *at_risk}:
            units[uid] = {"unit_id": uid, "name": names.get(uid, ""), "rpos": None, "rank": None}
            units[uid].update(previous_rank=None, total=None)
        for pos, row in enumerate(ranking.rows if ranking else ()):
            units.setdefault(row.unit_id, {"unit_id": row.unit_id})
            units[row.unit_id].update(
                name=row.unit_name,
                rpos=pos,
                rank=row.rank,
                previous_rank=row.previous_rank,
                total=str(row.total),
            )
        for uid, u in units.items():
            u.update(overdue=overdue.get(uid, 0), at_risk=at_risk.get(uid, 0))
        meta = {
            "period": period,
            "periods": json.dumps(periods),
            "rounding": ranking.rounding if ranking else None,
            "revision": ranking.revision if ranking else None,
            "computed_time": format_datetime(ranking.computed_at, "HH:mm") if ranking else None,
            "due_soon_until": soon.isoformat(),
            "today": today.isoformat(),
            "escalations": json.dumps([[c.name, c.total, c.open] for c in escalations]),
            "group_label": menu.group_label,
        }
        plan_id = plan.id
        db.session.rollback()
    for statement in SCHEMA:
        conn.exec_driver_sql(statement)
    conn.execute(
        text(
            "INSERT INTO floor_units VALUES (:unit_id, :name, :rpos, :rank, :previous_rank,"
            " :total, :overdue, :at_risk)"
        ),
        list(units.values()),
    )
    conn.execute(
        text("INSERT INTO floor_areas VALUES (:p, :t, :d, :i, :n, :o)"),
        [
            {
                "p": pos,
                "t": a.title,
                "d": a.counts["done"],
                "i": a.counts["in_progress"],
                "n": a.counts["not_started"],
                "o": a.counts["overdue"],
            }
            for pos, a in enumerate(areas)
        ],
    )
    with app.app_context():
        items = {
            i.id: i
            for i in db.session.scalars(
                select(Item).where(Item.id.in_({x.item_id for x in due.groups}))
            )
        }
        due_rows = [
            {
                "p": pos,
                "d": x.due_on.isoformat(),
                "i": x.item_id,
                "k": x.kind,
                "n": x.count,
                "a": x.assignment_id,
                "u": x.unit_id,
                "il": items[x.item_id].label,
                "it": items[x.item_id].title,
                "ix": items[x.item_id].text,
                "un": x.unit_name if x.count == 1 else None,
            }
            for pos, x in enumerate(due.groups)
        ]
        # Single units' names for every group (the app reads those of the page shown only).
        singles = {r["u"] for r in due_rows if r["n"] == 1}
        names = services._unit_names(sorted(singles))
        for r in due_rows:
            if r["n"] == 1:
                r["un"] = names.get(r["u"])
        db.session.rollback()
    if due_rows:
        conn.execute(
            text("INSERT INTO floor_due VALUES (:p, :d, :i, :k, :n, :a, :u, :il, :it, :ix, :un)"),
            due_rows,
        )
    conn.execute(
        text("INSERT INTO floor_due_days VALUES (:d, :n)"),
        [{"d": d.isoformat(), "n": n} for d, n in due.per_day],
    )
    conn.execute(
        text("INSERT INTO floor_menu VALUES (:u, :p, :k, :l, :url, :c, :n, :g)"),
        [
            {
                "u": user_id,
                "p": pos,
                "k": link.key,
                "l": link.label,
                "url": link.url,
                "c": int(link.is_current),
                "n": link.count,
                "g": int(grouped),
            }
            for pos, (link, grouped) in enumerate(
                [(x, False) for x in menu.bar] + [(x, True) for x in menu.group]
            )
        ],
    )
    conn.execute(
        text("INSERT INTO floor_meta VALUES (:p, :k, :v)"),
        [{"p": plan_id, "k": k, "v": None if v is None else str(v)} for k, v in meta.items()],
    )
    conn.commit()


class Floor:
    """The dashboard rendered from plain SQL: ``render()`` returns the page's HTML."""

    def __init__(self, app: Flask, conn: Connection, user_id: int, code: str, path: str) -> None:
        self.app, self.conn, self.user_id, self.code, self.path = app, conn, user_id, code, path
        self.template = app.jinja_env.get_template(TEMPLATE)
        postgres = conn.dialect.name == "postgresql"
        self.collate = ' COLLATE "C"' if postgres else ""  # Python's order: by code point
        self.csrf = "floor-csrf-token"

    def fetch(self) -> dict[str, Any]:
        c = self.conn
        user = c.execute(
            text("SELECT display_name, role, unit_id FROM users WHERE id = :u"), {"u": self.user_id}
        ).one()
        plans = c.execute(
            text(
                "SELECT id, code, title, year FROM plans WHERE status != 'archived'"
                " ORDER BY year, code"
            )
        ).all()
        plan = next(p for p in plans if p.code == self.code)
        meta = dict(
            c.execute(
                text("SELECT key, value FROM floor_meta WHERE plan_id = :p"), {"p": plan.id}
            ).all()
        )
        menu = c.execute(
            text(
                "SELECT key, label, url, is_current, n, in_group FROM floor_menu"
                " WHERE user_id = :u ORDER BY pos"
            ),
            {"u": self.user_id},
        ).all()
        ranked = c.execute(
            text(
                "SELECT unit_id, name, rank, previous_rank, total, count(*) OVER ()"
                " FROM floor_units WHERE rpos IS NOT NULL ORDER BY rpos LIMIT 10"
            )
        ).all()
        scored = c.execute(
            text(
                "SELECT 1 FROM floor_units WHERE rpos IS NOT NULL"
                " AND CAST(total AS REAL) != 0 LIMIT 1"
            )
        ).first()
        risk = c.execute(
            text(
                "SELECT unit_id, name, overdue, at_risk, count(*) OVER (), sum(overdue) OVER (),"
                " sum(at_risk) OVER () FROM floor_units WHERE overdue > 0 OR at_risk > 0"
                f" ORDER BY overdue DESC, at_risk DESC, name{self.collate}, unit_id LIMIT 15"
            )
        ).all()
        areas = c.execute(
            text(
                "SELECT title, done, in_progress, not_started, overdue FROM floor_areas"
                " ORDER BY pos"
            )
        ).all()
        due = c.execute(
            text(
                "SELECT due_on, item_id, kind, n, assignment_id, unit_id, item_label, item_title,"
                " item_text, unit_name, count(*) OVER (), sum(n) OVER () FROM floor_due"
                " ORDER BY pos LIMIT 20"
            )
        ).all()
        days = c.execute(text("SELECT day, n FROM floor_due_days ORDER BY day")).all()
        c.rollback()
        return {
            "user": user,
            "plans": plans,
            "plan": plan,
            "meta": meta,
            "menu": menu,
            "ranked": ranked,
            "scored": scored is not None,
            "risk": risk,
            "areas": areas,
            "due": due,
            "days": days,
        }

    def context(self, rows: dict[str, Any]) -> dict[str, Any]:
        meta = rows["meta"]
        plan = rows["plan"]
        links = [
            (navigation.Link(key, text_, url, bool(cur), n), bool(grouped))
            for key, text_, url, cur, n, grouped in rows["menu"]
        ]
        menu = navigation.Menu(
            bar=[x for x, grouped in links if not grouped],
            group=[x for x, grouped in links if grouped],
            group_label=meta["group_label"],
        )
        rounding = int(meta["rounding"]) if meta["rounding"] is not None else 0
        ranked_rows = rows["ranked"]
        n_ranked = ranked_rows[0][5] if ranked_rows else 0
        ranking = (
            SimpleNamespace(
                has_scores=rows["scored"],
                rows=range(n_ranked),  # the template shows its length only
                revision=int(meta["revision"]) if meta["revision"] else None,
                rounding=rounding,
            )
            if meta["period"] is not None
            else None
        )
        from decimal import Decimal

        ranked = (
            [
                services.RankRow(uid, name, rank, prev, Decimal(total))
                for uid, name, rank, prev, total, _ in ranked_rows
            ]
            if ranking is not None and ranking.has_scores
            else []
        )
        risk_rows = rows["risk"]
        risk = services.RiskSummary(
            rows=[services.UnitRisk(uid, name, o, r) for uid, name, o, r, _, _, _ in risk_rows],
            units=risk_rows[0][4] if risk_rows else 0,
            overdue=int(risk_rows[0][5]) if risk_rows else 0,
            at_risk=int(risk_rows[0][6]) if risk_rows else 0,
            due_soon_until=date.fromisoformat(meta["due_soon_until"]),
        )
        areas = []
        for title, done, in_progress, not_started, overdue in rows["areas"]:
            row = services.AreaRow(None, title)
            row.counts.update(
                done=done, in_progress=in_progress, not_started=not_started, overdue=overdue
            )
            areas.append(row)
        due_rows = rows["due"]
        groups = []
        for d, iid, kind, n, aid, uid, ilabel, title, body, uname, _, _ in due_rows:
            group = services.DueGroup(date.fromisoformat(d), iid, kind, n, aid, uid)
            group.item = SimpleNamespace(label=ilabel, title=title, text=body)  # type: ignore[assignment]
            group.unit_name = uname
            groups.append(group)
        today = date.fromisoformat(meta["today"])
        due = services.DueSoon(
            start=today,
            end=today + (date.fromisoformat(rows["days"][-1][0]) - today),
            groups=groups,
            page=1,
            page_size=services.DUE_PAGE_SIZE,
            total_groups=due_rows[0][10] if due_rows else 0,
            total=int(due_rows[0][11]) if due_rows else 0,
            per_day=[(date.fromisoformat(d), n) for d, n in rows["days"]],
        )
        user = rows["user"]
        escalations = [
            SimpleNamespace(name=name, total=total, open=open_)
            for name, total, open_ in json.loads(meta["escalations"])
        ]
        return {
            "request": request,
            "session": session,
            "g": g,
            "current_user": SimpleNamespace(
                is_authenticated=True, display_name=user.display_name, role=user.role
            ),
            "csrf_token": lambda: self.csrf,
            "label": label,
            "role_label": lambda code: label("role", code),
            "main_menu": lambda: menu,
            "escalation_counts": lambda plan_id, unit_id=None: escalations,
            "plan": plan,
            "plans": rows["plans"],
            "unit_id": None,
            "today": today,
            "areas": areas,
            "risk": risk,
            "due": due,
            "ranking": ranking,
            "ranked": ranked,
            "ranking_problem": None,
            "period": meta["period"],
            "periods": json.loads(meta["periods"]),
            "computed_time": meta["computed_time"],
            "buckets": services.BUCKETS,
            "due_soon_days": DUE_SOON_WORKING_DAYS,
            "charts": chart_data(areas, risk, ranked, due),
        }

    def render(self) -> str:
        with self.app.test_request_context(self.path, headers={"Accept-Language": "zh-CN"}):
            # What the app's own before_request hook sets (the locale), and nothing else.
            refresh()
            g.catalogue = g.labels = g.dates = g.main_menu = None
            g.locale = "zh"
            return self.template.render(self.context(self.fetch()))


def normalised(page: str) -> str:
    page = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value="…"', page)
    return re.sub(r"(计算于|Computed at) ?\d\d:\d\d", r"\1 …", page)


def timed(fn: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL built by bench/generate.py")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--per-round", type=int, default=5, help="samples per case and round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--plan", default=PLAN_CODE)
    parser.add_argument("--profile", action="store_true", help="cProfile of the floor")
    args = parser.parse_args(argv)

    url = database_url(args.db)
    app = make_app(url)
    path = f"/plans/{args.plan}/dashboard"
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(User.username == OFFICE_USER)).one()
        engine = db.engine
        db.session.remove()
    conn = engine.connect()
    log("holding the page's figures for the floor")
    hold_figures(app, conn, user_id, path, args.plan)
    floor = Floor(app, conn, user_id, args.plan, path)

    port = free_port()
    log(f"starting gunicorn ({args.workers} workers) on 127.0.0.1:{port}")
    server = start_gunicorn(args.db, args.workers, port)
    samples: dict[str, list[list[float]]] = {
        k: []
        for k in (
            "floor",
            "floor_cpu",
            "served",
            "served_app",
            "served_cpu",
            "served_after_report",
            "served_after_report_app",
            "served_after_report_cpu",
        )
    }
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        client = Client(port)
        client.sign_in(OFFICE_USER, PASSWORD)
        for _ in range(10):
            status, _, body, _ = client.request("GET", path)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}")
        served_html = normalised(body.decode())
        floor_html = normalised(floor.render())
        if served_html != floor_html:
            diff = difflib.unified_diff(
                served_html.splitlines(), floor_html.splitlines(), "served", "floor", lineterm=""
            )
            log("\n".join(list(diff)[:80]))
            raise SystemExit("the floor's HTML is not the served page's")
        log(f"floor and served HTML identical ({len(body)} bytes)")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(50):
                floor.render()
            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        for round_ in range(args.warmup + args.rounds):
            per: dict[str, list[float]] = {k: [] for k in samples}
            for _ in range(args.per_round):
                wall, cpu = timed(floor.render)
                per["floor"].append(wall)
                per["floor_cpu"].append(cpu)
            for _ in range(args.per_round):
                cpu = workers_cpu(server.pid)
                status, headers, _, elapsed = client.request("GET", path)
                per["served_cpu"].append(workers_cpu(server.pid) - cpu)
                assert status == 200
                per["served"].append(elapsed)
                per["served_app"].append(server_timing(headers))
            submit_one(app, round_)
            cpu = workers_cpu(server.pid)
            status, headers, _, elapsed = client.request("GET", path)
            per["served_after_report_cpu"].append(workers_cpu(server.pid) - cpu)
            assert status == 200
            per["served_after_report"].append(elapsed)
            per["served_after_report_app"].append(server_timing(headers))
            # The other worker's first view after the change too (it keeps its own cache).
            for _ in range(args.workers):
                client.request("GET", path)
            if round_ >= args.warmup:
                for k, v in per.items():
                    samples[k].append(v)
            log(
                f"round {round_ + 1}/{args.warmup + args.rounds}: floor"
                f" {statistics.median(per['floor']):.1f} ms, served"
                f" {statistics.median(per['served']):.1f} ms, after a report"
                f" {per['served_after_report'][0]:.1f} ms"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        conn.close()
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(args, url.get_backend_name(), samples, [load_before, load_after], len(body))


def workers_cpu(master: int) -> float:
    """CPU time (ms) the gunicorn workers have run so far, from the scheduler's own count in
    nanoseconds (/proc/<pid>/schedstat): what a request cost, whatever else loads the machine.
    On PostgreSQL the database server's work is not in it (nor in the floor's CPU figure)."""
    total = 0
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in children:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e6


def server_timing(headers: dict[str, str]) -> float:
    found = re.search(r"app;dur=([\d.]+)", headers.get("Server-Timing", ""))
    return float(found.group(1)) if found else float("nan")


def report(
    args: Any, backend: str, samples: dict[str, list[list[float]]], load: list[str], size: int
) -> None:
    rounds = {k: [statistics.median(r) for r in v] for k, v in samples.items()}
    floor = rounds["floor"]
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"{backend}, plan {args.plan}, {args.rounds} rounds × {args.per_round}, "
        f"{date.today()}, commit {commit}, gunicorn {args.workers} workers"
    )
    print(f"load average before {load[0]}, after {load[1]}; page {size / 1024:.1f} KB")
    print(f"{'case':<28}{'median':>9}{'min':>9}{'max':>9}{'÷ floor':>9}{'(min–max)':>14}")
    results: dict[str, Any] = {}
    for k, values in rounds.items():
        base = rounds["floor_cpu"] if k.endswith("_cpu") else floor
        ratios = [v / f for v, f in zip(values, base, strict=True)] if k != "floor_cpu" else []
        med = statistics.median(values)
        results[k] = {
            "median_ms": round(med, 2),
            "min_ms": round(min(values), 2),
            "max_ms": round(max(values), 2),
            "rounds_ms": [round(x, 2) for x in values],
            "ratio_median": round(statistics.median(ratios), 2) if ratios else None,
            "ratio_min": round(min(ratios), 2) if ratios else None,
            "ratio_max": round(max(ratios), 2) if ratios else None,
        }
        span = f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else ""
        ratio = f"{statistics.median(ratios):.2f}" if ratios else ""
        print(f"{k:<28}{med:>9.1f}{min(values):>9.1f}{max(values):>9.1f}{ratio:>9}{span:>14}")
    print(
        json.dumps(
            {
                "db": backend,
                "plan": args.plan,
                "rounds": args.rounds,
                "per_round": args.per_round,
                "commit": commit,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average": load,
                "bytes": size,
                "cases": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
