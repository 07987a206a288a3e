"""The office's two to-do lists, as queries the pages and the menu's count badges share:
reports awaiting this user's review (待审核) and pending extension requests (延期审批)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, Select, func, literal, select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.tracking.models import (
    Assignment,
    ExtensionRequest,
    ExtensionStatus,
    ProgressReport,
    ReportStatus,
)
from taskhub.tracking.services import reviewable


def awaiting_review(user: User) -> Select[ProgressReport]:
    """Submitted reports this user may review (the review queue's rows), oldest first.

    An assessor's reports are found from the items it leads (a few hundred index lookups), not
    by walking every submitted report of the province and joining its assignment (~100 ms per
    page with 12,000 waiting; bench/bench_nav.py)."""
    query = select(ProgressReport).where(ProgressReport.status == ReportStatus.SUBMITTED.value)
    if user.role not in ("admin", "office"):
        mine = select(Assignment.id).where(reviewable(user))
        query = query.where(ProgressReport.assignment_id.in_(mine))
    return query.order_by(ProgressReport.submitted_at)


def pending_extensions() -> Select[ExtensionRequest]:
    """Extension requests the office has not decided yet, oldest first."""
    return (
        select(ExtensionRequest)
        .where(ExtensionRequest.status == ExtensionStatus.PENDING.value)
        .order_by(ExtensionRequest.requested_at)
    )


def counted(query: Select[Any], cap: int | None = None) -> ScalarSelect[int]:
    """How many rows a list query gives, as a COUNT another statement can hold (the menu asks
    for all its badges in one statement). With ``cap``, counting stops there: a badge reads
    "99+" past 99, and a page never pays for counting 12,000 rows."""
    rows = query.order_by(None).with_only_columns(literal(1))
    if cap is not None:
        rows = rows.limit(cap)
    return select(func.count()).select_from(rows.subquery()).scalar_subquery()


def count_of(query: Select[Any]) -> int:
    """How many rows a list query gives: one COUNT, without the ordering."""
    return int(db.session.scalar(select(counted(query))) or 0)
