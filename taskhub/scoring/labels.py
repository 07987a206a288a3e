"""What people read for scoring codes: periods (2022-H1 → 2022年上半年) and components
(third_party → 第三方评估).

Codes stay in URLs, the API and form values; every page, bulletin and export shows these
names. ``period_label`` and ``component_label`` are Chinese whatever the UI language (documents
are Chinese); the ``period`` template filter follows the UI language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.plans.models import Plan
from taskhub.scoring.facts import DEFAULT_NAMES
from taskhub.scoring.models import PeriodKind, Scheme
from taskhub.scoring.schemes import parse_period_code

#: Names of components that schemes compute rather than declare with a name.
COMPONENT_NAMES = {
    "monitoring": "日常监测",
    "completion": "任务完成",
    "index": "综合指数",
    "indicators": "指标得分",
    "field": "实地调研",
    "survey": "民意调查",
    "third_party": "第三方评估",
    "key_apps": "重点应用",
    "year_end": "年终考核",
    "bonus": "加减分",
    "year_end_total": "年终评分",
    "monthly_mean": "月度平均",
}
#: Bulletin and scores column keys of per-area scores start with this.
AREA_PREFIX = "area:"
_PERIOD_CODE = re.compile(r"^\d{4}(-(H[12]|\d{2}))?$")


def period_label(code: str) -> str:
    """2022年度, 2022年上半年, 2022年下半年, 2021年11月 (ValidationFailed for a non-code)."""
    kind, start, _end = parse_period_code(code)
    if kind == PeriodKind.YEAR.value:
        return f"{start.year}年度"
    if kind == PeriodKind.HALF_YEAR.value:
        return f"{start.year}年{'上' if start.month == 1 else '下'}半年"
    return f"{start.year}年{start.month}月"


def period_text(code: str | None) -> str:
    """A period in the UI language (the ``period`` filter); anything else unchanged."""
    if not code:
        return ""
    try:
        kind, start, _end = parse_period_code(str(code))
    except ValidationFailed:
        return str(code)
    if kind == PeriodKind.YEAR.value:
        return _("%(year)d (whole year)", year=start.year)
    if kind == PeriodKind.HALF_YEAR.value:
        if start.month == 1:
            return _("%(year)d, first half", year=start.year)
        return _("%(year)d, second half", year=start.year)
    return _("%(month)d/%(year)d", month=start.month, year=start.year)


def declared_component_names(definition: Any) -> dict[str, str]:
    """{key or code: name} from every ``components`` list of a scheme definition."""
    out: dict[str, str] = {}
    stack: list[Any] = [definition]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "components" and isinstance(value, list):
                    for c in value:
                        if isinstance(c, dict) and isinstance(c.get("name"), str):
                            code = c.get("key") or c.get("code")
                            if isinstance(code, str):
                                out.setdefault(code, c["name"])
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    # Components computed from the supervision facts are named where they are declared.
    engine = definition.get("engine") if isinstance(definition, dict) else None
    computed = engine.get("computed") if isinstance(engine, dict) else None
    if isinstance(computed, dict):
        for code, spec in computed.items():
            if isinstance(spec, dict):
                name = spec.get("name") or DEFAULT_NAMES.get(str(spec.get("fact")))
                if isinstance(name, str):
                    out.setdefault(str(code), name)
    return out


def component_names(plan: Plan) -> dict[str, str]:
    """Chinese names of a plan's components: as its scheme declares them, else the usual."""
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    return {**COMPONENT_NAMES, **declared_component_names(scheme.definition if scheme else {})}


def component_label(code: str, names: dict[str, str]) -> str:
    """A component's name: declared or usual; a mean of sub-periods lists them by period; an
    area column is named by its area; an unknown key is shown as it is."""
    if code.startswith(AREA_PREFIX):
        return code[len(AREA_PREFIX) :]
    if code in names:
        return names[code]
    if _PERIOD_CODE.match(code):
        try:
            return period_label(code)
        except ValidationFailed:
            return code
    return code


def percent(value: Any, places: int = 1) -> str:
    """A fraction as people read it: 0.833333 → 83.3%, 1 → 100%, 0.6 → 60%."""
    if value is None:
        return "—"
    number = Decimal(str(value)) * 100
    text = f"{number:.{places}f}".rstrip("0").rstrip(".") if places else f"{number:.0f}"
    return f"{text}%"


@dataclass(frozen=True)
class ExplanationLine:
    """One line of a score explanation in the document's terms."""

    label: str
    points: Decimal | None
    share: str  #: 83.3% of the points earned, or —
    source: str
    weight: str  #: 权重 as the scheme writes it: 60%, or 日常监测 60% for an item
    factor: str | None  #: an item's exact factor (its component's weight per point), or None
    value: Decimal
    #: A computed component's events in the document's terms (报送率, 扣X分 per event, dated).
    details: tuple[str, ...] = ()


def explanation_lines(
    contributions: list[dict[str, Any]],
    names: dict[str, str],
    composite: dict[str, Decimal],
    items_component: str | None,
) -> list[ExplanationLine]:
    """The explanation's contributions for the page: components and periods by name, fractions
    as percentages, and weights as the scheme states them.

    An item's own weight is its component's weight spread over the component's points
    (0.871671 for one of Baotou's monitored items); the page shows the component's weight as
    the document writes it (日常监测 60%) and keeps the exact factor for the tooltip."""
    lines = []
    for c in contributions:
        kind, key = c.get("kind"), str(c.get("key") or "")
        weight, factor = c.get("weight"), None
        if kind == "item":
            label = str(c.get("label") or key)
            factor = f"{Decimal(str(weight)):f}" if weight is not None else None
            if items_component and items_component in composite:
                name = component_label(items_component, names)
                shown = f"{name} {percent(composite[items_component])}"
            else:
                shown = "—"
        else:
            label = component_label(key, names)
            shown = percent(weight)
        lines.append(
            ExplanationLine(
                label=label,
                points=c.get("points"),
                share=percent(c.get("fraction")) if c.get("fraction") is not None else "—",
                source=str(c.get("source") or ""),
                weight=shown,
                factor=factor,
                value=c["value"],
                details=tuple(c.get("details") or ()),
            )
        )
    return lines
