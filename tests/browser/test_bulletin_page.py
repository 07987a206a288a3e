"""The web bulletin (通报) in a real browser: a page a person can read and print, not a list of
thousands of overdue items; its height at a 1366 px window is measured and kept in check."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from taskhub.accounts.services import create_user
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.plans.seeds import load_seeds
from taskhub.tracking.jobs import scan_overdue
from tests.browser.conftest import PROJECT_ROOT, SCREENSHOTS, LiveSite, _build_app, serve
from tests.browser.test_journey import sign_in

Shot = Callable[[Page, str], Path]
#: The page of Baotou's 36 units was 87,589 px tall when it listed every overdue item.
MAX_HEIGHT = 9_000


@pytest.fixture(scope="module")
def overdue_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Baotou as the office sees it years later: every dated milestone of 2022 is overdue."""
    from flask_migrate import upgrade

    app = _build_app(tmp_path_factory.mktemp("bulletin"))
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds")
        scan_overdue(office_today())
        create_user(username="bl-office", password="bulletin-pass-1", role="office")
        db.session.commit()
        db.session.remove()
    with serve(app) as url:
        yield LiveSite(url, "", "bl-office", "bulletin-pass-1", 0, 0, "", 0)


def test_bulletin_page_is_short_and_prints_landscape_tables(
    overdue_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    context = new_context()
    page = sign_in(context, overdue_site, overdue_site.office_username)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{overdue_site.url}/plans/baotou-2022/bulletin?period=2022-H1")
    expect(page.get_by_role("heading", level=1).first).to_contain_text("包头市")
    height = page.evaluate("document.documentElement.scrollHeight")
    width = page.evaluate("document.documentElement.scrollWidth")
    print(f"\nweb bulletin at 1366 px: {height} px tall, {width} px wide")
    screenshot(page, "bulletin-web")
    assert height <= MAX_HEIGHT, f"the bulletin page is {height} px tall"
    assert width <= 1366, f"the bulletin page is {width} px wide at a 1366 px window"
    # Only three items a unit are named; the full list is the attachment, one click away.
    expect(page.get_by_role("link", name="下载逾期事项清单（.xlsx）")).to_be_visible()

    # Printed: text on portrait A4, the tables on landscape A4 (the page's own @page rules).
    pdf = page.pdf(prefer_css_page_size=True, print_background=False)
    (SCREENSHOTS / "bulletin-web-print.pdf").write_bytes(pdf)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    sizes = [(round(float(w)), round(float(h))) for w, h in boxes]
    print(f"printed from the browser: {len(sizes)} pages {sizes}")
    assert (595, 842) in sizes and (842, 595) in sizes
    assert len(sizes) <= 10
