"""A new city adopts TaskHub with nothing but a browser and the files its office already has.

Empty installation → the admin's setup checklist → create the city → import its units (with a
group written 各县(市、区)人民政府) → import its users → import the plan, creating an unknown unit
from the preview → publish → a unit user opens the invitation link, sets a password, sees the
unit's tasks and reports on one. Each Excel file is the downloaded template, filled in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask_migrate import upgrade
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, Page, expect

from taskhub.accounts.services import create_user
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.imports import units as units_import
from taskhub.imports import users as users_import
from taskhub.imports.plan_sheets import ITEM_SHEET, PLAN_SHEET, SECTION_SHEET
from taskhub.imports.workbook import SheetSpec
from tests.browser.conftest import _build_app, serve
from tests.conftest import PASSWORD

Shot = Callable[[Page, str], Path]
NewContext = Callable[[], BrowserContext]

CITY_CODE, CITY = "xinzhou", "新州市"
PLAN_CODE = "xinzhou-2026"
UNIT_USER, UNIT = "dongcheng", "东城区人民政府"
UNKNOWN = "市大数据中心"  # named by the plan, missing from the unit list: created from the preview
NEW_PASSWORD = "lotus harbour copper lantern"


@dataclass(frozen=True)
class EmptySite:
    url: str
    admin: str


@pytest.fixture(scope="module")
def empty_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmptySite]:
    """A migrated database with no seeds and one admin account (TASKHUB_SEEDS=none would make
    the same: the operator's first account), served on 127.0.0.1."""
    app = _build_app(tmp_path_factory.mktemp("new-city"))
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        create_user(username="setup-admin", password=PASSWORD, role="admin", display_name="管理员")
        db.session.commit()
        db.session.remove()
    with serve(app) as url:
        yield EmptySite(url=url, admin="setup-admin")


# --- helpers ------------------------------------------------------------------------------------


def sign_in(context: BrowserContext, url: str, username: str, password: str) -> Page:
    page = context.new_page()
    page.goto(f"{url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


def download(page: Page, button: str, folder: Path) -> Path:
    """Click a template download button and keep the file, as the office would."""
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def download_link(page: Page, link: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("link", name=link).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def fill(path: Path, rows: dict[SheetSpec, list[dict[str, Any]]]) -> Path:
    """Replace the template's example rows with ours, column by column as the template has them."""
    book = load_workbook(path)
    for spec, values in rows.items():
        ws = book[spec.name]
        headers = [str(c.value or "").rstrip("*") for c in ws[1]]
        if ws.max_row > 1:
            ws.delete_rows(2, ws.max_row - 1)
        for row in values:
            by_header = {c.header: row.get(c.key) for c in spec.columns}
            ws.append([by_header.get(h) for h in headers])
    book.save(path)
    return path


def setup_states(page: Page, url: str) -> list[str]:
    page.goto(f"{url}/setup")
    return [s.strip() for s in page.locator(".setup-state").all_inner_texts()]


# --- the journey --------------------------------------------------------------------------------


def test_a_new_city_from_an_empty_installation_to_a_unit_reporting(
    empty_site: EmptySite, new_context: NewContext, screenshot: Shot, tmp_path: Path
) -> None:
    url = empty_site.url

    # 0. The admin signs in to an empty installation and lands on the setup checklist.
    admin = sign_in(new_context(), url, empty_site.admin, PASSWORD)
    expect(admin).to_have_url(f"{url}/setup")
    expect(admin.get_by_role("heading", level=1)).to_have_text("启用向导")
    assert setup_states(admin, url) == ["未完成"] * 5
    screenshot(admin, "new-city-00-setup")

    # 1. Create the city from the checklist's first step.
    admin.get_by_role("link", name="创建城市").click()
    expect(admin).to_have_url(f"{url}/cities/new")
    admin.get_by_label("城市代码").fill(CITY_CODE)
    admin.get_by_label("城市名称").fill(CITY)
    admin.get_by_label("省份").fill("示范省")
    admin.get_by_role("button", name="创建城市").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text(CITY)

    # 2. Import the units: the template, filled in; a group written with brackets and 、.
    admin.goto(f"{url}/imports#units")
    admin.locator("#units-template-city").select_option(CITY_CODE)
    units_file = fill(
        download(admin, "下载单位导入模板", tmp_path),
        {
            units_import.UNIT_SHEET: [
                {"name": UNIT, "kind": "县(区)"},
                {"name": "西城区人民政府", "kind": "县(区)"},
                {"name": "南湖县人民政府", "kind": "县(区)"},
                {"name": "市政务服务数据管理局", "kind": "部门", "aliases": "市数据局"},
                {"name": "市发展和改革委员会", "kind": "部门", "aliases": "市发改委"},
                {"name": "市财政局", "kind": "部门"},
            ],
            units_import.ALIAS_SHEET: [],
            units_import.GROUP_SHEET: [
                {"name": "各县(市、区)人民政府", "rule": "县(区)", "source": "行政区划"},
            ],
        },
    )
    admin.locator("#units-city").select_option(CITY_CODE)
    admin.locator("#units-file").set_input_files(units_file)
    admin.locator("#units").get_by_role("button", name="上传并预览").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text(CITY)
    screenshot(admin, "new-city-01-units-preview")
    admin.get_by_role("button", name="确认导入").click()
    expect(admin.locator(".flash").first).to_contain_text(CITY)

    # 3. Import the users; the new unit user's one-time link is shown once.
    admin.goto(f"{url}/imports#users")
    users_file = fill(
        download_link(admin, "下载用户导入模板", tmp_path),
        {
            users_import.SHEET: [
                {"display_name": "王芳", "username": UNIT_USER, "role": "单位", "unit": UNIT},
                {"display_name": "李强", "username": "xz-office", "role": "督办室"},
            ]
        },
    )
    admin.locator("#users-file").set_input_files(users_file)
    admin.locator("#users-file").locator("xpath=ancestor::form").get_by_role(
        "button", name="上传并预览"
    ).click()
    admin.get_by_role("button", name="确认导入").click()
    link = admin.get_by_label(re.compile("^王芳 ?的邀请链接")).input_value()
    screenshot(admin, "new-city-02-users-invited")
    invitation_path = "/" + link.split("://", 1)[1].split("/", 1)[1]

    # 4. Import the plan: 各县(市、区)人民政府 is one name; an unknown unit is created from the
    #    preview (the import does not dead-end), and the plan comes in as a draft.
    admin.goto(f"{url}/imports")
    admin.locator("#template-city").select_option(CITY_CODE)
    plan_file = fill(
        download(admin, "下载方案导入模板", tmp_path),
        {
            PLAN_SHEET: [
                {
                    "code": PLAN_CODE,
                    "title": "新州市2026年数字政府建设工作要点",
                    "city": CITY,
                    "year": 2026,
                    "kind": "任务方案",
                }
            ],
            SECTION_SHEET: [{"key": "1", "number": "一、", "title": "提升政务服务水平"}],
            ITEM_SHEET: [
                {
                    "section": "1",
                    "number": "1",
                    "text": "推进政务服务事项全程网办，年底前网办率达到90%。",
                    "deadline": "年底前",
                    "lead": "各县(市、区)人民政府",
                    "responsible": "市数据局",
                },
                {
                    "section": "1",
                    "number": "2",
                    "text": "建设城市数据资源体系，归集共享政务数据。",
                    "deadline": "12月底前",
                    "lead": UNKNOWN,
                    "responsible": "市发改委及市财政局",
                },
            ],
        },
    )
    admin.locator("#plan-file").set_input_files(plan_file)
    admin.locator("#plan-file").locator("xpath=ancestor::form").get_by_role(
        "button", name="上传并预览"
    ).click()
    choices = admin.locator("tr").filter(has_text=UNKNOWN).filter(has=admin.get_by_role("radio"))
    expect(choices.locator("select").first).to_have_value("department")  # guessed from 中心
    screenshot(admin, "new-city-03-plan-preview-unknown-name")
    choices.get_by_role("radio", name=re.compile("^新建单位")).check()
    admin.get_by_role("button", name="按所选处理并确认导入").click()
    expect(admin).to_have_url(f"{url}/plans/{PLAN_CODE}")
    expect(admin.locator(".flash").first).to_contain_text("草稿")

    # 5. Publish: the tasks go out to every county government and the named departments.
    admin.get_by_role("button", name="发布").click()
    expect(admin.locator(".flash").first).to_contain_text("发布")
    screenshot(admin, "new-city-04-published")
    assert setup_states(admin, url) == ["已完成"] * 5
    screenshot(admin, "new-city-05-setup-done")

    # 6. The unit user opens the invitation, sets a password and sees the unit's task.
    unit = new_context().new_page()
    unit.goto(url + invitation_path)
    unit.locator("#password").fill(NEW_PASSWORD)
    unit.locator("#confirm_password").fill(NEW_PASSWORD)
    unit.get_by_role("button", name="设置密码并登录").click()
    expect(unit).to_have_url(f"{url}/my")
    expect(unit.get_by_role("heading", level=1)).to_contain_text(UNIT)
    task = unit.get_by_role("link", name=re.compile(r"^1\. "))
    expect(task).to_be_visible()
    screenshot(unit, "new-city-06-my-tasks")

    # 7. ... acknowledges and reports on it.
    task.click()
    unit.get_by_role("button", name="签收").click()
    expect(unit.get_by_text("已签收。", exact=True)).to_be_visible()
    unit.get_by_label("工作进展").fill("已梳理全区政务服务事项，网办率达到75%")
    unit.get_by_label("完成进度（%）").fill("40")
    unit.get_by_role("button", name="提交审核").click()
    expect(unit.get_by_text("报送已提交，等待审核。")).to_be_visible()
    screenshot(unit, "new-city-07-reported")

    # The invitation link worked once: opening it again is refused.
    again = new_context().new_page()
    response = again.goto(url + invitation_path)
    assert response is not None and response.status == 410
