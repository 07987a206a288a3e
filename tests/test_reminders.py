"""Reminders end to end: rules as data, digests in the outbox, delivery to real servers, jobs.

Each test keeps a few Baotou assignments open (item 3 and 4, both 6月底完成 → 2022-06-30), closes
every other milestone, and gives contacts only to the units it names, so the recipients are exact.
The outbox's clock is frozen (quiet hours depend on it); the office's calendar is the real 2022
one: 06-03 is the Dragon Boat holiday, 10-01..07 National Day with 10-08/09 worked.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from taskhub import config as taskhub_config
from taskhub import create_app
from taskhub.audit.models import AuditEvent
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db, now_utc
from taskhub.jobs.models import JobRun
from taskhub.jobs.registry import get_job
from taskhub.jobs.scheduler import SchedulerRunner
from taskhub.jobs.services import missed_daily_jobs, run_job
from taskhub.plans.models import Item, Plan
from taskhub.reminders import jobs as reminder_jobs
from taskhub.reminders import services
from taskhub.reminders.models import Notification, OutboxMessage, ReminderRule
from taskhub.scoring.models import Scheme
from taskhub.tracking import services as tracking
from taskhub.tracking import views as tracking_views
from taskhub.tracking.jobs import scan_overdue
from taskhub.tracking.models import Assignment, Milestone, refresh_next_due
from taskhub.units.models import Contact
from tests.conftest import login, make_user, unit_named
from tests.servers import HOST, closed_port

OFFICE_TZ = ZoneInfo("Asia/Shanghai")
BASE_URL = "https://duban.example.gov.cn"
JUNE_30 = date(2022, 6, 30)  # a Thursday; items 3 and 4 are due then

BEFORE = "3个工作日前提醒"
ON_DAY = "到期当日提醒"
OVERDUE = "超期催办（每3个工作日）"
ESCALATE = "超期5个工作日升级"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """An office-local wall time as the UTC instant the database stores."""
    return datetime.combine(day, time(hour, minute), OFFICE_TZ).astimezone(UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- fixtures and helpers -----------------------------------------------------------------------


class Clock:
    """The outbox's notion of now, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the reminder services' clock at 09:00 office time on 2022-06-30."""
    frozen = Clock(at(JUNE_30))
    monkeypatch.setattr(services, "now_utc", frozen)
    return frozen


@pytest.fixture
def mail(app: Flask, smtp_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real SMTP server, with the app pointed at it (and at our public address)."""
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "BASE_URL", BASE_URL)
    return smtp_server


def calendar() -> services.WorkingDays:
    cal = WorkingCalendar.load(date(2022, 1, 1), date(2022, 12, 31))
    return services.WorkingDays.of(cal)


def assignment(number: str, unit_name: str) -> Assignment:
    """The Baotou assignment of item ``number`` for one unit."""
    unit = unit_named(unit_name, "baotou")
    return db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == "baotou-2022", Item.number == number, Assignment.unit_id == unit.id)
    ).one()


def milestone_of(a: Assignment) -> Milestone:
    return db.session.scalars(select(Milestone).where(Milestone.assignment_id == a.id)).one()


def keep_open(*assignments: Assignment) -> None:
    """Close every milestone except those of ``assignments``, so recipients are exact."""
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id.not_in([a.id for a in assignments]))
        .values(status="done", completed_on=date(2022, 1, 10))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire_all()


def add_contact(
    unit_name: str,
    name: str,
    email: str | None = None,
    webhook: str | None = None,
    city: str = "baotou",
) -> Contact:
    contact = Contact(
        unit_id=unit_named(unit_name, city).id, name=name, email=email, webhook_url=webhook
    )
    db.session.add(contact)
    db.session.commit()
    return contact


def decide(today: date) -> dict[str, int]:
    result = services.decide(today, calendar(), base_url=BASE_URL)
    db.session.commit()
    return result


def deliver(app: Flask, now: datetime) -> dict[str, int]:
    return services.deliver(app.config, now=now)


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def rule_named(name: str) -> ReminderRule:
    return db.session.scalars(select(ReminderRule).where(ReminderRule.name == name)).one()


@dataclass
class Baotou:
    """Item 3 for 昆都仑区 and 青山区, item 4 for 昆都仑区: all due 2022-06-30."""

    kdl3: Assignment
    kdl4: Assignment
    qs3: Assignment


@pytest.fixture
def baotou(session: Any) -> Baotou:
    scene = Baotou(
        assignment("3", "昆都仑区人民政府"),
        assignment("4", "昆都仑区人民政府"),
        assignment("3", "青山区人民政府"),
    )
    keep_open(scene.kdl3, scene.kdl4, scene.qs3)
    assert {milestone_of(a).due_on for a in (scene.kdl3, scene.kdl4, scene.qs3)} == {JUNE_30}
    return scene


# --- rules ---------------------------------------------------------------------------------------


def test_the_migration_ships_the_default_rules(session: Any) -> None:
    rules = list(db.session.scalars(select(ReminderRule).order_by(ReminderRule.position)))
    shipped = [
        {
            "name": r.name,
            "offset_working_days": r.offset_working_days,
            "repeat_every_working_days": r.repeat_every_working_days,
            "recipients": r.recipients,
            "channels": r.channels,
        }
        for r in rules
    ]
    assert shipped == services.DEFAULT_RULES
    assert {(r.quiet_from, r.quiet_until, r.is_enabled) for r in rules} == {
        (time(22), time(8), True)
    }
    assert services.ensure_default_rules() == 0  # never duplicated


@pytest.mark.parametrize(
    ("rule", "due", "fires_on"),
    [
        # Three working days back from Wednesday 06-08 skip the weekend and the 06-03 holiday.
        (BEFORE, "2022-06-08", ["2022-06-02"]),
        (BEFORE, "2022-06-30", ["2022-06-27"]),
        (ON_DAY, "2022-06-30", ["2022-06-30"]),
        # Due on a Saturday or a holiday: reminded on the working day before.
        (ON_DAY, "2022-07-02", ["2022-07-01"]),
        (ON_DAY, "2022-06-03", ["2022-06-02"]),
        # A make-up working Saturday (调休) is a working day like any other.
        (ON_DAY, "2022-10-08", ["2022-10-08"]),
        # Overdue: the next working day, then every 3 working days.
        (
            OVERDUE,
            "2022-06-30",
            ["2022-07-01", "2022-07-06", "2022-07-11", "2022-07-14", "2022-07-19"],
        ),
        (
            OVERDUE,
            "2022-06-02",
            ["2022-06-06", "2022-06-09", "2022-06-14", "2022-06-17", "2022-06-22"],
        ),
        (OVERDUE, "2022-09-29", ["2022-09-30", "2022-10-10", "2022-10-13", "2022-10-18"]),
        # Escalation: 5 working days overdue, then every 3.
        (ESCALATE, "2022-06-30", ["2022-07-07", "2022-07-12", "2022-07-15", "2022-07-20"]),
        # Across National Day, whose make-up Saturday and Sunday (10-08, 10-09) count.
        (ESCALATE, "2022-09-29", ["2022-10-11", "2022-10-14", "2022-10-19"]),
    ],
)
def test_a_rule_fires_on_exactly_these_days(
    session: Any, rule: str, due: str, fires_on: list[str]
) -> None:
    days, the_rule, due_on = calendar(), rule_named(rule), d(due)
    window = [due_on + timedelta(days=n) for n in range(-14, 22)]
    fired = [day.isoformat() for day in window if services.fires_today(due_on, the_rule, day, days)]
    assert fired == fires_on
    assert all(days.is_working(d(day)) for day in fired)  # never on a weekend or holiday


# --- deciding and delivering ----------------------------------------------------------------------


def test_due_day_digest_reaches_every_channel_once(
    app: Flask, baotou: Baotou, mail: Any, webhook_server: Any, clock: Clock
) -> None:
    add_contact(
        "昆都仑区人民政府",
        "张三",
        "zhangsan@kdl.example.gov.cn",
        webhook_server.url("/robot?access_token=kdl"),
    )
    add_contact("青山区人民政府", "李四", "lisi@qs.example.gov.cn")
    kdl_user = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "kdl-staff")
    make_user("office", username="office-1")  # no escalation on the due day

    assert decide(JUNE_30) == {"digests": 4, "queued": 4, "milestones": 3}
    assert deliver(app, clock.now) == {"sent": 4, "retrying": 0, "failed": 0}

    by_rcpt = {m.rcpt_tos[0]: m for m in mail.messages}
    assert sorted(by_rcpt) == ["lisi@qs.example.gov.cn", "zhangsan@kdl.example.gov.cn"]
    zhang = by_rcpt["zhangsan@kdl.example.gov.cn"]
    # One digest listing both of the unit's items, in Chinese, with links to each assignment.
    assert zhang.subject == "【任务督办】2项任务节点提醒"
    text = zhang.text
    assert text.startswith("张三：您好！截至2022年06月30日")
    assert "包头市数字政府建设考评指标 第3项" in text and "第4项" in text
    assert text.count("到期日 2022年06月30日，即将到期") == 2
    assert f"{BASE_URL}/assignments/{baotou.kdl3.id}" in text
    assert f"{BASE_URL}/assignments/{baotou.kdl4.id}" in text
    assert f"/assignments/{baotou.qs3.id}" not in text  # another unit's task
    li = by_rcpt["lisi@qs.example.gov.cn"]
    assert li.subject == "【任务督办】1项任务节点提醒"
    assert f"{BASE_URL}/assignments/{baotou.qs3.id}" in li.text

    [(path, payload)] = webhook_server.requests
    assert path == "/robot?access_token=kdl"
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == "【任务督办】2项任务节点提醒"
    assert payload["markdown"]["text"].startswith("### 【任务督办】2项任务节点提醒\n\n张三：您好！")
    assert f"/assignments/{baotou.kdl3.id}" in payload["markdown"]["text"]

    [note] = db.session.scalars(select(Notification)).all()
    assert (note.user_id, note.title, note.link) == (
        kdl_user.id,
        "【任务督办】2项任务节点提醒",
        "/my",
    )
    assert f"/assignments/{baotou.kdl4.id}" in note.body
    assert {m.status for m in outbox()} == {"sent"}


def test_one_digest_per_recipient_across_rules(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    keep_open(baotou.kdl3, baotou.kdl4)
    milestone_of(baotou.kdl4).extended_to = date(2022, 7, 6)  # due in 3 working days on 07-01
    db.session.commit()
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    clock.now = at(date(2022, 7, 1))
    assert decide(date(2022, 7, 1)) == {"digests": 1, "queued": 1, "milestones": 2}
    deliver(app, clock.now)
    [message] = mail.messages
    assert message.subject == "【任务督办】2项任务节点提醒（1项已超期）"
    overdue = message.text.index("第3项")
    upcoming = message.text.index("第4项")
    assert overdue < upcoming  # by due date
    assert "到期日 2022年06月30日，已超期" in message.text
    assert "到期日 2022年07月06日，即将到期" in message.text


@pytest.mark.parametrize(
    ("today", "subject", "state"),
    [
        ("2022-06-27", "【任务督办】1项任务节点提醒", "即将到期"),
        ("2022-07-01", "【任务督办】1项任务节点提醒（1项已超期）", "已超期"),
        ("2022-07-06", "【任务督办】1项任务节点提醒（1项已超期）", "已超期"),
    ],
)
def test_before_and_after_the_due_date_the_wording_says_which(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock, today: str, subject: str, state: str
) -> None:
    keep_open(baotou.qs3)
    add_contact("青山区人民政府", "李四", "lisi@qs.example.gov.cn")
    clock.now = at(d(today))
    decide(d(today))
    deliver(app, clock.now)
    [message] = mail.messages
    assert message.subject == subject
    assert f"到期日 2022年06月30日，{state}。" in message.text


def test_no_reminder_on_days_no_rule_fires(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    add_contact("青山区人民政府", "李四", "lisi@qs.example.gov.cn")
    for today in ("2022-06-28", "2022-07-02", "2022-07-04", "2022-07-05"):
        assert decide(d(today))["queued"] == 0
    assert outbox() == []


def test_a_disabled_rule_sends_nothing(app: Flask, baotou: Baotou, mail: Any, clock: Clock) -> None:
    add_contact("青山区人民政府", "李四", "lisi@qs.example.gov.cn")
    rule_named(ON_DAY).is_enabled = False  # the office switches the due-day reminder off
    db.session.commit()
    assert decide(JUNE_30)["queued"] == 0
    assert decide(date(2022, 6, 27))["queued"] == 1  # the other rules still apply


def test_escalation_at_five_working_days_goes_to_lead_unit_and_office(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    keep_open(baotou.kdl3)
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    # Item 3's lead assessment units are 市政府办公室 and 市公安局; only the latter has a contact.
    add_contact("市公安局", "王五", "wangwu@gaj.example.gov.cn")
    office = make_user("office", username="office-1")
    office.email = "duban@example.gov.cn"
    db.session.commit()

    escalation_day = date(2022, 7, 7)  # 07-01, 04, 05, 06, 07: five working days overdue
    clock.now = at(escalation_day)
    assert decide(escalation_day) == {"digests": 3, "queued": 3, "milestones": 1}
    assert deliver(app, clock.now)["sent"] == 3

    assert sorted(m.rcpt_tos[0] for m in mail.messages) == [
        "duban@example.gov.cn",
        "wangwu@gaj.example.gov.cn",
    ]  # not the unit itself: its overdue reminders came on 07-01 and 07-06
    for message in mail.messages:
        assert message.subject == "【任务督办】1项任务节点提醒（1项已超期）"
        assert "（昆都仑区人民政府）" in message.text
    sent = {m.rcpt_tos[0]: m.text for m in mail.messages}
    assert f"办理：{BASE_URL}/assignments/{baotou.kdl3.id}" in sent["duban@example.gov.cn"]
    # The lead unit cannot open 昆都仑区's task: its line points to its own task of the item.
    gaj3 = assignment("3", "市公安局")
    assert f"/assignments/{baotou.kdl3.id}" not in sent["wangwu@gaj.example.gov.cn"]
    assert (
        f"已超期。请督促该单位办理。 本单位该项任务：{BASE_URL}/assignments/{gaj3.id}"
        in sent["wangwu@gaj.example.gov.cn"]
    )
    [note] = db.session.scalars(select(Notification)).all()
    assert note.user_id == office.id


def lead_task() -> Assignment:
    """市公安局's own task of item 3 (it also leads item 3's assessment), open, due 06-30."""
    gaj3 = assignment("3", "市公安局")
    milestone = milestone_of(gaj3)
    milestone.status, milestone.completed_on = "open", None
    assert milestone.due_on == JUNE_30
    db.session.commit()
    return gaj3


def lead_units_too() -> None:
    """The escalation rule also tells the assignment's own unit (one run, both kinds of line)."""
    rule_named(ESCALATE).recipients = ["unit_contacts", "lead_unit", "office"]
    db.session.commit()


ESCALATION_DAY = date(2022, 7, 7)  # 07-01, 04, 05, 06, 07: five working days overdue


def escalate(app: Flask, clock: Clock) -> None:
    """The reminders of the escalation day, decided and delivered."""
    clock.now = at(ESCALATION_DAY)
    decide(ESCALATION_DAY)
    deliver(app, clock.now)


def item_3_escalated(app: Flask, baotou: Baotou, clock: Clock, kdl: str, gaj: str) -> Assignment:
    """Item 3: 昆都仑区 and 青山区 overdue, and the lead assessment unit 市公安局's own task;
    a contact of 昆都仑区 and one of 市公安局 (these addresses); the escalation day's run."""
    keep_open(baotou.kdl3, baotou.qs3)
    gaj3 = lead_task()
    lead_units_too()
    add_contact("昆都仑区人民政府", "张三", kdl)
    add_contact("市公安局", "王五", gaj)
    escalate(app, clock)
    return gaj3


def test_a_lead_units_digest_never_links_to_another_units_task(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    gaj3 = item_3_escalated(
        app, baotou, clock, "zhangsan@kdl.example.gov.cn", "wangwu@gaj.example.gov.cn"
    )
    sent = {m.rcpt_tos[0]: m.text for m in mail.messages}

    # The responsible unit's own digest still links to its task.
    kdl = sent["zhangsan@kdl.example.gov.cn"]
    assert listed(kdl) == [baotou.kdl3.id]
    assert f"办理：{BASE_URL}/assignments/{baotou.kdl3.id}" in kdl
    # The lead unit's: its own task with its link; the others' through its own task.
    gaj = sent["wangwu@gaj.example.gov.cn"]
    assert set(listed(gaj)) == {gaj3.id}
    assert f"办理：{BASE_URL}/assignments/{gaj3.id}" in gaj
    for unit in ("昆都仑区人民政府", "青山区人民政府"):
        [line] = [line for line in gaj.splitlines() if f"（{unit}）" in line]
        assert line.endswith(f"请督促该单位办理。 本单位该项任务：{BASE_URL}/assignments/{gaj3.id}")


def test_an_address_two_units_share_links_each_units_own_tasks(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    """One address for two units (a shared office mailbox): each unit's own task keeps its
    link, whichever unit's contact made the digest first."""
    gaj3 = item_3_escalated(app, baotou, clock, "shared@example.gov.cn", "shared@example.gov.cn")

    [text] = [m.text for m in mail.messages if m.rcpt_tos == ["shared@example.gov.cn"]]
    assert f"办理：{BASE_URL}/assignments/{baotou.kdl3.id}" in text
    assert f"办理：{BASE_URL}/assignments/{gaj3.id}" in text
    # 青山区's task (neither unit's) goes through 市公安局's own task of the item.
    [line] = [line for line in text.splitlines() if "（青山区人民政府）" in line]
    assert line.endswith(f"请督促该单位办理。 本单位该项任务：{BASE_URL}/assignments/{gaj3.id}")


def test_a_lead_unit_without_its_own_task_gets_no_link(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    gaj3 = assignment("3", "市公安局")
    db.session.delete(gaj3)  # 市公安局 leads the assessment of item 3 without a task of its own
    db.session.commit()
    keep_open(baotou.kdl3)
    add_contact("市公安局", "王五", "wangwu@gaj.example.gov.cn")
    escalate(app, clock)

    [text] = [m.text for m in mail.messages if m.rcpt_tos == ["wangwu@gaj.example.gov.cn"]]
    assert "/assignments/" not in text
    [line] = [line for line in text.splitlines() if line.startswith("1. ")]
    assert "（昆都仑区人民政府）" in line and line.endswith("已超期。请督促该单位办理。")


def test_every_link_in_a_lead_units_in_app_digest_opens_for_its_user(
    app: Flask, baotou: Baotou, clock: Clock, client: Any
) -> None:
    keep_open(baotou.kdl3, baotou.kdl4, baotou.qs3)
    gaj3 = lead_task()
    lead_units_too()
    staff = make_user("unit", unit_named("市公安局", "baotou"), "gaj-staff")
    escalate(app, clock)

    [note] = db.session.scalars(select(Notification).where(Notification.user_id == staff.id))
    links = {int(n) for n in re.findall(r"/assignments/(\d+)", note.body)}
    assert gaj3.id in links  # 市公安局 leads items 3 and 4 and has a task of each
    assert not links & {baotou.kdl3.id, baotou.kdl4.id, baotou.qs3.id}
    assert "（昆都仑区人民政府）" in note.body and "（青山区人民政府）" in note.body
    login(client, staff)
    for n in links:
        assert client.get(f"/assignments/{n}").status_code == 200
    # What the old digest linked to is closed to this user, as it should stay.
    assert client.get(f"/assignments/{baotou.kdl3.id}").status_code == 403


def test_a_lead_units_long_digest_counts_other_units_tasks_apart(session: Any) -> None:
    cap = services.DIGEST_ENTRIES
    digest = services.Digest("in_app", "7", "王五", units={1})
    for n in range(cap + 3):  # the last three another unit's, with no task of the lead's
        unit = 1 if n < cap + 1 else 2
        digest.entries[(n, n)] = services.Entry(
            n, "某方案", str(n), f"任务{n}", f"单位{unit}", "完成", JUNE_30, True, unit, n
        )
    _subject, text = services._render(digest, JUNE_30, BASE_URL)
    assert (
        f"另有3项未列出，其中2项为其他单位的任务，请督促相关单位办理；"
        f"本单位的任务请登录平台查看：{BASE_URL}/my?view=overdue"
    ) in text.splitlines()
    digest.entries = {k: e for k, e in digest.entries.items() if k[0] < cap or e.unit_id == 2}
    _subject, text = services._render(digest, JUNE_30, BASE_URL)
    assert "另有2项未列出，其中2项为其他单位的任务，请督促相关单位办理。" in text.splitlines()
    assert "/my" not in text


# --- long digests: the most urgent DIGEST_ENTRIES, then a count and a link ----------------------


def unit_tasks(unit_name: str) -> list[Assignment]:
    """Every Baotou assignment of a unit, one open milestone each (the rest closed)."""
    unit = unit_named(unit_name, "baotou")
    tasks = list(
        db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(Plan.code == "baotou-2022", Assignment.unit_id == unit.id)
            .order_by(Assignment.id)
        )
    )
    keep_open(*tasks)
    for task in tasks:
        first, *others = sorted(task.milestones, key=lambda m: m.id)
        first.status, first.completed_on = "open", None
        for other in others:
            other.status, other.completed_on = "done", date(2022, 1, 10)
    # The pages' lists go by each task's next due date, which the bulk close left stale.
    refresh_next_due(db.session, assignment_ids=db.session.scalars(select(Assignment.id)).all())
    db.session.commit()
    return tasks


def set_due(tasks: list[Assignment], due_on: date) -> None:
    for task in tasks:
        [milestone] = [m for m in task.milestones if m.status == "open"]
        milestone.due_on, milestone.extended_to = due_on, None
    db.session.flush()
    refresh_next_due(db.session, assignment_ids=[t.id for t in tasks])
    db.session.commit()


def listed(text: str) -> list[int]:
    """The assignment ids a digest lists, in its order (its numbered lines)."""
    return [
        int(line.rsplit("/assignments/", 1)[1])
        for line in text.splitlines()
        if line[:1].isdigit() and "/assignments/" in line
    ]


def shown_on_pages(client: Any, path: str) -> list[int]:
    """The assignments a list page shows, in order, following its pages (``&page=n``)."""
    ids: list[int] = []
    for page in range(1, 10):
        response = client.get(f"{path}&page={page}")
        assert response.status_code == 200
        found = [
            int(n)
            for n in re.findall(r'href="/assignments/(\d+)"', response.get_data(as_text=True))
        ]
        new = [n for n in dict.fromkeys(found) if n not in ids]
        if not new:
            break
        ids += new
    return ids


def test_a_long_digest_lists_the_most_urgent_and_links_to_the_rest(
    app: Flask,
    session: Any,
    mail: Any,
    webhook_server: Any,
    clock: Clock,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = unit_tasks("昆都仑区人民政府")
    cap = services.DIGEST_ENTRIES
    assert len(tasks) >= cap + 3  # enough to be cut
    today = date(2022, 7, 1)  # a Friday
    monkeypatch.setattr(tracking_views, "office_today", lambda: today)
    overdue, due_today, upcoming = tasks[:8], tasks[8:16], tasks[16:]
    set_due(overdue, JUNE_30)  # the overdue reminder's first day
    set_due(due_today, today)
    set_due(upcoming, date(2022, 7, 6))  # three working days ahead
    add_contact(
        "昆都仑区人民政府",
        "张三",
        "zhangsan@kdl.example.gov.cn",
        webhook_server.url("/robot?access_token=kdl"),
    )
    staff = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "kdl-staff")
    clock.now = at(today)

    assert decide(today)["digests"] == 3  # e-mail, robot, in-app
    assert deliver(app, clock.now) == {"sent": 3, "retrying": 0, "failed": 0}

    [message] = mail.messages
    # The subject counts every entry, and every overdue one.
    assert message.subject == f"【任务督办】{len(tasks)}项任务节点提醒（8项已超期）"
    shown = listed(message.text)
    assert len(shown) == cap
    # Overdue first, then due today, then the earliest of the rest (by plan, unit, task).
    assert shown == [t.id for t in overdue + due_today + upcoming][:cap]
    assert message.text.count("已超期。") == 8
    hidden = [t.id for t in upcoming[cap - 16 :]]
    link = f"{BASE_URL}/my?view=open"
    more = f"另有{len(hidden)}项未列出，请登录平台查看全部：{link}"
    assert more in message.text.splitlines()
    # The robot and the in-app notice carry the same text.
    [(_path, payload)] = webhook_server.requests
    assert more in payload["markdown"]["text"]
    assert payload["markdown"]["title"] == message.subject
    [note] = db.session.scalars(select(Notification)).all()
    assert note.user_id == staff.id and note.title == message.subject
    assert listed(note.body) == shown and more in note.body

    # The link, followed by the unit's user, lists the tasks the digest left out (50 a page).
    login(client, staff)
    assert set(hidden) <= set(shown_on_pages(client, link.removeprefix(BASE_URL)))


def test_the_office_long_digest_links_to_the_deadline_board(
    app: Flask, session: Any, mail: Any, clock: Clock, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = unit_tasks("昆都仑区人民政府")
    cap = services.DIGEST_ENTRIES
    assert len(tasks) > cap
    set_due(tasks, JUNE_30)
    office = make_user("office", username="office-1")
    office.email = "duban@example.gov.cn"
    db.session.commit()
    escalation_day = date(2022, 7, 7)  # five working days overdue: the office is told
    monkeypatch.setattr(tracking_views, "office_today", lambda: escalation_day)
    clock.now = at(escalation_day)
    decide(escalation_day)
    deliver(app, clock.now)

    [message] = [m for m in mail.messages if m.rcpt_tos == ["duban@example.gov.cn"]]
    n = len(tasks)
    assert message.subject == f"【任务督办】{n}项任务节点提醒（{n}项已超期）"
    shown = listed(message.text)
    assert shown == [t.id for t in tasks][:cap]
    link = f"{BASE_URL}/board?view=overdue"  # every entry is overdue
    assert f"另有{n - cap}项未列出，请登录平台查看全部：{link}" in message.text
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == office.id))
    assert link in note.body

    login(client, office)
    on_pages = shown_on_pages(client, link.removeprefix(BASE_URL))
    assert on_pages[:cap] == shown  # the board: overdue first, then by due date
    assert {t.id for t in tasks[cap:]} <= set(on_pages)


def test_a_digest_within_the_cap_is_listed_whole(session: Any) -> None:
    digest = services.Digest("email", "a@example.gov.cn", "张三")
    for n in range(services.DIGEST_ENTRIES):
        digest.entries[(n, n)] = services.Entry(
            n, "某方案", str(n), f"任务{n}", "某区", "完成", JUNE_30 + timedelta(days=n), False
        )
    subject, text = services._render(digest, JUNE_30, BASE_URL)
    assert subject == f"【任务督办】{services.DIGEST_ENTRIES}项任务节点提醒"
    assert listed(text) == list(range(services.DIGEST_ENTRIES))
    assert "另有" not in text
    assert text.splitlines()[-2:] == [
        "",
        "请及时报送进展和佐证材料。本邮件由任务督办平台自动发送。",
    ]
    digest.entries[(99, 99)] = services.Entry(
        99, "某方案", "99", "任务99", "某区", "完成", JUNE_30 - timedelta(days=1), True
    )
    subject, text = services._render(digest, JUNE_30, BASE_URL)
    assert subject == f"【任务督办】{services.DIGEST_ENTRIES + 1}项任务节点提醒（1项已超期）"
    assert listed(text)[0] == 99  # the overdue one leads
    assert f"另有1项未列出，请登录平台查看全部：{BASE_URL}/my?view=open" in text


# --- once and only once ---------------------------------------------------------------------------


def test_deciding_twice_the_same_day_queues_nothing_new(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    assert decide(JUNE_30)["queued"] == 1
    clock.now = at(JUNE_30, 15)  # a second run later that day
    assert decide(JUNE_30) == {"digests": 1, "queued": 0, "milestones": 3}
    assert len(outbox()) == 1
    deliver(app, clock.now)
    assert len(mail.messages) == 1


def test_a_crash_between_deciding_and_sending_sends_each_message_once(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    add_contact("青山区人民政府", "李四", "lisi@qs.example.gov.cn")
    decide(JUNE_30)  # committed with its outbox rows ...
    db.session.remove()  # ... then the process dies before sending

    assert mail.messages == []
    assert deliver(app, at(JUNE_30, 9, 5))["sent"] == 2  # the restarted scheduler
    assert deliver(app, at(JUNE_30, 9, 10))["sent"] == 0
    assert decide(JUNE_30)["queued"] == 0  # and re-deciding after the restart adds nothing
    assert deliver(app, at(JUNE_30, 9, 15))["sent"] == 0
    assert sorted(m.rcpt_tos[0] for m in mail.messages) == [
        "lisi@qs.example.gov.cn",
        "zhangsan@kdl.example.gov.cn",
    ]


def test_running_the_reminders_job_twice_the_same_day_sends_once(
    app: Flask, baotou: Baotou, mail: Any, clock: Clock
) -> None:
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    spec = get_job("reminders")
    assert spec is not None
    assert spec in missed_daily_jobs(JUNE_30, time(9, 30))

    first = run_job(spec, JUNE_30)
    assert (first["queued"], first["sent"]) == (1, 1)
    assert spec not in missed_daily_jobs(JUNE_30, time(9, 30))  # a restart does not rerun it
    second = run_job(spec, JUNE_30)
    assert (second["queued"], second["sent"]) == (0, 0)

    assert len(mail.messages) == 1
    assert f"{BASE_URL}/assignments/{baotou.kdl3.id}" in mail.messages[0].text
    run = db.session.get(JobRun, "reminders")
    assert run is not None and (run.last_run_on, run.status) == (JUNE_30, "ok")


class _BarrierRobot(ThreadingHTTPServer):
    """A robot that holds each request until a second one arrives (or ``timeout`` passes).

    If two senders took the same outbox row, both requests meet here while neither has
    recorded its send; if only one did, it waits out the timeout and succeeds alone.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__((HOST, 0), _BarrierHandler)
        self.barrier = threading.Barrier(2, timeout=timeout)
        self.bodies: list[Any] = []
        self.lock = threading.Lock()

    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/robot"


class _BarrierHandler(BaseHTTPRequestHandler):
    server: _BarrierRobot

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.bodies.append(json.loads(body))
        with contextlib.suppress(threading.BrokenBarrierError):
            self.server.barrier.wait()
        answer = b'{"errcode":0,"errmsg":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def barrier_robot() -> Iterator[_BarrierRobot]:
    robot = _BarrierRobot(timeout=3.0)
    thread = threading.Thread(target=robot.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield robot
    finally:
        robot.shutdown()
        robot.server_close()
        thread.join()


@pytest.fixture
def own_sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on its own SQLite file: threads need committed rows, which ``session`` never has."""
    config = taskhub_config.TestConfig()
    config.INSTANCE_PATH = str(tmp_path)
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'race.db'}"
    race_app = create_app(config)
    with race_app.app_context():
        db.create_all()
    yield race_app
    with race_app.app_context():
        db.engine.dispose()


def test_two_concurrent_deliveries_send_a_message_once(
    own_sqlite_app: Flask, barrier_robot: _BarrierRobot
) -> None:
    with own_sqlite_app.app_context():
        db.session.add(
            OutboxMessage(
                channel="webhook",
                recipient=barrier_robot.url(),
                subject="【任务督办】1项任务节点提醒",
                body="张三：您好！",
                dedupe_key="reminder:2022-06-30:webhook:race",
                next_attempt_at=now_utc() - timedelta(minutes=1),
            )
        )
        db.session.commit()

    start = threading.Barrier(2, timeout=10)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def scheduler_thread() -> None:
        try:
            with own_sqlite_app.app_context():
                start.wait()
                results.append(services.deliver(own_sqlite_app.config))
        except Exception as exc:  # kept for the assertion: a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=scheduler_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(barrier_robot.bodies) == 1, "the same reminder was sent twice"
    assert errors == []
    assert sorted(r["sent"] for r in results) == [0, 1]
    with own_sqlite_app.app_context():
        [message] = db.session.scalars(select(OutboxMessage)).all()
        assert (message.status, message.attempts) == ("sent", 1)


def test_only_the_scheduler_holding_the_lease_runs_jobs(app: Flask, session: Any) -> None:
    staff = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "kdl-staff")
    db.session.add(
        OutboxMessage(
            channel="in_app",
            recipient=str(staff.id),
            subject="【任务督办】1项任务节点提醒",
            body="请及时报送进展。",
            dedupe_key="reminder:lease-test",
        )
    )
    db.session.commit()
    first, second = SchedulerRunner(app, blocking=False), SchedulerRunner(app, blocking=False)
    assert first.renew_lease() is True
    assert second.renew_lease() is False
    spec = get_job("deliver")
    assert spec is not None

    second.run(spec)  # skipped: it does not hold the lease
    assert db.session.get(JobRun, "deliver") is None
    assert [m.status for m in outbox()] == ["pending"]

    first.run(spec)
    assert [m.status for m in outbox()] == ["sent"]
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    run = db.session.get(JobRun, "deliver")
    assert run is not None and run.status == "ok"


# --- failures ------------------------------------------------------------------------------------


def test_webhook_failures_back_off_then_succeed(
    app: Flask, baotou: Baotou, webhook_server: Any, clock: Clock
) -> None:
    keep_open(baotou.kdl3)
    add_contact("昆都仑区人民政府", "张三", webhook=webhook_server.url("/robot?access_token=kdl"))
    webhook_server.fail_next(2)
    decide(JUNE_30)
    t0 = clock.now

    assert deliver(app, t0) == {"sent": 0, "retrying": 1, "failed": 0}
    [message] = outbox()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == "webhook to 127.0.0.1 failed: HTTP 500 Internal Server Error"
    assert message.next_attempt_at == t0 + timedelta(minutes=2)

    assert deliver(app, t0 + timedelta(minutes=1))["retrying"] == 0  # not due yet: no request
    assert len(webhook_server.requests) == 1
    deliver(app, t0 + timedelta(minutes=2))
    [message] = outbox()
    assert message.attempts == 2
    assert message.next_attempt_at == t0 + timedelta(minutes=2 + 4)

    assert deliver(app, t0 + timedelta(minutes=6))["sent"] == 1
    [message] = outbox()
    assert (message.status, message.attempts) == ("sent", 3)
    assert len(webhook_server.requests) == 3
    assert webhook_server.requests[0] == webhook_server.requests[2]  # the same message again


def test_after_the_last_attempt_a_message_is_failed_and_stays_visible(
    app: Flask, baotou: Baotou, webhook_server: Any, clock: Clock
) -> None:
    keep_open(baotou.kdl3)
    add_contact("昆都仑区人民政府", "张三", webhook=webhook_server.url())
    webhook_server.fail_next(services.MAX_ATTEMPTS, errcode=310000)
    decide(JUNE_30)
    moment = clock.now
    for _ in range(services.MAX_ATTEMPTS):
        [message] = outbox()
        moment = max(moment, message.next_attempt_at)
        deliver(app, moment)
    assert len(webhook_server.requests) == services.MAX_ATTEMPTS
    [message] = outbox()
    assert (message.status, message.attempts) == ("failed", services.MAX_ATTEMPTS)
    # The errcode, not the robot's errmsg (a receiver's text is never shown).
    assert message.last_error == "webhook to 127.0.0.1 refused the message: errcode 310000"
    assert deliver(app, moment + timedelta(days=7)) == {"sent": 0, "retrying": 0, "failed": 0}
    assert len(webhook_server.requests) == services.MAX_ATTEMPTS  # given up, not retried

    office = make_user("office", username="office-1")
    clock.now = moment + timedelta(days=1)
    services.retry_now(message, actor_id=office.id)  # the office fixes the robot and retries
    db.session.commit()
    assert deliver(app, clock.now)["sent"] == 1
    assert (
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.retried"))
        .one()
        .actor_id
        == office.id
    )


def test_an_smtp_server_that_is_down_is_retried_with_the_error_text(
    app: Flask, baotou: Baotou, smtp_server: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_open(baotou.kdl3)
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    down = closed_port()
    monkeypatch.setitem(app.config, "SMTP_HOST", HOST)
    monkeypatch.setitem(app.config, "SMTP_PORT", down)
    decide(JUNE_30)

    assert deliver(app, clock.now) == {"sent": 0, "retrying": 1, "failed": 0}
    [message] = outbox()
    assert message.status == "pending"
    assert message.last_error == (
        f"email to zhangsan@kdl.example.gov.cn failed: "
        f"cannot connect to SMTP server {HOST}:{down}: Connection refused"
    )

    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)  # the server is back
    assert deliver(app, clock.now + timedelta(minutes=2))["sent"] == 1
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["zhangsan@kdl.example.gov.cn"]


# --- quiet hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decided_at", "held_until"),
    [
        (at(JUNE_30, 22, 30), at(date(2022, 7, 1), 8)),  # late evening: until 08:00 next day
        (at(JUNE_30, 7, 0), at(JUNE_30, 8)),  # early morning: until 08:00 that day
        (at(JUNE_30, 9, 0), at(JUNE_30, 9)),  # office hours: at once
    ],
)
def test_quiet_hours_hold_a_digest_until_they_end(
    app: Flask,
    baotou: Baotou,
    mail: Any,
    clock: Clock,
    decided_at: datetime,
    held_until: datetime,
) -> None:
    keep_open(baotou.kdl3)
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    clock.now = decided_at
    decide(JUNE_30)

    assert deliver(app, held_until - timedelta(minutes=1))["sent"] == 0
    assert mail.messages == []
    clock.now = held_until
    assert deliver(app, held_until)["sent"] == 1
    assert len(mail.messages) == 1


# --- Shanwei's monthly data cycle (cut-off on the 25th) -------------------------------------------


@pytest.fixture
def shanwei_contacts(session: Any, webhook_server: Any) -> None:
    """Two of Shanwei's 17 assessed units have contacts; nothing else is open anywhere."""
    db.session.execute(
        update(Milestone).values(status="done").execution_options(synchronize_session=False)
    )
    add_contact("海丰县人民政府", "陈一", "chen@haifeng.example.gov.cn", city="shanwei")
    add_contact(
        "汕尾新区管委会", "林二", "lin@swxq.example.gov.cn", webhook_server.url("/xq"), "shanwei"
    )


@pytest.mark.parametrize(
    ("today", "when"),
    [
        ("2022-07-20", "将于2022年07月25日24:00截止采样"),  # Wednesday: 3 working days before
        ("2022-07-25", "将于今天（2022年07月25日24:00）截止采样"),
        ("2022-07-19", None),
        ("2022-07-21", None),
        ("2022-07-22", None),
        ("2022-07-26", None),
        ("2022-06-21", "将于2022年06月25日24:00截止采样"),  # the 25th is a Saturday: from Friday
        ("2022-06-25", None),
        ("2022-06-20", None),
    ],
)
def test_monthly_cycle_reminds_assessed_units_before_the_cutoff(
    app: Flask,
    shanwei_contacts: None,
    mail: Any,
    webhook_server: Any,
    clock: Clock,
    today: str,
    when: str | None,
) -> None:
    day = d(today)
    clock.now = at(day, 9, 5)
    result = reminder_jobs.monthly_cycle(day)
    if when is None:
        assert result["queued"] == 0
        assert mail.messages == [] and webhook_server.requests == []
        return
    cutoff = date(day.year, day.month, 25)
    assert result["queued"] == 3
    assert result["delivered"]["sent"] == 3
    assert sorted(m.rcpt_tos[0] for m in mail.messages) == [
        "chen@haifeng.example.gov.cn",
        "lin@swxq.example.gov.cn",
    ]
    subject = (
        f"【汕尾市数字政府改革建设第三方常态化评估工作方案】{cutoff:%m月%d日}24:00月度数据采样提醒"
    )
    chen = next(m for m in mail.messages if m.rcpt_tos == ["chen@haifeng.example.gov.cn"])
    assert chen.subject == subject
    assert chen.text.startswith("陈一：您好！")
    assert when in chen.text
    [(path, payload)] = webhook_server.requests
    assert path == "/xq" and payload["markdown"]["title"] == subject


def test_monthly_cycle_is_idempotent(
    app: Flask, shanwei_contacts: None, mail: Any, clock: Clock
) -> None:
    day = date(2022, 7, 20)
    clock.now = at(day, 9, 5)
    assert reminder_jobs.monthly_cycle(day)["queued"] == 3
    clock.now = at(day, 11)
    assert reminder_jobs.monthly_cycle(day) == {
        "queued": 0,
        "delivered": {"sent": 0, "retrying": 0, "failed": 0},
    }
    assert len(mail.messages) == 2


def test_a_weekend_cutoff_reminded_on_friday_does_not_say_today(
    app: Flask, shanwei_contacts: None, mail: Any, clock: Clock
) -> None:
    day = date(2022, 6, 24)
    clock.now = at(day, 9, 5)
    assert reminder_jobs.monthly_cycle(day)["queued"] == 3
    text = next(m.text for m in mail.messages if m.rcpt_tos == ["chen@haifeng.example.gov.cn"])
    assert "2022年06月25日24:00截止采样" in text
    assert "将于今天" not in text


def test_a_cutoff_past_the_month_end_falls_on_the_last_day(
    app: Flask, shanwei_contacts: None, mail: Any, clock: Clock
) -> None:
    scheme = db.session.scalars(select(Scheme).join(Plan).where(Plan.code == "shanwei-2021")).one()
    definition = json.loads(json.dumps(scheme.definition))
    definition["periods"][0]["cutoff_day"] = 31  # "每月底" as the office might set it
    scheme.definition = definition
    db.session.commit()
    day = date(2022, 6, 27)  # 3 working days before Thursday 06-30
    clock.now = at(day, 9, 5)
    assert reminder_jobs.monthly_cycle(day)["queued"] == 3
    assert "2022年06月30日24:00" in mail.messages[0].text


# --- the overdue scan ----------------------------------------------------------------------------


def overdue_events() -> list[dict[str, Any]]:
    return [
        e.after or {}
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "assignments.overdue_scanned")
            .order_by(AuditEvent.id)
        )
    ]


def test_scan_overdue_flags_and_clears_with_an_audit_record(session: Any) -> None:
    kdl3 = assignment("3", "昆都仑区人民政府")
    keep_open(kdl3)
    staff = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "kdl-staff")
    office = make_user("office", username="office-1")
    milestone = milestone_of(kdl3)

    assert scan_overdue(JUNE_30)["milestones_flagged"] == 0  # due today is not overdue
    assert overdue_events() == []
    assert scan_overdue(date(2022, 7, 1)) == {
        "milestones_flagged": 1,
        "milestones_cleared": 0,
        "assignments_flagged": 1,
        "assignments_cleared": 0,
    }
    assert (milestone.is_overdue, kdl3.is_overdue) == (True, True)
    [event] = overdue_events()
    assert (event["as_of"], event["now_overdue_ids"]) == ("2022-07-01", [kdl3.id])
    assert scan_overdue(date(2022, 7, 4))["milestones_flagged"] == 0  # nothing new
    assert len(overdue_events()) == 1

    # An approved extension to 07-15 clears the flag at once (the next scan has nothing to
    # clear); the original date stays on record.
    ext = tracking.request_extension(
        milestone, actor=staff, reason="等待自治区平台接口", requested_due_on=date(2022, 7, 15)
    )
    tracking.decide_extension(ext, actor=office, approve=True)
    db.session.commit()
    assert (milestone.is_overdue, kdl3.is_overdue) == (False, False)
    result = scan_overdue(date(2022, 7, 5))
    assert (result["assignments_flagged"], result["assignments_cleared"]) == (0, 0)
    assert (milestone.is_overdue, kdl3.is_overdue) == (False, False)
    assert milestone.due_on == JUNE_30
    assert len(overdue_events()) == 1

    assert scan_overdue(date(2022, 7, 18))["assignments_flagged"] == 1  # past the extension
    milestone.status, milestone.completed_on = "done", date(2022, 7, 18)
    db.session.commit()
    assert scan_overdue(date(2022, 7, 19)) == {
        "milestones_flagged": 0,
        "milestones_cleared": 1,
        "assignments_flagged": 0,
        "assignments_cleared": 1,
    }
    assert kdl3.is_overdue is False
    assert len(overdue_events()) == 3


# --- command line --------------------------------------------------------------------------------


@pytest.fixture
def cli(app: Flask, session: Any) -> Any:
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_jobs_list_names_the_jobs(cli: Any) -> None:
    result = cli("jobs", "list")
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == [
        "overdue",
        "reminders",
        "monthly_cycle",
        "deliver",
        "evidence_gc",
        "audit_checkpoint",
        "escalations",
        "leader_digest",
    ]


def test_jobs_run_overdue_prints_counts(cli: Any) -> None:
    keep_open(assignment("3", "昆都仑区人民政府"))
    result = cli("jobs", "run", "overdue", "--today", "2022-07-15")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "milestones_flagged": 1,
        "milestones_cleared": 0,
        "assignments_flagged": 1,
        "assignments_cleared": 0,
    }
    listed = cli("jobs", "list").stdout
    assert "last run for 2022-07-15 (ok)" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("jobs", "run", "remind"),
            "no job 'remind'; `taskhub jobs list` names them: "
            "overdue, reminders, monthly_cycle, deliver",
        ),
        (
            ("jobs", "run", "overdue", "--today", "2022-13-01"),
            "--today '2022-13-01' is not a date; write it as YYYY-MM-DD",
        ),
    ],
)
def test_jobs_run_refuses_unknown_jobs_and_bad_dates(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert f"error: {message}" in result.stderr
    assert result.stdout == ""
