"""Telling the operator that a systemd unit failed (a nightly backup, the scheduler).

deploy/taskhub-alert@.service runs `taskhub alert <unit>`; units name it in ``OnFailure=``.
The failure always goes to the journal at error priority; with TASKHUB_ALERT_MAIL set, a mail
in Chinese with the unit's last journal lines goes to each address through the same SMTP
server as the reminders.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from taskhub.core.dates import cn_datetime
from taskhub.core.db import now_utc
from taskhub.reminders.channels import DeliveryError, SmtpSession, SmtpSettings

logger = logging.getLogger(__name__)

#: A systemd unit name (what %n / %i expand to); anything else is refused.
UNIT_NAME = re.compile(r"[A-Za-z0-9@._:\\-]{1,200}")


class AlertError(Exception):
    """The alert could not be delivered; the message says where it failed."""


def journal_tail(unit: str, lines: int) -> str:
    """The unit's last journal lines, or why they cannot be read."""
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        return "(journalctl not found)"
    try:
        result = subprocess.run(
            [journalctl, "--unit", unit, "--lines", str(lines), "--no-pager", "-o", "short-iso"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(journalctl failed: {exc})"
    text = result.stdout.strip() or result.stderr.strip()
    return text or "(no journal lines)"


def report_failure(unit: str, *, lines: int = 40) -> list[str]:
    """Log the failure and mail it to TASKHUB_ALERT_MAIL; return the addresses mailed."""
    if not UNIT_NAME.fullmatch(unit):
        raise AlertError(f"{unit!r} is not a systemd unit name")
    host = socket.gethostname()
    logger.error("systemd unit %s failed on %s; see journalctl -u %s", unit, host, unit)
    recipients: list[str] = list(current_app.config.get("ALERT_MAIL") or [])
    if not recipients:
        logger.warning(
            "TASKHUB_ALERT_MAIL is unset: the failure of %s is in the journal only", unit
        )
        return []
    with force_locale("zh"):
        subject = _("[TaskHub] %(unit)s failed on %(host)s", unit=unit, host=host)
        text = _(
            "The systemd unit %(unit)s failed on %(host)s at %(time)s.\n"
            "See: systemctl status %(unit)s; journalctl -u %(unit)s\n\n"
            "Its last journal lines:",
            unit=unit,
            host=host,
            time=cn_datetime(now_utc()),
        )
    body = f"{text}\n\n{journal_tail(unit, lines)}\n"
    sent: list[str] = []
    failed: list[str] = []
    with SmtpSession(SmtpSettings.from_config(current_app.config)) as session:
        for address in recipients:
            try:
                session.send(address, subject, body)
            except DeliveryError as exc:
                failed.append(f"{address}: {exc}")
            else:
                sent.append(address)
    if failed:
        raise AlertError("the alert mail was not delivered: " + "; ".join(failed))
    return sent
