"""A unit's staff report from a phone: 我的任务 → a task → a report with a photo, at 390 px.

The browser is Chromium with an iPhone 12's screen (390 × 844 CSS pixels, 3 device pixels per
CSS pixel, touch, a mobile user agent). On every page: nothing scrolls sideways, buttons are
tall enough to tap, and text fields are at least 16 px (phones zoom into smaller ones).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from tests.browser.conftest import OWN_UNIT, SCREENSHOTS, LiveSite

#: Playwright's devices["iPhone 12"] without its WebKit default browser (Chromium runs here).
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "screen": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/14.0.3 Mobile/15E148 Safari/604.1"
    ),
}
WIDTH = PHONE["viewport"]["width"]
#: Rounding of fractional widths; anything more is a real sideways scroll.
WIDTH_SLACK = 2
#: Apple's and Google's guidance is 44 and 48 px; 40 is the floor a thumb still hits.
MIN_TAP = 40
#: iOS Safari zooms the page into a focused field whose text is smaller than this.
MIN_INPUT_FONT = 16

PROGRESS = "已在全区12个街道完成政务服务事项清单公示，现场张贴二维码"
PHOTO = "现场公示照片.jpg"


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under test-artifacts/screenshots/, in CSS pixels (390 wide): a phone
    page is long, and three device pixels per CSS pixel made /my 41,000 pixels tall."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, scale="css", timeout=30_000)
    return path


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    """A phone's browser profile; any 5xx answer or script error fails the test. (The file
    field's own words, 选择文件, are the browser's: Debian's chromium here has only its English
    ones unless chromium-l10n is installed; a phone shows them in its own language.)"""
    context = browser.new_context(locale="zh-CN", **PHONE)
    context.set_default_timeout(10_000)
    problems: list[str] = []

    def _watch(response: Response) -> None:
        if response.status >= 500:
            problems.append(f"{response.status} {response.request.method} {response.url}")

    context.on("response", _watch)
    context.on("page", lambda p: p.on("pageerror", lambda e: problems.append(str(e))))
    yield context
    context.close()
    assert not problems, problems


def photo_jpeg() -> bytes:
    """A real JPEG as a phone camera makes one (smaller): a scene, not a blank square."""
    image_module = pytest.importorskip("PIL.Image")
    draw_module = pytest.importorskip("PIL.ImageDraw")
    image = image_module.new("RGB", (1200, 900), (135, 180, 220))
    draw = draw_module.Draw(image)
    draw.rectangle((0, 600, 1200, 900), fill=(90, 140, 80))
    draw.rectangle((420, 260, 780, 640), fill=(240, 240, 235), outline=(60, 60, 60), width=8)
    for y in range(320, 600, 60):
        draw.line((470, y, 730, y), fill=(80, 80, 80), width=10)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def check_fits_a_phone(page: Page, what: str) -> None:
    """No sideways scrolling; buttons tall enough; fields that do not zoom the page."""
    # Measure the page as laid out with its stylesheet: a heading can be in the DOM before the
    # CSS has arrived on a loaded machine, and unstyled fields sit side by side.
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH + WIDTH_SLACK, f"{what}: the page is {width} px wide at {WIDTH} px"
    wide = page.evaluate(
        """limit => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > limit && e.offsetParent !== null)
            .map(e => e.tagName + '.' + e.className + '#' + (e.id || e.name)).slice(0, 5)""",
        WIDTH + WIDTH_SLACK,
    )
    assert not wide, f"{what}: wider than the screen: {wide}"
    small = page.evaluate(
        """min => [...document.querySelectorAll(
                'main button, main .button, main input[type=submit], main summary')]
            .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < min)
            .map(e => e.textContent.trim().slice(0, 20) + " "
                + e.getBoundingClientRect().height)""",
        MIN_TAP,
    )
    assert not small, f"{what}: tap targets under {MIN_TAP} px high: {small}"
    tiny = page.evaluate(
        """min => [...document.querySelectorAll('main input, main select, main textarea')]
            .filter(e => e.type !== 'hidden' && e.offsetParent !== null
                && parseFloat(getComputedStyle(e).fontSize) < min)
            .map(e => `${e.name} ${getComputedStyle(e).fontSize}`)""",
        MIN_INPUT_FONT,
    )
    assert not tiny, f"{what}: fields the phone would zoom into: {tiny}"


def sign_in(context: BrowserContext, site: LiveSite) -> Page:
    page = context.new_page()
    page.goto(f"{site.url}/login")
    check_fits_a_phone(page, "login")
    page.get_by_label("用户名").fill(site.unit_username)
    page.get_by_label("密码", exact=True).fill(site.password)
    page.get_by_role("button", name="登录").tap()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


def test_a_unit_reports_with_a_photo_from_a_phone(
    live_site: LiveSite, phone: BrowserContext, tmp_path: Path
) -> None:
    site = live_site
    photo = tmp_path / PHOTO
    photo.write_bytes(photo_jpeg())
    page = sign_in(phone, site)

    # 我的任务: the tasks as cards, one under the other.
    page.get_by_role("link", name="我的任务").first.tap()
    expect(page).to_have_url(f"{site.url}/my")
    expect(page.get_by_role("heading", level=1)).to_contain_text(OWN_UNIT)
    check_fits_a_phone(page, "/my")
    screenshot(page, "phone-my")

    # A task other than the journey's (tests/browser/test_journey.py reports on that one).
    tasks = page.locator(".my-tasks table tbody tr").filter(
        has=page.get_by_role("link", name=re.compile("^报送进展"))
    )
    task = next(
        link
        for i in range(tasks.count())
        if not (link := tasks.nth(i).locator("td a").first)
        .inner_text()
        .startswith(f"{site.item_label}. ")
    )
    title = task.inner_text().strip()
    task.tap()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title.split(". ", 1)[1][:10])
    check_fits_a_phone(page, "the task")

    # The report form is below the milestones: a button under the facts takes the thumb there.
    page.locator(".to-report").get_by_role("link", name="报送进展").tap()
    expect(page).to_have_url(re.compile("#report$"))
    if page.locator("#report details").get_attribute("open") is None:
        page.get_by_text("填写报送").tap()
    expect(page.get_by_label("工作进展")).to_be_in_viewport()
    # The photo goes in the evidence field, which takes the camera, photos and files.
    files = page.get_by_label(re.compile("^佐证材料"))
    accept = files.get_attribute("accept") or ""
    assert accept.startswith("image/*,") and ".pdf" in accept and ".docx" in accept
    assert files.get_attribute("capture") is None  # the camera or the photo library, or files
    page.get_by_label("工作进展").fill(PROGRESS)
    page.get_by_label("存在问题").fill("个别社区公示栏位置不醒目")
    page.get_by_label("下步计划").fill("月底前完成社区一级公示")
    page.get_by_label("完成进度（%）").fill("30")
    files.set_input_files(photo)
    check_fits_a_phone(page, "the report form")
    screenshot(page, "phone-task")
    page.get_by_role("button", name="提交审核").tap()

    # Sent: the message, the status, and the report with the photo shown in the page.
    expect(page.get_by_text("报送已提交，等待审核。")).to_be_visible()
    report = page.locator("div.report").filter(has_text=PROGRESS)
    expect(report).to_contain_text("30%")
    expect(report.get_by_role("link", name=PHOTO)).to_be_visible()
    preview = report.get_by_role("img", name=re.compile(re.escape(PHOTO)))
    preview.scroll_into_view_if_needed()
    expect(preview).to_be_visible()
    # Lazy: it loads once scrolled into view.
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
    )
    assert preview.evaluate("img => img.naturalWidth") == 1200
    box = preview.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH
    expect(page.get_by_role("button", name="提交审核")).to_have_count(0)
    check_fits_a_phone(page, "the task after reporting")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "phone-report-done")

    # Back on 我的任务 the task waits under 待审核, without its report button.
    page.get_by_role("link", name="我的任务").first.tap()
    waiting = page.locator(".attention-submitted")
    expect(waiting).to_contain_text(title.split(". ", 1)[1][:10])
    expect(waiting.get_by_role("link", name=re.compile("^报送进展"))).to_have_count(0)
    check_fits_a_phone(page, "/my after reporting")
    screenshot(page, "phone-my-after")
