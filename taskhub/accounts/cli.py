"""`taskhub user …`: create users and manage their lifecycle from the command line.

Names are exact user names. Each change is audited with no actor (the operator at the
server); the same services and rules as the admin pages apply.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click
from flask.cli import with_appcontext

from taskhub.accounts.models import ROLES

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.units.models import Unit

T = TypeVar("T")

NEW_PASSWORD_HELP = "Default: prompt (or TASKHUB_NEW_PASSWORD)."


def _fail(message: str) -> NoReturn:
    from taskhub.cli import fail

    fail(message)


def _start() -> None:
    from taskhub.cli import _require_schema

    _require_schema()


def _unit(name: str, city: str | None) -> Unit:
    from taskhub.units.services import units_named

    matches = units_named(name, city)
    if not matches:
        where = f" in city {city!r}" if city else ""
        _fail(f"no unit named {name!r}{where}; `taskhub seed load` creates the units")
    if len(matches) > 1:
        _fail(
            f"{name!r} names units in several cities; add --city "
            f"({', '.join(m.city.code for m in matches)})"
        )
    return matches[0]


def _user(username: str) -> User:
    from taskhub.accounts.services import user_named

    found = user_named(username)
    if found is None:
        _fail(f"no user named {username!r} (names are exact; see the Users page)")
    return found


@click.group()
def user() -> None:
    """Manage users."""


def _new_password(password: str | None) -> str:
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--unit", "unit_name", help="Unit name or alias (required for unit and assessor).")
@click.option("--city", help="City code, when the unit name exists in several cities.")
@click.option("--display-name")
@click.option("--email")
@click.option("--password", help=NEW_PASSWORD_HELP, envvar="TASKHUB_NEW_PASSWORD")
@with_appcontext
def user_create(
    username: str,
    role: str,
    unit_name: str | None,
    city: str | None,
    display_name: str | None,
    email: str | None,
    password: str | None,
) -> None:
    """Create a user with a role (and a unit for unit staff and assessors)."""
    from taskhub.accounts import services

    _start()
    unit = _unit(unit_name, city) if unit_name else None
    created = _apply(
        lambda: services.create_user(
            username=username,
            password=_new_password(password),
            role=role,
            display_name=display_name,
            unit=unit,
            email=email,
        )
    )
    click.echo(f"created {created.username} ({created.role})")


def _apply(change: Callable[[], T]) -> T:
    """Run a service change and commit, or roll back and fail with the rule that refused it."""
    from taskhub.core.db import db
    from taskhub.core.errors import DomainError

    try:
        result = change()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(exc.message)
    return result


@user.command("disable")
@click.argument("username")
@with_appcontext
def user_disable(username: str) -> None:
    """Disable a user: their sessions end and their API tokens stop working at once."""
    from taskhub.accounts import services

    _start()
    found = _user(username)
    was_enabled = found.is_enabled
    _apply(lambda: services.disable_user(found, actor=None))
    click.echo(f"disabled {found.username}" if was_enabled else f"{found.username} was disabled")


@user.command("enable")
@click.argument("username")
@with_appcontext
def user_enable(username: str) -> None:
    """Enable a disabled user again."""
    from taskhub.accounts import services

    _start()
    found = _user(username)
    was_enabled = found.is_enabled
    _apply(lambda: services.enable_user(found, actor=None))
    click.echo(f"{found.username} was enabled" if was_enabled else f"enabled {found.username}")


@user.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--unit", "unit_name", help="Unit name or alias (default: keep the user's unit).")
@click.option("--city", help="City code, when the unit name exists in several cities.")
@with_appcontext
def user_set_role(username: str, role: str, unit_name: str | None, city: str | None) -> None:
    """Give a user another role (and unit: unit staff and assessors need one)."""
    from taskhub.accounts import services

    _start()
    found = _user(username)
    unit = _unit(unit_name, city) if unit_name else found.unit
    _apply(lambda: services.change_role(found, role=role, unit=unit, actor=None))
    where = f", unit {unit.name} ({unit.city.code})" if unit is not None else ""
    click.echo(f"{found.username}: role {found.role}{where}")


@user.command("set-password")
@click.argument("username")
@click.option("--password", help=NEW_PASSWORD_HELP, envvar="TASKHUB_NEW_PASSWORD")
@with_appcontext
def user_set_password(username: str, password: str | None) -> None:
    """Set a user's password (prompted); every session of the user ends."""
    from taskhub.accounts import services

    _start()
    found = _user(username)
    new = _new_password(password)
    _apply(lambda: services.reset_password(found, new, actor=None))
    click.echo(f"password of {found.username} set; their sessions have ended")


# -- `taskhub users …`: many users at once -------------------------------------------------------


@click.group()
def users() -> None:
    """Manage many users at once (Excel import)."""


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change.")
@with_appcontext
def users_import(file: Path, dry_run: bool) -> None:
    """Import users from an Excel workbook (the template of the Excel imports page).

    All or nothing: every row must be valid. New users get an invitation link each, printed
    here (and e-mailed to those with an address); pass the others on to their users.
    """
    import hashlib

    from flask import current_app
    from flask_babel import force_locale

    from taskhub.accounts import invitations
    from taskhub.core.db import db
    from taskhub.imports import users as users_import_
    from taskhub.imports.services import Upload
    from taskhub.imports.workbook import WorkbookRejected

    _start()
    progress = _progress()
    progress(f"reading {file}")
    upload = Upload(hashlib.sha256(file.read_bytes()).hexdigest(), file.name, file)
    try:
        # The problems are the import page's, in Chinese (there is no request to pick a locale).
        with force_locale("zh"):
            if dry_run:
                result = users_import_.preview(file, actor=None)
            else:
                result = users_import_.confirm(upload, actor=None, config=current_app.config)
    except WorkbookRejected as exc:
        db.session.rollback()
        _fail(f"{file}: {exc.message}")
    if result.errors:
        db.session.rollback()
        for e in result.errors:
            where = ", ".join(
                part
                for part in (
                    f"sheet {e.sheet}" if e.sheet else "",
                    f"row {e.row}" if e.row else "",
                    f"column {e.column}" if e.column else "",
                )
                if part
            )
            click.echo(f"{file}: {where}: {e.message}", err=True)
        _fail(f"{len(result.errors)} problem(s) found: nothing was imported")
    added, updated = result.count("new"), result.count("updated")
    unchanged = result.count("unchanged")
    if dry_run:
        db.session.rollback()
        for row in result.listed:
            what = "new" if row.action == "new" else "changed: " + "、".join(row.changed)
            click.echo(f"row {row.row}: {row.username} ({row.display_name}) {what}")
        click.echo(
            f"dry run: would add {added}, update {updated}; {unchanged} unchanged; "
            "nothing was written"
        )
        return
    if not result.has_changes:
        db.session.rollback()
        click.echo(f"nothing to do: the {unchanged} user(s) already match {file.name}")
        return
    db.session.commit()
    progress(f"imported: {added} added, {updated} updated, {unchanged} unchanged")
    if result.invited:
        progress(f"e-mailing the invitations of {len(result.invited)} new user(s)")
    invited = invitations.send_emails(result.invited, actor=None, config=current_app.config)
    db.session.commit()
    for new in invited:
        mailed = f"e-mailed to {new.user.email}" if new.emailed else "not e-mailed: pass it on"
        expires = new.invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        click.echo(
            f"{new.user.username}\t{new.user.display_name}\t{new.link}\t"
            f"works once, until {expires}\t{mailed}"
        )
    click.echo(
        f"imported {file.name}: {added} added, {updated} updated, {unchanged} unchanged, "
        f"{result.linked} contact(s) linked"
    )


def _progress() -> Callable[[str], None]:
    from taskhub.cli import progress

    return progress
