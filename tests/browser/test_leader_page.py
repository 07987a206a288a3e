"""The office names a unit's 分管领导 and reads the leader's page, which prints as the summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import OWN_UNIT, LiveSite
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]


def test_the_office_names_a_leader_and_reads_their_page(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    page = sign_in(new_context(), live_site, live_site.office_username)
    page.goto(live_site.url + "/cities/baotou")
    page.get_by_role("link", name="分管领导").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("分管领导")
    page.get_by_label("姓名").fill("张明")
    page.get_by_label("职务").fill("副市长")
    page.get_by_label("分管工作").fill("数字政府、政务服务")
    page.get_by_role("button", name="添加", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("张明")
    screenshot(page, "leaders-list")
    # The unit's edit page: one more choice.
    page.goto(live_site.url + "/cities/baotou")
    page.get_by_role("link", name=OWN_UNIT).first.click()
    page.goto(page.url.rstrip("/") + "/edit")
    page.get_by_label("分管领导").select_option(label="张明 · 副市长")
    page.get_by_role("button", name="保存").first.click()
    expect(page.locator(".flash.success")).to_be_visible()
    page.goto(live_site.url + "/cities/baotou/leaders")
    page.get_by_role("link", name="张明").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("张明 · 副市长")
    rows = page.locator(".leader-all tbody tr")
    expect(rows.first).to_contain_text("红")
    screenshot(page, "leader-page")
    # Printed: the week's summary only.
    page.emulate_media(media="print")
    expect(page.locator(".leader-all")).to_be_hidden()
    expect(page.locator(".leader-summary")).to_be_visible()
    screenshot(page, "leader-page-print")
