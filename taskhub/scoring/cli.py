"""`taskhub score …`: scores, rankings, explanations and closed periods by a plan's scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from taskhub.cli import _require_schema, fail, progress
from taskhub.core.db import db

# -- score ----------------------------------------------------------------------------------


@click.group()
def score() -> None:
    """Scores, rankings and explanations by a plan's scheme."""


def _plan_or_fail(code: str) -> Any:
    from taskhub.plans import services

    _require_schema()
    found = services.get_plan(code)
    if found is None:
        fail(f"no plan {code!r}; `taskhub plan list` names the loaded plans")
    return found


@score.command("compute")
@click.option("--plan", "plan_code", required=True)
@click.option("--period", required=True, help="2022, 2022-H1, 2022-H2 or 2021-11")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def score_compute(plan_code: str, period: str, as_json: bool) -> None:
    """Every unit's total and rank for a period (a closed period answers from its snapshot)."""
    from taskhub.core.errors import DomainError
    from taskhub.plans.services import dumps
    from taskhub.scoring import services

    found = _plan_or_fail(plan_code)
    try:
        rows, snapshot = services.results(found, period)
    except DomainError as exc:
        fail(exc.message)
    db.session.commit()  # periods are recorded on first use
    if as_json:
        click.echo(
            dumps(
                {
                    "plan": found.code,
                    "period": period,
                    "revision": snapshot.revision if snapshot else None,
                    "units": [r.as_dict() for r in rows],
                }
            )
        )
        return
    for r in rows:
        change = "" if r.change is None else f" ({r.change:+d})"
        click.echo(f"{r.rank or '-':>4} {r.total:>10} {r.unit_name}{change}")


@score.command("explain")
@click.option("--plan", "plan_code", required=True)
@click.option("--unit", "unit_name", required=True, help="Unit name or alias.")
@click.option("--period", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def score_explain(plan_code: str, unit_name: str, period: str, as_json: bool) -> None:
    """Every contribution to one unit's total (they add up to it exactly)."""
    from taskhub.core.errors import DomainError
    from taskhub.plans.services import dumps
    from taskhub.scoring import services

    found = _plan_or_fail(plan_code)
    try:
        data = services.explain(found, services.unit_by_name(found, unit_name), period)
    except DomainError as exc:
        fail(exc.message)
    db.session.commit()
    if as_json:
        click.echo(dumps(data))
        return
    click.echo(f"{data['unit']} {data['period']}: {data['total']}")
    for c in data["contributions"]:
        click.echo(f"  {c['value']:>10}  {c['kind']:<9} {c['label'][:40]:<40} {c['source']}")
        for detail in c.get("details") or ():
            click.echo(f"{'':14}{detail}")


@score.command("close")
@click.option("--plan", "plan_code", required=True)
@click.option("--period", required=True)
@click.option("--reason", help="Required for a correction after the first close.")
@click.option(
    "--doc-number", help="The bulletin's document number (文号), e.g. 包数政办发〔2022〕3号."
)
@with_appcontext
def score_close(plan_code: str, period: str, reason: str | None, doc_number: str | None) -> None:
    """Close a period: freeze scores and ranks in a snapshot (again: a new revision)."""
    from taskhub.core.errors import DomainError
    from taskhub.scoring import services

    found = _plan_or_fail(plan_code)
    try:
        snapshot = services.close_period(
            found, period, actor=None, reason=reason, doc_number=doc_number
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    click.echo(f"{found.code} {period}: closed, revision {snapshot.revision}")


@score.command("doc-number")
@click.option("--plan", "plan_code", required=True)
@click.option("--period", required=True)
@click.argument("number")
@with_appcontext
def score_doc_number(plan_code: str, period: str, number: str) -> None:
    """Set or correct the document number (文号) of a period's bulletin ("" clears it)."""
    from taskhub.core.errors import DomainError
    from taskhub.scoring import services

    found = _plan_or_fail(plan_code)
    try:
        saved = services.set_doc_number(found, period, number, actor=None)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    click.echo(f"{found.code} {period}: 文号 {saved.doc_number or '—'}")


@score.command("import")
@click.option("--plan", "plan_code", required=True)
@click.option("--period", required=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def score_import(plan_code: str, period: str, file: Path) -> None:
    """Import scores from .xlsx or .csv, all or nothing; importing twice changes nothing."""
    from taskhub.scoring.imports import ImportFailed, import_scores

    found = _plan_or_fail(plan_code)
    if not file.exists():
        fail(f"no file {file}")
    try:
        report = import_scores(found, period, file, actor=None, progress=progress)
        db.session.commit()
    except ImportFailed as exc:
        db.session.rollback()
        fail(f"nothing was imported from {file}:\n  " + "\n  ".join(exc.problems))
    click.echo(
        f"{file}: {report.rows} rows, {report.changed} changed, {report.unchanged} unchanged"
    )
