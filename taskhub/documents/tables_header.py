"""Indicator tables: column roles from header names, and cell text cleaning.

Shared by the table reader of .docx/.html blocks (``tables``) and of scraped text
(``tables_text``). Header names vary from plan to plan; each column gets one role.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from taskhub.units.names import looks_like_unit, normalise

ROLE_NUMBER = "number"
ROLE_LEVEL = "level"  # 类别 / 一级指标 / 二级指标 / 指标名称 ...: left to right, highest first
ROLE_CONTENT = "content"
ROLE_POINTS = "points"
ROLE_WEIGHT = "weight"
ROLE_ASSESSOR = "assessor"  # 牵头考核单位
ROLE_ASSESSED = "assessed"  # 关联单位 / 评估对象 / 适用对象: who is assessed on the row
ROLE_LEAD = "lead"  # 牵头单位
ROLE_RESPONSIBLE = "responsible"  # 责任单位 / 配合单位
ROLE_DEADLINE = "deadline"
ROLE_TARGET = "target"
ROLE_REMARK = "remark"
ROLE_OTHER = "other"

#: Columns whose cell may span rows and is read as covering the rows below it.
CARRIED_ROLES = (
    ROLE_LEVEL,
    ROLE_ASSESSOR,
    ROLE_ASSESSED,
    ROLE_LEAD,
    ROLE_RESPONSIBLE,
    ROLE_DEADLINE,
)
UNIT_ROLES = (ROLE_ASSESSOR, ROLE_ASSESSED, ROLE_LEAD, ROLE_RESPONSIBLE)

#: Header names by role, most specific first (the first role whose pattern matches wins).
_ROLE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (ROLE_NUMBER, re.compile(r"^(?:序号|编号|序列号|序|No\.?|NO\.?)$")),
    (
        ROLE_ASSESSOR,
        re.compile(
            r"考核单位|考评单位|考核部门|考评部门|评估单位|评价单位|评分单位|考核主体|牵头考核|考核责任单位"
        ),
    ),
    (
        ROLE_ASSESSED,
        re.compile(
            r"关联单位|关联部门|评估对象|适用对象|考核对象|考评对象|评价对象|被考核|被评估|适用单位|适用范围"
        ),
    ),
    (ROLE_LEAD, re.compile(r"牵头单位|牵头部门|主责单位|主责部门|主办单位|牵头")),
    (
        ROLE_RESPONSIBLE,
        re.compile(
            r"责任单位|责任部门|配合单位|配合部门|协办单位|承办单位|实施单位|责任主体|参与单位|落实单位"
        ),
    ),
    (ROLE_DEADLINE, re.compile(r"时限|时间节点|完成时间|截止时间|进度安排|时间安排|完成期限|期限")),
    (ROLE_WEIGHT, re.compile(r"权重|占比")),
    (
        ROLE_CONTENT,
        re.compile(
            r"评估内容|考核内容|考评内容|评价内容|指标内容|评分标准|考评要点|具体内容|工作任务|指标说明|"
            r"考核要点|评价标准|评分细则|考核标准|考评标准|指标解释|指标释义|任务内容|主要内容|工作内容|"
            r"评估要点|考核细则|评分办法|评分方法|计分方法|计分办法|计分标准|扣分标准|评分规则|考核办法|重点任务|目标任务|建设内容|"
            r"评价要点|考核说明|评分说明|具体要求|工作要求|主要任务|工作措施|具体措施|"
            r"赋分标准|赋分办法|赋分细则"
        ),
    ),
    (ROLE_POINTS, re.compile(r"分值|分数|标准分|满分|基础分|赋分|^分$|^得分$")),
    (ROLE_TARGET, re.compile(r"目标值|预期目标|指标值|目标")),
    (
        ROLE_LEVEL,
        re.compile(
            r"类别|领域|[一二三四]级指标|指标名称|指标项|考核项目|考评项目|评估项目|评价项目|考核指标|评估指标|"
            r"评价指标|考评指标|指标|项目|维度|分类|方面|板块"
        ),
    ),
    (ROLE_CONTENT, re.compile(r"内容|标准|要点|说明|要求|任务|措施|描述")),
    (ROLE_REMARK, re.compile(r"备注")),
    (ROLE_OTHER, re.compile(r"方式|方法|来源|依据|佐证|材料")),
)
#: Roles that say "this is an indicator (or task) table" next to a content or level column.
_ANCHOR_ROLES = (
    ROLE_NUMBER,
    ROLE_POINTS,
    ROLE_WEIGHT,
    ROLE_ASSESSOR,
    ROLE_ASSESSED,
    ROLE_LEAD,
    ROLE_RESPONSIBLE,
    ROLE_DEADLINE,
    ROLE_TARGET,
)
#: A header cell is short; a longer cell is data, not a name.
_HEADER_MAX = 16


@dataclass
class Column:
    index: int
    role: str
    name: str  # the header as printed, cleaned


#: A column for the score the assessor gives (得分 / 实际得分 / 自评分), not the points.
_SCORE_GIVEN = re.compile(r"得分$|自评分|评分结果")


def header_key(text: str) -> str:
    """A header cell as compared: no spaces or line breaks (序 号, 关联单\n位), half-width."""
    return re.sub(r"\s+", "", normalise(text))


@functools.lru_cache(maxsize=8192)
def role_of(name: str) -> str | None:
    if len(name) > 3 * _HEADER_MAX:  # a data cell: not worth normalising
        return None
    key = header_key(name)
    if not key or len(key) > _HEADER_MAX:
        return None
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(key):
            return role
    return None


def read_header(cells: list[str], *, anchored: bool = True) -> list[Column] | None:
    """Columns with roles when ``cells`` read as an indicator table's header, else None.

    ``anchored``: a points, units, deadline or 序号 column is required (not when the caller
    checks the rows that follow instead)."""
    columns = [Column(i, role_of(c) or "", clean_text(c)) for i, c in enumerate(cells)]
    known = [c for c in columns if c.role]
    if len(known) < 3 or len(known) < (len(columns) + 1) // 2:
        return None
    roles = {c.role for c in known}
    if not roles & {ROLE_CONTENT, ROLE_LEVEL}:
        return None
    if anchored and not roles & set(_ANCHOR_ROLES):
        return None
    if sum(1 for c in known if c.role == ROLE_NUMBER) > 1:
        return None
    points = [c for c in known if c.role == ROLE_POINTS]
    if len(points) > 1:
        # 分值 beside 得分: the 得分 column is for the score given, not the item's points.
        for column in points:
            if _SCORE_GIVEN.search(header_key(column.name)):
                column.role = ROLE_OTHER
    contents = [c for c in columns if c.role == ROLE_CONTENT]
    if not contents:
        # 序号 | 指标 | 分值 ...: the last level column holds the text.
        levels = [c for c in columns if c.role == ROLE_LEVEL]
        if len(levels) >= 1 and len(levels) == len([c for c in known if c.role == ROLE_LEVEL]):
            levels[-1].role = ROLE_CONTENT
    for column in columns:
        if not column.role:
            column.role = ROLE_OTHER
    return columns


def is_header_row(cells: list[str], columns: list[Column]) -> bool:
    """A repeated header row (printed again on each page)."""
    texts = [c for c in cells if c.strip()]
    if len(texts) < 2 or any(len(t) > 3 * _HEADER_MAX for t in texts):
        return False
    names = {header_key(c.name) for c in columns}
    keys = [header_key(t) for t in texts]
    return sum(1 for k in keys if k in names) >= max(2, len(keys) - 1)


# -- cell text --------------------------------------------------------------------------------

#: Characters between which a space is a scraping artefact (数 字政府, 社保、 住房): CJK
#: ideographs and punctuation, not letters, digits or % (如无自建 APP, 达到 100% stay).
_JOINABLE = (
    r"\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    r"“”‘’…—·,.;:!?()\[\]"
)
_SPACES = re.compile(r"[\s\u3000]+")
_SPACE_IN_CJK = re.compile(rf"(?<=[{_JOINABLE}])\s+(?=[{_JOINABLE}])")


@functools.lru_cache(maxsize=8192)
def clean_text(text: str) -> str:
    """A cell's text: line breaks and runs of spaces as one space, none between CJK characters."""
    text = _SPACES.sub(" ", text).strip()
    return _SPACE_IN_CJK.sub("", text)


#: Two names a cell's line break separates (市政务服务中心 市大数据中心): the left part ends
#: as a body does; 市/县/区 alone do not count (各县市 区人民 政府 is one wrapped name).
_STRONG_END = re.compile(
    r"(?:政府|单位|部门|机构|机关|中心|公司|集团|委员会|管委会|办事处|[局委办厅院部会站所队室处组馆行社团])"
    r"(?:\([^()]*\))?$"
)


@functools.lru_cache(maxsize=4096)
def clean_units(text: str) -> str:
    """A unit cell's text with separate names joined by 、 where a space or line break stood
    between two whole names; a wrapped name is joined up."""
    parts = [p for p in re.split(r"[\s\u3000]+", text) if p]
    if not parts:
        return ""
    out = parts[0]
    for part in parts[1:]:
        left = re.split(r"[、,，;；]", out)[-1]
        head = re.split(r"[、,，;；]", part)[0]
        if (
            _STRONG_END.search(normalise(left))
            and len(head) >= 3
            and looks_like_unit(head)
            and not out.endswith(("、", "，", ",", "；", ";"))
        ):
            out += "、" + part
        else:
            out += " " + part
    return clean_text(out)
