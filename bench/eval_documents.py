"""How well the document parser reads plans: field-by-field accuracy against hand transcriptions.

Each source document (the five seed documents, and with ``--unseen`` the unseen-plan fixtures)
is parsed with ``taskhub.documents.parser.parse`` and compared with its hand transcription
(``seeds/plans/*.yaml`` or ``tests/fixtures/documents/unseen/<name>.expected.yaml``), item by
item and field by field.

    .venv/bin/python bench/eval_documents.py [--sources DIR] [--plan CODE] [--unseen]
                                             [--worst 10] [--json] [--floor 98]

How it counts (docs/documents.md "How well it reads" says the same):

- Items are aligned in reading order (a dynamic-programming alignment): a pair matches best by
  equal number within the same section path, then by equal number, then (unnumbered rows) by
  section and order, then by similar text. A seed item left unmatched counts every field it has
  as wrong; a parsed item left unmatched is an "extra item" (one error each, in its own figure
  and in the overall figure).
- Fields per item: number, title (only where the seed gives a title), lead, responsible,
  lead_assessors, deadline, points, weight. A field counts where the seed or the parse has a
  value; both empty is not counted (weights on a task plan would otherwise inflate the score).
  A value the seed has and the parse lacks is wrong; a value the parse invented is wrong.
- Units are compared as sets of canonical names after resolving each name (as printed, brackets
  full- or half-width) through the plan's city file: units, aliases and groups. A name the city
  does not know stays as printed (prefixed ``?``) and so never equals a seed name.
- Numbers, titles and deadline phrases are compared after normalising full/half-width forms,
  whitespace, enclosing brackets of numbers (（一） = (一) = 一) and a trailing full stop.
  Points and weights are compared as Decimals (2 = 2.0).
- Head fields (title, document_number, year, kind) are reported per plan, not in the floor.

``--floor P`` exits 1 when any seed plan's overall accuracy is below P percent (unseen plans
against ``--unseen-floor``, default 95).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from taskhub.documents import readers  # noqa: E402
from taskhub.documents.model import Draft, DraftItem, DraftSection  # noqa: E402
from taskhub.documents.parser import parse  # noqa: E402
from taskhub.plans.seedspec import (  # noqa: E402
    CitySpec,
    ItemSpec,
    PlanSpec,
    SeedError,
    UnitSpec,
    discover,
    read_city,
    read_plan,
)
from taskhub.units.names import normalise  # noqa: E402

SEEDS_DIR = REPO / "seeds"
FIXTURES_DIR = REPO / "tests" / "fixtures" / "documents"
UNSEEN_DIR = FIXTURES_DIR / "unseen"
#: Where the five source documents are looked for, first found wins (--sources overrides).
SOURCE_CANDIDATES = (REPO.parent / "shared" / "seeds", REPO.parent.parent / "shared" / "seeds")

ITEM_FIELDS = (
    "number",
    "title",
    "lead",
    "responsible",
    "lead_assessors",
    "deadline",
    "points",
    "weight",
)
UNIT_FIELDS = ("lead", "responsible", "lead_assessors")
HEAD_FIELDS = ("title", "document_number", "year", "kind")
SEED_FLOOR = 98.0
UNSEEN_FLOOR = 95.0

# --------------------------------------------------------------------------- normalising

_BRACKETS = "()[]【】〔〕<>《》"
_TRAILING = "。.;;,,:: "


def norm_text(value: str | None) -> str:
    """Full-width forms as half-width, no whitespace, no trailing full stop or comma."""
    if value is None:
        return ""
    s = re.sub(r"\s+", "", normalise(str(value)))
    return s.rstrip(_TRAILING)


def norm_number(value: str | None) -> str:
    """An item or section number as printed, without brackets and trailing marks:
    （一） / (一) / 一、 / 一 are one number; 1. / 1． / 1、 / 1 likewise."""
    s = norm_text(value)
    s = s.strip(_BRACKETS + "、.,:;")
    return s.strip()


def norm_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value).strip().rstrip("%").rstrip("分"))
    except InvalidOperation:
        return None


class Names:
    """Resolves unit names as printed to canonical names through a city's names."""

    def __init__(self, city: CitySpec) -> None:
        self.by_norm: dict[str, str] = {}
        for name, (_kind, canonical) in city.names.items():
            self.by_norm.setdefault(norm_text(name), canonical)

    def resolve(self, name: str) -> str:
        return self.by_norm.get(norm_text(name), "?" + name.strip())

    def resolve_all(self, names: Iterable[str]) -> frozenset[str]:
        return frozenset(self.resolve(n) for n in names if n and n.strip())


# --------------------------------------------------------------------------- flat rows


@dataclass
class Row:
    """One item, flattened: the section numbers above it and the compared fields."""

    section: tuple[str, ...]  # normalised section numbers, outermost first
    number: str  # normalised
    text: str  # normalised, for similarity
    values: dict[str, Any]  # field -> comparable value (None/empty = no value)
    shown: dict[str, str]  # field -> value as shown in the worst rows
    label: str  # number as printed, for reports
    #: Character bigrams of ``text``: a cheap similarity for pairing rows whose numbers differ.
    grams: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.grams = frozenset(self.text[i : i + 2] for i in range(len(self.text) - 1))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, frozenset | set | list | tuple):
        return "；".join(sorted(value))  # names may hold 、 themselves
    return str(value)


def seed_rows(spec: PlanSpec, names: Names) -> list[Row]:
    sections = {s.path: s for s in spec.sections}
    rows = []
    for item in spec.items:
        path: list[str] = []
        key = item.section_path
        while key:
            section = sections[key]
            if number := norm_number(section.number):  # an unnumbered wrapper: no level
                path.insert(0, number)
            key = section.parent_path
        rows.append(_seed_row(item, tuple(path), names))
    return rows


def _seed_row(item: ItemSpec, section: tuple[str, ...], names: Names) -> Row:
    values: dict[str, Any] = {
        "number": norm_number(item.number) or None,
        "title": norm_text(item.title) or None,
        "lead": names.resolve_all(item.units.get("lead", [])),
        "responsible": names.resolve_all(item.units.get("responsible", [])),
        "lead_assessors": names.resolve_all(item.units.get("lead_assessor", [])),
        "deadline": norm_text(item.deadline) or None,
        "points": item.points,
        "weight": item.weight,
    }
    shown = {
        "number": item.number or "",
        "title": item.title or "",
        "deadline": item.deadline or "",
    }
    shown.update({k: _shown(values[k]) for k in (*UNIT_FIELDS, "points", "weight")})
    return Row(
        section=section,
        number=values["number"] or "",
        text=norm_text(item.text)[:60],
        values=values,
        shown=shown,
        label=item.number or item.code,
    )


def draft_rows(draft: Draft, names: Names) -> list[Row]:
    rows = [_draft_row(item, (), names) for item in draft.items]

    def walk(section: DraftSection, path: tuple[str, ...]) -> None:
        number = norm_number(section.number)
        here = (*path, number) if number else path  # an unnumbered wrapper: no level
        rows.extend(_draft_row(item, here, names) for item in section.items)
        for child in section.sections:
            walk(child, here)

    for section in draft.sections:
        walk(section, ())
    return rows


def _draft_row(item: DraftItem, section: tuple[str, ...], names: Names) -> Row:
    values: dict[str, Any] = {
        "number": norm_number(item.number) or None,
        "title": norm_text(item.title) or None,
        "lead": names.resolve_all(item.lead_units),
        "responsible": names.resolve_all(item.responsible_units),
        "lead_assessors": names.resolve_all(item.lead_assessors),
        "deadline": norm_text(item.deadline_text) or None,
        "points": norm_decimal(item.points),
        "weight": norm_decimal(item.weight),
    }
    shown = {
        "number": item.number or "",
        "title": item.title or "",
        "deadline": item.deadline_text or "",
        "lead": "；".join(item.lead_units),
        "responsible": "；".join(item.responsible_units),
        "lead_assessors": "；".join(item.lead_assessors),
        "points": _shown(item.points),
        "weight": _shown(item.weight),
    }
    return Row(
        section=section,
        number=values["number"] or "",
        text=norm_text(item.text or item.title)[:60],
        values=values,
        shown=shown,
        label=item.number or "",
    )


# --------------------------------------------------------------------------- alignment


def _same_section(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Same section path, tolerating a wrapper level on one side (一、工作任务 above (一)…):
    the shorter path is a suffix of the longer."""
    if not a or not b:
        return a == b
    n = min(len(a), len(b))
    return a[-n:] == b[-n:]


def _similar(a: Row, b: Row) -> bool:
    """Half or more of the texts' character bigrams shared (Jaccard), e.g. the same task under
    a misread number; fast enough for every pair of a 500-item plan."""
    if not a.grams or not b.grams:
        return False
    return len(a.grams & b.grams) * 2 >= len(a.grams | b.grams)


def pair_score(seed: Row, parsed: Row) -> int:
    """How well two rows match (0: they may not be paired)."""
    same_section = _same_section(seed.section, parsed.section)
    if seed.number and seed.number == parsed.number:
        return 6 if same_section else 4
    similar = _similar(seed, parsed)
    if not seed.number and not parsed.number and same_section:
        return 3 if similar else 2
    return 1 if similar else 0


def align(seed: Sequence[Row], parsed: Sequence[Row]) -> list[tuple[int | None, int | None]]:
    """Pairs (seed index, parsed index) in order; None on one side = unmatched.

    A maximum-score monotone alignment (like a diff): robust to an extra or a missing item
    anywhere, and it never pairs items out of reading order."""
    n, m = len(seed), len(parsed)
    scores = [[pair_score(s, p) for p in parsed] for s in seed]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            take = best[i + 1][j + 1] + scores[i][j] if scores[i][j] else -1
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < n and j < m:
        if scores[i][j] and best[i][j] == best[i + 1][j + 1] + scores[i][j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            pairs.append((i, None))
            i += 1
        else:
            pairs.append((None, j))
            j += 1
    pairs.extend((k, None) for k in range(i, n))
    pairs.extend((None, k) for k in range(j, m))
    return pairs


# --------------------------------------------------------------------------- comparing


def has_value(value: Any) -> bool:
    return value is not None and value != "" and value != frozenset()


def field_counted(name: str, seed: Row | None, parsed: Row | None) -> bool:
    """Whether a field counts: the seed or the parse has a value; a title only where the seed
    gives one (many plans have no separate title and the parser may still offer one)."""
    seed_value = seed.values.get(name) if seed else None
    if name == "title":
        return has_value(seed_value)
    parsed_value = parsed.values.get(name) if parsed else None
    return has_value(seed_value) or has_value(parsed_value)


def field_right(name: str, seed: Row, parsed: Row) -> bool:
    a, b = seed.values.get(name), parsed.values.get(name)
    if not has_value(a) or not has_value(b):
        return not has_value(a) and not has_value(b)
    if name in ("points", "weight"):
        return norm_decimal(a) == norm_decimal(b)
    return bool(a == b)


@dataclass
class RowResult:
    seed: Row | None
    parsed: Row | None
    wrong: list[str] = field(default_factory=list)
    counted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seed_number": self.seed.label if self.seed else None,
            "parsed_number": self.parsed.label if self.parsed else None,
            "counted": self.counted,
            "wrong": {
                f: {
                    "seed": self.seed.shown.get(f, "") if self.seed else None,
                    "parsed": self.parsed.shown.get(f, "") if self.parsed else None,
                }
                for f in self.wrong
            },
        }


@dataclass
class PlanResult:
    code: str
    source: str
    unseen: bool = False
    expected: int = 0
    found: int = 0
    matched: int = 0
    missing: int = 0
    extra: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ITEM_FIELDS, 0))
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ITEM_FIELDS, 0))
    rows: list[RowResult] = field(default_factory=list)
    head: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def right_all(self) -> int:
        return sum(self.right.values())

    @property
    def total_all(self) -> int:
        """Every counted field, plus one per extra item (an invented item is an error)."""
        return sum(self.total.values()) + self.extra

    @property
    def accuracy(self) -> float:
        return 100.0 * self.right_all / self.total_all if self.total_all else 100.0

    def field_accuracy(self, name: str) -> float | None:
        total = self.total[name]
        return 100.0 * self.right[name] / total if total else None

    def worst(self, n: int) -> list[RowResult]:
        bad = [r for r in self.rows if r.wrong or r.seed is None]
        # Most wrong fields first (an extra item counts one), then reading order (stable).
        return sorted(bad, key=lambda r: -(len(r.wrong) + (r.seed is None)))[:n]

    def to_json(self, worst: int) -> dict[str, Any]:
        return {
            "code": self.code,
            "source": self.source,
            "unseen": self.unseen,
            "items_expected": self.expected,
            "items_found": self.found,
            "items_matched": self.matched,
            "items_missing": self.missing,
            "extra_items": self.extra,
            "fields": {
                f: {
                    "right": self.right[f],
                    "total": self.total[f],
                    "percent": _round(self.field_accuracy(f)),
                }
                for f in ITEM_FIELDS
            },
            "right": self.right_all,
            "total": self.total_all,
            "percent": _round(self.accuracy),
            "head": self.head,
            "worst": [r.to_json() for r in self.worst(worst)],
            "error": self.error,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def compare_rows(result: PlanResult, seed: Sequence[Row], parsed: Sequence[Row]) -> None:
    """Fill ``result``'s counts from the aligned rows."""
    result.expected, result.found = len(seed), len(parsed)
    for i, j in align(seed, parsed):
        s = seed[i] if i is not None else None
        p = parsed[j] if j is not None else None
        row = RowResult(s, p)
        if s is None:
            result.extra += 1
            result.rows.append(row)
            continue
        if p is None:
            result.missing += 1
        else:
            result.matched += 1
        for name in ITEM_FIELDS:
            if not field_counted(name, s, p):
                continue
            row.counted += 1
            result.total[name] += 1
            if p is not None and field_right(name, s, p):
                result.right[name] += 1
            else:
                row.wrong.append(name)
        result.rows.append(row)


def compare_head(spec: PlanSpec, draft: Draft) -> dict[str, dict[str, Any]]:
    pairs = {
        "title": (spec.title, draft.title),
        "document_number": (spec.document_number, draft.document_number),
        "year": (spec.year, draft.year),
        "kind": (spec.kind, draft.kind),
    }
    out = {}
    for name, (want, got) in pairs.items():
        right = norm_text(str(want)) == norm_text(str(got)) if want is not None else got is None
        out[name] = {"seed": want, "parsed": got, "right": right}
    return out


def evaluate(
    spec: PlanSpec, city: CitySpec, draft: Draft, *, source: str = "", unseen: bool = False
) -> PlanResult:
    """Compare one parsed draft with its transcription."""
    names = Names(city)
    result = PlanResult(code=spec.code, source=source or spec.source or "", unseen=unseen)
    compare_rows(result, seed_rows(spec, names), draft_rows(draft, names))
    result.head = compare_head(spec, draft)
    return result


# --------------------------------------------------------------------------- loading


@dataclass
class Case:
    """One document to parse and the transcription to compare it with."""

    spec: PlanSpec
    city: CitySpec
    document: Path | None  # None: the source file was not found
    unseen: bool = False


def read_document(path: Path) -> readers.SourceDocument:
    """The document as an upload reads it (``readers.read``, judging the format by content);
    plain text through ``from_text`` where that reader is not there."""
    read = getattr(readers, "read", None)
    if callable(read):
        document: readers.SourceDocument = read(path.name, path.read_bytes())
        return document
    return readers.from_text(path.read_text(encoding="utf-8"), name=path.name, format="txt")


def parse_file(path: Path, year: int | None = None) -> Draft:
    return parse(read_document(path), year=year)


def find_sources(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    for candidate in SOURCE_CANDIDATES:
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    return FIXTURES_DIR


def seed_cases(sources: Path) -> list[Case]:
    plans, city_paths = discover(SEEDS_DIR)
    cities = {code: read_city(path) for code, path in city_paths.items()}
    cases = []
    for path in plans.values():
        spec = read_plan(path, cities)
        document = sources / spec.source if spec.source else None
        cases.append(
            Case(spec, cities[spec.city], document if document and document.is_file() else None)
        )
    return cases


def printed_city(data: dict[str, Any], code: str) -> CitySpec:
    """A city whose names are exactly the names the transcription prints (no city file)."""
    found: list[str] = []

    def collect(sections: Any) -> None:
        for section in sections or []:
            for item in section.get("items") or []:
                for key in ("lead", "responsible", "lead_assessors"):
                    value = item.get(key) or []
                    found.extend([value] if isinstance(value, str) else value)
            collect(section.get("sections"))

    collect(data.get("sections"))
    found.extend(data.get("assessed") or [])
    city = CitySpec(path=Path(), code=code, name=code, sources=[], units=[], groups=[], digest="")
    for name in dict.fromkeys(n.strip() for n in found if n and n.strip()):
        city.units.append(UnitSpec(name=name, kind="department", aliases=[], parent=None))
        city.names[name] = ("unit", name)
    return city


def unseen_cases(directory: Path = UNSEEN_DIR) -> list[Case]:
    """``<name>.expected.yaml`` beside ``<name>.txt`` (or .docx/.html); names resolve through
    ``<name>.city.yaml`` when present, else as printed."""
    cases = []
    for expected in sorted(directory.glob("*.expected.yaml")):
        stem = expected.name[: -len(".expected.yaml")]
        data = yaml.safe_load(expected.read_text(encoding="utf-8")) or {}
        city_file = directory / f"{stem}.city.yaml"
        code = str(data.get("city") or stem)
        city = read_city(city_file) if city_file.is_file() else printed_city(data, code)
        spec = read_plan(expected, {city.code: city, code: city})
        document = next(
            (
                p
                for p in sorted(directory.glob(f"{stem}.*"))
                if not p.name.endswith(".yaml") and p.suffix != ".md"
            ),
            None,
        )
        cases.append(Case(spec, city, document, unseen=True))
    return cases


def run_case(case: Case) -> PlanResult:
    source = case.document.name if case.document else (case.spec.source or "")
    if case.document is None:
        draft, error = Draft(), f"source document {case.spec.source!r} not found"
    else:
        try:
            draft, error = parse_file(case.document), None
        except Exception as exc:  # a crash is a result: every field wrong, and said so
            draft, error = Draft(), f"{type(exc).__name__}: {exc}"
    result = evaluate(case.spec, case.city, draft, source=source, unseen=case.unseen)
    result.error = error
    return result


def run(
    sources: Path | None = None, *, plan: str | None = None, unseen: bool = False
) -> list[PlanResult]:
    cases = seed_cases(find_sources(sources))
    if unseen:
        cases += unseen_cases()
    if plan:
        cases = [c for c in cases if c.spec.code == plan]
    return [run_case(c) for c in cases]


# --------------------------------------------------------------------------- reporting


def _pct(right: int, total: int) -> str:
    return f"{right}/{total} ({100.0 * right / total:.1f}%)" if total else "—"


def _cut(value: str, width: int = 40) -> str:
    value = value.replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"


def report(results: Sequence[PlanResult], worst: int) -> str:
    lines: list[str] = []
    for r in results:
        tag = " [unseen]" if r.unseen else ""
        lines.append(f"== {r.code}{tag}  ({r.source})")
        if r.error:
            lines.append(f"   ERROR: {r.error}")
        lines.append(
            f"   items expected {r.expected}, found {r.found}, matched {r.matched}, "
            f"missing {r.missing}, extra {r.extra}"
        )
        for name in ITEM_FIELDS:
            lines.append(f"   {name:<15} {_pct(r.right[name], r.total[name])}")
        lines.append(f"   {'extra items':<15} {r.extra}")
        lines.append(f"   {'OVERALL':<15} {_pct(r.right_all, r.total_all)}")
        head = "  ".join(
            f"{k}={'ok' if v['right'] else 'WRONG'}"
            + ("" if v["right"] else f" (seed {v['seed']!r}, parsed {v['parsed']!r})")
            for k, v in r.head.items()
        )
        lines.append(f"   head: {head}")
        rows = r.worst(worst)
        if rows:
            lines.append(f"   worst {len(rows)} rows:")
        for row in rows:
            if row.seed is None:
                assert row.parsed is not None
                lines.append(
                    f"     + extra parsed item {row.parsed.label!r}: {_cut(row.parsed.text)}"
                )
                continue
            got = "MISSING" if row.parsed is None else f"parsed {row.parsed.label!r}"
            lines.append(
                f"     - seed {row.seed.label!r} vs {got}: {len(row.wrong)}/{row.counted} wrong"
            )
            for name in row.wrong:
                want = row.seed.shown.get(name, "")
                have = row.parsed.shown.get(name, "") if row.parsed else ""
                lines.append(f"         {name:<14} seed {_cut(want)!r} | parsed {_cut(have)!r}")
    if results:
        right = sum(r.right_all for r in results)
        total = sum(r.total_all for r in results)
        lines.append(f"== all plans: {_pct(right, total)}")
    return "\n".join(lines)


def below_floor(results: Sequence[PlanResult], floor: float, unseen_floor: float) -> list[str]:
    out = []
    for r in results:
        limit = unseen_floor if r.unseen else floor
        if r.accuracy < limit:
            out.append(f"{r.code}: {r.accuracy:.1f}% < {limit:g}%")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, help="directory of the seed source documents")
    parser.add_argument("--plan", help="only this plan code")
    parser.add_argument("--unseen", action="store_true", help="also the unseen-plan fixtures")
    parser.add_argument("--worst", type=int, default=10, help="rows shown per plan")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a report")
    parser.add_argument("--floor", type=float, help="exit 1 if a seed plan is below (percent)")
    parser.add_argument("--unseen-floor", type=float, default=UNSEEN_FLOOR)
    args = parser.parse_args(argv)
    try:
        results = run(args.sources, plan=args.plan, unseen=args.unseen)
    except SeedError as exc:
        print(f"transcription invalid:\n{exc}", file=sys.stderr)
        return 2
    if not results:
        print("no plan to evaluate", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.to_json(args.worst) for r in results], ensure_ascii=False, indent=1))
    else:
        print(report(results, args.worst))
    if args.floor is not None:
        failing = below_floor(results, args.floor, args.unseen_floor)
        for line in failing:
            print(f"BELOW FLOOR {line}", file=sys.stderr)
        return 1 if failing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
