"""The roll-up with and without components from the supervision facts (issue 16).

    .venv/bin/python bench/bench_rollup_facts.py --db URL [--repeat 7]

On the workload of generate.py: (a) the bench plan's roll-up as shipped (Baotou's scheme);
(b) the same with a 报送率 component (per missed report) and an escalation deduction added to
its half-year composite, a monthly cadence by the 25th from 2022-01-01 and 2,000 notices. Runs
alternate in one process; nothing is committed (the changes are rolled back at the end).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PLAN_CODE, database_url, make_app
from sqlalchemy import insert, select

from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.scoring import rollup
from taskhub.scoring.models import Scheme

COMPUTED = {
    "reporting": {"fact": "reporting_rate", "points": 10, "rule": "per_missed", "deduct": "0.5"},
    "supervised": {"fact": "escalations", "points": 5, "deduct": {"urge": "0.5", "*": "1"}},
}


def timed(code: str, repeat: int) -> list[float]:
    plan = db.session.scalars(select(Plan).where(Plan.code == PLAN_CODE)).one()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        assert rollup.compute(plan, code)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    app = make_app(database_url(args.db))
    with app.app_context():
        from taskhub.cadence.services import set_cadence
        from taskhub.supervision.models import Escalation
        from taskhub.supervision.services import ensure_levels
        from taskhub.tracking.models import Assignment

        plan = db.session.scalars(select(Plan).where(Plan.code == PLAN_CODE)).one()
        scheme = db.session.scalars(select(Scheme).where(Scheme.plan_id == plan.id)).one()
        shipped = copy.deepcopy(scheme.definition)
        with_facts = copy.deepcopy(shipped)
        with_facts["engine"]["computed"] = COMPUTED
        composite = with_facts["engine"]["periods"]["half_year"]["composite"]
        composite.update({"reporting": "1", "supervised": "1"})
        set_cadence(plan, actor_id=1, kind="monthly", day=25, starts_on=date(2022, 1, 1),
                    is_shifted_to_working_day=False)  # fmt: skip
        levels = ensure_levels(plan.city_id)
        rows = db.session.execute(
            select(Assignment.id, Assignment.unit_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == plan.id)
            .order_by(Assignment.id)
            .limit(2000)
        ).all()
        db.session.execute(
            insert(Escalation),
            [
                {
                    "assignment_id": aid, "level_id": levels[n % len(levels)].id,
                    "unit_id": uid, "city_id": plan.city_id, "year": 2022, "serial": n + 1,
                    "number": f"督办〔2022〕{n + 1}号", "issued_on": date(2022, 3, 1)
                    + timedelta(days=n % 150), "required_action": "按期整改",
                    "answer_due_on": date(2022, 8, 1), "state": "issued",
                }
                for n, (aid, uid) in enumerate(rows)
            ],
        )  # fmt: skip
        db.session.flush()
        plain: list[float] = []
        facts: list[float] = []
        for _ in range(args.repeat):
            scheme.definition = shipped
            db.session.flush()
            plain += timed("2022-H1", 1)
            scheme.definition = with_facts
            db.session.flush()
            facts += timed("2022-H1", 1)
        db.session.rollback()

    def stats(xs: list[float]) -> dict[str, float]:
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}

    result = {"repeat": args.repeat, "shipped": stats(plain), "with_facts": stats(facts)}
    result["ratio"] = result["with_facts"]["median"] / result["shipped"]["median"]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
