"""Split a list of unit names as plan documents write it (pure functions, no database).

One splitter for every place that reads a unit list from text: the Excel plan import
(taskhub.imports.plan), the seed reader (taskhub.plans.seedspec, when a role is written as one
string) and the browser plan editor. Use :func:`split_unit_names`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Separators between names at the top level (never inside brackets or a known name).
_SEPARATORS = "、,;\n"
#: Words that join two names; they split only when the left part reads as a whole unit name.
_JOINERS = "及和与"
_OPEN = "([【〔《“‘"
_CLOSE = ")]】〕》”’"
#: Full-width ASCII forms (（ ， ； …) and the ideographic space, one character for one.
_HALF = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
#: How a unit name ends (政府, 局, 中心, 分公司, 管委会 …): a piece without it is a shared
#: prefix such as 广州、深圳、珠海出入境边防检查总站, not a name of its own.
_UNIT_ENDING = re.compile(
    r"(?:政府|单位|部门|机构|机关|中心|公司|集团|委员会|管委会|街道|办事处|[局委办厅院部会站所队室处组"
    r"馆行社团区县市旗镇乡校台司署科股])$"
)
#: A bare word that completes the previous name (各部门、单位 is one name).
_GENERIC = re.compile(r"(?:各|有关|相关|其他)?(?:单位|部门|机构|企业|组织)")
#: A bare administrative level (县级市, 县(市、区), 乡镇 …): no name, only a kind of place.
_LEVEL_WORD = r"(?:县级市|县级区|乡镇|街道|[省市县区旗乡镇])"
_LEVEL = rf"{_LEVEL_WORD}(?:\((?:{_LEVEL_WORD}|、)+\))?"
#: A group of every place of some levels (各区, 各有关县(市、区)): a bare level after it
#: continues the group (各区、县级市 is one group, every district and county-level city).
_LEVEL_GROUP = re.compile(rf"各(?:有关|相关)?{_LEVEL}(?:、{_LEVEL})*")
_BARE_LEVEL = re.compile(_LEVEL)
#: An open end of the list: 等 / 等有关单位 / 及其他有关单位 (with an optional trailing verb).
_OPEN_TAIL = re.compile(
    r"(?P<rest>(?:等|[及和与](?=其他|其它|有关|相关))[^、,;\n]*?)"
    r"(?:按职责分工|按职责|分工)?(?:负责落实|负责|落实|配合)?$"
)
#: Longest open end kept (等有关单位 and the like are short).
_OPEN_REST_MAX = 30
#: A role verb after the last name (…牵头, …负责): not part of the name.
_TRAILING_VERB = re.compile(r"(?:按职责分工|按职责|分工)?(?:负责落实|负责|牵头|配合|参与)$")


@dataclass(frozen=True)
class SplitNames:
    """The names of a unit list in order, and the open-ended rest (等有关单位) if any."""

    names: list[str] = field(default_factory=list)
    #: e.g. 等有关单位 / 及其他有关单位: more units than named; shown on the item.
    open_rest: str | None = None


def normalise(text: str) -> str:
    """Full-width brackets, commas and spaces as their half-width forms (same length)."""
    return text.translate(_HALF)


def split_top_level(text: str | None) -> list[str]:
    """Split at 、，, ; and line breaks outside brackets only (no name heuristics): for lists
    that are not unit names, such as unit kinds 县(市、区)、乡镇(街道)."""
    if not text:
        return []
    s = normalise(text)
    out, start = [], 0
    while start <= len(s):
        end = _piece_end(s, start)
        if piece := text[start:end].strip():
            out.append(piece)
        start = end + 1
    return out


def looks_like_unit(name: str) -> bool:
    """Whether ``name`` ends the way a unit or group name does (ignoring a final bracket)."""
    bare = re.sub(r"\([^()]*\)$", "", normalise(name).strip())
    return bool(_UNIT_ENDING.search(bare))


def split_unit_names(text: str | None, known_names: Iterable[str] = ()) -> SplitNames:
    """Split a unit list at the top level: ``known_names`` (a city's units, aliases, groups)
    win over splitting, longest first, and are returned as the city spells them.

    ``、`` ``，`` ``,`` ``；`` and line breaks separate names; ``及`` / ``和`` / ``与`` separate
    only between whole unit names; nothing splits inside brackets (full- or half-width).
    A trailing ``等`` / ``等有关单位按职责分工负责`` / ``及其他有关单位`` keeps the names before
    it and is returned as ``open_rest``.
    """
    if not text or not text.strip():
        return SplitNames()
    known: dict[str, str] = {}
    for name in known_names:
        known.setdefault(normalise(name).strip(), name)
    ordered = sorted(known, key=len, reverse=True)
    s = normalise(text).strip()
    original = text.strip()
    pieces: list[tuple[str, bool]] = []  # (name, is_known)
    open_rest: str | None = None
    i, n = 0, len(s)
    while i < n:
        if s[i] in _SEPARATORS or s[i].isspace():
            i += 1
            continue
        match = next((k for k in ordered if s.startswith(k, i) and _ends_at(s, i + len(k))), None)
        if match is not None:
            pieces.append((known[match], True))
            i += len(match)
            if i < n and s[i] in _JOINERS and not _OPEN_TAIL.fullmatch(s[i:]):
                i += 1
            continue
        if (tail := _OPEN_TAIL.fullmatch(s[i:])) and _is_open(tail.group("rest")):
            open_rest = original[i : i + len(tail.group("rest"))]
            break
        end = _piece_end(s, i)
        piece = original[i:end]
        i = end
        head, rest = _open_end(piece, known)
        if rest:
            open_rest = rest
        pieces.extend((p, False) for p in _split_joined(head, known))
        if rest:
            break
    names = _merge(pieces)
    if names:
        last = _TRAILING_VERB.sub("", names[-1]).strip()
        if last and last != names[-1] and normalise(names[-1]) not in known:
            names[-1] = last
    return SplitNames([n for n in names if n], open_rest)


def _ends_at(s: str, end: int) -> bool:
    """A known name may be taken only where a name ends (end, separator, joiner, 等 …)."""
    if end >= len(s):
        return True
    return s[end] in _SEPARATORS or s[end] in _JOINERS or s[end] == "等" or s[end].isspace()


def _piece_end(s: str, start: int) -> int:
    """Index of the next top-level separator (or the end), skipping bracketed parts."""
    depth = 0
    for index in range(start, len(s)):
        char = s[index]
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and char in _SEPARATORS:
            return index
    return len(s)


def _is_open(rest: str) -> bool:
    """等 alone or 等有关单位 / 及其他有关单位; not the 等 of a name such as 高等学校."""
    if len(rest) > _OPEN_REST_MAX:  # a sentence, not the end of a list
        return False
    return rest == "等" or bool(re.search(r"有关|相关|其他|其它|单位|部门|机构|地区", rest))


def _open_end(piece: str, known: dict[str, str]) -> tuple[str, str | None]:
    """A piece ending in 等… (outside brackets): the names before it and the open rest."""
    s = normalise(piece)
    depth = 0
    for index, char in enumerate(s):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and index > 0 and (tail := _OPEN_TAIL.fullmatch(s[index:])):
            left = piece[:index]
            if _is_open(tail.group("rest")) and (looks_like_unit(left) or normalise(left) in known):
                return piece[:index], piece[index : index + len(tail.group("rest"))]
    return piece, None


def _split_joined(piece: str, known: dict[str, str]) -> list[str]:
    """Split at 及 / 和 / 与 where the left part is a whole unit name (住房和城乡建设局 stays)."""
    s = normalise(piece)
    if s.strip() in known:
        return [known[s.strip()]]
    depth = 0
    for index, char in enumerate(s):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and char in _JOINERS and 0 < index < len(s) - 1:
            left = piece[:index].strip()
            if normalise(left) in known or looks_like_unit(left):
                return [known.get(normalise(left), left), *_split_joined(piece[index + 1 :], known)]
    return [piece.strip()]


def _completes(previous: str, name: str) -> bool:
    """A bare 单位 / 部门 completes the previous name (各部门、单位); a bare level continues a
    group of every place (各区、县级市)."""
    flat = normalise(name)
    if _GENERIC.fullmatch(flat):
        return True
    return bool(_BARE_LEVEL.fullmatch(flat) and _LEVEL_GROUP.fullmatch(normalise(previous)))


def _merge(pieces: list[tuple[str, bool]]) -> list[str]:
    """Rejoin unknown pieces the separators cut wrongly: a shared prefix (广州、深圳、珠海…总站)
    joins the next piece, and a bare 单位 / 部门 completes the previous one."""
    out: list[tuple[str, bool]] = []
    pending: str | None = None
    for name, is_known in pieces:
        if pending is not None:
            if is_known:
                out.append((pending, False))
            else:
                name = f"{pending}、{name}"
            pending = None
        if is_known:
            out.append((name, True))
        elif out and not out[-1][1] and _completes(out[-1][0], name):
            out[-1] = (f"{out[-1][0]}、{name}", False)
        elif not looks_like_unit(name):
            pending = name
        else:
            out.append((name, False))
    if pending is not None:
        out.append((pending, False))
    return [name for name, _ in out]
