"""Build a province-scale scoring workload in a fresh database (deterministic with --seed).

    .venv/bin/python bench/generate.py --db URL [--units 2000 --assignments 100000
        --milestones 300000 --reports 200000 --seed 1]

The database is dropped and recreated (PostgreSQL: only a database whose name contains
"bench"; SQLite: the file), migrated, and loaded with the shipped seeds. Then a synthetic
province gets ``--units`` units and one big indicator plan that copies Baotou's scheme and
section tree; its items × units give at least ``--assignments`` assignments, each item's
schedule is copied to every assignment (at least ``--milestones`` milestones spread over 2022),
and units report progress (at least ``--reports`` reports). Rows go in with Core bulk inserts
in chunks of 10,000, one transaction per table. Progress goes to stderr, a summary to stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CITY_CODE, DEFAULT_DB, PLAN_CODE, TEMPLATE_PLAN, database_url, log, make_app
from dateutil.relativedelta import relativedelta
from flask_migrate import upgrade
from ledger_common import (
    Bodies,
    Outcome,
    add_city,
    add_schedules,
    analyze,
    assignment_row,
    bulk_insert,
    item_row,
    milestone_row,
    office_time,
    progress_status,
    read_units,
    reports_per_assignment,
    reset_database,
    table,
)
from sqlalchemy import Connection, func, insert, select
from werkzeug.security import generate_password_hash

from taskhub.accounts.models import User
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.plans.models import Item, ItemUnit, Plan, PlanAssessee, Section
from taskhub.plans.seeds import load_seeds
from taskhub.scoring.models import ComponentScore, ItemScore, Period, Scheme
from taskhub.scoring.rollup import effective_points
from taskhub.scoring.schemes import engine_of, parse_period_code
from taskhub.tracking.models import (
    Assignment,
    Milestone,
    ProgressReport,
    period_counts_insert,
)
from taskhub.units.models import Unit, UnitAlias, UnitGroup, unit_group_members

YEAR = 2022
#: The data's "today": milestones due before it are mostly done, those after mostly open.
AS_OF = date(2022, 10, 31)
#: Every generated row says when it was made; a fixed instant keeps the data reproducible.
CREATED = datetime(2022, 1, 4, 1, 0, tzinfo=UTC)
#: Share of units for which an 按需 item does not apply.
NOT_APPLICABLE_SHARE = 0.4
#: Share of items that are 按需 (as needed).
AS_NEEDED_SHARE = 0.06


# -- the workload, in memory --------------------------------------------------------------------


@dataclass
class Step:
    """One step of an item's schedule."""

    kind: str
    due_on: date
    title: str


@dataclass
class Workload(Bodies):
    users: dict[int, int] = field(default_factory=dict)  #: unit id -> its staff user
    office_user: int = 0
    plan_id: int = 0
    items: list[int] = field(default_factory=list)
    item_codes: dict[int, str] = field(default_factory=dict)
    as_needed: set[int] = field(default_factory=set)
    schedule: dict[int, list[tuple[int, Step]]] = field(default_factory=dict)  #: item -> steps


def month_end(month: int, year: int = YEAR) -> date:
    return date(year, month, 1) + relativedelta(months=1, days=-1)


def step_counts(rng: random.Random, total: int, n_items: int) -> list[int]:
    """Split ``total`` steps over the items, 1 to 24 each, unevenly as real plans do."""
    if total > 24 * n_items:
        raise SystemExit(
            f"--milestones asks for {total / n_items:.1f} steps per item; at most 24 fit in a "
            "year: raise --assignments (more items) or lower --milestones"
        )
    base, extra = divmod(total, n_items)
    counts = [base + (1 if i < extra else 0) for i in range(n_items)]
    # Move steps between items so that one-off tasks and monthly checkpoints both appear.
    for _ in range(n_items * 4):
        i, j = rng.randrange(n_items), rng.randrange(n_items)
        amount = rng.randint(1, max(1, counts[i] // 2))
        if i != j and counts[i] - amount >= 1 and counts[j] + amount <= 12:
            counts[i] -= amount
            counts[j] += amount
    return counts


def schedule_for(rng: random.Random, count: int) -> tuple[str, list[Step]]:
    """A deadline phrase and its dated steps: monthly checkpoints, dated steps or one deadline."""
    if count == 12:
        months = list(range(1, 13))
        steps = [Step("checkpoint", month_end(m), f"{m}月持续推进检查") for m in months]
        return "持续推进", steps
    if count > 12:  # twice a month: the 15th and the month end
        days = sorted(
            [date(YEAR, m, 15) for m in range(1, 13)] + [month_end(m) for m in range(1, 13)]
        )
        chosen = sorted(rng.sample(days, count))
        steps = [Step("checkpoint", d, f"{d.month}月{d.day}日推进检查") for d in chosen]
        return "每半月推进", steps
    months = sorted(rng.sample(range(1, 13), count))
    if count == 1:
        m = months[0]
        return f"{m}月底完成", [Step("complete", month_end(m), f"{m}月底完成")]
    last = months[-1]
    final = "notable" if rng.random() < 0.5 else "complete"
    final_title = "取得明显成效" if final == "notable" else "完成"
    steps = [Step("stage", month_end(months[0]), f"{months[0]}月底取得阶段性成效")]
    middle = "checkpoint" if count >= 6 else "step"
    steps += [Step(middle, month_end(m), f"{m}月底节点") for m in months[1:-1]]
    steps.append(Step(final, month_end(last), f"{last}月底{final_title}"))
    phrase = f"{months[0]}月底取得阶段性成效,{'、'.join(f'{m}月底' for m in months[1:-1])}"
    phrase = phrase.rstrip(",") + f"{'分步推进,' if count > 2 else ','}{last}月底{final_title}"
    return phrase, steps


def outcome(rng: random.Random, due: date, diligence: float, applicable: bool) -> Outcome:
    """Done on time, done late, open (overdue when past due) or waived, as of AS_OF."""
    if not applicable:
        return Outcome("waived")
    r = rng.random()
    if due <= AS_OF:
        if r < diligence:
            return Outcome("done", max(date(YEAR, 1, 3), due - timedelta(rng.randint(0, 25))))
        if r < diligence + (1 - diligence) * 0.55:
            finished = due + timedelta(rng.randint(1, 40))
            if finished <= AS_OF:
                return Outcome("done", finished, is_late=True)
        if r > 0.985:
            return Outcome("waived")
        extended = due + relativedelta(months=1) if rng.random() < 0.15 else None
        return Outcome("open", is_overdue=(extended or due) < AS_OF, extended_to=extended)
    if r < 0.06:  # finished early
        return Outcome("done", AS_OF - timedelta(rng.randint(0, 30)))
    return Outcome("open")


# -- steps ----------------------------------------------------------------------------------------


def add_city_and_units(conn: Connection, rng: random.Random, n_units: int, w: Workload) -> int:
    city_id = add_city(conn, CITY_CODE, "基准省", "synthetic: bench/generate.py")
    n_counties = max(1, round(n_units * 0.05))
    n_departments = max(1, round(n_units * 0.10))
    n_townships = max(0, n_units - n_counties - n_departments)
    rows = [
        {"name": f"基准{c:03d}县人民政府", "kind": "county", "parent_id": None}
        for c in range(1, n_counties + 1)
    ] + [
        {"name": f"省直第{d:03d}厅局", "kind": "department", "parent_id": None}
        for d in range(1, n_departments + 1)
    ]
    common = {"city_id": city_id, "created_at": CREATED}
    conn.execute(insert(table(Unit)), [{**common, **r} for r in rows])
    top = conn.execute(
        select(Unit.id, Unit.kind).where(Unit.city_id == city_id).order_by(Unit.id)
    ).all()
    counties = [uid for uid, kind in top if kind == "county"]
    townships = []
    for t in range(n_townships):
        county = t % len(counties)
        townships.append(
            {
                **common,
                "name": f"基准{county + 1:03d}县第{t // len(counties) + 1:02d}镇(街道)",
                "kind": "township",
                "parent_id": counties[county],
            }
        )
    bulk_insert(conn, table(Unit), townships, len(townships))
    read_units(conn, rng, city_id, (0.45, 0.95), w)
    conn.execute(
        insert(table(UnitGroup)),
        [{"city_id": city_id, "name": "全省考评单位", "source": "synthetic: every unit"}],
    )
    group_id = conn.execute(select(UnitGroup.id).where(UnitGroup.city_id == city_id)).scalar_one()
    conn.execute(
        insert(unit_group_members), [{"group_id": group_id, "unit_id": u} for u in w.units]
    )
    conn.execute(
        insert(table(UnitAlias)),
        [{"city_id": city_id, "name": "全省考评单位", "group_id": group_id}],
    )
    log(
        f"  units: {len(w.units):,} ({n_counties} counties, {n_departments} departments, "
        f"{n_townships} townships/streets)"
    )
    return city_id


def add_users(conn: Connection, w: Workload) -> None:
    # One hash for all: hashing thousands of passwords would dominate the run for nothing.
    password = generate_password_hash("bench-only")
    rows: list[dict[str, Any]] = [
        {
            "username": "bench-office",
            "display_name": "基准省督办室",
            "role": "office",
            "unit_id": None,
        },
        {
            "username": "bench-assessor",
            "display_name": "牵头考核单位",
            "role": "assessor",
            "unit_id": w.departments[0],
        },
    ]
    rows += [
        {
            "username": f"bench-unit-{u}",
            "display_name": f"{w.names[u]}联络员",
            "role": "unit",
            "unit_id": u,
        }
        for u in w.units
    ]
    common: dict[str, Any] = {
        "password_hash": password,
        "is_enabled": True,
        "created_at": CREATED,
        "email": None,
        "locale": None,
    }
    bulk_insert(conn, table(User), ({**common, **r} for r in rows), len(rows))
    for uid, username, unit_id in conn.execute(
        select(User.id, User.username, User.unit_id).where(User.username.like("bench-%"))
    ):
        if username == "bench-office":
            w.office_user = uid
        elif username.startswith("bench-unit-") and unit_id is not None:
            w.users[unit_id] = uid


def add_plan(
    conn: Connection, rng: random.Random, city_id: int, n_items: int, n_steps: int, w: Workload
) -> None:
    """The big plan: Baotou's scheme and section tree, ``n_items`` items spread over it."""
    template = conn.execute(select(Plan.id).where(Plan.code == TEMPLATE_PLAN)).scalar_one()
    conn.execute(
        insert(table(Plan)),
        [
            {
                "code": PLAN_CODE,
                "title": "基准省数字政府建设考评指标(合成负载)",
                "city_id": city_id,
                "year": YEAR,
                "kind": "indicators",
                "points": Decimal(100),
                "source": "bench/generate.py",
                "notes": f"Synthetic workload (copy of {TEMPLATE_PLAN}).",
                "created_at": CREATED,
                "updated_at": CREATED,
            }
        ],
    )
    plan_id = conn.execute(select(Plan.id).where(Plan.code == PLAN_CODE)).scalar_one()
    w.plan_id = plan_id
    definition = conn.execute(
        select(Scheme.definition).where(Scheme.plan_id == template)
    ).scalar_one()
    conn.execute(
        insert(table(Scheme)),
        [{"plan_id": plan_id, "definition": copy.deepcopy(definition), "updated_at": CREATED}],
    )
    # Sections: the same tree, parents first so that children can point at them.
    sec = table(Section)
    sections = conn.execute(
        select(sec).where(sec.c.plan_id == template).order_by(sec.c.depth, sec.c.position)
    ).all()
    by_old: dict[int, int] = {}
    for depth in sorted({s.depth for s in sections}):
        level = [s for s in sections if s.depth == depth]
        conn.execute(
            insert(table(Section)),
            [
                {
                    "plan_id": plan_id,
                    "parent_id": by_old.get(s.parent_id) if s.parent_id else None,
                    "position": s.position,
                    "depth": s.depth,
                    "path": s.path,
                    "number": s.number,
                    "title": s.title,
                    "points": s.points,
                    "applies_to": s.applies_to,
                }
                for s in level
            ],
        )
        new = dict(
            conn.execute(
                select(Section.path, Section.id).where(
                    Section.plan_id == plan_id, Section.depth == depth
                )
            ).all()
        )
        by_old.update({s.id: new[s.path] for s in level})
    # Items: spread over Baotou's items in order, each taking its section and text. They carry
    # no points of their own, so each shares its section's budget (Baotou's rule).
    template_items = conn.execute(
        select(Item.section_id, Item.text).where(Item.plan_id == template).order_by(Item.position)
    ).all()
    counts = step_counts(rng, n_steps, n_items)
    phrases: list[str] = []
    schedules: list[list[Step]] = []
    for count in counts:
        phrase, steps = schedule_for(rng, count)
        phrases.append(phrase)
        schedules.append(steps)
    as_needed = set(rng.sample(range(n_items), max(1, round(n_items * AS_NEEDED_SHARE))))
    rows: list[dict[str, Any]] = []
    for k in range(n_items):
        section_id, body = template_items[k * len(template_items) // n_items]
        section = None if section_id is None else by_old[section_id]
        applicability = "as_needed" if k in as_needed else "all"
        rows.append(item_row(plan_id, section, k, body, phrases[k], applicability))
    conn.execute(insert(table(Item)), rows)
    items = conn.execute(
        select(Item.id, Item.code).where(Item.plan_id == plan_id).order_by(Item.position)
    ).all()
    w.items = [iid for iid, _ in items]
    w.item_codes = {iid: code for iid, code in items}
    w.as_needed = {w.items[k] for k in as_needed}
    conn.execute(
        insert(table(ItemUnit)),
        [
            {
                "item_id": iid,
                "role": "lead_assessor",
                "position": 1,
                "unit_id": w.departments[k % len(w.departments)],
                "group_id": None,
            }
            for k, iid in enumerate(w.items)
        ],
    )
    group_id = conn.execute(select(UnitGroup.id).where(UnitGroup.city_id == city_id)).scalar_one()
    conn.execute(
        insert(table(PlanAssessee)),
        [{"plan_id": plan_id, "position": 1, "unit_id": None, "group_id": group_id}],
    )
    step_ids = add_schedules(
        conn, plan_id, zip(w.items, schedules, strict=True), source="office", created=CREATED
    )
    w.schedule = {
        iid: [(step_ids[(iid, s.due_on, s.kind)], s) for s in steps]
        for iid, steps in zip(w.items, schedules, strict=True)
    }
    conn.execute(
        insert(table(Period)),
        [
            {
                "plan_id": plan_id,
                "code": code,
                "kind": kind,
                "starts_on": start,
                "ends_on": end,
                "is_closed": False,
            }
            for code in (f"{YEAR}-H1", f"{YEAR}-H2", str(YEAR))
            for kind, start, end in [parse_period_code(code)]
        ],
    )
    log(
        f"  plan {PLAN_CODE}: {len(sections)} sections, {n_items} items "
        f"({len(as_needed)} as needed), {sum(counts)} schedule steps"
    )


def add_tracking(
    conn: Connection, rng: random.Random, n_reports: int, w: Workload
) -> dict[str, int]:
    """Assignments, their milestones (with outcomes) and progress reports."""
    outcomes: list[list[Outcome]] = []
    rows: list[dict[str, Any]] = []
    for iid in w.items:
        for uid in w.units:
            applicable = iid not in w.as_needed or rng.random() >= NOT_APPLICABLE_SHARE
            got = [outcome(rng, s.due_on, w.diligence[uid], applicable) for _, s in w.schedule[iid]]
            outcomes.append(got)
            rows.append(
                assignment_row(
                    rng,
                    item_id=iid,
                    unit_id=uid,
                    role="assessed",
                    status=progress_status(rng, got, acknowledged=0.7),
                    got=got,
                    dues=[s.due_on for _, s in w.schedule[iid]],
                    is_not_applicable=not applicable,
                    acknowledged_on=(YEAR, 5, 28),
                    created=CREATED,
                )
            )
    bulk_insert(conn, table(Assignment), rows, len(rows))
    assignment_ids = [
        aid
        for (aid,) in conn.execute(
            select(Assignment.id)
            .join(Item)
            .where(Item.plan_id == w.plan_id)
            .order_by(Assignment.id)
        )
    ]
    keys: list[tuple[int, int]] = [(r["item_id"], r["unit_id"]) for r in rows]
    del rows

    def milestone_rows() -> Iterator[dict[str, Any]]:
        for aid, (iid, _), got in zip(assignment_ids, keys, outcomes, strict=True):
            for (sid, s), o in zip(w.schedule[iid], got, strict=True):
                yield milestone_row(aid, sid, s, o, CREATED)

    n_milestones = sum(len(got) for got in outcomes)
    bulk_insert(conn, table(Milestone), milestone_rows(), n_milestones)
    # Reports go mostly to busy assignments: one pick per report, weighted by work done.
    milestones = conn.execute(
        select(Milestone.id, Milestone.assignment_id, Milestone.status, Milestone.completed_on)
        .join(Assignment)
        .join(Item)
        .where(Item.plan_id == w.plan_id)
        .order_by(Milestone.id)
    )
    finished: dict[int, list[tuple[int, date | None]]] = {}
    for mid, aid, status, completed_on in milestones:
        if status == "done":
            finished.setdefault(aid, []).append((mid, completed_on))
    weights = [1 + len(finished.get(aid, ())) for aid in assignment_ids]
    per_assignment = reports_per_assignment(rng, weights, n_reports)

    def report_rows() -> Iterator[dict[str, Any]]:
        for index in sorted(per_assignment):
            aid, (iid, uid) = assignment_ids[index], keys[index]
            n = per_assignment[index]
            done = finished.get(aid, [])
            days = sorted(
                date(YEAR, 1, 10) + timedelta(rng.randint(0, (AS_OF - date(YEAR, 1, 10)).days))
                for _ in range(n)
            )
            for k, day in enumerate(days):
                mid = done[k][0] if k < len(done) else None
                if k == n - 1 and rng.random() < 0.15:
                    status = "submitted"
                else:
                    status = "returned" if rng.random() < 0.12 else "accepted"
                code = w.item_codes[iid]
                yield {
                    "assignment_id": aid,
                    "milestone_id": mid,
                    "author_id": w.users[uid],
                    "progress": f"{w.names[uid]}推进第{code}项指标:已完成第{k + 1}阶段工作,"
                    "相关系统已上线试运行,数据按期汇聚共享。",
                    "problems": "部分数据接口尚未打通,基层人员力量不足。" if k % 3 == 0 else None,
                    "next_steps": "加快接口对接,完善制度机制,按期完成下一节点任务。",
                    "percent": min(100, (k + 1) * 100 // max(n, 1)),
                    "status": status,
                    "submitted_at": office_time(day, rng),
                }

    bulk_insert(conn, table(ProgressReport), report_rows(), n_reports)
    return {"assignments": len(assignment_ids), "milestones": n_milestones, "reports": n_reports}


def plan_points(plan_id: int) -> dict[int, Fraction]:
    """Each item's points as the roll-up sees them (the real function, read through the ORM)."""
    plan = db.session.scalars(select(Plan).where(Plan.id == plan_id)).one()
    points = effective_points(plan, engine_of(plan))
    db.session.rollback()
    return points


def add_scores(
    conn: Connection, rng: random.Random, points: dict[int, Fraction], w: Workload
) -> dict[str, int]:
    """H1 scores as assessors enter them: item scores for one area, the entered components."""
    period_id = conn.execute(
        select(Period.id).where(Period.plan_id == w.plan_id, Period.code == f"{YEAR}-H1")
    ).scalar_one()
    # Baotou's area 三 is scored by its lead assessment units directly (考评办法 三(四)).
    area = conn.execute(
        select(Section.path).where(
            Section.plan_id == w.plan_id, Section.depth == 1, Section.number == "三"
        )
    ).scalar_one()
    scored_items = [
        iid
        for iid, path in conn.execute(
            select(Item.id, Section.path)
            .join(Section, Section.id == Item.section_id)
            .where(Item.plan_id == w.plan_id)
            .order_by(Item.position)
        )
        if path == area or path.startswith(f"{area}/")
    ]
    assignments = conn.execute(
        select(Assignment.id, Assignment.item_id, Assignment.unit_id)
        .where(Assignment.item_id.in_(scored_items), ~Assignment.is_not_applicable)
        .order_by(Assignment.id)
    ).all()
    scorers = w.departments[:2]
    rows: list[dict[str, Any]] = []
    for aid, iid, uid in assignments:
        if rng.random() >= 0.5:
            continue  # not scored yet: completion counts
        p = points[iid]
        for scorer in scorers[: rng.randint(1, len(scorers))]:
            value = Decimal(p.numerator) / Decimal(p.denominator) * Decimal(rng.uniform(0.6, 1))
            rows.append(
                {
                    "period_id": period_id,
                    "assignment_id": aid,
                    "unit_id": uid,
                    "item_id": iid,
                    "scorer_key": f"unit:{scorer}",
                    "scorer_unit_id": scorer,
                    "value": value.quantize(Decimal("0.0001"), rounding=ROUND_DOWN),
                    "numerator": None,
                    "denominator": None,
                    "source": "assessor",
                    "reason": "牵头考核单位按实绩评分",
                    "entered_by_id": w.office_user,
                    "entered_at": CREATED,
                }
            )
    bulk_insert(conn, table(ItemScore), rows, len(rows))
    components = [
        {
            "period_id": period_id,
            "unit_id": uid,
            "component": component,
            "value": Decimal(rng.randint(6000, 10000)) / 100,
            "source": "assessor",
            "reason": reason,
            "entered_by_id": w.office_user,
            "entered_at": CREATED,
        }
        for uid in w.units
        for component, reason in (
            ("field", "实地调研"),
            ("survey", "民意调查"),
            ("third_party", "第三方评估"),
        )
    ]
    bulk_insert(conn, table(ComponentScore), components, len(components))
    return {"item_scores": len(rows), "component_scores": len(components)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--milestones", type=int, default=300_000)
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if min(args.units, args.assignments) < 1 or min(args.milestones, args.reports) < 0:
        parser.error("--units and --assignments must be positive, the others not negative")
    url = database_url(args.db)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    n_items = math.ceil(args.assignments / args.units)
    n_steps = max(n_items, math.ceil(args.milestones / args.units))

    log(f"[1/6] recreating {url.render_as_string(hide_password=True)}")
    reset_database(url)
    app = make_app(url)
    with app.app_context():
        log("[2/6] migrating and loading the shipped seeds")
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds", progress=lambda m: log(f"  seeds: {m}"))
        db.session.commit()
        w = Workload()
        log(f"[3/6] province: {args.units:,} units and their staff users")
        with db.engine.begin() as conn:
            city_id = add_city_and_units(conn, rng, args.units, w)
            add_users(conn, w)
        log(f"[4/6] plan: {n_items} items × {len(w.units):,} units")
        with db.engine.begin() as conn:
            add_plan(conn, rng, city_id, n_items, n_steps, w)
        log("[5/6] assignments, milestones, progress reports, scores")
        with db.engine.begin() as conn:
            counts = add_tracking(conn, rng, args.reports, w)
            # The app keeps the period counts on every milestone change; bulk inserts fill them.
            started = time.perf_counter()
            conn.execute(period_counts_insert())
            log(f"  period_counts in {time.perf_counter() - started:.1f} s")
        points = plan_points(w.plan_id)
        with db.engine.begin() as conn:
            counts |= add_scores(conn, rng, points, w)
        log("[6/6] planner statistics")
        analyze(url)
        with db.engine.connect() as conn:
            h1 = conn.execute(
                select(Milestone.status, Milestone.is_late, func.count())
                .join(Assignment)
                .join(Item)
                .where(Item.plan_id == w.plan_id, Milestone.due_on <= date(YEAR, 6, 30))
                .group_by(Milestone.status, Milestone.is_late)
                .order_by(Milestone.status, Milestone.is_late)
            ).all()
        db.session.remove()
        db.engine.dispose()
    summary = {
        "db": url.get_backend_name(),
        "plan": PLAN_CODE,
        "seed": args.seed,
        "units": len(w.units),
        "items": n_items,
        **counts,
        "h1_milestones": {f"{status}{'_late' if late else ''}": n for status, late, n in h1},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
