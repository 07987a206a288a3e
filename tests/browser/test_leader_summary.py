"""The office records a leader's instruction (领导批示) on a task, the unit answers it, and the
leader's page prints its weekly summary (每周摘要) on one A4 page with the instructions 待落实."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import OWN_UNIT, SCREENSHOTS, LiveSite
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]


def test_the_leader_page_prints_the_weekly_summary(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    page = sign_in(new_context(), live_site, live_site.office_username)
    page.goto(live_site.url + "/cities/baotou/leaders")
    page.get_by_label("姓名").fill("刘强")
    page.get_by_label("职务").fill("副市长")
    page.get_by_label("分管工作").fill("数字政府")
    page.get_by_role("button", name="添加", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("刘强")
    page.goto(live_site.url + "/cities/baotou")
    page.get_by_role("link", name=OWN_UNIT).first.click()
    page.goto(page.url.rstrip("/") + "/edit")
    page.get_by_label("分管领导").select_option(label="刘强 · 副市长")
    page.get_by_role("button", name="保存").first.click()
    expect(page.locator(".flash.success")).to_be_visible()

    # The office records the leader's instruction on the task.
    page.goto(f"{live_site.url}/assignments/{live_site.own_assignment_id}")
    page.get_by_text("登记领导批示", exact=True).click()
    page.locator("#in-leader").select_option(label="副市长刘强")
    page.get_by_label("批示内容").fill("请加快推进，月底前报送落实情况。")
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("批示已登记")
    panel = page.locator("#instructions")
    expect(panel).to_contain_text("待落实")
    expect(panel).to_contain_text("请加快推进")

    # The unit sees it on its task and answers (反馈).
    unit = sign_in(new_context(), live_site, live_site.unit_username)
    unit.goto(f"{live_site.url}/assignments/{live_site.own_assignment_id}")
    unit_panel = unit.locator("#instructions")
    expect(unit_panel).to_contain_text("请加快推进")
    unit_panel.get_by_label("反馈落实情况").fill("已召开专题会部署，正在推进。")
    unit_panel.get_by_role("button", name="提交反馈").click()
    expect(unit.locator("#instructions")).to_contain_text("已反馈")

    # The leader's page: the week's summary with the instructions still 待落实 (the item's other
    # units have not answered), and a button that prints it.
    page.goto(live_site.url + "/cities/baotou/leaders")
    page.get_by_role("link", name="刘强").click()
    summary = page.locator(".leader-summary")
    expect(summary).to_contain_text("每周摘要")
    expect(summary.locator(".instructions-pending")).to_contain_text("请加快推进")
    expect(page.get_by_role("button", name="打印每周摘要")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".leader-all")).to_be_hidden()
    expect(page.get_by_role("button", name="打印每周摘要")).to_be_hidden()
    expect(summary).to_be_visible()
    screenshot(page, "leader-weekly-summary-print")
    # Chromium's own print to PDF, A4: one page.
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    (SCREENSHOTS / "leader-weekly-summary.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == 1, f"the weekly summary printed on {pages} pages"
