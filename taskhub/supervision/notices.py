"""Telling people about escalation notices, through taskhub.reminders.notices.

The unit's users get an in-app notification at once; its contacts get the e-mail and chat-robot
message through the outbox, on the channels of the reminder rules addressed to unit contacts.
The outbox key carries the notice's id, so a notice is queued once, whoever or whatever issued
it and however often the job runs. A formal notice is not a personal preference: it is sent
whatever a person turned off at 我的账户. A level copied to the 分管领导 also tells the
task's leader (taskhub.leaders), when active: by e-mail and chat robot where they have an
address, and in-app on their linked account. A level copied to the unit's leader also sends it
to the contacts marked as the unit's principal leader (单位主要负责人), whether or not the level
goes to the unit's contacts; a level that is not copied to the unit's leader leaves them out. The
outbox key (notice id, channel, address) keeps each address once.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.reminders.models import Recipient
from taskhub.reminders.notices import (
    Notice,
    RuleChannels,
    _send,
    _unit_contacts,
    _unit_users,
    _where,
    rule_channels,
)
from taskhub.reports.services import date_cn
from taskhub.supervision.models import (
    CoReport,
    Escalation,
    HandoverRequest,
    Subtask,
    SubtaskReport,
)
from taskhub.tracking.models import Assignment


def _link(escalation: Escalation) -> str:
    return f"/assignments/{escalation.assignment_id}#escalations"


def issued(escalation: Escalation) -> int:
    """The notice to the unit: in-app now, e-mail and robot through the outbox."""
    from taskhub.supervision.services import NOTICE_EVENT

    assignment = escalation.assignment
    level = escalation.level
    where = _where(assignment)
    unit = assignment.unit.name
    due = f"，原定完成时限{date_cn(escalation.due_on)}" if escalation.due_on else ""
    late = (
        f"，已超期{escalation.overdue_working_days}个工作日"
        if escalation.overdue_working_days
        else ""
    )
    notice = Notice(
        NOTICE_EVENT,
        f"escalation:{escalation.id}",
        f"【{level.name}】{escalation.number}：{where}",
        f"{unit}：{where}{due}{late}。现发出{level.name}通知（{escalation.number}）。"
        f"{escalation.required_action}请于{date_cn(escalation.answer_due_on)}前反馈。",
        _link(escalation),
    )
    # The unit's contacts (its principal leaders among them only when the level asks for the
    # unit's leader: a 提醒 is not copied to them).
    contacts: list[Any] = [
        c
        for c in (_unit_contacts(assignment.unit_id) if level.to_contacts else [])
        if level.to_unit_leader or not c.is_unit_leader
    ]
    if level.to_unit_leader:
        from taskhub.supervision.services import unit_leaders

        contacts += [c for c in unit_leaders(assignment.unit_id) if c not in contacts]
    users = _unit_users(assignment.unit_id)
    channels = rule_channels([Recipient.UNIT_CONTACTS.value])
    aside: tuple[Notice, User] | None = None  # the leader's account's own notice, if any
    if level.to_responsible_leader:
        from taskhub.leaders.services import leader_of

        leader = leader_of(assignment)
        if leader is not None and leader.is_active:
            # The 分管领导 as one more recipient: e-mail and chat robot (the outbox key — notice
            # id, channel, address — keeps each once), and their linked account in-app.
            contacts.append(SimpleNamespace(email=leader.email, webhook_url=leader.webhook_url))
            account = db.session.get(User, leader.user_id) if leader.user_id else None
            if account is not None and account.is_enabled and account not in users:
                if assignment.can_view(account):
                    users.append(account)
                else:
                    # An account of another unit cannot open the task (Assignment.can_view):
                    # its notice leads to the leader's view, which it reads. Sent after the
                    # unit's, with the same key, so an address both have is written once.
                    aside = (replace(notice, link=f"/leaders/{leader.id}"), account)
    written = _send(notice, users, channels, contacts=contacts)
    if aside is not None:
        written += _send(aside[0], [aside[1]], channels)
    return written


def answered(escalation: Escalation) -> int:
    """The office hears of the unit's answer in-app (and by e-mail where its rules say so)."""
    from taskhub.supervision.services import ANSWER_EVENT

    assignment = escalation.assignment
    unit = assignment.unit.name
    late = "（逾期反馈）" if escalation.is_answered_late else ""
    notice = Notice(
        ANSWER_EVENT,
        f"escalation-answer:{escalation.id}",
        f"【督办反馈】{unit} {escalation.number}{late}",
        f"{unit}已反馈{escalation.number}{late}：{escalation.answer}\n{_where(assignment)}",
        _link(escalation),
    )
    office = list(
        db.session.scalars(
            select(User).where(User.role == "office", User.is_enabled).order_by(User.id)
        )
    )
    return _send(notice, office, rule_channels([Recipient.OFFICE.value]))


# -- hand over and send back (转办 / 退回) --------------------------------------------------------


def _office() -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.role == "office", User.is_enabled).order_by(User.id)
        )
    )


def handover_requested(request: HandoverRequest) -> int:
    """The office hears of a unit's request to send a task back."""
    from taskhub.supervision.handover import REQUEST_EVENT

    assignment = request.assignment
    unit = request.from_unit.name
    notice = Notice(
        REQUEST_EVENT,
        f"handover-request:{request.id}",
        f"【退回申请】{unit}：{_where(assignment)}",
        f"{unit}申请退回任务：{_where(assignment)}。理由：{request.reason}",
        "/handovers",
    )
    return _send(notice, _office(), rule_channels([Recipient.OFFICE.value]))


def handover_decided(request: HandoverRequest) -> int:
    """The asking unit hears the decision; on 转办 the receiving unit is told to acknowledge."""
    from taskhub.supervision.handover import DECIDED_EVENT

    assignment = request.assignment
    where = _where(assignment)
    link = f"/assignments/{assignment.id}"
    channels = rule_channels([Recipient.UNIT_CONTACTS.value])
    if request.to_unit is None:
        notice = Notice(
            DECIDED_EVENT,
            f"handover-decided:{request.id}",
            f"【退回未同意】{where}",
            f"{request.from_unit.name}：退回申请未同意，任务仍由本单位办理：{where}。"
            f"说明：{request.note}",
            link,
        )
        return _send(
            notice,
            _unit_users(request.from_unit_id),
            channels,
            contacts=_unit_contacts(request.from_unit_id),
        )
    moved = f"，完成时限顺延{request.restart_days}天" if request.restart_days else ""
    # The task is the receiving unit's now: the unit that gave it up cannot open it
    # (Assignment.can_view), so its notice leads to its own task list.
    to_old = Notice(
        DECIDED_EVENT,
        f"handover-decided:{request.id}:from",
        f"【已转办】{where}",
        f"{request.from_unit.name}：任务已转交{request.to_unit.name}办理：{where}。",
        "/my",
    )
    to_new = Notice(
        DECIDED_EVENT,
        f"handover-decided:{request.id}:to",
        f"【转办任务】{where}",
        f"{request.to_unit.name}：任务已转交本单位办理，请及时签收：{where}{moved}。",
        link,
    )
    return _send(
        to_old,
        _unit_users(request.from_unit_id),
        channels,
        contacts=_unit_contacts(request.from_unit_id),
    ) + _send(
        to_new,
        _unit_users(request.to_unit_id or 0),
        channels,
        contacts=_unit_contacts(request.to_unit_id or 0),
    )


# -- decompose (分解) and co-handle (协办) -------------------------------------------------------

#: Notices inside the loop's own pages: in-app only (the formal 交办 of a sub-task alone also
#: goes out by e-mail and robot).
IN_APP_ONLY = RuleChannels(frozenset(), ())


def subtask_created(subtask: Subtask) -> int:
    """The sub-task's unit is told to acknowledge it: in-app, and its contacts through the
    outbox when it is another unit (keyed on the sub-task: queued once)."""
    from taskhub.supervision.subtasks import CREATED_EVENT

    where = _where(subtask.assignment)
    due = min(m.due_on for m in subtask.milestones)
    notice = Notice(
        CREATED_EVENT,
        f"subtask:{subtask.id}",
        f"【分解任务】{where}",
        f"{subtask.owner_label}：{subtask.assignment.unit.name}分解任务给本单位办理，"
        f"请及时签收：{subtask.text}（完成时限{date_cn(due)}）",
        f"/subtasks/{subtask.id}",
    )
    own = subtask.unit_id == subtask.assignment.unit_id
    return _send(
        notice,
        _unit_users(subtask.unit_id),
        rule_channels([Recipient.UNIT_CONTACTS.value]),
        contacts=[] if own else _unit_contacts(subtask.unit_id),
    )


def subtask_reported(report: SubtaskReport) -> int:
    """The lead unit hears of a sub-task report to review (in-app)."""
    from taskhub.supervision.subtasks import REPORTED_EVENT

    subtask = report.subtask
    notice = Notice(
        REPORTED_EVENT,
        f"subtask-report:{report.id}",
        f"【分解任务报送】{subtask.owner_label}",
        f"{subtask.owner_label}报送了分解任务进展（{report.percent}%），请审核：{subtask.text}",
        f"/subtasks/{subtask.id}",
    )
    return _send(notice, _unit_users(subtask.assignment.unit_id), IN_APP_ONLY)


def subtask_reviewed(report: SubtaskReport, *, stage: str) -> int:
    """The sub-task's unit hears the decision; the office hears of a report awaiting its
    second review (in-app)."""
    from taskhub.supervision.subtasks import REVIEWED_EVENT

    subtask = report.subtask
    link = f"/subtasks/{subtask.id}"
    if report.status == "lead_accepted":
        notice = Notice(
            REVIEWED_EVENT,
            f"subtask-review:{report.id}:{stage}",
            f"【分解任务复核】{subtask.owner_label}",
            f"{subtask.assignment.unit.name}已审核通过分解任务报送，请复核：{subtask.text}",
            link,
        )
        return _send(notice, _office(), IN_APP_ONLY)
    word = "已退回" if report.status == "returned" else "已通过"
    reason = f"。理由：{report.return_reason}" if report.return_reason else ""
    notice = Notice(
        REVIEWED_EVENT,
        f"subtask-review:{report.id}:{stage}",
        f"【分解任务报送{word}】{subtask.text[:30]}",
        f"{subtask.owner_label}：分解任务报送{word}{reason}",
        link,
    )
    return _send(notice, _unit_users(subtask.unit_id), IN_APP_ONLY)


def co_report_submitted(part: CoReport, lead: Assignment) -> int:
    """The lead unit hears of a co-handling unit's part (in-app)."""
    from taskhub.supervision.cohandle import CO_REPORT_EVENT

    notice = Notice(
        CO_REPORT_EVENT,
        f"co-report:{part.id}",
        f"【协办意见】{part.unit.name}",
        f"{part.unit.name}提交了协办意见（本轮截止{date_cn(part.round_due_on)}）：{_where(lead)}",
        f"/assignments/{lead.id}#cohandle",
    )
    return _send(notice, _unit_users(lead.unit_id), IN_APP_ONLY)
