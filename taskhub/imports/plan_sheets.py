"""The plan workbook's layout (sheets 方案, 章节, 事项 and their columns) and its template."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.imports.workbook import Column, SheetSpec, build_template
from taskhub.units.models import City, Unit, UnitGroup
from taskhub.units.services import group_member_ids

_UNIT_NAMES = (
    "多个单位用顿号（、）、逗号、“及”或“和”分隔，括号内不分隔（如 各县(市、区)人民政府）；"
    "末尾的“等有关单位”记在事项上；应是本城市的单位、单位组或别名（见「单位名称」工作表），"
    "系统不认识的名称可在预览中新建为单位或设为已有单位的别名"
)
_KINDS_NOTE = (
    "可填 县(区)、乡镇(街道)、部门、企业、其他，多个用、分隔；留空表示不限（事项留空则沿用章节）"
)

PLAN_SHEET = SheetSpec(
    "方案",
    (
        Column(
            "code",
            "方案代码",
            True,
            "方案的唯一代码，只用字母、数字、- 和 _，如 hegang-2024；再次导入同一代码即更新该方案",
            16,
            is_text=True,
        ),
        Column("title", "方案名称", True, "文件标题，如 鹤岗市数字政府建设实施方案", 36),
        Column("city", "城市", True, "城市名称或代码，如 鹤岗市 或 hegang", 10),
        Column("document_number", "文号", False, "如 鹤政发〔2022〕12号", 20),
        Column("issued_on", "印发日期", False, "日期，如 2022-05-10", 12),
        Column("year", "年度", True, "完成时限按此年度解读，如 2024", 8),
        Column(
            "kind",
            "类型",
            True,
            "任务方案（事项分给牵头单位和责任单位）或 考评指标体系（每个指标考评每个考评对象）",
            14,
            choices=("任务方案", "考评指标体系"),
        ),
        Column("points", "总分", False, "可选：方案总分，一级章节分值合计不能超过它", 8),
        Column(
            "assessed",
            "考评对象",
            False,
            "考评指标体系必填：被考评的单位或单位组。" + _UNIT_NAMES,
            30,
        ),
    ),
)
SECTION_SHEET = SheetSpec(
    "章节",
    (
        Column(
            "key",
            "章节代码",
            True,
            "本文件内唯一的章节代码，事项用它指明所属章节，如 1、1.2",
            10,
            is_text=True,
        ),
        Column(
            "parent",
            "上级章节代码",
            False,
            "下级章节填上级的章节代码（上级须写在前面的行）；一级章节留空",
            12,
            is_text=True,
        ),
        Column(
            "number", "编号", False, "文件中印的编号，如 一、（一）、表一；可留空", 8, is_text=True
        ),
        Column("title", "名称", True, "章节或一级、二级指标的名称", 30),
        Column(
            "points", "分值", False, "可选：本章节的分值预算，下级章节和事项的分值合计不能超过它", 8
        ),
        Column("applies_to", "适用单位类型", False, _KINDS_NOTE, 16),
    ),
)
ITEM_SHEET = SheetSpec(
    "事项",
    (
        Column(
            "section", "章节代码", True, "所属章节的章节代码（见「章节」工作表）", 10, is_text=True
        ),
        Column(
            "number",
            "序号",
            False,
            "文件中印的序号，如 1、12；序号和事项编码至少填一个",
            8,
            is_text=True,
        ),
        Column(
            "code",
            "事项编码",
            False,
            "可选：方案内唯一的事项编码，留空则用序号；序号重复时必填",
            10,
            is_text=True,
        ),
        Column("title", "事项名称", False, "可选：任务标题或指标名称", 24),
        Column("text", "内容", True, "任务或指标的完整内容", 50),
        Column("points", "分值", False, "可选：本事项的分值", 8),
        Column("weight", "权重", False, "可选：权重（如评估指标体系）", 8),
        Column(
            "deadline",
            "完成时限",
            False,
            "原文的时限用语，如 6月底完成、5月底取得阶段性成效并持续推进、持续推进、2024年底；"
            "系统据此生成节点，读不懂的原样保留并提示督办室",
            20,
        ),
        Column("target", "目标值", False, "可选：目标，如 100%、≥80%", 10),
        Column(
            "applicability", "适用范围", False, "全部（默认）或 按需", 10, choices=("全部", "按需")
        ),
        Column("applies_to", "适用单位类型", False, _KINDS_NOTE, 16),
        Column(
            "lead",
            "牵头单位",
            False,
            "任务方案必填；文件尚未明确牵头单位的任务填“待分配”。" + _UNIT_NAMES,
            24,
        ),
        Column("responsible", "责任单位", False, _UNIT_NAMES, 30),
        Column("lead_assessors", "牵头考核单位", False, _UNIT_NAMES, 20),
    ),
)
SHEETS = (PLAN_SHEET, SECTION_SHEET, ITEM_SHEET)
#: Reference sheet of the city's valid names in the template (not read back).
NAMES_SHEET = "单位名称"

_KIND_WORD = {"county": "县(区)", "township": "乡镇(街道)", "department": "部门"}
_KIND_WORD |= {"enterprise": "企业", "other": "其他"}


def template(city: City | None) -> bytes:
    """The plan template: headers, one example row per sheet, 说明, and the city's names."""
    units: list[Unit] = []
    groups: list[UnitGroup] = []
    members: dict[int, list[int]] = {}
    if city is not None:
        # One query per relationship, not per unit: a province has thousands of units.
        units = list(
            db.session.scalars(
                select(Unit)
                .where(Unit.city_id == city.id)
                .options(selectinload(Unit.aliases))
                .order_by(Unit.id)
            )
        )
        groups = list(
            db.session.scalars(
                select(UnitGroup).where(UnitGroup.city_id == city.id).order_by(UnitGroup.id)
            )
        )
        members = group_member_ids(city.id)
    departments = [u.name for u in units if u.kind == "department"] or [u.name for u in units]
    year = office_today().year
    plan_row = {
        "code": f"{city.code}-example" if city else "example-2024",
        "title": f"{city.name if city else ''}数字政府建设工作要点（示例）",
        "city": city.name if city else "",
        "document_number": "",
        "issued_on": None,
        "year": year,
        "kind": "任务方案",
        "points": None,
        "assessed": "",
    }
    section_row = {"key": "1", "number": "一", "title": "政务服务“一网通办”"}
    item_row = {
        "section": "1",
        "number": "1",
        "title": "推进政务服务事项标准化",
        "text": "梳理本级政务服务事项，统一事项名称、编码、依据和办理要素，"
        "实现同一事项无差别受理。",
        "deadline": "6月底完成",
        "applicability": "全部",
        "lead": departments[0] if departments else "",
        "responsible": "、".join(([groups[0].name] if groups else []) + departments[1:2]),
    }
    notes = [
        "方案导入模板：「方案」填写一行方案信息，「章节」填写章节层级（一、（一）或一级、二级指标），"
        "「事项」每行一个任务或指标。",
        "带 * 的列必填；列的顺序可以调整，但列名不能修改。第 2 行是示例，请替换为实际内容。",
        "单位名称应是系统中该城市的单位、单位组或别名（见「单位名称」工作表），多个单位用顿号（、）分隔；"
        "不认识的名称可在预览中新建为单位或设为别名。",
        "上传后先显示预览：将新建或修改的方案、章节、事项、单位关联和任务分派的数量，以及逐行错误"
        "（工作表、行、列、问题）。只有全部行都正确才能确认导入，导入在一个事务中完成。",
        "再次导入同一方案代码会更新该方案：文件中没有的章节和事项会被删除（已有单位报送进展的事项不能删除）。"
        "同一文件导入两次不会产生任何变化。",
    ]
    names = [
        (
            u.name,
            _KIND_WORD.get(u.kind, u.kind),
            "、".join(a.name for a in u.aliases if a.name != u.name),
        )
        for u in units
    ]
    unit_names = {u.id: u.name for u in units}
    names += [
        (
            g.name,
            "单位组",
            "、".join(unit_names[m] for m in members.get(g.id, []) if m in unit_names),
        )
        for g in groups
    ]
    return build_template(
        [(PLAN_SHEET, [plan_row]), (SECTION_SHEET, [section_row]), (ITEM_SHEET, [item_row])],
        notes,
        [(NAMES_SHEET, ("名称", "类型", "也可写作 / 成员"), names)],
    )
