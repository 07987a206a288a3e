"""`taskhub jobs …`, `taskhub run` and `taskhub scheduler`: the scheduled jobs and the
processes that run them."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from taskhub.cli import _require_schema, fail, progress, with_connection

# -- jobs -----------------------------------------------------------------------------------


@click.group()
def jobs() -> None:
    """Scheduled jobs: list them, or run one now."""


@jobs.command("list")
@with_connection
def jobs_list(connection: Any) -> None:
    """Name every scheduled job with its schedule and last run."""
    from taskhub.jobs.listing import job_lines

    for line in job_lines(connection):
        click.echo(line)


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
