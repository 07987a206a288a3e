"""Build the API benchmark's ledger in a fresh database (deterministic with --seed).

    .venv/bin/python bench/generate_api.py --db URL [--units 50 --plans 5 --assignments 10000
        --users 200 --reports 30000 --as-of 2026-11-25 --seed 1 --copies 1 | --scale national]

Issue #6's ledger: one synthetic city (基准市) with ``--units`` units, ``--plans`` plans whose
item texts come from the shipped seed plans (four indicator plans assessing every unit and one
task plan with lead and responsible units), ``--assignments`` assignments, their milestones read
from deadline phrases by the app's own parser, ``--reports`` progress reports, two e-mail
contacts per unit, the shipped reminder rules, and ``--users`` users (unit staff with their
unit, office and assessors), each with an API token. The plain tokens go to
bench/.data/<database>.ledger.json for the benchmark and the load test. Dates are set around
``--as-of`` (a working day): milestones due before it are mostly done, some overdue.

The database is dropped and recreated (PostgreSQL: only ``taskhub_bench_api…``; SQLite: the
file) and migrated; rows go in with Core bulk inserts, one transaction per step. Progress goes
to stderr, one JSON summary line to stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_common import (
    CITY_CODE,
    DEFAULT_API_DB,
    PASSWORD,
    api_database_url,
    ledger_path,
    make_api_app,
)
from common import log
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
from sqlalchemy import Connection, func, insert, select, text, update
from werkzeug.security import generate_password_hash

from taskhub.accounts.models import ApiToken, User
from taskhub.accounts.tokens import TOKEN_PREFIX, digest
from taskhub.calendar.services import official_is_working_day
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.plans.models import Item, ItemUnit, Plan, PlanAssessee, Section
from taskhub.reminders.models import ReminderRule
from taskhub.reminders.services import DEFAULT_RULES
from taskhub.tracking.deadlines import PlannedMilestone, parse_deadline
from taskhub.tracking.models import Assignment, Milestone, ProgressReport
from taskhub.units.models import Contact, Unit, UnitAlias, UnitGroup, unit_group_members

CREATED = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
DEFAULT_AS_OF = date(2026, 11, 25)  # a Wednesday, a working day in China's 2026 calendar
#: Real municipal departments' names (the ledger's 市直 units).
DEPARTMENTS = [
    "发展改革委", "教育局", "科技局", "工业和信息化局", "公安局", "民政局", "司法局", "财政局",
    "人力资源和社会保障局", "自然资源局", "生态环境局", "住房和城乡建设局", "交通运输局",
    "水务局", "农业农村局", "商务局", "文化旅游局", "卫生健康委", "应急管理局", "审计局",
    "国资委", "市场监督管理局", "统计局", "医疗保障局", "政务服务和数据管理局", "大数据中心",
    "信访局", "税务局", "档案馆", "委网信办", "住房公积金中心", "城市管理局",
]  # fmt: skip
#: Deadline phrases as plans write them, with weights; the app's parser turns them into steps.
PHRASES: list[tuple[str, int]] = [
    *((f"{m}月底完成", 3) for m in range(3, 13)),
    *((f"{m}月底取得阶段性成效并持续推进", 2) for m in (5, 6, 8, 10)),
    *((f"{m}月底取得明显成效", 1) for m in (6, 9, 11, 12)),
    *((f"11月{d}日前完成", 2) for d in (20, 25, 27, 30)),
    *((f"{m}月15日前完成", 1) for m in (4, 7, 10, 12)),
    ("持续推进", 4),
    ("{year}年底", 4),
]
PROGRESS = [
    "已完成本阶段工作，相关系统已上线试运行，数据按期汇聚共享。",
    "已制定工作方案并召开专题会议部署，正在组织实施。",
    "已完成需求调研和方案论证，进入招标采购阶段。",
    "已完成平台对接联调，试点事项办理正常。",
]

#: One assignment to make: item, unit, role, and the item's steps with their ids.
Work = tuple[int, int, str, list[tuple[int, PlannedMilestone]]]


@dataclass(kw_only=True)
class Ledger(Bodies):
    as_of: date
    city_id: int = 0
    districts: list[int] = field(default_factory=list)
    all_group: int = 0
    staff: dict[int, list[int]] = field(default_factory=dict)  #: unit -> its unit users
    office: list[int] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)


def seed_texts() -> list[tuple[str, str, str, list[str]]]:
    """(code, title, kind, item texts) of each shipped seed plan, the texts of our items."""
    out = []
    for path in sorted((PROJECT_ROOT / "seeds" / "plans").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        texts = list(_texts(data.get("sections") or data))
        out.append((str(data["code"]), str(data["title"]), str(data["kind"]), texts))
    return out


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            yield " ".join(node["text"].split())
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def add_city_and_units(conn: Connection, rng: random.Random, n_units: int, w: Ledger) -> None:
    w.city_id = add_city(conn, CITY_CODE, "基准市", "synthetic: bench/generate_api.py")
    n_districts = max(1, n_units // 4)
    n_departments = min(len(DEPARTMENTS), max(1, n_units * 3 // 5))
    n_townships = max(0, n_units - n_districts - n_departments)
    common = {"city_id": w.city_id, "created_at": CREATED}
    rows: list[dict[str, Any]] = [
        {**common, "name": f"基准市第{d:02d}区人民政府", "kind": "county", "parent_id": None}
        for d in range(1, n_districts + 1)
    ]
    rows += [
        {**common, "name": f"基准市{name}", "kind": "department", "parent_id": None}
        for name in DEPARTMENTS[:n_departments]
    ]
    conn.execute(insert(table(Unit)), rows)
    top = conn.execute(
        select(Unit.id, Unit.kind).where(Unit.city_id == w.city_id).order_by(Unit.id)
    ).all()
    w.districts = [uid for uid, kind in top if kind == "county"]
    if n_townships:
        conn.execute(
            insert(table(Unit)),
            [
                {
                    **common,
                    "name": f"基准市第{t % n_districts + 1:02d}区"
                    f"第{t // n_districts + 1}街道办事处",
                    "kind": "township",
                    "parent_id": w.districts[t % n_districts],
                }
                for t in range(n_townships)
            ],
        )
    read_units(conn, rng, w.city_id, (0.5, 0.95), w)
    groups = {
        "各区人民政府": w.districts,
        "市直各有关单位": w.departments,
        "全市考评单位": w.units,
    }
    conn.execute(
        insert(table(UnitGroup)),
        [{"city_id": w.city_id, "name": n, "source": "synthetic"} for n in groups],
    )
    ids = dict(
        conn.execute(
            select(UnitGroup.name, UnitGroup.id).where(UnitGroup.city_id == w.city_id)
        ).all()
    )
    w.all_group = ids["全市考评单位"]
    conn.execute(
        insert(unit_group_members),
        [{"group_id": ids[n], "unit_id": u} for n, members in groups.items() for u in members],
    )
    conn.execute(
        insert(table(UnitAlias)),
        [{"city_id": w.city_id, "name": n, "group_id": ids[n]} for n in groups],
    )
    # Two contacts per unit with e-mail addresses: the reminders' recipients.
    conn.execute(
        insert(table(Contact)),
        [
            {
                "unit_id": u,
                "name": f"{w.names[u]}{'联络员' if k == 1 else '分管负责人'}",
                "position": "联络员" if k == 1 else "副主任",
                "office_phone": f"0472-{5100000 + u * 10 + k}",
                "mobile": None,
                "email": f"unit{u}-{k}@bench.example",
                "webhook_url": None,
                "is_demo": False,
                "created_at": CREATED,
                "updated_at": CREATED,
            }
            for u in w.units
            for k in (1, 2)
        ],
    )
    log(
        f"  units: {len(w.units)} ({n_districts} districts, {n_departments} departments, "
        f"{n_townships} streets), {len(w.units) * 2} contacts"
    )


def plain_token(rng: random.Random) -> str:
    """A token shaped like create_token's (``thk_`` + 43 URL-safe characters)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")


def add_users(conn: Connection, rng: random.Random, n_users: int, w: Ledger) -> None:
    """Office staff, assessors (of departments) and unit staff, each with one API token."""
    n_office = max(1, n_users // 40)
    n_assessors = max(1, n_users // 40)
    if n_users - n_office - n_assessors < len(w.units):
        raise SystemExit(f"--users: {n_users} leaves a unit without staff; give more")
    rows: list[dict[str, Any]] = [
        {
            "username": f"api-office-{k}",
            "display_name": f"督办室{k}",
            "role": "office",
            "unit_id": None,
            "email": f"office{k}@bench.example",
        }
        for k in range(1, n_office + 1)
    ]
    rows += [
        {
            "username": f"api-assessor-{k}",
            "display_name": f"考核专员{k}",
            "role": "assessor",
            "unit_id": w.departments[k % len(w.departments)],
            "email": None,
        }
        for k in range(1, n_assessors + 1)
    ]
    for k in range(n_users - n_office - n_assessors):
        unit = w.units[k % len(w.units)]
        rows.append(
            {
                "username": f"api-unit-{unit}-{k // len(w.units) + 1}",
                "display_name": f"{w.names[unit]}联络员{k // len(w.units) + 1}",
                "role": "unit",
                "unit_id": unit,
                "email": None,
            }
        )
    # One hash for all: hashing 200 passwords would take longer than everything else.
    common = {
        "password_hash": generate_password_hash(PASSWORD),
        "is_enabled": True,
        "locale": None,
        "created_at": CREATED,
    }
    conn.execute(insert(table(User)), [{**common, **r} for r in rows])
    users = conn.execute(
        select(User.id, User.username, User.role, User.unit_id)
        .where(User.username.like("api-%"))
        .order_by(User.id)
    ).all()
    tokens = []
    for uid, username, role, unit_id in users:
        plain = plain_token(rng)
        tokens.append(
            {
                "user_id": uid,
                "name": "基准测试",
                "token_hash": digest(plain),
                "prefix": plain[: len(TOKEN_PREFIX) + 6],
                "created_at": CREATED,
            }
        )
        w.tokens.append(
            {"user_id": uid, "username": username, "role": role, "unit_id": unit_id, "token": plain}
        )
        if role == "office":
            w.office.append(uid)
        elif role == "unit" and unit_id is not None:
            w.staff.setdefault(unit_id, []).append(uid)
    conn.execute(insert(table(ApiToken)), tokens)
    log(f"  users: {len(users)} ({n_office} office, {n_assessors} assessors), one token each")


def weighted_phrase(rng: random.Random, year: int) -> str:
    phrases, weights = zip(*PHRASES, strict=True)
    return rng.choices(phrases, weights=weights)[0].format(year=year)


def outcome(rng: random.Random, due: date, diligence: float, as_of: date) -> Outcome:
    """Done on time, done late, open (overdue when past due) or waived, as of ``as_of``."""
    r = rng.random()
    if due < as_of:
        if r < diligence:
            return Outcome("done", due - timedelta(rng.randint(0, 20)))
        if r < diligence + (1 - diligence) * 0.5:
            finished = due + timedelta(rng.randint(1, 30))
            if finished < as_of:
                return Outcome("done", finished, is_late=True)
        if r > 0.99:
            return Outcome("waived")
        extended = due + timedelta(days=30) if rng.random() < 0.1 else None
        return Outcome("open", is_overdue=(extended or due) < as_of, extended_to=extended)
    if r < 0.05:  # finished early
        return Outcome("done", as_of - timedelta(rng.randint(1, 20)))
    return Outcome("open")


def add_plans(
    conn: Connection, rng: random.Random, n_plans: int, n_assignments: int, w: Ledger
) -> list[Work]:
    """Plans, sections, items and their schedules; returns (item, unit, role, steps) to assign."""
    year = w.as_of.year
    templates = seed_texts()
    quota = [
        n_assignments // n_plans + (1 if p < n_assignments % n_plans else 0) for p in range(n_plans)
    ]
    work: list[Work] = []
    for p in range(n_plans):
        code, title, kind, texts = templates[p % len(templates)]
        plan_code = f"bench-api-{code.split('-')[0]}-{year}"
        conn.execute(
            insert(table(Plan)),
            [
                {
                    "code": plan_code,
                    "title": f"基准市{title.split('市', 1)[-1] if '市' in title else title}",
                    "city_id": w.city_id,
                    "year": year,
                    "kind": kind,
                    "points": None,
                    "source": "bench/generate_api.py",
                    "notes": f"Synthetic ledger; item texts from {code}.",
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
            ],
        )
        plan_id = conn.execute(select(Plan.id).where(Plan.code == plan_code)).scalar_one()
        numbers = ["一", "二", "三", "四"]
        conn.execute(
            insert(table(Section)),
            [
                {
                    "plan_id": plan_id,
                    "parent_id": None,
                    "position": k + 1,
                    "depth": 1,
                    "path": str(k + 1),
                    "number": n,
                    "title": f"第{n}部分重点任务",
                    "points": None,
                    "applies_to": None,
                }
                for k, n in enumerate(numbers)
            ],
        )
        sections = (
            conn.execute(
                select(Section.id).where(Section.plan_id == plan_id).order_by(Section.position)
            )
            .scalars()
            .all()
        )
        # Indicator plans assess every unit; task plans give each item a lead and a few units.
        targets: list[list[tuple[int, str]]] = []
        left = quota[p]
        while left > 0:
            if kind == "indicators":
                units = [(u, "assessed") for u in w.units[:left]]
            else:
                size = min(left, rng.randint(2, min(25, len(w.units))))
                chosen = rng.sample(w.units, size)
                lead = [u for u in chosen if u in w.departments][:1] or chosen[:1]
                units = [(lead[0], "lead")] + [(u, "responsible") for u in chosen if u != lead[0]]
            targets.append(units)
            left -= len(units)
        if kind == "indicators":
            conn.execute(
                insert(table(PlanAssessee)),
                [{"plan_id": plan_id, "position": 1, "unit_id": None, "group_id": w.all_group}],
            )
        phrases = [weighted_phrase(rng, year) for _ in targets]
        conn.execute(
            insert(table(Item)),
            [
                item_row(
                    plan_id,
                    sections[k * len(sections) // len(targets)],
                    k,
                    texts[k % len(texts)],
                    phrases[k],
                    "all",
                )
                for k in range(len(targets))
            ],
        )
        items = (
            conn.execute(select(Item.id).where(Item.plan_id == plan_id).order_by(Item.position))
            .scalars()
            .all()
        )
        unit_rows = []
        for iid, units in zip(items, targets, strict=True):
            if kind == "indicators":
                unit_rows.append(
                    {
                        "item_id": iid,
                        "role": "lead_assessor",
                        "position": 1,
                        "unit_id": w.departments[iid % len(w.departments)],
                        "group_id": None,
                    }
                )
                continue
            positions: dict[str, int] = {}
            for uid, role in units:
                positions[role] = positions.get(role, 0) + 1
                unit_rows.append(
                    {
                        "item_id": iid,
                        "role": role,
                        "position": positions[role],
                        "unit_id": uid,
                        "group_id": None,
                    }
                )
        conn.execute(insert(table(ItemUnit)), unit_rows)
        schedules = [parse_deadline(phrase, year=year).milestones for phrase in phrases]
        step_ids = add_schedules(
            conn, plan_id, zip(items, schedules, strict=True), source="phrase", created=CREATED
        )
        for iid, units, steps in zip(items, targets, schedules, strict=True):
            planned = [(step_ids[(iid, m.due_on, m.kind)], m) for m in steps]
            work += [(iid, uid, role, planned) for uid, role in units]
        w.plans.append({"code": plan_code, "kind": kind, "items": len(items)})
        log(f"  plan {plan_code} ({kind}): {len(items)} items, {quota[p]} assignments")
    return work


def add_tracking(
    conn: Connection,
    rng: random.Random,
    work: list[Work],
    n_reports: int,
    w: Ledger,
) -> dict[str, int]:
    """Assignments with their milestones' outcomes, then the progress reports."""
    outcomes = [
        [outcome(rng, m.due_on, w.diligence[uid], w.as_of) for _, m in steps]
        for _, uid, _, steps in work
    ]
    # Reports go mostly to busy assignments: weighted by the milestones done.
    weights = [1 + sum(o.status == "done" for o in got) for got in outcomes]
    per = reports_per_assignment(rng, weights, n_reports)
    last_status: dict[int, str] = {}
    rows: list[dict[str, Any]] = []
    for k, ((iid, uid, role, steps), got) in enumerate(zip(work, outcomes, strict=True)):
        status = progress_status(rng, got, acknowledged=0.8)
        if k in per and status != "completed":
            # The last report decides: 12% awaiting review, 8% returned.
            r = rng.random()
            last_status[k] = "submitted" if r < 0.12 else "returned" if r < 0.2 else "accepted"
            if last_status[k] != "accepted":
                status = last_status[k]
            elif status in ("new", "acknowledged"):
                status = "in_progress"
        rows.append(
            assignment_row(
                rng,
                item_id=iid,
                unit_id=uid,
                role=role,
                status=status,
                got=got,
                dues=[m.due_on for _, m in steps],
                is_not_applicable=False,
                acknowledged_on=(w.as_of.year, 6, 28),
                created=CREATED,
            )
        )
    bulk_insert(conn, table(Assignment), rows, len(rows))
    ids = dict(
        ((iid, uid), aid)
        for aid, iid, uid in conn.execute(
            select(Assignment.id, Assignment.item_id, Assignment.unit_id)
        )
    )
    assignment_ids = [ids[(iid, uid)] for iid, uid, _, _ in work]
    statuses = [r["status"] for r in rows]
    del rows

    def milestone_rows() -> Iterator[dict[str, Any]]:
        for aid, (_, _, _, steps), got in zip(assignment_ids, work, outcomes, strict=True):
            for (sid, m), o in zip(steps, got, strict=True):
                yield milestone_row(aid, sid, m, o, CREATED)

    n_milestones = sum(len(got) for got in outcomes)
    bulk_insert(conn, table(Milestone), milestone_rows(), n_milestones)
    done_ids: dict[int, list[int]] = {}
    for mid, aid in conn.execute(
        select(Milestone.id, Milestone.assignment_id)
        .where(Milestone.status == "done")
        .order_by(Milestone.due_on, Milestone.id)
    ):
        done_ids.setdefault(aid, []).append(mid)
    start = date(w.as_of.year, 1, 10)

    def report_rows() -> Iterator[dict[str, Any]]:
        for k in sorted(per):
            aid, (_, uid, _, _) = assignment_ids[k], work[k]
            n = per[k]
            days = sorted(
                start + timedelta(rng.randint(0, (w.as_of - start).days - 1)) for _ in range(n)
            )
            done = done_ids.get(aid, [])
            for j, day in enumerate(days):
                if j == n - 1:
                    status = last_status.get(k, "accepted")
                else:
                    status = "returned" if rng.random() < 0.1 else "accepted"
                yield {
                    "assignment_id": aid,
                    "milestone_id": done[j] if j < len(done) else None,
                    "author_id": rng.choice(w.staff[uid]),
                    "progress": f"{w.names[uid]}：{rng.choice(PROGRESS)}（第{j + 1}次报送）",
                    "problems": "部分数据接口尚未打通，基层人员力量不足。" if j % 3 == 0 else None,
                    "next_steps": "加快接口对接，完善制度机制，按期完成下一节点任务。",
                    "percent": min(100, (j + 1) * 100 // n),
                    "status": status,
                    "submitted_at": office_time(day, rng),
                }

    bulk_insert(conn, table(ProgressReport), report_rows(), n_reports)
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    log(f"  assignment statuses: {json.dumps(counts, sort_keys=True)}")
    return {
        "assignments": len(assignment_ids),
        "milestones": n_milestones,
        "open_milestones": sum(o.status == "open" for got in outcomes for o in got),
        "reports": n_reports,
        "open_assignments": sum(s != "completed" for s in statuses),
        "reportable_assignments": sum(s not in ("completed", "submitted") for s in statuses),
    }


def add_rules(conn: Connection) -> None:
    """The shipped reminder rules (the migration loads them), without quiet hours: the bench may
    run at any hour, and a digest held to 08:00 would not be delivered by the run it is timed in."""
    if not conn.execute(select(func.count()).select_from(ReminderRule)).scalar_one():
        conn.execute(
            insert(table(ReminderRule)),
            [
                {**rule, "position": k, "updated_at": CREATED}
                for k, rule in enumerate(DEFAULT_RULES)
            ],
        )
    conn.execute(update(ReminderRule).values(quiet_from=None, quiet_until=None, is_enabled=True))


#: --scale names: how many copies of the city (10,000 assignments each by default).
SCALES = {"city": 1, "province": 10, "national": 100}


def add_copies(copies: int, counts: dict[str, Any]) -> dict[str, Any]:
    """Copy the city's units, assignments and milestones ``copies - 1`` times, inside the
    database (``INSERT … SELECT``, one statement per table and copy, no rows through Python).

    Copy k of a row gets id + k × (the largest id), so ids stay dense and every copy's rows
    keep their links (a unit's parent, an assignment's unit, a milestone's assignment). Copied
    units are named "<name>·k" in the same city; they have no users, contacts or reports, so
    the benchmark's tokens (the first city's) see the same rows at any scale: what grows is
    what the office sees. Items and plans are shared, so a plan's assignments grow too.
    """
    units, assignments, milestones = (table(model) for model in (Unit, Assignment, Milestone))
    with db.engine.connect() as conn:
        top = {
            name: conn.execute(select(func.max(t.c.id))).scalar_one()
            for name, t in (
                ("units", units),
                ("assignments", assignments),
                ("milestones", milestones),
            )
        }
    shifted = {
        "units": {"id": top["units"], "parent_id": top["units"], "merged_into_id": top["units"]},
        "assignments": {"id": top["assignments"], "unit_id": top["units"]},
        "milestones": {"id": top["milestones"], "assignment_id": top["assignments"]},
    }
    started = time.perf_counter()
    for k in range(1, copies):
        with db.engine.begin() as conn:
            for t in (units, assignments, milestones):
                columns = []
                for column in t.columns:
                    step = shifted[t.name].get(column.name)
                    if step is not None:
                        columns.append((column + k * step).label(column.name))
                    elif t is units and column.name == "name":
                        columns.append((column + f"·{k}").label("name"))
                    else:
                        columns.append(column)
                source = select(*columns).where(t.c.id <= top[t.name])
                conn.execute(insert(t).from_select([c.name for c in t.columns], source))
        if k % 5 == 0 or k == copies - 1:
            rate = k * top["assignments"] / (time.perf_counter() - started)
            log(
                f"      copy {k + 1}/{copies}: {(k + 1) * top['assignments']:,} assignments "
                f"({rate:,.0f} a second)"
            )
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for name in top:  # the next id after the copies
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    return {
        **counts,
        "copies": copies,
        "assignments": top["assignments"] * copies,
        "milestones": top["milestones"] * copies,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=DEFAULT_API_DB, help=f"default {DEFAULT_API_DB}")
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--plans", type=int, default=5)
    parser.add_argument("--assignments", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--reports", type=int, default=30_000)
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=DEFAULT_AS_OF,
        help=f"the ledger's today, a working day (default {DEFAULT_AS_OF})",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="a national ledger: the city's units, assignments and milestones copied inside "
        "the database this many times (100: 1,000,000 assignments; see add_copies)",
    )
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        help="shorthand for --copies: " + ", ".join(f"{k} = {v}" for k, v in SCALES.items()),
    )
    args = parser.parse_args(argv)
    if args.scale:
        args.copies = SCALES[args.scale]
    if args.copies < 1:
        parser.error("--copies must be positive")
    if min(args.units, args.plans, args.assignments) < 1 or args.reports < 0:
        parser.error("--units, --plans and --assignments must be positive")
    if args.units < 8:
        parser.error("--units: at least 8 (districts, departments and streets)")
    if not official_is_working_day(args.as_of):
        parser.error(f"--as-of {args.as_of} is not a working day: reminders fire on working days")
    url = api_database_url(args.db)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    w = Ledger(as_of=args.as_of)

    log(f"[1/5] recreating {url.render_as_string(hide_password=True)}")
    reset_database(url)
    app = make_api_app(url)
    with app.app_context():
        log("[2/5] migrating")
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        log(f"[3/5] city: {args.units} units, contacts, {args.users} users and their tokens")
        with db.engine.begin() as conn:
            add_city_and_units(conn, rng, args.units, w)
            add_users(conn, rng, args.users, w)
            add_rules(conn)
        log(f"[4/5] {args.plans} plans, {args.assignments:,} assignments, {args.reports:,} reports")
        with db.engine.begin() as conn:
            work = add_plans(conn, rng, args.plans, args.assignments, w)
        with db.engine.begin() as conn:
            counts = add_tracking(conn, rng, work, args.reports, w)
        if args.copies > 1:
            counts = add_copies(args.copies, counts)
        log("[5/5] planner statistics")
        analyze(url)
        with db.engine.connect() as conn:
            n_users = conn.execute(select(func.count()).select_from(User)).scalar_one()
        db.session.remove()
        db.engine.dispose()
    summary = {
        "db": url.get_backend_name(),
        "seed": args.seed,
        "as_of": args.as_of.isoformat(),
        "units": len(w.units),
        "plans": w.plans,
        "users": n_users,
        "contacts": len(w.units) * 2,
        **counts,
        "seconds": round(time.perf_counter() - started, 1),
    }
    ledger_path(url).write_text(
        json.dumps({**summary, "tokens": w.tokens}, ensure_ascii=False, indent=1)
    )
    log(f"plain tokens in {ledger_path(url)}")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
