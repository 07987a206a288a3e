"""From the document to a tracked plan, in a browser: the office uploads a .docx plan (built
here with python-docx from public-style text, with a table and bracketed units), corrects one
cell beside the source, creates an unknown unit from the draft, confirms, publishes and sees
the assignments.

``test_a_docx_plan_becomes_a_published_plan`` needs the document parser (branches i14-flow and
i14-tables) and is skipped without it; ``test_the_draft_grid_is_corrected_and_confirmed`` works
on a draft built from taskhub.documents.model objects and runs everywhere.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from docx import Document
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.accounts.services import create_user
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.plans.seeds import load_seeds
from taskhub.units.models import City, UnitAlias, UnitGroup
from tests.browser.conftest import _build_app, serve
from tests.conftest import PASSWORD
from tests.test_document_pages import UNKNOWN, make_draft

Shot = Callable[[Page, str], Path]
NewContext = Callable[[], BrowserContext]

CITY = "baotou"
OFFICE = "doc-office"


@dataclass(frozen=True)
class Site:
    url: str
    app: Flask


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Baotou's seeded units (the plan's 各县（市、区）人民政府 is another name of its county
    group) and an office user, served on 127.0.0.1; a fresh one per test, so each journey
    meets 市大数据中心 as an unknown name."""
    app = _build_app(tmp_path_factory.mktemp("documents"))
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds")
        city = db.session.scalar(select(City).where(City.code == CITY))
        group = db.session.scalar(
            select(UnitGroup).where(
                UnitGroup.city_id == city.id, UnitGroup.name == "各旗县区人民政府"
            )
        )
        db.session.add(UnitAlias(city_id=city.id, name="各县(市、区)人民政府", group_id=group.id))
        create_user(username=OFFICE, password=PASSWORD, role="office", display_name="市督办室")
        db.session.commit()
        db.session.remove()
    with serve(app) as url:
        yield Site(url, app)


def sign_in(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(f"{url}/login")
    page.get_by_label("用户名").fill(OFFICE)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


TITLE = "包头市2027年数字政府建设工作要点"


def plan_docx(folder: Path) -> Path:
    """A plan as an office receives it: the cover letter, the title, numbered tasks with their
    units in brackets, and a table of tasks."""
    document = Document()
    for text in [
        "包头市人民政府办公室关于印发《包头市2027年数字政府建设工作要点》的通知",
        "包府办发〔2027〕12号",
        "各旗县区人民政府，市直各部门：",
        "现将《包头市2027年数字政府建设工作要点》印发给你们，请结合实际认真贯彻落实。",
        "包头市人民政府办公室",
        "2027年3月1日",
        TITLE,
        "一、提升政务服务水平",
        "1. 推进政务服务事项全程网办，2027年10月底前网办率达到90%以上"
        f"（牵头单位：市发改委；责任单位：各县（市、区）人民政府、{UNKNOWN}）。",
        "2. 优化营商环境，年底前实现企业开办一日办结（牵头单位：市审批服务局；"
        "责任单位：市市场监管局）。",
        "二、夯实数据资源基础",
    ]:
        document.add_paragraph(text)
    rows = [
        ["序号", "工作任务", "牵头单位", "完成时限"],
        ["3", "建设城市数据资源体系，推进政务数据归集共享", "市发改委", "2027年12月底前"],
        ["4", "完善政务云平台，提升网络安全防护能力", "市委网信办", "2027年9月底前"],
    ]
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    path = folder / "包头市2027年数字政府建设工作要点.docx"
    out = io.BytesIO()
    document.save(out)
    path.write_bytes(out.getvalue())
    return path


def correct_cell(page: Page, name: str, value: str) -> None:
    """Type into a grid cell and leave it: the page saves that cell on its own."""
    cell = page.locator(f'[name="{name}"]')
    cell.fill(value)
    cell.press("Tab")
    expect(page.locator("[data-save-status]")).to_have_text("已保存。")


def settle_and_confirm(page: Page, url: str, code: str, shot: Shot, prefix: str) -> None:
    """Create the unknown unit from the draft, confirm, publish, and see the assignments."""
    choice = page.locator(".unknown-names tr").filter(has_text=UNKNOWN)
    expect(choice.locator("select").first).to_have_value("department")  # guessed from 中心
    choice.get_by_role("radio", name=re.compile("^新建单位")).check()
    shot(page, f"{prefix}-3-unknown-unit")
    page.get_by_role("button", name="按所选处理并确认导入").click()
    expect(page).to_have_url(f"{url}/plans/{code}")
    expect(page.locator(".flash").first).to_contain_text("草稿")
    shot(page, f"{prefix}-4-plan-draft")
    page.get_by_role("button", name="发布").click()
    expect(page.locator(".flash").first).to_contain_text("发布")


def open_item(page: Page, site: Site, code: str, number: str) -> None:
    with site.app.app_context():
        item_id = db.session.scalar(
            select(Item.id).join(Plan).where(Plan.code == code, Item.code == number)
        )
        db.session.remove()
    page.goto(f"{site.url}/items/{item_id}#assignments")


def test_a_docx_plan_becomes_a_published_plan(
    site: Site, new_context: NewContext, screenshot: Shot, tmp_path: Path
) -> None:
    url = site.url
    page = sign_in(new_context(), url)

    # The Excel import page leads to its neighbour: the document import.
    page.goto(f"{url}/imports")
    page.get_by_role("link", name="从方案文件导入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("从方案文件导入")
    page.get_by_label("城市").select_option(CITY)
    page.get_by_label(re.compile("^方案文件")).set_input_files(plan_docx(tmp_path))
    screenshot(page, "document-0-upload")
    page.get_by_role("button", name="读取文件").click()

    # The draft: each task beside its source sentence, the unknown unit flagged.
    expect(page.get_by_role("heading", level=1)).to_contain_text("核对草稿")
    expect(page.locator("#head-title")).to_have_value(TITLE)
    first = page.locator("tr.draft-item").filter(has_text="推进政务服务事项全程网办").first
    expect(first.locator("mark.m-deadline")).to_have_text("2027年10月底前")
    expect(first.locator(".badge")).to_contain_text(["未识别单位"])
    expect(page.locator("tr.draft-item")).to_have_count(4)
    screenshot(page, "document-1-draft")

    # One correction: the table's task 4 is due a month later.
    row = page.locator("tr.draft-item").filter(has_text="完善政务云平台")
    name = row.locator("textarea[name$='-deadline_text']").get_attribute("name")
    assert name
    correct_cell(page, name, "2027年10月底前")
    page.reload()
    expect(page.locator(f'[name="{name}"]')).to_have_value("2027年10月底前")
    screenshot(page, "document-2-corrected")

    code = page.locator("#head-code").input_value()
    settle_and_confirm(page, url, code, screenshot, "document")
    open_item(page, site, code, "1")
    assignments = page.locator("#assignments ~ table")
    expect(assignments).to_contain_text(UNKNOWN)
    expect(assignments).to_contain_text("市发改委")
    expect(assignments).to_contain_text("昆都仑区人民政府")  # one of the county group
    screenshot(page, "document-5-assignments")


def test_the_draft_grid_is_corrected_and_confirmed(
    site: Site, new_context: NewContext, screenshot: Shot
) -> None:
    url = site.url
    with site.app.app_context():
        office = db.session.scalar(select(User).where(User.username == OFFICE))
        draft = make_draft(office)
        draft_id, code = draft.id, draft.data["code"]
        db.session.remove()
    page = sign_in(new_context(), url)
    page.goto(f"{url}/plan-drafts")
    page.get_by_role("link", name=re.compile("数字政府建设工作要点")).click()
    expect(page).to_have_url(f"{url}/plan-drafts/{draft_id}")
    screenshot(page, "document-grid-1-draft")

    # Only the items to check: the unknown unit's and the one without a lead.
    page.get_by_role("link", name=re.compile("^只看需要核对的")).click()
    expect(page.locator("tr.draft-item")).to_have_count(2)
    screenshot(page, "document-grid-2-to-check")

    # The task without a lead gets one; its flag goes as soon as the cell is saved.
    row = page.locator("tr.draft-item").filter(has_text="建设城市数据资源体系")
    expect(row.locator(".badge")).to_have_text(["无牵头单位"])
    lead = row.locator("textarea[name$='-lead_units']").get_attribute("name")
    assert lead
    correct_cell(page, lead, "市发改委")
    expect(row.locator(".badge")).to_have_count(0)
    page.reload()
    expect(page.locator("tr.draft-item")).to_have_count(1)

    settle_and_confirm(page, url, code, screenshot, "document-grid")
    open_item(page, site, code, "3")
    expect(page.locator("#assignments ~ table")).to_contain_text("市发改委")
    open_item(page, site, code, "1")
    expect(page.locator("#assignments ~ table")).to_contain_text(UNKNOWN)
    screenshot(page, "document-grid-5-assignments")
