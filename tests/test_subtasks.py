"""Decompose (分解) and co-handle (协办): the weighted roll-up, the rule that a parent is not
completed while a sub-task is open (unless closed with a reason), the two review stages, the
notices (once), visibility, and the co-handling parts of a round."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied
from taskhub.core.storage import LocalStorage
from taskhub.plans.models import Item, Plan
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.supervision import cohandle, notices, subtasks
from taskhub.supervision.models import CoReport, Subtask, SubtaskStatus
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, AssignmentStatus, Milestone
from taskhub.units.models import Contact
from tests.conftest import make_user, unit_named

TODAY = date(2022, 6, 1)
DUE = date(2022, 9, 30)


def hegang_item() -> Item:
    return db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "hegang-2022", Item.code == "2")
    ).one()


def tasks() -> tuple[Assignment, list[Assignment]]:
    """Item 2 of Hegang: the lead unit's task and the co-handling units' own tasks."""
    rows = db.session.scalars(
        select(Assignment).where(Assignment.item_id == hegang_item().id).order_by(Assignment.id)
    ).all()
    lead = next(a for a in rows if a.role == "lead")
    return lead, [a for a in rows if a.role == "responsible"]


@pytest.fixture
def scene(session: Any) -> dict[str, Any]:
    lead, co = tasks()
    other = co[0].unit  # another unit of the city handles a sub-task
    db.session.add(Contact(unit_id=other.id, name="李明", email="li-st@example.org"))
    db.session.flush()
    return {
        "lead": lead,
        "co": co,
        "other": other,
        "lead_user": make_user("unit", lead.unit, "st-lead"),
        "other_user": make_user("unit", other, "st-other"),
        "office": make_user("office", None, "st-office"),
    }  # fmt: skip


def add(scene: dict[str, Any], *, weight: Any = 1, unit: Any = None, dept: str | None = None,
        text: str = "完成平台接入") -> Subtask:  # fmt: skip
    return subtasks.create(
        scene["lead"],
        actor=scene["lead_user"],
        text=text,
        unit_id=unit.id if unit is not None else None,
        department=dept,
        milestones=[("完成", DUE)],
        weight=weight,
    )


def report_and_accept(scene: dict[str, Any], st: Subtask, percent: int) -> None:
    owner = scene["other_user"] if st.unit_id == scene["other"].id else scene["lead_user"]
    report = subtasks.submit_report(st, actor=owner, progress="已完成部分工作", percent=percent)
    subtasks.review(report, actor=scene["lead_user"], decision="accept", today=TODAY)


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_parent_is_the_weighted_roll_up(scene):
    a = add(scene, weight=1, unit=scene["other"])
    b = add(scene, weight=2, dept="信息化科")
    c = add(scene, weight="1", dept="综合科", text="编制方案")
    assert subtasks.rollup(scene["lead"]).percent == Decimal(0)
    report_and_accept(scene, a, 50)
    report_and_accept(scene, b, 100)
    roll = subtasks.rollup(scene["lead"])
    # (1 × 50 + 2 × 100 + 1 × 0) ÷ 4 = 62.5, shown half up as 63
    assert roll.percent == Decimal("62.5") and roll.shown == 63 and roll.open == 2
    assert [p.share for p in roll.parts] == [Decimal("0.25"), Decimal("0.5"), Decimal("0.25")]
    assert sum(p.contribution for p in roll.parts) == roll.percent
    assert b.status == SubtaskStatus.COMPLETED.value and b.milestones[0].completed_on == TODAY
    # Closed with a reason: out of both sums, like a not-applicable indicator.
    subtasks.close(c, actor=scene["lead_user"], reason="方案已并入上级文件")
    roll = subtasks.rollup(scene["lead"])
    assert roll.percent == Decimal(250) / Decimal(3) and roll.shown == 83 and roll.open == 1
    assert [p.counted for p in roll.parts] == [True, True, False]


def test_the_parent_waits_for_its_open_sub_tasks(scene, tmp_path):
    lead, user = scene["lead"], scene["lead_user"]
    st = add(scene, unit=scene["other"])
    with pytest.raises(services.Rejected) as refused:
        services.submit_report(lead, actor=user, progress="全部完成", percent=100,
                               storage=LocalStorage(tmp_path), max_bytes=1024)  # fmt: skip
    assert refused.value.code == "subtasks_open"
    with pytest.raises(services.Rejected):  # a closing report (办结) likewise
        services.submit_report(lead, actor=user, progress="申请办结", percent=100, closing=True,
                               storage=LocalStorage(tmp_path), max_bytes=1024)  # fmt: skip
    # Below 100% the lead reports as usual.
    services.submit_report(lead, actor=user, progress="推进中", percent=60,
                           storage=LocalStorage(tmp_path), max_bytes=1024)  # fmt: skip
    # Only the lead unit (or the office) closes a sub-task, and only with a reason.
    with pytest.raises(PermissionDenied):
        subtasks.close(st, actor=scene["other_user"], reason="不做了")
    with pytest.raises(subtasks.SubtaskRefused) as no_reason:
        subtasks.close(st, actor=user, reason="  ")
    assert no_reason.value.code == "reason_required"
    subtasks.close(st, actor=user, reason="职责调整，由牵头单位直接完成")
    closed = events("subtask.closed")
    assert closed[-1].after["reason"] == "职责调整，由牵头单位直接完成"
    assert closed[-1].actor_id == user.id and closed[-1].object_id == str(st.id)


def test_a_100_percent_report_waits_for_a_sub_task_added_after_it(scene, tmp_path):
    lead = scene["lead"]
    report = services.submit_report(lead, actor=scene["lead_user"], progress="全部完成",
                                     percent=100, storage=LocalStorage(tmp_path),
                                     max_bytes=1024)  # fmt: skip
    st = add(scene, unit=scene["other"])
    db.session.commit()
    with pytest.raises(services.Rejected):
        services.review_report(report, actor=scene["office"], decision="accept", today=TODAY)
    db.session.rollback()
    report_and_accept(scene, st, 100)  # completed sub-tasks let it through
    services.review_report(report, actor=scene["office"], decision="accept", today=TODAY)
    assert lead.status == AssignmentStatus.COMPLETED.value


def test_the_office_reviews_second_when_the_plan_says_so(scene):
    plan = scene["lead"].item.plan
    subtasks.set_second_review(plan, actor=scene["office"], enabled=True)
    st = add(scene, unit=scene["other"])
    with pytest.raises(PermissionDenied):  # the sub-task unit reports; the lead unit does not
        subtasks.submit_report(st, actor=scene["lead_user"], progress="x", percent=10)
    report = subtasks.submit_report(st, actor=scene["other_user"], progress="完成", percent=100)
    assert st.acknowledged_at is not None  # reporting implies 签收
    with pytest.raises(PermissionDenied):  # the sub-task's unit does not review itself
        subtasks.review(report, actor=scene["other_user"], decision="accept", today=TODAY)
    subtasks.review(report, actor=scene["lead_user"], decision="accept", today=TODAY)
    assert report.status == "lead_accepted" and st.status == "submitted"
    assert not subtasks.can_review(report, scene["lead_user"])
    office_told = select(func.count()).where(
        Notification.user_id == scene["office"].id, Notification.title.contains("分解任务复核")
    )
    assert db.session.scalar(office_told.select_from(Notification)) == 1
    subtasks.review(report, actor=scene["office"], decision="accept", today=TODAY)
    assert report.status == "accepted" and st.status == "completed" and st.percent == 100
    actions = [e.action for e in events("subtask.report_lead_accepted") + events(
        "subtask.report_accepted")]  # fmt: skip
    assert actions == ["subtask.report_lead_accepted", "subtask.report_accepted"]
    assert events("plan.subtask_review_set")[-1].after == {"subtask_second_review": True}


def test_a_returned_report_needs_a_reason_and_the_unit_reports_again(scene):
    st = add(scene, unit=scene["other"])
    report = subtasks.submit_report(st, actor=scene["other_user"], progress="完成", percent=40)
    with pytest.raises(subtasks.SubtaskRefused):
        subtasks.submit_report(st, actor=scene["other_user"], progress="再报", percent=50)
    with pytest.raises(Exception, match="reason"):
        subtasks.review(report, actor=scene["lead_user"], decision="return", today=TODAY)
    subtasks.review(report, actor=scene["lead_user"], decision="return", reason="缺佐证材料",
                    today=TODAY)  # fmt: skip
    assert st.status == "returned" and report.return_reason == "缺佐证材料"
    subtasks.submit_report(st, actor=scene["other_user"], progress="补充佐证", percent=40)
    assert st.status == "submitted"


def test_the_sub_task_unit_is_told_once(scene):
    st = add(scene, unit=scene["other"])
    db.session.commit()
    inbox = select(func.count()).where(
        Notification.user_id == scene["other_user"].id, Notification.title.contains("分解任务")
    )
    assert db.session.scalar(inbox.select_from(Notification)) == 1
    outbox = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.recipient == "li-st@example.org")
    )
    sent = db.session.scalar(outbox)
    notices.subtask_created(st)  # told again (a retry): the outbox does not repeat
    db.session.commit()
    assert db.session.scalar(outbox) == sent
    assert events("subtask.created")[-1].after["unit"] == scene["other"].name


def test_a_unit_sees_only_the_sub_tasks_it_handles_or_leads(scene):
    mine = add(scene, unit=scene["other"])
    inhouse = add(scene, dept="信息化科")
    outsider = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "st-outsider")

    def seen(user: Any) -> set[int]:
        return {s.id for s in db.session.scalars(subtasks.visible(user))}

    assert {mine.id, inhouse.id} <= seen(scene["lead_user"])
    assert mine.id in seen(scene["other_user"]) and inhouse.id not in seen(scene["other_user"])
    assert not seen(outsider) & {mine.id, inhouse.id}
    assert subtasks.can_view(mine, scene["other_user"])
    assert not subtasks.can_view(inhouse, scene["other_user"])
    assert not subtasks.can_view(mine, outsider)
    with pytest.raises(PermissionDenied):
        subtasks.create(scene["lead"], actor=scene["other_user"], text="x", unit_id=None,
                        department="科", milestones=[("完成", DUE)])  # fmt: skip
    with pytest.raises(subtasks.SubtaskRefused) as foreign:
        subtasks.create(scene["lead"], actor=scene["office"], text="x", unit_id=outsider.unit_id,
                        department=None, milestones=[("完成", DUE)])  # fmt: skip
    assert foreign.value.code == "unit_other_city"


def test_co_handling_units_add_their_part_of_the_round(scene):
    lead, co = scene["lead"], scene["co"]
    today = date.today()
    due = lead.next_due_on
    if due is None or due < today:  # the round is the task's next due date (no cadence)
        due = today + timedelta(days=30)
        db.session.add(Milestone(assignment_id=lead.id, kind="complete", title="完成", due_on=due))
        db.session.flush()
        db.session.refresh(lead)
        due = lead.next_due_on
    first = make_user("unit", co[0].unit, "co-first")
    before = cohandle.round_of(lead, today)
    assert before.due_on == due and {u.id for u in before.missing} == {a.unit_id for a in co}
    part = cohandle.submit(lead, actor=first, text="已配合提供数据", today=today)
    again = cohandle.submit(lead, actor=first, text="已配合提供数据并完成核对", today=today)
    assert again.id == part.id and part.text.endswith("核对")
    after = cohandle.round_of(lead, today)
    assert [c.unit_id for c in after.given] == [co[0].unit_id]
    assert co[0].unit_id not in {u.id for u in after.missing}
    assert [e.action for e in events("co_report.submitted")] == ["co_report.submitted"]
    assert events("co_report.updated")[-1].before == {"text": "已配合提供数据"}
    with pytest.raises(PermissionDenied):  # the lead unit is not its own co-handling unit
        cohandle.submit(lead, actor=scene["lead_user"], text="x", today=today)
    assert cohandle.co_units(co[0]) == []  # a co-handling unit's own task has none
    assert db.session.scalar(select(func.count()).select_from(CoReport)) == 1
    # A settled (completed) task has no round open: nothing is missing, nothing can be given.
    lead.status = AssignmentStatus.COMPLETED.value
    db.session.flush()
    assert cohandle.round_of(lead, today).missing == []
    assert cohandle.round_due_on(lead, today) is None
    with pytest.raises(subtasks.SubtaskRefused):
        cohandle.submit(lead, actor=first, text="补充", today=today)
