"""The document import pages: upload or paste a plan, check the draft beside its source, correct
it cell by cell, settle unknown units and confirm it into a draft plan with its assignments.

Drafts the pages act on are built here from taskhub.documents.model objects (the parser is
tested on its own); some tests read real documents end to end.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from docx import Document
from sqlalchemy import event, func, select

from taskhub.core.db import db
from taskhub.documents import drafts
from taskhub.documents.model import (
    FLAG_NO_LEAD,
    Draft,
    DraftItem,
    DraftSection,
    Span,
)
from taskhub.documents.models import DraftStatus, PlanDraft
from taskhub.documents.resolve import resolve, resolve_data, walk_items, walk_sections
from taskhub.plans.models import Item, ItemUnit, Plan
from taskhub.tracking.models import Assignment
from taskhub.units.models import City, Unit

CITY = "baotou"
UNKNOWN = "市大数据中心"  # not a unit of Baotou


#: Public-style text of a small plan: two headings, three tasks with their units and deadlines.
TITLE = "包头市2024年数字政府建设工作要点"
TASKS = [
    (
        "一、",
        "提升政务服务水平",
        Decimal(20),
        [
            (
                "1",
                "推进政务服务事项全程网办，2024年10月底前网办率达到90%以上"
                f"（牵头单位：市发改委；责任单位：各旗县区人民政府、{UNKNOWN}）。",
                ["市发改委"],
                ["各旗县区人民政府", UNKNOWN],
                "2024年10月底前",
                Decimal(10),
            ),
            (
                "2",
                "优化营商环境，年底前完成企业开办一日办结（市审批服务局负责）。",
                ["市审批服务局"],
                [],
                "年底前",
                Decimal(10),
            ),
        ],
    ),
    (
        "二、",
        "夯实数据基础",
        None,
        [
            (
                "3",
                "建设城市数据资源体系，持续推进政务数据归集共享。",
                [],
                [],
                "持续推进",
                None,
            ),
        ],
    ),
]


def source_text() -> str:
    lines = [TITLE]
    for number, title, points, items in TASKS:
        lines.append(f"{number}{title}" + (f"（{points}分）" if points else ""))
        for item_number, text, *_rest in items:
            lines.append(f"{item_number}. {text}")
    return "\n".join(lines)


def parsed_draft(extra_items: int = 0) -> Draft:
    """The draft a parser would make of ``source_text()`` (``extra_items`` more tasks)."""
    text = source_text()
    sections = []
    for number, title, points, items in TASKS:
        section = DraftSection(number=number, title=title, points=points)
        for item_number, item_text, lead, responsible, deadline, item_points in items:
            start = text.index(item_text)
            section.items.append(
                DraftItem(
                    number=item_number,
                    title=item_text.split("，")[0],
                    text=item_text,
                    lead_units=lead,
                    responsible_units=responsible,
                    deadline_text=deadline,
                    points=item_points,
                    flags=[] if lead else [FLAG_NO_LEAD],
                    source=Span(start, start + len(item_text)),
                )
            )
        sections.append(section)
    for n in range(extra_items):
        sections[1].items.append(
            DraftItem(
                number=str(4 + n),
                title=f"推进第{n + 4}项工作",
                text=f"推进第{n + 4}项工作，年底前完成（市财政局牵头，{UNKNOWN}配合）。",
                lead_units=["市财政局"],
                responsible_units=[UNKNOWN],
                deadline_text="年底前",
            )
        )
    return Draft(title=TITLE, year=2024, sections=sections, source_text=text)


def make_draft(office: Any, parsed: Draft | None = None, city_code: str = CITY) -> PlanDraft:
    """A PlanDraft as drafts.create keeps one (resolved, with ids), from a model Draft."""
    parsed = parsed or parsed_draft()
    city = db.session.scalar(select(City).where(City.code == city_code))
    resolve(parsed, city)
    content = parsed.to_json()
    for index, (section, _path) in enumerate(walk_sections(content), start=1):
        section["id"] = f"s{index}"
    for index, item in enumerate(walk_items(content), start=1):
        item["id"] = f"i{index}"
    content["code"] = drafts.suggest_code(city, parsed.year)
    resolve_data(content, city)
    draft = PlanDraft(
        city_id=city.id,
        created_by_id=office.id,
        name="要点.docx",
        format="docx",
        source_text=parsed.source_text,
        data=content,
    )
    db.session.add(draft)
    db.session.commit()
    return draft


def baotou_unit(name: str) -> Unit | None:
    return db.session.scalar(select(Unit).join(City).where(City.code == CITY, Unit.name == name))


def item_of(draft: PlanDraft, number: str) -> dict[str, Any]:
    db.session.refresh(draft)
    return next(i for i in walk_items(draft.data) if i["number"] == number)


class _Text(HTMLParser):
    """The visible text of a page (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


#: Latin words a Chinese page may show: file types, product names, the language switch.
ALLOWED_LATIN = {"TaskHub", "Excel", "English", "OA", "PDF", "MB", "docx", "pdf", "txt", "md"}
ALLOWED_LATIN |= {"html", "city", "baotou", "xlsx", "WPS", "wps", "OFD", "ofd"}


def english_words(page: str) -> set[str]:
    """Latin words in the page's content (the header shows the user's own name)."""
    parser = _Text()
    parser.feed(page[page.index("<main") :])
    words = set(re.findall(r"[A-Za-z]{2,}", " ".join(parser.parts)))
    return words - ALLOWED_LATIN


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# -- upload or paste ---------------------------------------------------------------------------


def test_the_document_page_and_the_excel_page_link_to_each_other(client, login_as):
    login_as("office")
    excel = client.get("/imports").get_data(as_text=True)
    assert 'href="/imports/document"' in excel
    page = client.get("/imports/document")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/imports"' in html
    assert "从方案文件导入" in html and "粘贴" in html
    assert not english_words(html)


def test_pasted_text_becomes_a_draft_and_opens(client, login_as):
    office = login_as("office")
    response = client.post(
        "/imports/document", data={"city": CITY, "text": source_text(), "year": "2024"}
    )
    assert response.status_code == 302
    draft = db.session.scalars(select(PlanDraft).order_by(PlanDraft.id.desc())).first()
    assert response.headers["Location"].endswith(f"/plan-drafts/{draft.id}")
    assert draft.created_by_id == office.id and draft.status == DraftStatus.OPEN.value
    assert draft.source_text.startswith(TITLE)
    page = client.get(f"/plan-drafts/{draft.id}")
    assert page.status_code == 200
    assert "核对草稿" in page.get_data(as_text=True)


def test_nothing_chosen_or_no_city_is_refused_with_the_form_kept(client, login_as):
    login_as("office")
    before = db.session.scalar(select(func.count(PlanDraft.id)))
    page = client.post("/imports/document", data={"city": CITY, "year": "2024"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "请选择文件，或粘贴方案全文。" in html
    assert 'value="2024"' in html
    assert client.post("/imports/document", data={"text": "x"}).status_code == 422
    assert db.session.scalar(select(func.count(PlanDraft.id))) == before


def test_an_unreadable_file_gets_the_readers_message_and_keeps_the_form(client, login_as):
    login_as("office")
    page = client.post(
        "/imports/document",
        data={
            "city": "hegang",
            "year": "2023",
            "file": (io.BytesIO(b"\xd0\xcf\x11\xe0" * 50), "方案.wps"),
        },
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert re.search(r'role="alert"><strong>[^<]*(另存为|保存为)', html)
    assert '<option value="hegang" selected>' in html and 'value="2023"' in html
    assert not english_words(html)


def test_a_docx_upload_becomes_a_draft_with_its_source(client, login_as):
    login_as("office")
    data = docx_bytes(
        [TITLE, "一、提升政务服务水平", "1. 推进政务服务事项全程网办（市发改委牵头）。"],
        [["序号", "任务", "牵头单位"], ["2", "优化营商环境", "市审批服务局"]],
    )
    response = client.post(
        "/imports/document",
        data={"city": CITY, "file": (io.BytesIO(data), "要点.docx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    draft = db.session.scalars(select(PlanDraft).order_by(PlanDraft.id.desc())).first()
    assert draft.format == "docx" and draft.name == "要点.docx"
    assert "推进政务服务事项全程网办" in draft.source_text
    assert "优化营商环境" in draft.source_text


def test_an_uploaded_docx_is_read_into_items_with_units_and_deadlines(client, login_as):
    login_as("office")
    data = docx_bytes(source_text().split("\n"))
    response = client.post(
        "/imports/document",
        data={"city": CITY, "file": (io.BytesIO(data), "要点.docx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "推进政务服务事项全程网办" in page
    assert '<mark class="m-unit"' in page and "2024年10月底前</mark>" in page
    assert "未识别单位" in page  # 市大数据中心


# -- the grid --------------------------------------------------------------------------------


def test_the_grid_shows_each_item_beside_its_source_with_marks_and_flags(client, login_as):
    parsed = parsed_draft()
    parsed.warn("number_gap", "第2项之后编号不连续")
    draft = make_draft(login_as("office"), parsed)
    response = client.get(f"/plan-drafts/{draft.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # Sections with their points, items under them, each beside its marked source sentence.
    assert html.index("提升政务服务水平") < html.index("优化营商环境") < html.index("夯实数据基础")
    assert 'name="section-s1-points" value="20"' in html
    assert re.search(r'<mark class="m-unit"[^>]*>市发改委</mark>', html)
    assert re.search(r'<mark class="m-unknown_unit"[^>]*>市大数据中心</mark>', html)
    assert re.search(r'<mark class="m-deadline"[^>]*>2024年10月底前</mark>', html)
    # Flags as Chinese badges; the unknown unit offered as a new unit or an alias.
    assert '<span class="badge flag-unknown_unit">未识别单位</span>' in html
    assert '<span class="badge flag-no_lead">无牵头单位</span>' in html
    assert 'name="name-1" value="市大数据中心"' in html
    assert 'name="version" value="1"' in html
    assert "关于原文" in html and "第2项之后编号不连续" in html  # the document's warnings
    assert not english_words(html)


def test_only_the_items_to_check_are_shown_on_request(client, login_as):
    draft = make_draft(login_as("office"))
    html = client.get(f"/plan-drafts/{draft.id}?flagged=1").get_data(as_text=True)
    assert 'id="row-i1"' in html and 'id="row-i3"' in html  # unknown unit; no lead
    assert 'id="row-i2"' not in html
    assert "只看需要核对的 (2)" in html


def test_the_grid_reads_the_database_a_fixed_number_of_times_whatever_its_size(
    client, login_as, app
):
    office = login_as("office")
    small, large = make_draft(office), make_draft(office, parsed_draft(extra_items=87))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    assert client.get(f"/plan-drafts/{small.id}").status_code == 200  # once, to warm up
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        db.session.expire_all()
        assert client.get(f"/plan-drafts/{small.id}").status_code == 200
        few = len(statements)
        statements.clear()
        db.session.expire_all()
        html = client.get(f"/plan-drafts/{large.id}").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert html.count('class="draft-item') == 90
    assert len(statements) == few, statements


def test_a_corrected_cell_is_saved_and_its_flags_worked_out_again(client, login_as):
    draft = make_draft(login_as("office"))
    response = client.post(
        f"/plan-drafts/{draft.id}",
        data={
            "version": "1",
            "item-i1-responsible_units": "各旗县区人民政府、市财政局",
            "item-i1-number": "1",  # unchanged
            "section-s2-title": "夯实数据资源基础",
        },
    )
    assert response.status_code == 302
    item = item_of(draft, "1")
    assert item["responsible_units"] == ["各旗县区人民政府", "市财政局"]
    assert item["unknown_units"] == [] and "unknown_unit" not in item["flags"]
    assert draft.data["sections"][1]["title"] == "夯实数据资源基础"
    assert draft.version == 2
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "草稿已保存。" in html and 'name="version" value="2"' in html


def test_the_inline_editor_saves_one_cell_and_gets_the_rows_flags(client, login_as):
    draft = make_draft(login_as("office"))
    response = client.post(
        f"/plan-drafts/{draft.id}",
        data={"version": "1", "item-i3-lead_units": "市发改委"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json == {"version": 2, "row": {"flags": [], "unknown_units": []}}
    assert item_of(draft, "3")["lead_units"] == ["市发改委"]
    # A value the draft refuses, or an old version: the reason, in Chinese, for the cell.
    refused = client.post(
        f"/plan-drafts/{draft.id}",
        data={"version": "2", "item-i2-points": "十分"},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422 and "十分" in refused.json["error"]
    stale = client.post(
        f"/plan-drafts/{draft.id}",
        data={"version": "1", "item-i2-points": "5"},
        headers={"Accept": "application/json"},
    )
    assert stale.status_code == 409 and "他人修改了这份草稿" in stale.json["error"]


def test_an_edit_on_an_old_version_is_refused_with_a_message(client, login_as):
    draft = make_draft(login_as("office"))
    assert (
        client.post(
            f"/plan-drafts/{draft.id}", data={"version": "1", "item-i2-deadline_text": "11月底前"}
        ).status_code
        == 302
    )
    stale = client.post(
        f"/plan-drafts/{draft.id}", data={"version": "1", "item-i2-deadline_text": "9月底前"}
    )
    assert stale.status_code == 409
    assert "他人修改了这份草稿" in stale.get_data(as_text=True)
    assert item_of(draft, "2")["deadline_text"] == "11月底前"


def test_an_invalid_cell_is_refused_with_the_reason(client, login_as):
    draft = make_draft(login_as("office"))
    page = client.post(f"/plan-drafts/{draft.id}", data={"version": "1", "item-i2-points": "十分"})
    assert page.status_code == 422
    assert "十分" in page.get_data(as_text=True)
    assert item_of(draft, "2")["points"] == 10


# -- confirm, discard ------------------------------------------------------------------------


def test_confirm_creates_the_unknown_unit_and_lands_a_draft_plan_with_assignments(client, login_as):
    draft = make_draft(login_as("office"))
    code = draft.data["code"]
    response = client.post(
        f"/plan-drafts/{draft.id}/confirm",
        data={"version": "1", "name-1": UNKNOWN, "action-1": "create", "kind-1": "department"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/plans/{code}")
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    assert plan.status == "draft" and plan.title == TITLE
    unit = baotou_unit(UNKNOWN)
    assert unit is not None and unit.kind == "department"
    first = db.session.scalar(select(Item).where(Item.plan_id == plan.id, Item.code == "1"))
    roles = {
        (u.role, u.name)
        for u in db.session.scalars(select(ItemUnit).where(ItemUnit.item_id == first.id))
    }
    assert roles == {
        ("lead", "市发改委"),
        ("responsible", "各旗县区人民政府"),
        ("responsible", UNKNOWN),
    }
    # Published from its page, the plan's tasks go out to the units, the new one among them.
    assert client.post(f"/plans/{code}/publish").status_code == 302
    assigned = set(
        db.session.scalars(select(Assignment.unit_id).where(Assignment.item_id == first.id))
    )
    assert unit.id in assigned and len(assigned) > 2  # 市发改委, the counties, the new unit
    db.session.refresh(draft)
    assert draft.status == DraftStatus.CONFIRMED.value and draft.plan_id == plan.id
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "草稿" in html
    # The draft now leads to its plan.
    assert client.get(f"/plan-drafts/{draft.id}").headers["Location"].endswith(f"/plans/{code}")


def test_confirm_with_problems_shows_them_beside_their_rows_and_imports_nothing(client, login_as):
    draft = make_draft(login_as("office"))
    page = client.post(f"/plan-drafts/{draft.id}/confirm", data={"version": "1"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "未导入任何内容" in html
    row = html[html.index('id="row-i1"') : html.index('id="row-i2"')]
    assert UNKNOWN in row and 'class="error-text"' in row
    assert db.session.scalar(select(Plan).where(Plan.code == draft.data["code"])) is None
    assert baotou_unit(UNKNOWN) is None


def test_confirm_on_an_old_version_is_refused(client, login_as):
    draft = make_draft(login_as("office"))
    client.post(f"/plan-drafts/{draft.id}", data={"version": "1", "item-i2-number": "2"})
    client.post(f"/plan-drafts/{draft.id}", data={"version": "1", "item-i2-title": "营商环境"})
    page = client.post(
        f"/plan-drafts/{draft.id}/confirm",
        data={"version": "0", "name-1": UNKNOWN, "action-1": "create", "kind-1": "department"},
    )
    assert page.status_code == 409
    assert "他人修改了这份草稿" in page.get_data(as_text=True)
    assert db.session.scalar(select(Plan).where(Plan.code == draft.data["code"])) is None


def test_a_discarded_draft_leaves_the_list(client, login_as):
    draft = make_draft(login_as("office"))
    listing = client.get("/plan-drafts").get_data(as_text=True)
    assert f'href="/plan-drafts/{draft.id}"' in listing and TITLE in listing
    assert not english_words(listing)
    response = client.post(f"/plan-drafts/{draft.id}/discard")
    assert response.status_code == 302
    db.session.refresh(draft)
    assert draft.status == DraftStatus.DISCARDED.value
    assert f'href="/plan-drafts/{draft.id}"' not in client.get("/plan-drafts").get_data(
        as_text=True
    )


def test_an_unknown_draft_is_404(client, login_as):
    login_as("office")
    assert client.get("/plan-drafts/999999").status_code == 404


@pytest.mark.parametrize("role", ["unit", "assessor", "viewer"])
def test_only_the_office_and_admins_read_documents(client, login_as, role):
    office_draft = None
    from tests.conftest import make_user

    office_draft = make_draft(make_user("office", username="drafts-office"))
    login_as(role)
    for method, url in [
        ("GET", "/imports/document"),
        ("POST", "/imports/document"),
        ("GET", "/plan-drafts"),
        ("GET", f"/plan-drafts/{office_draft.id}"),
        ("POST", f"/plan-drafts/{office_draft.id}"),
        ("POST", f"/plan-drafts/{office_draft.id}/confirm"),
        ("POST", f"/plan-drafts/{office_draft.id}/discard"),
    ]:
        assert client.open(url, method=method, data={"version": "1"}).status_code == 403, url
    db.session.refresh(office_draft)
    assert office_draft.version == 1 and office_draft.status == DraftStatus.OPEN.value


def test_a_draft_over_a_published_plan_asks_the_reason_for_the_revision(client, login_as):
    office = login_as("office")
    first = make_draft(office)
    code = first.data["code"]
    choices = {"name-1": UNKNOWN, "action-1": "create", "kind-1": "department"}
    client.post(f"/plan-drafts/{first.id}/confirm", data={"version": "1", **choices})
    assert client.post(f"/plans/{code}/publish").status_code == 302
    again = make_draft(office)  # the same document read again, to correct the plan
    assert again.data["code"] != code
    client.post(
        f"/plan-drafts/{again.id}",
        data={"version": "1", "head-code": code, "item-i2-deadline_text": "11月底前"},
    )
    html = client.get(f"/plan-drafts/{again.id}").get_data(as_text=True)
    assert 'name="reason"' in html and "修订理由" in html
    page = client.post(f"/plan-drafts/{again.id}/confirm", data={"version": "2"})
    assert page.status_code == 422
    assert "请填写修订理由" in page.get_data(as_text=True)
    response = client.post(
        f"/plan-drafts/{again.id}/confirm", data={"version": "2", "reason": "按正式印发稿更正"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/plans/{code}")
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    second = db.session.scalar(select(Item).where(Item.plan_id == plan.id, Item.code == "2"))
    assert plan.status == "published" and second.deadline_phrase == "11月底前"


def test_items_under_no_heading_stand_where_the_document_has_them(client, login_as):
    parsed = parsed_draft()
    table_row = "4 | 完善政务云平台，提升网络安全防护能力 | 市委网信办 | 2024年9月底前"
    parsed.source_text += "\n" + table_row
    start = parsed.source_text.index(table_row)
    parsed.items.append(
        DraftItem(
            number="4",
            title="完善政务云平台，提升网络安全防护能力",
            text="完善政务云平台，提升网络安全防护能力",
            lead_units=["市委网信办"],
            deadline_text="2024年9月底前",
            source=Span(start, start + len(table_row)),
        )
    )
    for section in parsed.sections:
        at = parsed.source_text.index(section.title)
        section.source = Span(at, at + len(section.title))
    draft = make_draft(login_as("office"), parsed)
    html = client.get(f"/plan-drafts/{draft.id}").get_data(as_text=True)
    rows = re.findall(r'id="row-(i\d+|s\d+)"', html)
    assert rows == ["s1", "i2", "i3", "s2", "i4", "i1"]  # i1 is the table's row, read last
    assert re.search(r'<mark class="m-deadline">2024年9月底前</mark>', html)
