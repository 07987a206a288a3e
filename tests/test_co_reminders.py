"""The reminders job reminds a co-handling unit of its missing part (协办意见) of a round, once,
through the outbox, by a real SMTP server; a unit that gave its part is not reminded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.jobs.registry import get_job
from taskhub.jobs.services import run_job
from taskhub.reminders.models import OutboxMessage
from taskhub.supervision import cohandle
from taskhub.tracking.models import Assignment, Milestone
from taskhub.units.models import Contact
from tests.conftest import make_user, unit_named
from tests.test_cadence import at, d
from tests.test_subtasks import tasks

XY, GN = "向阳区人民政府", "工农区人民政府"


def test_a_missing_co_handling_part_is_reminded_once_per_round(
    app: Any, session: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskhub.cadence import reminders as cadence_reminders
    from taskhub.reminders import services as reminder_services
    from taskhub.supervision import co_reminders

    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "BASE_URL", "https://duban.example.gov.cn")
    lead, _co = tasks()
    # The round: the lead task's next due date, Thursday 2022-06-30 (Hegang has no cadence).
    db.session.add(Milestone(assignment_id=lead.id, kind="complete", title="完成",
                             due_on=d("2022-06-30")))  # fmt: skip
    xy, gn = unit_named(XY, "hegang"), unit_named(GN, "hegang")
    db.session.add(Contact(unit_id=xy.id, name="王五", email="wangwu@xy.example.gov.cn"))
    db.session.add(Contact(unit_id=gn.id, name="赵六", email="zhaoliu@gn.example.gov.cn"))
    db.session.flush()
    # 工农区 gives its part of the round in time: it is not reminded.
    cohandle.submit(
        lead, actor=make_user("unit", gn, "co-gn"), text="已配合", today=d("2022-06-20")
    )
    db.session.commit()
    job = get_job("reminders")
    assert job is not None

    def run(day: str) -> int:
        now = lambda: at(d(day))  # noqa: E731
        for module in (reminder_services, cadence_reminders, co_reminders):
            monkeypatch.setattr(module, "now_utc", now)
        return int(run_job(job, d(day))["co_report_queued"])

    def keys() -> list[str]:
        return list(
            db.session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("co-report:%"))
            )
        )

    def mails(address: str) -> list[Any]:
        return [m for m in smtp_server.messages if address in m.rcpt_tos and "协办" in m.subject]

    assert run("2022-06-24") == 0  # four working days before the 30th
    queued = run("2022-06-27")  # three working days before: remind
    assert queued >= 1
    assert run("2022-06-27") == 0  # the same day again
    assert run("2022-06-29") == 0  # a later day of the same round
    assert len(keys()) == queued
    assert "co-report:hegang-2022:2022-06-30:email:wangwu@xy.example.gov.cn" in keys()
    assert not [k for k in keys() if "zhaoliu" in k]
    [mail] = mails("wangwu@xy.example.gov.cn")
    assert mail.subject.startswith("【协办意见提醒】") and "06月30日" in mail.subject
    own = db.session.scalars(
        select(Assignment.id).where(Assignment.item_id == lead.item_id, Assignment.unit_id == xy.id)
    ).one()
    assert f"https://duban.example.gov.cn/assignments/{own}" in mail.text
    assert "牵头单位：" in mail.text
    assert mails("zhaoliu@gn.example.gov.cn") == []


def test_the_job_sees_the_same_round_as_the_lead_task_page(session: Any) -> None:
    """The reminders job reads every lead task's round at once (cohandle.rounds_of); it must
    name the same due day, parts given and units missing as the task's page (round_of), with
    the next due date as the round and with a monthly reporting cadence."""
    from taskhub.cadence import services as cadence

    lead, co = tasks()
    db.session.add(Milestone(assignment_id=lead.id, kind="complete", title="完成",
                             due_on=d("2022-06-30")))  # fmt: skip
    gn = unit_named(GN, "hegang")
    db.session.flush()
    cohandle.submit(
        lead, actor=make_user("unit", gn, "co-gn-2"), text="已配合", today=d("2022-06-20")
    )
    db.session.flush()
    every = [lead, *co]

    def agree(day: str) -> None:
        today = d(day)
        expected = [cohandle.round_of(a, today) for a in every]
        memo: dict[Any, Any] = {}
        assert cohandle.rounds_of(every, today, memo) == expected
        assert [cohandle.remind_days_before(a, memo) for a in every] == [
            cohandle.remind_days_before(a) for a in every
        ]

    agree("2022-06-20")  # the next due date is the round; 工农区 gave its part
    lead_round = cohandle.round_of(lead, d("2022-06-20"))
    assert lead_round.due_on == d("2022-06-30") and lead_round.missing
    assert gn.id not in {u.id for u in lead_round.missing}
    # A monthly cadence on the 25th with 5 days' notice: its period is the round now.
    cadence.set_cadence(
        lead.item.plan, actor_id=make_user("office", None, "co-office").id, kind="monthly",
        day=25, starts_on=d("2022-01-01"), remind_days_before=5,
    )  # fmt: skip
    db.session.flush()
    for day in ("2022-06-20", "2022-06-27", "2022-07-01"):
        agree(day)
    assert cohandle.rounds_of([lead], d("2022-07-01"))[0].due_on is not None


def test_a_long_co_handling_digest_lists_twenty_and_counts_the_rest(session: Any) -> None:
    from taskhub.plans.models import Item, Plan
    from taskhub.reminders.services import DIGEST_ENTRIES
    from taskhub.supervision import co_reminders

    plan = db.session.scalars(select(Plan).where(Plan.code == "hegang-2022")).one()
    leads = list(
        db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == plan.id)
            .order_by(Assignment.id)
            .limit(DIGEST_ENTRIES + 3)
        )
    )
    assert len(leads) == DIGEST_ENTRIES + 3
    digest = {"display": "王五", "plan": plan, "tasks": {a.id: (a, a.id) for a in leads}}
    row = co_reminders._row(d("2022-06-30"), "email", "w@xy.example.gov.cn", digest, "https://x.cn")
    assert row["subject"].startswith(f"【协办意见提醒】{plan.title}：{DIGEST_ENTRIES + 3}项任务")
    numbered = [line for line in row["body"].splitlines() if line[:1].isdigit()]
    assert [line.rsplit("/", 1)[1] for line in numbered] == [str(a.id) for a in leads][
        :DIGEST_ENTRIES
    ]
    assert "另有3项未列出，请登录平台查看全部：https://x.cn/my?view=open" in row["body"]
    assert row["dedupe_key"] == "co-report:hegang-2022:2022-06-30:email:w@xy.example.gov.cn"
