"""Invitations: a one-time link with which a new user sets their own password.

The link carries 256 random bits; only their SHA-256 digest is stored (like API tokens,
taskhub.accounts.tokens), so a copy of the database opens no account, and a link is found by
an indexed lookup of its digest, never by comparing secrets. The plain link exists only in the
answer to whoever created it (shown once) and in the e-mail to the user, which is sent
directly over SMTP (taskhub.reminders.channels) rather than queued: an outbox row would keep
the link readable in the database and on the office's outbox page.

A user has at most one usable invitation: creating one revokes the older. A link works once,
until it expires (``TASKHUB_INVITATION_DAYS``, 7 by default), and only while the account is
enabled and has no password yet. Every step is audited on the user (created, revoked, e-mailed
or not, used).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from taskhub.accounts import services
from taskhub.accounts.models import Invitation, User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.reminders.channels import DeliveryError, SmtpSession, SmtpSettings

logger = logging.getLogger(__name__)

#: Lifetime of a link when the configuration does not say (TASKHUB_INVITATION_DAYS).
DEFAULT_DAYS = 7
#: Random bytes in a link's secret (256 bits; at least 128 are required).
SECRET_BYTES = 32
#: Longest secret looked up (token_urlsafe(32) has 43 characters); longer is not ours.
MAX_SECRET = 100
PATH = "/invite/"
#: Why an invitation was not e-mailed, besides the mail server's own answer.
NO_ADDRESS = "no e-mail address"
NOT_CONFIGURED = "mail is not configured"


class InvitationState(StrEnum):
    PENDING = "pending"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


class InvitationRefused(ValidationFailed):
    """An invitation cannot be created for this user; ``code`` says why (views translate it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class NewInvitation:
    """A freshly created invitation with its link (the only time the link is known)."""

    user: User
    invitation: Invitation
    link: str
    #: None until e-mailing was tried; then whether the mail server accepted it.
    emailed: bool | None = None
    #: Why it was not e-mailed (no address, no mail server, or the mail server's answer).
    email_error: str | None = None

    @property
    def not_mailed(self) -> str | None:
        """Why the link was not e-mailed, for the page: no_address, not_configured, refused."""
        if self.emailed or self.emailed is None:
            return None
        if self.email_error in (NO_ADDRESS, NOT_CONFIGURED):
            return "no_address" if self.email_error == NO_ADDRESS else "not_configured"
        return "refused"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def link_for(secret: str, config: Mapping[str, Any]) -> str:
    """The full address of the link, on the public address of the installation."""
    base = str(config.get("BASE_URL") or "").rstrip("/")
    return f"{base}{PATH}{secret}"


def state(invitation: Invitation, *, now: datetime | None = None) -> InvitationState:
    if invitation.used_at is not None:
        return InvitationState.USED
    if invitation.revoked_at is not None:
        return InvitationState.REVOKED
    if invitation.expires_at <= (now or now_utc()):
        return InvitationState.EXPIRED
    return InvitationState.PENDING


def latest(user: User) -> Invitation | None:
    """The user's newest invitation (used, revoked or expired ones included)."""
    return db.session.scalar(
        select(Invitation)
        .where(Invitation.user_id == user.id)
        .order_by(Invitation.id.desc())
        .limit(1)
    )


def latest_by_user(user_ids: Sequence[int]) -> dict[int, Invitation]:
    """The newest invitation of each of these users (for lists)."""
    out: dict[int, Invitation] = {}
    if not user_ids:
        return out
    for invitation in db.session.scalars(
        select(Invitation).where(Invitation.user_id.in_(user_ids)).order_by(Invitation.id)
    ):
        out[invitation.user_id] = invitation
    return out


def create(
    user: User, *, actor: User | None, config: Mapping[str, Any], now: datetime | None = None
) -> NewInvitation:
    """A new invitation for a user who has no password yet; the older one is revoked.

    ``actor`` None is the command line. Flushes; the caller commits, then e-mails (send_emails).
    """
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("only an administrator may invite users")
    if user.has_password:
        raise InvitationRefused(
            "has_password", "the user has set a password; reset it on their page instead"
        )
    if not user.is_enabled:
        raise InvitationRefused("disabled", "the user is disabled; enable them first")
    now = now or now_utc()
    revoke_pending(user, actor=actor, now=now)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    days = int(config.get("INVITATION_DAYS") or DEFAULT_DAYS)
    invitation = Invitation(
        user_id=user.id,
        token_hash=digest(secret),
        created_by_id=actor.id if actor is not None else None,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "invitation.created",
        "user",
        user.id,
        actor_id=actor.id if actor is not None else None,
        after={"invitation_id": invitation.id, "expires_at": invitation.expires_at},
    )
    return NewInvitation(user, invitation, link_for(secret, config))


def revoke_pending(user: User, *, actor: User | None, now: datetime | None = None) -> int:
    """Revoke the user's usable invitations (a new one replaces them); how many."""
    now = now or now_utc()
    revoked = list(
        db.session.scalars(
            update(Invitation)
            .where(
                Invitation.user_id == user.id,
                Invitation.used_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .values(revoked_at=now)
            .returning(Invitation.id)
            .execution_options(synchronize_session="fetch")
        )
    )
    for invitation_id in revoked:
        audit.record(
            "invitation.revoked",
            "user",
            user.id,
            actor_id=actor.id if actor is not None else None,
            after={"invitation_id": invitation_id},
        )
    return len(revoked)


def find(secret: str) -> Invitation | None:
    """The invitation a link's secret belongs to (in any state), or None."""
    if not secret or len(secret) > MAX_SECRET:
        return None
    return db.session.scalar(select(Invitation).where(Invitation.token_hash == digest(secret)))


def usable(invitation: Invitation | None) -> bool:
    """Whether the link may still set a password: pending, the user enabled and passwordless."""
    return (
        invitation is not None
        and state(invitation) == InvitationState.PENDING
        and invitation.user.is_enabled
        and not invitation.user.has_password
    )


def accept(secret: str, password: str, *, address: str) -> User:
    """Set the invited user's password through the link; the link is used up.

    Raises InvitationRefused ("gone") when the link is unknown, used, revoked or expired, and
    WeakPassword when the password breaks the rule (the link stays usable then). The used
    mark is a conditional UPDATE, so two submissions of one link cannot both succeed.
    """
    invitation = find(secret)
    if invitation is None or not usable(invitation):
        raise InvitationRefused("gone", "this invitation link is not valid any more")
    user = invitation.user
    services.set_first_password(user, password)
    now = now_utc()
    taken = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
        .values(used_at=now)
        .returning(Invitation.id)
        .execution_options(synchronize_session="fetch")
    ).first()
    if taken is None:
        raise InvitationRefused("gone", "this invitation link has just been used")
    user.last_login_at = now
    audit.record(
        "invitation.used",
        "user",
        user.id,
        actor_id=user.id,
        after={"invitation_id": invitation.id, "address": address},
    )
    return user


# --- e-mail -------------------------------------------------------------------------------------


def mail_configured(config: Mapping[str, Any]) -> bool:
    """Whether invitations are e-mailed at all: a mail server is set (TASKHUB_SMTP_HOST)."""
    return bool(config.get("SMTP_HOST"))


def _mail(new: NewInvitation, config: Mapping[str, Any]) -> tuple[str, str]:
    user = new.user
    site = str(config.get("BASE_URL") or "").rstrip("/")
    expires = new.invitation.expires_at.astimezone(_zone(config))
    subject = "【任务督办平台】请设置您的登录密码"
    unit = f"（{user.unit.name}）" if user.unit is not None else ""
    text = (
        f"{user.display_name}{unit}：您好！\n\n"
        f"督办室已为您开通任务督办平台账号，登录名：{user.username}。\n"
        f"请在 {expires:%Y年%m月%d日 %H:%M} 前打开下面的链接，设置您自己的登录密码：\n\n"
        f"{new.link}\n\n"
        "该链接只能使用一次，请勿转发。链接过期或已使用时，请联系督办室重新发送。\n"
        f"平台地址：{site}\n"
    )
    return subject, text


def _zone(config: Mapping[str, Any]) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(str(config.get("TIMEZONE") or "Asia/Shanghai"))


def send_emails(
    created: Sequence[NewInvitation], *, actor: User | None, config: Mapping[str, Any]
) -> list[NewInvitation]:
    """E-mail each invitation whose user has an address, over one SMTP connection.

    Called after the invitations are committed (no transaction is held while the mail server
    answers); records each result on the user's audit trail and the invitation (the caller
    commits). Returns the invitations with ``emailed`` and ``email_error`` filled in.
    """
    out: list[NewInvitation] = []
    to_send = [n for n in created if n.user.email]
    results: dict[int, str | None] = {}
    if to_send and mail_configured(config):
        with SmtpSession(SmtpSettings.from_config(config)) as session:
            for new in to_send:
                subject, text = _mail(new, config)
                try:
                    session.send(str(new.user.email), subject, text)
                except DeliveryError as exc:
                    logger.info("invitation e-mail to user %s not sent: %s", new.user.id, exc)
                    results[new.invitation.id] = str(exc)
                else:
                    results[new.invitation.id] = None
    now = now_utc()
    actor_id = actor.id if actor is not None else None
    for new in created:
        if new.invitation.id not in results:
            reason = NO_ADDRESS if not new.user.email else NOT_CONFIGURED
            out.append(NewInvitation(new.user, new.invitation, new.link, False, reason))
            continue
        error = results[new.invitation.id]
        invitation = db.session.get(Invitation, new.invitation.id)
        if error is None and invitation is not None:
            invitation.emailed_at = now
        audit.record(
            "invitation.sent" if error is None else "invitation.email_failed",
            "user",
            new.user.id,
            actor_id=actor_id,
            after={
                "invitation_id": new.invitation.id,
                "email": new.user.email,
                **({"error": error[:500]} if error else {}),
            },
        )
        out.append(NewInvitation(new.user, new.invitation, new.link, error is None, error))
    return out
