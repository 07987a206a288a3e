"""Unit names of a draft against a city: which are known, and what each unknown one may be.

A name is known when the city has it as a unit, group or alias (full- and half-width brackets
alike, as the plan importer reads them). An unknown name is never dropped: the item keeps it,
is flagged ``unknown_unit``, and the draft lists it with a guessed unit kind and the closest
known names, so the office can create it as a unit or make it an alias at confirm time, exactly
as the Excel import's preview offers (taskhub.imports.plan_names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from taskhub.documents.model import FLAG_UNKNOWN_UNIT, Draft
from taskhub.imports.plan_changes import Name, city_names
from taskhub.imports.plan_names import UnknownName, describe
from taskhub.units.models import City
from taskhub.units.names import normalise

#: The unit lists of an item, as DraftItem / the draft JSON name them.
UNIT_FIELDS = ("lead_units", "responsible_units", "lead_assessors")
#: Where a name of the head is used (考评对象), in the unknown names' places.
HEAD_PLACE = "head"


def lookup(names: Iterable[str]) -> dict[str, str]:
    """Normalised spelling -> the city's spelling, for every known name."""
    return {normalise(name).strip(): name for name in names}


def is_known(name: str, known: Mapping[str, str]) -> bool:
    return normalise(name).strip() in known


def unknown_of(names: Iterable[str], known: Mapping[str, str]) -> list[str]:
    """The names of a list the city does not know, in order, once each."""
    out: list[str] = []
    for name in names:
        if name and not is_known(name, known) and name not in out:
            out.append(name)
    return out


def _set_flag(flags: list[str], on: bool) -> list[str]:
    if on and FLAG_UNKNOWN_UNIT not in flags:
        return [*flags, FLAG_UNKNOWN_UNIT]
    if not on:
        return [f for f in flags if f != FLAG_UNKNOWN_UNIT]
    return flags


def resolve(draft: Draft, city: City) -> list[UnknownName]:
    """Set each item's ``unknown_units`` and ``unknown_unit`` flag; the unknown names of the
    whole draft with their places (item numbers, or "head" for 考评对象) and suggestions."""
    names = city_names(city.id)
    known = lookup(names)
    places: dict[str, list[str]] = {}
    for name in unknown_of(draft.assessed, known):
        places.setdefault(name, []).append(HEAD_PLACE)
    for index, item in enumerate(draft.all_items(), start=1):
        item.unknown_units = unknown_of(
            [n for field in UNIT_FIELDS for n in getattr(item, field)], known
        )
        item.flags = _set_flag(item.flags, bool(item.unknown_units))
        for name in item.unknown_units:
            places.setdefault(name, []).append(item.number or f"#{index}")
    return describe(places, names)


def resolve_item_data(item: dict[str, Any], known: Mapping[str, str]) -> None:
    """The same for one item of the draft JSON (after an edit)."""
    item["unknown_units"] = unknown_of(
        [n for field in UNIT_FIELDS for n in item.get(field) or []], known
    )
    item["flags"] = _set_flag(list(item.get("flags") or []), bool(item["unknown_units"]))


def resolve_data(data: dict[str, Any], city: City) -> dict[str, Name]:
    """Resolve every item of the draft JSON in place and store ``unknown_names`` (each with
    ``places``: item ids, or "head"); returns the city's names."""
    names = city_names(city.id)
    known = lookup(names)
    places: dict[str, list[str]] = {}
    for name in unknown_of(data.get("assessed") or [], known):
        places.setdefault(name, []).append(HEAD_PLACE)
    for item in walk_items(data):
        resolve_item_data(item, known)
        for name in item["unknown_units"]:
            places.setdefault(name, []).append(item.get("id") or item.get("number") or "")
    data["unknown_names"] = [asdict(u) for u in describe(places, names)]
    return names


def walk_sections(data: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every section of the draft JSON in document order, with its ancestors (outermost first)."""
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []

    def visit(section: dict[str, Any], path: list[dict[str, Any]]) -> None:
        out.append((section, path))
        for child in section.get("sections") or []:
            visit(child, [*path, section])

    for top in data.get("sections") or []:
        visit(top, [])
    return out


def walk_items(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of the draft JSON in document order (top-level items first, as
    Draft.all_items orders them)."""
    items = list(data.get("items") or [])
    for section, _path in walk_sections(data):
        items.extend(section.get("items") or [])
    return items
