"""A plan's scoring scheme as declared in its seed data (``scheme.engine``), and periods.

Period codes: ``2022`` (year), ``2022-H1`` / ``2022-H2`` (half-year), ``2021-11`` (month).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from taskhub.core.db import db, use_primary
from taskhub.core.errors import ValidationFailed
from taskhub.plans.models import Plan
from taskhub.scoring.engine import CompletionMapping, dec
from taskhub.scoring.facts import FactComponent, parse
from taskhub.scoring.models import Period, PeriodKind, Scheme
from taskhub.tracking.models import period_counts_insert

ENGINE_TYPES = ("points", "index", "components")


@dataclass(frozen=True)
class PeriodRule:
    composite: dict[str, Decimal] = field(default_factory=dict)
    entered: tuple[str, ...] = ()
    mean_of: str | None = None
    caps: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    #: Components that may be negative (bonus/penalty, 加减分).
    signed: tuple[str, ...] = ()
    #: Shanwei's annual score: weights of the monthly mean and the year-end result.
    annual: dict[str, Any] | None = None


@dataclass(frozen=True)
class EngineSpec:
    type: str
    scale: Decimal
    rounding: int
    completion: CompletionMapping
    items_component: str | None
    several_scorers: str
    unscored: str  #: "exclude" (not assessable) or "zero"
    periods: dict[str, PeriodRule]
    #: Components computed from the supervision facts (报送率, 督办单): taskhub.scoring.facts.
    computed: dict[str, FactComponent] = field(default_factory=dict)

    def rule_for(self, kind: str) -> PeriodRule:
        rule = self.periods.get(kind)
        if rule is None:
            known = ", ".join(self.periods) or "none"
            raise ValidationFailed(f"this plan is not scored by {kind} (its periods: {known})")
        return rule


#: Parsed specs by scheme id, each with a copy of the definition it was parsed from: a page
#: asks for its plan's spec several times (periods, ranking, live totals) and parsing it is
#: most of a millisecond. A definition that differs in any way is parsed again.
_PARSED: dict[int, tuple[Any, EngineSpec]] = {}
_PARSED_MAX = 256


def engine_of(plan: Plan) -> EngineSpec:
    """The plan's engine spec, checked; a clear error when the plan has none."""
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    if scheme is None:
        return _parse_engine(plan, {})
    held = _PARSED.get(scheme.id)
    if held is not None and held[0] == scheme.definition:
        return held[1]
    spec = _parse_engine(plan, scheme.definition)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[scheme.id] = (copy.deepcopy(scheme.definition), spec)
    return spec


def _parse_engine(plan: Plan, definition: dict[str, Any]) -> EngineSpec:
    raw = definition.get("engine")
    if not isinstance(raw, dict):
        raise ValidationFailed(f"plan {plan.code} declares no scoring engine (scheme.engine)")
    kind = raw.get("type")
    if kind not in ENGINE_TYPES:
        raise ValidationFailed(f"plan {plan.code}: engine type must be one of {ENGINE_TYPES}")
    periods = {}
    for name, spec in (raw.get("periods") or {}).items():
        spec = spec or {}
        periods[name] = PeriodRule(
            composite={k: dec(v) for k, v in (spec.get("composite") or {}).items()},
            entered=tuple(spec.get("entered") or ()),
            mean_of=spec.get("mean_of"),
            caps={k: (dec(v[0]), dec(v[1])) for k, v in (spec.get("caps") or {}).items()},
            signed=tuple(spec.get("signed") or ()),
            annual=spec.get("annual"),
        )
    computed, problems = parse(raw.get("computed"), raw)
    if problems:
        raise ValidationFailed(f"方案 {plan.code} 的计分设置有误：" + "；".join(problems))
    return EngineSpec(
        type=kind,
        scale=dec(raw.get("scale", 100)),
        rounding=int(raw.get("rounding", 2)),
        completion=CompletionMapping.from_spec(raw.get("completion")),
        items_component=raw.get("items_component"),
        several_scorers=raw.get("several_scorers", "mean"),
        unscored=raw.get("unscored", "exclude"),
        periods=periods,
        computed=computed,
    )


_CODE = re.compile(r"^(\d{4})(?:-(H[12]|\d{2}))?$")


def parse_period_code(code: str) -> tuple[str, date, date]:
    """(kind, first day, last day) of a period code, or ValidationFailed naming the format."""
    match = _CODE.match(code.strip())
    if not match:
        raise ValidationFailed(
            f"period {code!r} is not a period code: write 2022, 2022-H1, 2022-H2 or 2021-11"
        )
    year, part = int(match.group(1)), match.group(2)
    if not 1900 <= year <= 2999:
        raise ValidationFailed(f"period {code!r}: the year must be between 1900 and 2999")
    if part is None:
        return PeriodKind.YEAR.value, date(year, 1, 1), date(year, 12, 31)
    if part in ("H1", "H2"):
        start = date(year, 1 if part == "H1" else 7, 1)
        return PeriodKind.HALF_YEAR.value, start, start + relativedelta(months=6, days=-1)
    month = int(part)
    if not 1 <= month <= 12:
        raise ValidationFailed(f"period {code!r}: month must be 01 to 12")
    start = date(year, month, 1)
    return PeriodKind.MONTH.value, start, start + relativedelta(months=1, days=-1)


def previous_code(code: str) -> str:
    """The period before: 2022-H2 → 2022-H1, 2022-H1 → 2021-H2, 2021-11 → 2021-10, 2022 → 2021."""
    kind, start, _ = parse_period_code(code)
    if kind == PeriodKind.YEAR.value:
        return str(start.year - 1)
    if kind == PeriodKind.HALF_YEAR.value:
        return f"{start.year}-H1" if start.month == 7 else f"{start.year - 1}-H2"
    before = start - relativedelta(months=1)
    return f"{before.year}-{before.month:02d}"


def get_period(plan: Plan, code: str, *, create: bool = True) -> Period | None:
    """The plan's period for a code, created on first use."""
    kind, starts_on, ends_on = parse_period_code(code)
    period = db.session.scalar(
        select(Period).where(Period.plan_id == plan.id, Period.code == code.strip())
    )
    if period is None and create and use_primary():
        # Read from a read replica (a dashboard): the primary may have it already.
        period = db.session.scalar(
            select(Period).where(Period.plan_id == plan.id, Period.code == code.strip())
        )
    if period is None and create:
        period = Period(
            plan_id=plan.id, code=code.strip(), kind=kind, starts_on=starts_on, ends_on=ends_on
        )
        db.session.add(period)
        db.session.flush()
        # The roll-up reads each assignment's due counts per period: fill them for this one.
        db.session.execute(period_counts_insert(period_id=period.id))
    return period
