"""The dashboard's chart data, embedded in the page as JSON for static/js/dashboard.js.

Labels are translated here (the page's language); the same figures are in the page's tables,
which are what readers without JavaScript (and screen readers) use.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_skeleton
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from taskhub.dashboard.services import BUCKETS, AreaRow, DueSoon, RankRow, RiskSummary

#: Bucket labels and colours (the traffic-light palette of taskhub.css).
BUCKET_LABELS = {
    "done": _l("Completed"),
    "in_progress": _l("In progress"),
    "not_started": _l("Not started"),
    "overdue": _l("Overdue"),
}
COLORS = {
    "done": "#1a7f37",
    "in_progress": "#0b57d0",
    "not_started": "#8c959f",
    "overdue": "#b42318",
    "at_risk": "#d4a72c",
    "total": "#12355b",
    "due": "#0b57d0",
}


def short_date(day: date) -> str:
    """6月30日 in Chinese, Jun 30 in English."""
    return str(format_skeleton("MMMd", day, locale=get_locale() or "zh"))


def chart_data(
    areas: list[AreaRow], risk: RiskSummary, ranked: list[RankRow], due: DueSoon
) -> dict[str, Any]:
    """Every chart's categories and series; numbers only, no markup."""
    return {
        "areas": {
            "orientation": "horizontal",
            "stacked": True,
            "percent": True,
            "categories": [a.title or str(_l("Other items")) for a in areas],
            "series": [
                {
                    "name": str(BUCKET_LABELS[b]),
                    "color": COLORS[b],
                    "data": [a.percent(b) for a in areas],
                }
                for b in BUCKETS
            ],
        },
        "units": {
            "orientation": "horizontal",
            "stacked": False,
            "categories": [r.name for r in risk.rows],
            "series": [
                {
                    "name": str(_l("Overdue")),
                    "color": COLORS["overdue"],
                    "data": [r.overdue for r in risk.rows],
                },
                {
                    "name": str(_l("At risk")),
                    "color": COLORS["at_risk"],
                    "data": [r.at_risk for r in risk.rows],
                },
            ],
        },
        "ranking": {
            "orientation": "horizontal",
            "stacked": False,
            "categories": [f"{r.rank or '—'}. {r.unit_name}" for r in ranked],
            "series": [
                {
                    "name": str(_l("Total")),
                    "color": COLORS["total"],
                    "data": [float(r.total) for r in ranked],
                }
            ],
        },
        "due": {
            "orientation": "vertical",
            "stacked": False,
            "categories": [short_date(day) for day, _ in due.per_day],
            "series": [
                {
                    "name": str(_l("Milestones due")),
                    "color": COLORS["due"],
                    "data": [n for _, n in due.per_day],
                }
            ],
        },
    }
