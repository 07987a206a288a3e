"""The ledger and the deadline board in a real browser at 1366 px: one line per row, long texts
cut with "…" and whole on hover (title), the days-overdue column; screenshots ledger.png and
board.png in test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]


@pytest.mark.parametrize(
    ("name", "path", "heading"),
    [
        ("ledger", "/ledger?plan=baotou-2022", "任务台账"),
        ("board", "/board?plan=baotou-2022&view=overdue", "时限督办"),
    ],
)
def test_rows_are_one_line_with_the_full_text_on_hover(
    live_site: LiveSite,
    new_context: Callable[[], BrowserContext],
    screenshot: Shot,
    name: str,
    path: str,
    heading: str,
) -> None:
    page = sign_in(new_context(), live_site, live_site.office_username)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(live_site.url + path)
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    rows = page.locator("table.ledger tbody tr")
    assert rows.count() == 50
    heights = rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    # One line each: every row as tall as the shortest, and no taller than two lines of text.
    assert max(heights) - min(heights) <= 1 and max(heights) < 40, heights
    links = page.locator("table.ledger tbody a.one-line")
    cut = links.evaluate_all(
        "links => links.filter(a => a.scrollWidth > a.clientWidth)"
        ".map(a => [a.textContent, a.title])"
    )
    assert cut, "no long task text was cut"
    for text, title in cut:
        assert text in title  # the cut text is whole in the title
    expect(page.locator("table.ledger tbody td.overdue-days strong").first).to_contain_text("超期")
    screenshot(page, name)


def test_the_ledger_pages_by_next_last_and_previous(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    """下一页 / 末页 / 上一页 by cursor: the page number follows, the sort stays; screenshot
    ledger-pages.png of a page in the middle."""
    page = sign_in(new_context(), live_site, live_site.office_username)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(live_site.url + "/ledger?plan=baotou-2022&sort=unit")
    pager = page.get_by_role("navigation", name="分页")
    expect(pager).to_contain_text("第 1 页")
    first = page.locator("table.ledger tbody tr").first.get_attribute("data-assignment")
    pager.get_by_role("link", name="下一页").click()
    expect(pager).to_contain_text("第 2 页")
    assert "sort=unit" in page.url and "after=" in page.url
    screenshot(page, "ledger-pages")
    pager.get_by_role("link", name="上一页").click()
    expect(pager).to_contain_text("第 1 页")
    assert page.locator("table.ledger tbody tr").first.get_attribute("data-assignment") == first
    pager.get_by_role("link", name="末页").click()
    expect(pager.get_by_role("link", name="下一页")).to_have_count(0)
    expect(pager.get_by_role("link", name="上一页")).to_have_count(1)
