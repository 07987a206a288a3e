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
