"""The top bar on a 1366 × 768 laptop, for the admin, the office and a unit: one line, the open
page highlighted on every entry (inside the 管理 group too, and on the group), count badges
that match the data, the group opened with the keyboard, and no /favicon.ico 404."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade
from playwright.sync_api import BrowserContext, Page, Response, expect
from sqlalchemy import select

from taskhub.accounts.services import create_user
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.plans.seeds import load_seeds
from taskhub.reminders.models import Notification
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, MilestoneStatus
from tests.browser.conftest import _build_app, serve
from tests.conftest import PASSWORD, unit_named

Shot = Callable[[Page, str], Path]
OWN_UNIT = "昆都仑区人民政府"


@dataclass(frozen=True)
class NavSite:
    url: str
    own_unit_id: int
    #: What the office's badges should say: reports awaiting review, pending extensions, and
    #: the office user's unread notifications.
    reviews: int
    extensions: int
    unread: int


@pytest.fixture(scope="module")
def nav_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NavSite]:
    """Its own seeded server with an admin, an office user and a unit user, two reports
    awaiting review, one extension request and unread notifications."""
    app = _build_app(tmp_path_factory.mktemp("nav"))
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds")
        own = unit_named(OWN_UNIT, "baotou")
        create_user(username="nav-admin", password=PASSWORD, role="admin", display_name="管理员")
        office = create_user(
            username="nav-office", password=PASSWORD, role="office", display_name="督办室"
        )
        unit_user = create_user(
            username="nav-unit", password=PASSWORD, role="unit", display_name="填报员", unit=own
        )
        create_user(
            username="nav-assessor",
            password=PASSWORD,
            role="assessor",
            display_name="考核员",
            unit=unit_named("市审批服务局", "baotou"),
        )
        create_user(username="nav-viewer", password=PASSWORD, role="viewer", display_name="查阅人")
        db.session.flush()
        first, second = db.session.scalars(
            select(Assignment).where(Assignment.unit_id == own.id).order_by(Assignment.id).limit(2)
        ).all()
        for assignment in (first, second):
            tracking.submit_report(
                assignment,
                actor=unit_user,
                progress="已完成部署",
                percent=40,
                storage=storage_for(app.config),
                max_bytes=1024,
            )
        milestone = next(m for m in first.milestones if m.status == MilestoneStatus.OPEN.value)
        tracking.request_extension(
            milestone,
            actor=unit_user,
            reason="需要延期",
            requested_due_on=milestone.effective_due_on + timedelta(days=20),
        )
        db.session.add(Notification(user_id=office.id, title="请审核", body="正文"))
        db.session.commit()
        unread = len(
            db.session.scalars(
                select(Notification).where(
                    Notification.user_id == office.id, Notification.read_at.is_(None)
                )
            ).all()
        )
        own_id = own.id
        db.session.remove()
    with serve(app) as url:
        yield NavSite(url=url, own_unit_id=own_id, reviews=2, extensions=1, unread=unread)


def _sign_in(context: BrowserContext, site: NavSite, username: str) -> Page:
    page = context.new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{site.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


def _bar_is_one_line(page: Page) -> None:
    """The header is as tall as one menu entry (plus its padding), and nothing overflows."""
    sizes = page.evaluate(
        """() => {
            const header = document.querySelector('header.top').getBoundingClientRect();
            const nav = document.querySelector('nav.main-menu').getBoundingClientRect();
            const link = document.querySelector('nav.main-menu > a').getBoundingClientRect();
            const right = Math.max(...[...document.querySelectorAll('header.top *')]
                .map(e => e.getBoundingClientRect().right));
            return {header: header.height, nav: nav.height, link: link.height, right,
                    width: document.documentElement.scrollWidth};
        }"""
    )
    assert sizes["nav"] < sizes["link"] * 1.5, sizes
    assert sizes["header"] < sizes["link"] * 2, sizes
    assert sizes["width"] <= 1366 and sizes["right"] <= 1366, sizes


def _entries(page: Page) -> list[tuple[str, str]]:
    """Every menu entry (in the bar and inside the group): its link and its text."""
    links = page.locator("nav.main-menu a")
    return [
        (str(links.nth(i).get_attribute("href")), links.nth(i).inner_text().split(" ")[0].strip())
        for i in range(links.count())
    ]


def _check_every_entry(page: Page, site: NavSite, role: str, shot: Shot) -> None:
    """Open each entry's page: it alone is marked current, visibly, and the bar stays one line."""
    entries = _entries(page)
    assert entries, role
    for href, text in entries:
        page.goto(site.url + href)
        current = page.locator('nav.main-menu a[aria-current="page"]')
        expect(current).to_have_count(1)
        assert current.inner_text().startswith(text), (href, current.inner_text())
        in_group = page.locator(f'.menu-group a[href="{href}"]').count() > 0
        summary = page.locator("nav.main-menu .menu-group > summary")
        if summary.count():
            assert (summary.get_attribute("aria-current") == "true") == in_group, href
        if in_group:  # the highlight shows on the closed group itself
            background = summary.evaluate("e => getComputedStyle(e).backgroundColor")
            assert background not in ("rgba(0, 0, 0, 0)", "transparent"), href
        else:
            underline = current.evaluate("e => getComputedStyle(e).borderBottomColor")
            assert underline == "rgb(255, 255, 255)", (href, underline)
        _bar_is_one_line(page)
    shot(page, f"nav-{role}-last-entry")


def _watch_favicon(context: BrowserContext) -> list[str]:
    missing: list[str] = []

    def _seen(response: Response) -> None:
        if response.status == 404:
            missing.append(response.url)

    context.on("response", _seen)
    return missing


@pytest.mark.parametrize("role", ["admin", "office", "unit", "assessor", "viewer"])
def test_the_bar_is_one_line_and_marks_the_open_page(
    nav_site: NavSite, new_context: Callable[[], BrowserContext], screenshot: Shot, role: str
) -> None:
    context = new_context()
    not_found = _watch_favicon(context)
    page = _sign_in(context, nav_site, f"nav-{role}")
    page.goto(nav_site.url + "/dashboard")
    _bar_is_one_line(page)
    screenshot(page, f"nav-{role}")
    _check_every_entry(page, nav_site, role, screenshot)
    assert not not_found, f"404 answers: {not_found}"


def test_badges_match_the_data_and_the_group_opens_by_keyboard(
    nav_site: NavSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    context = new_context()
    page = _sign_in(context, nav_site, "nav-office")
    page.goto(nav_site.url + "/dashboard")
    nav = page.get_by_role("navigation", name="主导航")
    for name, count, words in (
        ("待审核", nav_site.reviews, "项待处理"),
        ("延期审批", nav_site.extensions, "项待处理"),
        ("站内通知", nav_site.unread, "条未读"),
    ):
        link = nav.get_by_role("link", name=f"{name} （{count} {words}）")
        expect(link).to_be_visible()
        expect(link.locator(".badge")).to_have_text(f"{count}（{count} {words}）")
    # The review queue lists as many reports as its badge says.
    page.goto(nav_site.url + "/review")
    expect(page.get_by_text("已完成部署")).to_have_count(nav_site.reviews)

    # The 管理 group opens with the keyboard and its entries are reachable with Tab.
    summary = page.locator("nav.main-menu .menu-group > summary")
    summary.focus()
    page.keyboard.press("Enter")
    outbox = page.locator("nav.main-menu .menu-group").get_by_role("link", name="发送队列")
    expect(outbox).to_be_visible()
    screenshot(page, "nav-office-group-open")
    outbox.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/outbox")
    expect(summary).to_have_attribute("aria-current", "true")


def test_the_bar_is_one_line_in_english(
    nav_site: NavSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    page = _sign_in(new_context(), nav_site, "nav-admin")
    page.goto(nav_site.url + "/dashboard")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("link", name="Deadline board", exact=True)).to_be_visible()
    _bar_is_one_line(page)
    screenshot(page, "nav-admin-en")


def test_favicon_ico_answers(nav_site: NavSite, new_context: Callable[[], BrowserContext]) -> None:
    page = new_context().new_page()
    response = page.goto(nav_site.url + "/favicon.ico")
    assert response is not None and response.status == 200
    assert response.url.endswith("/static/favicon.svg")
    assert response.headers["content-type"].startswith("image/svg+xml")
