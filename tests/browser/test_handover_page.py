"""Send back and hand over (退回 / 转办) in a real browser: the unit asks on its task page, the
office finds the request at /handovers and hands the task to another unit there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in


def test_the_unit_asks_and_the_office_hands_over(
    live_site: LiveSite,
    new_context: Callable[[], BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    site = live_site
    unit = sign_in(new_context(), site, site.unit_username)
    # Item 3 (the journey uses item 1, the extension test item 2).
    unit.goto(f"{site.url}/my?view=all")
    unit.get_by_role("link", name=re.compile(r"^3\. ")).first.click()
    task_url = unit.url
    unit.get_by_text("非本单位职责：申请退回").click()
    unit.locator("#ho-reason").fill("属住建部门职责")
    screenshot(unit, "handover-ask-form")
    unit.get_by_role("button", name="申请退回", exact=True).click()
    expect(unit.get_by_text("退回申请已提交督办室。")).to_be_visible()
    expect(unit.locator("#handover")).to_contain_text("待督办室决定")

    office = sign_in(new_context(), site, site.office_username)
    office.goto(f"{site.url}/handovers")
    expect(office.locator("table")).to_contain_text("属住建部门职责")
    screenshot(office, "handover-office-list")
    office.locator("table a").first.click()
    office.get_by_label("转办至").select_option(index=1)
    receiving = office.get_by_label("转办至").evaluate("s => s.options[s.selectedIndex].text")
    screenshot(office, "handover-office-decide")
    office.get_by_role("button", name="转办", exact=True).click()
    expect(office.get_by_text("任务已转办。")).to_be_visible()
    expect(office.locator("#handover")).to_contain_text(f"已转办 → {receiving}")
    expect(office.locator("table.history")).to_contain_text("转办给其他单位")
    screenshot(office, "handover-done")

    unit.goto(task_url)
    expect(unit.get_by_text("403").or_(unit.get_by_text("无权"))).not_to_have_count(0)
