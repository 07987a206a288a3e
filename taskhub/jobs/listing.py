"""`taskhub jobs list` on the driver alone: each job of the registry with its last run.

Reads ``job_runs`` with one plain SQL statement over the columns of
taskhub.jobs.models.JobRun named in ``COLUMNS`` (tests/test_cli_listings.py checks them against
the model), so the command imports neither SQLAlchemy nor the models (taskhub.core.rawdb).
"""

from __future__ import annotations

from typing import Any

from taskhub.core.rawdb import as_date
from taskhub.jobs.registry import all_jobs

#: The columns of ``job_runs`` (JobRun) the listing reads.
COLUMNS = {"job_runs": ("name", "last_run_on", "status")}


def job_lines(connection: Any) -> list[str]:
    """One line per job, in the registry's order: name, schedule, description, last run."""
    runs = {
        name: (as_date(last_run_on), status)
        for name, last_run_on, status in connection.execute(
            "SELECT name, last_run_on, status FROM job_runs"
        )
    }
    lines = []
    for spec in all_jobs():
        last_run_on, status = runs.get(spec.name, (None, None))
        when = " ".join(f"{k}={v}" for k, v in spec.cron.items())
        last = f"last run for {last_run_on} ({status})" if last_run_on else ""
        lines.append(f"{spec.name:<14} {when:<22} {spec.description}  {last}".rstrip())
    return lines
