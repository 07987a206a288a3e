"""`taskhub evidence …`: housekeeping of the evidence store (a folder or an object store)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group()
def evidence() -> None:
    """Evidence files in their store."""


@evidence.command("gc")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@with_appcontext
def evidence_gc(dry_run: bool) -> None:
    """Remove blobs no evidence row refers to, partial files of interrupted uploads and
    unconfirmed import uploads, all older than 24 hours; print each with its size."""
    from taskhub.cli import _require_schema
    from taskhub.core.db import db, writing
    from taskhub.core.storage import storage_for
    from taskhub.evidence.services import SAFE_AGE, collect_garbage
    from taskhub.imports.services import uploads_root

    _require_schema()
    with writing():  # on SQLite, hold the write lock: no submission is half-way meanwhile
        report = collect_garbage(
            storage_for(current_app.config),
            uploads_root(current_app.instance_path),
            dry_run=dry_run,
        )
        db.session.commit()
    verb = "would remove" if dry_run else "removed"
    for removal in report.removals:
        click.echo(f"{verb} {_KINDS[removal.kind]} {removal.path} ({removal.size:,} bytes)")
    hours = int(SAFE_AGE.total_seconds() // 3600)
    click.echo(
        f"{verb} {report.count('blob')} unreferenced blob(s) ({report.size('blob'):,} bytes), "
        f"{report.count('partial')} partial file(s) ({report.size('partial'):,} bytes), "
        f"{report.count('import')} import upload(s) ({report.size('import'):,} bytes): "
        f"{report.size():,} bytes in all"
    )
    if report.kept_recent or report.kept_in_use:
        click.echo(
            f"kept {report.kept_recent} unreferenced blob(s) younger than {hours} h and "
            f"{report.kept_in_use} being stored right now"
        )


_KINDS = {"blob": "blob", "partial": "partial file", "import": "import upload"}
