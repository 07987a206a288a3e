"""Escalation notices (督办单): the job issues a level when its working-day trigger is reached
(a holiday does not count), never twice, the next level later; the office issues by decision;
the unit answers (on time or late); the office closes or withdraws; the outbox carries one
message per recipient of a notice; numbers run 1, 2, 3 per city and year."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, update

from taskhub.audit.models import AuditEvent
from taskhub.calendar import services as calendar
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied
from taskhub.reminders import services as reminders
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.supervision import services
from taskhub.supervision.jobs import escalate
from taskhub.supervision.models import Escalation, EscalationState
from taskhub.tracking.models import Assignment, Milestone, refresh_next_due
from taskhub.units.models import Contact
from tests.conftest import make_user, unit_named
from tests.test_reminders import assignment

KDL = "昆都仑区人民政府"
QS = "青山区人民政府"
#: Item 3's milestones fall due on Thursday 30 June 2022.
DUE = date(2022, 6, 30)


def only_open(*assignments: Assignment) -> None:
    """Close every milestone except those of ``assignments`` (and keep next_due_on right)."""
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id.not_in([a.id for a in assignments]))
        .values(status="done", completed_on=date(2022, 1, 10))
        .execution_options(synchronize_session=False)
    )
    refresh_next_due(db.session, assignment_ids=db.session.scalars(select(Assignment.id)))
    db.session.commit()
    db.session.expire_all()


@pytest.fixture
def scene(session: Any) -> dict[str, Any]:
    kdl, qs = assignment("3", KDL), assignment("3", QS)
    only_open(kdl, qs)
    assert kdl.next_due_on == DUE and qs.next_due_on == DUE
    reminders.ensure_default_rules()
    db.session.add(
        Contact(unit_id=kdl.unit_id, name="王伟", email="wang@example.org",
                webhook_url="https://oapi.dingtalk.com/robot/send?access_token=k")
    )  # fmt: skip
    unit_user = make_user("unit", unit_named(KDL, "baotou"))
    office = make_user("office")
    db.session.commit()
    return {"kdl": kdl, "qs": qs, "unit": unit_user, "office": office}


def notices_of(a: Assignment) -> list[Escalation]:
    return list(
        db.session.scalars(
            select(Escalation).where(Escalation.assignment_id == a.id).order_by(Escalation.id)
        )
    )


def run(day: date) -> dict[str, Any]:
    result = escalate(day)
    db.session.commit()
    return result


def test_the_job_issues_at_the_trigger_counting_working_days_not_holidays(scene):
    # Monday 4 July is made a day off: the third working day overdue moves to Wednesday 6 July.
    calendar.set_override(date(2022, 7, 4), False, "调休", actor_id=None)
    db.session.commit()
    assert run(date(2022, 7, 5))["issued"] == 0
    result = run(date(2022, 7, 6))
    assert result["issued"] == 2 and result["by_level"] == {"remind": 2}
    (notice,) = notices_of(scene["kdl"])
    assert notice.level.name == "提醒" and notice.issued_by_id is None
    assert notice.overdue_working_days == 3 and notice.due_on == DUE
    # Answer within 5 working days of Wednesday 6 July: Wednesday 13 July.
    assert notice.answer_due_on == date(2022, 7, 13)
    assert notice.number.startswith("督办〔2022〕")


def test_a_rerun_issues_nothing_and_the_next_level_waits_for_its_trigger(scene):
    assert run(date(2022, 7, 5))["issued"] == 2  # 3 working days: 提醒
    assert run(date(2022, 7, 5))["issued"] == 0  # the job reruns
    assert run(date(2022, 7, 13))["issued"] == 0  # 9 working days
    assert run(date(2022, 7, 14))["by_level"] == {"urge": 2}  # 10 working days: 催办
    assert run(date(2022, 7, 15))["issued"] == 0
    levels = [e.level.code for e in notices_of(scene["kdl"])]
    assert levels == ["remind", "urge"]
    # Weekends issue nothing (Saturday 30 July is 21 working days overdue).
    assert run(date(2022, 7, 30))["issued"] == 0
    assert run(date(2022, 8, 1))["by_level"] == {"supervise": 2}
    # 约谈 is the office's decision: the job never issues it.
    assert run(date(2022, 12, 30))["issued"] == 0


def test_a_long_overdue_task_gets_the_highest_level_reached_once(scene):
    result = run(date(2022, 8, 1))
    assert result["by_level"] == {"supervise": 2}
    assert [e.level.code for e in notices_of(scene["kdl"])] == ["supervise"]


def test_a_long_run_commits_in_batches_and_a_rerun_finishes_it(scene, monkeypatch):
    """A first run on an old plan issues thousands of notices: it commits as it goes (so web
    requests are not kept waiting for the database), and a run cut short keeps what it
    committed; the rerun issues the rest, each task once, the numbers without a gap."""
    from taskhub.supervision import notices

    monkeypatch.setattr(services, "BATCH_SECONDS", 0)  # a commit after each notice
    told = notices.issued
    calls = []

    def second_fails(escalation: Escalation) -> None:
        calls.append(escalation.assignment_id)
        if len(calls) == 2:
            raise RuntimeError("the machine stopped")
        told(escalation)

    monkeypatch.setattr(notices, "issued", second_fails)
    with pytest.raises(RuntimeError):
        escalate(date(2022, 8, 1))
    db.session.rollback()
    assert db.session.scalar(select(func.count(Escalation.id))) == 1  # the first batch stayed
    assert run(date(2022, 8, 1))["issued"] == 1
    numbers = db.session.scalars(select(Escalation.number).order_by(Escalation.id)).all()
    assert numbers == ["督办〔2022〕1号", "督办〔2022〕2号"]
    assert [len(notices_of(scene[k])) for k in ("kdl", "qs")] == [1, 1]


def test_numbers_run_per_city_and_year(scene):
    run(date(2022, 7, 5))
    run(date(2022, 7, 14))
    numbers = db.session.scalars(select(Escalation.number).order_by(Escalation.id)).all()
    assert numbers == [f"督办〔2022〕{n}号" for n in (1, 2, 3, 4)]


def test_the_outbox_carries_one_message_per_recipient_of_each_notice(scene):
    run(date(2022, 7, 5))
    run(date(2022, 7, 5))
    (notice,) = notices_of(scene["kdl"])
    rows = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.dedupe_key.like(f"notice:escalation:{notice.id}:%")
        )
    ).all()
    assert sorted(r.channel for r in rows) == ["email", "webhook"]
    assert all(notice.number in r.subject for r in rows)
    # The unit's user is told in-app at once, once.
    told = db.session.scalars(
        select(Notification).where(Notification.user_id == scene["unit"].id)
    ).all()
    assert len(told) == 1 and notice.number in told[0].title


def test_the_unit_answers_on_time_and_the_office_closes(scene):
    office, unit = scene["office"], scene["unit"]
    level = next(
        lv
        for lv in services.ensure_levels(scene["kdl"].item.plan.city_id)
        if lv.code == "interview"
    )
    notice = services.issue(scene["kdl"], level, actor=office, today=date(2022, 7, 5),
                            required_action="请主要负责同志到专班说明情况。")  # fmt: skip
    db.session.commit()
    assert notice.answer_due_on == date(2022, 7, 8)  # 3 working days
    services.answer(
        notice, actor=unit, text="已制定整改方案，7月底前完成。", today=date(2022, 7, 8)
    )
    db.session.commit()
    assert notice.state == EscalationState.ANSWERED.value and notice.is_answered_late is False
    assert notice.answered_by_id == unit.id and notice.answered_at is not None
    services.close(notice, actor=office, note="整改到位")
    db.session.commit()
    assert notice.state == EscalationState.CLOSED.value
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "escalation", AuditEvent.object_id == str(notice.id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["escalation.issued", "escalation.answered", "escalation.closed"]


def test_an_answer_after_the_answer_date_is_late(scene):
    run(date(2022, 7, 5))
    (notice,) = notices_of(scene["kdl"])
    services.answer(notice, actor=scene["unit"], text="已整改", today=date(2022, 7, 13))
    db.session.commit()
    assert notice.answer_due_on == date(2022, 7, 12) and notice.is_answered_late is True


def test_only_the_unit_answers_and_only_the_office_issues_and_closes(scene):
    run(date(2022, 7, 5))
    (theirs,) = notices_of(scene["qs"])
    with pytest.raises(PermissionDenied):
        services.answer(theirs, actor=scene["unit"], text="x", today=date(2022, 7, 6))
    with pytest.raises(PermissionDenied):
        services.answer(theirs, actor=scene["office"], text="x", today=date(2022, 7, 6))
    level = services.levels_of(scene["kdl"].item.plan.city_id)[-1]
    with pytest.raises(PermissionDenied):
        services.issue(scene["kdl"], level, actor=scene["unit"], today=date(2022, 7, 6))
    with pytest.raises(PermissionDenied):
        services.close(theirs, actor=scene["unit"])


def test_a_level_is_issued_once_unless_withdrawn(scene):
    office = scene["office"]
    level = services.ensure_levels(scene["kdl"].item.plan.city_id)[0]
    first = services.issue(scene["kdl"], level, actor=office, today=date(2022, 7, 5))
    with pytest.raises(services.EscalationRefused) as refused:
        services.issue(scene["kdl"], level, actor=office, today=date(2022, 7, 5))
    assert refused.value.code == "already_issued"
    with pytest.raises(services.EscalationRefused):
        services.withdraw(first, actor=office, note="")  # a reason is required
    services.withdraw(first, actor=office, note="误发")
    again = services.issue(scene["kdl"], level, actor=office, today=date(2022, 7, 5))
    db.session.commit()
    assert (first.number, again.number) == ("督办〔2022〕1号", "督办〔2022〕2号")
    # The job does not reissue what the office withdrew and reissued.
    assert run(date(2022, 7, 5))["by_level"] == {"remind": 1}  # 青山区 only


def test_counts_by_level_leave_withdrawn_notices_out(scene):
    run(date(2022, 7, 5))
    (notice,) = notices_of(scene["qs"])
    services.withdraw(notice, actor=scene["office"], note="误发")
    db.session.commit()
    counts = services.counts_by_level(plan_id=scene["kdl"].item.plan_id)
    assert [(c.code, c.total, c.open) for c in counts] == [("remind", 1, 1)]
    assert db.session.scalar(select(func.count()).select_from(Escalation)) == 2
