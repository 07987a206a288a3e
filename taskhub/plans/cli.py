"""`taskhub plan …`: inspect loaded plans and move them through their life.

``list`` and ``show`` read; ``publish``, ``copy`` and ``close`` change a plan with the same
services and rules as the plan page (taskhub.plans.lifecycle), audited with no actor (the
operator at the server), in one transaction each. ``taskhub seed load`` loads the plans
shipped in seeds/.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from flask import current_app
from flask.cli import with_appcontext

from taskhub.cli import _require_schema, db, fail, progress, with_connection

if TYPE_CHECKING:
    from taskhub.plans.models import Plan


def _fail(message: str) -> NoReturn:
    from taskhub.cli import fail

    fail(message)


def _start() -> None:
    from taskhub.cli import _require_schema

    _require_schema()


@click.group()
def plan() -> None:
    """Inspect loaded plans; publish, copy and close them."""


@plan.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def plan_list(connection: Any, as_json: bool) -> None:
    """List plans with item and assignment counts."""
    from taskhub.core.jsondump import dumps
    from taskhub.plans.listing import plan_rows

    rows = plan_rows(connection)
    if as_json:
        click.echo(dumps([row.as_json() for row in rows]))
        return
    for row in rows:
        click.echo(row.as_line())


def _plan(code: str) -> Plan:
    from taskhub.plans import services

    found = services.get_plan(code)
    if found is None:
        known = ", ".join(s.plan.code for s in services.list_plans()) or "none loaded"
        _fail(f"no plan {code!r} (known: {known}); `taskhub seed load` loads the shipped plans")
    return found


@plan.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def plan_show(code: str, as_json: bool) -> None:
    """Show a plan's sections and items."""
    from taskhub.core.numbers import format_points
    from taskhub.plans import services

    _start()
    found = _plan(code)
    if as_json:
        click.echo(services.dumps(services.plan_document(found)))
        return
    click.echo(f"{found.code}  {found.title}  ({found.city.name}, {found.year})")
    for section in found.sections:
        pts = f" ({format_points(section.points)}分)" if section.points is not None else ""
        click.echo(f"{'  ' * section.depth}{section.number or ''} {section.title}{pts}")
        for item in section.items:
            lead = "、".join(
                u.name for u in item.units_by_role("lead") + item.units_by_role("lead_assessor")
            )
            click.echo(
                f"{'  ' * (section.depth + 1)}{item.label}. "
                f"{(item.title or item.text)[:40]}  [{item.deadline_phrase or '-'}] {lead}"
            )


def _commit_or_fail(change: object) -> None:
    """Run a lifecycle change and commit, or roll back and print what was refused."""
    from taskhub.core.db import db
    from taskhub.core.errors import DomainError, ValidationFailed

    try:
        change()  # type: ignore[operator]
    except DomainError as exc:
        db.session.rollback()
        problems = exc.problems if isinstance(exc, ValidationFailed) else []
        details = [p for p in problems if not p.isidentifier()]
        _fail("\n".join([exc.message, *(f"  - {p}" for p in details)]))
    db.session.commit()


@plan.command("publish")
@click.argument("code")
@with_appcontext
def plan_publish(code: str) -> None:
    """Check a draft with the seed loader's rules and publish it (creates its assignments)."""
    from taskhub.plans import lifecycle

    _start()
    found = _plan(code)
    click.echo(f"checking {code}", err=True)
    _commit_or_fail(lambda: lifecycle.publish(found, actor=None))
    click.echo(f"{code}: published")


@plan.command("copy")
@click.argument("code")
@click.option("--year", type=int, required=True, help="The new plan's year.")
@click.option("--code", "new_code", required=True, help="The new plan's code.")
@click.option("--title", default=None, help="The new plan's title (default: the same title).")
@with_appcontext
def plan_copy(code: str, year: int, new_code: str, title: str | None) -> None:
    """Copy a plan to a new year as a draft (same structure, units, points and scheme)."""
    from taskhub.plans import lifecycle

    _start()
    found = _plan(code)
    made: list[Plan] = []
    _commit_or_fail(
        lambda: made.append(
            lifecycle.copy_to_year(
                found, year=year, code=new_code, title=title or found.title, actor=None
            )
        )
    )
    for r in lifecycle.to_review(made[0]):
        click.echo(f"check item {r['item']}: {r['before']} -> {r['after']}", err=True)
    click.echo(f"{new_code}: draft for {year} (copied from {code})")


@plan.command("close")
@click.argument("code")
@with_appcontext
def plan_close(code: str) -> None:
    """Close a published plan: read-only, still shown in rankings and history."""
    from taskhub.plans import lifecycle

    _start()
    found = _plan(code)
    _commit_or_fail(lambda: lifecycle.close(found, actor=None))
    click.echo(f"{code}: closed")


# -- seed -----------------------------------------------------------------------------------


@click.group()
def seed() -> None:
    """Load the plans shipped in seeds/."""


@seed.command("load")
@click.argument("codes", nargs=-1)
@click.option(
    "--path",
    "seeds_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Seed folder (default: TASKHUB_SEEDS_PATH or ./seeds).",
)
@with_appcontext
def seed_load(codes: tuple[str, ...], seeds_path: Path | None) -> None:
    """Validate and load seed plans (all, or the CODEs given) in one transaction.

    With TASKHUB_SEEDS=none and no CODEs nothing is loaded (an empty installation)."""
    from taskhub.plans.seeds import load_seeds
    from taskhub.plans.seedspec import SeedError

    _require_schema()
    if current_app.config["SEEDS"] == "none" and not codes:
        click.echo("TASKHUB_SEEDS=none: no seed plans loaded (name CODEs to load some anyway)")
        return
    folder = seeds_path or Path(current_app.config["SEEDS_PATH"])
    if not (folder / "plans").is_dir():
        fail(f"no seed folder at {folder} (expected {folder / 'plans'}); pass --path")
    try:
        results = load_seeds(folder, codes, progress=progress)
        db.session.commit()
    except SeedError as exc:
        db.session.rollback()
        fail("nothing was loaded:\n  " + "\n  ".join(exc.problems))
    for r in results:
        click.echo(
            f"{r.code}: {r.status} ({r.sections} sections, {r.items} items, "
            f"{r.assignments} assignments)"
        )


# Reading plans from their documents (taskhub.documents.cli: parse, import-document).
from taskhub.documents.cli import plan_import_document, plan_parse  # noqa: E402

plan.add_command(plan_parse)
plan.add_command(plan_import_document)
