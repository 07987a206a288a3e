"""The item pages as people see them: an assignment's timeline, reports, evidence previews,
reviews, extensions and audit trail; how evidence is served; who may open what; the plan item
page with every unit's light.
"""

from __future__ import annotations

import html as html_lib
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.plans import views as plan_views
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import (
    Assignment,
    Evidence,
    ExtensionRequest,
    Milestone,
    ProgressReport,
)
from tests.conftest import Browser, make_user, unit_named
from tests.test_uploads import make_docx, make_pdf, make_png

KUNDULUN = "昆都仑区人民政府"  # Baotou: the unit user's own unit
QINGSHAN = "青山区人民政府"  # Baotou: another unit
RETURN_REASON = "佐证材料缺少验收报告，请补充。"


# --- helpers ---------------------------------------------------------------------------


def visible(page: str) -> str:
    """The text a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@pytest.fixture
def person(app: Flask, session: Any) -> Callable[..., Browser]:
    """person("office") or person("unit", KUNDULUN, "name"): a new user, signed in."""

    def _open(role: str, unit: str | None = None, name: str | None = None) -> Browser:
        owner = unit_named(unit, "baotou") if unit else None
        username = name or f"{role}-{unit or 'staff'}"
        return Browser(app, make_user(role, owner, username))

    return _open


@pytest.fixture
def evidence_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "evidence"
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(path))
    return path


def item_of(code: str, plan: str = "baotou-2022") -> Item:
    return db.session.scalars(
        select(Item).join(Plan).where(Plan.code == plan, Item.code == code)
    ).one()


def assignment_id(code: str, unit: str = KUNDULUN) -> int:
    item = item_of(code)
    owner = unit_named(unit, "baotou")
    return db.session.scalars(
        select(Assignment.id).where(Assignment.item_id == item.id, Assignment.unit_id == owner.id)
    ).one()


def version_of(page: str) -> str:
    match = re.search(r'name="version" value="(\d+)"', page)
    assert match, "the report form is not on the page"
    return match.group(1)


def section(page: str, start: str, end: str) -> str:
    """The HTML between two markers (both must be there)."""
    assert start in page and end in page, (start, end)
    return page.split(start, 1)[1].split(end, 1)[0]


def timeline_of(page: str) -> list[tuple[str, str]]:
    """(class, visible text) of each timeline entry, in page order."""
    box = section(page, '<ol class="timeline">', "</ol>")
    return [
        (kind, visible(body))
        for kind, body in re.findall(r'<li class="(tl-[^"]+)"[^>]*>(.*?)</li>', box, flags=re.S)
    ]


def history_of(page: str) -> list[tuple[str, str, str]]:
    """(action, by, changes) of each audit row, newest first."""
    table = section(page, '<h2 id="history">', "</table>")
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if len(cells) == 4:
            rows.append((visible(cells[1]), visible(cells[2]), visible(cells[3])))
    return rows


def report(person: Browser, aid: int, files: list[tuple[bytes, str]], **form: str) -> str:
    url = f"/assignments/{aid}"
    data: dict[str, Any] = {
        "progress": "热线平台完成招标。",
        "problems": "话务数据迁移尚需协调。",
        "next_steps": "7月完成系统联调。",
        "percent": "40",
        "version": version_of(person.page(url)),
        **form,
    }
    if files:
        data["evidence"] = [(io.BytesIO(content), name) for content, name in files]
    return person.submit(f"{url}/reports", data=data)


def evidence_id(aid: int, name: str) -> int:
    """The id of a file reported on an assignment (ids outlive the requests' sessions)."""
    return db.session.scalars(
        select(Evidence.id)
        .join(ProgressReport, ProgressReport.id == Evidence.report_id)
        .where(ProgressReport.assignment_id == aid, Evidence.original_name == name)
    ).one()


# --- the assignment page -----------------------------------------------------------------


def test_the_timeline_marks_today_overdue_and_an_extension_with_its_original_date(
    person: Callable[..., Browser],
) -> None:
    unit, office = person("unit", KUNDULUN), person("office")
    item = item_of("3")  # 6月底完成: one step, 2022-06-30, long past
    aid = assignment_id("3")
    today = office_today()
    later = today + timedelta(days=40)
    office.submit(
        f"/items/{item.id}/milestones",
        data={"kind": "stage", "due_on": later.isoformat(), "title": "系统联调完成"},
    )

    page = unit.page(f"/assignments/{aid}")
    entries = timeline_of(page)
    # In date order: the overdue step, then today, then the step ahead.
    assert [kind for kind, _ in entries] == [
        "tl-step tl-overdue",
        "tl-today",
        "tl-step tl-upcoming",
    ]
    assert entries[0][1] == "2022年6月30日 6月底完成 已超期"
    assert entries[1][1] == f"{cn(today)} 今天"
    assert entries[2][1] == f"{cn(later)} 系统联调完成 未到期"
    assert 'aria-current="date"' in page  # today is announced, not only drawn

    # An approved extension moves the step after today; its original date stays in view.
    (first,) = [m for m in unit_milestones(aid) if m.due_on == date(2022, 6, 30)]
    moved = today + timedelta(days=10)
    unit.submit(
        f"/milestones/{first.id}/extension",
        data={"requested_due_on": moved.isoformat(), "reason": "热线平台招标延后"},
    )
    ext = db.session.scalars(select(ExtensionRequest)).one()
    office.submit(f"/extensions/{ext.id}/decide", data={"decision": "approve"})

    page = unit.page(f"/assignments/{aid}")
    entries = timeline_of(page)
    assert [kind for kind, _ in entries] == [
        "tl-today",
        "tl-step tl-due_soon",
        "tl-step tl-upcoming",
    ]
    assert entries[1][1] == f"{cn(moved)} 6月底完成 即将到期 原定 2022年6月30日到期"
    requests = visible(section(page, '<ul class="extensions">', "</ul>"))
    assert (
        f"6月底完成（原定 2022年6月30日到期）申请延至 {cn(moved)}，热线平台招标延后 — 已批准"
        in requests
    )
    assert f"审批人：{office.name}，" in requests


def unit_milestones(aid: int) -> list[Milestone]:
    db.session.expire_all()
    return list(db.session.scalars(select(Milestone).where(Milestone.assignment_id == aid)))


def test_reports_evidence_reviews_and_the_audit_trail_after_acknowledge_report_return(
    person: Callable[..., Browser], evidence_dir: Path
) -> None:
    unit, office = person("unit", KUNDULUN), person("office")
    aid = assignment_id("3")
    url = f"/assignments/{aid}"

    unit.submit(f"{url}/acknowledge")
    report(
        unit,
        aid,
        [(make_png(), "现场照片.png"), (make_pdf(), "验收报告.pdf"), (make_docx(), "方案.docx")],
    )
    submitted = db.session.scalars(select(Assignment).where(Assignment.id == aid)).one()
    (pending,) = submitted.reports
    office.submit(
        f"/reports/{pending.id}/review", data={"decision": "return", "reason": RETURN_REASON}
    )

    page = unit.page(url)
    text = visible(page)
    # The report in its three parts, with percent, author and time.
    block = visible(section(page, '<div class="report returned">', "</div>\n"))
    assert f"{unit.name} · 40% · 已退回" in block
    assert "工作进展： 热线平台完成招标。" in block
    assert "存在问题： 话务数据迁移尚需协调。" in block
    assert "下步计划： 7月完成系统联调。" in block
    # The review: who, what, why.
    assert f"{office.name}：退回（{RETURN_REASON}）" in text
    # Evidence: the image and the PDF are previewed in the page; the Word file only downloads.
    png, pdf, docx = (evidence_id(aid, n) for n in ("现场照片.png", "验收报告.pdf", "方案.docx"))
    assert f'<img class="ev-preview" src="/evidence/{png}" alt="预览：现场照片.png"' in page
    assert f'<iframe class="ev-preview" src="/evidence/{pdf}" title="预览：验收报告.pdf"' in page
    assert f'src="/evidence/{docx}"' not in page  # not previewed
    assert f'href="/evidence/{docx}"' in page
    assert f'href="/evidence/{png}?download=1"' in page

    # The audit trail, newest first, with who did it and what changed, in words.
    by_unit, by_office = unit.name, office.name
    trail = history_of(page)
    assert trail[:2] == [
        (f"退回报送（{RETURN_REASON}）", by_office, "状态：待审核 → 已退回"),
        (
            "报送进展",
            by_unit,
            "状态：已签收 → 待审核 进度：0% → 40% 节点：整体任务 "
            "佐证材料：现场照片.png、验收报告.pdf、方案.docx",
        ),
    ]
    action, by, changes = trail[2]
    assert (action, by) == ("签收", by_unit)
    # How long the unit took to acknowledge since the task was assigned (seeded earlier).
    assert re.fullmatch(r"状态：未签收 → 已签收 签收用时：\d+ (分钟|小时|天)", changes), changes
    assert len(trail) == 3


def test_a_refused_report_keeps_what_was_typed_and_puts_the_error_by_its_field(
    person: Callable[..., Browser], evidence_dir: Path
) -> None:
    unit = person("unit", KUNDULUN)
    aid = assignment_id("3")

    page = report(unit, aid, [], progress="完成招标，正在联调。", percent="150")

    assert "报送未提交：完成进度须为 0 到 100 的整数。" in visible(page)
    form = section(page, 'enctype="multipart/form-data"', "</form>")
    assert ">完成招标，正在联调。</textarea>" in form  # nothing typed is lost
    assert re.search(
        r'id="r-percent"[^>]*aria-invalid="true" aria-describedby="r-percent-error"', form
    )
    assert '<div class="error" id="r-percent-error">完成进度须为 0 到 100 的整数。</div>' in form
    percent = re.search(r'<input id="r-percent"[^>]*>', form)
    assert percent and "autofocus" in percent.group(0)  # the cursor goes where the fix is
    reports = select(ProgressReport.id).where(ProgressReport.assignment_id == aid)
    assert db.session.scalars(reports).all() == []


def test_the_report_link_from_my_tasks_opens_and_focuses_the_form(
    person: Callable[..., Browser],
) -> None:
    office = person("office")
    aid = assignment_id("3")

    # The office may report for a unit, but its form starts closed...
    page = office.page(f"/assignments/{aid}")
    assert '<details class="card">' in page
    # ...and opens, focused on the first field, from a report link.
    page = office.page(f"/assignments/{aid}?report=1")
    assert '<details class="card" open>' in page
    assert re.search(r'<textarea id="r-progress" name="progress" required autofocus>', page)


# --- serving evidence ----------------------------------------------------------------------


def test_images_and_pdfs_preview_inline_and_everything_else_downloads(
    person: Callable[..., Browser], evidence_dir: Path
) -> None:
    unit = person("unit", KUNDULUN)
    aid = assignment_id("3")
    photo, word_file = make_png(), make_docx()  # zip timestamps: build each file once
    report(
        unit, aid, [(photo, "现场照片.png"), (make_pdf(), "验收报告.pdf"), (word_file, "方案.docx")]
    )
    png, pdf, docx = (evidence_id(aid, n) for n in ("现场照片.png", "验收报告.pdf", "方案.docx"))

    image = unit.get(f"/evidence/{png}")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline")
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    policy = image.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    assert image.get_data() == photo
    image.close()

    document = unit.get(f"/evidence/{pdf}")
    assert document.mimetype == "application/pdf"
    assert document.headers["Content-Disposition"].startswith("inline")
    assert document.headers["X-Content-Type-Options"] == "nosniff"
    policy = document.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
    document.close()

    word = unit.get(f"/evidence/{docx}")
    assert word.status_code == 200
    assert word.headers["Content-Disposition"].startswith("attachment")
    assert word.headers["X-Content-Type-Options"] == "nosniff"
    assert word.get_data() == word_file
    word.close()

    # Any file can be fetched as a download, previewable or not.
    saved = unit.get(f"/evidence/{png}?download=1")
    assert saved.headers["Content-Disposition"].startswith("attachment")
    saved.close()


def test_a_unit_cannot_open_another_units_assignment_or_its_evidence(
    person: Callable[..., Browser], evidence_dir: Path
) -> None:
    other = person("unit", QINGSHAN, "unit-qingshan")
    theirs = assignment_id("3", QINGSHAN)
    report(other, theirs, [(make_png(), "青山照片.png")])
    photo = evidence_id(theirs, "青山照片.png")
    unit = person("unit", KUNDULUN)

    for url in (
        f"/assignments/{theirs}",
        f"/assignments/{theirs}/history",
        f"/evidence/{photo}",
        f"/evidence/{photo}?download=1",
    ):
        response = unit.get(url)
        assert response.status_code == 403, url
        assert "您没有权限访问此页面。" in visible(response.get_data(as_text=True))
        assert QINGSHAN not in response.get_data(as_text=True)
    # The item page lists only the unit's own assignment.
    page = unit.page(f"/items/{item_of('3').id}")
    assert f'href="/assignments/{theirs}"' not in page
    assert f'href="/assignments/{assignment_id("3")}"' in page


def test_the_trail_shows_the_latest_entries_and_pages_the_rest(
    person: Callable[..., Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskhub.tracking import services

    monkeypatch.setattr(services, "HISTORY_SHOWN", 2)
    unit, office = person("unit", KUNDULUN), person("office")
    aid = assignment_id("3")
    unit.submit(f"/assignments/{aid}/acknowledge")
    report(unit, aid, [])
    pending = db.session.scalars(select(Assignment).where(Assignment.id == aid)).one().reports[0]
    office.submit(f"/reports/{pending.id}/review", data={"decision": "accept"})

    page = unit.page(f"/assignments/{aid}")
    assert [action for action, _, _ in history_of(page)] == ["审核通过", "报送进展"]
    more = f'href="/assignments/{aid}/history?page=2"'
    assert more in page and "更早的记录（共 3 条）" in visible(page)
    older = unit.page(f"/assignments/{aid}/history?page=2")
    # Page 2 of the full trail, 50 a page: nothing more (all three are on page 1).
    assert history_of(older) == []
    full = unit.page(f"/assignments/{aid}/history")
    assert [action for action, _, _ in history_of(full)] == ["审核通过", "报送进展", "签收"]


# --- the plan item page ---------------------------------------------------------------------


def test_the_office_sees_every_units_light_on_the_item_page_paged(
    person: Callable[..., Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_views, "ITEM_PAGE_SIZE", 4)
    office = person("office")
    item = item_of("3")
    total = len(
        db.session.scalars(select(Assignment.id).where(Assignment.item_id == item.id)).all()
    )
    assert total > 4

    first = office.page(f"/items/{item.id}")
    second = office.page(f"/items/{item.id}?page=2")

    rows1 = re.findall(r'<td data-label="单位"><a href="/assignments/(\d+)"', first)
    rows2 = re.findall(r'<td data-label="单位"><a href="/assignments/(\d+)"', second)
    assert len(rows1) == 4 and rows2 and not set(rows1) & set(rows2)
    assert f"第 1 页 · 共 {total} 条" in visible(first)
    # Each unit's light, in words: the 2022 step is long past, so every light is red.
    word = r"([^<\s]+)"
    badge = (
        rf'<span class="light light-(\w+)"[^>]*><span aria-hidden="true">●</span> {word} · {word}<'
    )
    lights = re.findall(badge, first)
    assert lights == [("red", "红", "已超期")] * 4
    # The schedule's timeline: the step is overdue for every unit, today comes after it.
    entries = timeline_of(first)
    assert [kind for kind, _ in entries] == ["tl-step tl-overdue", "tl-today"]
    assert f"0/{total} 个单位已完成 · {total} 个超期" in entries[0][1]


@contextmanager
def counted() -> Iterator[list[str]]:
    """The SQL statements run inside the block (the test's own savepoints left out)."""
    statements: list[str] = []

    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def test_the_assignment_page_costs_the_same_queries_however_long_its_story(
    person: Callable[..., Browser], evidence_dir: Path
) -> None:
    unit, office = person("unit", KUNDULUN), person("office")
    aid = assignment_id("3")
    report(unit, aid, [(make_png(), "照片1.png")])
    with counted() as short:
        unit.page(f"/assignments/{aid}")

    for n in range(2, 5):  # returned and reported again, three more times, by the office
        pending = db.session.scalars(
            select(ProgressReport.id).where(
                ProgressReport.assignment_id == aid, ProgressReport.status == "submitted"
            )
        ).one()
        office.submit(f"/reports/{pending}/review", data={"decision": "return", "reason": "补充"})
        report(unit, aid, [(make_png(), f"照片{n}.png"), (make_docx(), f"方案{n}.docx")])
    with counted() as long:
        page = unit.page(f"/assignments/{aid}")

    assert page.count('<div class="report ') == 4
    assert len(long) == len(short), (len(short), len(long))


def test_the_pages_read_in_english_too(person: Callable[..., Browser], evidence_dir: Path) -> None:
    unit = person("unit", KUNDULUN)
    aid = assignment_id("3")
    unit.submit(f"/assignments/{aid}/acknowledge")
    unit.get("/lang/en")

    page = visible(unit.page(f"/assignments/{aid}"))
    assert "Today" in page and "Overdue" in page
    assert "Status: Not acknowledged → Acknowledged" in page
    my = visible(unit.page("/my"))
    assert "Returned: report again" in my and "Contacts of my unit" in my
