"""The supervision loop end to end in a real browser, as the real roles see it (in Chinese):
交办 → 签收 → 分解 → 协办 → 督办单 → 反馈 → 办结 → 销号.

Hegang item 2 (加强信息化项目统筹管理力度) is published by the seeds with 市营商环境局 leading and
the districts and city bodies co-handling (交办). The office sets the plan's monthly reporting
cadence, which names the co-handling round; the lead unit acknowledges and decomposes the task
into a sub-task for 市大数据中心, which acknowledges and reports, and the lead accepts; 向阳区
gives its 协办意见; the office issues a 督办单 and downloads it as Word; the lead unit answers it,
applies to close (办结) with its closing report and evidence, and the office signs off (销号).
The task then leaves the open lists, counts as completed, and its history tells every step in
Chinese, in order. Hegang is used by no other browser test.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import LiveSite
from tests.browser.test_journey import PDF, fact, history, sign_in

Shot = Callable[[Page, str], Path]
TASK = re.compile(r"^2\. 加强信息化项目统筹管理力度")
CO_UNIT = "向阳区人民政府"
SUB_UNIT = "市大数据中心"


def shot(screenshot: Shot, page: Page, name: str) -> None:
    screenshot(page, f"supervision-journey-{name}")


def docx_text(data: bytes) -> str:
    """The words of a Word file's body (runs joined), after checking it is a real .docx."""
    with zipfile.ZipFile(io.BytesIO(data)) as docx:
        assert "[Content_Types].xml" in docx.namelist()
        xml = docx.read("word/document.xml").decode("utf-8")
    return "".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", xml))


def completed_in_area(page: Page, url: str) -> int:
    """The plan dashboard's count of completed tasks in the item's area (二、工作任务)."""
    page.goto(f"{url}/plans/hegang-2022/dashboard")
    row = page.locator("#table-areas tbody tr").filter(has_text="工作任务")
    return int(row.locator("td[data-bucket=done]").inner_text().split()[0])


def test_the_supervision_loop_end_to_end(
    live_site: LiveSite, new_context: Callable[[], BrowserContext], screenshot: Shot
) -> None:
    site = live_site
    # 交办: the office sees the published plan's item with its lead and co-handling units, and
    # sets the plan's reporting cadence (the co-handling parts are given per reporting round).
    office = sign_in(new_context(), site, site.office_username)
    office.goto(f"{site.url}/plans/hegang-2022")
    office.get_by_role("link", name="报送周期").click()
    office.get_by_label("周期", exact=True).select_option(label="每月")
    office.get_by_role("button", name="保存报送周期").click()
    expect(office.locator(".flash.success")).to_contain_text("报送周期已保存")

    # 签收 and 分解: the lead unit acknowledges its task and gives a part to 市大数据中心.
    lead = sign_in(new_context(), site, "hg-lead")
    lead.goto(f"{site.url}/my?view=all")
    lead.get_by_role("link", name=TASK).first.click()
    task_url = lead.url
    expect(fact(lead, "状态")).to_contain_text("未签收")
    lead.get_by_role("button", name="签收").click()
    expect(lead.get_by_text("已签收。", exact=True)).to_be_visible()
    shot(screenshot, lead, "01-lead-acknowledged")
    panel = lead.locator("#subtasks")
    panel.locator("#st-text").fill("完成市级政务信息化项目清单梳理，形成统筹台账")
    panel.get_by_label("承办单位（其他单位）").select_option(label=SUB_UNIT)
    panel.get_by_label("目标").fill("项目台账覆盖率100%")
    panel.locator("#st-ms-title-0").fill("形成项目统筹台账")
    panel.locator("#st-ms-due-0").fill("2026-12-31")
    shot(screenshot, lead, "02-decompose-form")
    panel.get_by_role("button", name="添加分解任务").click()
    expect(lead.get_by_text("分解任务已添加，已通知承办单位。")).to_be_visible()
    expect(panel.locator("table.subtasks")).to_contain_text(SUB_UNIT)

    # The sub-task's unit acknowledges and reports it done, with evidence.
    sub = sign_in(new_context(), site, "hg-sub")
    sub.goto(f"{site.url}/subtasks")
    shot(screenshot, sub, "03-subtask-list")
    sub.get_by_role("link", name=re.compile("^完成市级政务信息化项目清单梳理")).click()
    sub.get_by_role("button", name="签收").click()
    expect(sub.get_by_text("已签收。")).to_be_visible()
    sub.get_by_label("工作进展").fill("已梳理市级政务信息化项目86个，形成统筹台账。")
    sub.locator("#r-percent").fill("100")
    sub.locator("#r-files").set_input_files(
        files=[{"name": "项目统筹台账.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    sub.get_by_role("button", name="提交审核").click()
    expect(sub.get_by_text("报送已提交，等待审核。")).to_be_visible()
    shot(screenshot, sub, "04-subtask-report")

    # The lead unit accepts: the sub-task is complete and the roll-up is 100%.
    lead.goto(f"{site.url}/subtasks")
    lead.get_by_role("link", name=re.compile("完成市级政务信息化项目清单梳理")).first.click()
    lead.get_by_role("button", name="通过").click()
    expect(lead.get_by_text("审核结果已保存。")).to_be_visible()
    expect(lead.locator(".subtask-state")).to_contain_text("已完成 · 100%")
    lead.goto(task_url)
    expect(lead.locator("#subtasks")).to_contain_text("分解任务汇总进度：100%")
    expect(lead.locator("#cohandle .missing-parts")).to_contain_text(CO_UNIT)

    # 协办: the co-handling unit gives its part on its own task page.
    co = sign_in(new_context(), site, "hg-co")
    co.goto(f"{site.url}/my?view=all")
    co.get_by_role("link", name=TASK).first.click()
    co_panel = co.locator("#cohandle")
    expect(co_panel).to_contain_text("市营商环境局")
    co_panel.locator("#co-text").fill("已配合提供本区信息化项目清单12项。")
    shot(screenshot, co, "05-co-handling-part")
    co_panel.get_by_role("button", name="提交协办意见").click()
    expect(co.locator(".flash.success")).to_be_visible()
    lead.goto(task_url)
    expect(lead.locator("#cohandle")).to_contain_text("已配合提供本区信息化项目清单12项。")
    expect(lead.locator("#cohandle .missing-parts")).not_to_contain_text(CO_UNIT)
    lead.locator("#cohandle").scroll_into_view_if_needed()
    shot(screenshot, lead, "06-lead-sees-co-parts")

    # 督办单: the office issues a notice and downloads it as a Word document.
    office.goto(task_url)
    escalations = office.locator("#escalations")
    escalations.get_by_text("发出督办单").click()
    escalations.locator("#esc-level").select_option(value="supervise")
    escalations.locator("#esc-action").fill("请于3个工作日内报送项目统筹台账落实情况。")
    escalations.get_by_role("button", name="发出").click()
    notice = office.locator("#escalations .escalation").first
    expect(notice).to_contain_text(re.compile(r"督办〔\d{4}〕\d+号"))
    number = re.search(r"督办〔\d{4}〕\d+号", notice.inner_text())
    assert number is not None
    shot(screenshot, office, "07-notice-issued")
    with office.expect_download() as download:
        notice.get_by_role("link", name="督办通知单（Word）").click()
    assert download.value.suggested_filename.endswith(".docx")
    words = docx_text(Path(download.value.path()).read_bytes())
    assert number.group(0) in words
    assert "市营商环境局" in words and "请于3个工作日内报送项目统筹台账落实情况" in words

    # 反馈: the lead unit answers the notice.
    lead.goto(task_url)
    lead_notice = lead.locator("#escalations .escalation").first
    lead_notice.locator("textarea[name=answer]").fill("已召开专题会议，台账已报送，按期办结。")
    lead_notice.get_by_role("button", name="提交反馈").click()
    expect(lead.locator("#escalations .escalation").first).to_contain_text("已反馈")
    shot(screenshot, lead, "08-notice-answered")

    # 办结: the lead unit applies to close with its closing report and evidence.
    lead.get_by_text("申请办结：填写办结报告并上传佐证材料").click()
    lead.get_by_label("办结报告（完成情况）").fill("项目统筹管理机制已建立，分解任务全部完成。")
    lead.locator("#c-files").set_input_files(
        files=[{"name": "办结报告.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    shot(screenshot, lead, "09-apply-to-close")
    lead.get_by_role("button", name="申请办结").click()
    expect(lead.get_by_text("办结报告已报送，待督查办审核销号。")).to_be_visible()
    expect(lead.locator("#settle")).to_contain_text("待销号")

    # 销号: the office finds it in 待审核 and signs it off.
    done_before = completed_in_area(office, site.url)
    office.goto(f"{site.url}/review")
    expect(office.get_by_text("办结报告·待销号").first).to_be_visible()
    office.goto(task_url)
    office.get_by_role("button", name="通过").first.click()
    expect(office.locator("#settle")).to_contain_text("已销号")
    shot(screenshot, office, "10-signed-off")
    # It counts as completed on the plan's dashboard (its area's 已完成 column).
    assert completed_in_area(office, site.url) == done_before + 1

    # Closed: out of the open lists, completed, and the history tells the loop in order.
    lead.goto(f"{site.url}/my")
    expect(lead.get_by_role("link", name=TASK)).to_have_count(0)
    lead.goto(f"{site.url}/my?view=completed")
    expect(lead.get_by_role("link", name=TASK).first).to_be_visible()
    lead.goto(task_url)
    expect(fact(lead, "状态")).to_contain_text("已完成")
    # A settled task asks no co-handling unit for its part any more, but keeps the parts given.
    expect(lead.locator("#cohandle")).to_contain_text("已配合提供本区信息化项目清单12项。")
    expect(lead.locator("#cohandle .missing-parts")).to_have_count(0)
    expect(lead.locator("table.history")).to_contain_text(
        "协办意见：已配合提供本区信息化项目清单12项。"
    )
    steps = history(lead)
    shot(screenshot, lead, "11-history")
    assert steps == [
        "签收",
        "分解任务",
        "签收分解任务",
        "报送分解任务进展",
        "审核通过分解任务报送",
        "提交协办意见",
        "发出督办单",
        "反馈督办单",
        "报送进展",
        "审核通过",
        "审核销号",
    ]
