"""The bulletin (通报) an office can publish: GB/T 9704 layout, a ranking that fits landscape pages,
overdue items summarised per unit with the full list as an Excel attachment, and the 文号 set
when the period is closed. The page count is checked as a reader sees it: LibreOffice converts
the .docx to PDF (once, in the SQLite pass)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from taskhub.audit.models import AuditEvent
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.plans.models import Item
from taskhub.reports import services as bulletins
from taskhub.scoring import services as scoring
from taskhub.scoring.models import Period
from taskhub.tracking.jobs import scan_overdue
from taskhub.tracking.models import Assignment, Milestone
from tests.conftest import make_user
from tests.test_bulletins import (  # noqa: F401  (fixtures, asked for by name)
    H1,
    PLAN,
    Seeded,
    baotou,
    past_due,
    sign_in,
    web,
)

#: The end of the year: every open milestone of the first half is long past due.
YEAR_END = date(2022, 12, 31)
NUMBER = "包数政办发〔2022〕3号"
#: GB/T 9704 floor for Baotou's 36 units.
MAX_PAGES = 6
SCREENSHOT = PROJECT_ROOT / "test-artifacts" / "screenshots" / "bulletin-page1.png"


@pytest.fixture
def seeded(request: pytest.FixtureRequest) -> Seeded:
    """The bulletin tests' Baotou: scores entered, the overdue scan run on 15 July."""
    result: Seeded = request.getfixturevalue("baotou")
    return result


@pytest.fixture
def site(request: pytest.FixtureRequest) -> FlaskClient:
    """A test client serving the bulletin routes."""
    client: FlaskClient = request.getfixturevalue("web")
    return client


@pytest.fixture
def late(seeded: Seeded) -> bulletins.Bulletin:
    """Baotou's 2022-H1 bulletin issued at the year's end, closed with a 文号."""
    scan_overdue(YEAR_END)
    scoring.close_period(seeded.plan, H1, actor=None, doc_number=NUMBER)
    db.session.commit()
    return bulletins.build_bulletin(seeded.plan, H1, today=YEAR_END)


def _document(b: bulletins.Bulletin) -> Any:
    docx = pytest.importorskip("docx")
    data = bulletins.bulletin_docx(b)
    assert data is not None
    return docx.Document(io.BytesIO(data))


def _overdue_in_database(plan_id: int) -> Counter[int]:
    """Overdue, unfinished items per unit on YEAR_END, counted from the rows themselves (an
    open milestone due before that day), not from the scan's flags."""
    late = past_due(YEAR_END)
    rows = db.session.execute(
        select(Assignment.id, Assignment.unit_id, Assignment.status, Assignment.is_not_applicable)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan_id)
    )
    return Counter(
        u for aid, u, status, na in rows if aid in late and status != "completed" and not na
    )


# --- the data ----------------------------------------------------------------------------------


def test_overdue_summary_counts_every_item_and_names_the_most_overdue(
    seeded: Seeded, late: bulletins.Bulletin
) -> None:
    expected = _overdue_in_database(seeded.plan.id)
    names = {r.unit_id: r.unit for r in late.rows}
    summary = {u.unit: u for u in late.overdue_summary}
    assert {names[uid]: n for uid, n in expected.items()} == {
        u: s.count for u, s in summary.items()
    }
    assert late.overdue_total == sum(expected.values()) > 1000
    for unit, items in late.overdue_by_unit:
        worst = summary[unit].worst
        assert 1 <= len(worst) <= bulletins.OVERDUE_SHOWN
        # None of the items left out is more overdue than the ones named.
        assert min(i.days for i in worst) >= max(
            (i.days for i in items if i not in worst), default=0
        )
        assert summary[unit].oldest_days == max(i.days for i in items)


def test_days_overdue_count_from_the_first_overdue_milestone(
    seeded: Seeded, late: bulletins.Bulletin
) -> None:
    unit, items = late.overdue_by_unit[0]
    unit_id = next(r.unit_id for r in late.rows if r.unit == unit)
    item = items[0]
    dues = db.session.scalars(
        select(Milestone.due_on)
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Assignment.unit_id == unit_id,
            Item.plan_id == seeded.plan.id,
            Item.number == item.number,
            Milestone.is_overdue,
            Milestone.status == "open",
        )
    ).all()
    assert item.due_on == min(dues)
    assert item.days == (YEAR_END - min(dues)).days > 0
    assert item.milestone  # a title or the milestone's kind in words


# --- the Word document -------------------------------------------------------------------------


def test_docx_has_the_official_head_and_landscape_tables(late: bulletins.Bulletin) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn

    document = _document(late)
    paragraphs = document.paragraphs
    # 发文机关标志 in red 小标宋, the 文号 under it with the red rule, then the title.
    issuer = paragraphs[0]
    assert issuer.text == late.issuer
    assert str(issuer.runs[0].font.color.rgb) == "E60012"
    assert issuer.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "方正小标宋简体"
    number = paragraphs[1]
    assert number.text == NUMBER
    rule = number._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom"))
    assert rule.get(qn("w:color")) == "E60012"
    title = next(p for p in paragraphs if p.text.replace("\n", "") == late.title)
    assert title.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "方正小标宋简体"
    assert title.runs[0].font.size.pt == 22
    normal = document.styles["Normal"]
    assert normal.font.size.pt == 16
    assert normal.element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    table_xml = next(
        p.blob.decode() for p in document.part.package.iter_parts() if "fontTable" in p.partname
    )
    assert 'w:name="仿宋_GB2312"' in table_xml and 'w:val="仿宋"' in table_xml
    assert 'w:name="方正小标宋简体"' in table_xml and 'w:val="华文中宋"' in table_xml

    # Portrait text, then the tables on landscape pages with the turned type area.
    first, tables = document.sections[0], document.sections[-1]
    assert first.orientation == WD_ORIENT.PORTRAIT
    assert (round(first.top_margin.mm), round(first.left_margin.mm)) == (37, 28)
    assert tables.orientation == WD_ORIENT.LANDSCAPE
    assert round(tables.page_width.mm) == 297 and round(tables.page_height.mm) == 210
    width = tables.page_width.mm - tables.left_margin.mm - tables.right_margin.mm
    assert round(width) == 225

    # — 1 — : a PAGE field between em dashes, in every section (linked footers).
    footer = first.footer._element.xml
    assert "— " in footer and " —" in footer and "PAGE" in footer and "fldChar" in footer
    assert all(s.footer.is_linked_to_previous for s in document.sections[1:])

    text = "\n".join(p.text for p in paragraphs)
    assert bulletins.ATTACHMENT_NOTE in text
    # Issuer and date close the document, after the tables.
    assert [p.text for p in paragraphs[-2:]] == [late.issuer, "2022年12月31日"]


def test_docx_tables_fit_and_summarise_overdue_items(late: bulletins.Bulletin) -> None:
    from docx.oxml.ns import qn

    document = _document(late)
    ranking, areas, overdue = document.tables
    # Ranking and per-area scores are two tables, each with every unit.
    assert len(ranking.columns) == 4 + len(late.scores) + 5
    assert len(areas.columns) == 2 + len(late.areas)
    assert [r.cells[2].text for r in ranking.rows[1:]] == [r.unit for r in late.rows]
    assert [r.cells[1].text for r in areas.rows[1:]] == [r.unit for r in late.rows]
    # Column widths fixed and within the landscape type area; unit names do not wrap.
    for table in (ranking, areas, overdue):
        grid = [int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.findall(qn("w:gridCol"))]
        assert sum(grid) / 1440 * 25.4 <= 225.5
        assert table._tbl.tblPr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
    unit_cell = ranking.rows[1].cells[2]._tc
    assert unit_cell.tcPr.find(qn("w:noWrap")) is not None

    # One line per unit with overdue items: the count and at most three items with days.
    summary = {u.unit: u for u in late.overdue_summary}
    rows = overdue.rows[1:]
    assert [r.cells[0].text for r in rows] == list(summary)
    for row in rows:
        unit, count, oldest, items = (c.text for c in row.cells)
        assert int(count) == summary[unit].count
        assert oldest == f"{summary[unit].oldest_days}天"
        named = items.split("；")
        assert 1 <= len(named) <= bulletins.OVERDUE_SHOWN
        worst = summary[unit].worst
        assert [n.split(". ")[0] for n in named] == [i.number for i in worst]
        # Days are stated once (the longest); an item less overdue says its own.
        for text, item in zip(named, worst, strict=True):
            shown = re.search(r"（(\d+)天）$", text)
            assert (int(shown.group(1)) if shown else summary[unit].oldest_days) == item.days
    # The full list is not in the document: 3,000 items would be 200 pages.
    body = "\n".join(c.text for r in rows for c in r.cells)
    assert body.count("天）") <= bulletins.OVERDUE_SHOWN * len(summary)


def test_an_open_period_without_number_still_has_the_red_rule(seeded: Seeded) -> None:
    from docx.oxml.ns import qn

    b = bulletins.build_bulletin(seeded.plan, H1, today=date(2022, 7, 15))
    assert b.doc_number is None and not b.is_final
    document = _document(b)
    number = document.paragraphs[1]
    assert number.text == ""
    assert number._p.pPr.find(qn("w:pBdr")) is not None
    assert "本期尚未关闭" in "\n".join(p.text for p in document.paragraphs)


# --- the Excel attachment ----------------------------------------------------------------------


def test_overdue_workbook_lists_every_item_with_its_days(
    seeded: Seeded, late: bulletins.Bulletin
) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(bulletins.overdue_xlsx(late)))
    ws = wb[bulletins.OVERDUE_LIST_SHEET]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("单位", "计划", "序号", "事项", "逾期节点", "到期日期", "逾期天数")
    body = rows[1:]
    assert len(body) == late.overdue_total == sum(_overdue_in_database(seeded.plan.id).values())
    names = {r.unit_id: r.unit for r in late.rows}
    per_unit = Counter(r[0] for r in body)
    assert per_unit == {names[u]: n for u, n in _overdue_in_database(seeded.plan.id).items()}
    for _unit, plan, number, text, milestone, due, days in body:
        assert plan == seeded.plan.title and number and text and milestone
        assert days == (YEAR_END - due.date()).days > 0
    assert ws.freeze_panes == "A2"
    notes = dict(r for r in wb["说明"].iter_rows(values_only=True))
    assert notes["文号"] == NUMBER


# --- the document number (文号) ----------------------------------------------------------------


def _audits(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def _period(seeded: Seeded) -> Period:
    period = db.session.scalar(
        select(Period).where(Period.plan_id == seeded.plan.id, Period.code == H1)
    )
    assert period is not None
    return period


def test_number_is_set_on_close_and_corrected_with_an_audit_record(seeded: Seeded) -> None:
    office = make_user("office", username="number-office")
    scoring.close_period(seeded.plan, H1, actor=office, doc_number=f"  {NUMBER} ")
    db.session.commit()
    assert _period(seeded).doc_number == NUMBER
    closed = _audits("period.closed")[-1]
    assert closed.after is not None and closed.after["doc_number"] == NUMBER

    scoring.set_doc_number(seeded.plan, H1, "包数政办发〔2022〕4号", actor=office)
    db.session.commit()
    assert bulletins.build_bulletin(seeded.plan, H1).doc_number == "包数政办发〔2022〕4号"
    changed = _audits("period.doc_number")[-1]
    assert changed.actor_id == office.id
    assert changed.before == {"doc_number": NUMBER}
    assert changed.after is not None and changed.after["doc_number"] == "包数政办发〔2022〕4号"
    # The same number again changes nothing and records nothing.
    scoring.set_doc_number(seeded.plan, H1, "包数政办发〔2022〕4号", actor=office)
    assert len(_audits("period.doc_number")) == 1
    # A correction without a new number keeps the one set.
    scoring.close_period(seeded.plan, H1, actor=office, reason="更正")
    assert _period(seeded).doc_number == "包数政办发〔2022〕4号"


def test_only_the_office_sets_the_number_and_it_has_a_length_limit(seeded: Seeded) -> None:
    unit_user = make_user("assessor", username="number-assessor")
    with pytest.raises(PermissionDenied):
        scoring.set_doc_number(seeded.plan, H1, NUMBER, actor=unit_user)
    with pytest.raises(ValidationFailed):
        scoring.set_doc_number(seeded.plan, H1, "号" * 61, actor=None)


def test_number_on_the_close_form_the_period_page_and_the_bulletin(
    site: FlaskClient, seeded: Seeded
) -> None:
    sign_in(site, "office")
    page = site.get(f"/plans/{PLAN}/scores?period={H1}").get_data(as_text=True)
    assert 'name="doc_number"' in page
    site.post(f"/plans/{PLAN}/close?period={H1}", data={"doc_number": NUMBER})
    assert _period(seeded).doc_number == NUMBER
    page = site.get(f"/plans/{PLAN}/scores?period={H1}").get_data(as_text=True)
    assert f'value="{NUMBER}"' in page  # the edit form, filled in
    site.post(f"/plans/{PLAN}/doc-number?period={H1}", data={"doc_number": "包数政办发〔2022〕5号"})
    db.session.expire_all()
    assert _period(seeded).doc_number == "包数政办发〔2022〕5号"
    bulletin = site.get(f"/plans/{PLAN}/bulletin?period={H1}").get_data(as_text=True)
    assert "包数政办发〔2022〕5号" in bulletin


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("assessor", 403), ("unit", 403)])
def test_others_cannot_change_the_number(
    site: FlaskClient, seeded: Seeded, role: str, status: int
) -> None:
    sign_in(site, role, "昆都仑区人民政府" if role in ("unit", "assessor") else None)
    response = site.post(f"/plans/{PLAN}/doc-number?period={H1}", data={"doc_number": "x"})
    assert response.status_code == status
    assert _period(seeded).doc_number is None


def test_api_sets_the_number_on_close_and_patches_it(api_as: Any, seeded: Seeded) -> None:
    office = api_as("office")
    url = f"/api/v1/plans/{PLAN}/periods/{H1}"
    assert office.post(f"{url}/close", json={"doc_number": NUMBER}).status_code == 201
    assert office.get(url).get_json()["doc_number"] == NUMBER
    patched = office.patch(url, json={"doc_number": "包数政办发〔2022〕6号"})
    assert (
        patched.status_code == 200 and patched.get_json()["doc_number"] == "包数政办发〔2022〕6号"
    )
    bulletin = office.get(f"/api/v1/plans/{PLAN}/bulletins/{H1}").get_json()
    assert bulletin["doc_number"] == "包数政办发〔2022〕6号"
    viewer = api_as("viewer")
    assert viewer.patch(url, json={"doc_number": "x"}).status_code == 403
    assert office.patch(url, json={"doc_number": None}).get_json()["doc_number"] is None


def test_cli_sets_the_number_on_close_and_corrects_it(app: Any, seeded: Seeded) -> None:
    runner = app.test_cli_runner()
    closed = runner.invoke(
        args=["score", "close", "--plan", PLAN, "--period", H1, "--doc-number", NUMBER]
    )
    assert closed.exit_code == 0, closed.output
    assert _period(seeded).doc_number == NUMBER
    changed = runner.invoke(
        args=["score", "doc-number", "--plan", PLAN, "--period", H1, "包数政办发〔2022〕7号"]
    )
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.strip() == f"{PLAN} {H1}: 文号 包数政办发〔2022〕7号"
    db.session.expire_all()
    assert _period(seeded).doc_number == "包数政办发〔2022〕7号"
    assert _audits("period.doc_number")[-1].before == {"doc_number": NUMBER}


# --- the download and who may have it ----------------------------------------------------------

OVERDUE_URL = f"/plans/{PLAN}/bulletin-overdue.xlsx?period={H1}"


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("office", 200), ("viewer", 200), ("assessor", 200), ("unit", 403)],
)
def test_overdue_download_is_for_those_who_see_the_bulletin(
    site: FlaskClient, seeded: Seeded, role: str, status: int
) -> None:
    sign_in(site, role, "昆都仑区人民政府" if role in ("unit", "assessor") else None)
    bulletin = site.get(f"/plans/{PLAN}/bulletin?period={H1}")
    download = site.get(OVERDUE_URL)
    assert (bulletin.status_code, download.status_code) == (status, status)
    if status == 200:
        assert "bulletin-overdue.xlsx" in bulletin.get_data(as_text=True)
        assert quote("逾期事项清单") in download.headers["Content-Disposition"]


def test_api_overdue_download_follows_the_bulletin(api_as: Any, seeded: Seeded) -> None:
    url = f"/api/v1/plans/{PLAN}/bulletins/{H1}/overdue.xlsx"
    assert api_as("viewer").get(url).status_code == 200
    assert api_as("unit", baotou_unit()).get(url).status_code == 403


def baotou_unit() -> Any:
    from tests.conftest import unit_named

    return unit_named("昆都仑区人民政府", "baotou")


def test_web_page_summarises_instead_of_listing(
    site: FlaskClient, late: bulletins.Bulletin, seeded: Seeded
) -> None:
    sign_in(site, "office")
    page = site.get(f"/plans/{PLAN}/bulletin?period={H1}").get_data(as_text=True)
    assert NUMBER in page and bulletins.ATTACHMENT_NOTE in page
    # The page counts as of the day it is read (its 统计日期), not as of the year's end.
    now = bulletins.build_bulletin(seeded.plan, H1)
    # At most three items per unit are named; the rest are counted.
    assert page.count("天）") <= bulletins.OVERDUE_SHOWN * len(now.overdue_summary)
    assert f"超期未完成事项共{now.overdue_total}项" in page
    assert now.overdue_total >= late.overdue_total
    assert "@page wide" in page and "size: A4 landscape" in page


# --- as a reader sees it: LibreOffice ----------------------------------------------------------


@pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")),
    reason="the LibreOffice conversion runs once, in the SQLite pass",
)
def test_libreoffice_prints_baotou_in_six_pages_with_unbroken_unit_names(
    late: bulletins.Bulletin, tmp_path: Path
) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: apt install libreoffice-writer-nogui")
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.skip("poppler-utils (pdftotext, pdftoppm) is not installed")
    data = bulletins.bulletin_docx(late)
    assert data is not None
    source = tmp_path / "bulletin.docx"
    source.write_bytes(data)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / "bulletin.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]
    print(f"\nBaotou {H1} bulletin ({len(late.rows)} units): {pages} A4 pages")
    assert pages <= MAX_PAGES

    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    lines = text.splitlines()
    broken = [r.unit for r in late.rows if not any(r.unit in line for line in lines)]
    assert not broken, f"unit names broken across lines: {broken}"
    # pdftotext spaces digits apart from Chinese text: compare without spaces.
    compact = re.sub(r"\s+", "", text)
    assert NUMBER in compact and late.issuer in compact and "—1—" in compact

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(SCREENSHOT.with_suffix(""))],
        check=True,
    )  # fmt: skip
    assert SCREENSHOT.exists()


# --- the pieces -----------------------------------------------------------------------------------


def _item(number: str, days: int) -> bulletins.OverdueItem:
    return bulletins.OverdueItem(number, f"事项{number}的标题文字较长需要截断显示", None, days=days)


def test_summary_names_the_most_overdue_first_and_states_fewer_days() -> None:
    items = [_item("1", 10), _item("2", 40), _item("3", 40), _item("4", 25), _item("5", 5)]
    summary = bulletins.summarise_overdue("某单位", items)
    assert (summary.count, summary.oldest_days) == (5, 40)
    assert [i.number for i in summary.worst] == ["2", "3", "4"]  # ties in plan order
    assert summary.labels(6) == ["2. 事项2的标…", "3. 事项3的标…", "4. 事项4的标…（25天）"]


@pytest.mark.parametrize(
    ("title", "lines"),
    [
        (
            "关于2022年上半年《包头市数字政府建设考评指标》考评情况的通报",
            ["关于2022年上半年", "《包头市数字政府建设考评指标》", "考评情况的通报"],
        ),
        (
            "关于2022年6月《鹤岗市营商环境》考评情况的通报",
            ["关于2022年6月《鹤岗市营商环境》", "考评情况的通报"],
        ),
        ("关于2022年度《短标题》考评情况的通报", ["关于2022年度《短标题》考评情况的通报"]),
    ],
)
def test_long_titles_break_where_the_sense_allows(title: str, lines: list[str]) -> None:
    from taskhub.reports.word import title_lines

    assert title_lines(title, 20.1) == lines
