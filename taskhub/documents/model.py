"""What the document reader produces: a draft plan, as plain data.

The JSON form (``Draft.to_json``) is a public contract: ``taskhub plan parse --json`` prints it,
``/api/v1/plan-drafts/`` returns it and the draft page edits it. Keys may be added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Item flags (codes; the pages translate them). An item is never invented or silently fixed:
#: what the reader could not settle is flagged for the office.
FLAG_CUT_OFF = "cut_off"  # the text stops mid-sentence or its unit bracket is not closed
FLAG_AMBIGUOUS = "ambiguous"  # more than one reading is possible (e.g. which units lead)
FLAG_NO_LEAD = "no_lead"  # a task with no lead unit
FLAG_DEADLINE_UNREADABLE = "deadline_unreadable"  # a deadline phrase the parser cannot date
FLAG_POINTS_MISMATCH = "points_mismatch"  # the item's points do not add up with its heading
FLAG_UNKNOWN_UNIT = "unknown_unit"  # a unit name the city does not know (see unknown_units)
FLAG_NUMBER_GAP = "number_gap"  # the number does not follow the previous item's
FLAG_DUPLICATE_NUMBER = "duplicate_number"
FLAGS = (
    FLAG_CUT_OFF,
    FLAG_AMBIGUOUS,
    FLAG_NO_LEAD,
    FLAG_DEADLINE_UNREADABLE,
    FLAG_POINTS_MISMATCH,
    FLAG_UNKNOWN_UNIT,
    FLAG_NUMBER_GAP,
    FLAG_DUPLICATE_NUMBER,
)

KIND_TASKS = "tasks"
KIND_INDICATORS = "indicators"


def number_json(value: Decimal | None) -> int | float | None:
    """Points and weights in JSON: an int when whole, else a float of the printed decimal."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Span:
    """Where a piece came from: character offsets into ``Draft.source_text`` (end exclusive)."""

    start: int
    end: int

    def to_json(self) -> dict[str, int]:
        return {"start": self.start, "end": self.end}


@dataclass
class UnitBracket:
    """One unit bracket of an item that prints several, each for its own sentence
    (…。（A牵头，B配合）…。（C负责））: the roles as that bracket gives them."""

    text: str  # the sentence the bracket closes, with the bracket
    lead_units: list[str] = field(default_factory=list)
    responsible_units: list[str] = field(default_factory=list)
    lead_assessors: list[str] = field(default_factory=list)
    deadline_text: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lead_units": list(self.lead_units),
            "responsible_units": list(self.responsible_units),
            "lead_assessors": list(self.lead_assessors),
            "deadline_text": self.deadline_text,
        }


@dataclass
class DraftItem:
    number: str | None = None
    title: str | None = None
    text: str = ""
    lead_units: list[str] = field(default_factory=list)  # names as printed, in order
    responsible_units: list[str] = field(default_factory=list)
    #: 牵头考核单位 (indicator systems: who assesses the item).
    lead_assessors: list[str] = field(default_factory=list)
    #: Who is assessed on the row, as printed (关联单位 / 评估对象 / 适用对象 columns).
    assessed: list[str] = field(default_factory=list)
    #: The list ended with 等有关单位 / 等部门: more units may be meant than are named.
    open_units: bool = False
    #: The units came from a statement for a run of items (以下任务均需…落实), not the item.
    units_inherited: bool = False
    deadline_text: str | None = None  # verbatim
    points: Decimal | None = None
    weight: Decimal | None = None  # a weight as printed (percent signs dropped)
    target: str | None = None
    applicability: str | None = None  # None (all) | "as_needed" (按需)
    complete: bool = True
    flags: list[str] = field(default_factory=list)
    source: Span | None = None
    #: Set by resolution against a city (taskhub.documents.resolve), not by the parser.
    unknown_units: list[str] = field(default_factory=list)
    #: An item printing several unit brackets (one per sentence): each bracket's own roles, in
    #: order. The unit lists above combine them; empty when the item prints one bracket.
    unit_brackets: list[UnitBracket] = field(default_factory=list)

    def flag(self, code: str) -> None:
        if code not in self.flags:
            self.flags.append(code)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "text": self.text,
            "lead_units": list(self.lead_units),
            "responsible_units": list(self.responsible_units),
            "lead_assessors": list(self.lead_assessors),
            "assessed": list(self.assessed),
            "open_units": self.open_units,
            "units_inherited": self.units_inherited,
            "deadline_text": self.deadline_text,
            "points": number_json(self.points),
            "weight": number_json(self.weight),
            "target": self.target,
            "applicability": self.applicability,
            "complete": self.complete,
            "flags": list(self.flags),
            "unknown_units": list(self.unknown_units),
            "unit_brackets": [b.to_json() for b in self.unit_brackets],
            "source": self.source.to_json() if self.source else None,
        }


@dataclass
class DraftSection:
    number: str | None = None
    title: str = ""
    points: Decimal | None = None
    sections: list[DraftSection] = field(default_factory=list)
    items: list[DraftItem] = field(default_factory=list)
    source: Span | None = None

    def all_items(self) -> list[DraftItem]:
        out = list(self.items)
        for child in self.sections:
            out.extend(child.all_items())
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "points": number_json(self.points),
            "sections": [s.to_json() for s in self.sections],
            "items": [i.to_json() for i in self.items],
            "source": self.source.to_json() if self.source else None,
        }


@dataclass
class Warning:
    """A finding about the document as a whole (or a heading), in the office's words."""

    code: str
    message: str  # Chinese: the office reads it
    source: Span | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "source": self.source.to_json() if self.source else None,
        }


@dataclass
class Draft:
    title: str | None = None
    document_number: str | None = None
    year: int | None = None
    issued_on: str | None = None  # YYYY-MM-DD when the document gives it
    kind: str = KIND_TASKS
    #: Total points of the plan when stated (考评 systems: 100).
    points: Decimal | None = None
    #: 考评对象 as printed (indicator systems), names.
    assessed: list[str] = field(default_factory=list)
    sections: list[DraftSection] = field(default_factory=list)
    items: list[DraftItem] = field(default_factory=list)  # items under no heading
    warnings: list[Warning] = field(default_factory=list)
    #: The text the spans point into (the document as read, normalised line ends).
    source_text: str = ""

    def all_items(self) -> list[DraftItem]:
        out = list(self.items)
        for section in self.sections:
            out.extend(section.all_items())
        return out

    def warn(self, code: str, message: str, source: Span | None = None) -> None:
        self.warnings.append(Warning(code, message, source))

    def to_json(self, *, with_source: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "title": self.title,
            "document_number": self.document_number,
            "year": self.year,
            "issued_on": self.issued_on,
            "kind": self.kind,
            "points": number_json(self.points),
            "assessed": list(self.assessed),
            "sections": [s.to_json() for s in self.sections],
            "items": [i.to_json() for i in self.items],
            "warnings": [w.to_json() for w in self.warnings],
        }
        if with_source:
            data["source_text"] = self.source_text
        return data
