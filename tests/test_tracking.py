"""The daily loop: acknowledge, report with evidence, review, extensions, schedules, lights."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.audit.services import verify
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db, now_utc
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.storage import LocalStorage
from taskhub.plans.models import Item, Plan
from taskhub.tracking.lights import light_for
from taskhub.tracking.models import (
    Assignment,
    Evidence,
    ExtensionRequest,
    ItemMilestone,
    Milestone,
    ProgressReport,
    Review,
)
from taskhub.tracking.schedule import (
    MilestoneInput,
    add_item_milestones,
    apply_parsed_schedules,
    move_item_milestone,
    remove_item_milestone,
)
from taskhub.tracking.services import (
    Rejected,
    StaleObject,
    UploadedFile,
    acknowledge,
    assignment_for_report,
    can_review,
    check_version,
    decide_extension,
    request_extension,
    review_report,
    submit_report,
)
from taskhub.tracking.uploads import UploadRejected
from tests.conftest import make_user, unit_named

D = date.fromisoformat
MAX_BYTES = 1024 * 1024
KUNDULUN = "昆都仑区人民政府"
QINGSHAN = "青山区人民政府"
APPROVALS = "市审批服务局"  # lead assessor of Baotou item 1, not of item 3

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"


def _png() -> bytes:
    """A valid 1x1 RGB PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data)
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def chain_stays_intact(session: Any) -> Iterator[None]:
    """Whatever a test does through the services, the audit chain still verifies."""
    yield
    if not session.is_active:
        return  # a failed flush (an expected failure) left nothing to verify
    count, problems = verify()
    assert count > 0
    assert problems == []


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "evidence")


def blobs(storage: LocalStorage) -> list[Path]:
    """Stored blob files (temp files of an interrupted write excluded)."""
    if not storage.root.exists():
        return []
    return [p for p in storage.root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def plan_item(plan: str, code: str) -> Item:
    return db.session.scalars(
        select(Item).join(Plan).where(Plan.code == plan, Item.code == code)
    ).one()


def assignment(plan: str, code: str, unit: str = KUNDULUN) -> Assignment:
    city = plan.split("-")[0]
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(
            Plan.code == plan, Item.code == code, Assignment.unit_id == unit_named(unit, city).id
        )
    ).one()


def assignments_of(item: Item) -> list[Assignment]:
    return list(db.session.scalars(select(Assignment).where(Assignment.item_id == item.id)))


def unit_user(a: Assignment, username: str | None = None) -> User:
    return make_user("unit", a.unit, username)


def office(username: str = "office-1") -> User:
    return make_user("office", None, username)


def events(action: str, object_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.id)
        )
    )


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def report_count(a: Assignment) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(ProgressReport)
            .where(ProgressReport.assignment_id == a.id)
        )
        or 0
    )


def evidence_count(a: Assignment) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Evidence)
            .join(ProgressReport)
            .where(ProgressReport.assignment_id == a.id)
        )
        or 0
    )


def report(
    a: Assignment,
    actor: User,
    storage: LocalStorage,
    *,
    percent: int = 50,
    progress: str = "已完成系统部署。",
    milestone: Milestone | None = None,
    files: Sequence[UploadedFile] = (),
    expected_version: int | None = None,
) -> ProgressReport:
    return submit_report(
        a,
        actor=actor,
        progress=progress,
        percent=percent,
        milestone_id=milestone.id if milestone else None,
        files=files,
        storage=storage,
        max_bytes=MAX_BYTES,
        expected_version=expected_version,
    )


def milestones_of(a: Assignment) -> list[Milestone]:
    """The assignment's milestones as the database has them now (bulk updates bypass the ORM)."""
    return list(
        db.session.scalars(
            select(Milestone)
            .where(Milestone.assignment_id == a.id)
            .order_by(Milestone.due_on, Milestone.id)
            .execution_options(populate_existing=True)
        )
    )


# --- acknowledge (签收) -------------------------------------------------------------------


def test_acknowledge_records_status_time_and_audit(session: Any) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    assert (a.status, a.acknowledged_at) == ("new", None)

    started = now_utc()
    acknowledge(a, actor=user)

    assert a.status == "acknowledged"
    assert a.acknowledged_at is not None
    assert started <= a.acknowledged_at <= now_utc()
    (event,) = events("assignment.acknowledged", a.id)
    assert event.actor_id == user.id
    assert event.before == {"status": "new", "percent": 0}
    assert event.after is not None
    assert event.after["status"] == "acknowledged"
    assert event.after["seconds_to_acknowledge"] >= 0


def test_acknowledging_twice_changes_nothing(session: Any) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    acknowledge(a, actor=user)
    first, version, total = a.acknowledged_at, a.version, audit_count()

    acknowledge(a, actor=user)

    assert (a.acknowledged_at, a.status, a.version) == (first, "acknowledged", version)
    assert audit_count() == total


@pytest.mark.parametrize(
    ("role", "unit"),
    [("unit", QINGSHAN), ("viewer", None), ("assessor", KUNDULUN)],
    ids=["another unit", "viewer", "assessor"],
)
def test_only_the_unit_or_office_acknowledges(session: Any, role: str, unit: str | None) -> None:
    a = assignment("baotou-2022", "3")
    outsider = make_user(role, unit_named(unit, "baotou") if unit else None)
    total = audit_count()

    with pytest.raises(PermissionDenied):
        acknowledge(a, actor=outsider)

    assert (a.status, a.acknowledged_at) == ("new", None)
    assert audit_count() == total


# --- submit_report ---------------------------------------------------------------------


def assignment_reads(call: Any) -> int:
    """How many times ``call`` reads an assignment with its item's plan (the report's locked
    read; a plain load of the assignment may bring its item, not the plan)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT assignments.id") and "JOIN plans" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return len(seen)


def test_a_report_reads_its_assignment_again_unless_read_for_it_in_this_transaction(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    # Read (and locked) for the report by the caller: the report reads it no more.
    assert assignment_for_report(a.id) is a
    assert assignment_reads(lambda: report(a, user, storage)) == 0
    assert a.status == "submitted"
    # A commit since: another transaction, whose lock the report takes itself.
    b = assignment("baotou-2022", "1")
    assert assignment_for_report(b.id) is b
    session.commit()
    session.refresh(b)  # what the commit expired, read outside the count
    assert assignment_reads(lambda: report(b, user, storage)) == 1
    # The version is still checked against the row as read.
    c = assignment("baotou-2022", "2")
    assert assignment_for_report(c.id) is c
    with pytest.raises(StaleObject):
        report(c, user, storage, expected_version=c.version - 1)
    assert assignment_for_report(10**9) is None


def test_report_keeps_three_parts_percent_and_content_addressed_evidence(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    files = [
        UploadedFile("C:\\Users\\张三\\Desktop\\工作方案.pdf", PDF),
        UploadedFile("现场照片.png", PNG),
        UploadedFile("工作方案（抄送）.pdf", PDF),  # the same bytes again
    ]

    r = submit_report(
        a,
        actor=user,
        progress="  已完成一网通办平台部署。 ",
        problems="部分部门数据尚未对接。",
        next_steps="7月底前完成数据对接。",
        percent=60,
        files=files,
        storage=storage,
        max_bytes=MAX_BYTES,
    )

    assert (r.progress, r.problems, r.next_steps, r.percent, r.status) == (
        "已完成一网通办平台部署。",
        "部分部门数据尚未对接。",
        "7月底前完成数据对接。",
        60,
        "submitted",
    )
    assert (a.status, a.percent) == ("submitted", 60)
    names = [(e.original_name, e.content_type, e.size_bytes) for e in r.evidence]
    assert names == [
        ("工作方案.pdf", "application/pdf", len(PDF)),
        ("现场照片.png", "image/png", len(PNG)),
        ("工作方案（抄送）.pdf", "application/pdf", len(PDF)),
    ]
    assert all(e.uploaded_by_id == user.id for e in r.evidence)
    # Two evidence rows share one stored blob.
    assert r.evidence[0].sha256 == r.evidence[2].sha256
    assert len(blobs(storage)) == 2
    for e, data in zip(r.evidence, (PDF, PNG, PDF), strict=True):
        with storage.open(e.sha256) as fh:
            assert fh.read() == data

    (event,) = events("report.submitted", r.id)
    assert event.actor_id == user.id
    assert event.before == {"status": "new", "percent": 0}
    assert event.after is not None
    assert event.after["status"] == "submitted"
    assert event.after["percent"] == 60
    assert event.after["evidence"] == ["工作方案.pdf", "现场照片.png", "工作方案（抄送）.pdf"]


def test_reporting_on_a_new_assignment_acknowledges_it(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    assert a.acknowledged_at is None

    report(a, user, storage)

    assert a.acknowledged_at is not None
    assert a.status == "submitted"
    (ack,) = events("assignment.acknowledged", a.id)
    assert ack.actor_id == user.id


@pytest.mark.parametrize(
    ("progress", "percent", "field"),
    [
        ("已推进", 101, "percent"),
        ("已推进", -1, "percent"),
        ("", 50, "progress"),
        ("   \n ", 50, "progress"),
    ],
)
def test_invalid_report_is_refused_and_nothing_written(
    session: Any, storage: LocalStorage, progress: str, percent: int, field: str
) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    total = audit_count()

    with pytest.raises(ValidationFailed) as caught:
        report(
            a, user, storage, progress=progress, percent=percent, files=[UploadedFile("a.pdf", PDF)]
        )

    assert caught.value.problems == [field]
    assert report_count(a) == 0
    assert blobs(storage) == []
    assert (a.status, a.acknowledged_at, audit_count()) == ("new", None, total)


def test_milestone_of_another_assignment_is_refused(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    other = assignment("baotou-2022", "3", QINGSHAN)

    with pytest.raises(ValidationFailed):
        report(a, unit_user(a), storage, milestone=other.milestones[0])

    assert report_count(a) == 0


def test_a_second_report_while_one_awaits_review_is_rejected(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    report(a, user, storage)

    with pytest.raises(Rejected) as caught:
        report(a, user, storage, percent=70)

    assert caught.value.code == "pending"
    assert report_count(a) == 1
    assert a.percent == 50


def test_a_completed_assignment_takes_no_more_reports(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    review_report(report(a, user, storage, percent=100), actor=office(), decision="accept")
    assert a.status == "completed"

    with pytest.raises(Rejected) as caught:
        report(a, user, storage, percent=100)

    assert caught.value.code == "closed"
    assert report_count(a) == 1


def test_a_disguised_executable_rejects_the_whole_report(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    total, version = audit_count(), a.version
    files = [UploadedFile("方案.pdf", PDF), UploadedFile("报告.pdf", EXE)]

    with pytest.raises(UploadRejected) as caught:
        report(a, user, storage, files=files)

    assert caught.value.code == "type_not_allowed"
    assert "报告.pdf" in caught.value.message_zh
    assert report_count(a) == 0
    assert evidence_count(a) == 0
    assert blobs(storage) == []  # the good file before it was not stored either
    assert (a.status, a.acknowledged_at, a.version, audit_count()) == (
        "new",
        None,
        version,
        total,
    )


def test_stale_version_is_refused_and_nothing_written(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    seen = a.version  # the version the unit's form was loaded with
    acknowledge(a, actor=office())  # someone else changes the task meanwhile
    total = audit_count()

    with pytest.raises(StaleObject):
        report(a, user, storage, files=[UploadedFile("a.pdf", PDF)], expected_version=seen)

    assert report_count(a) == 0
    assert blobs(storage) == []
    assert (a.status, audit_count()) == ("acknowledged", total)
    # With the current version the same report goes through.
    report(a, user, storage, expected_version=a.version)
    assert report_count(a) == 1


# --- review_report ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "is_late"),
    [("2022-06-20", False), ("2022-06-30", False), ("2022-07-01", True)],
)
def test_accepting_a_report_closes_its_milestone(
    session: Any, storage: LocalStorage, today: str, is_late: bool
) -> None:
    a = assignment("baotou-2022", "3")  # 6月底完成: one 'complete' milestone on 06-30
    (ms,) = a.milestones
    assert (ms.kind, ms.due_on) == ("complete", D("2022-06-30"))
    r = report(a, unit_user(a), storage, percent=80, milestone=ms)
    reviewer = office()

    review = review_report(r, actor=reviewer, decision="accept", today=D(today))

    assert (review.decision, review.reviewer_id, review.reason) == ("accept", reviewer.id, None)
    assert r.status == "accepted"
    assert (ms.status, ms.completed_on, ms.is_late) == ("done", D(today), is_late)
    assert ms.due_on == D("2022-06-30")
    assert a.status == "in_progress"
    (event,) = events("report.accepted", r.id)
    assert event.actor_id == reviewer.id
    assert event.before == {"status": "submitted", "percent": 80}
    assert event.after is not None
    assert event.after["status"] == "in_progress"


def test_a_final_report_closes_every_open_milestone_and_completes(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "1")  # notable 05-31, then monthly checkpoints to 12-31
    assert len(a.milestones) == 8
    r = report(a, unit_user(a), storage, percent=100)

    review_report(r, actor=office(), decision="accept", today=D("2022-07-15"))

    assert a.status == "completed"
    assert a.completed_at is not None
    assert all(m.status == "done" and m.completed_on == D("2022-07-15") for m in a.milestones)
    late = [m.due_on for m in a.milestones if m.is_late]
    assert late == [D("2022-05-31"), D("2022-06-30")]


def test_return_needs_a_reason_and_lets_the_unit_resubmit(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    user = unit_user(a)
    reviewer = office()
    r = report(a, user, storage)
    total = audit_count()

    for blank in (None, "", "   "):
        with pytest.raises(ValidationFailed):
            review_report(r, actor=reviewer, decision="return", reason=blank)
    assert (r.status, a.status, audit_count()) == ("submitted", "submitted", total)
    assert db.session.scalar(select(func.count()).select_from(Review)) == 0

    review = review_report(r, actor=reviewer, decision="return", reason="佐证材料不全，请补充。")

    assert (review.decision, review.reason) == ("return", "佐证材料不全，请补充。")
    assert (r.status, a.status) == ("returned", "returned")
    (event,) = events("report.returned", r.id)
    assert event.actor_id == reviewer.id
    assert event.after is not None
    assert event.after["reason"] == "佐证材料不全，请补充。"
    again = report(a, user, storage, percent=60, progress="已补充佐证材料。")
    assert (again.status, a.status, report_count(a)) == ("submitted", "submitted", 2)


def test_unknown_decision_is_refused(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    r = report(a, unit_user(a), storage)
    with pytest.raises(ValidationFailed):
        review_report(r, actor=office(), decision="approve")
    assert r.status == "submitted"


@pytest.mark.parametrize(
    ("item", "allowed"),
    [("1", True), ("3", False)],
    ids=["leads item 1", "does not lead item 3"],
)
def test_lead_assessor_reviews_only_items_it_leads(
    session: Any, storage: LocalStorage, item: str, allowed: bool
) -> None:
    a = assignment("baotou-2022", item)
    assessor = make_user("assessor", unit_named(APPROVALS, "baotou"))
    r = report(a, unit_user(a), storage)
    assert can_review(assessor, a) is allowed

    if allowed:
        review_report(r, actor=assessor, decision="accept", today=D("2022-05-20"))
        assert r.status == "accepted"
        assert events("report.accepted", r.id)[0].actor_id == assessor.id
    else:
        with pytest.raises(PermissionDenied):
            review_report(r, actor=assessor, decision="accept")
        assert r.status == "submitted"


@pytest.mark.parametrize("role", ["unit", "viewer"])
def test_unit_staff_and_viewers_cannot_review(
    session: Any, storage: LocalStorage, role: str
) -> None:
    a = assignment("baotou-2022", "3")
    author = unit_user(a, "author")
    r = report(a, author, storage)
    actor = make_user(role, a.unit if role == "unit" else None)
    assert not can_review(actor, a)

    with pytest.raises(PermissionDenied):
        review_report(r, actor=actor, decision="accept")

    assert (r.status, a.status) == ("submitted", "submitted")


def test_a_report_is_reviewed_once(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    r = report(a, unit_user(a), storage)
    reviewer = office()
    review_report(r, actor=reviewer, decision="accept", today=D("2022-06-01"))
    total = audit_count()

    for decision, reason in (("accept", None), ("return", "重复审核")):
        with pytest.raises(Rejected) as caught:
            review_report(r, actor=reviewer, decision=decision, reason=reason)
        assert caught.value.code == "already_reviewed"

    assert (r.status, len(r.reviews), audit_count()) == ("accepted", 1, total)


# --- extensions (延期) -------------------------------------------------------------------


def test_extension_request_needs_a_reason_and_a_later_date(session: Any) -> None:
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    user = unit_user(a)
    cases: list[tuple[str, date]] = [
        ("", D("2022-07-31")),
        ("   ", D("2022-07-31")),
        ("系统对接延迟", D("2022-06-30")),
        ("系统对接延迟", D("2022-06-01")),
    ]
    for reason, new_date in cases:
        with pytest.raises(ValidationFailed):
            request_extension(ms, actor=user, reason=reason, requested_due_on=new_date)
    assert db.session.scalar(select(func.count()).select_from(ExtensionRequest)) == 0

    ext = request_extension(
        ms, actor=user, reason=" 系统对接延迟 ", requested_due_on=D("2022-07-31")
    )

    assert (ext.status, ext.reason, ext.requested_due_on) == (
        "pending",
        "系统对接延迟",
        D("2022-07-31"),
    )
    (event,) = events("extension.requested", ext.id)
    assert event.actor_id == user.id
    assert event.after == {
        "milestone_id": ms.id,
        "due_on": "2022-06-30",
        "requested_due_on": "2022-07-31",
        "reason": "系统对接延迟",
    }


def test_one_pending_extension_per_milestone(session: Any) -> None:
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    user = unit_user(a)
    request_extension(ms, actor=user, reason="系统对接延迟", requested_due_on=D("2022-07-31"))

    with pytest.raises(Rejected) as caught:
        request_extension(ms, actor=user, reason="再延期", requested_due_on=D("2022-08-31"))

    assert caught.value.code == "extension_pending"


@pytest.mark.parametrize(
    ("role", "unit"),
    [("unit", QINGSHAN), ("viewer", None)],
    ids=["another unit", "viewer"],
)
def test_only_the_unit_requests_extensions(session: Any, role: str, unit: str | None) -> None:
    (ms,) = assignment("baotou-2022", "3").milestones
    outsider = make_user(role, unit_named(unit, "baotou") if unit else None)
    with pytest.raises(PermissionDenied):
        request_extension(ms, actor=outsider, reason="延期", requested_due_on=D("2022-07-31"))


def test_approved_extension_moves_the_effective_date_but_keeps_due_on(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    user = unit_user(a)
    ext = request_extension(ms, actor=user, reason="系统对接延迟", requested_due_on=D("2022-07-31"))
    decider = office()

    decide_extension(ext, actor=decider, approve=True)

    assert (ext.status, ext.decided_by_id) == ("approved", decider.id)
    assert ext.decided_at is not None
    assert (ms.due_on, ms.extended_to, ms.effective_due_on) == (
        D("2022-06-30"),
        D("2022-07-31"),
        D("2022-07-31"),
    )
    (event,) = events("extension.approved", ext.id)
    assert event.actor_id == decider.id
    assert event.before == {"extended_to": None}
    assert event.after == {"extended_to": "2022-07-31", "due_on": "2022-06-30", "reason": None}
    with pytest.raises(Rejected) as caught:
        decide_extension(ext, actor=decider, approve=False, reason="改变主意")
    assert caught.value.code == "already_decided"
    # A further request must go beyond the extended date, not just the original one.
    with pytest.raises(ValidationFailed):
        request_extension(ms, actor=user, reason="再延期", requested_due_on=D("2022-07-15"))
    # Accepting after the original date is still late, so scoring sees the delay.
    r = report(a, user, storage, percent=100, milestone=ms)
    review_report(r, actor=decider, decision="accept", today=D("2022-07-20"))
    assert (ms.status, ms.is_late) == ("done", True)


def test_rejecting_an_extension_needs_a_reason(session: Any) -> None:
    (ms,) = assignment("baotou-2022", "3").milestones
    ext = request_extension(
        ms, actor=unit_user(ms.assignment), reason="人员不足", requested_due_on=D("2022-07-31")
    )
    decider = office()

    with pytest.raises(ValidationFailed):
        decide_extension(ext, actor=decider, approve=False, reason="  ")
    assert ext.status == "pending"

    decide_extension(ext, actor=decider, approve=False, reason="理由不充分")

    assert (ext.status, ext.decision_reason, ms.extended_to) == ("rejected", "理由不充分", None)
    (event,) = events("extension.rejected", ext.id)
    assert event.actor_id == decider.id
    assert event.after == {"extended_to": None, "due_on": "2022-06-30", "reason": "理由不充分"}


@pytest.mark.parametrize("role", ["unit", "assessor", "viewer"])
def test_only_the_office_decides_extensions(session: Any, role: str) -> None:
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    ext = request_extension(
        ms, actor=unit_user(a, "requester"), reason="人员不足", requested_due_on=D("2022-07-31")
    )
    actor = make_user(role, a.unit if role != "viewer" else None)

    with pytest.raises(PermissionDenied):
        decide_extension(ext, actor=actor, approve=True)

    assert (ext.status, ms.extended_to) == ("pending", None)


def test_no_extension_for_a_done_milestone(session: Any, storage: LocalStorage) -> None:
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    user = unit_user(a)
    review_report(report(a, user, storage, milestone=ms), actor=office(), decision="accept")

    with pytest.raises(Rejected) as caught:
        request_extension(ms, actor=user, reason="延期", requested_due_on=D("2022-07-31"))

    assert caught.value.code == "milestone_closed"


# --- schedules ---------------------------------------------------------------------------

STEPS = [
    MilestoneInput("stage", D("2022-06-30"), "完成平台建设"),
    MilestoneInput("complete", D("2022-09-30"), " 全面上线运行 "),
]


def test_bulk_steps_reach_every_assignment_of_every_item(session: Any) -> None:
    items = [plan_item("hegang-2022", code) for code in ("3", "23", "26")]
    counts = {i.code: len(assignments_of(i)) for i in items}
    assert counts == {"3": 9, "23": 2, "26": 14}
    assert all(not a.milestones for i in items for a in assignments_of(i))
    actor = office()

    added = add_item_milestones(items, STEPS, actor_id=actor.id)

    assert len(added) == 6
    assert {(im.item_id, im.kind, im.due_on, im.title, im.source) for im in added} == {
        (i.id, s.kind, s.due_on, s.title.strip(), "office") for i in items for s in STEPS
    }
    for i in items:
        for a in assignments_of(i):
            got = [(m.kind, m.due_on, m.title, m.status) for m in milestones_of(a)]
            assert got == [
                ("stage", D("2022-06-30"), "完成平台建设", "open"),
                ("complete", D("2022-09-30"), "全面上线运行", "open"),
            ]
    for im in added:
        (event,) = events("milestone.added", im.id)
        assert event.actor_id == actor.id
        assert event.after is not None
        assert (event.after["item_id"], event.after["due_on"]) == (
            im.item_id,
            im.due_on.isoformat(),
        )

    # The same steps again change nothing.
    total = audit_count()
    assert add_item_milestones(items, STEPS, actor_id=actor.id) == []
    assert audit_count() == total
    for i in items:
        for a in assignments_of(i):
            assert len(milestones_of(a)) == 2


@pytest.mark.parametrize(
    "step",
    [
        MilestoneInput("deadline", D("2022-06-30"), "完成"),
        MilestoneInput("stage", D("2022-06-30"), " "),
    ],
    ids=["unknown kind", "blank title"],
)
def test_bad_steps_are_refused_before_anything_is_written(
    session: Any, step: MilestoneInput
) -> None:
    items = [plan_item("hegang-2022", "3"), plan_item("hegang-2022", "23")]
    with pytest.raises(ValidationFailed):
        add_item_milestones(items, [STEPS[0], step], actor_id=None)
    count = db.session.scalar(
        select(func.count())
        .select_from(ItemMilestone)
        .where(ItemMilestone.item_id.in_([i.id for i in items]))
    )
    assert count == 0


def _finish_copy(a: Assignment, ms: Milestone, storage: LocalStorage, reviewer: User) -> None:
    """Take one assignment's copy of a step through report and acceptance."""
    r = report(a, unit_user(a), storage, milestone=ms)
    review_report(r, actor=reviewer, decision="accept", today=D("2022-06-20"))
    assert ms.status == "done"


def test_moving_a_step_moves_open_copies_only(session: Any, storage: LocalStorage) -> None:
    item = plan_item("hegang-2022", "3")
    actor = office()
    im, _ = add_item_milestones([item], STEPS, actor_id=actor.id)
    done_a, *open_as = assignments_of(item)
    _finish_copy(done_a, milestones_of(done_a)[0], storage, actor)

    move_item_milestone(im, D("2022-07-15"), actor_id=actor.id)

    assert im.due_on == D("2022-07-15")
    done_copy = milestones_of(done_a)[0]
    assert (done_copy.due_on, done_copy.status) == (D("2022-06-30"), "done")
    for a in open_as:
        stage = next(m for m in milestones_of(a) if m.item_milestone_id == im.id)
        assert (stage.due_on, stage.status) == (D("2022-07-15"), "open")
    (event,) = events("milestone.moved", im.id)
    assert (event.actor_id, event.before, event.after) == (
        actor.id,
        {"due_on": "2022-06-30"},
        {"due_on": "2022-07-15"},
    )
    # Moving onto a date the item already has for that kind is refused.
    other = add_item_milestones(
        [item], [MilestoneInput("stage", D("2022-08-31"), "x")], actor_id=None
    )
    with pytest.raises(ValidationFailed):
        move_item_milestone(other[0], D("2022-07-15"), actor_id=actor.id)


def test_removing_a_step_keeps_done_copies(session: Any, storage: LocalStorage) -> None:
    item = plan_item("hegang-2022", "23")
    actor = office()
    im, _ = add_item_milestones([item], STEPS, actor_id=actor.id)
    done_a, open_a = assignments_of(item)
    _finish_copy(done_a, milestones_of(done_a)[0], storage, actor)
    im_id = im.id

    remove_item_milestone(im, actor_id=actor.id)

    assert db.session.get(ItemMilestone, im_id) is None
    done_left = milestones_of(done_a)
    assert [(m.kind, m.status, m.due_on) for m in done_left] == [
        ("stage", "done", D("2022-06-30")),
        ("complete", "open", D("2022-09-30")),
    ]
    assert done_left[0].item_milestone_id is None
    assert [(m.kind, m.due_on) for m in milestones_of(open_a)] == [("complete", D("2022-09-30"))]
    (event,) = events("milestone.removed", im_id)
    assert event.actor_id == actor.id
    assert event.before == {
        "item_id": item.id,
        "kind": "stage",
        "due_on": "2022-06-30",
        "title": "完成平台建设",
    }


def _item_steps(item: Item) -> list[tuple[str, date, str]]:
    return [
        (im.kind, im.due_on, im.source)
        for im in db.session.scalars(
            select(ItemMilestone)
            .where(ItemMilestone.item_id == item.id)
            .order_by(ItemMilestone.due_on, ItemMilestone.kind)
        )
    ]


def test_reapplying_phrases_keeps_office_steps(session: Any) -> None:
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    item = plan_item("baotou-2022", "3")
    add_item_milestones(
        [item], [MilestoneInput("stage", D("2022-05-15"), "完成系统部署")], actor_id=None
    )
    before_steps = _item_steps(item)
    before_counts = [len(milestones_of(a)) for a in assignments_of(item)]
    assert before_steps == [
        ("stage", D("2022-05-15"), "office"),
        ("complete", D("2022-06-30"), "phrase"),
    ]
    assert set(before_counts) == {2}

    written, unparsed = apply_parsed_schedules(plan)

    assert written == 0
    assert unparsed == []
    assert _item_steps(item) == before_steps
    assert [len(milestones_of(a)) for a in assignments_of(item)] == before_counts


def test_an_unreadable_phrase_is_flagged_not_guessed(session: Any) -> None:
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    item = plan_item("baotou-2022", "3")
    item.deadline_phrase = "尽快"

    _, unparsed = apply_parsed_schedules(plan)

    assert [i.code for i in unparsed] == ["3"]
    assert item.is_deadline_unparsed is True
    assert item.deadline_phrase == "尽快"  # kept verbatim for the office
    assert _item_steps(item) == []

    # Once the office writes a readable phrase the flag clears and the step returns.
    item.deadline_phrase = "8月底完成"
    _, unparsed = apply_parsed_schedules(plan)
    assert unparsed == []
    assert item.is_deadline_unparsed is False
    assert _item_steps(item) == [("complete", D("2022-08-31"), "phrase")]


def test_a_dropped_phrase_step_leaves_no_open_copies(session: Any) -> None:
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    item = plan_item("baotou-2022", "3")
    item.deadline_phrase = "8月底完成"

    apply_parsed_schedules(plan)

    for a in assignments_of(item):
        assert [(m.kind, m.due_on) for m in milestones_of(a)] == [("complete", D("2022-08-31"))]


def test_reapplying_does_not_resurrect_a_moved_step(session: Any) -> None:
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    item = plan_item("baotou-2022", "3")
    (im,) = db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id))
    move_item_milestone(im, D("2022-07-15"), actor_id=None)

    apply_parsed_schedules(plan)

    # One step, still the phrase's (it remembers the phrase's date), at the office's date.
    assert _item_steps(item) == [("complete", D("2022-07-15"), "phrase")]
    for a in assignments_of(item):
        assert [m.due_on for m in milestones_of(a)] == [D("2022-07-15")]


def test_a_phrase_matching_an_office_step_is_not_duplicated(session: Any) -> None:
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    item = plan_item("baotou-2022", "3")
    add_item_milestones(
        [item], [MilestoneInput("complete", D("2022-07-31"), "完成")], actor_id=None
    )
    item.deadline_phrase = "7月底完成"

    apply_parsed_schedules(plan)

    assert [(k, d) for k, d, _ in _item_steps(item)] == [("complete", D("2022-07-31"))]


# --- traffic lights ------------------------------------------------------------------------


@pytest.fixture
def calendar(session: Any) -> WorkingCalendar:
    return WorkingCalendar.load(D("2022-01-01"), D("2022-12-31"))


@pytest.mark.parametrize(
    ("item", "today", "percent", "color", "why"),
    [
        ("3", "2022-07-01", 90, "red", "overdue"),  # 06-30 passed, still open
        ("3", "2022-06-30", 90, "yellow", "due_soon"),  # due today
        ("3", "2022-06-27", 90, "yellow", "due_soon"),  # 06-28, 29, 30: 3 working days
        ("3", "2022-06-24", 90, "green", "on_track"),  # 4 working days left, on pace
        ("3", "2022-06-24", 50, "yellow", "behind_pace"),  # 97% of the time gone
        ("3", "2022-03-31", 40, "green", "on_track"),  # 49% gone, 40% done: within tolerance
        ("3", "2022-03-31", 30, "yellow", "behind_pace"),
        # 05-31 is 3 working days after 05-26 (Thu): 27, 30, 31.
        ("6", "2022-05-26", 100, "yellow", "due_soon"),
        # Once item 1's 05-31 result is accepted, only the 06-30 checkpoint is next.
        ("1", "2022-06-01", 100, "green", "on_track"),
    ],
)
def test_lights(
    session: Any,
    calendar: WorkingCalendar,
    item: str,
    today: str,
    percent: int,
    color: str,
    why: str,
) -> None:
    a = assignment("baotou-2022", item)
    if item == "1":
        a.milestones[0].status = "done"  # the 05-31 notable result was accepted
    a.percent = percent

    light = light_for(a, D(today), calendar, year_start=D("2022-01-01"))

    assert (light.color, light.reason) == (color, why)


def test_light_due_soon_counts_working_days_over_holidays(
    session: Any, calendar: WorkingCalendar
) -> None:
    item = plan_item("hegang-2022", "23")
    add_item_milestones(
        [item], [MilestoneInput("complete", D("2022-10-10"), "完成")], actor_id=None
    )
    a = assignments_of(item)[0]
    a.percent = 100
    # 09-29 → 10-10 spans National Day: working days 09-30, 10-08 and 10-09 (调休), 10-10.
    light = light_for(a, D("2022-09-29"), calendar, year_start=D("2022-01-01"))
    assert (light.color, light.reason) == ("green", "on_track")
    # From 09-30 only 10-08, 10-09 and 10-10 are left: due soon although 10 days remain.
    light = light_for(a, D("2022-09-30"), calendar, year_start=D("2022-01-01"))
    assert (light.color, light.reason) == ("yellow", "due_soon")


def test_completed_is_green_and_an_extension_lifts_red(
    session: Any, calendar: WorkingCalendar, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    (ms,) = a.milestones
    user = unit_user(a)
    decider = office()
    assert light_for(a, D("2022-07-05"), calendar, year_start=D("2022-01-01")).color == "red"

    ext = request_extension(ms, actor=user, reason="设备到货延迟", requested_due_on=D("2022-07-31"))
    decide_extension(ext, actor=decider, approve=True)
    a.percent = 95
    light = light_for(a, D("2022-07-05"), calendar, year_start=D("2022-01-01"))
    assert (light.color, light.reason) == ("green", "on_track")

    review_report(report(a, user, storage, percent=100), actor=decider, decision="accept")
    light = light_for(a, D("2022-12-31"), calendar, year_start=D("2022-01-01"))
    assert (light.color, light.reason) == ("green", "completed")


def test_no_milestones_is_grey(session: Any, calendar: WorkingCalendar) -> None:
    # No date yet: neither late nor on time, so no light of its own (issue 15).
    a = assignments_of(plan_item("hegang-2022", "3"))[0]
    light = light_for(a, D("2022-12-31"), calendar, year_start=D("2022-01-01"))
    assert (light.color, light.reason) == ("grey", "no_milestones")


# --- optimistic locking ----------------------------------------------------------------------


def test_the_second_editor_with_an_old_version_is_stopped(
    session: Any, storage: LocalStorage
) -> None:
    a = assignment("baotou-2022", "3")
    first, second = unit_user(a, "clerk-1"), unit_user(a, "clerk-2")
    loaded = a.version  # both clerks opened the report form at this version
    check_version(a, loaded)
    check_version(a, None)  # callers without a form version are not checked

    report(a, first, storage, percent=40, expected_version=loaded)
    review_report(a.reports[0], actor=office(), decision="return", reason="请补充照片")
    assert a.version > loaded

    with pytest.raises(StaleObject):
        check_version(a, loaded)
    with pytest.raises(StaleObject):
        report(a, second, storage, percent=70, expected_version=loaded)
    assert (report_count(a), a.percent) == (1, 40)


def test_a_concurrent_write_from_another_session_is_detected(session: Any) -> None:
    a = assignment("baotou-2022", "3")
    loaded = a.version
    other = Session(bind=db.session.connection(), join_transaction_mode="create_savepoint")
    try:
        theirs = other.get(Assignment, a.id)
        assert theirs is not None
        theirs.percent = 30
        other.commit()  # the other worker saves first
        assert theirs.version == loaded + 1
        # A form built on the version read before that write is refused ...
        with pytest.raises(StaleObject):
            check_version(theirs, loaded)
    finally:
        other.close()

    # ... and a raw write from this session's old copy cannot overwrite the other's change.
    a.percent = 60
    with pytest.raises(StaleDataError):
        db.session.flush()
    db.session.rollback()
