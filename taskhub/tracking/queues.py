"""The office's two to-do lists, as queries the pages and the menu's count badges share:
reports awaiting this user's review (待审核) and pending extension requests (延期审批)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, Select, func, select

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
    """Submitted reports this user may review (the review queue's rows), oldest first."""
    return (
        select(ProgressReport)
        .join(Assignment)
        .where(ProgressReport.status == ReportStatus.SUBMITTED.value, reviewable(user))
        .order_by(ProgressReport.submitted_at)
    )


def pending_extensions() -> Select[ExtensionRequest]:
    """Extension requests the office has not decided yet, oldest first."""
    return (
        select(ExtensionRequest)
        .where(ExtensionRequest.status == ExtensionStatus.PENDING.value)
        .order_by(ExtensionRequest.requested_at)
    )


def counted(query: Select[Any]) -> ScalarSelect[int]:
    """How many rows a list query gives, as a COUNT another statement can hold (the menu asks
    for all its badges in one statement)."""
    return select(func.count()).select_from(query.order_by(None).subquery()).scalar_subquery()


def count_of(query: Select[Any]) -> int:
    """How many rows a list query gives: one COUNT, without the ordering."""
    return int(db.session.scalar(select(counted(query))) or 0)
