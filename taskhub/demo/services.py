"""The living demo: a current-year plan of the demo city (示范市) whose dates follow today.

Everything is done the way an office and its units would do it, through the real services and
as the demo's own users: the office sets each item's dated steps, units acknowledge and report
(with evidence), reviewers accept or return, a unit asks for an extension, the lead assessment
unit enters scores and the overdue scan runs. So the dashboard, lights, rankings, bulletin and
deadline board show a working office, and the audit trail tells how it came about.

Deterministic (one fixed random seed; every date is relative to ``today``) and idempotent: the
plan of the year exists → nothing changes (a run on a later day included).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from taskhub.accounts import services as accounts
from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.storage import Storage
from taskhub.plans.models import Item, ItemUnit, Plan, UnitRole
from taskhub.plans.seeds import upsert_city, upsert_plan
from taskhub.plans.seedspec import read_city, read_plan
from taskhub.tracking import services as tracking
from taskhub.tracking.models import (
    Assignment,
    AssignmentStatus,
    Milestone,
    MilestoneStatus,
)
from taskhub.tracking.schedule import MilestoneInput, add_item_milestones
from taskhub.units.models import City, Unit

Progress = Callable[[str], None]

DATA = Path(__file__).resolve().parent / "data"
CITY_CODE = "demo"
#: The fixed seed: the same picture every time (dates move with today, choices do not).
SEED = 13

#: Login names of the demo city's unit staff (one account per unit).
UNIT_LOGINS = {
    "东城区人民政府": "dongcheng",
    "西城区人民政府": "xicheng",
    "南湖区人民政府": "nanhu",
    "北山区人民政府": "beishan",
    "青河县人民政府": "qinghe",
    "白云县人民政府": "baiyun",
    "市政府办公室": "zfb",
    "市政务服务和数据管理局": "sjj",
    "市发展和改革委员会": "fgw",
    "市财政局": "czj",
    "市公安局": "gaj",
    "市市场监督管理局": "scjgj",
    "市人力资源和社会保障局": "rsj",
    "市卫生健康委员会": "wjw",
    "市教育局": "jyj",
    "市自然资源和规划局": "zrzyj",
}
#: The assessor's unit: it leads the assessment of most items.
ASSESSOR_UNIT = "市政务服务和数据管理局"

#: Each item's schedule, as (kind, title, days from today); "soon" is the last day that is
#: still "due soon" (the yellow light). Items take them in turn.
SCHEDULES: list[list[tuple[str, str, int | str]]] = [
    [("stage", "取得阶段性成效", -40), ("complete", "完成", 35)],  # on track
    [("complete", "完成", -25)],  # done earlier in the year
    [("stage", "取得阶段性成效", -30), ("complete", "完成", "soon")],  # at risk
    [("stage", "取得阶段性成效", -40), ("complete", "完成", 35)],
    [("stage", "取得阶段性成效", -50), ("complete", "完成", -6)],  # due last week
    [("checkpoint", "报送阶段性进展", -20), ("complete", "完成", 70)],
    [("stage", "取得阶段性成效", -30), ("complete", "完成", "soon")],
    [("stage", "取得阶段性成效", -40), ("complete", "完成", 35)],
    [("stage", "取得阶段性成效", -50), ("complete", "完成", -6)],
    [("complete", "完成", -25)],
    [("checkpoint", "报送阶段性进展", -20), ("complete", "完成", 70)],
    [("stage", "取得阶段性成效", -40), ("complete", "完成", 35)],
    [("complete", "完成", -25)],
    [("checkpoint", "报送阶段性进展", -20), ("complete", "完成", 70)],
    [("stage", "取得阶段性成效", -30), ("complete", "完成", "soon")],
    [("complete", "完成", -25)],
    [("stage", "取得阶段性成效", -40), ("complete", "完成", 35)],
]

RETURN_REASON = (
    "佐证材料不完整:请补充系统运行截图和数据统计表,并说明网上可办率的计算口径后重新报送。"
)
EXTENSION_REASON = "涉及的业务系统需与省级平台对接,省级接口开放时间推迟,申请延期两周完成。"


@dataclass
class DemoLogin:
    username: str
    role: str
    unit: str | None
    password: str | None  #: None when the account already existed (never shown twice)


@dataclass
class LivingDemo:
    plan_code: str
    status: str  #: loaded | unchanged
    logins: list[DemoLogin] = field(default_factory=list)
    #: Assignments by status after loading (empty when unchanged).
    statuses: dict[str, int] = field(default_factory=dict)
    reports: int = 0
    scores: int = 0


def plan_code_for(today: date) -> str:
    return f"demo-{today.year}"


def load_living_demo(
    today: date,
    *,
    storage: Storage,
    max_bytes: int,
    progress: Progress = lambda _m: None,
) -> LivingDemo:
    """Create the demo city, its users and this year's demo plan with its activity (no commit)."""
    code = plan_code_for(today)
    city_spec = read_city(DATA / "city.yaml")
    existing = db.session.scalar(select(Plan).where(Plan.code == code))
    if existing is not None:
        city = db.session.scalar(select(City).where(City.code == CITY_CODE))
        logins = _ensure_users(city) if city is not None else []
        return LivingDemo(code, "unchanged", logins)
    progress(f"demo: city {city_spec.name} and its {len(city_spec.units)} units")
    city = upsert_city(city_spec)
    spec = read_plan(
        DATA / "plan.yaml",
        {CITY_CODE: city_spec},
        overrides={
            "code": code,
            "year": today.year,
            "title": f"示范市{today.year}年数字政府建设工作要点",
            "document_number": f"示政办发〔{today.year}〕1号",
        },
    )
    progress(f"demo: plan {code} ({len(spec.items)} items)")
    upsert_plan(spec, city, city_spec)
    plan = db.session.scalars(select(Plan).where(Plan.code == code)).one()
    logins = _ensure_users(city)
    users = _users(city)
    run = _Activity(plan, users, today, storage=storage, max_bytes=max_bytes, progress=progress)
    run.schedule()
    from taskhub.reminders import notices

    with notices.quiet():  # months of generated reports tell no one; the special cases do
        run.work()
    run.special_cases()
    progress("demo: overdue scan")
    from taskhub.tracking.jobs import scan_overdue

    scan_overdue(today)
    run.scores()
    statuses = _status_counts(plan)
    audit.record(
        "demo.plan_loaded",
        "plan",
        plan.id,
        actor_id=None,
        after={"code": code, "as_of": today, "statuses": statuses, "reports": run.reports},
    )
    return LivingDemo(code, "loaded", logins, statuses, run.reports, run.scored)


# -- the demo city's users ----------------------------------------------------------------------


def _wanted(city: City) -> list[tuple[str, str, str, Unit | None]]:
    """(username, role, display name, unit) of every demo account of the city."""
    units = {u.name: u for u in db.session.scalars(select(Unit).where(Unit.city_id == city.id))}
    wanted: list[tuple[str, str, str, Unit | None]] = [
        ("demo-admin", "admin", "示范市系统管理员", None),
        ("demo-office", "office", "示范市数字政府专班", None),
        ("demo-leader", "viewer", "示范市分管副市长", None),
        ("demo-assessor", "assessor", f"{ASSESSOR_UNIT}考核组", units.get(ASSESSOR_UNIT)),
    ]
    for name, login in UNIT_LOGINS.items():
        if name in units:
            wanted.append((f"demo-{login}", "unit", f"{name}联络员", units[name]))
    return wanted


def _ensure_users(city: City) -> list[DemoLogin]:
    logins = []
    for username, role, display, unit in _wanted(city):
        found = db.session.scalar(select(User).where(User.username == username))
        if found is not None:
            unit_name = found.unit.name if found.unit else None
            logins.append(DemoLogin(username, found.role, unit_name, None))
            continue
        password = accounts.generate_password()
        accounts.create_user(
            username=username, password=password, role=role, display_name=display, unit=unit
        )
        logins.append(DemoLogin(username, role, unit.name if unit else None, password))
    return logins


@dataclass
class _Users:
    office: User
    assessor: User
    by_unit: dict[int, User]


def _users(city: City) -> _Users:
    found = {
        u.username: u
        for u in db.session.scalars(
            select(User).where(User.username.in_([w[0] for w in _wanted(city)]))
        )
    }
    return _Users(
        office=found["demo-office"],
        assessor=found["demo-assessor"],
        by_unit={u.unit_id: u for u in found.values() if u.role == "unit" and u.unit_id},
    )


def _status_counts(plan: Plan) -> dict[str, int]:
    from sqlalchemy import func

    rows = db.session.execute(
        select(Assignment.status, func.count())
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id)
        .group_by(Assignment.status)
    ).all()
    return {status: int(n) for status, n in sorted(rows)}


# -- the year so far --------------------------------------------------------------------------


class _Activity:
    """Replays the year so far: schedules, receipts, reports, reviews, extensions, scores."""

    def __init__(
        self,
        plan: Plan,
        users: _Users,
        today: date,
        *,
        storage: Storage,
        max_bytes: int,
        progress: Progress,
    ) -> None:
        self.plan, self.users, self.today = plan, users, today
        self.storage, self.max_bytes, self.progress = storage, max_bytes, progress
        self.rng = random.Random(SEED)
        self.reports = 0
        self.scored = 0
        self.items = list(db.session.scalars(select(Item).where(Item.plan_id == plan.id)))
        self.items.sort(key=lambda i: i.position)
        self.assessor_items = {
            iu.item_id
            for iu in db.session.scalars(
                select(ItemUnit).where(
                    ItemUnit.item_id.in_([i.id for i in self.items]),
                    ItemUnit.role == UnitRole.LEAD_ASSESSOR.value,
                    ItemUnit.unit_id == users.assessor.unit_id,
                )
            )
        }

    def _assignments(self) -> list[Assignment]:
        query = (
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == self.plan.id)
            .order_by(Item.position, Assignment.id)
        )
        return list(db.session.scalars(query))

    def schedule(self) -> None:
        """The office sets each item's dated steps around today."""
        from taskhub.dashboard.services import due_soon_until

        soon = due_soon_until(self.today)
        for n, item in enumerate(self.items):
            steps = [
                MilestoneInput(
                    kind=kind,
                    due_on=soon if days == "soon" else self.today + timedelta(days=int(days)),
                    title=title,
                )
                for kind, title, days in SCHEDULES[n % len(SCHEDULES)]
            ]
            add_item_milestones([item], steps, actor_id=self.users.office.id)
        self.progress(f"demo: the office set the steps of {len(self.items)} items")

    def work(self) -> None:
        """Units acknowledge and report; reviewers accept, on time or late; some miss a step."""
        # Some units are more diligent than others: the ranking has a spread.
        units = sorted({a.unit_id for a in self._assignments()})
        diligence = {uid: self.rng.uniform(0.72, 0.99) for uid in units}
        assignments = self._assignments()
        for n, assignment in enumerate(assignments, start=1):
            if n % 20 == 7:
                continue  # not even acknowledged yet (未签收): one in twenty
            self._work_on(assignment, diligence[assignment.unit_id])
            if n % 20 == 0 or n == len(assignments):
                self.progress(f"demo: [{n}/{len(assignments)}] assignments worked on")

    def _work_on(self, assignment: Assignment, diligence: float) -> None:
        rng, today = self.rng, self.today
        unit_user = self.users.by_unit[assignment.unit_id]
        tracking.acknowledge(assignment, actor=unit_user)
        milestones = sorted(assignment.milestones, key=lambda m: m.due_on)
        for m in milestones:
            if m.due_on >= today:
                break
            chance = rng.random()
            if chance < diligence:
                reviewed_on = max(
                    m.due_on - timedelta(days=rng.randint(1, 6)), date(today.year, 1, 1)
                )
            elif chance < diligence + (1 - diligence) * 0.4:
                reviewed_on = min(m.due_on + timedelta(days=rng.randint(3, 9)), today)
            else:
                return  # this step was missed: overdue from here on
            self._report(assignment, unit_user, m, reviewed_on)
        still_open = [m for m in milestones if m.status == MilestoneStatus.OPEN.value]
        if still_open and rng.random() < 0.3:
            # The next step's report was just sent in: it awaits review.
            self._submit(assignment, unit_user, still_open[0], percent=self._on_pace(assignment))

    def _on_pace(self, assignment: Assignment) -> int:
        """A percent a little ahead of the time-elapsed pace (序时进度) the lights compare with,
        so a unit that reports is on track whatever the time of year."""
        year_start = date(self.today.year, 1, 1)
        end = max(m.due_on for m in assignment.milestones)
        span = max((end - year_start).days, 1)
        pace = min(1.0, max(0, (self.today - year_start).days) / span) * 100
        return min(95, int(pace) // 5 * 5 + self.rng.choice([5, 10, 15]))

    def _is_last(self, assignment: Assignment, milestone: Milestone) -> bool:
        return all(
            m.id == milestone.id or m.status != MilestoneStatus.OPEN.value
            for m in assignment.milestones
        )

    def _report(
        self, assignment: Assignment, user: User, milestone: Milestone, reviewed_on: date
    ) -> None:
        percent = 100 if self._is_last(assignment, milestone) else self._on_pace(assignment)
        report = self._submit(assignment, user, milestone, percent=percent)
        reviewer = self._reviewer(assignment)
        tracking.review_report(report, actor=reviewer, decision="accept", today=reviewed_on)

    def _reviewer(self, assignment: Assignment) -> User:
        if assignment.item_id in self.assessor_items and self.rng.random() < 0.5:
            return self.users.assessor
        return self.users.office

    def _submit(
        self, assignment: Assignment, user: User, milestone: Milestone, *, percent: int
    ) -> tracking.ProgressReport:
        item = assignment.item
        title = item.title or item.label
        if percent == 100:
            progress = (
                f"{title}已按要求全部完成。{_done_text(item.text)}"
                "佐证材料:实施方案、工作台账、系统运行截图、验收意见。"
            )
            files = [tracking.UploadedFile(f"{title}工作台账.xlsx", _ledger_xlsx(item, user))]
        else:
            progress = (
                f"已制定{title}实施方案,明确责任分工和时间节点;召开专题推进会"
                f"{self.rng.randint(2, 4)}次,完成年度任务的{percent}%。"
                "佐证材料:实施方案、推进会会议纪要。"
            )
            files = []
        report = tracking.submit_report(
            assignment,
            actor=user,
            progress=progress,
            percent=percent,
            problems=self.rng.choice(PROBLEMS) if percent < 100 else None,
            next_steps=self.rng.choice(NEXT_STEPS) if percent < 100 else None,
            milestone_id=milestone.id,
            files=files,
            storage=self.storage,
            max_bytes=self.max_bytes,
        )
        self.reports += 1
        return report

    def special_cases(self) -> None:
        """One returned report and one pending extension, always."""
        assignments = self._assignments()
        submitted = [a for a in assignments if a.status == AssignmentStatus.SUBMITTED.value]
        if submitted:
            target = submitted[len(submitted) // 2]
            report = target.reports[-1]
            tracking.review_report(
                report, actor=self.users.office, decision="return", reason=RETURN_REASON
            )
        overdue = [
            (a, m)
            for a in assignments
            if a.acknowledged_at is not None and a.status != AssignmentStatus.SUBMITTED.value
            for m in a.milestones
            if m.status == MilestoneStatus.OPEN.value and m.due_on < self.today
        ]
        if overdue:
            assignment, milestone = overdue[0]
            tracking.request_extension(
                milestone,
                actor=self.users.by_unit[assignment.unit_id],
                reason=EXTENSION_REASON,
                requested_due_on=self.today + timedelta(days=14),
            )
        self.progress("demo: a report returned, an extension requested")

    def scores(self) -> None:
        """The lead assessment unit scores about half of its assignments for the current period
        (the rest wait on its 待评分 list)."""
        from taskhub.dashboard.services import current_period
        from taskhub.scoring import services as scoring

        period = current_period(scoring.period_codes(self.plan), self.today)
        if period is None:
            return
        points_of: dict[int, Decimal] = {}
        for assignment in self._assignments():
            if assignment.item_id not in self.assessor_items or self.rng.random() < 0.5:
                continue
            item = assignment.item
            if item.id not in points_of:
                points_of[item.id] = scoring.item_points(item)
            points = points_of[item.id]
            share = {
                AssignmentStatus.COMPLETED.value: self.rng.uniform(0.9, 1.0),
                AssignmentStatus.NEW.value: self.rng.uniform(0.2, 0.4),
            }.get(assignment.status, self.rng.uniform(0.55, 0.85))
            if assignment.is_overdue:
                share = self.rng.uniform(0.3, 0.5)
            value = (points * Decimal(str(round(share, 2)))).quantize(Decimal("0.1"))
            scoring.score_item(
                assignment,
                period,
                actor=self.users.assessor,
                reason=self.rng.choice(SCORE_REASONS),
                value=value,
                points=points,
            )
            self.scored += 1
        self.progress(f"demo: {self.scored} scores entered for {period}")


PROBLEMS = [
    "部分基层单位业务系统对接进度偏慢,数据质量有待提高。",
    "专业技术人员不足,系统运维主要依靠第三方。",
    "跨部门数据共享协调难度较大,个别接口尚未开通。",
]
NEXT_STEPS = [
    "加强督促指导,按月调度进展,确保按期完成。",
    "组织业务培训,完善工作台账,做好验收准备。",
    "与相关部门对接接口标准,推动数据按时归集。",
]
SCORE_REASONS = [
    "对照佐证材料和系统监测数据评分。",
    "实地核查情况与报送材料一致。",
    "任务完成质量较好,个别指标未达目标值。",
]


def _done_text(text: str) -> str:
    return f"对照任务要求({text[:24]}……)逐项落实,相关指标已达到目标值。"


def _ledger_xlsx(item: Item, user: User) -> bytes:
    """A small 工作台账 workbook as the evidence of a final report."""
    from datetime import datetime

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "工作台账"
    sheet.append(["序号", "工作任务", "完成情况", "责任单位"])
    sheet.append([1, item.title or item.text[:20], "已完成", user.unit.name if user.unit else ""])
    stamp = datetime(2000, 1, 1)  # a fixed date: the same item gives the same file
    book.properties.created = book.properties.modified = stamp
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
