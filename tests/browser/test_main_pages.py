"""The main pages open in a real browser without errors, on a laptop and on a phone, with
screenshots in test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]

#: (screenshot name, path, the start of the page's main heading)
PAGES = [
    ("10-ledger", "/ledger?plan=baotou-2022", "任务台账"),
    ("11-timeline", "/timeline?plan=baotou-2022&group=area", "节点时间轴"),
    ("12-plan-item", "/items/{item_id}", "1."),
    ("13-imports", "/imports", "Excel 导入"),
    ("14-bulletin", "/plans/baotou-2022/bulletin?period=2022-H1", "包头市"),
    ("15-units", "/units", "单位"),
    ("16-calendar", "/calendar", "工作日历"),
    ("17-reminder-rules", "/reminders/rules", "提醒规则"),
    ("18-scores", "/plans/baotou-2022/scores?period=2022-H1", "排名"),
]


@pytest.mark.parametrize(("name", "path", "heading"), PAGES, ids=[p[0] for p in PAGES])
def test_main_page_opens(
    live_site: LiveSite,
    new_context: Callable[[], BrowserContext],
    screenshot: Shot,
    name: str,
    path: str,
    heading: str,
) -> None:
    page = sign_in(new_context(), live_site, live_site.office_username)
    response = page.goto(live_site.url + path.format(item_id=live_site.item_id))
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1).first).to_contain_text(heading)
    screenshot(page, name)


def test_unit_workspace_on_a_phone(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    """Unit staff on a phone: the workspace fits the screen (no sideways scrolling)."""
    context = new_context()
    page = sign_in(context, live_site, live_site.unit_username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_site.url}/my")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the phone"
    screenshot(page, "19-my-tasks-phone")
