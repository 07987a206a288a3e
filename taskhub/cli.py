"""The `taskhub` command line (a Flask CLI group; `flask --app taskhub ...` works too).

The command names and flags are a public contract that operators script against.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask, current_app
from flask import cli as flask_cli
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from taskhub.accounts.cli import user
from taskhub.accounts.cli import users as users_group
from taskhub.core.db import db


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an actionable error to stderr and exit non-zero."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def progress(message: str) -> None:
    click.echo(message, err=True)


def _require_schema() -> None:
    try:
        has_tables = inspect(db.engine).has_table("plans")
    except OperationalError as exc:
        fail(f"cannot open the database ({exc.orig}); check TASKHUB_DATABASE_URL")
    if not has_tables:
        fail("the database has no tables yet; run `taskhub db upgrade` first")


def _create_app(**_: Any) -> Flask:
    from taskhub import create_app
    from taskhub.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        fail(f"{exc}\n(`taskhub config check` shows every setting)", code=2)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """TaskHub: track digital-government construction plans."""


# Flask's own `run` is the development server; `taskhub run` is ours (web + scheduler).
main.add_command(flask_cli.shell_command)
main.add_command(flask_cli.routes_command)


def register_commands(app: Flask) -> None:
    """Attach TaskHub's commands to the app (so both `taskhub` and `flask` see them)."""
    from taskhub.evidence.cli import evidence
    from taskhub.imports.cli import units
    from taskhub.plans.cli import plan
    from taskhub.units.cli import city

    for command in (seed, demo, plan, user, audit, jobs, score, run, scheduler, backup, restore):
        app.cli.add_command(command)
    app.cli.add_command(alert)
    app.cli.add_command(evidence)
    app.cli.add_command(users_group)
    app.cli.add_command(units)
    app.cli.add_command(city)


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


# -- audit ----------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check against this checkpoint (a saved audit.checkpoint webhook body, a log line or "
    "log, a backup's manifest.json) instead of the last one in TASKHUB_AUDIT_CHECKPOINT_LOG.",
)
@with_appcontext
def audit_verify(checkpoint_file: Path | None) -> None:
    """Check the chain and the last checkpoint; exit 1 if events were edited or deleted."""
    from taskhub.audit import checkpoints
    from taskhub.audit.services import verify

    _require_schema()
    problems: list[Any] = []
    checkpoint = None
    try:
        if checkpoint_file is not None:
            checkpoint = checkpoints.read_file(checkpoint_file)
        else:
            checkpoint = checkpoints.latest()
        if checkpoint is not None:
            checkpoints.check_signature(checkpoint)
    except checkpoints.CheckpointError as exc:
        problems.append(f"checkpoint: {exc}")
        checkpoint = None
    count, chain_problems = verify(checkpoint)
    problems += [str(p) for p in chain_problems]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        fail(f"audit trail is broken: {len(problems)} problem(s) in {count} events")
    if checkpoint is None:
        click.echo(
            f"audit trail intact: {count} events (no checkpoint yet, so deleted newest events "
            "would not show; `taskhub audit checkpoint` writes one)"
        )
        return
    click.echo(
        f"audit trail intact: {count} events; the checkpoint of {checkpoint.created_at} "
        f"({checkpoint.reason}, {checkpoint.count} events) is there"
    )


@audit.command("checkpoint")
@click.option(
    "--force",
    is_flag=True,
    help="Write it even though the chain does not follow the last checkpoint "
    "(after a database restored by hand); the log keeps the older one.",
)
@with_appcontext
def audit_checkpoint(force: bool) -> None:
    """Sign the chain's head into the checkpoint log and to audit.checkpoint webhooks."""
    from taskhub.audit import checkpoints

    _require_schema()
    try:
        written = checkpoints.write("command", force=force)
        db.session.commit()
    except checkpoints.ChainBroken as exc:
        db.session.rollback()
        fail(
            "the audit trail does not follow the last checkpoint; nothing was written:\n  "
            + "\n  ".join(str(p) for p in exc.problems)
            + "\n`taskhub audit verify` shows every problem; --force starts a new baseline"
        )
    assert written is not None
    click.echo(written.line(), nl=False)


# -- jobs -----------------------------------------------------------------------------------


@click.group()
def jobs() -> None:
    """Scheduled jobs: list them, or run one now."""


@jobs.command("list")
@with_appcontext
def jobs_list() -> None:
    """Name every scheduled job with its schedule and last run."""
    from taskhub.jobs.models import JobRun
    from taskhub.jobs.registry import all_jobs

    _require_schema()
    for spec in all_jobs():
        run = db.session.get(JobRun, spec.name)
        when = " ".join(f"{k}={v}" for k, v in spec.cron.items())
        last = f"last run for {run.last_run_on} ({run.status})" if run and run.last_run_on else ""
        click.echo(f"{spec.name:<14} {when:<22} {spec.description}  {last}".rstrip())


@jobs.command("run")
@click.argument("name")
@click.option(
    "--today",
    "today_text",
    metavar="YYYY-MM-DD",
    help="Run as of this office day (default: today in TASKHUB_TIMEZONE).",
)
@with_appcontext
def jobs_run(name: str, today_text: str | None) -> None:
    """Run one job once, now, as of today or of the given date."""
    from datetime import date

    from taskhub.core.timeutil import office_today
    from taskhub.jobs.registry import all_jobs, get_job
    from taskhub.jobs.services import run_job

    _require_schema()
    spec = get_job(name)
    if spec is None:
        fail(
            f"no job {name!r}; `taskhub jobs list` names them: "
            f"{', '.join(j.name for j in all_jobs())}"
        )
    try:
        today = date.fromisoformat(today_text) if today_text else office_today()
    except ValueError:
        fail(f"--today {today_text!r} is not a date; write it as YYYY-MM-DD")
    progress(f"running {name} as of {today.isoformat()}")
    result = run_job(spec, today)
    click.echo(services_dumps(result))


def services_dumps(data: Any) -> str:
    from taskhub.plans.services import dumps

    return dumps(data)


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


# -- run / scheduler ------------------------------------------------------------------------


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the web only.")
@with_appcontext
def run(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the web app and run the scheduler in one process (the embedded default)."""
    from werkzeug.serving import run_simple

    from taskhub.jobs.scheduler import SchedulerRunner

    _require_schema()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    runner = None if no_scheduler else SchedulerRunner(app, blocking=False)
    if runner:
        runner.start()
    click.echo(f"TaskHub on http://{host}:{port}/ (scheduler {'off' if not runner else 'on'})")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port")
    finally:
        if runner:
            runner.shutdown()


@click.command("scheduler")
@with_appcontext
def scheduler() -> None:
    """Run the scheduler alone (one per deployment beside gunicorn web workers)."""
    from taskhub.jobs.scheduler import SchedulerRunner

    _require_schema()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    runner = SchedulerRunner(app, blocking=True)

    def stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=runner.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    click.echo("TaskHub scheduler running; Ctrl-C or SIGTERM stops it", err=True)
    try:
        runner.start()
    except (KeyboardInterrupt, SystemExit):
        runner.shutdown()


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
