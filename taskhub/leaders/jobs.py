"""The scheduled leaders' job: the weekly summary (每周摘要) on each leader's set day."""

from __future__ import annotations

import logging
from datetime import date, time
from typing import Any

from flask import current_app

from taskhub.core.db import db, now_utc
from taskhub.core.timeutil import local_time
from taskhub.leaders import digest
from taskhub.reminders import services as outbox

logger = logging.getLogger(__name__)


def leader_digest(today: date) -> dict[str, Any]:
    """Queue the weekly digests whose day and time have come, then deliver what is due.

    Run for an earlier day (``jobs run leader_digest --today …``) the whole day has passed."""
    moment = local_time(now_utc())
    now = moment.time() if today == moment.date() else time(23, 59)
    result = digest.queue_digests(today, now, base_url=current_app.config["BASE_URL"])
    db.session.commit()
    result.update(outbox.deliver(current_app.config))
    logger.info("leader digests as of %s: %s", today, result)
    return result
