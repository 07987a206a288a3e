"""The office's queues as the reviewer uses them: 待审核 with the task, the three-part report and
its evidence inline, several reports accepted at once (all or nothing), and 延期审批 with the
plan, item and milestone of each request."""

from __future__ import annotations

import html as html_lib
import re
import struct
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.plans.models import Item, Plan
from taskhub.reminders.models import Notification
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, Milestone, ProgressReport
from tests.conftest import Browser, make_user, unit_named

KUNDULUN = "昆都仑区人民政府"
QINGSHAN = "青山区人民政府"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny, grey) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def visible(page: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
def evidence_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "evidence"
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(path))
    return path


@pytest.fixture
def browser(app: Flask, session: Any) -> Callable[..., Browser]:
    def _open(role: str, unit: str | None = None, username: str | None = None) -> Browser:
        owner = unit_named(unit, "baotou") if unit else None
        return Browser(app, make_user(role, owner, username or f"{role}-{unit or 'staff'}"))

    return _open


def assignment_of(code: str, unit: str) -> Assignment:
    owner = unit_named(unit, "baotou")
    return db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == "baotou-2022", Item.code == code, Assignment.unit_id == owner.id)
    ).one()


def report_on(code: str, unit: str, **changes: Any) -> ProgressReport:
    """A submitted report of ``unit`` on Baotou item ``code``, by a new user of that unit."""
    author = make_user("unit", unit_named(unit, "baotou"), f"author-{unit}-{code}")
    values: dict[str, Any] = {
        "progress": f"{unit}第{code}项：完成平台升级招标。",
        "problems": f"{unit}第{code}项：话务数据迁移尚需协调。",
        "next_steps": "7月完成系统联调。",
        "percent": 60,
        "files": [],
    }
    values.update(changes)
    report = services.submit_report(
        assignment_of(code, unit),
        actor=db.session.get_one(User, author.id),
        storage=storage_for(current_app.config),
        max_bytes=1024 * 1024,
        **values,
    )
    db.session.commit()
    return report


def version_of(report_id: int) -> int:
    """The version of the report's task as the database has it now."""
    db.session.expire_all()
    return db.session.get_one(ProgressReport, report_id).assignment.version


def status_of(report_id: int) -> str:
    db.session.expire_all()
    return db.session.get_one(ProgressReport, report_id).status


def accepted_audits(*report_ids: int) -> int:
    return (
        db.session.scalar(
            select(func.count()).where(
                AuditEvent.action == "report.accepted",
                AuditEvent.object_id.in_([str(i) for i in report_ids]),
            )
        )
        or 0
    )


def notices_of(user_id: int) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Notification.title).where(Notification.user_id == user_id))
    )


def bulk_form(*report_ids: int, versions: dict[int, int] | None = None) -> dict[str, Any]:
    """The queue's bulk form with these reports ticked, at the versions shown (or given)."""
    versions = versions or {}
    form: dict[str, Any] = {"report_ids": [str(i) for i in report_ids]}
    for i in report_ids:
        form[f"version-{i}"] = str(versions.get(i, version_of(i)))
    return form


# -- 待审核 ---------------------------------------------------------------------------------


def test_queue_shows_task_text_problems_and_evidence_inline(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    office = browser("office")
    report = report_on(
        "3",
        KUNDULUN,
        files=[
            services.UploadedFile("热线平台升级方案.pdf", PDF),
            services.UploadedFile("现场照片.png", png()),
        ],
    )
    item = assignment_of("3", KUNDULUN).item
    label, task = item.label, item.text
    pdf, photo = (e.id for e in report.evidence)
    report_id, version = report.id, version_of(report.id)

    page = office.page("/review")
    text = visible(page)
    assert "包头市数字政府建设考评指标" in text and f"第 {label} 项" in text
    assert task[:40] in text  # the task itself, not only its number
    assert "工作进展 昆都仑区人民政府第3项：完成平台升级招标。" in text
    assert "存在问题 昆都仑区人民政府第3项：话务数据迁移尚需协调。" in text
    assert "下步计划 7月完成系统联调。" in text and "进度 60%" in text
    # Evidence by name and size, each a link to the permission-checked file route.
    assert "热线平台升级方案.pdf" in text and "现场照片.png" in text
    assert f'href="/evidence/{pdf}"' in page
    # The image as a small thumbnail, the PDF only as a link.
    assert re.search(rf'<img class="ev-thumb" src="/evidence/{photo}"', page)
    assert f'src="/evidence/{pdf}"' not in page
    assert "B" in text.split("热线平台升级方案.pdf", 1)[1][:12]  # its size follows the name
    # A tick for the bulk acceptance, carrying the version shown.
    assert f'name="report_ids" value="{report_id}"' in page
    assert f'name="version-{report_id}" value="{version}"' in page
    assert "批量通过" in text


def test_queue_loads_evidence_in_one_query_whatever_the_length(
    browser: Callable[..., Browser], evidence_dir: Path, app: Flask
) -> None:
    from sqlalchemy import event

    office = browser("office")
    for code, unit in (("3", KUNDULUN), ("3", QINGSHAN), ("1", KUNDULUN), ("1", QINGSHAN)):
        report_on(code, unit, files=[services.UploadedFile(f"{unit}{code}.pdf", PDF)])
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = office.page("/review")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert page.count('class="tag" href="/evidence/') == 4
    assert sum("FROM evidence" in s for s in statements) == 1


def test_bulk_accept_accepts_exactly_the_selected_reports_and_audits_each(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    office = browser("office")
    first, second = report_on("3", KUNDULUN).id, report_on("3", QINGSHAN).id
    left = report_on("1", KUNDULUN).id
    kd_user = make_user("unit", unit_named(KUNDULUN, "baotou"), "kd-reader").id
    qs_user = make_user("unit", unit_named(QINGSHAN, "baotou"), "qs-reader").id

    text = visible(office.submit("/review/accept", data=bulk_form(first, second)))

    assert "已通过 2 份报送。" in text
    assert (status_of(first), status_of(second), status_of(left)) == (
        "accepted",
        "accepted",
        "submitted",
    )
    assert accepted_audits(first, second) == 2 and accepted_audits(left) == 0
    # Each unit is told, as for a single acceptance.
    assert any("报告已审核通过" in t for t in notices_of(kd_user))
    assert any("报告已审核通过" in t for t in notices_of(qs_user))
    # Only the report left is still listed.
    assert f'value="{left}"' in office.page("/review")
    assert f'name="report_ids" value="{first}"' not in office.page("/review")


def test_a_stale_report_in_the_selection_accepts_none_and_says_which(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    office = browser("office")
    first, second = report_on("3", KUNDULUN).id, report_on("3", QINGSHAN).id
    form = bulk_form(first, second, versions={second: version_of(second) - 1})
    audits = accepted_audits(first, second)

    response = office.post("/review/accept", data=form)

    assert response.status_code == 200  # the queue again, not a redirect
    text = visible(response.get_data(as_text=True))
    assert f"{QINGSHAN}关于包头市数字政府建设考评指标 第 " in text
    assert "的报送已更改，本次未通过任何报送，请刷新后重试。" in text
    assert (status_of(first), status_of(second)) == ("submitted", "submitted")
    assert accepted_audits(first, second) == audits


def test_a_report_reviewed_meanwhile_accepts_none_and_says_so(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    office, other = browser("office"), browser("office", username="office-2")
    first, second = report_on("3", KUNDULUN).id, report_on("3", QINGSHAN).id
    form = bulk_form(first, second)
    other.submit(
        "/review", data={"report_id": str(first), "decision": "return", "reason": "材料不全"}
    )

    text = visible(office.post("/review/accept", data=form).get_data(as_text=True))

    assert f"{KUNDULUN}关于" in text and "已被他人处理，本次未通过任何报送，请刷新后重试。" in text
    assert (status_of(first), status_of(second)) == ("returned", "submitted")


def test_nothing_selected_accepts_nothing(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    report = report_on("3", KUNDULUN).id
    text = visible(browser("office").submit("/review/accept", data={}))
    assert "请至少勾选一份报送。" in text and status_of(report) == "submitted"


def test_an_assessor_accepts_only_what_they_may_review(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    """An assessor of a unit that leads no item's assessment: the tampered selection is refused
    as a whole, and nothing of it is accepted."""
    assessor = browser("assessor", KUNDULUN)
    report = report_on("3", QINGSHAN).id
    assert not services.can_review(
        db.session.get_one(User, assessor.user_id), assignment_of("3", QINGSHAN)
    )
    response = assessor.post("/review/accept", data=bulk_form(report))
    assert response.status_code == 403
    assert status_of(report) == "submitted"


def test_a_unit_user_cannot_bulk_accept(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    report = report_on("3", KUNDULUN).id
    unit = browser("unit", KUNDULUN, "kd-staff")
    assert unit.post("/review/accept", data=bulk_form(report)).status_code == 403
    assert status_of(report) == "submitted"


def test_a_single_decision_from_the_queue_checks_the_version_shown(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    office = browser("office")
    report = report_on("3", KUNDULUN).id
    response = office.post(
        "/review",
        data={
            "report_id": str(report),
            "decision": "accept",
            "version": str(version_of(report) - 1),
        },
    )
    assert response.status_code == 200
    assert "该任务已被他人修改，请刷新页面后重试。" in visible(response.get_data(as_text=True))
    assert status_of(report) == "submitted"


# -- 延期审批 -------------------------------------------------------------------------------


def test_extension_queue_shows_plan_item_and_milestone(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    assignment = assignment_of("3", KUNDULUN)
    milestone = db.session.scalars(
        select(Milestone).where(Milestone.assignment_id == assignment.id)
    ).first()
    assert milestone is not None
    asker = make_user("unit", unit_named(KUNDULUN, "baotou"), "kd-asker")
    ext = services.request_extension(
        milestone,
        actor=db.session.get_one(User, asker.id),
        reason="招标流程延后，需顺延一个月。",
        requested_due_on=date(2022, 7, 31),
    )
    db.session.commit()
    item = assignment.item
    label, task, title = item.label, item.text, milestone.title
    ext_id, asker_name = ext.id, asker.display_name

    page = office.page("/extensions")
    text = visible(page)
    assert "包头市数字政府建设考评指标" in text and "baotou-2022" in text
    assert f"第 {label} 项" in text and task[:30] in text
    assert KUNDULUN in text
    assert title and title in text
    assert "2022年6月30日" in text and "2022年7月31日" in text  # current due, asked for
    assert "招标流程延后，需顺延一个月。" in text
    assert f'id="ext-{ext_id}"' in page
    assert "申请时间" in text and asker_name in text


# -- the API's 批量通过 -------------------------------------------------------------------------

BULK = "/api/v1/reviews/bulk"


def test_api_bulk_accept_accepts_all_the_listed_reports(api_as: Any, evidence_dir: Path) -> None:
    first, second = report_on("3", KUNDULUN).id, report_on("3", QINGSHAN).id
    left = report_on("1", KUNDULUN).id
    body = {"reports": [{"id": i, "version": version_of(i)} for i in (first, second)]}

    answer = api_as("office").post(BULK, json=body)

    assert answer.status_code == 200, answer.json
    assert [(r["id"], r["status"]) for r in answer.json] == [
        (first, "accepted"),
        (second, "accepted"),
    ]
    assert answer.json[0]["reviews"][0]["decision"] == "accept"
    assert status_of(left) == "submitted"
    assert accepted_audits(first, second) == 2


def test_api_bulk_accept_with_a_stale_version_accepts_none(api_as: Any, evidence_dir: Path) -> None:
    first, second = report_on("3", KUNDULUN).id, report_on("3", QINGSHAN).id
    body = {
        "reports": [
            {"id": first, "version": version_of(first)},
            {"id": second, "version": version_of(second) - 1},
        ]
    }

    answer = api_as("office").post(BULK, json=body)

    assert answer.status_code == 409 and answer.json["code"] == "stale"
    assert list(answer.json["errors"]) == ["reports.1"]
    assert (status_of(first), status_of(second)) == ("submitted", "submitted")


def test_api_bulk_accept_refuses_unknown_reviewed_and_unpermitted_reports(
    api_as: Any, evidence_dir: Path
) -> None:
    report = report_on("3", KUNDULUN).id
    office = api_as("office")
    reviewed = office.post(f"/api/v1/reports/{report}/review", json={"decision": "accept"})
    assert reviewed.status_code == 200
    other = report_on("3", QINGSHAN).id

    again = office.post(BULK, json={"reports": [{"id": other}, {"id": report}]})
    assert again.status_code == 422 and again.json["code"] == "already_reviewed"
    assert list(again.json["errors"]) == ["reports.1"]
    unknown = office.post(BULK, json={"reports": [{"id": other}, {"id": 10**6}]})
    assert unknown.status_code == 404 and list(unknown.json["errors"]) == ["reports.1"]
    assert office.post(BULK, json={"reports": []}).status_code == 422
    for role in ("unit", "viewer", "assessor"):
        unit = unit_named(KUNDULUN, "baotou") if role != "viewer" else None
        refused = api_as(role, unit).post(BULK, json={"reports": [{"id": other}]})
        assert refused.status_code == 403, role
    assert status_of(other) == "submitted"


def test_api_bulk_accept_is_in_the_openapi_document(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/reviews/bulk"]["post"]
    assert {"200", "403", "404", "409", "422"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" in body or "properties" in body
