"""The prose reader of plan documents: each rule on a small realistic snippet, and the seed
documents read to their hand-counted structure (tests/fixtures/documents, see its README)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from taskhub.documents import clean, roles
from taskhub.documents import points as pts
from taskhub.documents.model import (
    FLAG_AMBIGUOUS,
    FLAG_CUT_OFF,
    FLAG_DEADLINE_UNREADABLE,
    FLAG_DUPLICATE_NUMBER,
    FLAG_NO_LEAD,
    FLAG_NUMBER_GAP,
    FLAG_POINTS_MISMATCH,
    KIND_INDICATORS,
    KIND_TASKS,
    Draft,
    DraftItem,
)
from taskhub.documents.parser import parse_text
from taskhub.documents.readers import from_text

#: Pure document reading, no database: the PostgreSQL pass would repeat it.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")),
    reason="reads documents without a database: runs once, in the SQLite pass",
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "documents"


def items_of(draft: Draft) -> dict[str, DraftItem]:
    return {item.number or "": item for item in draft.all_items()}


# --- the head ---------------------------------------------------------------------------

NOTICE = """\
东江市人民政府办公室关于印发《东江市2023年数字政府建设工作要点》的通知
东政办发〔2023〕5号
各区县人民政府，市政府各部门、各直属机构：
现将《东江市2023年数字政府建设工作要点》印发给你们，请认真贯彻执行。
东江市人民政府办公室
2023年3月1日
（联系人：王五，电话：0123-4567890）
东江市2023年数字政府建设工作要点
一、总体要求
以数字化改革为牵引，全面提升政府治理能力。到2023年底，基本建成整体协同的数字政府。
二、重点任务
（一）夯实数字基础设施
1．完善电子政务外网。推进政务外网向乡镇（街道）延伸，2023年6月底前实现全覆盖。
责任单位：市大数据局、市财政局（排在第一位的为牵头单位，下同）
2．建设政务云平台。统筹建设全市统一的政务云，推动各部门系统迁移上云。
牵头单位：市大数据局
责任单位：各区县人民政府
完成时限：2023年12月底前
（二）提升政务服务效能
3．推进“一网通办”。①梳理高频事项清单；②推进“一件事”集成办理。（市政务服务中心牵头，市大数据局，市司法局、市人社局等有关单位按职责分工负责）
4．深化“好差评”。健全评价、反馈、整改、监督全流程闭环工作机制。（市发改委、市财政局负责，年底前完成）
— 3 —
三、保障措施
（一）加强组织领导。成立数字政府建设工作专班，统筹推进各项任务。（市大数据局负责）
（二）强化资金保障。将数字政府建设经费纳入财政预算。
"""


def test_head_of_a_notice_issuing_a_plan() -> None:
    draft = parse_text(NOTICE)
    assert draft.title == "东江市2023年数字政府建设工作要点"
    assert draft.document_number == "东政办发〔2023〕5号"
    assert draft.issued_on == "2023-03-01"
    assert draft.year == 2023
    assert draft.kind == KIND_TASKS


def test_head_of_an_assessment_with_its_attachment() -> None:
    text = (
        "数字政府建设考评办法\n一、考评对象各旗县区人民政府、稀土高新区管委会,参与数字政府建设工作的各部门、单位。"
        "二、考评方式实行百分制。附件:南山市数字政府建设考评指标附件南山市数字政府建设考评指标"
        "一、政务服务(25分)(一)平台建设(3分)1 .全程网办。(6月底完成,牵头考核单位:市审批服务局)\n"
    )
    draft = parse_text(text)
    assert draft.title == "南山市数字政府建设考评指标"
    assert draft.kind == KIND_INDICATORS
    assert draft.points == Decimal(100)
    assert draft.assessed == [
        "各旗县区人民政府",
        "稀土高新区管委会",
        "参与数字政府建设工作的各部门、单位",
    ]
    assert draft.document_number is None and draft.issued_on is None


def test_a_damaged_document_number_is_repaired_only_when_the_page_confirms_it() -> None:
    confirmed = "• 文号:鹤政发〔2022〕12号\n鹤政发〔202212\n一、任务\n"
    assert parse_text(confirmed).document_number == "鹤政发〔2022〕12号"
    alone = "鹤政发〔202212\n北江市数字政府建设实施方案\n"
    assert parse_text(alone).document_number is None


def test_a_referenced_document_number_is_not_the_documents_own() -> None:
    text = "按照《规划》(黑政发〔2021〕17号)要求，制定本方案。\n2022年5月10日\n"
    draft = parse_text(text)
    assert draft.document_number is None
    assert draft.issued_on == "2022-05-10"


def test_shared_body_word_is_given_to_each_zone_of_the_assessed_list() -> None:
    text = "二、评估对象\n市直有关单位,红海湾经济开发区、华侨管理区、汕尾新区管委会。\n"
    assert parse_text(text).assessed == [
        "市直有关单位",
        "红海湾经济开发区管委会",
        "华侨管理区管委会",
        "汕尾新区管委会",
    ]


# --- structure --------------------------------------------------------------------------


def test_structure_units_on_lines_document_rule_and_subpoints() -> None:
    draft = parse_text(NOTICE)
    # 一、总体要求 states aims: no items; 二、重点任务 and 三、保障措施 hold them
    assert [s.title for s in draft.sections] == ["重点任务", "保障措施"]
    tasks = draft.sections[0]
    assert [s.number for s in tasks.sections] == ["(一)", "(二)"]
    items = {i.number: i for i in tasks.all_items()}
    assert list(items) == ["1", "2", "3", "4"]
    # 责任单位 only, under the document's rule 排在第一位的为牵头单位: the first leads
    assert items["1"].lead_units == ["市大数据局"]
    assert items["1"].responsible_units == ["市财政局"]
    assert items["1"].deadline_text == "2023年6月底前"
    # units and deadline on their own lines belong to the item above
    assert items["2"].lead_units == ["市大数据局"]
    assert items["2"].responsible_units == ["各区县人民政府"]
    assert items["2"].deadline_text == "2023年12月底前"
    assert "牵头单位" not in items["2"].text
    # ①② inside the paragraph are part of the task, whose bracket closes the last point
    assert items["3"].text.startswith("推进“一网通办”。①梳理高频事项清单；②")
    assert items["3"].lead_units == ["市政务服务中心"]
    assert items["3"].responsible_units == ["市大数据局", "市司法局", "市人社局"]
    assert items["3"].open_units
    assert items["4"].lead_units == ["市发改委", "市财政局"]
    assert items["4"].deadline_text == "年底前完成"
    measures = draft.sections[1].items
    assert [m.title for m in measures] == ["加强组织领导", "强化资金保障"]
    assert measures[0].lead_units == ["市大数据局"]
    assert FLAG_NO_LEAD in measures[1].flags


def test_items_keep_spans_into_the_source_and_titles_from_headings() -> None:
    draft = parse_text(NOTICE)
    item = items_of(draft)["4"]
    assert item.title == "深化“好差评”"
    assert item.source is not None
    printed = draft.source_text[item.source.start : item.source.end]
    assert printed.startswith("4．深化“好差评”。")
    assert printed.endswith("年底前完成）")
    assert item.text == "深化“好差评”。健全评价、反馈、整改、监督全流程闭环工作机制。"


def test_noise_lines_are_not_plan_text() -> None:
    for line in (
        "• 索引号:230400000-2022-00019",
        "发布机构:市政府办文电科",
        "— 3 —",
        "- 12 -",
        "第1页 / 共22页",
        "数字政府建设考评办法.docx_第2页",
        "https://www.example.gov.cn/art/2022/1.html",
        "（市政务服务数据管理局联系人:李志鹏,联系电话:3828001）",
        "抄送:市委各部、委、办,军分区。",
        "鹤岗市人民政府办公室                  2022年5月10日印发",
        "2022年510",
        "汕府办函〔2021〕257号",
        "备案号:宁ICP备20000045号-1",
    ):
        assert clean.is_noise(line), line
    for line in (
        "1.明确联系人:各地各部门于11月12日前报送联系人信息。",
        "一、总体要求",
        "加强组织领导。成立工作专班。",
    ):
        assert not clean.is_noise(line), line


def test_the_distribution_list_after_cc_is_noise() -> None:
    text = (
        "一、保障措施\n（一）加强领导。成立专班。〔牵头单位:市营商环境局〕\n"
        "抄送:市委各部、委、办,军分区。\n市人大办,市政协办,市法院,市检察院。\n"
    )
    (item,) = parse_text(text).all_items()
    assert item.text == "加强领导。成立专班。"


def test_page_chunk_counters_are_dropped_and_words_rejoined() -> None:
    filler = "推进政务服务事项标准化规范化便利化，持续优化办事流程，提升群众办事满意度" * 3
    text = (
        f"1、8 .{filler}。(6月底完成,牵头考核单位:市审批服务局)9 .{filler}完\n\n"
        f"2、善数据分析功能。(持续推进,牵头考核单位:市审批服务局)1\n\n"
        f"3、0 .{filler}。(5月底完成,牵头考核单位:市政府办公室、市公安局)\n"
    )
    lines = [line for line in text.split("\n") if line]
    assert clean.chunk_runs(lines) == {0, 1, 2}
    items = items_of(parse_text(text))
    assert list(items) == ["8", "9", "10"]  # 1 | 0 . across a chunk is item 10
    assert items["9"].text.endswith("完善数据分析功能。")  # 完 | 善 rejoined
    assert items["9"].deadline_text == "持续推进"
    assert items["10"].lead_assessors == ["市政府办公室", "市公安局"]


def test_a_numbered_list_is_not_taken_for_page_chunks() -> None:
    lines = ["1、完善电子政务外网。", "2、建设政务云平台。", "3、推进数据共享。"]
    assert clean.chunk_runs(lines) == set()


def test_inline_numbers_count_only_when_expected() -> None:
    text = (
        "一、应用(10分)(一)协同办公(4分)1 .打造协同办公3.0版,建成2.5万用户平台。"
        "(6月底完成,牵头考核单位:市工信局)2 .推进5G应用。(持续推进,牵头考核单位:市工信局)"
        "(二)安全(6分)3 .落实等级保护。(持续推进,牵头考核单位:市委网信办)\n"
    )
    draft = parse_text(text)
    section = draft.sections[0]
    assert (section.number, section.title, section.points) == ("一", "应用", Decimal(10))
    assert [(s.number, s.title, s.points) for s in section.sections] == [
        ("(一)", "协同办公", Decimal(4)),
        ("(二)", "安全", Decimal(6)),
    ]
    assert [i.number for i in draft.all_items()] == ["1", "2", "3"]
    assert draft.all_items()[0].text == "打造协同办公3.0版,建成2.5万用户平台。"


def test_numbers_run_on_or_restart_under_headings() -> None:
    run_on = (
        "一、任务\n（一）甲\n1.建设平台。（市大数据局负责）\n2.完善网络。（市大数据局负责）\n"
        "（二）乙\n3.推进共享。（市大数据局负责）\n"
    )
    restart = run_on.replace("3.推进共享", "1.推进共享")
    for text, numbers in ((run_on, ["1", "2", "3"]), (restart, ["1", "2", "1"])):
        draft = parse_text(text)
        assert [i.number for i in draft.all_items()] == numbers
        assert not any(i.flags for i in draft.all_items())


def test_a_number_that_lost_its_dot_or_its_numeral() -> None:
    text = (
        "二、工作任务\n18.健全评价体系。完善评价机制。〔牵头单位:市营商环境局〕\n"
        "19加强信用平台建设。归集信用信息。〔牵头单位:市营商环境局〕\n"
        "三、保障措施\n（一）加强组织领导。成立专班。〔牵头单位:市营商环境局〕\n"
        "() 加强资金保障加大数字政府建设资金支持力度将建设项目纳入各级政府财政预算。"
        "〔牵头单位:市财政局〕\n"
        "加强考核评价。创新考核方式。〔牵头单位:市营商环境局〕\n"
    )
    draft = parse_text(text)
    items = items_of(draft)
    assert list(items) == ["18", "19", "(一)", "(二)", "(三)"]
    assert items["19"].title == "加强信用平台建设"
    # the lost numeral and the unnumbered paragraph take the sequence's numbers, flagged
    assert FLAG_AMBIGUOUS in items["(二)"].flags and FLAG_AMBIGUOUS in items["(三)"].flags
    assert items["(二)"].lead_units == ["市财政局"]
    # a heading whose 。 was lost ends at its heading word before a new clause (flagged)
    assert items["(二)"].title == "加强资金保障"
    assert items["(三)"].title == "加强考核评价"


def test_sections_that_state_aims_give_no_items() -> None:
    text = (
        "一、总体要求\n（一）指导思想。坚持以人民为中心。\n（二）工作目标。到2025年底全面建成。\n"
        "二、主要任务\n（一）建设数据平台。汇聚政务数据。\n（二）完善政务外网。推进网络延伸。\n"
    )
    draft = parse_text(text)
    assert [s.title for s in draft.sections] == ["主要任务"]
    assert [i.title for i in draft.all_items()] == ["建设数据平台", "完善政务外网"]
    assert all(FLAG_NO_LEAD in i.flags for i in draft.all_items())


def test_attachment_list_is_not_items() -> None:
    text = (
        "四、相关要求\n（一）指定专人。请于2021年11月12日前报送联系人信息。\n"
        "附件:1.年终考核指标(总览)\n2.年终考核指标(县区)\n"
    )
    draft = parse_text(text)
    assert [i.number for i in draft.all_items()] == ["(一)"]
    assert draft.all_items()[0].deadline_text == "2021年11月12日前"


# --- units ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "lead", "responsible", "assessors"),
    [
        (
            "（牵头单位：市发改委、市财政局；责任单位：各县（市、区）人民政府）",
            ["市发改委", "市财政局"],
            ["各县（市、区）人民政府"],
            [],
        ),
        (
            "〔牵头单位:市营商环境局;责任单位:各县(区)政府市直各有关单位、联通鹤岗分公司〕",
            ["市营商环境局"],
            ["各县(区)政府", "市直各有关单位", "联通鹤岗分公司"],
            [],
        ),
        (
            "（市工业和信息化局牵头，市住房城乡建设局配合）",
            ["市工业和信息化局"],
            ["市住房城乡建设局"],
            [],
        ),
        (
            "（市工业和信息化局、市科技局牵头，各区市政府、开发区管委配合）",
            ["市工业和信息化局", "市科技局"],
            ["各区市政府", "开发区管委"],
            [],
        ),
        ("（市发改委、市财政局负责）", ["市发改委", "市财政局"], [], []),
        (
            "（牵头单位：市营商环境局，责任部门：各县(区)政府）",
            ["市营商环境局"],
            ["各县(区)政府"],
            [],
        ),
        ("(6月底完成,牵头考核单位:市政府办公室、市公安局)", [], [], ["市政府办公室", "市公安局"]),
        (
            "（区发改局牵头，农业农村局、财政局配合）",
            ["区发改局"],
            ["区农业农村局", "区财政局"],
            [],
        ),
        (
            "（责任单位：市大数据局,市委编办,市应急局、市统计局）",
            [],
            ["市大数据局", "市委编办", "市应急局", "市统计局"],
            [],
        ),
    ],
)
def test_units_by_role(
    tail: str, lead: list[str], responsible: list[str], assessors: list[str]
) -> None:
    found = roles.read_tail("推进政务数据共享。" + tail)
    assert (found.lead, found.responsible, found.assessors) == (lead, responsible, assessors)
    assert found.text_end == len("推进政务数据共享。")


def test_x_leads_and_the_rest_share_the_open_ended_duty() -> None:
    found = roles.read_tail(
        "推进共享。（市大数据局牵头，市财政局，市发改委、市司法局等有关单位按职责分工负责）"
    )
    assert found.lead == ["市大数据局"]
    assert found.responsible == ["市财政局", "市发改委", "市司法局"]
    assert found.open_units


def test_a_bracket_of_text_is_not_a_tail() -> None:
    found = roles.read_tail("建设领导小组(政务服务“好差评”)")
    assert not found.has_units and found.text_end == len("建设领导小组(政务服务“好差评”)")
    found = roles.read_tail("年终考核指标(县区)")
    assert not found.has_units


def test_bare_list_leads_with_its_first_name_by_the_documents_rule() -> None:
    ruled = roles.read_tail("推进共享。（市大数据局、市财政局）", first_is_lead=True)
    assert (ruled.lead, ruled.responsible, ruled.ambiguous) == (["市大数据局"], ["市财政局"], False)
    unruled = roles.read_tail("推进共享。（市大数据局、市财政局）")
    assert unruled.lead == ["市大数据局"] and unruled.ambiguous


def test_lost_brackets_are_read_and_flagged_cut_off() -> None:
    unclosed = roles.read_tail("提升项目管理水平。〔牵头单位:市财政")
    assert unclosed.lead == ["市财政"] and unclosed.cut_off
    no_open = roles.read_tail("逐步实现可追溯。牵头单位:市场监管局〕")
    assert no_open.lead == ["市场监管局"] and no_open.cut_off
    neither = roles.read_tail("推行电子执法证使用牵头单位:市司法局,责任单位:市直各有关单位")
    assert neither.lead == ["市司法局"] and neither.responsible == ["市直各有关单位"]
    assert neither.text_end == len("推行电子执法证使用") and neither.cut_off


def test_names_glued_by_the_scrape_are_split() -> None:
    assert roles.split_names("各县(区)政府市直各有关单位、驻鹤各有关单位")[0] == [
        "各县(区)政府",
        "市直各有关单位",
        "驻鹤各有关单位",
    ]
    assert roles.split_names("市委组织部、市人社市科技局")[0] == [
        "市委组织部",
        "市人社局",
        "市科技局",
    ]
    # names that only look glued stay whole
    assert roles.split_names("市城市管理局、市政府各直属单位")[0] == [
        "市城市管理局",
        "市政府各直属单位",
    ]
    assert roles.split_names("市市场监管局")[0] == ["市市场监管局"]


def test_cut_off_names_are_completed_from_the_documents_own_names() -> None:
    text = (
        "一、保障措施\n（一）加强资金保障。纳入预算。〔牵头单位:市财政局〕\n"
        "（二）加强项目管理。建立退出机制。〔牵头单位:市财政\n"
        "（三）加强执法。推行电子执法证。〔牵头单位:市司法局;责任单位:直各有关单位、市直各有关单位〕\n"
    )
    items = items_of(parse_text(text))
    assert items["(二)"].lead_units == ["市财政局"]
    assert FLAG_CUT_OFF in items["(二)"].flags and not items["(二)"].complete
    assert items["(三)"].responsible_units == ["市直各有关单位", "市直各有关单位"]


def test_units_stated_once_are_inherited_by_the_items_after() -> None:
    text = (
        "一、主要任务\n（一）基础支撑。以下任务均由各县（市、区）人民政府负责落实，不再一一列出。\n"
        "1.建设城市大数据平台。2022年底前建成。（市大数据局牵头，市财政局配合）\n"
        "2.完善政务外网。推进外网延伸。（市大数据局负责）\n"
        "（二）应用创新\n3.推进智慧医疗。建设互联网医院。（市卫生健康委负责）\n"
    )
    items = items_of(parse_text(text))
    assert items["1"].responsible_units == ["市财政局", "各县（市、区）人民政府"]
    assert items["1"].units_inherited and items["2"].units_inherited
    assert items["1"].deadline_text == "2022年底前"
    assert not items["3"].units_inherited and items["3"].responsible_units == []


def test_inheritance_stated_inside_a_bracket_reaches_the_following_tasks() -> None:
    text = (
        "一、任务\n1.深化网上办。年底前基本实现在线办事。(牵头单位:市行政审批服务局;责任单位:市直有关部门、单位。"
        "以下任务均需各区市政府、开发区管委落实,不再一一列出)\n2.优化掌上办。拓宽移动端服务范"
    )
    items = items_of(parse_text(text))
    assert items["1"].lead_units == ["市行政审批服务局"]
    assert items["1"].responsible_units[0] == "市直有关部门、单位"
    assert items["2"].responsible_units == ["各区市政府", "开发区管委"]
    assert items["2"].units_inherited and FLAG_CUT_OFF in items["2"].flags
    assert FLAG_NO_LEAD in items["2"].flags


# --- deadlines and points ---------------------------------------------------------------


def test_deadlines_in_prose() -> None:
    text = (
        "一、任务\n1.联系人。请各单位于2021年11月12日前报送联系人信息。（市政务服务数据管理局负责）\n"
        "2.评估报告。每年2月底前形成评估报告。（市政务服务数据管理局负责）\n"
        "3.数据库。2022年底完成人口库，2025年底建设专题库。（市营商环境局负责）\n"
        "4.新建基站。年内新建基站1500个以上。（市工信局负责）\n"
        "5.完成改造。完成全部改造任务，6月底完成。（市工信局负责）\n"
    )
    items = items_of(parse_text(text))
    assert items["1"].deadline_text == "2021年11月12日前"
    assert items["2"].deadline_text is None  # 每年…: a schedule, not a deadline
    assert items["3"].deadline_text is None  # two dated steps stay in the text
    assert items["4"].deadline_text == "年内"
    assert items["5"].deadline_text == "6月底完成"


def test_points_from_headings_brackets_and_rules_with_the_check() -> None:
    text = (
        "南湖区2022年度数字政府建设考核细则\n二、考核内容（标准分100分）\n（一）政务服务（标准分60分）\n"
        "1、事项标准化。完成得10分，每发现一项错误扣0.5分。（牵头考核单位：区行政审批局）\n"
        "2、网上办理。全程网办率达到90%以上得20分。（牵头考核单位：区行政审批局、区大数据中心）\n"
        "3、好差评。差评整改率100%。（20分）（牵头考核单位：区行政审批局）\n"
        "（二）数据共享（标准分40分）\n4、数据质量。数据准确率不低于95%。（权重：10%）（牵头考核单位：区大数据中心）\n"
    )
    draft = parse_text(text)
    assert draft.kind == KIND_INDICATORS
    section = draft.sections[0]
    assert section.points == Decimal(100)
    assert [s.points for s in section.sections] == [Decimal(60), Decimal(40)]
    items = items_of(draft)
    assert [items[n].points for n in ("1", "2", "3")] == [Decimal(10), Decimal(20), Decimal(20)]
    assert items["4"].weight == Decimal(10) and items["4"].points is None
    assert items["2"].lead_assessors == ["区行政审批局", "区大数据中心"]
    # 60 stated, 50 given: a warning and a flag, nothing changed
    assert [w.code for w in draft.warnings] == [FLAG_POINTS_MISMATCH]
    assert "60" in draft.warnings[0].message and "50" in draft.warnings[0].message
    assert FLAG_POINTS_MISMATCH in items["1"].flags
    assert FLAG_POINTS_MISMATCH not in items["4"].flags


def test_checks_flag_gaps_duplicates_and_unreadable_deadlines() -> None:
    text = (
        "2022年数字政府建设工作要点\n一、任务\n1.建设平台。（市大数据局负责，按季度推进）\n"
        "2.完善网络。（市大数据局负责）\n2.推进共享。（市大数据局负责）\n5.强化安全。（市委网信办负责）\n"
    )
    draft = parse_text(text)
    flags = [item.flags for item in draft.all_items()]
    assert FLAG_DEADLINE_UNREADABLE in flags[0]
    assert flags[1] == []
    assert FLAG_DUPLICATE_NUMBER in flags[2]
    assert FLAG_NUMBER_GAP in flags[3]


def test_from_text_and_blocks_give_the_same_draft() -> None:
    doc = from_text(NOTICE)
    assert (
        parse_text(NOTICE).to_json()
        == __import__("taskhub.documents.parser", fromlist=["parse"]).parse(doc).to_json()
    )


# --- the seed documents ---------------------------------------------------------------


def seed(name: str) -> Draft:
    return parse_text((FIXTURES / name).read_text(encoding="utf-8"))


def test_hegang_tasks_and_measures() -> None:
    draft = seed("004_02b93624949c2267.txt")
    assert (draft.title, draft.document_number, draft.issued_on, draft.year) == (
        "鹤岗市数字政府建设实施方案",
        "鹤政发〔2022〕12号",
        "2022-05-10",
        2022,
    )
    tasks, measures = draft.sections
    assert (tasks.number, tasks.title, measures.number, measures.title) == (
        "二",
        "工作任务",
        "三",
        "保障措施",
    )
    assert [len(s.items) for s in tasks.sections] == [4, 3, 6, 7, 6, 3]
    assert [i.number for i in tasks.all_items()] == [str(n) for n in range(1, 30)]
    assert [i.number for i in measures.items] == ["(一)", "(二)", "(三)", "(四)", "(五)", "(六)"]
    assert all(i.lead_units for i in draft.all_items())
    items = items_of(draft)
    assert items["2"].responsible_units == ["各县(区)政府", "市直各有关单位"]
    assert items["6"].lead_units == ["市营商环境局", "市财政局"]
    assert items["15"].responsible_units == ["各县(区)政府", "市直各有关单位"]  # 责任部门
    assert items["(四)"].lead_units == ["市委组织部", "市人社局", "市科技局", "市教育局"]
    assert items["(四)"].responsible_units == ["市财政局", "市委编办"]
    assert items["1"].title == "健全完善数字政府组织保障"
    assert not any(i.deadline_text for i in draft.all_items())


def test_baotou_indicators_in_one_scraped_flow() -> None:
    draft = seed("003_f0645a596b28629e.txt")
    assert draft.title == "包头市数字政府建设考评指标"
    assert (draft.kind, draft.year, draft.points) == (KIND_INDICATORS, 2022, Decimal(100))
    assert [s.points for s in draft.sections] == [Decimal(p) for p in (25, 25, 20, 10, 10, 5, 5)]
    items = draft.all_items()
    assert [i.number for i in items] == [str(n) for n in range(1, 91)]
    assert sum((s.points or Decimal(0) for s in draft.sections), Decimal(0)) == Decimal(100)
    assert all(i.lead_assessors and i.deadline_text for i in items)
    by_number = items_of(draft)
    assert by_number["41"].text == "完成经济运行领域云图等模块建设。"  # 4 | 1 . across a chunk
    assert by_number["3"].lead_assessors == ["市政府办公室", "市公安局"]
    assert by_number["1"].deadline_text == "5月底取得明显成效并持续推进"
    assert sum((by_number[str(n)].points or Decimal(0) for n in range(19, 39)), Decimal(0)) == 12
    assert all(by_number[str(n)].points is not None for n in range(39, 54))
    assert not draft.warnings
    assert not any(i.title for i in items)


def test_shanwei_reads_its_dated_obligation_and_no_method_text() -> None:
    draft = seed("001_2ffdeaab9d88f635.txt")
    assert draft.title == "汕尾市数字政府改革建设第三方常态化评估工作方案"
    assert (draft.document_number, draft.issued_on, draft.year) == (
        "汕府办函〔2021〕257号",
        "2021-11-10",
        2021,
    )
    (item,) = draft.all_items()
    assert item.deadline_text == "2021年11月12日前"


def test_a_heading_with_points_over_a_single_numbered_item_stays_a_heading() -> None:
    text = (
        "北城市数字政府建设评估指标体系\n一、基础设施（30分）\n（一）政务云（15分）\n"
        "（1）政务云资源利用率不低于70%。（牵头考核单位：市大数据中心）（8分）\n"
        "（2）系统上云率达到100%。（7分）（牵头考核单位：市大数据中心）\n"
        "（二）政务网络（15分）\n（1）电子政务外网覆盖到村（社区）。（15分）（牵头考核单位：市大数据中心）\n"
        "打印本页 关闭窗口\n"
    )
    draft = parse_text(text)
    (area,) = draft.sections
    assert [(s.number, s.title, s.points) for s in area.sections] == [
        ("(一)", "政务云", Decimal(15)),
        ("(二)", "政务网络", Decimal(15)),
    ]
    assert [i.points for i in area.all_items()] == [Decimal(8), Decimal(7), Decimal(15)]
    assert area.all_items()[-1].text == "电子政务外网覆盖到村（社区）。"
    assert not draft.warnings


def test_text_pasted_from_a_pdf_with_hard_line_breaks_is_rejoined() -> None:
    source = (FIXTURES / "004_02b93624949c2267.txt").read_text(encoding="utf-8")
    body = source[source.index("二、工作任务") : source.index("三、保障措施")]
    wrapped = "\n".join(
        line[i : i + 38] for line in body.split("\n") for i in range(0, max(len(line), 1), 38)
    )
    assert clean.hard_wraps(wrapped.split("\n"))
    items = items_of(parse_text(wrapped))
    assert list(items) == [str(n) for n in range(1, 30)]
    assert items["6"].lead_units == ["市营商环境局", "市财政局"]
    assert items["6"].responsible_units[-1] == "移动鹤岗分公司"
    assert sum(1 for item in items.values() if item.lead_units) >= 28
    # a short text's lines are not taken for a hard-wrapped page
    assert not clean.hard_wraps(["一、总体要求", "二、工作任务", "1.建设平台。"])


def test_head_from_page_metadata_in_a_scraped_table_and_a_numbered_assessed_list() -> None:
    text = (
        "标 题: | 关于印发《北河市数字政府建设评估指标体系》的通知 | ||\n"
        "发文日期: | 20231028 | 成文日期: | 2023-10-28 |\n"
        "一、考核对象\n1.各乡镇(街道)。\n2.市级各部门(单位)。\n二、考核内容\n"
    )
    draft = parse_text(text)
    assert draft.title == "北河市数字政府建设评估指标体系"
    assert (draft.issued_on, draft.year, draft.kind) == ("2023-10-28", 2023, KIND_INDICATORS)
    assert draft.assessed == ["各乡镇(街道)", "市级各部门(单位)"]


def test_points_closing_a_list_of_parts_are_not_the_items_points() -> None:
    text = (
        "考核评价办法\n三、考核体系\n1.按总分100分评价。\n"
        "2.对乡镇设置体制机制(10分)、创新工作(25分)、网络安全(4分)。\n"
    )
    draft = parse_text(text)
    assert draft.points == Decimal(100)
    assert draft.all_items() == []


def test_a_plan_without_numbers_gives_its_paragraphs_with_units() -> None:
    text = (
        "关于支持数字经济发展的若干措施\n为加快发展数字经济，制定以下措施。\n"
        "金融支持：设立数字经济发展基金，支持企业融资。（市金融办牵头，市财政局配合）\n"
        "人才引进：引进数字经济高层次人才。（市人社局负责）\n请各单位认真贯彻落实。\n"
    )
    draft = parse_text(text)
    assert [(i.number, i.title, i.lead_units) for i in draft.items] == [
        (None, "金融支持", ["市金融办"]),
        (None, "人才引进", ["市人社局"]),
    ]


def test_numbers_inside_a_tasks_paragraph_are_its_points_and_inner_brackets_add_units() -> None:
    text = (
        "一、重点任务\n（一）加快数据共享。1.编制数据目录；2.建设共享平台。（牵头单位：市大数据局）\n"
        "（二）推进一网通办。梳理事项清单（市政务服务中心负责）。推动材料免提交（市司法局配合）。\n"
    )
    items = items_of(parse_text(text))
    assert list(items) == ["(一)", "(二)"]
    assert items["(一)"].text.startswith("加快数据共享。1.编制数据目录；2.")
    assert items["(一)"].lead_units == ["市大数据局"]
    assert items["(二)"].lead_units == ["市政务服务中心"]
    assert items["(二)"].responsible_units == ["市司法局"]


def test_task_list_with_a_stated_rule_and_tasks_that_are_headings_alone() -> None:
    text = (
        "北湖市数字化改革2022年工作任务清单\n注：各项任务责任单位中，列第一位的为牵头单位。\n"
        "一、党政机关整体智治\n（一）建设“一体化智能化公共数据平台”。\n"
        "责任单位：市大数据发展管理局、市委改革办\n（二）迭代“浙政钉”应用。\n责任单位：市大数据发展管理局\n"
        "二、数字政府\n（三）深化“互联网+监管”。2022年底前实现监管事项全覆盖。\n"
        "责任单位：市市场监管局、市司法局\n"
    )
    items = items_of(parse_text(text))
    assert [(n, i.title, i.lead_units, i.responsible_units) for n, i in items.items()] == [
        ("(一)", "建设“一体化智能化公共数据平台”", ["市大数据发展管理局"], ["市委改革办"]),
        ("(二)", "迭代“浙政钉”应用", ["市大数据发展管理局"], []),
        ("(三)", "深化“互联网+监管”", ["市市场监管局"], ["市司法局"]),
    ]
    assert items["(三)"].deadline_text == "2022年底前"


def test_roles_and_deadline_in_one_bracket() -> None:
    text = (
        "广江市2022年数字政府改革建设工作要点\n一、夯实基础支撑\n"
        "1.推进政务云集约化建设。推动系统迁移上云。（市政务服务数据管理局牵头，各区人民政府、"
        "市直各部门配合，2022年12月底前完成）\n"
        "2.提升政务外网支撑能力。推动政务外网向村（社区）延伸。（市政务服务数据管理局负责；持续推进）\n"
        "3.深化“一网通办”。推进高频事项“全程网办”。（市政务服务数据管理局及各区人民政府负责）\n"
    )
    items = items_of(parse_text(text))
    assert items["1"].lead_units == ["市政务服务数据管理局"]
    assert items["1"].responsible_units == ["各区人民政府", "市直各部门"]
    assert items["1"].deadline_text == "2022年12月底前完成"
    assert (items["2"].lead_units, items["2"].deadline_text) == (
        ["市政务服务数据管理局"],
        "持续推进",
    )
    assert items["3"].lead_units == ["市政务服务数据管理局", "各区人民政府"]
    assert not any(item.flags for item in items.values())


def test_title_line_with_a_year_and_a_quoted_notice_is_not_the_title() -> None:
    assert (
        parse_text("2023年全市政务服务管理工作要点\n一、任务\n").title
        == "2023年全市政务服务管理工作要点"
    )
    text = (
        "关于开展数字政府第三方评估工作的通知\n根据《市政府办公室关于印发常态化监测工作方案的通知》要求，"
        "现将有关事项通知如下。\n附件:南江市数字政府第三方评估工作方案\n"
    )
    assert parse_text(text).title == "南江市数字政府第三方评估工作方案"


def test_a_heading_of_two_parallel_phrases() -> None:
    text = (
        "五、保障措施\n（一）高度重视，加强领导。各地各部门要精心组织。（市政府办公室负责）\n"
        "（二）强化督查，严格考核。将任务纳入年度考核。（市督查室负责）\n"
    )
    assert [i.title for i in parse_text(text).all_items()] == [
        "高度重视，加强领导",
        "强化督查，严格考核",
    ]


def test_text_after_a_units_bracket_stays_the_items_text_and_gives_its_deadline() -> None:
    text = (
        "广江市2024年数字政府建设工作要点\n一、重点任务\n"
        "1.推进数据共享。建设共享平台。（牵头单位：市数据局；责任单位：市财政局、市公安局）"
        "2024年6月底前完成。\n"
    )
    item = items_of(parse_text(text))["1"]
    assert (item.lead_units, item.responsible_units) == (["市数据局"], ["市财政局", "市公安局"])
    assert item.text.endswith("）2024年6月底前完成。")
    assert item.deadline_text == "2024年6月底前完成"
    assert FLAG_CUT_OFF not in item.flags and item.complete
    # the tail reader alone sees the bracket too
    tail = roles.read_tail("推进共享。（市数据局牵头，市财政局配合）年底前。")
    assert (tail.lead, tail.responsible, tail.deadline) == (["市数据局"], ["市财政局"], "年底前")


@pytest.mark.parametrize(
    ("bracket", "lead", "responsible"),
    [
        ("（市数据局牵头，市财政局配合）年底前。", ["市数据局"], ["市财政局"]),
        (
            "（市数据局牵头，市财政局、市公安局配合，市司法局参与）",
            ["市数据局"],
            ["市财政局", "市公安局", "市司法局"],
        ),
        ("（市数据局负责，市财政局配合）", ["市数据局"], ["市财政局"]),
        ("（由市数据局牵头，市财政局配合）", ["市数据局"], ["市财政局"]),
        ("（市数据局牵头负责）", ["市数据局"], []),
    ],
)
def test_units_given_by_role_verbs(bracket: str, lead: list[str], responsible: list[str]) -> None:
    tail = roles.read_tail("推进数据共享。" + bracket)
    assert (tail.lead, tail.responsible) == (lead, responsible)


def test_several_unit_brackets_in_one_paragraph_keep_each_brackets_roles() -> None:
    text = (
        "广江市2024年数字政府建设工作要点\n一、重点任务\n"
        "1.推进一网通办。梳理事项清单（牵头单位：市政务服务中心；责任单位：各县（市、区）人民政府）。"
        "推动材料免提交（市公安局负责落实）。建设统一平台（市数据局牵头，市政务服务中心配合）。\n"
    )
    item = items_of(parse_text(text))["1"]  # one item per numbered paragraph
    # no role is lost: the nested bracket and 负责落实 count, and a name keeps each role
    assert item.lead_units == ["市政务服务中心", "市公安局", "市数据局"]
    assert item.responsible_units == ["各县（市、区）人民政府", "市政务服务中心"]
    assert [(b.text, b.lead_units, b.responsible_units) for b in item.unit_brackets] == [
        (
            "梳理事项清单（牵头单位：市政务服务中心；责任单位：各县（市、区）人民政府）",
            ["市政务服务中心"],
            ["各县（市、区）人民政府"],
        ),
        ("推动材料免提交（市公安局负责落实）", ["市公安局"], []),
        ("建设统一平台（市数据局牵头，市政务服务中心配合）", ["市数据局"], ["市政务服务中心"]),
    ]
    assert item.to_json()["unit_brackets"][1]["lead_units"] == ["市公安局"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ("各区、县级市", ["各区、县级市"]),
        ("各有关县、市", ["各有关县、市"]),
        ("市教育局、各区、县级市", ["市教育局", "各区、县级市"]),
        ("各区、市教育局", ["各区", "市教育局"]),
    ],
)
def test_a_bare_level_word_continues_a_group_of_every_place(
    names: str, expected: list[str]
) -> None:
    assert roles.split_names(names)[0] == expected


def test_roles_separated_by_commas_with_a_trailing_group_are_read() -> None:
    tail = roles.read_tail(
        "项目。两年内市、区（县级市）两级完成建设。"
        "（牵头单位：市科技局，配合单位：市财政局、市统计局，各有关区、县级市）"
    )
    assert tail.lead == ["市科技局"]
    assert tail.responsible == ["市财政局", "市统计局", "各有关区、县级市"]
    assert tail.text_end == len("项目。两年内市、区（县级市）两级完成建设。")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("建设项目。三年内建成10个示范基地。", "三年内"),
        ("总体目标。2020年起3年内，建成一批示范基地。", "2020年起3年内"),
        # the same span printed again is one horizon
        ("人才项目。3年内引进50名专家，对入选者3年内给予补贴。", "3年内"),
        # dated steps stay in the text
        ("人才项目。3年内引进50名专家，2021年底前完成一半。", None),
        ("评比项目。年内被表扬的奖5分；年内被批评的扣3分。", None),
        # a recurring schedule is no deadline
        ("资助项目。每年选拔20名，连续3年每年给予资助。", None),
    ],
)
def test_a_span_of_years_in_prose_is_the_items_deadline(text: str, phrase: str | None) -> None:
    assert pts.prose_deadline(text) == phrase


def test_an_item_title_starting_with_digits_keeps_its_own_number() -> None:
    text = (
        "广江市人才工作实施意见\n一、重点项目\n"
        "1.英才项目。增长11.5%以上。（牵头单位：市人社局，配合单位：市财政局）\n"
        "2.365服务项目。建设服务平台。（牵头单位：市科技局，配合单位：市财政局）\n"
    )
    items = items_of(parse_text(text))
    assert list(items) == ["1", "2"]
    assert items["2"].title == "365服务项目"
    assert items["2"].text.startswith("365服务项目。")
    assert items["1"].text == "英才项目。增长11.5%以上。"


def _aims_plan(first_task: int) -> str:
    return (
        "广江市人才工作实施意见\n一、总体目标\n1.目标。3年内建成区域人才高地。\n二、重点项目\n"
        f"{first_task}.英才项目。建设实训基地。（牵头单位：市人社局，配合单位：市财政局）\n"
        f"{first_task + 1}.青年项目。资助青年人才。（牵头单位：市科技局，配合单位：市财政局）\n"
    )


def test_an_aim_numbered_in_the_items_sequence_is_an_item() -> None:
    items = items_of(parse_text(_aims_plan(2)))
    assert list(items) == ["1", "2", "3"]
    assert items["1"].title == "目标"
    assert items["1"].deadline_text == "3年内"
    assert items["1"].lead_units == []
    # numbered afresh under the next heading, the aim stays out of the items
    assert list(items_of(parse_text(_aims_plan(1)))) == ["1", "2"]
