"""`taskhub demo …`: the demo accounts, contacts and living demo plan."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from taskhub.cli import _require_schema, fail, progress
from taskhub.core.db import db

# -- demo -----------------------------------------------------------------------------------


@click.group()
def demo() -> None:
    """Demo accounts and contacts, and the living demo plan of the demo city."""


@demo.command("load")
@with_appcontext
def demo_load() -> None:
    """Create the demo city's current-year plan as of today (worked on by its demo users),
    demo accounts (one per role and unit kind) and a demo contact per unit."""
    from taskhub.accounts.demo import ensure_account, load_demo
    from taskhub.audit import services as audit
    from taskhub.core.errors import ValidationFailed
    from taskhub.core.storage import storage_for
    from taskhub.core.timeutil import office_today
    from taskhub.demo.services import load_living_demo

    _require_schema()
    config = current_app.config
    if config["SEEDS"] == "none":
        # An empty installation: only the account that signs in to set it up.
        account = ensure_account("admin", "admin", None)
        db.session.commit()
        click.echo("TASKHUB_SEEDS=none: no demo plan or demo data; the admin sets the city up")
        _print_accounts([account])
        return
    try:
        living = load_living_demo(
            office_today(),
            storage=storage_for(config),
            max_bytes=config["MAX_UPLOAD_BYTES"],
            progress=progress,
        )
        accounts, contacts = load_demo()
        if contacts or any(a.password for a in accounts):
            audit.record(
                "demo.loaded",
                "instance",
                "demo",
                actor_id=None,
                after={
                    "accounts": [a.username for a in accounts if a.password],
                    "contacts": contacts,
                },
            )
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        fail(exc.message)
    if living.status == "unchanged":
        click.echo(f"demo plan {living.plan_code}: already there, nothing changed")
    else:
        counts = ", ".join(f"{status} {n}" for status, n in living.statuses.items())
        click.echo(
            f"demo plan {living.plan_code}: loaded ({counts}; {living.reports} reports, "
            f"{living.scores} scores)"
        )
    click.echo(f"demo contacts added: {contacts}")
    _print_accounts(accounts + living.logins)


def _print_accounts(accounts: list[Any]) -> None:
    if any(a.password for a in accounts):
        click.echo("Demo accounts (passwords are shown only this once):")
    for a in accounts:
        unit = f"  [{a.unit}]" if a.unit else ""
        secret = a.password or "(exists; password unchanged)"
        click.echo(f"  {a.username:<18} {a.role:<9} {secret}{unit}")
