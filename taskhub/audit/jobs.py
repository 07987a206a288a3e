"""The hourly audit checkpoint (taskhub.jobs.registry)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from taskhub.audit import checkpoints

logger = logging.getLogger(__name__)


def checkpoint(today: date) -> dict[str, Any]:
    """Check the events since the last checkpoint, then sign the head (unless unchanged).

    A chain that no longer follows the last checkpoint fails the run (it shows in
    `taskhub jobs list` and the log) and writes nothing, so the evidence stays in the log.
    """
    try:
        written = checkpoints.write("scheduled", skip_unchanged=True)
    except checkpoints.ChainBroken as exc:
        logger.error("audit trail does not follow its last checkpoint: %s", exc)
        raise
    if written is None:
        return {"written": False}
    return {"written": True, "events": written.count}
