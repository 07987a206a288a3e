"""待审核 as the office sees it on a 1366 × 768 laptop: each report with its task, 存在问题 and
evidence inline (a photo as a thumbnail), two of them ticked and accepted at once with 批量通过.

Its own server and data (reports made through the service, with real files), so it neither
depends on nor disturbs the journey's assignments on the shared live site.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.accounts.services import create_user
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.plans.models import Item, Plan
from taskhub.plans.seeds import load_seeds
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, Milestone
from tests.browser.conftest import _build_app, serve
from tests.conftest import PASSWORD, unit_named

Shot = Callable[[Page, str], Path]
#: (unit, Baotou item, progress, problems, evidence file) of each report awaiting review.
REPORTS = [
    (
        "昆都仑区人民政府",
        "3",
        "热线平台升级招标已完成。",
        "话务数据迁移尚需协调。",
        "热线平台升级方案.pdf",
    ),
    ("青山区人民政府", "3", "热线知识库已更新。", "部分街道工单回访率偏低。", "现场照片.png"),
    ("东河区人民政府", "3", "已开展热线业务培训。", "培训覆盖面不足。", "培训签到表.pdf"),
]
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png(width: int = 160, height: int = 120) -> bytes:
    """A real PNG: a blue-to-green gradient, enough to see as a thumbnail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((40, 90 + x % 160, 200 - y)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def queue_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with an office user and three reports awaiting review, each with a file."""
    app = _build_app(tmp_path_factory.mktemp("review-queue"))
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds")
        create_user(username="rq-office", password=PASSWORD, role="office", display_name="督办室")
        for n, (unit_name, code, progress, problems, file_name) in enumerate(REPORTS):
            unit = unit_named(unit_name, "baotou")
            author = create_user(username=f"rq-unit-{n}", password=PASSWORD, role="unit", unit=unit)
            assignment = db.session.scalars(
                select(Assignment)
                .join(Item, Item.id == Assignment.item_id)
                .join(Plan, Plan.id == Item.plan_id)
                .where(Plan.code == "baotou-2022", Item.code == code, Assignment.unit_id == unit.id)
            ).one()
            content = png() if file_name.endswith(".png") else PDF
            services.submit_report(
                assignment,
                actor=author,
                progress=progress,
                problems=problems,
                next_steps="下月底前完成。",
                percent=50,
                files=[services.UploadedFile(file_name, content)],
                storage=storage_for(app.config),
                max_bytes=1024 * 1024,
            )
        # One extension request, for the 延期审批 page.
        unit = unit_named(REPORTS[0][0], "baotou")
        asker = db.session.scalar(select(User).where(User.username == "rq-unit-0"))
        milestone = db.session.scalars(
            select(Milestone)
            .join(Assignment, Assignment.id == Milestone.assignment_id)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(Plan.code == "baotou-2022", Item.code == "1", Assignment.unit_id == unit.id)
            .order_by(Milestone.due_on)
        ).first()
        assert milestone is not None and asker is not None
        services.request_extension(
            milestone,
            actor=asker,
            reason="数据归集涉及多个部门，需顺延一个月。",
            requested_due_on=milestone.effective_due_on + timedelta(days=31),
        )
        db.session.commit()
        db.session.remove()
    with serve(app) as url:
        yield url


def office_page(site: str, new_context: Callable[[], BrowserContext]) -> Page:
    """The office signed in on a 1366 × 768 laptop."""
    page = new_context().new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{site}/login")
    page.get_by_label("用户名").fill("rq-office")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    return page


def test_office_accepts_two_reports_at_once_from_the_queue(
    queue_site: str, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    page = office_page(queue_site, new_context)
    page.locator("nav.main-menu").get_by_role("link", name=re.compile("^待审核")).click()

    cards = page.locator("div.review-card")
    expect(cards).to_have_count(3)
    first, second, third = (cards.filter(has_text=r[2]) for r in REPORTS)
    # The task, the three parts of the report and the evidence, without opening anything.
    expect(first).to_contain_text("全面提升“12345”政务热线服务水平")
    expect(first).to_contain_text("存在问题")
    expect(first).to_contain_text("话务数据迁移尚需协调。")
    expect(first.get_by_role("link", name="热线平台升级方案.pdf")).to_be_visible()
    thumb = second.locator("img.ev-thumb")
    expect(thumb).to_be_visible()
    # The photo really loads through the permission-checked file route.
    thumb.scroll_into_view_if_needed()  # lazy: loaded when in view
    loaded = thumb.evaluate("img => img.decode().then(() => img.naturalWidth)")
    assert loaded == 160, loaded
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 1366, f"the queue is {overflow}px wide at a 1366px window"
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "review-queue")

    first.get_by_label("选择").check()
    second.get_by_label("选择").check()
    page.get_by_role("button", name="批量通过").first.click()

    expect(page.get_by_text("已通过 2 份报送。")).to_be_visible()
    expect(page.locator("div.review-card")).to_have_count(1)
    expect(page.locator("div.review-card")).to_contain_text(REPORTS[2][2])
    expect(third).to_be_visible()


def test_select_all_ticks_every_report_from_the_keyboard(
    queue_site: str, new_context: Callable[[], BrowserContext]
) -> None:
    """全选 ticks every report on the page and clears them again (Tab to it, Space), shows mixed
    when some are ticked by hand, and the bulk form sends what it ticked. Read-only: nothing is
    accepted, so the other tests of this module see the same queue in any order."""
    page = office_page(queue_site, new_context)
    page.goto(f"{queue_site}/review")

    ticks = page.locator("div.review-card").get_by_label("选择")
    count = ticks.count()
    assert count >= 1
    everything = page.get_by_role("checkbox", name="全选")
    expect(everything).to_be_visible()
    expect(everything).not_to_be_checked()

    # From the keyboard: focus reaches it by Tab like any field; Space ticks it.
    page.get_by_role("button", name="批量通过").first.focus()
    page.keyboard.press("Shift+Tab")
    expect(everything).to_be_focused()
    page.keyboard.press("Space")
    expect(everything).to_be_checked()
    for n in range(count):
        expect(ticks.nth(n)).to_be_checked()
    sent = page.evaluate(
        "new FormData(document.getElementById('bulk-accept')).getAll('report_ids').length"
    )
    assert sent == count

    # One report cleared by hand: 全选 is no longer ticked (mixed when others still are).
    ticks.first.uncheck()
    expect(everything).not_to_be_checked()
    mixed = everything.evaluate("box => box.indeterminate")
    assert mixed == (count > 1)
    # Ticked again: everything is ticked, so is 全选; Space clears them all.
    ticks.first.check()
    expect(everything).to_be_checked()
    everything.focus()
    page.keyboard.press("Space")
    for n in range(count):
        expect(ticks.nth(n)).not_to_be_checked()
    expect(page.locator("div.review-card")).to_have_count(count)  # nothing was sent


def test_extension_queue_shows_plan_item_and_milestone_on_a_laptop(
    queue_site: str, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    page = office_page(queue_site, new_context)
    page.locator("nav.main-menu").get_by_role("link", name=re.compile("^延期审批")).click()

    row = page.locator("table.extension-queue tbody tr").first
    expect(row).to_contain_text("包头市数字政府建设考评指标")
    expect(row).to_contain_text("第 1 项")
    expect(row).to_contain_text(REPORTS[0][0])
    expect(row).to_contain_text("数据归集涉及多个部门，需顺延一个月。")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 1366, f"the extension queue is {overflow}px wide at a 1366px window"
    screenshot(page, "extension-queue")
