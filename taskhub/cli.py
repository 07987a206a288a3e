"""The `taskhub` command line (a Flask CLI group; `flask --app taskhub ...` works too).

The command names and flags are a public contract that operators script against.

Each domain owns its commands (taskhub/<domain>/cli.py); this module only lists them.
`taskhub --help` answers from that list (``COMMANDS``) without importing a domain package,
SQLAlchemy or the app, and a command imports its own module when it runs. Listings that only
read a few rows (`jobs list`, `plan list`) use ``with_connection``: the database driver alone
(taskhub.core.rawdb), with no app, SQLAlchemy or models.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from contextlib import closing
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

import click
from flask import Flask, current_app
from flask import cli as flask_cli
from flask.cli import FlaskGroup, with_appcontext

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

F = TypeVar("F", bound=Callable[..., Any])


class Entry(NamedTuple):
    """Where a top-level command lives, and the first paragraph of its help."""

    #: "module:attribute", or APP for a command the loaded app adds (extensions' commands).
    target: str
    help: str


#: A command that the app itself provides (Flask-Migrate's `db`, flask-smorest's `openapi`).
APP = "app"

#: Every top-level command, by name. tests/test_cli_start.py checks each help line against the
#: command itself, so a changed docstring fails there until this list says the same.
COMMANDS: dict[str, Entry] = {
    "alert": Entry(
        "taskhub.cli:alert",
        "Report a failed systemd unit: an error in the journal and a mail to TASKHUB_ALERT_MAIL.",
    ),
    "audit": Entry("taskhub.audit.cli:audit", "The audit trail."),
    "backup": Entry(
        "taskhub.cli:backup",
        "Back up the database, evidence files and pending imports into one .tar.gz.",
    ),
    "city": Entry(
        "taskhub.units.cli:city",
        "Manage cities (their units: the Cities page, the API or the units import).",
    ),
    "db": Entry(APP, "Perform database migrations."),
    "demo": Entry(
        "taskhub.demo.cli:demo",
        "Demo accounts and contacts, and the living demo plan of the demo city.",
    ),
    "evidence": Entry("taskhub.evidence.cli:evidence", "Evidence files in their store."),
    "jobs": Entry("taskhub.jobs.cli:jobs", "Scheduled jobs: list them, or run one now."),
    "openapi": Entry(APP, "OpenAPI commands."),
    "plan": Entry("taskhub.plans.cli:plan", "Inspect loaded plans; publish, copy and close them."),
    "restore": Entry(
        "taskhub.cli:restore",
        "Restore a backup into an empty database and evidence folder (checksums checked first).",
    ),
    "run": Entry(
        "taskhub.jobs.cli:run",
        "Serve the web app and run the scheduler in one process (the embedded default).",
    ),
    "scheduler": Entry(
        "taskhub.jobs.cli:scheduler",
        "Run the scheduler alone (one per deployment beside gunicorn web workers).",
    ),
    "score": Entry(
        "taskhub.scoring.cli:score", "Scores, rankings and explanations by a plan's scheme."
    ),
    "seed": Entry("taskhub.plans.cli:seed", "Load the plans shipped in seeds/."),
    "units": Entry("taskhub.imports.cli:units", "A city's units, other names and groups."),
    "user": Entry("taskhub.accounts.cli:user", "Manage users."),
    "users": Entry("taskhub.accounts.cli:users", "Manage many users at once (Excel import)."),
}


def load_command(name: str) -> click.Command:
    """Import the module that defines the command ``name`` and return it."""
    module_name, _, attribute = COMMANDS[name].target.partition(":")
    command: click.Command = getattr(importlib.import_module(module_name), attribute)
    return command


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an actionable error to stderr and exit non-zero."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def progress(message: str) -> None:
    click.echo(message, err=True)


def _require_schema() -> None:
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    try:
        has_tables = inspect(db.engine).has_table("plans")
    except OperationalError as exc:
        fail(f"cannot open the database ({exc.orig}); check TASKHUB_DATABASE_URL")
    if not has_tables:
        fail("the database has no tables yet; run `taskhub db upgrade` first")


class _Database:
    """``db`` (taskhub.core.db) for the commands of this module, imported at first use: the
    module stays free of SQLAlchemy, which `taskhub --help` would otherwise import."""

    def __getattr__(self, name: str) -> Any:
        from taskhub.core.db import db as real

        return getattr(real, name)


db: SQLAlchemy = _Database()  # type: ignore[assignment]

#: Set while `--help` lists the commands: answer from ``COMMANDS``, import nothing.
_LISTING = "taskhub.listing"


def with_connection(f: Callable[..., Any]) -> Callable[..., Any]:
    """For a command that only reads rows with plain SQL: call it with a DB-API connection
    (sqlite3 or psycopg) as first argument, the schema checked.

    `taskhub` builds no app: the connection comes from the configuration alone (the same
    settings and errors as the app's) through the driver (taskhub.core.rawdb), and neither
    SQLAlchemy nor the models are imported. An app already loaded (``flask --app``, the tests'
    runner) lends its session's connection."""

    @wraps(f)
    def decorator(*args: Any, **kwargs: Any) -> Any:
        info = click.get_current_context().ensure_object(flask_cli.ScriptInfo)
        if info.create_app is not _create_app or info.app_import_path or current_app:
            return with_appcontext(lambda: f(_app_connection(), *args, **kwargs))()
        from taskhub.config import Config, ConfigError
        from taskhub.core import rawdb

        config = Config()
        try:
            # The URLs are checked (with SQLAlchemy's parser) only if the driver refuses them.
            config.finalize(database_urls=False)
        except ConfigError as exc:
            fail(f"{exc}\n(`taskhub config check` shows every setting)", code=2)
        try:
            connection = rawdb.connect(config)
        except rawdb.DatabaseError as exc:
            problems = config.database_problems()
            if problems:
                fail(f"{ConfigError(problems)}\n(`taskhub config check` shows every setting)", 2)
            fail(f"cannot open the database ({exc}); check TASKHUB_DATABASE_URL")
        with closing(connection):
            if not rawdb.has_table(connection, "plans"):
                fail("the database has no tables yet; run `taskhub db upgrade` first")
            return f(connection, *args, **kwargs)

    return decorator


def _app_connection() -> Any:
    """The DB-API connection under the app's session (its transaction, its rows)."""
    _require_schema()
    return db.session.connection().connection.driver_connection


def _create_app(**_: Any) -> Flask:
    from taskhub.config import ConfigError

    try:
        from taskhub.app import create_app

        return create_app()
    except ConfigError as exc:
        fail(f"{exc}\n(`taskhub config check` shows every setting)", code=2)


class TaskHubGroup(FlaskGroup):
    """A FlaskGroup that finds its commands in ``COMMANDS`` and imports one only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is not None and ctx.meta.get(_LISTING):
            return click.Command(cmd_name, help=entry.help)
        if entry is None or entry.target == APP:
            # Commands of the app and of plugins: FlaskGroup loads the whole app.
            return super().get_command(ctx, cmd_name)
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta[_LISTING] = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            del ctx.meta[_LISTING]


@click.group(
    cls=TaskHubGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
)
def main() -> None:
    """TaskHub: track digital-government construction plans."""


# Flask's own `run` is the development server; `taskhub run` is ours (web + scheduler).
main.add_command(flask_cli.shell_command)
main.add_command(flask_cli.routes_command)


def register_commands(app: Flask) -> None:
    """Attach TaskHub's commands to the app (so both `taskhub` and `flask` see them)."""
    for name, entry in COMMANDS.items():
        if entry.target != APP and name not in app.cli.commands:
            app.cli.add_command(load_command(name), name)


# -- config / backup / restore --------------------------------------------------------------


@click.group("config")
def config_group() -> None:
    """The configuration (TASKHUB_* environment variables)."""


@config_group.command("check")
def config_check() -> None:
    """Print the effective settings (secrets masked) and every problem; exit 1 on problems."""
    from taskhub.config import Config

    config = Config()
    settings = config.effective()
    width = max(len(name) for name, _ in settings)
    for name, value in settings:
        click.echo(f"{name:<{width}}  {value}")
    problems = config.validate()
    if problems:
        fail(f"{len(problems)} problem(s):\n  " + "\n  ".join(str(p) for p in problems))
    click.echo("configuration OK")


# Works without an app, so a broken configuration can still be inspected.
main.add_command(config_group)


@click.command("backup")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Archive file or folder (default: TASKHUB_BACKUP_PATH, else "
    "taskhub-backup-<UTC time>.tar.gz here).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    help="After a good backup, delete all but the newest N backups in its folder.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Make no backup: exit 1 when the newest backup in the folder is older than --max-age.",
)
@click.option(
    "--max-age",
    type=click.IntRange(min=1),
    help="Hours the newest backup may be old for --check (default TASKHUB_BACKUP_MAX_AGE_HOURS).",
)
@with_appcontext
def backup(output: Path | None, keep: int | None, check: bool, max_age: int | None) -> None:
    """Back up the database, evidence files and pending imports into one .tar.gz."""
    from datetime import timedelta

    from taskhub.ops import backup as ops
    from taskhub.ops import retention

    configured = current_app.config.get("BACKUP_PATH")
    target = output or (Path(configured) if configured else None)
    if check:
        if target is None:
            fail("--check needs the backup folder: --output or TASKHUB_BACKUP_PATH")
        folder = target if target.is_dir() or not target.suffix else target.parent
        hours = max_age or int(current_app.config.get("BACKUP_MAX_AGE_HOURS") or 26)
        state = retention.freshness(folder, timedelta(hours=hours))
        if not state.ok:
            fail(state.message)
        click.echo(state.message)
        return
    if max_age is not None:
        fail("--max-age goes with --check")
    _require_schema()
    try:
        result = ops.create_backup(target or Path(ops.default_backup_name()), progress=progress)
    except ops.BackupError as exc:
        fail(str(exc))
    db.session.commit()  # the checkpoint's webhook messages
    if keep is not None:
        for removed in retention.prune(result.path.parent, keep):
            progress(f"removed {removed} (--keep {keep})")
    click.echo(str(result.path))


@click.command("alert")
@click.argument("unit")
@click.option("--lines", default=40, show_default=True, help="Journal lines to include.")
@with_appcontext
def alert(unit: str, lines: int) -> None:
    """Report a failed systemd unit: an error in the journal and a mail to TASKHUB_ALERT_MAIL.

    Run by deploy/taskhub-alert@.service, which units name in OnFailure=.
    """
    from taskhub.ops import alerts

    try:
        sent = alerts.report_failure(unit, lines=lines)
    except alerts.AlertError as exc:
        fail(str(exc))
    click.echo(f"alert for {unit}: " + (f"mailed to {', '.join(sent)}" if sent else "journal only"))


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Restore over existing data: the database is replaced.")
@with_appcontext
def restore(archive: Path, yes: bool, force: bool) -> None:
    """Restore a backup into an empty database and evidence folder (checksums checked first)."""
    from taskhub.config import mask_url
    from taskhub.ops import restore as ops

    target = mask_url(str(db.engine.url))
    try:
        manifest = ops.verify_archive(archive, progress=progress)
        ops.check_compatible(manifest)
        existing = ops.target_contents()
    except ops.BackupError as exc:
        fail(str(exc))
    if existing and not force:
        fail(
            "the target is not empty; nothing was restored:\n  "
            + "\n  ".join(existing)
            + "\nRestore into a new, empty database and evidence folder, "
            "or pass --force to replace the data."
        )
    if existing:
        click.echo(
            "WARNING: --force: "
            + "; ".join(existing)
            + ".\nEvery table in the database will be DELETED and replaced by the backup; "
            "evidence files are added to the folder. Stop the web and scheduler processes first.",
            err=True,
        )
    if not yes:
        click.confirm(
            f"Restore {archive.name} (made {manifest.get('created_at')}) into {target}?",
            abort=True,
            err=True,
        )
    try:
        result = ops.restore_backup(archive, manifest, progress=progress)
        db.session.commit()
    except ops.BackupError as exc:
        db.session.rollback()
        fail(str(exc))
    click.echo(
        f"restored {archive.name}: {result.rows} rows, {result.evidence} evidence files, "
        f"{result.imports} import uploads"
        + (" (migrated to this version)" if result.upgraded else "")
    )
    if not result.audit_problems:
        from taskhub.audit import checkpoints

        # A restore may go back in time: the restored chain is the new baseline.
        checkpoints.write("restore", force=True)
        db.session.commit()
    if result.audit_problems:
        fail(
            f"the restored audit trail does not verify ({len(result.audit_problems)} problem(s)):"
            "\n  " + "\n  ".join(result.audit_problems)
        )
    click.echo(f"audit trail intact: {result.audit_events} events")
