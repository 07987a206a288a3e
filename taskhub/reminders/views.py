"""Pages: reminder rules (the office edits them), the outbox, and my notifications."""

from __future__ import annotations

from datetime import time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user
from sqlalchemy import func, select

from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.inputs import int_arg, page_arg
from taskhub.core.limits import TextTooLong, check_text
from taskhub.core.permissions import login_required, roles_required
from taskhub.core.web import FIELD_LABELS, problem_text
from taskhub.reminders import services
from taskhub.reminders.models import (
    Channel,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Recipient,
    ReminderRule,
)

bp = Blueprint("reminders", __name__)

#: Channels a reminder rule may use (event webhooks are not reminders).
CHANNELS = [c.value for c in Channel if c != Channel.HOOK]
RECIPIENTS = [r.value for r in Recipient]


#: Offsets and repeats of reminder rules, in working days: about a year either way.
MAX_DAYS = 250


def _rule_state(rule: ReminderRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "offset_working_days": rule.offset_working_days,
        "repeat_every_working_days": rule.repeat_every_working_days,
        "recipients": rule.recipients,
        "channels": rule.channels,
        "quiet_from": rule.quiet_from.isoformat() if rule.quiet_from else None,
        "quiet_until": rule.quiet_until.isoformat() if rule.quiet_until else None,
        "is_enabled": rule.is_enabled,
    }


def _parse_rule(form: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Read a rule form; (values, None) or (None, a message in the user's language)."""
    name = (form.get("name") or "").strip()
    if not name:
        return None, _("Give the rule a name.")
    try:
        check_text("reminder_rule.name", name, field="name")
    except TextTooLong as exc:
        # A rule's name is 名称, not a person's 姓名.
        return None, problem_text(exc, {**FIELD_LABELS, "name": pgettext("thing", "Name")})
    try:
        offset = int_arg("offset_working_days", form, minimum=-MAX_DAYS, maximum=MAX_DAYS)
    except ValueError:
        offset = None
    if offset is None:
        return None, _(
            "The offset must be a whole number of working days from -%(n)d to %(n)d "
            "(negative: before).",
            n=MAX_DAYS,
        )
    try:
        repeat = int_arg("repeat_every_working_days", form, minimum=1, maximum=MAX_DAYS)
    except ValueError:
        return None, _("Repeat must be a positive number of working days, or empty.")
    recipients = [r for r in form.getlist("recipients") if r in RECIPIENTS]
    channels = [c for c in form.getlist("channels") if c in CHANNELS]
    if not recipients or not channels:
        return None, _("Choose at least one recipient and one channel.")
    quiet: list[time | None] = []
    for key in ("quiet_from", "quiet_until"):
        text = (form.get(key) or "").strip()
        try:
            quiet.append(time.fromisoformat(text) if text else None)
        except ValueError:
            return None, _("Quiet hours are times such as 22:00.")
    if (quiet[0] is None) != (quiet[1] is None):
        return None, _("Give both ends of the quiet hours, or neither.")
    return {
        "name": name,
        "offset_working_days": offset,
        "repeat_every_working_days": repeat,
        "recipients": recipients,
        "channels": channels,
        "quiet_from": quiet[0],
        "quiet_until": quiet[1],
        "is_enabled": form.get("is_enabled") == "on",
    }, None


@bp.get("/reminders/rules")
@roles_required("admin", "office", "viewer")
def rules() -> Any:
    """The reminder rules, editable by the office."""
    rows = db.session.scalars(
        select(ReminderRule).order_by(ReminderRule.position, ReminderRule.id)
    ).all()
    return render_template(
        "reminders/rules.html",
        rules=rows,
        channels=CHANNELS,
        recipients=RECIPIENTS,
        can_edit=current_user.role in ("admin", "office"),
    )


@bp.post("/reminders/rules")
@bp.post("/reminders/rules/<id:rule_id>")
@roles_required("admin", "office")
def save_rule(rule_id: int | None = None) -> Any:
    """Create or change a rule (audited)."""
    rule = db.session.get(ReminderRule, rule_id) if rule_id else ReminderRule(position=99)
    if rule is None:
        abort(404)
    values, problem = _parse_rule(request.form)
    if values is None:
        flash(_("Not saved: %(problem)s", problem=problem), "error")
        return redirect(url_for("reminders.rules"))
    clash = db.session.scalar(
        select(ReminderRule.id).where(
            ReminderRule.name == values["name"], ReminderRule.id != (rule.id or 0)
        )
    )
    if clash is not None:
        flash(_("Not saved: %(problem)s", problem=_("Another rule has this name.")), "error")
        return redirect(url_for("reminders.rules"))
    before = _rule_state(rule) if rule.id else None
    for key, value in values.items():
        setattr(rule, key, value)
    db.session.add(rule)
    db.session.flush()
    audit.record(
        "reminder_rule.saved",
        "reminder_rule",
        rule.id,
        actor_id=current_user.id,
        before=before,
        after=_rule_state(rule),
    )
    db.session.commit()
    flash(_("Rule saved."), "success")
    return redirect(url_for("reminders.rules"))


@bp.get("/outbox")
@roles_required("admin", "office")
def outbox() -> Any:
    """Queued, sent and failed messages, with their errors; failed ones can be retried."""
    status = request.args.get("status", "pending")
    statuses = [s.value for s in OutboxStatus]
    status = status if status in statuses else "pending"
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    page = page_arg()
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == status)
        .order_by(OutboxMessage.id.desc())
        .limit(100)
        .offset((page - 1) * 100)
    ).all()
    return render_template(
        "reminders/outbox.html",
        rows=rows,
        status=status,
        statuses=statuses,
        counts=counts,
        page=page,
    )


@bp.post("/outbox/<id:message_id>/retry")
@roles_required("admin", "office")
def retry(message_id: int) -> Any:
    """Send a failed or waiting message again at the next delivery run."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    if message.status == OutboxStatus.SENT.value:
        flash(_("Not saved: %(problem)s", problem=_("This message was already sent.")), "error")
    else:
        services.retry_now(message, actor_id=current_user.id)
        db.session.commit()
        flash(_("The message will be sent at the next delivery run."), "success")
    return redirect(url_for("reminders.outbox", status="pending"))


@bp.get("/notifications")
@login_required
def notifications() -> Any:
    """My in-app notifications, newest first."""
    rows = db.session.scalars(
        select(Notification)
        .where(Notification.user_id == current_user.id)
        .order_by(Notification.id.desc())
        .limit(100)
    ).all()
    return render_template("reminders/notifications.html", rows=rows)


@bp.post("/notifications/read")
@login_required
def mark_read() -> Any:
    """Mark all my notifications as read."""
    for n in db.session.scalars(
        select(Notification).where(
            Notification.user_id == current_user.id, Notification.read_at.is_(None)
        )
    ):
        n.read_at = now_utc()
    db.session.commit()
    return redirect(url_for("reminders.notifications"))


@bp.post("/account/notifications")
@login_required
def notice_preferences() -> Any:
    """Save my choice of immediate notices: which events, by which of my channels."""
    from taskhub.reminders import notices

    user = current_user._get_current_object()
    chosen = {
        (event, channel)
        for event in notices.events_for(user)
        for channel in notices.PERSONAL_CHANNELS
        if request.form.get(f"{event}:{channel}")
    }
    notices.set_choices(user, chosen, actor=user)
    db.session.commit()
    flash(_("Notification settings saved."), "success")
    return redirect(url_for("accounts.account") + "#notices")
