"""The overdue scan: flag open milestones past their (extended) due date, and their assignments."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import and_, exists, func, not_, or_, select, update

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus
from taskhub.webhooks import services as webhooks

logger = logging.getLogger(__name__)

#: Ids listed in one audit event at most (the count is always exact).
AUDIT_ID_LIMIT = 1000


def scan_overdue(today: date) -> dict[str, int]:
    """Set and clear overdue flags as of ``today`` with a few set-based UPDATEs."""
    due = func.coalesce(Milestone.extended_to, Milestone.due_on)
    is_open = Milestone.status == MilestoneStatus.OPEN.value
    flagged_ids = list(
        db.session.scalars(
            update(Milestone)
            .where(is_open, due < today, not_(Milestone.is_overdue))
            .values(is_overdue=True)
            .returning(Milestone.id)
            .execution_options(synchronize_session=False)
        )
    )
    flagged = len(flagged_ids)
    cleared = db.session.execute(
        update(Milestone)
        .where(Milestone.is_overdue, or_(not_(is_open), due >= today))
        .values(is_overdue=False)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]

    overdue_ms = exists().where(
        Milestone.assignment_id == Assignment.id, Milestone.is_overdue, is_open
    )
    newly = list(
        db.session.scalars(select(Assignment.id).where(not_(Assignment.is_overdue), overdue_ms))
    )
    no_longer = list(
        db.session.scalars(select(Assignment.id).where(Assignment.is_overdue, not_(overdue_ms)))
    )
    if newly:
        db.session.execute(
            update(Assignment)
            .where(Assignment.id.in_(newly))
            .values(is_overdue=True)
            .execution_options(synchronize_session=False)
        )
    if no_longer:
        db.session.execute(
            update(Assignment)
            .where(and_(Assignment.id.in_(no_longer)))
            .values(is_overdue=False)
            .execution_options(synchronize_session=False)
        )
    if newly or no_longer:
        audit.record(
            "assignments.overdue_scanned",
            "job",
            "overdue",
            actor_id=None,
            after={
                "as_of": today,
                "now_overdue": len(newly),
                "no_longer_overdue": len(no_longer),
                "now_overdue_ids": newly[:AUDIT_ID_LIMIT],
                "no_longer_overdue_ids": no_longer[:AUDIT_ID_LIMIT],
            },
        )
    webhooks.milestones_overdue(flagged_ids, today)
    db.session.expire_all()
    result = {
        "milestones_flagged": flagged,
        "milestones_cleared": cleared,
        "assignments_flagged": len(newly),
        "assignments_cleared": len(no_longer),
    }
    logger.info("overdue scan as of %s: %s", today, result)
    return result
