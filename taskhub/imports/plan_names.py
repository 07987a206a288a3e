"""Unknown unit names in a plan workbook: suggestions for the preview, the office's choices.

A name the city does not know is not a dead end: the preview lists it with a guessed unit kind
and the closest known names; on confirm each chosen name becomes a new unit or an alias of a
known unit or group (in the import's one transaction, audited), and the import goes on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.limits import limit
from taskhub.imports.plan_changes import Name
from taskhub.imports.workbook import WorkbookRejected
from taskhub.units.models import UNIT_KINDS, City, Unit, UnitAlias
from taskhub.units.names import normalise

#: Close known names offered per unknown name.
SUGGESTIONS = 5
CREATE = "create"
ALIAS = "alias"


@dataclass
class UnknownName:
    """A name of the workbook the city does not know, where it is used and what it may be."""

    name: str
    #: "sheet row column" places, as the error table names them.
    places: list[str] = field(default_factory=list)
    kind: str = "department"
    #: Known names most like it, best first.
    similar: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NameChoice:
    """The office's answer for one unknown name: create a unit of ``kind``, or an alias of
    ``target`` (a known name)."""

    action: str
    kind: str | None = None
    target: str | None = None


def guess_kind(name: str) -> str:
    """The likely unit kind from how the name ends (人民政府/区/县 → county, 乡/镇/街道 →
    township, 局/委/办/中心 → department, 公司 → enterprise)."""
    base = re.sub(r"\([^()]*\)$", "", normalise(name))
    base = re.sub(r"(?:人民政府|政府|办事处)$", "", base)
    if re.search(r"(?:乡|镇|街道)$", base):
        return "township"
    if re.search(r"(?:人民政府|政府|管委会|[区县旗])$", normalise(name)):
        return "county"
    if re.search(r"(?:公司|集团)$", base):
        return "enterprise"
    return "department"


def similar_names(name: str, known: list[str], n: int = SUGGESTIONS) -> list[str]:
    """Known names ranked by likeness to ``name`` (difflib ratio; containment counts)."""
    target = normalise(name)

    def score(other: str) -> float:
        candidate = normalise(other)
        ratio = difflib.SequenceMatcher(None, target, candidate).ratio()
        if target in candidate or candidate in target:
            ratio += 0.3
        return ratio

    ranked = sorted(known, key=lambda k: (-score(k), len(k), k))
    return [k for k in ranked[:n] if score(k) >= 0.3]


def describe(unknown: Mapping[str, list[str]], names: Mapping[str, Name]) -> list[UnknownName]:
    """The preview's list: each unknown name with its places, guessed kind and close names."""
    known = sorted(names)
    return [
        UnknownName(name, places, guess_kind(name), similar_names(name, known))
        for name, places in unknown.items()
    ]


def parse_choices(form: Mapping[str, str]) -> dict[str, NameChoice]:
    """The choices posted by the preview form (``name-N``, ``action-N``, ``kind-N``,
    ``target-N``); names without a choice are left out."""
    choices: dict[str, NameChoice] = {}
    for key, name in form.items():
        if not key.startswith("name-") or not name:
            continue
        index = key.removeprefix("name-")
        action = form.get(f"action-{index}", "")
        if action == CREATE:
            choices[name] = NameChoice(CREATE, kind=form.get(f"kind-{index}") or guess_kind(name))
        elif action == ALIAS and form.get(f"target-{index}"):
            choices[name] = NameChoice(ALIAS, target=form.get(f"target-{index}"))
    return choices


def apply_choices(
    city: City,
    unknown: list[UnknownName],
    choices: Mapping[str, NameChoice],
    names: Mapping[str, Name],
    *,
    actor: User,
) -> int:
    """Create the chosen units and aliases for the workbook's unknown names (flush, audited).

    Only names the preview listed are touched. Raises WorkbookRejected on a choice the form
    could not have made (an unknown kind or target), naming the name.
    """
    done = 0
    for entry in unknown:
        choice = choices.get(entry.name)
        if choice is None:
            continue
        if len(entry.name) > limit("unit.name"):
            raise WorkbookRejected(
                _(
                    "「%(name)s」 is too long for a unit name (at most %(limit)d characters).",
                    name=entry.name,
                    limit=limit("unit.name"),
                )
            )
        if choice.action == CREATE:
            if choice.kind not in UNIT_KINDS:
                raise WorkbookRejected(_("「%(name)s」: choose a unit kind.", name=entry.name))
            unit = Unit(city_id=city.id, name=entry.name, kind=choice.kind)
            db.session.add(unit)
            db.session.flush()
            db.session.add(UnitAlias(city_id=city.id, name=entry.name, unit_id=unit.id))
            db.session.flush()
            audit.record(
                "unit.created",
                "unit",
                unit.id,
                actor_id=actor.id,
                after={"name": unit.name, "kind": unit.kind, "city": city.code, "via": "import"},
            )
        else:
            target = names.get(choice.target or "")
            if target is None:
                raise WorkbookRejected(
                    _(
                        "「%(name)s」: 「%(target)s」 is not a unit or group of %(city)s.",
                        name=entry.name,
                        target=choice.target or "",
                        city=city.name,
                    )
                )
            alias = UnitAlias(
                city_id=city.id, name=entry.name, unit_id=target.unit_id, group_id=target.group_id
            )
            db.session.add(alias)
            db.session.flush()
            audit.record(
                "unit.alias_added",
                "unit_alias",
                alias.id,
                actor_id=actor.id,
                after={"name": entry.name, "of": target.canonical, "city": city.code},
            )
        done += 1
    return done
