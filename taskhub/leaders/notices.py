"""Telling people about leaders' instructions (领导批示), through taskhub.reminders.notices.

A recorded instruction tells each unit concerned: its users in-app at once, its contacts by
e-mail and chat robot through the outbox (the channels of the rules addressed to unit contacts),
keyed on the instruction and unit so each is queued once. An answer tells the office and the
leader's own account in-app.
"""

from __future__ import annotations

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.leaders.models import Instruction, InstructionTarget
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


def _link(assignment_id: int) -> str:
    return f"/assignments/{assignment_id}#instructions"


def instruction_recorded(instruction: Instruction) -> int:
    """Each unit concerned hears of the instruction (in-app, e-mail, robot), once."""
    from taskhub.leaders.instructions import RECORDED_EVENT

    leader = instruction.leader
    who = f"{leader.title}{leader.name}" if leader.title else leader.name
    due = (
        f"请于{date_cn(instruction.answer_due_on)}前反馈落实情况。"
        if instruction.answer_due_on
        else "请抓紧落实并反馈。"
    )
    channels = rule_channels([Recipient.UNIT_CONTACTS.value])
    written = 0
    for target in instruction.targets:
        assignment = target.assignment
        where = _where(assignment)
        notice = Notice(
            RECORDED_EVENT,
            f"instruction:{instruction.id}:{target.unit_id}",
            f"【领导批示】{who}：{where}",
            f"{assignment.unit.name}：{who}于{date_cn(instruction.instructed_on)}批示："
            f"{instruction.text}\n{where}\n{due}",
            _link(assignment.id),
        )
        written += _send(
            notice,
            _unit_users(assignment.unit_id),
            channels,
            contacts=_unit_contacts(assignment.unit_id),
        )
    return written


def instruction_answered(target: InstructionTarget) -> int:
    """The office and the leader's account hear of a unit's answer in-app."""
    from taskhub.leaders.instructions import ANSWERED_EVENT

    instruction = target.instruction
    assignment = target.assignment
    late = "（逾期反馈）" if target.is_answered_late else ""
    notice = Notice(
        ANSWERED_EVENT,
        f"instruction-answer:{target.id}",
        f"【批示反馈】{assignment.unit.name}{late}",
        f"{assignment.unit.name}已反馈{instruction.leader.name}的批示{late}：{target.answer}\n"
        f"{_where(assignment)}",
        _link(assignment.id),
    )
    users = list(
        db.session.scalars(
            select(User).where(User.role == "office", User.is_enabled).order_by(User.id)
        )
    )
    leader_user = instruction.leader.user_id
    if leader_user is not None and all(u.id != leader_user for u in users):
        account = db.session.get(User, leader_user)
        if account is not None and account.is_enabled:
            users.append(account)
    return _send(notice, users, rule_channels([]))
