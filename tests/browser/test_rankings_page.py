"""The rankings page as the office sees it on a 1366 × 768 laptop: Chinese names for the
components and the period, no sideways scrolling, unit names on one line, and score entry
that answers in Chinese."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]
RANKINGS = "/plans/baotou-2022/scores?period=2022-H1"


def _enter(page: Page, unit: str, component: str, value: str) -> None:
    page.get_by_label("单位", exact=True).select_option(label=unit)
    page.get_by_label("分项", exact=True).select_option(label=component)
    page.get_by_label("得分", exact=True).fill(value)
    page.get_by_label("理由", exact=True).fill("实地核查")
    page.get_by_role("button", name="保存").click()


def test_rankings_fit_a_laptop_in_chinese(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    context = new_context()
    page = sign_in(context, live_site, live_site.office_username)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_site.url + RANKINGS)
    expect(page.get_by_role("heading", level=1)).to_contain_text("2022年上半年")

    # Score entry speaks Chinese: a word is not a number, a value out of range names the
    # component as the scheme does.
    _enter(page, "昆都仑区人民政府", "实地调研", "abc")
    expect(page.locator(".flash.error")).to_contain_text("“abc”不是数字")
    _enter(page, "昆都仑区人民政府", "第三方评估", "150")
    expect(page.locator(".flash.error")).to_contain_text("“第三方评估”得分应在 0 至 100 之间")
    _enter(page, "昆都仑区人民政府", "实地调研", "85")
    expect(page.locator(".flash.success")).to_be_visible()

    headers = page.locator("table.rankings thead th").all_inner_texts()
    joined = " ".join(headers)
    for name in ("日常监测", "实地调研", "民意调查", "第三方评估", "较上期"):
        assert name in joined, headers
    for key in ("monitoring", "field", "survey", "third_party", "调整"):
        assert key not in joined, headers
    options = page.get_by_label("分项", exact=True).locator("option").all_inner_texts()
    assert options == ["实地调研", "民意调查", "第三方评估"]
    period_links = page.get_by_role("navigation", name="考核周期").get_by_role("link")
    assert "2022年上半年" in period_links.all_inner_texts()

    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 1366, f"the page is {overflow}px wide at a 1366px window"
    # Every unit name sits on one line: its cell is one line high.
    heights = page.evaluate(
        """() => [...document.querySelectorAll('table.rankings td.unit-name')].map(td => {
            const a = td.querySelector('a') || td;
            const line = parseFloat(getComputedStyle(a).lineHeight) || 20;
            return [a.textContent, a.getBoundingClientRect().height / line];
        })"""
    )
    # Baotou's 36 assessed units (a task handed over by another browser test may add one).
    assert len(heights) >= 36
    wrapped = [name for name, lines in heights if lines > 1.5]
    assert not wrapped, f"unit names broken over lines: {wrapped}"
    screenshot(page, "rankings")
