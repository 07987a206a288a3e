"""Decompose (分解) in a real browser: the unit splits its task into a sub-task for another
unit, that unit acknowledges and reports with evidence, the lead unit accepts, and the task
page shows the sub-task's part of the rolled-up progress."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import OTHER_UNIT, LiveSite
from tests.browser.test_journey import sign_in
from tests.test_tracking import PDF


def test_the_lead_unit_decomposes_and_the_sub_task_unit_reports(
    live_site: LiveSite,
    new_context: Callable[[], BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    site = live_site
    lead = sign_in(new_context(), site, site.unit_username)
    # Item 4 (the journey uses item 1, the extension test item 2, the hand-over test item 3).
    lead.goto(f"{site.url}/my?view=all")
    lead.get_by_role("link", name=re.compile(r"^4\. ")).first.click()
    task_url = lead.url
    panel = lead.locator("#subtasks")
    panel.locator("#st-text").fill("完成全区政务数据目录梳理，形成共享清单")
    panel.get_by_label("承办单位（其他单位）").select_option(label=OTHER_UNIT)
    panel.get_by_label("目标").fill("目录覆盖率100%")
    panel.get_by_label("权重").fill("2")
    panel.locator("#st-ms-title-0").fill("形成共享清单")
    panel.locator("#st-ms-due-0").fill("2026-12-31")
    screenshot(lead, "subtask-decompose-form")
    panel.get_by_role("button", name="添加分解任务").click()
    expect(lead.get_by_text("分解任务已添加，已通知承办单位。")).to_be_visible()
    expect(panel.locator("table.subtasks")).to_contain_text(OTHER_UNIT)

    other = sign_in(new_context(), site, site.other_username)
    other.goto(f"{site.url}/subtasks")
    other.get_by_role("link", name=re.compile("^完成全区政务数据目录梳理")).click()
    other.get_by_role("button", name="签收").click()
    expect(other.get_by_text("已签收。")).to_be_visible()
    other.get_by_label("工作进展").fill("已梳理政务数据目录1200条，形成共享清单初稿。")
    other.locator("#r-percent").fill("60")
    other.locator("#r-files").set_input_files(
        files=[{"name": "共享清单.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    other.get_by_role("button", name="提交审核").click()
    expect(other.get_by_text("报送已提交，等待审核。")).to_be_visible()
    expect(other.locator("#reports ~ .report").first).to_contain_text("共享清单.pdf")
    screenshot(other, "subtask-unit-report")

    lead.goto(f"{site.url}/subtasks")
    lead.get_by_role("link", name=re.compile("完成全区政务数据目录梳理")).first.click()
    lead.get_by_role("button", name="通过").click()
    expect(lead.get_by_text("审核结果已保存。")).to_be_visible()
    expect(lead.locator(".subtask-state")).to_contain_text("推进中 · 60%")
    lead.goto(task_url)
    expect(lead.locator("#subtasks")).to_contain_text("分解任务汇总进度：60%")
    expect(lead.locator("table.history")).to_contain_text("审核通过分解任务报送")
    lead.locator("#subtasks").scroll_into_view_if_needed()
    screenshot(lead, "subtask-rollup")

    # No longer needed: the lead unit closes it with a reason, and the task may complete.
    lead.locator("table.subtasks a").first.click()
    lead.get_by_text("不再办理：说明理由后关闭").click()
    lead.get_by_label("理由").fill("清单已并入全市目录，不再单独办理")
    lead.get_by_role("button", name="关闭分解任务").click()
    expect(lead.get_by_text("分解任务已关闭。")).to_be_visible()
    expect(lead.locator(".subtask-state")).to_contain_text("已说明理由关闭")
