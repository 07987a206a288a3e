"""JSON API of the reporting cadence: read and set a plan's cadence, 报送率 per unit.

Reading is open to every signed-in role (plans and bulletins are public within the
deployment); setting the cadence needs an admin or office token, as the plan page's form does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from taskhub.cadence import services
from taskhub.cadence.schemas import (
    CadenceArgs,
    PlanCadenceSchema,
    RatesArgs,
    ReportingRatesSchema,
)
from taskhub.core import api as core
from taskhub.core.api import api_user, commit_or_fail, roles
from taskhub.core.db import db
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Plan, Section

blp = core.blueprint(
    "cadence", __name__, description="Reporting cadence (报送周期) and 报送率 per unit."
)


def _plan_or_404(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        core.abort(404, f"Plan {code} does not exist.")
    return plan


def cadence_dict(plan: Plan) -> dict[str, Any]:
    """The plan's cadence and its sections' overrides."""
    sections = []
    for c in services.section_cadences(plan):
        section = db.session.get(Section, c.section_id)
        assert section is not None
        sections.append({**services.as_dict(c), "section": section.path, "title": section.title})
    return {
        "plan": plan.code,
        "cadence": services.as_dict(services.plan_cadence(plan)),
        "sections": sections,
    }


@blp.route("/plans/<code>/cadence")
class PlanCadence(MethodView):
    @blp.response(200, PlanCadenceSchema)
    def get(self, code: str) -> dict[str, Any]:
        """The plan's reporting cadence and the sections that override it."""
        return cadence_dict(_plan_or_404(code))

    @roles(*STAFF)
    @blp.arguments(CadenceArgs)
    @blp.response(200, PlanCadenceSchema)
    @blp.alt_response(403, schema=core.ErrorSchema, description="Not admin or office.")
    @blp.alt_response(404, schema=core.ErrorSchema, description="No such plan or section.")
    @blp.alt_response(422, schema=core.ErrorSchema, description="The day does not fit the kind.")
    def patch(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """Set the plan's cadence (or a section's, with ``section``); audited."""
        plan = _plan_or_404(code)
        section = None
        if "section" in args:
            section = db.session.scalar(
                select(Section).where(Section.plan_id == plan.id, Section.path == args["section"])
            )
            if section is None:
                core.abort(404, f"Plan {code} has no section {args['section']}.")
        if section is not None and args.get("kind") == "inherit":
            commit_or_fail(
                lambda: services.clear_section_cadence(plan, section, actor_id=api_user().id)
            )
            return cadence_dict(plan)
        if args.get("kind") == "inherit":
            core.abort(422, "inherit applies to a section only.")
        current = services.as_dict(
            services.section_cadences_of(plan, section)
            if section is not None
            else services.plan_cadence(plan)
        )
        values = {**current, **{k: v for k, v in args.items() if k != "section"}}
        commit_or_fail(
            lambda: services.set_cadence(plan, actor_id=api_user().id, section=section, **values)
        )
        return cadence_dict(plan)


@blp.route("/plans/<code>/reporting-rates")
class ReportingRates(MethodView):
    @blp.arguments(RatesArgs, location="query")
    @blp.response(200, ReportingRatesSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="as_of over a year ahead.")
    def get(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """报送率 per unit: closed windows owed, reported, and tasks flagged 未按时报送 now."""
        plan = _plan_or_404(code)
        today = office_today()
        as_of = args.get("as_of") or today
        if as_of > today + timedelta(days=366):
            core.abort(422, "as_of may be at most a year ahead.")
        rates = services.unit_rates([plan.id], as_of)
        return {
            "plan": plan.code,
            "as_of": as_of,
            "units": [
                {
                    "unit_id": r.unit_id,
                    "unit_name": r.unit_name,
                    "due": r.due,
                    "reported": r.reported,
                    "missing": r.missing,
                    "rate": r.rate,
                }
                for r in rates
            ],
        }
