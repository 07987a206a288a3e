"""The office's two queues: reports awaiting review (待审核), with several accepted at once,
and extension requests awaiting a decision (延期审批). The pages and the menu's count badges
share the same queries.

Reading builds each list in a fixed handful of queries whatever its length; the bulk accept
goes through :func:`services.review_report` for every report, so each acceptance is audited,
sent to webhooks and notified to the unit exactly as a single one is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, Select, func, literal, select
from sqlalchemy.orm import joinedload, selectinload

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.errors import DomainError, NotFound, PermissionDenied
from taskhub.plans.models import Item
from taskhub.tracking import services
from taskhub.tracking.models import (
    Assignment,
    ExtensionRequest,
    ExtensionStatus,
    Milestone,
    ProgressReport,
    ReportStatus,
    Review,
    ReviewDecision,
)


@dataclass(frozen=True)
class ReviewQueue:
    """One page of the queue and the length of the whole queue."""

    reports: list[ProgressReport]
    total: int
    #: The reported step's title (or kind) by milestone id, for reports on one step.
    steps: dict[int, Milestone]


def review_queue(user: User, *, limit: int, offset: int = 0) -> ReviewQueue:
    """Reports awaiting review that ``user`` may review, oldest first: the unit, item and plan
    joined in, and every listed report's evidence and reported step in one query each."""
    queue = awaiting_review(user)
    total = count_of(queue)
    reports = list(
        db.session.scalars(
            queue.options(
                selectinload(ProgressReport.evidence),
                joinedload(ProgressReport.assignment).options(
                    joinedload(Assignment.unit),
                    joinedload(Assignment.item).joinedload(Item.plan),
                ),
            )
            .limit(limit)
            .offset(offset)
        )
    )
    step_ids = {r.milestone_id for r in reports if r.milestone_id}
    steps = (
        {m.id: m for m in db.session.scalars(select(Milestone).where(Milestone.id.in_(step_ids)))}
        if step_ids
        else {}
    )
    return ReviewQueue(reports=reports, total=total, steps=steps)


class SelectionRefused(DomainError):
    """One report of a bulk acceptance could not be accepted, so none was.

    ``report`` is the one refused (None if it no longer exists) and ``cause`` the error the
    single review raised (stale version, already reviewed, ...)."""

    def __init__(self, report_id: int, report: ProgressReport | None, cause: DomainError) -> None:
        super().__init__(f"report {report_id}: {cause}")
        self.report_id = report_id
        self.report = report
        self.cause = cause


def accept_reports(selection: dict[int, int | None], *, actor: User) -> list[Review]:
    """批量通过: accept every selected report (report id → the assignment version the page
    showed), all or nothing. Raises PermissionDenied if the actor may not review one of them,
    :class:`SelectionRefused` if one changed or was already reviewed; the caller then rolls
    back, so nothing of the batch stays."""
    reports = {
        r.id: r
        for r in db.session.scalars(
            select(ProgressReport)
            .where(ProgressReport.id.in_(selection))
            .options(joinedload(ProgressReport.assignment))
        )
    }
    missing = [rid for rid in selection if rid not in reports]
    if missing:
        raise SelectionRefused(missing[0], None, NotFound(f"report {missing[0]} does not exist"))
    for report in reports.values():
        # Every permission first: a refused report never leaves half a batch locked.
        if not services.can_review(actor, report.assignment):
            raise PermissionDenied(f"you may not review report {report.id}")
    reviews = []
    # Assignments locked in id order, so two overlapping batches never wait on each other.
    for report in sorted(reports.values(), key=lambda r: (r.assignment_id, r.id)):
        try:
            reviews.append(
                services.review_report(
                    report,
                    actor=actor,
                    decision=ReviewDecision.ACCEPT.value,
                    expected_version=selection[report.id],
                )
            )
        except PermissionDenied:
            raise
        except services.StaleObject as exc:
            # A task changes when its report is reviewed: say so rather than "changed".
            db.session.refresh(report)
            cause: DomainError = exc
            if report.status != ReportStatus.SUBMITTED.value:
                cause = services.Rejected("already_reviewed", "already reviewed")
            raise SelectionRefused(report.id, report, cause) from exc
        except DomainError as exc:
            raise SelectionRefused(report.id, report, exc) from exc
    return reviews


def extension_queue() -> Sequence[ExtensionRequest]:
    """Extension requests awaiting the office, oldest first, with the milestone, the unit, the
    item and its plan joined in (one query), and the asker's name."""
    return db.session.scalars(
        pending_extensions().options(
            joinedload(ExtensionRequest.milestone)
            .joinedload(Milestone.assignment)
            .options(
                joinedload(Assignment.unit),
                joinedload(Assignment.item).joinedload(Item.plan),
            )
        )
    ).all()


def awaiting_review(user: User) -> Select[Any]:
    """Submitted reports this user may review (the review queue's rows), oldest first.

    An assessor's reports are found from the items it leads (a few hundred index lookups), not
    by walking every submitted report of the province and joining its assignment (~100 ms per
    page with 12,000 waiting; bench/bench_nav.py)."""
    query = select(ProgressReport).where(ProgressReport.status == ReportStatus.SUBMITTED.value)
    if user.role not in ("admin", "office"):
        mine = select(Assignment.id).where(services.reviewable(user))
        query = query.where(ProgressReport.assignment_id.in_(mine))
    return query.order_by(ProgressReport.submitted_at, ProgressReport.id)


def pending_extensions() -> Select[Any]:
    """Extension requests the office has not decided yet, oldest first."""
    return (
        select(ExtensionRequest)
        .where(ExtensionRequest.status == ExtensionStatus.PENDING.value)
        .order_by(ExtensionRequest.requested_at, ExtensionRequest.id)
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
