"""One 申请延期 per milestone, opening its own form, and 待审批 once asked (issue 15), in a real
browser: the disclosure is the browser's own (<details>), so it needs no script."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in, table_after


def test_each_milestone_has_one_request_button_that_opens_its_own_form(
    live_site: LiveSite,
    new_context: Callable[[], BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    site = live_site
    unit = sign_in(new_context(), site, site.unit_username)
    # Item 2 (阶段性成效并持续推进: a step and monthly checkpoints); the journey uses item 1.
    unit.goto(f"{site.url}/my?view=all")
    unit.get_by_role("link", name=re.compile(r"^2\. ")).first.click()
    steps = table_after(unit, "节点").locator("tbody tr")
    count = steps.count()
    assert count > 1
    buttons = unit.locator("details.extension-request > summary")
    expect(buttons).to_have_count(count)
    expect(buttons.first).to_have_text("申请延期")
    forms = unit.locator("details.extension-request form")
    for i in range(count):
        expect(forms.nth(i)).to_be_hidden()  # twelve forms are not spread over the page

    # One click opens that milestone's form, and only that one.
    buttons.nth(0).click()
    expect(forms.nth(0)).to_be_visible()
    expect(forms.nth(1)).to_be_hidden()
    first = steps.nth(0)
    first.get_by_label("新日期").fill("2022-12-31")
    first.get_by_label("理由").fill("系统对接延后")
    screenshot(unit, "dead-ends-extension-form")
    first.get_by_role("button", name="提交申请").click()

    expect(unit.get_by_text("延期申请已提交，等待督办室审批。")).to_be_visible()
    first = table_after(unit, "节点").locator("tbody tr").nth(0)
    expect(first).to_contain_text("待审批")
    expect(first).to_contain_text("申请延至 2022年12月31日")
    expect(first.locator("details")).to_have_count(0)  # no second request form
    expect(unit.locator("details.extension-request > summary")).to_have_count(count - 1)
    screenshot(unit, "dead-ends-extension-pending")
