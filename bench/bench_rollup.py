"""Time the plan roll-up against the plain GROUP BY over the same rows, in one run.

    .venv/bin/python bench/bench_rollup.py --db URL [--repeat 15] [--prototype] [--profile]

(a) ``taskhub.scoring.rollup.compute(plan, period)``: every unit's total of the big synthetic
plan (bench/generate.py) for a half-year; (b) one SQL GROUP BY per unit over the rows the
roll-up's grouped query reads (assignments of the plan ⟕ their milestones due in the period).
Both run on the same connection pool and database, warmed up, then interleaved a, b, a, b, …
with the session rolled back (so expired) and garbage collected before each run. Prints a
table, then one JSON line. ``--prototype`` adds (c), a sketch of the suggested roll-up shape
(bench code, checked against compute()'s totals); ``--profile`` shows where the roll-up's time
goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import math
import pstats
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DB, PLAN_CODE, database_url, log, make_app
from sqlalchemy import and_, case, event, func, select, text
from sqlalchemy.orm import ORMExecuteState, Session

from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.scoring import rollup
from taskhub.scoring.engine import competition_ranks, display
from taskhub.scoring.models import ComponentScore, ItemScore, Period
from taskhub.scoring.schemes import engine_of, get_period, parse_period_code
from taskhub.tracking.models import Assignment, Milestone

#: The issue's goal: the roll-up within this factor of the plain query.
GOAL = 1.5

#: (b): the same rows as the roll-up's grouped query (plan, applicable, not assessor-scored,
#: milestones due in the period and not waived), grouped by unit only.
PLAIN_SQL = """
SELECT a.unit_id,
       count(m.id) AS due,
       sum(CASE WHEN m.status = 'done' AND NOT m.is_late THEN 1 ELSE 0 END) AS on_time,
       sum(CASE WHEN m.status = 'done' AND m.is_late THEN 1 ELSE 0 END) AS late
FROM assignments a
JOIN items i ON i.id = a.item_id
LEFT JOIN milestones m ON m.assignment_id = a.id
     AND m.due_on BETWEEN :starts_on AND :ends_on AND m.status <> 'waived'
WHERE i.plan_id = :plan_id
  AND a.is_not_applicable = :false
  AND a.id NOT IN (SELECT s.assignment_id FROM item_scores s WHERE s.period_id = :period_id)
GROUP BY a.unit_id
"""


def load_plan() -> Plan:
    plan = db.session.scalars(select(Plan).where(Plan.code == PLAN_CODE)).one_or_none()
    if plan is None:
        raise SystemExit(f"no plan {PLAN_CODE} in this database: run bench/generate.py first")
    return plan


def run_rollup(code: str) -> int:
    """(a) The roll-up of every unit; returns the number of units."""
    return len(rollup.compute(load_plan(), code))


def run_plain(params: dict[str, Any]) -> int:
    """(b) The plain GROUP BY, every row fetched; returns the number of units."""
    return len(db.session.execute(text(PLAIN_SQL), params).all())


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    """Seconds of one run from a clean session (rolled back, so every object is expired)."""
    db.session.rollback()
    gc.collect()
    started = time.perf_counter()
    n = fn()
    return time.perf_counter() - started, n


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    ms = {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": p95 * 1000,
        "min_ms": ordered[0] * 1000,
        "max_ms": ordered[-1] * 1000,
    }
    return {k: round(v, 2) for k, v in ms.items()}


def workload(plan: Plan, period: Period) -> dict[str, Any]:
    """What the two queries read, so figures from different machines can be compared."""
    in_plan = select(Assignment.id).join(Item).where(Item.plan_id == plan.id)
    count = db.session.scalar
    return {
        "units": count(
            select(func.count(func.distinct(Assignment.unit_id)))
            .join(Item)
            .where(Item.plan_id == plan.id)
        ),
        "assignments": count(select(func.count()).select_from(in_plan.subquery())),
        "milestones": count(
            select(func.count()).select_from(Milestone).where(Milestone.assignment_id.in_(in_plan))
        ),
        "milestones_in_period": count(
            select(func.count())
            .select_from(Milestone)
            .where(
                Milestone.assignment_id.in_(in_plan),
                Milestone.due_on.between(period.starts_on, period.ends_on),
            )
        ),
        "item_scores_in_period": count(
            select(func.count()).select_from(ItemScore).where(ItemScore.period_id == period.id)
        ),
    }


def server_version() -> str:
    if db.engine.dialect.name == "postgresql":
        return str(db.session.scalar(text("SHOW server_version")))
    return str(db.session.scalar(text("SELECT sqlite_version()")))


# -- (c) a prototype of the suggested shape (bench only; not taskhub code) ----------------------


def prototype_totals(plan: Plan, code: str) -> dict[int, Fraction]:
    """Every unit's total as compute() gives it, from a few SQL rows per unit.

    Exact like compute(): item points are scaled to integers by the LCM of their denominators,
    so SQL can sum points × milestone counts exactly. Assignments with the same number of
    milestones due share a denominator, so grouping by (unit, due) instead of (unit, points
    class, due, on time, late) loses nothing. Totals and ranks only: no per-area scores, no
    contributions (explanations are built per unit).
    Covers composite periods (Baotou's half-year), not mean_of / annual ones.
    """
    spec = engine_of(plan)
    rule = spec.rule_for(parse_period_code(code)[0])
    if rule.mean_of or rule.annual:
        raise SystemExit("the prototype covers composite periods only (e.g. 2022-H1)")
    period = get_period(plan, code, create=False)
    assert period is not None
    units = rollup.scored_units(plan)
    points = rollup.effective_points(plan, spec)
    scale = math.lcm(*(p.denominator for p in points.values()))
    on_time_w, late_w, missed_w = (
        Fraction(spec.completion.on_time),
        Fraction(spec.completion.late),
        Fraction(spec.completion.missed),
    )
    done = Milestone.status == "done"
    scored = select(ItemScore.assignment_id).where(ItemScore.period_id == period.id)
    per_assignment = (
        select(
            Assignment.unit_id.label("unit_id"),
            case(
                {i: int(p * scale) for i, p in points.items()}, value=Assignment.item_id, else_=0
            ).label("p"),
            func.count(Milestone.id).label("due"),
            func.sum(case((and_(done, ~Milestone.is_late), 1), else_=0)).label("on_time"),
            func.sum(case((and_(done, Milestone.is_late), 1), else_=0)).label("late"),
        )
        .join(Item, Item.id == Assignment.item_id)
        .outerjoin(
            Milestone,
            and_(
                Milestone.assignment_id == Assignment.id,
                Milestone.due_on.between(period.starts_on, period.ends_on),
                Milestone.status != "waived",
            ),
        )
        .where(Item.plan_id == plan.id, ~Assignment.is_not_applicable, Assignment.id.not_in(scored))
        .group_by(Assignment.id, Assignment.unit_id, Assignment.item_id)
        .subquery()
    )
    pa = per_assignment.c
    rows = db.session.execute(
        select(
            pa.unit_id,
            pa.due,
            func.sum(pa.p),
            func.sum(pa.p * pa.on_time),
            func.sum(pa.p * pa.late),
        ).group_by(pa.unit_id, pa.due)
    )
    earned: dict[int, Fraction] = defaultdict(Fraction)
    maximum: dict[int, Fraction] = defaultdict(Fraction)
    for uid, due, p_sum, p_on_time, p_late in rows:
        due, p_sum, p_on_time, p_late = int(due), int(p_sum), int(p_on_time), int(p_late)
        if due == 0:
            if spec.unscored == "zero":
                maximum[uid] += Fraction(p_sum, scale)
            continue
        missed = due * p_sum - p_on_time - p_late
        weighted = on_time_w * p_on_time + late_w * p_late + missed_w * missed
        earned[uid] += weighted / (due * scale)
        maximum[uid] += Fraction(p_sum, scale)
    # Assessors' scores override completion; several scorers of one assignment are averaged.
    per_score: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        select(ItemScore.assignment_id, ItemScore.unit_id, ItemScore.item_id, ItemScore.value)
        .join(Assignment, Assignment.id == ItemScore.assignment_id)
        .where(ItemScore.period_id == period.id, ~Assignment.is_not_applicable)
    ):
        per_score[row.assignment_id].append(row)
    for scores in per_score.values():
        first = scores[0]
        if first.item_id not in points:
            continue
        p = points[first.item_id]
        mean = sum((Fraction(s.value) for s in scores), Fraction(0)) / len(scores)
        earned[first.unit_id] += min(mean, p)
        maximum[first.unit_id] += p
    entered: dict[int, dict[str, Fraction]] = defaultdict(dict)
    for uid, component, value in db.session.execute(
        select(ComponentScore.unit_id, ComponentScore.component, ComponentScore.value).where(
            ComponentScore.period_id == period.id
        )
    ):
        v = Fraction(value)
        if component in rule.caps:
            low, high = rule.caps[component]
            v = min(max(v, Fraction(low)), Fraction(high))
        entered[uid][component] = v
    totals: dict[int, Fraction] = {}
    for uid in units:
        total = Fraction(0)
        for component, weight in rule.composite.items():
            if component == spec.items_component:
                if maximum.get(uid):
                    total += Fraction(weight) * Fraction(spec.scale) * earned[uid] / maximum[uid]
            else:
                total += Fraction(weight) * entered.get(uid, {}).get(component, Fraction(0))
        totals[uid] = total
    # Ranked as compute() does (the ranks are not compared: the totals decide them).
    competition_ranks(
        {u: display(rollup.quantised_total(t), spec.rounding) for u, t in totals.items()}
    )
    return totals


def check_prototype(code: str) -> dict[str, Any]:
    """Does the prototype give compute()'s totals? Exactly, and as stored (4 places)?"""
    db.session.rollback()
    reference = {r.unit_id: r.total for r in rollup.compute(load_plan(), code)}
    mine = prototype_totals(load_plan(), code)
    same_units = set(reference) == set(mine)
    exact = same_units and all(reference[u] == mine[u] for u in reference)
    stored = same_units and all(
        rollup.quantised_total(reference[u]) == rollup.quantised_total(mine[u]) for u in reference
    )
    worst = max((abs(reference[u] - mine[u]) for u in reference if u in mine), default=Fraction(0))
    return {
        "units": len(mine),
        "exactly_equal": exact,
        "equal_at_4_places": stored,
        "largest_difference": f"{float(worst):.3g}",
    }


# -- profile ------------------------------------------------------------------------------------


@contextmanager
def statement_timer() -> Iterator[list[tuple[str, int, float]]]:
    """Record (statement, rows, seconds) of every ORM execute, fetch included."""
    records: list[tuple[str, int, float]] = []

    def around(state: ORMExecuteState) -> Any:
        started = time.perf_counter()
        frozen = state.invoke_statement().freeze()
        elapsed = time.perf_counter() - started
        rows = len(frozen.data)
        records.append((" ".join(str(state.statement).split()), rows, elapsed))
        return frozen()

    event.listen(Session, "do_orm_execute", around)
    try:
        yield records
    finally:
        event.remove(Session, "do_orm_execute", around)


def label(sql: str) -> str:
    """A short name for a statement of the roll-up."""
    if "GROUP BY" in sql and "milestones" in sql:
        return "grouped query (assignments ⟕ milestones due)"
    table = sql.split(" FROM ", 1)[1].split(" ", 1)[0] if " FROM " in sql else "?"
    return f"{sql.split(' ', 1)[0].lower()} … FROM {table}"


def median_of(fn: Callable[[], object], n: int = 5) -> float:
    samples = []
    for _ in range(n):
        db.session.rollback()
        gc.collect()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def profile(code: str) -> dict[str, Any]:
    """Where the roll-up's time goes: its SQL statements, its phases, its Python hot spots."""
    out: dict[str, Any] = {}
    db.session.rollback()
    with statement_timer() as records:
        started = time.perf_counter()
        rollup.compute(load_plan(), code)
        total = time.perf_counter() - started
    sql_total = sum(r[2] for r in records)
    print("\nProfile: one roll-up, each ORM statement timed with its fetch")
    print(f"{'statement':52} {'rows':>8} {'ms':>9}")
    grouped: dict[str, list[float]] = {}
    for sql, rows, seconds in records:
        key = label(sql)
        grouped.setdefault(key, [0.0, 0.0, 0.0])
        grouped[key][0] += 1
        grouped[key][1] += rows
        grouped[key][2] += seconds
    for key, (n, n_rows, spent) in sorted(grouped.items(), key=lambda kv: -kv[1][2]):
        name = key if n == 1 else f"{key} (×{int(n)})"
        print(f"{name[:52]:52} {int(n_rows):>8,} {spent * 1000:>9.1f}")
    print(f"{'all SQL':52} {'':>8} {sql_total * 1000:>9.1f}")
    print(f"{'Python (roll-up total − SQL)':52} {'':>8} {(total - sql_total) * 1000:>9.1f}")
    print(f"{'roll-up total (timer adds a little)':52} {'':>8} {total * 1000:>9.1f}")
    out["statements"] = [
        {"statement": k, "count": int(v[0]), "rows": int(v[1]), "ms": round(v[2] * 1000, 2)}
        for k, v in grouped.items()
    ]
    out["sql_ms"], out["python_ms"] = (
        round(sql_total * 1000, 2),
        round((total - sql_total) * 1000, 2),
    )

    # Phases, each timed alone (medians of 5), without any profiler overhead.
    def phase(fn: Callable[[Plan], object]) -> float:
        return median_of(lambda: fn(load_plan()))

    def items_phase(plan: Plan) -> object:
        period = get_period(plan, code, create=False)
        assert period is not None
        return rollup.rollup_items(plan, period, engine_of(plan))

    phases = {
        "load plan + engine spec": phase(engine_of),
        "scored_units (units of the plan)": phase(rollup.scored_units),
        "effective_points (item points)": phase(lambda p: rollup.effective_points(p, engine_of(p))),
        "rollup_items (grouped query + item scores + arithmetic)": phase(items_phase),
        "compute (everything)": phase(lambda p: rollup.compute(p, code)),
        "compute(explain=True) (what close_period runs)": phase(
            lambda p: rollup.compute(p, code, explain=True)
        ),
        "compute for one unit (what an explanation page runs)": phase(
            lambda p: rollup.compute(p, code, unit_id=next(iter(rollup.scored_units(p))))
        ),
    }
    print("\nPhases (median of 5 each; rollup_items includes effective_points)")
    for name, seconds in phases.items():
        print(f"{name:60} {seconds * 1000:>9.1f} ms")
    out["phases_ms"] = {k: round(v * 1000, 2) for k, v in phases.items()}

    db.session.rollback()
    profiler = cProfile.Profile()
    profiler.enable()
    rollup.compute(load_plan(), code)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(15)
    print("\ncProfile of one roll-up (top 15 by own time; profiling slows Python code down)")
    print("\n".join(line for line in stream.getvalue().splitlines() if line.strip())[-2500:])
    return out


# -- main ---------------------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """Which roll-up was timed: the commit, whether taskhub/scoring differs from it, a digest."""
    root = Path(rollup.__file__).resolve().parents[2]

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    dirty = git("diff", "--quiet", "HEAD", "--", "taskhub/scoring").returncode == 1
    digest = hashlib.sha256(Path(rollup.__file__).read_bytes()).hexdigest()[:12]
    return {
        "commit": head.stdout.strip() or "unknown",
        "scoring_modified": dirty,
        "rollup_py_sha256": digest,
    }


def load_average() -> str:
    """The 1/5/15-minute load: other work on the machine shows in the spread."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs of each first")
    parser.add_argument("--period", default="2022-H1", help="period code (default 2022-H1)")
    parser.add_argument("--profile", action="store_true", help="show where the roll-up's time goes")
    parser.add_argument(
        "--prototype",
        action="store_true",
        help="also time (c), a prototype of the suggested roll-up shape, and check its totals",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    url = database_url(args.db)
    app = make_app(url)
    with app.app_context():
        plan = load_plan()
        period = get_period(plan, args.period, create=False)
        if period is None:
            raise SystemExit(f"plan {PLAN_CODE} has no period {args.period}")
        params = {
            "plan_id": plan.id,
            "period_id": period.id,
            "starts_on": period.starts_on,
            "ends_on": period.ends_on,
            "false": False,
        }
        figures = workload(plan, period)
        version = server_version()
        log(f"workload: {figures}")
        runs: dict[str, tuple[str, Callable[[], int]]] = {
            "rollup": ("(a) roll-up compute()", lambda: run_rollup(args.period)),
            "plain": ("(b) plain GROUP BY", lambda: run_plain(params)),
        }
        if args.prototype:
            runs["prototype"] = (
                "(c) prototype (bench only)",
                lambda: len(prototype_totals(load_plan(), args.period)),
            )
        load_before = load_average()
        for i in range(args.warmup):
            log(f"warm-up {i + 1}/{args.warmup}")
            for _, fn in runs.values():
                timed(fn)
        times: dict[str, list[float]] = {name: [] for name in runs}
        counts: dict[str, int] = {}
        for i in range(args.repeat):
            for name, (_, fn) in runs.items():  # interleaved: a, b, (c), a, b, (c), …
                seconds, counts[name] = timed(fn)
                times[name].append(seconds)
            log(
                f"run {i + 1}/{args.repeat}: "
                + ", ".join(f"{n} {t[-1] * 1000:.1f} ms" for n, t in times.items())
            )
        load_after = load_average()
        stats = {name: summary(samples) for name, samples in times.items()}
        ratio = stats["rollup"]["median_ms"] / stats["plain"]["median_ms"]
        backend = url.get_backend_name()
        print(f"{backend} {version}: plan {PLAN_CODE}, period {args.period}")
        print(", ".join(f"{k} {v:,}" for k, v in figures.items()))
        code = code_version()
        print(f"load average before {load_before}, after {load_after}; taskhub {code}")
        header = f"{'':28} {'median ms':>10} {'p95 ms':>10} {'min ms':>10} {'max ms':>10}"
        print(f"{header} {'units':>6}")
        for name, (title, _) in runs.items():
            st = stats[name]
            print(
                f"{title:28} {st['median_ms']:>10.1f} {st['p95_ms']:>10.1f} "
                f"{st['min_ms']:>10.1f} {st['max_ms']:>10.1f} {counts[name]:>6}"
            )
        # Minima are the least disturbed by other work on the machine; medians are the goal's.
        ratio_min = stats["rollup"]["min_ms"] / stats["plain"]["min_ms"]
        verdict = "meets" if ratio <= GOAL else "misses"
        print(
            f"ratio median(a)/median(b) = {ratio:.2f} ({verdict} the goal of ≤ {GOAL}); "
            f"min(a)/min(b) = {ratio_min:.2f}"
        )
        result: dict[str, Any] = {
            "db": backend,
            "version": version,
            "plan": PLAN_CODE,
            "period": args.period,
            **figures,
            "repeat": args.repeat,
            "warmup": args.warmup,
            "load_average": [load_before, load_after],
            "taskhub": code,
            **{name: stats[name] for name in runs},
            **{f"units_{name}": counts[name] for name in runs},
            "ratio": round(ratio, 2),
            "ratio_of_minima": round(ratio_min, 2),
            "goal": GOAL,
            "meets_goal": ratio <= GOAL,
        }
        if args.prototype:
            ratio_c = stats["prototype"]["median_ms"] / stats["plain"]["median_ms"]
            ratio_c_min = stats["prototype"]["min_ms"] / stats["plain"]["min_ms"]
            check = check_prototype(args.period)
            print(
                f"ratio median(c)/median(b) = {ratio_c:.2f}; min(c)/min(b) = {ratio_c_min:.2f}; "
                f"prototype totals vs compute(): {check}"
            )
            result["ratio_prototype"] = round(ratio_c, 2)
            result["ratio_prototype_of_minima"] = round(ratio_c_min, 2)
            result["prototype_check"] = check
        if args.profile:
            result["profile"] = profile(args.period)
        db.session.rollback()
        print(json.dumps(result, ensure_ascii=False))
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
