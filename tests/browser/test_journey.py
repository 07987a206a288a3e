"""The daily loop in a real browser, as the unit's staff and the office see it (in Chinese).

A unit acknowledges a Baotou task, reports with a PDF, is returned, resubmits and is accepted;
it cannot open another unit's task; and the login form works from the keyboard alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import OTHER_UNIT, OWN_UNIT, LiveSite

#: A minimal but real PDF (the upload check detects the type from the content).
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
RETURN_REASON = "佐证材料不足，请补充系统上线截图"

Shot = Callable[[Page, str], Path]
NewContext = Callable[[], BrowserContext]


# --- helpers ------------------------------------------------------------------------------------


def sign_in(context: BrowserContext, site: LiveSite, username: str) -> Page:
    """Open the login page and sign in with the mouse-and-form path."""
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(site.password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


def fact(page: Page, term: str) -> Locator:
    """The value (dd) next to a term (dt) of the assignment's fact list."""
    return page.locator(f"xpath=//dl/dt[normalize-space()='{term}']/following-sibling::dd[1]")


def table_after(page: Page, heading: str) -> Locator:
    """The table that follows a section heading."""
    return page.get_by_role("heading", name=heading, exact=True).locator(
        "xpath=following-sibling::table[1]"
    )


def history(page: Page) -> list[str]:
    """The 操作记录 actions, oldest first (the page lists the newest first)."""
    cells = table_after(page, "操作记录").locator("tbody tr td:nth-child(2)").all_inner_texts()
    return [cell.strip() for cell in reversed(cells)]


def status_is(status: str) -> re.Pattern[str]:
    """The assignment's status, with the overdue mark its past-due milestones add."""
    return re.compile(rf"^\s*{status}( · 已超期)?\s*$")


def fill_report(page: Page, progress: str, percent: int, evidence: Path | None = None) -> str:
    """Fill the three-part report for the first open milestone; returns that milestone's title."""
    page.get_by_label("工作进展").fill(progress)
    page.get_by_label("存在问题").fill("部分街道数据尚未归集")
    page.get_by_label("下步计划").fill("6月底前完成全部数据归集")
    page.get_by_label("完成进度（%）").fill(str(percent))
    milestone = page.get_by_label("对应节点")
    milestone.select_option(index=1)  # option 0 is 整体任务 (the task as a whole)
    title = milestone.locator("option:checked").inner_text().split("（")[0]
    if evidence is not None:
        page.get_by_label(re.compile("^佐证材料")).set_input_files(evidence)
    expect(page.get_by_label("完成进度（%）")).to_have_value(str(percent))
    submit = page.get_by_role("button", name="提交审核")
    try:
        with page.expect_request(lambda r: r.method == "POST", timeout=5000):
            submit.click()
    except PlaywrightTimeoutError:
        # Under heavy load Chromium has been seen to drop a mouse click (twice in a row, in CI)
        # while the lazy PDF preview below the form loads: no request reached the server. A
        # person would press Enter on the button instead; the keyboard does not depend on where
        # the pointer lands. If that fails too, say whether the form itself refused to submit.
        valid = submit.evaluate("b => b.form.checkValidity()")
        assert valid, "the report form is invalid in the browser: " + submit.evaluate(
            "b => [...b.form.elements].filter(e => !e.validity.valid).map(e => e.name).join()"
        )
        submit.focus()
        with page.expect_request(lambda r: r.method == "POST", timeout=20000):
            page.keyboard.press("Enter")
    return title


def ranking_rows(page: Page, site: LiveSite) -> list[list[str]]:
    """The dashboard's ranking table for Baotou's first half-year: [rank, unit, total, change]."""
    page.goto(f"{site.url}/plans/baotou-2022/dashboard?period=2022-H1")
    expect(page.get_by_role("heading", name=re.compile("^排名"))).to_be_visible()
    rows = page.locator("#table-ranking tbody tr")
    return [
        [cell.strip() for cell in rows.nth(i).locator("td, th").all_inner_texts()]
        for i in range(rows.count())
    ]


def review_in_queue(page: Page, site: LiveSite, progress: str, decision: str) -> None:
    """The office opens 待审核 and decides on the report with this progress text."""
    page.goto(f"{site.url}/plans")
    page.locator("nav.main-menu").get_by_role("link", name=re.compile("^待审核")).click()
    expect(page).to_have_url(f"{site.url}/review")
    report = page.locator("div.report").filter(has_text=progress)
    expect(report).to_contain_text(OWN_UNIT)
    if decision == "退回":
        report.get_by_label("理由（退回时必填）").fill(RETURN_REASON)
    report.get_by_role("button", name=decision, exact=True).click()
    expect(page.get_by_text("审核结果已保存。")).to_be_visible()
    expect(page.locator("div.report").filter(has_text=progress)).to_have_count(0)


# --- the journey --------------------------------------------------------------------------------


def test_report_returned_resubmitted_and_accepted(
    live_site: LiveSite, new_context: NewContext, screenshot: Shot, tmp_path: Path
) -> None:
    site = live_site
    evidence = tmp_path / "阶段成效说明.pdf"
    evidence.write_bytes(PDF)
    own_url = f"{site.url}/assignments/{site.own_assignment_id}"

    # 0. The office's dashboard: nobody has completed anything, and the ranking says so
    #    instead of ranking every unit first with 0.00.
    office = sign_in(new_context(), site, site.office_username)
    assert ranking_rows(office, site) == []
    expect(office.get_by_text("本期尚无得分。")).to_be_visible()
    screenshot(office, "00-dashboard-before")

    # 1. The unit signs in, finds the task under 我的任务, acknowledges and reports with a PDF.
    unit = sign_in(new_context(), site, site.unit_username)
    unit.get_by_role("link", name="我的任务").click()
    expect(unit).to_have_url(f"{site.url}/my")
    expect(unit.get_by_role("heading", level=1)).to_contain_text(OWN_UNIT)
    screenshot(unit, "01-my-tasks")
    unit.get_by_role("link", name=re.compile(rf"^{re.escape(site.item_label)}\. ")).click()
    expect(unit).to_have_url(own_url)
    # The plan's 2022 milestones are past: the task reads overdue at once, not after the night job.
    expect(fact(unit, "状态")).to_have_text("未签收 · 已超期")
    unit.get_by_role("button", name="签收").click()
    expect(unit.get_by_text("已签收。", exact=True)).to_be_visible()
    expect(fact(unit, "状态")).to_have_text(status_is("已签收"))

    first = "已完成政务数据共享平台接入，归集数据12类"
    milestone = fill_report(unit, first, 40, evidence)
    expect(unit.get_by_text("报送已提交，等待审核。")).to_be_visible()
    expect(fact(unit, "状态")).to_have_text(status_is("待审核"))
    expect(unit.get_by_role("link", name=evidence.name)).to_be_visible()
    expect(unit.get_by_role("button", name="提交审核")).to_have_count(0)  # one pending at a time
    screenshot(unit, "02-assignment-submitted")

    # 2. The office returns it with a reason; the unit sees why.
    office.goto(f"{site.url}/review")
    screenshot(office, "03-review-queue")
    review_in_queue(office, site, first, "退回")
    unit.reload()
    expect(fact(unit, "状态")).to_have_text(status_is("已退回"))
    expect(unit.locator("div.report").filter(has_text=first)).to_contain_text(RETURN_REASON)
    assert history(unit)[-1] == f"退回报送（{RETURN_REASON}）"
    screenshot(unit, "04-assignment-returned")

    # 3. The unit resubmits; the office accepts; the milestone is done and the task moves on.
    second = "已补充系统上线截图及数据归集清单"
    assert fill_report(unit, second, 60) == milestone
    expect(unit.get_by_text("报送已提交，等待审核。")).to_be_visible()
    review_in_queue(office, site, second, "通过")
    unit.reload()
    expect(fact(unit, "状态")).to_have_text(status_is("推进中"))
    expect(fact(unit, "进度")).to_have_text("60%")
    row = table_after(unit, "节点").locator("tbody tr").filter(has_text=milestone).first
    expect(row).to_contain_text("已完成")
    assert history(unit) == [
        "签收",
        "报送进展",
        f"退回报送（{RETURN_REASON}）",
        "报送进展",
        "审核通过",
    ]
    screenshot(unit, "05-assignment-accepted")
    unit.goto(f"{site.url}/my?view=all")
    task = unit.get_by_role("row").filter(
        has=unit.get_by_role("link", name=re.compile(rf"^{re.escape(site.item_label)}\. "))
    )
    expect(task).to_contain_text("推进中")
    expect(task).to_contain_text("60%")

    # 4. The accepted milestone (done late: it was due in May 2022) lifts the unit alone to
    #    the top of the ranking; everyone else now shares rank 2.
    after = ranking_rows(office, site)
    assert after[0][:2] == ["1", OWN_UNIT] and after[0][2] != "0.00", after
    assert all(row[0] == "2" for row in after[1:]), after
    screenshot(office, "07-dashboard-after")
    office.get_by_role("link", name=re.compile("^查看全部.*个单位的完整排名")).click()
    expect(office.locator("table").first).to_contain_text(OWN_UNIT)
    screenshot(office, "08-rankings")


def test_unit_cannot_open_another_units_assignment(
    live_site: LiveSite, new_context: NewContext, screenshot: Shot
) -> None:
    site = live_site
    unit = sign_in(new_context(), site, site.unit_username)
    response = unit.goto(f"{site.url}/assignments/{site.other_assignment_id}")
    assert response is not None and response.status == 403
    expect(unit.get_by_text("您没有权限访问此页面。")).to_be_visible()
    expect(unit.locator("body")).not_to_contain_text(OTHER_UNIT)
    screenshot(unit, "06-forbidden")


def test_login_with_the_keyboard_only(
    live_site: LiveSite, new_context: NewContext, screenshot: Shot
) -> None:
    site = live_site
    page = new_context().new_page()
    page.goto(f"{site.url}/login")
    screenshot(page, "00-login")
    username = page.get_by_label("用户名")
    username.focus()
    page.keyboard.type(site.unit_username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("密码", exact=True)).to_be_focused()
    page.keyboard.type(site.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{site.url}/my")  # unit staff land on 我的任务
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    expect(page.get_by_text("昆都仑区填报员")).to_be_visible()
