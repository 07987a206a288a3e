"""A sketch of a faster reminders delivery, timed by bench_api.py --prototype (bench code only).

``taskhub.reminders.services.deliver`` claims and records every outbox row in commits of its
own (two commits per message: about 600 for the API ledger's 300 digests) and opens one SMTP
connection per e-mail. This sketch keeps its guarantees and cuts both:

- due rows are claimed in batches, by one conditional UPDATE per batch and one commit;
- in-app rows need no claim and no send: the notification and the "sent" mark go in one
  transaction per batch, which makes them exactly-once by construction;
- e-mails of a batch share one SMTP connection; each one's "sent" mark is still committed
  right after the server accepts it, so a crash re-sends at most the one message in flight
  (as now), once its claim expires.

Failures, retries and webhooks are left out (the ledger has none); ``deliver`` stays the
reference for them. The channels' message building is reused.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select, update

from taskhub.core.db import db, now_utc
from taskhub.reminders.channels import SmtpSettings, _build_message, _connect
from taskhub.reminders.models import Channel, Notification, OutboxMessage, OutboxStatus
from taskhub.reminders.services import CLAIM_MINUTES

BATCH = 200


def deliver_batched(
    config: Mapping[str, Any], *, batch: int = BATCH, commit_every: int = 1
) -> dict[str, int]:
    """Send the due outbox rows in batches; ``commit_every`` > 1 records e-mails as sent in
    groups (fewer commits, but a crash may then re-send up to a group)."""
    smtp = SmtpSettings.from_config(config)
    sender = parseaddr(smtp.mail_from)[1] or smtp.mail_from
    counts = {"sent": 0, "batches": 0}
    while True:
        now = now_utc()
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
        )
        # One statement claims the batch; rows another sender claimed meanwhile drop out.
        claimed = list(
            db.session.scalars(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(due.scalar_subquery()),
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                    OutboxMessage.next_attempt_at <= now,
                )
                .values(
                    attempts=OutboxMessage.attempts + 1,
                    next_attempt_at=now + timedelta(minutes=CLAIM_MINUTES),
                )
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
        )
        db.session.commit()
        if not claimed:
            break
        counts["batches"] += 1
        rows = list(
            db.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id.in_(claimed))
                .order_by(OutboxMessage.id)
            )
        )
        sent_at = now_utc()
        for m in rows:
            if m.channel == Channel.IN_APP.value:
                db.session.add(
                    Notification(user_id=int(m.recipient), title=m.subject, body=m.body, link="/my")
                )
                m.status, m.sent_at = OutboxStatus.SENT.value, sent_at
                counts["sent"] += 1
        db.session.commit()
        mails = [m for m in rows if m.channel == Channel.EMAIL.value]
        if mails:
            connection = _connect(smtp)
            try:
                for n, m in enumerate(mails, start=1):
                    message = _build_message(smtp, m.recipient, m.subject, m.body, None)
                    connection.send_message(message, from_addr=sender, to_addrs=[m.recipient])
                    m.status, m.sent_at = OutboxStatus.SENT.value, now_utc()
                    if n % commit_every == 0 or n == len(mails):
                        db.session.commit()
                    counts["sent"] += 1
            finally:
                try:
                    connection.quit()
                except (smtplib.SMTPException, OSError):
                    connection.close()
    return counts
