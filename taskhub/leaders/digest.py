"""The leaders' weekly summary (每周摘要) sent on a set day, by e-mail and/or chat robot.

A leader's own setting (weekday, time, channels) wins over their city's; with neither, or a
disabled one, no digest goes out. From the set day and time until the week's end (Sunday), the
``leader_digest`` job queues the summary into the outbox with a key of the leader, the week's
Monday, the channel and the recipient: running the job again, or two schedulers at once, never
queues it twice (``INSERT … ON CONFLICT DO NOTHING`` on the outbox's unique key), and a run
missed at the set time is caught up by the next run of the week.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError
from taskhub.leaders import instructions
from taskhub.leaders.models import DigestSetting, Leader
from taskhub.reminders.models import Channel, OutboxMessage
from taskhub.reminders.services import _insert, _outbox_row
from taskhub.reports.services import date_cn
from taskhub.units.models import City

#: The channels a digest may use.
DIGEST_CHANNELS = (Channel.EMAIL.value, Channel.WEBHOOK.value)
WEEKDAYS_CN = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


class DigestRefused(DomainError):
    """A digest setting was refused (``field`` names the input)."""


def _state(setting: DigestSetting | None) -> dict[str, Any] | None:
    if setting is None:
        return None
    return {
        "weekday": setting.weekday,
        "send_at": setting.send_at.strftime("%H:%M"),
        "channels": list(setting.channels),
        "is_enabled": setting.is_enabled,
    }


def own_setting(
    *, leader_id: int | None = None, city_id: int | None = None
) -> DigestSetting | None:
    if leader_id is not None:
        return db.session.scalar(select(DigestSetting).where(DigestSetting.leader_id == leader_id))
    return db.session.scalar(select(DigestSetting).where(DigestSetting.city_id == city_id))


def setting_for(leader: Leader) -> DigestSetting | None:
    """The setting that applies to ``leader``: their own, else their city's."""
    return own_setting(leader_id=leader.id) or own_setting(city_id=leader.city_id)


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    try:
        hour, minute = str(value or "").strip().split(":")
        return time(int(hour), int(minute))
    except ValueError:
        raise DigestRefused(_("Write the time as 17:00."), field="send_at") from None


def set_setting(
    owner: Leader | City, data: dict[str, Any] | None, *, actor: User | None
) -> DigestSetting | None:
    """Set (or, with ``data`` None, remove) a leader's or a city's digest setting. Audited as
    ``leader.digest_set`` or ``city.leader_digest_set``."""
    is_leader = isinstance(owner, Leader)
    setting = own_setting(leader_id=owner.id) if is_leader else own_setting(city_id=owner.id)
    before = _state(setting)
    if data is None:
        if setting is not None:
            db.session.delete(setting)
        setting = None
    else:
        try:
            weekday = int(data.get("weekday"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            weekday = -1
        if not 0 <= weekday <= 6:
            raise DigestRefused(_("Choose a day of the week."), field="weekday")
        send_at = _parse_time(data.get("send_at"))
        channels = sorted(set(data.get("channels") or []))
        if not channels or any(c not in DIGEST_CHANNELS for c in channels):
            raise DigestRefused(_("Choose e-mail, chat robot or both."), field="channels")
        if setting is None:
            setting = DigestSetting(
                leader_id=owner.id if is_leader else None,
                city_id=None if is_leader else owner.id,
                weekday=weekday,
                send_at=send_at,
                channels=channels,
            )
            db.session.add(setting)
        setting.weekday, setting.send_at, setting.channels = weekday, send_at, channels
        setting.is_enabled = bool(data.get("is_enabled", True))
    db.session.flush()
    if _state(setting) != before:
        audit.record(
            "leader.digest_set" if is_leader else "city.leader_digest_set",
            "leader" if is_leader else "city",
            owner.id,
            actor_id=actor.id if actor else None,
            before=before,
            after=_state(setting),
        )
    return setting


def week_of(today: date) -> date:
    """The Monday of ``today``'s week."""
    return today - timedelta(days=today.weekday())


def is_due(setting: DigestSetting, today: date, now: time) -> bool:
    """From the set day and time to the week's end (a missed run catches up in the week)."""
    if not setting.is_enabled:
        return False
    if today.weekday() != setting.weekday:
        return today.weekday() > setting.weekday
    return now >= setting.send_at


def render(leader: Leader, today: date, base_url: str) -> tuple[str, str]:
    """The digest's subject and text: the week's counts, the most overdue, the notices, and
    the instructions still 待落实."""
    from taskhub.leaders.services import leader_view

    view = leader_view(leader, today)
    start = view.week_start or today
    who = f"{leader.title}{leader.name}" if leader.title else leader.name
    subject = f"【每周摘要】{who}分管任务（{date_cn(start)}至{date_cn(today)}）"
    c = view.counts
    lines = [
        f"{who}：您好！截至{date_cn(today)}，您分管的任务共{view.total}项："
        f"红灯{c['red']}项、黄灯{c['yellow']}项、绿灯{c['green']}项、未设节点{c['grey']}项。",
    ]
    if view.overdue:
        lines.append("")
        lines.append("超期最久的任务：")
        for i, r in enumerate(view.overdue, 1):
            lines.append(
                f"{i}. {r.plan_title} 第{r.number}项 {r.title}（{r.unit}），"
                f"截止{date_cn(r.next_due) if r.next_due else '—'}，已超期{r.days_overdue}天"
            )
    else:
        lines.append("目前没有超期任务。")
    if view.escalations:
        lines.append("")
        lines.append(f"{date_cn(start)}至{date_cn(today)}发出督办单{len(view.escalations)}份：")
        for e in view.escalations:
            lines.append(f"- {e.number} {e.level.name}（{date_cn(e.issued_on)}）")
    pending = instructions.open_of_leader(leader.id)
    if pending:
        lines.append("")
        lines.append(f"待落实的领导批示{len(pending)}件：")
        for ins in pending:
            waiting = [t for t in ins.targets if t.state == "open"]
            units = "、".join(t.assignment.unit.name for t in waiting)
            lines.append(f"- {date_cn(ins.instructed_on)}批示：{ins.text[:40]}（待反馈：{units}）")
    lines.append("")
    lines.append(f"详见：{base_url.rstrip('/')}/leaders/{leader.id}")
    return subject, "\n".join(lines)


def _queued(keys: list[str]) -> set[str]:
    if not keys:
        return set()
    found = select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))
    return set(db.session.scalars(found))


def queue_digests(today: date, now: time, *, base_url: str) -> dict[str, int]:
    """Queue the week's digest of every active leader whose set day and time have come, once
    per leader, week, channel and recipient."""
    rows: list[dict[str, Any]] = []
    leaders = db.session.scalars(
        select(Leader).where(Leader.is_active.is_(True)).order_by(Leader.id)
    )
    due_leaders = 0
    for leader in leaders:
        setting = setting_for(leader)
        if setting is None or not is_due(setting, today, now):
            continue
        targets = []
        if Channel.EMAIL.value in setting.channels and leader.email:
            targets.append((Channel.EMAIL.value, leader.email.strip()))
        if Channel.WEBHOOK.value in setting.channels and leader.webhook_url:
            targets.append((Channel.WEBHOOK.value, leader.webhook_url.strip()))
        week = week_of(today).isoformat()
        keys = {f"leader-digest:{leader.id}:{week}:{c}:{r}": (c, r) for c, r in targets}
        # Already queued this week (the job runs every quarter hour): nothing to render.
        keys = {k: v for k, v in keys.items() if k not in _queued(list(keys))}
        if not keys:
            continue
        due_leaders += 1
        subject, body = render(leader, today, base_url)
        for key, (channel, recipient) in keys.items():
            rows.append(_outbox_row(channel, recipient, subject, body, key, now_utc()))
    queued = _insert(rows)
    return {"leaders": due_leaders, "queued": len(queued)}
