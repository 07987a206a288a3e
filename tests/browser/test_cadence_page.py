"""The reporting cadence page as the office uses it: set a weekly cadence from the plan page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]


def test_the_office_sets_a_weekly_cadence_in_chinese(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    page = sign_in(new_context(), live_site, live_site.office_username)
    page.goto(live_site.url + "/plans/baotou-2022")
    page.get_by_role("link", name="报送周期").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("报送周期")
    page.get_by_label("周期", exact=True).select_option(label="每周")
    page.get_by_label("每周报送日（按周）").select_option(label="星期五")
    page.get_by_label("首个报送期开始日期").fill("2022-06-01")
    page.get_by_role("button", name="保存报送周期").click()
    expect(page.locator(".flash.success")).to_contain_text("报送周期已保存")
    expect(page.locator("dl.facts")).to_contain_text("每周星期五前报送")
    expect(page.locator("dl.facts")).to_contain_text("顺延至下一个工作日")
    screenshot(page, "cadence-reporting-page")
