"""Telling people about escalation notices, through taskhub.reminders.notices.

The unit's users get an in-app notification at once; its contacts get the e-mail and chat-robot
message through the outbox, on the channels of the reminder rules addressed to unit contacts.
The outbox key carries the notice's id, so a notice is queued once, whoever or whatever issued
it and however often the job runs. A formal notice is not a personal preference: it is sent
whatever a person turned off at 我的账户. A level copied to the 分管领导 also e-mails the
task's leader (taskhub.leaders), when the leader is active and has an address.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.reminders.models import Recipient
from taskhub.reminders.notices import (
    Notice,
    _send,
    _unit_contacts,
    _unit_users,
    _where,
    rule_channels,
)
from taskhub.reports.services import date_cn
from taskhub.supervision.models import Escalation


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
    contacts: list[Any] = _unit_contacts(assignment.unit_id) if level.to_contacts else []
    if level.to_responsible_leader:
        from taskhub.leaders.services import leader_of

        leader = leader_of(assignment)
        if leader is not None and leader.is_active and leader.email:
            # One more e-mail recipient: the outbox key (notice id, channel, address) keeps it once.
            contacts.append(SimpleNamespace(email=leader.email, webhook_url=None))
    return _send(
        notice,
        _unit_users(assignment.unit_id),
        rule_channels([Recipient.UNIT_CONTACTS.value]),
        contacts=contacts,
    )


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
