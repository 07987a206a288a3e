"""JSON API of reports (see taskhub.core.api for authentication, errors and paging).

A bulletin is one document (its ranking table is not paged: it is published whole). Who may
read it follows the bulletin pages: the read-all roles, not a unit's token.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from werkzeug.wrappers import Response

from taskhub.core import api as core
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.permissions import READ_ALL
from taskhub.reports import services
from taskhub.reports.downloads import DOCX, XLSX, docx_file, overdue_file, xlsx_file
from taskhub.reports.schemas import BulletinSchema
from taskhub.scoring.api.common import check_period, fail, first_use_retried, load_plan
from taskhub.scoring.schemas import PERIOD_PATH

blp = core.blueprint("reports", __name__, description="Bulletins (通报).")

_FILE = {"type": "string", "format": "binary"}


def _bulletin(code: str, period: str) -> services.Bulletin:
    """The bulletin of a plan's period, or 404 (plan, period) / 422 (not a period code)."""
    plan = load_plan(code)
    period = check_period(plan, period)
    try:
        built = first_use_retried(lambda: services.build_bulletin(plan, period))
    except DomainError as error:
        fail(error)
    db.session.commit()  # the period is recorded on first use, as on the bulletin page
    return built


def _as_dict(b: services.Bulletin) -> dict[str, Any]:
    prefix = services.AREA_PREFIX
    columns = [
        {
            "code": c[len(prefix) :] if c.startswith(prefix) else c,
            "name": name,
            "kind": "area" if c.startswith(prefix) else "component",
        }
        for c, name in b.components
    ]

    def ref(row: services.BulletinRow) -> dict[str, Any]:
        return {"id": row.unit_id, "name": row.unit}

    def mover(row: services.BulletinRow) -> dict[str, Any]:
        return {
            "unit": ref(row),
            "rank": row.rank,
            "previous_rank": row.previous_rank,
            "change": row.change,
        }

    rows = [
        {
            "rank": r.rank,
            "previous_rank": r.previous_rank,
            "change": r.change,
            "change_label": r.change_label,
            "unit": ref(r),
            "total": r.total,
            "components": {k: v for k, v in r.components.items() if not k.startswith(prefix)},
            "areas": {k[len(prefix) :]: v for k, v in r.components.items() if k.startswith(prefix)},
            "completed": r.completed,
            "on_schedule": r.on_schedule,
            "behind": r.behind,
            "overdue": r.overdue,
            "early": r.early,
            "standing": r.standing,
            "reporting_rate": r.reporting_rate,
            "settled": r.settled,
        }
        for r in b.rows
    ]
    return {
        "plan": b.plan_code,
        "plan_title": b.plan_title,
        "city": b.city,
        "period": b.period_code,
        "period_label": b.period_label,
        "revision": b.revision,
        "is_final": b.is_final,
        "closed_reason": b.closed_reason,
        "doc_number": b.doc_number,
        "issued_on": b.issued_on,
        "issuer": b.issuer,
        "title": b.title,
        "summary": b.summary,
        "rounding": b.rounding,
        "columns": columns,
        "rows": rows,
        "standings": b.standing_lists(),
        "movers_up": [mover(r) for r in b.movers_up],
        "movers_down": [mover(r) for r in b.movers_down],
        "overdue_by_unit": [
            {
                "unit": unit,
                "items": [
                    {"number": i.number, "title": i.title, "due_on": i.due_on, "days": i.days}
                    for i in items
                ],
            }
            for unit, items in b.overdue_by_unit
        ],
        "escalations": [{"unit": unit, "levels": levels} for unit, levels in b.escalations],
        "settled_text": b.settled_text,
    }


@blp.route("/plans/<code>/bulletins/<period>", parameters=[PERIOD_PATH])
class Bulletin(MethodView):
    @core.roles(*READ_ALL)
    @blp.etag
    @blp.response(200, BulletinSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def get(self, code: str, period: str) -> dict[str, Any]:
        """The bulletin (通报) of a period: ranking table with change, per-area scores,
        completed / on schedule / behind / overdue counts per unit, movers and revision."""
        return _as_dict(_bulletin(code, period))


@blp.route("/plans/<code>/bulletins/<period>.xlsx", parameters=[PERIOD_PATH])
class BulletinXlsx(MethodView):
    @core.roles(*READ_ALL)
    @blp.response(200, _FILE, content_type=XLSX, description="The bulletin as Excel.")
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def get(self, code: str, period: str) -> Response:
        """The bulletin's ranking and overdue items as an Excel workbook (as on its page)."""
        return xlsx_file(_bulletin(code, period))


@blp.route("/plans/<code>/bulletins/<period>/overdue.xlsx", parameters=[PERIOD_PATH])
class BulletinOverdueXlsx(MethodView):
    @core.roles(*READ_ALL)
    @blp.response(200, _FILE, content_type=XLSX, description="The overdue items as Excel.")
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def get(self, code: str, period: str) -> Response:
        """The bulletin's attachment: every overdue item (unit, item, milestone, due date,
        days overdue) as an Excel workbook."""
        return overdue_file(_bulletin(code, period))


@blp.route("/plans/<code>/bulletins/<period>.docx", parameters=[PERIOD_PATH])
class BulletinDocx(MethodView):
    @core.roles(*READ_ALL)
    @blp.response(200, _FILE, content_type=DOCX, description="The bulletin as Word.")
    @blp.alt_response(422, schema=core.ErrorSchema, description="Not a period code.")
    def get(self, code: str, period: str) -> Response:
        """The bulletin as a Word document in official-document layout (GB/T 9704)."""
        response = docx_file(_bulletin(code, period))
        if response is None:
            core.abort(404, "Word export is not available here (python-docx is not installed).")
        return response
