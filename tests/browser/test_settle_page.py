"""Settle (办结 / 销号) in a real browser: the unit applies to close a task with its closing report
and evidence, the office signs it off from 待审核 and may reopen it with a reason. Runs last on
the shared live site and uses the unit's last task with a report form (the journey's and the
phone test's are earlier ones)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def test_unit_applies_to_close_and_office_signs_off_then_reopens(
    live_site: LiveSite,
    new_context: Callable[[], BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    site = live_site
    unit = sign_in(new_context(), site, site.unit_username)
    unit.goto(f"{site.url}/my")
    tasks = unit.locator(".my-tasks table tbody tr").filter(
        has=unit.get_by_role("link", name=re.compile("^报送进展"))
    )
    link = tasks.nth(tasks.count() - 1).locator("td a").first
    link.click()
    task_url = unit.url

    unit.get_by_text("申请办结：填写办结报告并上传佐证材料").click()
    unit.get_by_label("办结报告（完成情况）").fill("任务全部完成，长效机制已建立。")
    unit.locator("#c-files").set_input_files(
        files=[{"name": "办结报告.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    screenshot(unit, "settle-apply")
    unit.get_by_role("button", name="申请办结").click()
    expect(unit.get_by_text("办结报告已报送，待督查办审核销号。")).to_be_visible()
    expect(unit.locator("#settle")).to_contain_text("待销号")

    office = sign_in(new_context(), site, site.office_username)
    office.goto(f"{site.url}/review")
    expect(office.get_by_text("办结报告·待销号")).to_be_visible()
    screenshot(office, "settle-review-queue")
    office.goto(task_url)
    office.get_by_role("button", name="通过").first.click()
    expect(office.locator("#settle")).to_contain_text("已销号")
    screenshot(office, "settle-signed-off")
    office.get_by_label("重新打开理由").fill("佐证材料不全")
    office.get_by_role("button", name="重新打开").click()
    expect(office.get_by_text("任务已重新打开。")).to_be_visible()
    expect(office.get_by_text("重新打开任务").first).to_be_visible()

    unit.goto(task_url)
    expect(unit.get_by_text("申请办结：填写办结报告并上传佐证材料")).to_be_visible()
