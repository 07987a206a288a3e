"""Indicator tables in plan documents: rows rebuilt from scraped text, pasted tab tables and
table blocks (.docx/.html), columns by header names, sections from the indicator columns."""

from __future__ import annotations

import io
import os
from decimal import Decimal
from pathlib import Path

import docx
import pytest

from taskhub.documents import readers
from taskhub.documents.model import FLAG_CUT_OFF, KIND_INDICATORS, Draft, DraftItem, DraftSection
from taskhub.documents.parser import parse, parse_text
from taskhub.documents.readers import Block, SourceDocument, read_html
from taskhub.documents.tables_header import (
    ROLE_ASSESSED,
    ROLE_ASSESSOR,
    ROLE_CONTENT,
    ROLE_DEADLINE,
    ROLE_LEAD,
    ROLE_LEVEL,
    ROLE_NUMBER,
    ROLE_POINTS,
    ROLE_RESPONSIBLE,
    ROLE_TARGET,
    ROLE_WEIGHT,
    clean_text,
    clean_units,
    read_header,
    role_of,
)

#: Pure document reading, no database: the PostgreSQL pass would repeat it.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")),
    reason="reads documents without a database: runs once, in the SQLite pass",
)

FIXTURES = Path(__file__).parent / "fixtures" / "documents"


def items_of(draft: Draft) -> list[DraftItem]:
    return draft.all_items()


def by_number(draft: Draft) -> dict[str | None, DraftItem]:
    return {item.number: item for item in draft.all_items()}


def draft_sections_items(draft: Draft, title: str) -> list[DraftItem]:
    return [i for s in draft.sections if s.title == title for i in s.all_items()]


def titles(sections: list[DraftSection]) -> list[str]:
    return [s.title for s in sections]


# -- header names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("序号", ROLE_NUMBER),
        ("序 号", ROLE_NUMBER),
        ("编号", ROLE_NUMBER),
        ("类别", ROLE_LEVEL),
        ("领域", ROLE_LEVEL),
        ("一级指标", ROLE_LEVEL),
        ("三级指标", ROLE_LEVEL),
        ("指标名称", ROLE_LEVEL),
        ("考核项目", ROLE_LEVEL),
        ("评估内容", ROLE_CONTENT),
        ("考核内容", ROLE_CONTENT),
        ("评分标准", ROLE_CONTENT),
        ("考评要点", ROLE_CONTENT),
        ("具体内容", ROLE_CONTENT),
        ("工作任务", ROLE_CONTENT),
        ("指标说明", ROLE_CONTENT),
        ("分值", ROLE_POINTS),
        ("分数", ROLE_POINTS),
        ("标准分", ROLE_POINTS),
        ("权重", ROLE_WEIGHT),
        ("权重（%）", ROLE_WEIGHT),
        ("牵头考核单位", ROLE_ASSESSOR),
        ("考核单位", ROLE_ASSESSOR),
        ("责任单位", ROLE_RESPONSIBLE),
        ("牵头单位", ROLE_LEAD),
        ("关联单 位", ROLE_ASSESSED),
        ("评估对象", ROLE_ASSESSED),
        ("适用对象", ROLE_ASSESSED),
        ("完成时限", ROLE_DEADLINE),
        ("时间节点", ROLE_DEADLINE),
        ("目标值", ROLE_TARGET),
    ],
)
def test_header_names_and_their_variants_give_the_column_role(name: str, role: str) -> None:
    assert role_of(name) == role


def test_a_line_of_prose_or_a_metadata_table_is_not_a_header() -> None:
    assert read_header(["索 引 号:", "231100/2023-00025", "主题分类:", ""]) is None
    assert read_header(["各县区人民政府", "市直各部门"]) is None


# -- cell text ----------------------------------------------------------------------------------


def test_spaces_between_chinese_characters_are_removed_others_kept() -> None:
    assert clean_text("1.制定发布本部门数 字政府建设任务规划(整体规 划、工作方案)情 况;") == (
        "1.制定发布本部门数字政府建设任务规划(整体规划、工作方案)情况;"
    )
    assert clean_text("教育、社保、 住房") == "教育、社保、住房"
    assert clean_text("“一件事一 次办 ”集成服务的数量, 办理材料") == (
        "“一件事一次办”集成服务的数量,办理材料"
    )
    # Spaces next to letters, digits and % are the document's own.
    assert clean_text("如无自建 APP,完成率达到 100% 指标") == "如无自建 APP,完成率达到 100% 指标"


def test_a_unit_cell_keeps_a_wrapped_name_whole_and_splits_two_names() -> None:
    assert clean_units("各县市 区人民 政府、 市级各 部门") == "各县市区人民政府、市级各部门"
    assert clean_units("市政务服务中心 市大数据中心") == "市政务服务中心、市大数据中心"
    assert clean_units("市委办(档案局)") == "市委办(档案局)"


# -- scraped text: rows over several lines ----------------------------------------------------

SCRAPED = """\
附表:某市数字政府建设评估指标体系
评估指标体系
序 号 | 类别 | 一级指标 | 二级指标 | 评估内容 | 关联单 位 | 权重 |
1 |
统筹 管理 |
规划设计 |
规划设计 | 1.制定发布本地区数 字政府建设任务规划情 况; | 各县市 区人民 政府、 市级各 部门 |
5 |
2 |
2.制定发布相关年度计划(工 作要点等)情况。 | 各县市 区人民 政府、 市级各 部门 |
3 | |||
3 |
组织保障 |
领导机制 |
是否成立专门的领导小组。 | 各县市 区人民 政府 |
2 | |
序 号 | 类别 | 一级指标 | 二级指标 | 评估内容 | 关联单 位 | 权重 |
---|---|---|---|---|---|---|
4 |
项目 建设 |
省建市用 |
身份认证 | 是否实现省级统一身份认 证接入。(按需) | 各县市 区人民 政府、 市级各 |
4 |
部门 | ||||||
5 |
电子证照 |
是否实现省级统一电子证 照接入。(按需) | 各县市 区人民 政府、 市级各 部门 |
6 | |
6 |
电子印章 |
是否实现电子印章接入,整合办事服务、互 | 各县市 区人民 政府、 市级各 部门 |
3 |
动服务等资源的情 况; | ||||||
"""


def test_scraped_rows_are_rebuilt_from_lines() -> None:
    draft = parse_text(SCRAPED)
    items = items_of(draft)
    assert [i.number for i in items] == ["1", "2", "3", "4", "5", "6"]
    # A weight equal to the next 序号 is the weight: the row still lacked it.
    assert [i.weight for i in items] == [Decimal(n) for n in (5, 3, 2, 4, 6, 3)]
    assert draft.kind == KIND_INDICATORS
    first = items[0]
    assert first.text == "1.制定发布本地区数字政府建设任务规划情况;"
    assert first.assessed == ["各县市区人民政府", "市级各部门"]
    assert items[2].assessed == ["各县市区人民政府"]
    assert all(FLAG_CUT_OFF not in i.flags for i in items)


def test_a_cell_cut_by_a_page_break_is_joined_to_the_cell_it_completes() -> None:
    draft = parse_text(SCRAPED)
    rows = by_number(draft)
    assert rows["4"].assessed == ["各县市区人民政府", "市级各部门"]  # 市级各 + 部门
    assert rows["6"].text == "是否实现电子印章接入,整合办事服务、互动服务等资源的情况;"


def test_merged_indicator_cells_carry_down_and_become_nested_sections() -> None:
    draft = parse_text(SCRAPED)
    assert titles(draft.sections) == ["统筹管理", "项目建设"]
    management = draft.sections[0]
    assert titles(management.sections) == ["规划设计", "组织保障"]
    planning = management.sections[0]
    # The lowest indicator column covers several rows: it is a section, the rows are items.
    assert titles(planning.sections) == ["规划设计"]
    assert [i.number for i in planning.sections[0].items] == ["1", "2"]
    assert [i.title for i in planning.sections[0].items] == [None, None]
    # No points printed on the groups: none invented.
    assert all(s.points is None for s in draft.sections)
    project = draft.sections[1]
    assert titles(project.sections) == ["省建市用"]
    assert titles(project.sections[0].sections) == ["身份认证", "电子证照", "电子印章"]


def test_rows_marked_as_needed_apply_only_where_relevant() -> None:
    rows = by_number(parse_text(SCRAPED))
    assert rows["4"].applicability == "as_needed"
    assert rows["4"].text.endswith("(按需)")  # kept as printed
    assert rows["1"].applicability is None


def test_table_spans_are_returned_for_the_prose_reader_to_skip() -> None:
    from taskhub.documents.readers import from_text
    from taskhub.documents.tables import read_tables

    doc = from_text("一、总体要求\n加强领导。\n" + SCRAPED)
    spans = read_tables(doc, Draft(source_text=doc.text))
    assert len(spans) == 1
    start, end = spans[0]
    assert doc.text[start:end].startswith("评估指标体系\n序 号")
    assert doc.text[start:end].rstrip().endswith("动服务等资源的情 况; | ||||||")
    item = by_number(parse(doc))["2"]
    assert item.source is not None
    assert doc.text[item.source.start : item.source.end].startswith("2 |\n2.制定")


# -- one-line rows with merged cells left out (Shengzhou) -----------------------------------

TWO_TABLES = """\
考核评价办法
一、考核体系
1.按总分 100 分评价。
附件:考核指标体系
表一 乡镇(街道)考核指标
序号 | 一级指标 | 二级指标 | 指标说明 | 牵头考核单位 |
1 | 体制机制 (6分) | 组织保障 (2分) | 有年度工作计划 | 市大数据中心 |
2 | 业务培训 (4分) | 积极参加各类培训 | 市大数据中心 | |
3 | 基层治理 四平台 (94分) | 网格事件 办结率 (94分) | 办结率达到 100% | 市委政法委 |
表二 市级部门考核指标
序号 | 一级指标 | 二级指标 | 三级指标 | 指标说明 | 牵头考核单位 |
1 | 信息化建设 (50) | 智慧办公 (20分) | 活跃率(20分) | 日均活跃率 | 市政务服务中心 市大数据中心 |
2 | 档案工作 (30分) | 电子归档(10分) | (1)配置完成,得5分;(2)归档率达标,得5分。 | 市委办(档案局) | |
OA办公电子归档 (10分) | OA电子公文归档工作。 | ||||
数字档案馆(室)创建(10分) | 完成数字档案室创建工作。 | ||||
3 | 公共数据 (40分) | 数据目录 (40分)
| 数据目录总量 (40分) | 各部门数据目录编制情况 | 市大数据中心 |
某市人民政府主办 网站标识码3306830002
浙江网安备 33068302000392号
"""


def test_several_tables_become_top_level_sections_titled_from_their_caption() -> None:
    draft = parse_text(TWO_TABLES)
    assert [(s.number, s.title) for s in draft.sections] == [
        ("表一", "乡镇(街道)考核指标"),
        ("表二", "市级部门考核指标"),
    ]
    # A table whose groups add up to the total the document states (总分100分) carries it;
    # one that does not gets no total (never invented).
    assert [s.points for s in draft.sections] == [Decimal(100), None]


def test_one_line_rows_with_merged_cells_left_out_are_realigned() -> None:
    table_one, table_two = parse_text(TWO_TABLES).sections
    assert titles(table_one.sections) == ["体制机制", "基层治理四平台"]
    assert [s.points for s in table_one.sections] == [Decimal(6), Decimal(94)]
    items = table_one.all_items()
    assert [(i.number, i.title, i.points) for i in items] == [
        ("1", "组织保障", Decimal(2)),
        ("2", "业务培训", Decimal(4)),
        ("3", "网格事件办结率", Decimal(94)),
    ]
    assert items[1].text == "积极参加各类培训"
    assert items[1].lead_assessors == ["市大数据中心"]
    assert items[2].text == "办结率达到 100%"
    # 表二: three levels; a bare (50) counts as points where the names print 分.
    assert [(s.title, s.points) for s in table_two.sections] == [
        ("信息化建设", Decimal(50)),
        ("公共数据", Decimal(40)),
    ]
    first = table_two.sections[0]
    assert [(s.title, s.points) for s in first.sections] == [
        ("智慧办公", Decimal(20)),
        ("档案工作", Decimal(30)),
    ]
    assert first.sections[0].items[0].title == "活跃率"
    assert first.sections[0].items[0].lead_assessors == ["市政务服务中心", "市大数据中心"]


def test_unnumbered_rows_are_items_without_a_number_and_keep_the_merged_assessor() -> None:
    table_two = parse_text(TWO_TABLES).sections[1]
    archive = table_two.sections[0].sections[1]
    assert archive.title == "档案工作"
    archive_items = archive.items
    assert [(i.number, i.title, i.points) for i in archive_items] == [
        ("2", "电子归档", Decimal(10)),
        (None, "OA办公电子归档", Decimal(10)),
        (None, "数字档案馆(室)创建", Decimal(10)),
    ]
    assert all(i.lead_assessors == ["市委办(档案局)"] for i in archive_items)


def test_a_row_broken_after_a_cell_is_joined_and_the_footer_is_not_a_row() -> None:
    table_two = parse_text(TWO_TABLES).sections[1]
    last = table_two.all_items()[-1]
    assert (last.number, last.title, last.points) == ("3", "数据目录总量", Decimal(40))
    assert last.text == "各部门数据目录编制情况"
    assert "网站标识码" not in last.text


# -- pasted tab-separated table ----------------------------------------------------------------

TABBED = """\
附件
2023年数字政府建设考核细则
序号\t一级指标\t二级指标\t考核内容\t分值\t牵头考核单位\t完成时限
1\t政务服务（15分）\t一网通办\t政务服务事项网上可办率达到95%以上\t10\t市政务服务中心\t2023年12月底前
2\t\t好差评\t差评整改率100%，每有一件未整改扣1分\t5\t市政务服务中心、市委督查室\t2023年6月底前
3\t数据共享（20分）\t数据目录\t完成数据资源目录编制
（按需）\t10\t市大数据局\t2023年9月底前
4\t\t数据归集\t按时完成数据归集任务\t10\t市大数据局\t持续推进
5\t安全保障（5分）\t网络安全\t无重大网络安全事件\t5\t市委网信办、市公安局等有关单位\t全年
6\t安全保障（5分）\t网络监管
"""


def test_a_pasted_tab_table_with_points_assessors_and_deadlines() -> None:
    draft = parse_text(TABBED)
    assert [(s.title, s.points) for s in draft.sections] == [
        ("政务服务", Decimal(15)),
        ("数据共享", Decimal(20)),
        ("安全保障", Decimal(5)),
    ]
    rows = by_number(draft)
    assert (rows["1"].title, rows["1"].points, rows["1"].deadline_text) == (
        "一网通办",
        Decimal(10),
        "2023年12月底前",
    )
    assert rows["2"].lead_assessors == ["市政务服务中心", "市委督查室"]
    # The empty 一级指标 cell under a merged one belongs to the group above.
    assert [i.number for i in draft.sections[0].items] == ["1", "2"]
    # A cell holding a line break is one cell.
    assert rows["3"].text == "完成数据资源目录编制（按需）"
    assert rows["3"].applicability == "as_needed"
    assert (rows["3"].points, rows["3"].lead_assessors) == (Decimal(10), ["市大数据局"])
    assert rows["4"].deadline_text == "持续推进"
    assert rows["5"].lead_assessors == ["市委网信办", "市公安局"]
    assert rows["5"].open_units


def test_a_row_cut_off_is_flagged_and_nothing_is_invented() -> None:
    rows = by_number(parse_text(TABBED))
    cut = rows["6"]
    assert FLAG_CUT_OFF in cut.flags
    assert not cut.complete
    assert cut.points is None
    assert cut.text == "网络监管"
    assert (cut.lead_assessors, cut.deadline_text) == ([], None)  # not carried into a cut row
    # The same group name printed again is the same group.
    assert [i.number for i in draft_sections_items(parse_text(TABBED), "安全保障")] == ["5", "6"]
    assert all(FLAG_CUT_OFF not in rows[n].flags for n in "12345")


# -- table blocks (.docx / .html: a merged cell repeats its text) -----------------------------


def block_document(before: list[str], rows: list[list[str]]) -> SourceDocument:
    """A document as the .docx/.html readers give it: paragraphs, then one table block."""
    text, blocks = "", []
    for line in before:
        blocks.append(Block("paragraph", len(text), len(text) + len(line), line))
        text += line + "\n"
    start, starts = len(text), []
    for row in rows:
        starts.append(len(text))
        text += "\t".join(row) + "\n"
    blocks.append(
        Block("table", start, len(text) - 1, text[start:-1], rows=rows, row_starts=starts)
    )
    return SourceDocument(name="plan.docx", format="docx", text=text, blocks=blocks)


DOCX_ROWS = [
    ["序号", "考核指标", "考核指标", "评分标准", "标准分", "考核单位"],
    ["序号", "一级指标", "二级指标", "评分标准", "标准分", "考核单位"],
    ["1", "组织领导（10分）", "领导机制", "成立领导小组得5分", "5", "市委办"],
    ["2", "组织领导（10分）", "工作推进", "定期召开会议，满分5分", "5", "市委办"],
    [
        "3",
        "平台建设（10分）",
        "平台应用",
        "（1）按时上线，得2分；（2）用户活跃，得3分",
        "5",
        "市大数据局",
    ],
    ["3", "平台建设（10分）", "平台应用", "（3）接入统一身份认证", "5", "市大数据局"],
    ["4", "平台建设（10分）", "档案归档", "完成电子归档", "2.5", "市档案馆"],
    ["4", "平台建设（10分）", "数字档案室", "完成档案室创建", "2.5", "市档案馆"],
]


def test_a_docx_table_with_merged_cells_and_a_two_row_header() -> None:
    draft = parse(block_document(["某市考核办法", "表1 区县考核指标"], DOCX_ROWS))
    assert [(s.title, s.points) for s in draft.sections] == [
        ("组织领导", Decimal(10)),
        ("平台建设", Decimal(10)),
    ]
    items = items_of(draft)
    assert [(i.number, i.title, i.points) for i in items] == [
        ("1", "领导机制", Decimal(5)),
        ("2", "工作推进", Decimal(5)),
        ("3", "平台应用", Decimal(5)),
        ("4", "档案归档", Decimal("2.5")),
        ("4", "数字档案室", Decimal("2.5")),  # a 序号 merged over two rows: both rows' number
    ]
    # Rows under one merged 序号, indicator and points cell are one indicator's text.
    assert items[2].text == "（1）按时上线，得2分；（2）用户活跃，得3分（3）接入统一身份认证"
    assert items[0].lead_assessors == ["市委办"]


HTML_ROWS = [
    ["编号", "考核项目", "考核内容", "分数", "责任单位", "目标值"],
    ["1", "政务服务", "网上可办率", "10%", "市政务服务中心", "≥95%"],
    ["2", "数据共享", "共享数据调用量，本项满分3分", "", "市大数据局", ""],
    ["3", "数据共享", "数据质量问题整改", "20%", "各县（市、区）人民政府", ""],
]


def test_an_html_table_with_responsible_units_and_targets() -> None:
    draft = parse(block_document(["某市数字政府考核"], HTML_ROWS))
    items = items_of(draft)
    assert [i.number for i in items] == ["1", "2", "3"]
    assert items[0].points == Decimal(10)  # percent sign dropped
    assert items[0].target == "≥95%"
    assert items[0].responsible_units == ["市政务服务中心"]
    assert items[2].responsible_units == ["各县（市、区）人民政府"]
    # A points column with an empty cell: the row is flagged, not filled from elsewhere.
    assert items[1].points is None and FLAG_CUT_OFF in items[1].flags


# -- the seed documents ------------------------------------------------------------------------


def seed_draft(name: str) -> Draft:
    return parse_text((FIXTURES / name).read_text(encoding="utf-8"))


def test_heihe_seed_table() -> None:
    draft = seed_draft("000_c1d3a052319f85cf.txt")
    items = items_of(draft)
    assert [i.number for i in items] == [str(n) for n in range(1, 55)]
    assert sum(i.weight for i in items if i.weight is not None) == 100
    assert all(i.weight is not None for i in items)
    assert titles(draft.sections) == [
        "统筹管理",
        "项目建设",
        "数据共享开放",
        "安全保障",
        "应用成效",
    ]
    first_level = [s for c in draft.sections for s in c.sections]
    assert len(first_level) == 13
    assert len([s for f in first_level for s in f.sections]) == 44
    assert [i.number for i in items if i.applicability == "as_needed"] == [
        str(n) for n in range(19, 25)
    ]
    rows = by_number(draft)
    assert rows["8"].assessed == ["各县市区人民政府"]
    assert rows["25"].assessed == ["各县市区人民政府", "市级各部门"]
    assert rows["50"].text.endswith("整合办事服务、查询服务、互动服务等各类服务资源的情况;")
    # The body the prose names as assessing the whole system.
    assert rows["1"].lead_assessors == ["优化营商环境领导小组办公室"]
    assert all(not i.flags for i in items)


def test_shengzhou_seed_tables() -> None:
    draft = seed_draft("002_014d5ff27fa9e601.txt")
    tables = {s.number: s for s in draft.sections if s.number in ("表一", "表二")}
    table_one, table_two = tables["表一"], tables["表二"]
    assert [s.number for s in draft.sections][:2] == ["表一", "表二"]
    assert table_one.points == table_two.points == Decimal(100)
    assert len(table_one.sections) == 7
    assert len(table_two.sections) == 8
    one, two = table_one.all_items(), table_two.all_items()
    assert len(one) == 24 and len(two) == 53
    assert "6" not in [i.number for i in one]
    assert [i.number for i in two].count(None) == 2
    assert sum(i.points for i in one if i.points) == 100
    assert sum(i.points for i in two if i.points) == 100
    assert sum(s.points for s in table_two.sections if s.points) == 100
    row_seven = next(i for i in one if i.number == "7")
    assert row_seven.lead_assessors == ["市政务服务中心", "市大数据中心"]
    assert all(i.lead_assessors for i in one + two)


# -- other text layouts ------------------------------------------------------------------------

MARKDOWN = """\
| 序号 | 指标名称 | 评分标准 | 分值 | 责任单位 | 完成时间 |
| --- | --- | --- | --- | --- | --- |
| 1 | 事项标准化 | 完成率100%得5分 | 5 | 市行政审批局 | 2022年6月底前 |
| 2 | 电子证照应用 | 每少一类扣0.5分 | 3 | 市大数据局、市公安局 | 2022年12月底前 |
"""


def test_a_markdown_table() -> None:
    items = items_of(parse_text(MARKDOWN))
    assert [(i.number, i.title, i.points) for i in items] == [
        ("1", "事项标准化", Decimal(5)),
        ("2", "电子证照应用", Decimal(3)),
    ]
    assert items[1].responsible_units == ["市大数据局", "市公安局"]
    assert items[1].deadline_text == "2022年12月底前"


OPEN_BARS = """\
序号 | 一级指标 | 二级指标 | 考核内容 | 分值 | 牵头单位
1 | 数字基础设施（10分） | 政务云 | 上云率达到90% | 6 | 市大数据局
2 | 政务外网 | 覆盖到村，满分4分 | 4 | 市大数据局
3 | 数据资源（5分） | 数据目录 | 目录编制完成 | 5 | 市大数据局、各县（市、区）人民政府
"""


def test_a_scraped_table_without_closing_bars_and_merged_cells_left_out() -> None:
    draft = parse_text(OPEN_BARS)
    assert [(s.title, s.points) for s in draft.sections] == [
        ("数字基础设施", Decimal(10)),
        ("数据资源", Decimal(5)),
    ]
    rows = by_number(draft)
    assert (rows["2"].title, rows["2"].text, rows["2"].points) == (
        "政务外网",
        "覆盖到村，满分4分",
        Decimal(4),
    )
    assert rows["2"].lead_units == ["市大数据局"]
    assert rows["3"].lead_units == ["市大数据局", "各县（市、区）人民政府"]


FLATTENED = """\
某县2021年数字政府建设考核细则
考核项目
考核内容
评分标准
1.组织保障(10分)
成立工作专班,明确分管领导。
未成立工作专班扣5分;未明确分管领导扣5分。
2.平台应用(20分)
按要求使用一体化平台。
使用率低于80%的扣10分。
三、工作要求
各单位要高度重视。
"""


def test_a_table_flattened_one_cell_per_line() -> None:
    items = items_of(parse_text(FLATTENED))
    assert [(i.number, i.title, i.points) for i in items] == [
        ("1", "组织保障", Decimal(10)),
        ("2", "平台应用", Decimal(20)),
    ]
    # Deductions (扣5分) are rules, not the item's points; both text columns are kept.
    assert items[0].text == "成立工作专班,明确分管领导。\n未成立工作专班扣5分;未明确分管领导扣5分。"
    # The prose after the table is not a row.
    assert all("高度重视" not in i.text for i in items)
    cut = parse_text(
        "\n".join(FLATTENED.splitlines()[:10]) + "\n3.数据共享(15分)\n按时完成数据\n"
    ).all_items()[-1]
    assert (cut.number, cut.points, cut.text) == ("3", Decimal(15), "按时完成数据")
    assert FLAG_CUT_OFF in cut.flags and not cut.complete


def test_prose_with_numbered_lines_is_not_a_table() -> None:
    text = "一、总体要求\n1.加强领导。\n2.明确责任,牵头单位:市大数据局。\n序号是指任务的编号。\n"
    assert items_of(parse_text(text)) == []


def test_a_sum_row_is_not_an_item_and_gives_the_total() -> None:
    text = (
        "序号\t考核项目\t评分标准\t分值\t考核单位\n"
        "1\t组织领导\t成立领导小组\t40\t市委办\n"
        "2\t平台建设\t按时上线\t60\t市大数据局\n"
        "合计\t\t\t100\t\n"
    )
    draft = parse_text(text)
    assert [i.number for i in items_of(draft)] == ["1", "2"]
    assert draft.points == Decimal(100)


def test_a_points_cell_that_is_not_a_number_is_flagged_not_guessed() -> None:
    text = (
        "序号\t考核项目\t评分标准\t分值\t考核单位\n1\t创新工作\t获得省级以上表彰\t加分项\t市委办\n"
    )
    item = items_of(parse_text(text))[0]
    assert item.points is None
    assert "ambiguous" in item.flags


def pages_document(parts: list[list[str] | list[list[str]]]) -> SourceDocument:
    """Paragraph lines (a list of str) and table blocks (a list of rows), in order."""
    text, blocks = "", []
    for part in parts:
        if part and isinstance(part[0], str):
            for line in part:
                assert isinstance(line, str)
                blocks.append(Block("paragraph", len(text), len(text) + len(line), line))
                text += line + "\n"
            continue
        start, starts, rows = len(text), [], []
        for row in part:
            assert isinstance(row, list)
            starts.append(len(text))
            rows.append(row)
            text += "\t".join(row) + "\n"
        blocks.append(
            Block("table", start, len(text) - 1, text[start:-1], rows=rows, row_starts=starts)
        )
    return SourceDocument(name="plan.pdf", format="pdf", text=text, blocks=blocks)


def test_a_table_continued_on_the_next_page_is_one_table() -> None:
    header = ["序号", "一级指标", "评估内容", "权重", "评估对象"]
    doc = pages_document(
        [
            ["评估指标体系"],
            [
                header,
                ["1", "统筹管理", "制定发布建设规划情况；", "5", "各县市区人民政府"],
                [
                    "2",
                    "统筹管理",
                    "制定年度计划，整合办事服务、互",
                    "3",
                    "各县市区人民政府、市级各",
                ],
            ],
            ["— 7 —"],
            [
                ["", "", "动服务等资源的情况。", "", "部门"],
                ["3", "数据共享", "目录完整性。", "2", "市级各部门"],
            ],
        ]
    )
    draft = parse(doc)
    rows = by_number(draft)
    assert list(rows) == ["1", "2", "3"]
    assert rows["2"].text == "制定年度计划，整合办事服务、互动服务等资源的情况。"
    assert rows["2"].assessed == ["各县市区人民政府", "市级各部门"]
    assert titles(draft.sections) == ["统筹管理", "数据共享"]


def test_a_flattened_table_with_a_points_column_equal_to_the_next_number() -> None:
    lines = ["序号", "考核项目", "考核内容", "分值"]
    lines += ["1", "组织领导", "成立领导小组。", "2", "2", "平台建设", "按时上线。", "5"]
    text = "\n".join(lines) + "\n"
    items = items_of(parse_text(text))
    assert [(i.number, i.title, i.points) for i in items] == [
        ("1", "组织领导", Decimal(2)),
        ("2", "平台建设", Decimal(5)),
    ]


def test_the_assessed_column_names_who_the_plan_assesses() -> None:
    draft = parse_text(SCRAPED)
    assert draft.assessed == ["各县市区人民政府", "市级各部门"]


# -- group rows inside a table -----------------------------------------------------------------

GROUPED_PIPES = """\
序号 | 考核内容 | 分值 | 考核单位 |
一、政务服务（30分） | | | |
1 | 网上可办率达到90% | 10 | 市政务服务中心 |
2 | 好差评整改率100% | 20 | 市政务服务中心 |
二、数据共享（20分） | | | |
3 | 数据目录编制完成 | 20 | 市大数据局 |
"""

GROUPED_TABS = (
    "序号\t考核项目\t评分标准\t分值\t考核单位\n"
    "一\t政务服务\t\t30\t\n"
    "1\t网上可办\t可办率达到90%\t10\t市政务服务中心\n"
    "2\t好差评\t整改率100%\t20\t市政务服务中心\n"
    "二\t数据共享\t\t20\t\n"
    "3\t数据目录\t编制完成\t20\t市大数据局\n"
)


@pytest.mark.parametrize("text", [GROUPED_PIPES, GROUPED_TABS], ids=["pipes", "tabs"])
def test_group_rows_inside_a_table_become_sections(text: str) -> None:
    draft = parse_text(text)
    assert [(s.number, s.title, s.points) for s in draft.sections] == [
        ("一", "政务服务", Decimal(30)),
        ("二", "数据共享", Decimal(20)),
    ]
    assert [[i.number for i in s.items] for s in draft.sections] == [["1", "2"], ["3"]]
    assert all(i.points for i in items_of(draft))


def test_a_docx_row_merged_across_the_table_is_a_group() -> None:
    header = ["序号", "指标名称", "评分标准", "分值", "考核单位"]
    rows = [
        header,
        ["（一）数字基础设施（10分）"] * 5,
        ["1", "政务云", "上云率达到90%", "10", "市大数据局"],
        ["（二）数据共享（5分）"] * 5,
        ["2", "数据目录", "编制完成", "5", "市大数据局"],
    ]
    draft = parse(block_document([], rows))
    assert [(s.number, s.title, s.points) for s in draft.sections] == [
        ("一", "数字基础设施", Decimal(10)),
        ("二", "数据共享", Decimal(5)),
    ]
    assert [i.title for i in items_of(draft)] == ["政务云", "数据目录"]


TASK_TABLE = """\
数字政府建设重点任务分工表
序号 | 重点任务 | 具体内容 | 牵头单位 | 配合单位 | 完成时限 |
1 | 推进“一网通办” | 深化政务服务标准化建设,实现
市县乡三级事项同源。 | 市政务服务数据管理局 |
各县(市、区)人民政府,市直各有关单位 | 2023年 12月底前 |
2 | 推进“一网统管” | 建设城市运行管理中心。 | 市城市管理局 | 市公安局、市应急管理局 | 持续推进 |
3 | 强化数据共享 | 完善公共数据平台。 | 市政务服务数据管理局 | 2023年6月底前 | |
三、保障措施
(一)加强组织领导。各地各部门要高度重视。
"""


def test_a_task_table_names_each_task_and_its_units_by_role() -> None:
    draft = parse_text(TASK_TABLE)
    assert draft.kind != KIND_INDICATORS  # tasks, not indicators
    rows = by_number(draft)
    assert list(rows)[:3] == ["1", "2", "3"]  # the prose reader may add its items after
    first = rows["1"]
    # Two text columns, the first of short names: it names the task.
    assert (first.title, first.text) == (
        "推进“一网通办”",
        "深化政务服务标准化建设,实现市县乡三级事项同源。",
    )
    assert first.lead_units == ["市政务服务数据管理局"]
    assert first.responsible_units == ["各县(市、区)人民政府", "市直各有关单位"]
    assert first.deadline_text == "2023年12月底前"
    # A row short of a cell: the lead is its own, the deadline is placed by what it reads like.
    assert rows["3"].lead_units == ["市政务服务数据管理局"]
    assert rows["3"].deadline_text == "2023年6月底前"


CONTINUED = """\
序号 | 指标名称 | 评分标准 | 分值 |
1 | 组织领导 | 成立领导小组,报市智慧办审查
备案。 | 5 |
— 2 —
表1(续)
序号 | 指标名称 | 评分标准 | 分值 |
2 | 平台应用 | 按时上线 | 5 |
某市人民政府主办 网站标识码1234567890
"""


def test_page_numbers_continued_captions_and_the_page_footer_are_not_rows() -> None:
    draft = parse_text(CONTINUED)
    assert draft.sections == []  # one table, not two
    items = items_of(draft)
    assert [(i.number, i.title, i.text) for i in items] == [
        ("1", "组织领导", "成立领导小组,报市智慧办审查备案。"),
        ("2", "平台应用", "按时上线"),
    ]


def docx_document(paragraphs_before: list[str], rows: list[list[str]], after: list[str]) -> bytes:
    """A .docx written by Word's library: paragraphs, one table, paragraphs."""
    document = docx.Document()
    for text in paragraphs_before:
        document.add_paragraph(text)
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    for text in after:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_a_table_under_a_prose_heading_gives_its_rows_to_that_heading() -> None:
    data = docx_document(
        [
            "东江市2024年数字政府建设考核方案",
            "一、总体要求",
            "以数字化改革为牵引，全面提升政府治理能力。",
            "二、夯实数据资源基础",
        ],
        [
            ["序号", "指标", "内容", "分值", "牵头考核单位"],
            ["1", "数据目录", "编制完成全市数据资源目录。", "5", "市大数据局"],
            ["2", "数据共享", "共享接口调用量达到要求。", "5", "市大数据局"],
        ],
        ["三、强化安全保障", "3.落实网络安全责任制。（市委网信办牵头，市公安局配合）"],
    )
    draft = parse(readers.read("plan.docx", data))
    assert draft.items == []  # nothing under no heading
    assert [(s.number, s.title, [i.title for i in s.items]) for s in draft.sections] == [
        ("二", "夯实数据资源基础", ["数据目录", "数据共享"]),
        ("三", "强化安全保障", ["落实网络安全责任制"]),
    ]
    assert draft.sections[0].items[0].lead_assessors == ["市大数据局"]


def test_a_tables_indicator_sections_nest_under_the_heading_above() -> None:
    data = docx_document(
        ["东江市2024年数字政府建设考核方案", "一、考核内容", "（一）基础建设"],
        [
            ["序号", "一级指标", "二级指标", "评分标准", "分值"],
            ["1", "数据资源（10分）", "数据目录", "编制完成全市数据资源目录。", "5"],
            ["2", "数据资源（10分）", "数据共享", "共享接口调用量达到要求。", "5"],
        ],
        [
            "（二）安全保障",
            "1.落实网络安全责任制。（市委网信办牵头，市公安局配合）",
        ],
    )
    draft = parse(readers.read("plan.docx", data))
    assert draft.items == []
    [top] = draft.sections
    assert (top.number, [(s.number, s.title) for s in top.sections]) == (
        "一",
        [("(一)", "基础建设"), ("(二)", "安全保障")],
    )
    basis = top.sections[0]
    assert [(s.title, s.points) for s in basis.sections] == [("数据资源", Decimal(10))]
    assert [i.title for i in basis.sections[0].items] == ["数据目录", "数据共享"]


def test_a_task_above_a_table_is_no_heading_the_table_goes_to_its_heading() -> None:
    data = docx_document(
        [
            "东江市2024年数字政府建设工作要点",
            "一、重点任务",
            "1.推进数据共享。建设共享平台。（市数据局牵头，市财政局配合）",
        ],
        [
            ["序号", "重点任务", "具体内容", "牵头单位", "完成时限"],
            ["2", "推进数据开放", "开放公共数据集。", "市数据局", "2024年底前"],
        ],
        [],
    )
    draft = parse(readers.read("plan.docx", data))
    [top] = draft.sections
    assert (top.number, [(i.number, i.lead_units) for i in top.items]) == (
        "一",
        [("1", ["市数据局"]), ("2", ["市数据局"])],
    )
    assert top.sections == [] and draft.items == []


def test_two_tables_each_under_its_heading_are_that_headings_rows() -> None:
    document = docx.Document()
    header = ["序号", "指标", "内容", "分值", "牵头考核单位"]
    parts = [
        ("一、夯实数据资源基础（10分）", [["1", "数据目录", "编制完成。", "5", "市大数据局"]]),
        ("二、强化安全保障（5分）", [["2", "网络安全", "落实责任制。", "5", "市委网信办"]]),
    ]
    document.add_paragraph("东江市2024年数字政府建设考核方案")
    for heading, rows in parts:
        document.add_paragraph(heading)
        table = document.add_table(rows=len(rows) + 1, cols=len(header))
        for r, row in enumerate([header, *rows]):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    draft = parse(readers.read("plan.docx", buffer.getvalue()))
    # one section per heading (the heading line is not also a section of its own table)
    assert [
        (s.number, s.title, s.points, [i.title for i in s.items], s.sections)
        for s in draft.sections
    ] == [
        ("一", "夯实数据资源基础", Decimal(10), ["数据目录"], []),
        ("二", "强化安全保障", Decimal(5), ["网络安全"], []),
    ]


def _cell_per_lines(rows: list[list[str]]) -> str:
    """A web table flattened as some pages do: ``|`` opens a row at the margin, each cell's
    lines are indented and closed by an indented ``|``."""
    out: list[str] = []
    for row in rows:
        out.append("| ")
        for cell in row:
            out.extend(f"        {line} " for line in cell.split("\n"))
            out.append("        | ")
    return "\n".join(out)


SCATTERED = (
    _cell_per_lines(
        [
            ["序\n号", "工作任务", "牵头单位", "责任单位", "完成时限"],
            ["1", "建设统一的数据目录。", "市数据局", "市财政局\n各镇(街道)", "2024年6月底"],
            ["2", "建立数据质量通报制度。", "市数据局", "", "2024年9月底"],
        ]
    )
    + "\n| \n        3 \n        | \n        推进公共数据开放,打造覆盖"
)


def test_a_table_with_each_cell_over_several_lines_reads_one_row_per_task() -> None:
    rows = by_number(parse_text(SCATTERED))
    assert list(rows) == ["1", "2", "3"]
    first = rows["1"]
    assert first.text == "建设统一的数据目录。"
    assert first.lead_units == ["市数据局"]
    assert first.responsible_units == ["市财政局", "各镇(街道)"]  # two names on two lines
    assert first.deadline_text == "2024年6月底"
    # An empty cell printed as such is empty: nothing carried down from the row above.
    assert rows["2"].responsible_units == []
    assert rows["2"].deadline_text == "2024年9月底"
    # A row cut off by the end of the page keeps its text, has no units, and is flagged.
    cut = rows["3"]
    assert cut.text == "推进公共数据开放,打造覆盖"
    assert cut.lead_units == [] and cut.deadline_text is None
    assert FLAG_CUT_OFF in cut.flags


FLAT_UNNUMBERED = """\
附件3:
窗口单位考核表

指标

分值

内容

赋分标准

考核科室

得分

制度建设

30分

建立首问负责制度。

未建立的扣10分。

制度未公开的扣5分。

服务质量

评价

70分

群众满意率达到95%。

每低1个百分点扣2分。

第 [1] [2] 页 共[3]页
【发表评论】 【打印本页】
"""


def test_an_unnumbered_table_flattened_one_cell_per_line_reads_name_and_points() -> None:
    draft = parse_text(FLAT_UNNUMBERED)
    items = items_of(draft)
    # A name printed over two lines is one name; 得分 (the score given) is not the points.
    assert [(i.title, i.points) for i in items] == [
        ("制度建设", Decimal(30)),
        ("服务质量评价", Decimal(70)),
    ]
    assert items[0].text == "建立首问负责制度。\n未建立的扣10分。制度未公开的扣5分。"
    # The pager and the page's link row are neither text nor items; nothing is cut off.
    assert items[1].text == "群众满意率达到95%。\n每低1个百分点扣2分。"
    assert all(FLAG_CUT_OFF not in i.flags for i in items)


def test_a_score_given_column_beside_the_points_is_not_the_points() -> None:
    columns = read_header(["序号", "考核内容", "分值", "得分"])
    assert columns is not None
    assert [c.role for c in columns] == ["number", "content", "points", "other"]
    # Alone, 得分 is the points column.
    alone = read_header(["序号", "考核内容", "得分"])
    assert alone is not None and alone[2].role == "points"


MERGED_HTML = """<table>
<caption>某县2020年度责任单位考核细则</caption>
<tr><th>序号</th><th colspan="2">考核项目</th><th>分值</th><th>考核内容</th><th>评分标准</th></tr>
<tr><td>一、</td><td colspan="2">通用项目</td><td>20</td><td></td><td></td></tr>
<tr><td>1</td><td colspan="2">组织领导</td><td>10</td><td>成立工作专班</td><td>未成立扣5分</td></tr>
<tr><td>2</td><td colspan="2">信息报送</td><td>10</td><td>按月报送</td><td>少报一次扣1分</td></tr>
<tr><td>二、</td><td colspan="2">部门项目</td><td>80</td><td></td><td></td></tr>
<tr><td>1</td><td rowspan="5">重点部门</td><td>县水利局</td><td>80</td>
  <td>河道整治</td><td>（20分）完成清淤</td></tr>
<tr><td rowspan="2">2</td><td rowspan="2">县农业局</td><td>40</td><td>养殖污染治理</td>
  <td>完成治理</td></tr>
<tr><td>40</td><td>化肥减量</td><td>完成减量</td></tr>
<tr><td>3</td><td>县林业局</td><td>40</td><td>湿地保护</td><td>完成保护</td></tr>
<tr><td>3</td><td>县环保局</td><td>40</td><td>水质监测</td><td>按月监测</td></tr>
</table>"""


def test_a_unit_per_row_table_with_merged_cells_reads_each_row_with_its_unit() -> None:
    draft = parse(read_html(MERGED_HTML))
    # The caption is the document's title when nothing else names it.
    assert draft.title == "某县2020年度责任单位考核细则"
    general, departments = draft.sections
    # A name spread over both 考核项目 columns is the row's title, not a unit or a group.
    assert [(i.number, i.title, i.points, i.lead_units) for i in general.items] == [
        ("1", "组织领导", Decimal(10), []),
        ("2", "信息报送", Decimal(10), []),
    ]
    rows = [i for i in departments.all_items()]
    # The unit column names each row's unit; a 序号 merged over rows with their own points
    # numbers each of them; a 序号 printed twice gives two rows.
    assert [(i.number, i.lead_units, i.points, i.text.split("\n")[0]) for i in rows] == [
        ("1", ["县水利局"], Decimal(80), "河道整治"),
        ("2", ["县农业局"], Decimal(40), "养殖污染治理"),
        ("2", ["县农业局"], Decimal(40), "化肥减量"),
        ("3", ["县林业局"], Decimal(40), "湿地保护"),
        ("3", ["县环保局"], Decimal(40), "水质监测"),
    ]
    assert all(i.title is None for i in rows)


GROUP_RULE_HTML = """<table>
<tr><th>序号</th><th>考核项目</th><th>分值</th><th>考核内容</th><th>评分标准</th><th>说明</th></tr>
<tr><td>一、</td><td>常规工作</td><td>20</td><td></td><td></td><td>各单位统一考核</td></tr>
<tr><td>1</td><td>会议部署</td><td>10</td><td>召开专题会议</td><td>年内至少召开2次，少一次扣2分</td>
  <td></td></tr>
<tr><td>2</td><td>数据报送</td><td>10</td><td>按月报送数据</td>
  <td>按要求报送（指标=截止年底前报送次数/应报次数）</td><td></td></tr>
<tr><td>二、</td><td>奖扣分项目</td><td></td><td>通报表扬情况</td><td>被通报表扬的奖5分</td><td></td></tr>
</table>"""


def test_group_rule_text_deadline_phrase_and_an_empty_remark_cell() -> None:
    draft = parse(read_html(GROUP_RULE_HTML))
    routine, bonus = draft.sections
    first, second = routine.items
    # Without a 时限 column the row's one deadline phrase is read; one inside a bracket that
    # explains a measure is not.
    assert first.deadline_text == "年内"
    assert second.deadline_text is None
    # An empty 说明 cell beside the text is no cut; a remark on a group row is not an item.
    assert FLAG_CUT_OFF not in first.flags and first.complete
    assert len(routine.items) == 2
    # A group row stating a rule of its own: an unnumbered item of the group, without points.
    (rule,) = bonus.items
    assert (rule.number, rule.points) == (None, None)
    assert rule.text == "通报表扬情况\n被通报表扬的奖5分"
    assert FLAG_CUT_OFF not in rule.flags


def test_the_caption_row_of_a_table_is_the_title_when_nothing_else_names_it() -> None:
    caption = "| \n        附件1 \n        某市数据共享推进 \n        重点任务分工  | \n    ||||"
    text = caption + "\n" + SCATTERED
    draft = parse_text(text)
    assert draft.title == "某市数据共享推进重点任务分工"
    assert [i.number for i in items_of(draft)] == ["1", "2", "3"]
    # A title the document prints itself is kept.
    titled = parse_text("某市2024年数据工作方案\n" + text)
    assert titled.title == "某市2024年数据工作方案"
