"""Excel in: plan and contact workbooks built with openpyxl, uploaded, previewed and confirmed
over HTTP, checked against what the database holds afterwards.

Problem messages are translated strings; tests that read them switch the UI to English so they
hold whatever the Chinese catalogue says. Sheet and column names are Chinese in every language.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import io
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.imports import contacts as contacts_import
from taskhub.imports import plan_sheets
from taskhub.imports.workbook import MAX_ROWS, SheetSpec
from taskhub.plans.models import Item, ItemUnit, Plan, Section
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, ItemMilestone
from taskhub.units.models import Contact, UnitGroup
from tests.conftest import unit_named

CODE = "hegang-2024-import"
PLAN_ROW = {
    "code": CODE,
    "title": "鹤岗市2024年数字政府建设工作要点",
    "city": "鹤岗市",
    "document_number": "鹤政办发〔2024〕3号",
    "issued_on": "2024-03-01",
    "year": 2024,
    "kind": "任务方案",
    "points": 100,
}
SECTIONS = [
    {"key": "1", "number": "一", "title": "政务服务", "points": 60},
    {"key": "1.1", "parent": "1", "number": "（一）", "title": "一网通办", "points": 40},
    {"key": "2", "number": "二", "title": "数据共享"},
]
ITEMS = [
    {
        "section": "1.1",
        "number": 1,
        "title": "事项标准化",
        "text": "梳理政务服务事项，统一办理要素。",
        "points": 12.5,
        "deadline": "6月底完成",
        "lead": "市营商环境局",
        # An alias: 市场监管局 is 市市场监管局.
        "responsible": "市场监管局、市财政局",
    },
    {
        "section": "1",
        "number": 2,
        "text": "推进高频事项“跨省通办”。",
        "points": 10,
        "deadline": "5月底取得阶段性成效并持续推进",
        "lead": "市营商环境局",
        # A group: every county-level government of Hegang.
        "responsible": "各县(区)政府",
        "lead_assessors": "市委编办",
    },
    {
        "section": "2",
        "number": 3,
        "text": "完善政务数据共享目录。",
        "deadline": "年内逐步落实",  # not a phrase TaskHub reads: kept and flagged
        "lead": "市大数据中心",
    },
]


# --- helpers ---------------------------------------------------------------------------


def visible(page: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def sheet_rows(spec: SheetSpec, rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Header row (as the template writes it) and data rows in the spec's column order."""
    header = [c.header + ("*" if c.required else "") for c in spec.columns]
    return [header] + [[row.get(c.key) for c in spec.columns] for row in rows]


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def plan_file(
    plan: dict[str, Any] | None = None,
    sections: Sequence[dict[str, Any]] = SECTIONS,
    items: Sequence[dict[str, Any]] = ITEMS,
) -> bytes:
    return workbook(
        {
            "方案": sheet_rows(plan_sheets.PLAN_SHEET, [plan or PLAN_ROW]),
            "章节": sheet_rows(plan_sheets.SECTION_SHEET, sections),
            "事项": sheet_rows(plan_sheets.ITEM_SHEET, items),
        }
    )


def contacts_file(rows: Sequence[dict[str, Any]]) -> bytes:
    return workbook({"联系人": sheet_rows(contacts_import.SHEET, rows)})


def upload(client: FlaskClient, url: str, data: bytes, name: str = "导入.xlsx") -> TestResponse:
    return client.post(
        url, data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def confirm_fields(page: str) -> dict[str, str]:
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', page)
    name = re.search(r'name="name" value="([^"]*)"', page)
    assert sha and name, "the page has no confirm form"
    return {"sha256": sha.group(1), "name": html_lib.unescape(name.group(1))}


def error_rows(page: str) -> list[tuple[str, str, str, str]]:
    """(sheet, row, column, problem) of each line of the error report."""
    table = page.split('class="responsive import-errors"')[1].split("</table>")[0]
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
        cells = [visible(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        out.append((cells[0], cells[1], cells[2], cells[3]))
    return out


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def import_plan(client: FlaskClient, data: bytes) -> str:
    """Upload, check the preview offers the import, confirm; the plan page's text."""
    preview = upload(client, "/imports/plan", data)
    assert preview.status_code == 200, visible(preview.get_data(as_text=True))
    # Importing over a published plan is a revision: the form asks for its reason.
    done = client.post(
        "/imports/plan/confirm",
        data={**confirm_fields(preview.get_data(as_text=True)), "reason": "按新文件修订"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert done.request.path == f"/plans/{CODE}"
    # A new plan is imported as a draft; publishing it creates the units' tasks.
    if db.session.scalar(select(Plan.status).where(Plan.code == CODE)) == "draft":
        done = client.post(f"/plans/{CODE}/publish", follow_redirects=True)
        assert done.request.path == f"/plans/{CODE}", visible(done.get_data(as_text=True))
    return visible(done.get_data(as_text=True))


@pytest.fixture
def english(client: FlaskClient) -> None:
    client.get("/lang/en")


# --- templates -------------------------------------------------------------------------


def test_plan_template_opens_in_openpyxl_with_headers_notes_and_the_citys_names(client, login_as):
    login_as("office")
    response = client.get("/imports/plan/template.xlsx?city=hegang")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    assert book.sheetnames == ["方案", "章节", "事项", "说明", "单位名称"]
    headers = {
        name: [c for c in next(book[name].iter_rows(values_only=True))]
        for name in book.sheetnames[:3]
    }
    assert headers["方案"][:3] == ["方案代码*", "方案名称*", "城市*"]
    assert {"文号", "年度*", "类型*", "总分"} <= set(headers["方案"])
    assert {"章节代码*", "上级章节代码", "编号", "名称*", "分值"} <= set(headers["章节"])
    assert {
        "章节代码*",
        "序号",
        "内容*",
        "分值",
        "完成时限",
        "牵头单位",
        "责任单位",
        "牵头考核单位",
    } <= set(headers["事项"])
    example = list(book["事项"].iter_rows(min_row=2, values_only=True))
    assert len(example) == 1 and example[0][headers["事项"].index("完成时限")] == "6月底完成"
    notes = [r[1] for r in book["说明"].iter_rows(values_only=True) if len(r) > 1 and r[1]]
    assert "牵头考核单位" in notes and "完成时限" in notes
    names = {r[0] for r in book["单位名称"].iter_rows(min_row=2, values_only=True)}
    assert {"市营商环境局", "各县(区)政府"} <= names
    book.close()


def test_the_plan_templates_example_previews_as_a_valid_new_plan(client, login_as):
    login_as("office")
    template = client.get("/imports/plan/template.xlsx?city=hegang").data
    page = upload(client, "/imports/plan", template, "方案导入模板.xlsx")
    assert page.status_code == 200, visible(page.get_data(as_text=True))
    assert confirm_fields(page.get_data(as_text=True))["sha256"]
    assert count(Plan, Plan.code == "hegang-example") == 0  # a preview writes nothing


def test_contacts_template_has_the_contact_fields(client, login_as):
    login_as("unit", unit_named("市财政局", "hegang"))
    response = client.get("/imports/contacts/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    rows = list(book["联系人"].iter_rows(values_only=True))
    assert rows[0] == ("单位*", "城市", "姓名*", "职务", "办公电话", "手机", "邮箱", "机器人地址")
    assert rows[1][0] == "市财政局" and rows[1][1] == "鹤岗市"  # the unit user's own unit
    book.close()


# --- plan import -----------------------------------------------------------------------


def test_a_valid_plan_previews_then_imports_in_full(client, login_as):
    office = login_as("office")
    client.get("/lang/en")
    preview = upload(client, "/imports/plan", plan_file())
    page = visible(preview.get_data(as_text=True))
    assert preview.status_code == 200
    assert "A new plan will be created." in page
    assert re.search(r"Sections 3 0 0 Items 3 0 0", page), page
    # 1 lead + 2 responsible, 1 lead + 1 group + 1 lead assessor, 1 lead.
    assert re.search(r"Unit links \(lead, responsible, lead assessment\) 7 — 0", page)
    counties = len(
        db.session.scalars(select(UnitGroup).where(UnitGroup.name == "各县(区)政府")).one().members
    )
    assert re.search(rf"Assignments to units {3 + 1 + counties + 1} — 0", page)
    flagged = preview.get_data(as_text=True).split("cannot read into milestones")[1]
    assert re.findall(r'<span class="tag">([^<]+)</span>', flagged.split("</p>")[0]) == ["3"]
    assert count(Plan, Plan.code == CODE) == 0

    text = import_plan(client, plan_file())
    assert "鹤岗市2024年数字政府建设工作要点" in text

    plan = db.session.scalars(select(Plan).where(Plan.code == CODE)).one()
    assert (plan.year, plan.kind, plan.points) == (2024, "tasks", Decimal(100))
    assert plan.document_number == "鹤政办发〔2024〕3号" and str(plan.issued_on) == "2024-03-01"
    sections = {
        s.number: s for s in db.session.scalars(select(Section).where(Section.plan_id == plan.id))
    }
    assert sections["（一）"].parent_id == sections["一"].id and sections["（一）"].points == 40
    items = {i.code: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))}
    assert set(items) == {"1", "2", "3"}
    assert items["1"].points == Decimal("12.5") and items["1"].section_id == sections["（一）"].id
    assert items["3"].is_deadline_unparsed and items["3"].deadline_phrase == "年内逐步落实"
    roles = {
        (u.role, u.name)
        for u in db.session.scalars(select(ItemUnit).where(ItemUnit.item_id == items["1"].id))
    }
    assert roles == {
        ("lead", "市营商环境局"),
        ("responsible", "市市场监管局"),
        ("responsible", "市财政局"),
    }
    assigned = {
        (a.unit.name, a.role)
        for a in db.session.scalars(select(Assignment).where(Assignment.item_id == items["2"].id))
    }
    assert ("市营商环境局", "lead") in assigned and ("萝北县人民政府", "responsible") in assigned
    assert len(assigned) == 1 + counties
    assert count(ItemMilestone, ItemMilestone.item_id == items["1"].id) == 1  # 6月底完成
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "import.plan")).one()
    assert event.actor_id == office.id
    assert event.after["plan"] == CODE and event.after["items_added"] == 3
    assert event.after["file"] == "导入.xlsx"
    history = visible(client.get("/imports").get_data(as_text=True))
    assert CODE in history and "导入.xlsx" in history


def test_importing_the_same_file_twice_changes_nothing(client, login_as):
    login_as("office")
    client.get("/lang/en")
    import_plan(client, plan_file())
    plan = db.session.scalars(select(Plan).where(Plan.code == CODE)).one()
    state = (plan.updated_at, count(Item), count(Assignment), count(ItemUnit), count(AuditEvent))

    # A new save of the same content (other bytes: openpyxl stamps the time) previews as no change.
    data = plan_file()
    again = upload(client, "/imports/plan", data)
    page = again.get_data(as_text=True)
    assert again.status_code == 200
    assert "No changes: the plan already matches this file." in visible(page)
    assert 'name="sha256"' not in page  # nothing to confirm
    # Posting the confirmation anyway writes nothing either.
    done = client.post(
        "/imports/plan/confirm",
        data={"sha256": hashlib.sha256(data).hexdigest(), "name": "x.xlsx"},
        follow_redirects=True,
    )
    assert "Nothing was imported" in visible(done.get_data(as_text=True))
    db.session.expire_all()
    plan = db.session.scalars(select(Plan).where(Plan.code == CODE)).one()
    assert (
        plan.updated_at,
        count(Item),
        count(Assignment),
        count(ItemUnit),
        count(AuditEvent),
    ) == state


def test_a_changed_file_updates_the_plan_and_says_what_changes(client, login_as):
    login_as("office")
    client.get("/lang/en")
    import_plan(client, plan_file())
    items = [dict(ITEMS[0], text="梳理政务服务事项，统一办理要素和流程。"), ITEMS[1]]  # 3 removed
    preview = upload(client, "/imports/plan", plan_file(items=items))
    page = visible(preview.get_data(as_text=True))
    assert "The existing plan will be updated." in page
    assert re.search(r"Items 0 1 1", page), page
    import_plan(client, plan_file(items=items))
    codes = set(db.session.scalars(select(Item.code).join(Plan).where(Plan.code == CODE)))
    assert codes == {"1", "2"}
    assert (
        db.session.scalars(select(Item.text).join(Plan).where(Plan.code == CODE, Item.code == "1"))
        .one()
        .endswith("和流程。")
    )


def test_an_item_with_progress_reports_cannot_be_dropped(client, login_as, app):
    login_as("office")
    client.get("/lang/en")
    import_plan(client, plan_file())
    assignment = db.session.scalars(
        select(Assignment).join(Item).join(Plan).where(Plan.code == CODE, Item.code == "3")
    ).one()
    from tests.conftest import make_user

    staff = make_user("unit", assignment.unit, "import-reporter")
    tracking.submit_report(
        assignment,
        actor=staff,
        progress="已启动",
        percent=10,
        storage=storage_for(app.config),
        max_bytes=1024,
    )
    db.session.commit()
    response = upload(client, "/imports/plan", plan_file(items=ITEMS[:2]))
    assert response.status_code == 422
    (row,) = error_rows(response.get_data(as_text=True))
    assert row[0] == "事项" and "3" in row[3] and "reported progress" in row[3]


def test_three_bad_rows_are_all_reported_and_nothing_is_written(client, login_as, english):
    login_as("office")
    items = [
        ITEMS[0],
        dict(ITEMS[1], points="十分"),
        dict(ITEMS[2], lead="市大数局"),  # no such unit
        {"section": "9", "number": 4, "text": "", "lead": "市财政局"},  # no section, no text
    ]
    audits = count(AuditEvent)
    response = upload(client, "/imports/plan", plan_file(items=items))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "4 problems found: nothing has been imported." in visible(page)
    rows = error_rows(page)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("事项", "3", "分值"),
        ("事项", "4", "牵头单位"),
        ("事项", "5", "章节代码"),
        ("事项", "5", "内容"),
    ]
    assert "十分" in rows[0][3] and "not a number" in rows[0][3]
    assert "市大数局" in rows[1][3] and "鹤岗市" in rows[1][3]
    assert 'name="sha256"' not in page
    assert count(Plan, Plan.code == CODE) == 0 and count(AuditEvent) == audits


def test_errors_name_sheet_row_and_column_in_chinese(client, login_as):
    """Default language: the location columns are the workbook's Chinese names."""
    login_as("office")
    response = upload(
        client, "/imports/plan", plan_file(items=[dict(ITEMS[0], responsible="市场监督局")])
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    ((sheet, row, column, problem),) = error_rows(page)
    assert (sheet, row, column) == ("事项", "2", "责任单位") and "市场监督局" in problem


def test_plan_rows_are_checked_cell_by_cell(client, login_as, english):
    login_as("office")
    plan = dict(PLAN_ROW, city="鹤城", year="二〇二四", kind="计划", points=50)
    response = upload(client, "/imports/plan", plan_file(plan=plan))
    rows = error_rows(response.get_data(as_text=True))
    assert {(r[0], r[2]) for r in rows} == {("方案", "城市"), ("方案", "年度"), ("方案", "类型")}

    # The budget rule of the seed loader, reported on the cell that breaks it.
    sections = [dict(SECTIONS[0], points=20), *SECTIONS[1:]]
    rows = error_rows(
        upload(client, "/imports/plan", plan_file(sections=sections)).get_data(as_text=True)
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [("章节", "2", "分值")]
    assert "50" in rows[0][3] and "20" in rows[0][3]  # 40 (sub-section 1.1) + 10 (item 2)

    # Seeded plans belong to their seed files.
    rows = error_rows(
        upload(
            client, "/imports/plan", plan_file(plan=dict(PLAN_ROW, code="hegang-2022"))
        ).get_data(as_text=True)
    )
    assert rows[0][2] == "方案代码" and "seed" in rows[0][3]


@pytest.mark.parametrize("year", ["²⁰²⁴", "①"])
def test_a_year_of_digits_int_cannot_read_is_a_cell_error(client, login_as, english, year):
    """「²⁰²⁴」 is digits to str.isdigit, not to int(): the cell is named, not a 500."""
    login_as("office")
    response = upload(client, "/imports/plan", plan_file(plan=dict(PLAN_ROW, year=year)))
    assert response.status_code == 422
    rows = error_rows(response.get_data(as_text=True))
    assert [(r[0], r[2]) for r in rows] == [("方案", "年度")]


def test_unit_staff_and_viewers_cannot_import_plans(client, login_as):
    login_as("unit", unit_named("市财政局", "hegang"))
    assert client.get("/imports/plan/template.xlsx").status_code == 403
    assert upload(client, "/imports/plan", plan_file()).status_code == 403
    assert client.post("/imports/plan/confirm", data={"sha256": "0" * 64}).status_code == 403
    page = client.get("/imports")
    assert page.status_code == 200 and "/imports/plan" not in page.get_data(as_text=True)
    assert count(Plan, Plan.code == CODE) == 0


@pytest.mark.parametrize("role", ["viewer", "assessor"])
def test_viewers_and_assessors_have_no_import_page(client, login_as, role):
    login_as(role)
    assert client.get("/imports").status_code == 403
    assert upload(client, "/imports/contacts", contacts_file([])).status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client, session):
    response = client.get("/imports")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- file problems ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "plan.xlsx", "is empty"),
        (b"%PDF-1.4\n%%EOF\n" + b"0" * 200, "plan.pdf", "is not an Excel .xlsx file"),
        ("单位,姓名\n市财政局,张三\n".encode(), "plan.csv", "is not an Excel .xlsx file"),
        (b"PK\x03\x04 this is no zip at all" + b"0" * 100, "plan.xlsx", "damaged"),
    ],
)
def test_unusable_files_get_a_clear_message(client, login_as, english, data, name, message):
    login_as("office")
    response = upload(client, "/imports/plan", data, name)
    assert response.status_code == 422
    page = visible(response.get_data(as_text=True))
    assert message in page, page


def test_missing_file_sheet_and_columns_are_explained(client, login_as, english):
    login_as("office")
    response = client.post("/imports/plan", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose an .xlsx file to upload." in visible(response.get_data(as_text=True))

    no_items = workbook(
        {
            "方案": sheet_rows(plan_sheets.PLAN_SHEET, [PLAN_ROW]),
            "章节": sheet_rows(plan_sheets.SECTION_SHEET, SECTIONS),
        }
    )
    page = visible(upload(client, "/imports/plan", no_items).get_data(as_text=True))
    assert "The workbook has no sheet 「事项」" in page

    header = [
        h for h in sheet_rows(plan_sheets.ITEM_SHEET, [])[0] if h not in ("内容*", "章节代码*")
    ]
    bad_header = workbook(
        {
            "方案": sheet_rows(plan_sheets.PLAN_SHEET, [PLAN_ROW]),
            "章节": sheet_rows(plan_sheets.SECTION_SHEET, SECTIONS),
            "事项": [header],
        }
    )
    page = visible(upload(client, "/imports/plan", bad_header).get_data(as_text=True))
    assert "Sheet 「事项」, row 1: the columns 「章节代码」、「内容」 are missing." in page

    empty = workbook({"方案": [], "章节": [], "事项": []})
    page = visible(upload(client, "/imports/plan", empty).get_data(as_text=True))
    assert "Sheet 「方案」 is empty" in page


def test_too_many_rows_and_too_large_files_are_refused(client, login_as, english, app, monkeypatch):
    login_as("office")
    rows = [
        {"unit": "市财政局", "name": f"联系人{n}", "mobile": "13800000000"}
        for n in range(MAX_ROWS + 1)
    ]
    response = upload(client, "/imports/contacts", contacts_file(rows))
    assert response.status_code == 422
    assert f"has more than {MAX_ROWS} rows of data" in visible(response.get_data(as_text=True))

    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 1024)
    response = upload(client, "/imports/plan", plan_file())
    assert response.status_code == 422
    assert "over the limit of 1 KB" in visible(response.get_data(as_text=True))


def test_a_confirmation_needs_the_kept_upload(client, login_as, english):
    login_as("office")
    for sha in ("../../etc/passwd", "f" * 64):
        response = client.post("/imports/plan/confirm", data={"sha256": sha, "name": "x.xlsx"})
        assert response.status_code == 422
        assert "no longer available" in visible(response.get_data(as_text=True))


def test_forms_need_the_csrf_token(client, login_as, app, monkeypatch):
    login_as("office")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert upload(client, "/imports/plan", plan_file()).status_code == 400
    page = client.get("/imports").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/imports/plan",
        data={"file": (io.BytesIO(plan_file()), "plan.xlsx"), "csrf_token": token.group(1)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    fields = confirm_fields(response.get_data(as_text=True))
    assert client.post("/imports/plan/confirm", data=fields).status_code == 400
    assert count(Plan, Plan.code == CODE) == 0


# --- contacts --------------------------------------------------------------------------

CONTACTS = [
    {
        "unit": "市财政局",
        "city": "鹤岗市",
        "name": "王芳",
        "position": "科长",
        "office_phone": "0468-3456789",
        "mobile": 13904680001,
        "email": "wangfang@example.org",
    },
    {"unit": "市场监管局", "city": "鹤岗市", "name": "李强", "mobile": "13904680002"},
]


def contact(unit: str, name: str) -> Contact | None:
    db.session.expire_all()
    return db.session.scalars(
        select(Contact).where(
            Contact.unit_id == unit_named(unit, "hegang").id, Contact.name == name
        )
    ).one_or_none()


def import_contacts(client: FlaskClient, data: bytes) -> str:
    preview = upload(client, "/imports/contacts", data)
    assert preview.status_code == 200, visible(preview.get_data(as_text=True))
    done = client.post(
        "/imports/contacts/confirm",
        data=confirm_fields(preview.get_data(as_text=True)),
        follow_redirects=True,
    )
    assert done.status_code == 200
    return visible(done.get_data(as_text=True))


def test_contacts_preview_then_import(client, login_as, english):
    office = login_as("office")
    preview = visible(
        upload(client, "/imports/contacts", contacts_file(CONTACTS)).get_data(as_text=True)
    )
    assert "Contacts to add: 2; to update: 0; unchanged: 0." in preview
    assert contact("市财政局", "王芳") is None
    text = import_contacts(client, contacts_file(CONTACTS))
    assert "Contacts imported: 2 added, 0 updated." in text
    wang = contact("市财政局", "王芳")
    assert wang and (wang.position, wang.office_phone, wang.mobile, wang.email) == (
        "科长",
        "0468-3456789",
        "13904680001",
        "wangfang@example.org",
    )
    li = contact("市市场监管局", "李强")  # through the alias 市场监管局
    assert li and li.mobile == "13904680002" and li.email is None
    created = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "contact.created", AuditEvent.actor_id == office.id
        )
    ).all()
    assert {e.object_id for e in created} == {str(wang.id), str(li.id)}
    summary = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "import.contacts")
    ).one()
    assert summary.after["added"] == 2


def test_contacts_import_is_idempotent_and_updates_by_unit_and_name(client, login_as, english):
    login_as("office")
    import_contacts(client, contacts_file(CONTACTS))
    audits = count(AuditEvent)
    page = upload(client, "/imports/contacts", contacts_file(CONTACTS)).get_data(as_text=True)
    assert "No changes: the contacts already match this file." in visible(page)
    assert 'name="sha256"' not in page and count(AuditEvent) == audits

    changed = [CONTACTS[0], dict(CONTACTS[1], mobile="13904680009", email="liqiang@example.org")]
    page = visible(
        upload(client, "/imports/contacts", contacts_file(changed)).get_data(as_text=True)
    )
    assert "Contacts to add: 0; to update: 1; unchanged: 1." in page and "手机、邮箱" in page
    import_contacts(client, contacts_file(changed))
    li = contact("市市场监管局", "李强")
    assert li and (li.mobile, li.email) == ("13904680009", "liqiang@example.org")
    assert count(Contact, Contact.name == "李强") == 1


def test_a_column_left_out_keeps_what_is_stored(client, login_as):
    login_as("office")
    import_contacts(client, contacts_file(CONTACTS))
    narrow = [
        c for c in contacts_import.SHEET.columns if c.key in ("unit", "city", "name", "position")
    ]
    data = workbook(
        {"联系人": [[c.header for c in narrow], ["市财政局", "鹤岗市", "王芳", "副科长"]]}
    )
    import_contacts(client, data)
    wang = contact("市财政局", "王芳")
    assert wang and (wang.position, wang.mobile) == ("副科长", "13904680001")


def test_bad_email_and_phone_rows_are_reported(client, login_as, english):
    login_as("office")
    rows = [
        CONTACTS[0],
        dict(CONTACTS[1], email="liqiang@"),
        {"unit": "市财政局", "city": "鹤岗市", "name": "赵六", "mobile": "138-abc"},
        {"unit": "市财政局", "city": "鹤岗市", "name": "孙七"},
        {
            "unit": "市财政局",
            "name": "周八",
            "mobile": "13900000000",
        },  # 市财政局 is in several cities
    ]
    response = upload(client, "/imports/contacts", contacts_file(rows))
    assert response.status_code == 422
    found = error_rows(response.get_data(as_text=True))
    assert [(r[0], r[1], r[2]) for r in found] == [
        ("联系人", "3", "邮箱"),
        ("联系人", "4", "手机"),
        ("联系人", "5", "—"),
        ("联系人", "6", "城市"),
    ]
    assert "liqiang@" in found[0][3] and "email" in found[0][3]
    assert "138-abc" in found[1][3] and "phone" in found[1][3]
    assert "at least one" in found[2][3]
    assert "fill in the city" in found[3][3]
    assert contact("市财政局", "王芳") is None  # the valid row is not written either


def test_unit_staff_import_only_their_own_units_contacts(client, login_as, english):
    login_as("unit", unit_named("市财政局", "hegang"))
    rows = [
        {"unit": "市财政局", "name": "王芳", "mobile": "13904680001"},  # own city implied
        {"unit": "市教育局", "name": "钱九", "mobile": "13904680003"},
    ]
    response = upload(client, "/imports/contacts", contacts_file(rows))
    assert response.status_code == 422
    ((sheet, row, column, problem),) = error_rows(response.get_data(as_text=True))
    assert (sheet, row, column) == ("联系人", "3", "单位") and "own unit" in problem
    import_contacts(client, contacts_file(rows[:1]))
    assert contact("市财政局", "王芳") is not None
    history = visible(client.get("/imports").get_data(as_text=True))
    assert "1 added, 0 updated" in history


def test_an_indicator_system_assigns_every_indicator_to_its_assessed_units(
    client, login_as, english
):
    login_as("office")
    plan = dict(PLAN_ROW, kind="考评指标体系", assessed="各县(区)政府、市财政局")
    sections = [{"key": "A", "number": "一", "title": "数据治理", "points": 10}]
    items = [
        {
            "section": "A",
            "number": "1",
            "title": "目录编制",
            "text": "编制政务数据目录。",
            "points": 4,
            "applies_to": "县（区）",
            "lead_assessors": "市大数据中心",
        },
        {
            "section": "A",
            "number": "2",
            "title": "数据共享",
            "text": "按需共享数据。",
            "points": 6,
            "applicability": "按需",
        },
    ]
    import_plan(client, plan_file(plan=plan, sections=sections, items=items))
    counties = len(
        db.session.scalars(select(UnitGroup).where(UnitGroup.name == "各县(区)政府")).one().members
    )
    by_item = dict(
        db.session.execute(
            select(Item.code, func.count(Assignment.id))
            .join(Assignment, Assignment.item_id == Item.id)
            .join(Plan)
            .where(Plan.code == CODE)
            .group_by(Item.code)
        ).all()
    )
    assert by_item == {"1": counties, "2": counties + 1}
    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == CODE, Item.code == "2")
    ).one()
    assert item.applicability == "as_needed"

    rows = error_rows(
        upload(
            client,
            "/imports/plan",
            plan_file(plan=dict(plan, assessed=None), sections=sections, items=items),
        ).get_data(as_text=True)
    )
    assert [(r[0], r[2]) for r in rows] == [("方案", "考评对象")]
