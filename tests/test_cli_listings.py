"""`taskhub jobs list` and `taskhub plan list [--json]` read through the database driver with
plain SQL, not SQLAlchemy (issue 17: a quick start). Their output must stay what the ORM path
printed: the app's own services (``list_plans``, ``PlanSummarySchema``, ``JobRun``) are the
reference here, on the seeded database, in a fresh `taskhub` process (a driver connection of
its own) and through the loaded app (its session's connection). Time is measured by
bench/bench_cli.py, not here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Numeric, select

from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.core.jsondump import dumps
from taskhub.jobs import listing as jobs_listing
from taskhub.jobs.models import JobRun
from taskhub.jobs.registry import all_jobs
from taskhub.models import Plan
from taskhub.plans import listing as plans_listing
from taskhub.plans import services
from taskhub.plans.schemas import PlanSummarySchema

#: Modules the two listings must not import: SQLAlchemy, the models, the app and its extensions.
NOT_IMPORTED = (
    "sqlalchemy",
    "flask_sqlalchemy",
    "taskhub.models",
    "taskhub.core.db",
    "taskhub.app",
    "marshmallow",
    "flask_babel",
    "flask_migrate",
    "flask_smorest",
)


# -- the references: what the ORM path printed -----------------------------------------------------


def orm_plan_list(as_json: bool) -> str:
    """`plan list [--json]` as printed before issue 17's Core listing (commit d8b8c47)."""
    summaries = services.list_plans(include_archived=True)
    if as_json:
        rows = []
        for s in summaries:
            row = PlanSummarySchema().dump(s.plan)
            row.update(items=s.items, assignments=s.assignments, units=s.units)
            rows.append(row)
        return services.dumps(rows) + "\n"
    return "".join(
        f"{s.plan.code:<16} {s.items:>4} items {s.assignments:>6} assignments  {s.plan.title}\n"
        for s in summaries
    )


def orm_jobs_list() -> str:
    """`jobs list` as printed before issue 17's Core listing (commit d8b8c47)."""
    lines = []
    for spec in all_jobs():
        run = db.session.get(JobRun, spec.name)
        when = " ".join(f"{k}={v}" for k, v in spec.cron.items())
        last = f"last run for {run.last_run_on} ({run.status})" if run and run.last_run_on else ""
        lines.append(f"{spec.name:<14} {when:<22} {spec.description}  {last}".rstrip() + "\n")
    return "".join(lines)


# -- a fresh `taskhub` process ---------------------------------------------------------------------


def _taskhub(app: Flask, args: list[str], tmp_path: Path) -> tuple[str, set[str]]:
    """Run `taskhub ARGS` in a fresh interpreter on the test database, as an operator does:
    its output, and the modules it imported."""
    record = tmp_path / "modules.json"
    write = f"open({str(record)!r}, 'w').write(json.dumps(list(sys.modules)))"
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: {write})\n"
        "from taskhub.cli import main\n"
        f"main({args!r}, prog_name='taskhub')\n"
    )
    env = {
        **os.environ,
        "TASKHUB_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "TASKHUB_INSTANCE_PATH": app.instance_path,
        "TASKHUB_EVIDENCE_PATH": app.config["EVIDENCE_PATH"],
        "TASKHUB_SECRET_KEY": "cli-listings-test-secret-key-not-for-production",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, set(json.loads(record.read_text()))


@pytest.mark.parametrize(
    "args", [["plan", "list"], ["plan", "list", "--json"], ["jobs", "list"]], ids=" ".join
)
def test_a_fresh_taskhub_prints_what_the_orm_path_printed(
    app: Flask, session: Any, tmp_path: Path, args: list[str]
) -> None:
    output, modules = _taskhub(app, args, tmp_path)
    expected = orm_jobs_list() if args[0] == "jobs" else orm_plan_list("--json" in args)
    assert output == expected
    # The seeded plans are all there (the reference is not empty by accident).
    if args[0] == "plan":
        for code in ("baotou-2022", "hegang-2022", "heihe-2023", "shanwei-2021"):
            assert code in output
    # Quick because it imports neither SQLAlchemy nor the models nor the app.
    assert [name for name in NOT_IMPORTED if name in modules] == []
    assert not [m for m in modules if m.startswith("taskhub.") and m.endswith(".models")]


# -- through the loaded app, with rows the seeds do not have ---------------------------------------


@pytest.fixture
def cli(app: Flask, session: Any) -> Any:
    runner = app.test_cli_runner()

    def invoke(*args: str) -> str:
        result = runner.invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


def _vary_the_plans() -> None:
    """An archived plan, decimal and whole points, no document number or date, a plan with no
    items (a draft, first in the year's order)."""
    plans = {p.code: p for p in db.session.scalars(select(Plan))}
    plans["hegang-2022"].status = "archived"
    plans["hegang-2022"].points = Decimal("87.5")
    plans["heihe-2023"].points = Decimal("12.3456")
    plans["heihe-2023"].document_number = None
    plans["heihe-2023"].issued_on = None
    plans["shanwei-2021"].points = Decimal("100")
    empty = Plan(
        code="aaa-empty-2022",
        title="无事项的方案 “quoted” \\ back",
        city_id=plans["baotou-2022"].city_id,
        issued_on=date(2022, 2, 28),
        year=2022,
        kind="tasks",
        status="draft",
    )
    db.session.add(empty)
    db.session.commit()


def test_plan_list_through_the_app_prints_what_the_orm_path_printed(cli: Any) -> None:
    _vary_the_plans()
    assert cli("plan", "list") == orm_plan_list(as_json=False)
    assert cli("plan", "list", "--json") == orm_plan_list(as_json=True)
    rows = {r["code"]: r for r in json.loads(cli("plan", "list", "--json"))}
    # Archived plans are listed; decimals print as exact numbers; an empty plan counts zero.
    assert rows["hegang-2022"]["status"] == "archived"
    assert (rows["hegang-2022"]["points"], rows["heihe-2023"]["points"]) == (87.5, 12.3456)
    assert rows["shanwei-2021"]["points"] == 100
    empty = rows["aaa-empty-2022"]
    assert (empty["items"], empty["assignments"], empty["units"]) == (0, 0, 0)
    assert (empty["issued_on"], empty["document_number"], empty["points"]) == (
        "2022-02-28",
        None,
        None,
    )


def test_jobs_list_through_the_app_prints_what_the_orm_path_printed(cli: Any) -> None:
    before = cli("jobs", "list")
    assert "last run" not in before and before == orm_jobs_list()
    db.session.add(JobRun(name="reminders", last_run_on=date(2026, 12, 6), status="ok"))
    db.session.add(JobRun(name="deliver", last_run_on=date(2026, 12, 7), status="error"))
    db.session.add(JobRun(name="escalations", last_run_on=None, status=None))
    db.session.add(JobRun(name="retired_job", last_run_on=date(2026, 1, 1), status="ok"))
    db.session.commit()
    output = cli("jobs", "list")
    assert output == orm_jobs_list()
    lines = {line.split()[0]: line for line in output.splitlines()}
    assert lines["reminders"].endswith("  last run for 2026-12-06 (ok)")
    assert lines["deliver"].endswith("  last run for 2026-12-07 (error)")
    assert "last run" not in lines["escalations"] and "retired_job" not in lines
    # The descriptions come from the registry, in its order.
    assert list(lines) == [spec.name for spec in all_jobs()]


def test_the_listings_read_real_columns() -> None:
    """The plain SQL of the listings names columns the models have; points are read as the
    models declare them (4 decimal places, rawdb.as_points)."""
    for columns in (jobs_listing.COLUMNS, plans_listing.COLUMNS):
        for table, names in columns.items():
            model = db.metadata.tables[table]
            assert [n for n in names if n not in model.columns] == [], table
    points = db.metadata.tables["plans"].columns["points"].type
    assert isinstance(points, Numeric)
    assert (points.precision, points.scale, points.asdecimal) == (10, 4, True)
    for sql in (plans_listing.ITEM_COUNTS, plans_listing.ASSIGNMENT_COUNTS, plans_listing.PLANS):
        for table, names in plans_listing.COLUMNS.items():
            for name in names:
                sql = sql.replace(f"{table}.{name}", "")
        # Every qualified column of the statements is one of the listed ones.
        assert not re.search(r"\b(plans|cities|items|assignments)\.\w", sql), sql


def test_json_dumps_is_the_one_the_services_export() -> None:
    assert services.dumps is dumps


@pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)
@pytest.mark.parametrize(
    ("setting", "code", "message"),
    [
        (
            {"TASKHUB_TIMEZONE": "Nowhere/Else"},
            2,
            "TASKHUB_TIMEZONE: 'Nowhere/Else' is not a known time zone",
        ),
        (
            {"TASKHUB_DATABASE_URL": "mysql://taskhub@127.0.0.1/taskhub"},
            2,
            "TASKHUB_DATABASE_URL: 'mysql' is not supported",
        ),
        (
            {"TASKHUB_DATABASE_URL": "sqlite:////nonexistent-folder/taskhub.db"},
            1,
            "error: cannot open the database (unable to open database file); "
            "check TASKHUB_DATABASE_URL",
        ),
        (
            {"TASKHUB_DATABASE_URL": "postgresql+psycopg://taskhub@127.0.0.1:1/taskhub"},
            1,
            "error: cannot open the database (connection failed:",
        ),
    ],
    ids=["bad setting", "other database", "missing folder", "no server"],
)
def test_listings_refuse_a_bad_configuration_as_every_command_does(
    tmp_path: Path, setting: dict[str, str], code: int, message: str
) -> None:
    env = {
        **os.environ,
        "TASKHUB_INSTANCE_PATH": str(tmp_path),
        "TASKHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        **setting,
    }
    for args in (["jobs", "list"], ["plan", "list", "--json"]):
        result = subprocess.run(
            [str(Path(sys.executable).parent / "taskhub"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (result.returncode, result.stdout) == (code, ""), result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
