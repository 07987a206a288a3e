"""Commands of the Excel imports: ``taskhub units import FILE --city CODE``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext


@click.group("units")
def units() -> None:
    """A city's units, other names and groups."""


@units.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--city", "city_code", required=True, help="The code of the city to import into.")
@click.option("--dry-run", is_flag=True, help="Check the file and show the changes; write nothing.")
@with_appcontext
def units_import(file: Path, city_code: str, dry_run: bool) -> None:
    """Import units, aliases and groups from the units workbook, all or nothing; importing the
    same file twice changes nothing."""
    from flask import current_app

    # The checks word their problems in the office's language, chosen per request.
    with current_app.test_request_context():
        _import(file, city_code, dry_run)


def _import(file: Path, city_code: str, dry_run: bool) -> None:
    import hashlib

    from sqlalchemy import select

    from taskhub.cli import _require_schema, fail, progress
    from taskhub.core.db import db
    from taskhub.core.errors import DomainError
    from taskhub.imports import services
    from taskhub.imports import units as units_import_
    from taskhub.imports.workbook import WorkbookRejected
    from taskhub.units.models import City

    _require_schema()
    city = db.session.scalar(select(City).where(City.code == city_code))
    if city is None:
        fail(f"no city with the code {city_code!r}; `taskhub city create` makes one")
    if not file.is_file():
        fail(f"no file {file}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    upload = services.Upload(digest, file.name, file)
    progress(f"{file}: checking against {city.name} ({city.code})")
    try:
        if dry_run:
            result = units_import_.preview(file, city, progress=progress)
        else:
            result = units_import_.confirm(upload, city, actor=None, progress=progress)
    except WorkbookRejected as exc:
        db.session.rollback()
        fail(f"{file}: {exc.message}")
    except DomainError as exc:
        db.session.rollback()
        fail(f"{file}: nothing was imported: {exc.message}")
    if result.errors:
        db.session.rollback()
        lines = [
            f"{file}: {e.sheet} row {e.row or '-'} column {e.column or '-'}: {e.message}"
            for e in result.errors
        ]
        fail(f"nothing was imported ({len(result.errors)} problems):\n" + "\n".join(lines))
    for change in result.listed:
        what = "new" if change.action == "new" else "changed: " + "、".join(change.details)
        click.echo(f"{change.sheet} row {change.row}: {change.name} ({what})")
    counts = result.summary()
    totals = ", ".join(
        f"{kind}: {counts[f'{kind}_new']} new, {counts[f'{kind}_updated']} changed, "
        f"{counts[f'{kind}_unchanged']} unchanged"
        for kind in ("units", "aliases", "groups")
    )
    if dry_run:
        db.session.rollback()
        click.echo(f"{file}: dry run, nothing written; would import {totals}")
    elif not result.has_changes:
        db.session.rollback()
        click.echo(f"{file}: nothing to import; {city.code} already matches ({totals})")
    else:
        db.session.commit()
        click.echo(f"{file}: imported into {city.code}: {totals}")
