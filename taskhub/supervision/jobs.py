"""The scheduled escalation job: notices for tasks that reached a level's trigger."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date
from typing import Any

from taskhub.supervision import services

logger = logging.getLogger(__name__)


def escalate(today: date) -> dict[str, Any]:
    """Issue the escalation notices due as of ``today`` (the job's runner commits)."""
    result = asdict(services.escalate_overdue(today))
    logger.info("escalations as of %s: %s", today, result)
    return result
