"""The daily-loop pages over HTTP: my tasks, reports and reviews, extensions, schedules, board,
reminder rules, outbox and calendar, as a user sees them (Chinese) and as the database keeps them.
"""

from __future__ import annotations

import html as html_lib
import io
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.calendar.models import CalendarOverride
from taskhub.calendar.services import set_override
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Item, Plan
from taskhub.reminders.models import Notification, OutboxMessage, ReminderRule
from taskhub.tracking import services
from taskhub.tracking.jobs import scan_overdue
from taskhub.tracking.models import (
    Assignment,
    Evidence,
    ExtensionRequest,
    ItemMilestone,
    Milestone,
    ProgressReport,
)
from taskhub.tracking.schedule import apply_parsed_schedules
from tests.conftest import Browser, make_user, unit_named

KUNDULUN = "昆都仑区人民政府"  # Baotou: the unit staff's own unit
QINGSHAN = "青山区人民政府"  # Baotou: another unit

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"


# --- helpers ---------------------------------------------------------------------------


def visible(page: str) -> str:
    """The text a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def table_rows(page: str) -> list[tuple[int, str]]:
    """(assignment id, row HTML) of each listed assignment, in page order."""
    found = []
    for row in re.findall(r"<tr(?:\s[^>]*)?>(.*?)</tr>", page, flags=re.S):
        link = re.search(r'href="/assignments/(\d+)"', row)
        if link:
            found.append((int(link.group(1)), row))
    return found


def form_version(page: str) -> str:
    """The hidden optimistic-locking version of the report form."""
    match = re.search(r'name="version" value="(\d+)"', page)
    assert match, "the report form is not on the page"
    return match.group(1)


@pytest.fixture
def browser(app: Flask, session: Any) -> Callable[..., Browser]:
    """browser("office") or browser("unit", KUNDULUN): a new user of that role, signed in."""

    def _open(role: str, unit: str | None = None, username: str | None = None) -> Browser:
        owner = unit_named(unit, "baotou") if unit else None
        return Browser(app, make_user(role, owner, username or f"{role}-{unit or 'staff'}"))

    return _open


@pytest.fixture
def evidence_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "evidence"
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(path))
    return path


def blobs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def fresh(model: Any, object_id: int) -> Any:
    """The row as the database has it now (requests commit and close the shared session)."""
    db.session.expire_all()
    return db.session.get(model, object_id)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def audit_count() -> int:
    return count(AuditEvent)


def item_of(plan: str, code: str) -> Item:
    return db.session.scalars(
        select(Item).join(Plan).where(Plan.code == plan, Item.code == code)
    ).one()


def assignment_id(code: str, unit: str = KUNDULUN, plan: str = "baotou-2022") -> int:
    item = item_of(plan, code)
    owner = unit_named(unit, plan.split("-")[0])
    return db.session.scalars(
        select(Assignment.id).where(Assignment.item_id == item.id, Assignment.unit_id == owner.id)
    ).one()


def milestones_of(aid: int) -> list[Milestone]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Milestone).where(Milestone.assignment_id == aid).order_by(Milestone.due_on)
        )
    )


def report_form(version: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "progress": "完成热线平台升级招标。",
        "problems": "话务数据迁移尚需协调。",
        "next_steps": "7月完成系统联调。",
        "percent": "60",
        "version": version,
    }
    form.update(changes)
    return form


# --- 1. the core journey ---------------------------------------------------------------


def test_a_report_goes_from_the_unit_through_review_to_done(
    browser: Callable[..., Browser], evidence_dir: Path
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    aid = assignment_id("3")  # 6月底完成: one milestone, 2022-06-30
    (milestone,) = milestones_of(aid)
    url = f"/assignments/{aid}"

    # My tasks lists the Baotou assignment, not yet acknowledged.
    my = unit.page("/my")
    assert f'href="{url}"' in my
    assert "我的任务 · 昆都仑区人民政府" in visible(my)
    row = visible(dict(table_rows(my))[aid])
    assert "全面提升“12345”政务热线服务水平" in row and "包头市数字政府建设考评指标" in row
    assert "未签收" in row
    assert "状态 未签收" in visible(unit.page(url))

    # 签收.
    text = visible(unit.submit(f"{url}/acknowledge"))
    assert "已签收。" in text and "状态 已签收" in text
    assignment = fresh(Assignment, aid)
    assert assignment.status == "acknowledged" and assignment.acknowledged_at is not None

    # Report with a real PDF: the task now awaits review and the form is gone.
    name = "热线平台升级方案.pdf"
    page = unit.submit(
        f"{url}/reports",
        data=report_form(
            form_version(unit.page(url)),
            milestone_id=str(milestone.id),
            evidence=(io.BytesIO(PDF), name),
        ),
    )
    text = visible(page)
    assert "报送已提交，等待审核。" in text
    assert "状态 待审核" in text and "进度 60%" in text
    assert (
        "工作进展： 完成热线平台升级招标。" in text and "存在问题： 话务数据迁移尚需协调。" in text
    )
    assert name in text
    assert 'name="version"' not in page  # no second report while one awaits review
    first = db.session.scalars(
        select(ProgressReport).where(ProgressReport.assignment_id == aid)
    ).one()
    (evidence,) = first.evidence
    assert (first.status, first.percent, first.milestone_id) == ("submitted", 60, milestone.id)
    assert (evidence.original_name, evidence.content_type) == (name, "application/pdf")
    assert [p.name for p in blobs(evidence_dir)] == [evidence.sha256]

    # The office finds it in the review queue and returns it with a reason.
    queue = visible(office.page("/review"))
    assert KUNDULUN in queue and "完成热线平台升级招标。" in queue and name in queue
    reason = "佐证材料缺少验收报告，请补充。"
    text = visible(
        office.submit(
            f"/reports/{first.id}/review",
            data={"decision": "return", "reason": reason, "next": "queue"},
        )
    )
    assert "审核结果已保存。" in text and "暂无待审核报送。" in text
    assert fresh(ProgressReport, first.id).status == "returned"

    # The unit sees it returned, with the reason, and can report again.
    page = unit.page(url)
    text = visible(page)
    assert "状态 已退回" in text
    assert f"退回（{reason}）" in text
    assert aid in dict(table_rows(unit.page("/my?view=returned")))
    page = unit.submit(
        f"{url}/reports",
        data=report_form(
            form_version(page),
            progress="热线平台已上线，验收报告已补充。",
            percent="100",
            milestone_id=str(milestone.id),
        ),
    )
    assert "状态 待审核" in visible(page)
    second = db.session.scalars(
        select(ProgressReport)
        .where(ProgressReport.assignment_id == aid)
        .order_by(ProgressReport.id.desc())
    ).first()
    assert second is not None and second.id != first.id

    # The office accepts from the assignment page: done, and the milestone is closed.
    text = visible(office.submit(f"/reports/{second.id}/review", data={"decision": "accept"}))
    assert "审核结果已保存。" in text and "状态 已完成" in text and "进度 100%" in text
    assert fresh(Assignment, aid).status == "completed"
    (closed,) = milestones_of(aid)
    assert (closed.status, closed.completed_on) == ("done", office_today())
    assert closed.is_late  # accepted after 2022-06-30, and the record says so
    text = visible(unit.page(url))
    assert "6月底完成 2022年6月30日 已完成" in text and "审核通过" in text

    # The evidence downloads under its original name, as a PDF, byte for byte.
    response = unit.get(f"/evidence/{evidence.id}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline")  # a PDF previews in the browser
    assert f"filename*=UTF-8''{quote(name)}" in disposition
    assert unquote(disposition.split("UTF-8''")[1]) == name
    assert response.get_data() == PDF
    response.close()

    # The history lists every action, newest first, in words, with who did it.
    history = unit.page(url).split("操作记录")[1]
    entries = [
        tuple(
            visible(cell)
            for cell in re.findall(r'<td(?: data-label="[^"]*")?>(.*?)</td>', row, flags=re.S)[1:]
        )
        for row in re.findall(r"<tr>(.*?)</tr>", history, flags=re.S)
    ]
    by_unit, by_office = (fresh(User, b.user_id).display_name for b in (unit, office))
    assert [e for e in entries if e] == [
        ("审核通过", by_office),
        ("报送进展", by_unit),
        (f"退回报送（{reason}）", by_office),
        ("报送进展", by_unit),
        ("签收", by_unit),
    ]


# --- 2. bad input ----------------------------------------------------------------------

STALE = "the version the form was loaded with"
BAD_REPORTS = [
    # (case, form changes, file sent with a good one, config changes, message shown).
    # The changes {"version": STALE} mean: the office changes the task while the form is open.
    ("percent over 100", {"percent": "150"}, None, {}, "完成进度须为 0 到 100 的整数。"),
    ("percent not a number", {"percent": "六十"}, None, {}, "完成进度须为 0 到 100 的整数。"),
    ("empty progress", {"progress": "  \n "}, None, {}, "请填写工作进展。"),
    (
        "an executable renamed .pdf",
        {},
        ("验收报告.pdf", EXE),
        {},
        "「验收报告.pdf」的实际内容是 EXE 文件，不允许上传。",
    ),
    (
        "a file over the per-file limit",
        {},
        ("扫描件.pdf", PDF + b"\0" * 2048),
        {"MAX_UPLOAD_BYTES": 1024},
        "「扫描件.pdf」大小为 2.1 KB，超过单个文件上限 1 KB。",
    ),
    ("a stale version", {"version": STALE}, None, {}, "该任务已被他人修改，请刷新页面后重试。"),
]


@pytest.mark.parametrize(
    ("changes", "upload", "config", "message"),
    [case[1:] for case in BAD_REPORTS],
    ids=[case[0] for case in BAD_REPORTS],
)
def test_a_bad_report_shows_why_in_chinese_and_writes_nothing(
    app: Flask,
    browser: Callable[..., Browser],
    evidence_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, str],
    upload: tuple[str, bytes] | None,
    config: dict[str, int],
    message: str,
) -> None:
    for key, value in config.items():
        monkeypatch.setitem(app.config, key, value)
    unit = browser("unit", KUNDULUN)
    aid = assignment_id("3")
    url = f"/assignments/{aid}"
    version = form_version(unit.page(url))
    if changes.get("version") == STALE:
        browser("office").submit(f"{url}/acknowledge")  # the task changes under the open form
        changes = {}  # the form still carries the version it was loaded with
    before = fresh(Assignment, aid)
    state = (before.status, before.version, before.percent, before.acknowledged_at)
    audits = audit_count()
    form = report_form(version, **changes)
    if upload:
        form["evidence"] = [(io.BytesIO(PDF), "会议纪要.pdf"), (io.BytesIO(upload[1]), upload[0])]

    text = visible(unit.submit(f"{url}/reports", data=form))

    assert f"报送未提交：{message}" in text
    assert "报送已提交" not in text
    after = fresh(Assignment, aid)
    assert (after.status, after.version, after.percent, after.acknowledged_at) == state
    assert count(ProgressReport, ProgressReport.assignment_id == aid) == 0
    assert count(Evidence) == 0
    assert audit_count() == audits
    assert blobs(evidence_dir) == []  # the good file sent alongside was not kept either


def test_an_upload_over_the_request_limit_gets_the_413_page_in_chinese(
    app: Flask,
    browser: Callable[..., Browser],
    evidence_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    unit = browser("unit", KUNDULUN)
    aid = assignment_id("3")
    url = f"/assignments/{aid}"
    form = report_form(form_version(unit.page(url)))
    form["evidence"] = (io.BytesIO(PDF + b"\0" * 8192), "全部材料.pdf")
    audits = audit_count()

    response = unit.post(f"{url}/reports", data=form)

    assert response.status_code == 413
    assert "上传的文件过大，请减少文件数量或压缩文件后重试。" in visible(
        response.get_data(as_text=True)
    )
    assert count(ProgressReport, ProgressReport.assignment_id == aid) == 0
    assert audit_count() == audits
    assert blobs(evidence_dir) == []


def test_with_csrf_on_the_report_form_carries_its_token(
    app: Flask,
    browser: Callable[..., Browser],
    evidence_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unit = browser("unit", KUNDULUN)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    aid = assignment_id("3")
    url = f"/assignments/{aid}"
    page = unit.page(url)
    form = report_form(form_version(page), evidence=(io.BytesIO(PDF), "方案.pdf"))

    refused = unit.post(f"{url}/reports", data=dict(form))
    assert refused.status_code == 400
    assert "请求无效。如果您提交了表单，请刷新页面后重试。" in visible(
        refused.get_data(as_text=True)
    )
    assert count(ProgressReport, ProgressReport.assignment_id == aid) == 0

    report_form_html = page.split('enctype="multipart/form-data"')[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', report_form_html)
    assert token
    form["evidence"] = (io.BytesIO(PDF), "方案.pdf")
    text = visible(unit.submit(f"{url}/reports", data={**form, "csrf_token": token.group(1)}))
    assert "报送已提交，等待审核。" in text


# --- 3. extensions ---------------------------------------------------------------------


def test_an_extension_is_requested_approved_and_shown(browser: Callable[..., Browser]) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    aid = assignment_id("3")
    (milestone,) = milestones_of(aid)
    url = f"/assignments/{aid}"
    ask = f"/milestones/{milestone.id}/extension"

    # Not earlier than the due date, and not without a reason.
    text = visible(unit.submit(ask, data={"requested_due_on": "2022-06-15", "reason": "招标延后"}))
    assert "未保存：新日期须晚于当前到期日。" in text
    text = visible(unit.submit(ask, data={"requested_due_on": "2022-07-31", "reason": " "}))
    assert "未保存：请填写理由。" in text
    text = visible(unit.submit(ask, data={"requested_due_on": "7月底", "reason": "招标延后"}))
    assert "未保存：请按 年-月-日 填写新日期。" in text
    assert count(ExtensionRequest) == 0

    text = visible(
        unit.submit(ask, data={"requested_due_on": "2022-07-31", "reason": "热线平台招标延后"})
    )
    assert "延期申请已提交，等待督办室审批。" in text
    assert "申请延至 2022年7月31日，热线平台招标延后 — 待处理" in text

    queue = visible(office.page("/extensions"))
    assert KUNDULUN in queue and "热线平台招标延后" in queue
    assert "2022年6月30日 2022年7月31日" in queue  # due, requested
    ext = db.session.scalars(select(ExtensionRequest)).one()
    text = visible(office.submit(f"/extensions/{ext.id}/decide", data={"decision": "approve"}))
    assert "审批结果已保存。" in text and "暂无待审批申请。" in text

    text = visible(unit.page(url))
    assert "2022年6月30日 已延期至 2022年7月31日" in text
    assert "已批准" in text
    (moved,) = milestones_of(aid)
    assert (moved.due_on, moved.extended_to) == (date(2022, 6, 30), date(2022, 7, 31))

    # A second request, rejected: a reason is required, and the unit sees it.
    unit.submit(ask, data={"requested_due_on": "2022-08-31", "reason": "需等待上级系统对接"})
    second = db.session.scalars(
        select(ExtensionRequest).where(ExtensionRequest.status == "pending")
    ).one()
    decide = f"/extensions/{second.id}/decide"
    text = visible(office.submit(decide, data={"decision": "reject", "reason": ""}))
    assert "未保存：请填写理由。" in text
    assert fresh(ExtensionRequest, second.id).status == "pending"
    office.submit(decide, data={"decision": "reject", "reason": "不符合延期条件"})
    assert fresh(ExtensionRequest, second.id).status == "rejected"
    text = visible(unit.page(url))
    assert "申请延至 2022年8月31日，需等待上级系统对接 — 已驳回（不符合延期条件）" in text
    assert milestones_of(aid)[0].extended_to == date(2022, 7, 31)


def status_of(page: str) -> str:
    """The assignment page's status line as shown."""
    match = re.search(r"<dt>状态</dt><dd>(.*?)</dd>", page, flags=re.S)
    assert match
    return visible(match.group(1))


def overdue_on_board(office: Browser, aid: int) -> bool:
    unit = unit_named(KUNDULUN, "baotou").id
    page = office.page(f"/board?plan=baotou-2022&unit={unit}&view=overdue")
    return aid in dict(table_rows(page))


def test_an_approved_extension_lifts_the_overdue_mark_at_once(
    browser: Callable[..., Browser],
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    aid = assignment_id("3")  # its only milestone was due 2022-06-30
    scan_overdue(date(2022, 7, 15))
    db.session.commit()
    assert status_of(unit.page(f"/assignments/{aid}")) == "未签收 · 已超期"
    assert overdue_on_board(office, aid)
    (milestone,) = milestones_of(aid)
    # Pages read overdue from the dates as of the real today: the new date lies beyond it.
    later = office_today() + timedelta(days=30)
    unit.submit(
        f"/milestones/{milestone.id}/extension",
        data={"requested_due_on": later.isoformat(), "reason": "热线平台招标延后"},
    )
    ext = db.session.scalars(select(ExtensionRequest)).one()

    office.submit(f"/extensions/{ext.id}/decide", data={"decision": "approve"})

    assert milestones_of(aid)[0].is_overdue is False
    # "Set by the overdue scan; cleared when the overdue milestones are done or extended."
    assert status_of(unit.page(f"/assignments/{aid}")) == "未签收"
    assert not overdue_on_board(office, aid)
    assert fresh(Assignment, aid).is_overdue is False


# --- 4. schedules ----------------------------------------------------------------------


def copies_of(item: Item) -> dict[int, list[Milestone]]:
    """Each assignment of the item with its milestones."""
    db.session.expire_all()
    aids = db.session.scalars(select(Assignment.id).where(Assignment.item_id == item.id)).all()
    return {aid: milestones_of(aid) for aid in aids}


def test_the_office_sets_moves_and_removes_milestones(browser: Callable[..., Browser]) -> None:
    office = browser("office")
    item = item_of("hegang-2022", "3")  # no deadline phrase, no milestones
    assert len(copies_of(item)) > 1 and all(ms == [] for ms in copies_of(item).values())
    assert "尚未设置节点。" in visible(office.page(f"/items/{item.id}"))

    form = {"kind": "complete", "due_on": "2022-12-31", "title": "平台建成上线"}
    text = visible(office.submit(f"/items/{item.id}/milestones", data=form))
    assert "节点已添加。" in text and "平台建成上线 完成 2022年12月31日 督办室设置" in text
    copies = copies_of(item)
    assert [len(ms) for ms in copies.values()] == [1] * len(copies)
    assert count(Milestone, Milestone.assignment_id.in_(list(copies))) == len(copies)
    assert {ms[0].due_on for ms in copies.values()} == {date(2022, 12, 31)}

    # A bad date is refused in Chinese.
    text = visible(office.submit(f"/items/{item.id}/milestones", data={"due_on": "年底"}))
    assert "未保存：请按 年-月-日 填写日期，或填写工作日数。" in text
    text = visible(office.submit(f"/items/{item.id}/milestones", data={"working_days": "0"}))
    assert "未保存：工作日数须为 1 到 366 的整数。" in text
    assert count(ItemMilestone, ItemMilestone.item_id == item.id) == 1

    # Move: every open copy moves; the clash with an existing step is refused.
    step = db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id)).one()
    text = visible(office.submit(f"/item-milestones/{step.id}/move", data={"due_on": "2022-11-30"}))
    assert "节点日期已调整。" in text and "平台建成上线 完成 2022年11月30日" in text
    assert {ms[0].due_on for ms in copies_of(item).values()} == {date(2022, 11, 30)}
    office.submit(f"/items/{item.id}/milestones", data={**form, "title": "二次验收"})
    text = visible(office.submit(f"/item-milestones/{step.id}/move", data={"due_on": "2022-12-31"}))
    assert "未保存：该事项在此日期已有同类节点。" in text
    assert fresh(ItemMilestone, step.id).due_on == date(2022, 11, 30)

    # Remove: the step and its copies go.
    text = visible(office.submit(f"/item-milestones/{step.id}/delete"))
    assert "节点已删除。" in text and "平台建成上线" not in text
    assert fresh(ItemMilestone, step.id) is None
    assert all([m.title for m in ms] == ["二次验收"] for ms in copies_of(item).values())


def test_moving_an_overdue_step_later_lifts_the_overdue_mark(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    item = item_of("baotou-2022", "4")  # 6月底完成: one step, 2022-06-30
    aid = assignment_id("4")
    scan_overdue(date(2022, 7, 15))
    db.session.commit()
    assert status_of(office.page(f"/assignments/{aid}")) == "未签收 · 已超期"
    step = db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id)).one()

    # Moved past today (the office's real day), the step is no longer overdue.
    later = office_today() + timedelta(days=30)
    office.submit(f"/item-milestones/{step.id}/move", data={"due_on": later.isoformat()})

    assert [m.is_overdue for m in milestones_of(aid)] == [False]
    assert status_of(office.page(f"/assignments/{aid}")) == "未签收"
    assert not overdue_on_board(office, aid)


def test_a_default_milestone_title_does_not_depend_on_the_ui_language(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    office.get("/lang/en")
    item = item_of("hegang-2022", "4")

    office.submit(
        "/plans/hegang-2022/milestones",
        data={"item_ids": [str(item.id)], "kind": "stage", "due_on": "2022-09-30"},
    )

    step = db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id)).one()
    assert step.title.endswith("取得阶段性成效"), step.title


def test_bulk_milestones_reach_every_selected_item(browser: Callable[..., Browser]) -> None:
    office = browser("office")
    items = [item_of("hegang-2022", code) for code in ("4", "5", "6")]
    untouched = item_of("hegang-2022", "7")
    plan_page = office.page("/plans/hegang-2022")
    for item in items:
        assert f'name="item_ids" value="{item.id}"' in plan_page

    text = visible(
        office.submit(
            "/plans/hegang-2022/milestones",
            data={
                "item_ids": [str(i.id) for i in items],
                "kind": "stage",
                "due_on": "2022-09-30",
                "title": "",
            },
        )
    )

    assert "已为 3 个事项设置节点。" in text
    for item in items:
        steps = db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id))
        assert [(s.kind, s.due_on, s.title) for s in steps] == [
            ("stage", date(2022, 9, 30), "9月30日取得阶段性成效")
        ]
        copies = copies_of(item)
        assert copies and all(len(ms) == 1 for ms in copies.values())
    assert count(ItemMilestone, ItemMilestone.item_id == untouched.id) == 0

    # Nothing selected: a Chinese error, nothing written.
    before = count(ItemMilestone)
    text = visible(
        office.submit(
            "/plans/hegang-2022/milestones", data={"kind": "stage", "due_on": "2022-10-31"}
        )
    )
    assert "未保存：请至少选择一个事项。" in text
    assert count(ItemMilestone) == before


def test_the_plan_page_lists_unreadable_deadline_phrases(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    assert "无法识别的完成时限" not in visible(office.page("/plans/baotou-2022"))
    item = item_of("baotou-2022", "5")
    item.deadline_phrase = "视上级部署另行通知"
    apply_parsed_schedules(item.plan)
    db.session.commit()

    text = visible(office.page("/plans/baotou-2022"))
    assert "无法识别的完成时限" in text
    assert "5 ：视上级部署另行通知" in text
    item_page = visible(office.page(f"/items/{item.id}"))
    assert "完成时限“视上级部署另行通知”无法自动识别为日期，请在下方设置节点。" in item_page
    assert "尚未设置节点。" in item_page  # the old phrase's step went, nothing was guessed


# --- 5. access matrix ------------------------------------------------------------------

ROLES = ["anonymous", "admin", "office", "assessor", "unit", "viewer"]
#: Expected status per role, in the order of ROLES. 302 for anonymous means "to the login
#: page"; 302 for a signed-in user means "done (or sent on), redirected".
MATRIX = {
    "my tasks": [302, 302, 302, 200, 200, 302],
    "board": [302, 200, 200, 200, 403, 200],
    "board export": [302, 200, 200, 200, 403, 200],
    "review queue": [302, 200, 200, 200, 403, 403],
    "extension queue": [302, 200, 200, 403, 403, 403],
    "reminder rules": [302, 200, 200, 403, 403, 200],
    "outbox": [302, 200, 200, 403, 403, 403],
    "calendar": [302, 200, 200, 200, 403, 200],
    "notifications": [302, 200, 200, 200, 200, 200],
    "acknowledge other unit's": [302, 302, 302, 403, 403, 403],
    "report on other unit's": [302, 302, 302, 403, 403, 403],
    "extension for other unit's": [302, 302, 302, 403, 403, 403],
    "review own unit's report": [302, 302, 302, 403, 403, 403],
    "decide extension": [302, 302, 302, 403, 403, 403],
    "add item milestone": [302, 302, 302, 403, 403, 403],
    "bulk milestones": [302, 302, 302, 403, 403, 403],
    "move item milestone": [302, 302, 302, 403, 403, 403],
    "remove item milestone": [302, 302, 302, 403, 403, 403],
    "add reminder rule": [302, 302, 302, 403, 403, 403],
    "retry outbox message": [302, 302, 302, 403, 403, 403],
    "calendar override": [302, 302, 403, 403, 403, 403],
    "remove calendar override": [302, 302, 403, 403, 403, 403],
    "own unit's evidence": [302, 200, 200, 200, 200, 200],
    "other unit's evidence": [302, 200, 200, 200, 403, 200],
}

RULE_FORM = {
    "name": "2个工作日前提醒",
    "offset_working_days": "-2",
    "recipients": ["unit_contacts"],
    "channels": ["in_app"],
    "quiet_from": "22:00",
    "quiet_until": "08:00",
    "is_enabled": "on",
}


def _report_with_evidence(unit: str) -> ProgressReport:
    aid = assignment_id("3", unit)
    assignment = db.session.get_one(Assignment, aid)
    report = services.submit_report(
        assignment,
        actor=make_user("unit", unit_named(unit, "baotou"), f"setup-{unit}"),
        progress="已完成。",
        percent=50,
        files=[services.UploadedFile("方案.pdf", PDF)],
        storage=storage_for(current_app.config),
        max_bytes=1024 * 1024,
    )
    db.session.commit()
    return report


def _extension() -> ExtensionRequest:
    (milestone,) = milestones_of(assignment_id("3"))
    ext = services.request_extension(
        milestone,
        actor=make_user("unit", unit_named(KUNDULUN, "baotou"), "setup-ext"),
        reason="招标延后",
        requested_due_on=date(2022, 7, 31),
    )
    db.session.commit()
    return ext


def _failed_message() -> OutboxMessage:
    message = OutboxMessage(
        channel="email",
        recipient="li@example.org",
        subject="【督办提醒】",
        body="请按时报送。",
        dedupe_key="test:access:1",
        status="failed",
        attempts=5,
        last_error="550 mailbox unavailable",
    )
    db.session.add(message)
    db.session.commit()
    return message


def _override() -> str:
    admin = make_user("admin", None, "setup-admin")
    set_override(date(2026, 12, 5), True, "测试调休", actor_id=admin.id)
    db.session.commit()
    return "2026-12-05"


def case_request(case: str) -> tuple[str, str, dict[str, Any] | None]:
    """(method, url, form) of a named case; its objects are made only when it needs them."""
    other = assignment_id("3", QINGSHAN)
    hegang = item_of("hegang-2022", "3")

    def step() -> int | None:
        return db.session.scalars(
            select(ItemMilestone.id).join(Item).join(Plan).where(Plan.code == "baotou-2022")
        ).first()

    builders: dict[str, Callable[[], tuple[str, str, dict[str, Any] | None]]] = {
        "my tasks": lambda: ("GET", "/my", None),
        "board": lambda: ("GET", "/board", None),
        "board export": lambda: ("GET", "/board.xlsx?status=completed", None),
        "review queue": lambda: ("GET", "/review", None),
        "extension queue": lambda: ("GET", "/extensions", None),
        "reminder rules": lambda: ("GET", "/reminders/rules", None),
        "outbox": lambda: ("GET", "/outbox", None),
        "calendar": lambda: ("GET", "/calendar", None),
        "notifications": lambda: ("GET", "/notifications", None),
        "acknowledge other unit's": lambda: ("POST", f"/assignments/{other}/acknowledge", {}),
        "report on other unit's": lambda: (
            "POST",
            f"/assignments/{other}/reports",
            {"progress": "已完成。", "percent": "50"},
        ),
        "extension for other unit's": lambda: (
            "POST",
            f"/milestones/{milestones_of(other)[0].id}/extension",
            {"requested_due_on": "2022-07-31", "reason": "招标延后"},
        ),
        "review own unit's report": lambda: (
            "POST",
            f"/reports/{_report_with_evidence(KUNDULUN).id}/review",
            {"decision": "accept"},
        ),
        "decide extension": lambda: (
            "POST",
            f"/extensions/{_extension().id}/decide",
            {"decision": "approve"},
        ),
        "add item milestone": lambda: (
            "POST",
            f"/items/{hegang.id}/milestones",
            {"kind": "complete", "due_on": "2022-12-31", "title": "建成"},
        ),
        "bulk milestones": lambda: (
            "POST",
            "/plans/hegang-2022/milestones",
            {"item_ids": [str(hegang.id)], "kind": "complete", "due_on": "2022-12-31"},
        ),
        "move item milestone": lambda: (
            "POST",
            f"/item-milestones/{step()}/move",
            {"due_on": "2022-12-30"},
        ),
        "remove item milestone": lambda: ("POST", f"/item-milestones/{step()}/delete", {}),
        "add reminder rule": lambda: ("POST", "/reminders/rules", RULE_FORM),
        "retry outbox message": lambda: ("POST", f"/outbox/{_failed_message().id}/retry", {}),
        "calendar override": lambda: (
            "POST",
            "/calendar/overrides",
            {"day": "2026-12-12", "is_working_day": "1", "note": "测试调休"},
        ),
        "remove calendar override": lambda: (
            "POST",
            f"/calendar/overrides/{_override()}/delete",
            {},
        ),
        "own unit's evidence": lambda: (
            "GET",
            f"/evidence/{_report_with_evidence(KUNDULUN).evidence[0].id}",
            None,
        ),
        "other unit's evidence": lambda: (
            "GET",
            f"/evidence/{_report_with_evidence(QINGSHAN).evidence[0].id}",
            None,
        ),
    }
    return builders[case]()


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(
    client: FlaskClient, login_as: Any, evidence_dir: Path, case: str, role: str
) -> None:
    method, url, form = case_request(case)
    if role != "anonymous":
        login_as(role, unit_named(KUNDULUN, "baotou") if role in ("unit", "assessor") else None)
    audits = audit_count()

    response = client.open(url, method=method, data=form)
    response.close()  # a served file stays open until the server closes the response

    expected = MATRIX[case][ROLES.index(role)]
    assert response.status_code == expected, f"{role} {method} {url}"
    if role == "anonymous":
        assert response.headers["Location"].startswith("/login")
    elif expected == 302:
        assert not response.headers["Location"].startswith("/login")
    if expected == 403:
        assert "您没有权限访问此页面。" in visible(response.get_data(as_text=True))
    if expected == 403 or role == "anonymous":
        db.session.expire_all()
        assert audit_count() == audits  # a refused request leaves no trace


# --- 6. reminder rules and the outbox ----------------------------------------------------


def rule_named(name: str) -> ReminderRule:
    db.session.expire_all()
    return db.session.scalars(select(ReminderRule).where(ReminderRule.name == name)).one()


def test_the_office_edits_a_reminder_rule(browser: Callable[..., Browser]) -> None:
    office = browser("office")
    rule = rule_named("3个工作日前提醒")
    assert rule.offset_working_days == -3
    form = {
        "name": "3个工作日前提醒",
        "offset_working_days": "-5",
        "repeat_every_working_days": "",
        "recipients": ["unit_contacts"],
        "channels": ["email", "webhook", "in_app"],
        "quiet_from": "22:00",
        "quiet_until": "08:00",
        "is_enabled": "on",
    }

    page = office.submit(f"/reminders/rules/{rule.id}", data=form)

    assert "规则已保存。" in visible(page)
    assert f'id="r{rule.id}-offset" name="offset_working_days" type="number" value="-5"' in page
    saved = rule_named("3个工作日前提醒")
    assert (saved.offset_working_days, saved.channels) == (-5, ["email", "webhook", "in_app"])
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "reminder_rule.saved", AuditEvent.object_id == str(rule.id))
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.actor_id == office.user_id
    assert event.before is not None and event.after is not None
    assert event.before["offset_working_days"] == -3
    assert event.after["offset_working_days"] == -5

    # No channel: refused in Chinese, the rule stays as it was.
    audits = audit_count()
    text = visible(
        office.submit(
            f"/reminders/rules/{rule.id}",
            data={**form, "offset_working_days": "-1", "channels": []},
        )
    )
    assert "未保存：请至少选择一类接收人和一种渠道。" in text
    kept = rule_named("3个工作日前提醒")
    assert (kept.offset_working_days, kept.channels) == (-5, ["email", "webhook", "in_app"])
    assert audit_count() == audits
    # Another rule's name: refused too.
    text = visible(
        office.submit(f"/reminders/rules/{rule.id}", data={**form, "name": "到期当日提醒"})
    )
    assert "未保存：已有同名规则。" in text
    assert rule_named("3个工作日前提醒").id == rule.id
    assert audit_count() == audits


def test_the_outbox_shows_a_failed_message_and_sends_it_again(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    failed = _failed_message().id
    sent = OutboxMessage(
        channel="email",
        recipient="wang@example.org",
        subject="【督办提醒】已发送",
        body="…",
        dedupe_key="test:sent:1",
        status="sent",
        attempts=1,
    )
    db.session.add(sent)
    db.session.commit()
    sent_id = sent.id

    page = office.page("/outbox?status=failed")
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S) if "li@example.org" in r)
    text = visible(row)
    assert "电子邮箱" in text and "550 mailbox unavailable" in text and "立即重发" in text
    assert "发送失败 (1)" in visible(page)

    text = visible(office.submit(f"/outbox/{failed}/retry"))

    assert "该消息将在下次发送时重发。" in text and "li@example.org" in text
    again = fresh(OutboxMessage, failed)
    assert (again.status, again.attempts) == ("pending", 0)
    assert count(AuditEvent, AuditEvent.action == "outbox.retried") == 1
    # A message already sent is not sent twice.
    text = visible(office.submit(f"/outbox/{sent_id}/retry"))
    assert "未保存：该消息已发送。" in text
    assert fresh(OutboxMessage, sent_id).status == "sent"


def test_notifications_are_listed_newest_first_and_marked_read(
    browser: Callable[..., Browser],
) -> None:
    unit = browser("unit", KUNDULUN)
    other = make_user("unit", unit_named(QINGSHAN, "baotou"), "unit-qingshan").id
    for user_id, title in (
        (unit.user_id, "任务即将到期"),
        (unit.user_id, "任务已超期"),
        (other, "别人的提醒"),
    ):
        db.session.add(Notification(user_id=user_id, title=title, body="请及时报送进展。"))
    db.session.commit()

    text = visible(unit.page("/notifications"))

    assert text.index("任务已超期") < text.index("任务即将到期")
    assert "别人的提醒" not in text
    assert text.count(" · 新") == 2
    text = visible(unit.submit("/notifications/read"))
    assert " · 新" not in text and "任务已超期" in text
    assert (
        count(Notification, Notification.user_id == unit.user_id, Notification.read_at.is_(None))
        == 0
    )
    assert count(Notification, Notification.user_id == other, Notification.read_at.is_(None)) == 1


# --- 7. the working-day calendar --------------------------------------------------------


def test_the_admin_keeps_calendar_overrides(browser: Callable[..., Browser]) -> None:
    admin = browser("admin")
    assert "暂无调整。" in visible(admin.page("/calendar?year=2026"))

    text = visible(
        admin.submit(
            "/calendar/overrides",
            data={"day": "2026-12-05", "is_working_day": "1", "note": "年终结算调休上班"},
        )
    )
    assert "工作日历已保存。" in text
    assert "2026年12月5日 工作日 年终结算调休上班" in text
    assert count(CalendarOverride, CalendarOverride.day == date(2026, 12, 5)) == 1

    text = visible(
        admin.submit(
            "/calendar/overrides", data={"day": "2026-12-12", "is_working_day": "1", "note": " "}
        )
    )
    assert "未保存：请填写说明，例如“2027年春节调休”。" in text
    assert count(CalendarOverride, CalendarOverride.day == date(2026, 12, 12)) == 0

    text = visible(admin.submit("/calendar/overrides/2026-12-05/delete"))
    assert "工作日历已保存。" in text and "暂无调整。" in text
    assert "年终结算调休上班" not in text
    assert count(CalendarOverride) == 0
    assert count(AuditEvent, AuditEvent.action.like("calendar.override_%")) == 2


@pytest.mark.parametrize(("year", "warned"), [(2031, True), (2026, False)])
def test_the_calendar_warns_about_years_the_package_lacks(
    browser: Callable[..., Browser], year: int, warned: bool
) -> None:
    text = visible(browser("office").page(f"/calendar?year={year}"))
    warning = (
        f"日历软件包尚未收录 {year} 年：在下方录入法定节假日和调休上班日之前，只按周末计算休息日。"
    )
    assert (warning in text) is warned


# --- 8. the board and my tasks ----------------------------------------------------------


def test_the_board_filters_overdue_and_pages(browser: Callable[..., Browser]) -> None:
    office = browser("office")
    overdue_url = "/board?plan=baotou-2022&view=overdue"
    # Overdue is read from the dates (2022 is long past), with no scan run: right at once.
    today = office_today()
    baotou = select(Item.id).join(Plan).where(Plan.code == "baotou-2022")
    flagged = count(Assignment, Assignment.item_id.in_(baotou), Assignment.overdue_on(today))
    assert flagged > 50  # more than one page
    assert not count(Assignment, Assignment.is_overdue)  # the nightly scan has not run

    first = office.page(overdue_url)
    rows = table_rows(first)
    assert len(rows) == 50
    assert f"共 {flagged} 项任务符合条件" in visible(first)  # the whole result, not the page
    days = {a: (today - fresh(Assignment, a).next_due_on).days for a, _ in rows}
    assert all(f"超期{days[a]}天" in visible(row) for a, row in rows)
    second = office.page(overdue_url + "&page=2")
    rows2 = table_rows(second)
    assert rows2 and not {a for a, _ in rows} & {a for a, _ in rows2}
    assert 'aria-current="page" class="current" aria-label="第 2 页"' in second
    assert "上一页" in visible(second)
    assert all(fresh(Assignment, a).is_overdue_on(today) for a, _ in rows + rows2)

    # One unit's list, everything: the overdue ones come first (one is extended past today).
    kundulun = unit_named(KUNDULUN, "baotou").id
    for m in milestones_of(assignment_id("3")):
        m.extended_to = today + timedelta(days=30)
    db.session.commit()
    url = f"/board?plan=baotou-2022&unit={kundulun}&view=all"
    listed = table_rows(office.page(url)) + table_rows(office.page(url + "&page=2"))
    assert len(listed) == 90
    flags = [fresh(Assignment, a).is_overdue_on(today) for a, _ in listed]
    assert flags[0] and not flags[-1]
    assert flags == sorted(flags, reverse=True)


def test_my_tasks_pages_with_red_yellow_green_labels(browser: Callable[..., Browser]) -> None:
    unit = browser("unit", KUNDULUN)
    today = office_today()
    red, yellow, green = assignment_id("3"), assignment_id("4"), assignment_id("5")
    for aid, later, percent in ((yellow, 1, 0), (green, 90, 100)):
        for m in milestones_of(aid):
            m.extended_to = today + timedelta(days=later)
        db.session.get_one(Assignment, aid).percent = percent
    db.session.commit()

    first = unit.page("/my")
    second = unit.page("/my?page=2")

    rows1, rows2 = dict(table_rows(first)), dict(table_rows(second))
    assert len(rows1) == 50 and len(rows2) == 40 and not rows1.keys() & rows2.keys()
    assert "第 2 页 · 共 90 条" in visible(second)
    assert "暂无内容。" in visible(unit.page("/my?page=3"))
    rows = {**rows1, **rows2}
    assert "红 · 已超期" in visible(rows[red])
    assert "黄 · 即将到期" in visible(rows[yellow])
    assert "绿 · 正常推进" in visible(rows[green])
    # The colour is never alone: every light carries its word.
    lights = re.findall(
        r'<span class="light light-(\w+)"[^>]*><span aria-hidden="true">●</span> (\S+) · ', second
    )
    assert len(lights) == 40
    words = {"red": "红", "yellow": "黄", "green": "绿"}
    assert {colour for colour, _ in lights} == {"red", "yellow", "green"}
    assert all(word == words[colour] for colour, word in lights)


def test_an_extension_decision_must_be_approve_or_reject(client, login_as):
    from taskhub.models import ExtensionRequest, Milestone

    login_as("office")
    milestone = db.session.scalars(select(Milestone)).first()
    staff = make_user("unit", milestone.assignment.unit, username="ext-staff")
    ext = ExtensionRequest(
        milestone_id=milestone.id,
        requested_by_id=staff.id,
        reason="等待接口",
        requested_due_on=milestone.due_on + timedelta(days=30),
    )
    db.session.add(ext)
    db.session.commit()
    client.post(f"/extensions/{ext.id}/decide", data={"decision": "maybe", "reason": "x"})
    db.session.refresh(ext)
    assert ext.status == "pending"
    assert "请选择批准或驳回" in client.get("/extensions").get_data(as_text=True)


def test_calendar_years_out_of_range_are_not_found(client, login_as):
    login_as("office")
    assert client.get("/calendar?year=99999").status_code == 404
    assert client.get("/calendar?year=2031").status_code == 200
