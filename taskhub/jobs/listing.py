"""`taskhub jobs list` without the ORM: each job of the registry with its last run.

Reads ``job_runs`` with a SQLAlchemy Core statement over a light table clause (the columns it
needs of taskhub.jobs.models.JobRun; tests/test_cli_listings.py checks them against the
model), so the command imports neither ``sqlalchemy.orm`` nor the models.
"""

from __future__ import annotations

from sqlalchemy import Date, String, column, select, table
from sqlalchemy.engine import Connection

from taskhub.jobs.registry import all_jobs

#: The columns of ``job_runs`` (JobRun) the listing reads.
job_runs = table(
    "job_runs",
    column("name", String()),
    column("last_run_on", Date()),
    column("status", String()),
)


def job_lines(connection: Connection) -> list[str]:
    """One line per job, in the registry's order: name, schedule, description, last run."""
    runs = {
        name: (last_run_on, status)
        for name, last_run_on, status in connection.execute(
            select(job_runs.c.name, job_runs.c.last_run_on, job_runs.c.status)
        )
    }
    lines = []
    for spec in all_jobs():
        last_run_on, status = runs.get(spec.name, (None, None))
        when = " ".join(f"{k}={v}" for k, v in spec.cron.items())
        last = f"last run for {last_run_on} ({status})" if last_run_on else ""
        lines.append(f"{spec.name:<14} {when:<22} {spec.description}  {last}".rstrip())
    return lines
