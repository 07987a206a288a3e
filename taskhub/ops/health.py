"""Probes for load balancers and process managers: /healthz (alive) and /readyz (can serve).

Both are public, cheap and set no cookie. /readyz answers 503 naming the failing checks;
the details go to the log, not to the anonymous caller.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from taskhub.config import PROJECT_ROOT, directory_problem, free_space_problem
from taskhub.core.db import db

logger = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

#: Longest a readiness query may run on PostgreSQL (the connect timeout is in config.py).
STATEMENT_TIMEOUT_MS = 2000


@functools.cache
def migration_heads() -> frozenset[str]:
    """The revisions this code's migrations end at (read once per process)."""
    return frozenset(ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_heads())


def database_revisions() -> frozenset[str]:
    """The revisions recorded in the database; raises SQLAlchemyError when unreachable."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        if not inspect(conn).has_table("alembic_version"):
            return frozenset()
        return frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def readiness() -> dict[str, str]:
    """Each check's result: "ok" or a short reason."""
    checks: dict[str, str] = {}
    try:
        revisions = database_revisions()
    except SQLAlchemyError as exc:
        logger.warning("readiness: database unreachable: %s", exc.__class__.__name__, exc_info=exc)
        checks["database"] = "unreachable"
        checks["migrations"] = "unknown"
    else:
        checks["database"] = "ok"
        heads = migration_heads()
        if revisions == heads:
            checks["migrations"] = "ok"
        else:
            have = ", ".join(sorted(revisions)) or "none"
            logger.warning(
                "readiness: database at revision %s, code at %s; run `taskhub db upgrade`",
                have,
                ", ".join(sorted(heads)),
            )
            checks["migrations"] = "not at head: run taskhub db upgrade"
    object_store = bool(current_app.config.get("EVIDENCE_URL"))
    paths: tuple[str | None, ...] = (current_app.instance_path,)
    if not object_store:
        paths += (current_app.config.get("EVIDENCE_PATH"),)
    problems = [
        problem
        for path in paths
        if (problem := directory_problem(path) if path else "not configured")
    ]
    floor = int(current_app.config.get("STORAGE_MIN_FREE_MB") or 0)
    low = [
        problem for path in paths if path and floor and (problem := free_space_problem(path, floor))
    ]
    if problems or low:
        logger.warning("readiness: storage: %s", "; ".join(problems + low))
    checks["storage"] = "not writable" if problems else "low on space" if low else "ok"
    if object_store and checks["storage"] == "ok":
        checks["storage"] = _object_store_check()
    return checks


def _object_store_check() -> str:
    """ "ok" when the evidence bucket answers (a HEAD of the bucket), else why not."""
    from taskhub.core.s3storage import s3_storage_for
    from taskhub.core.storage import StorageUnavailable

    try:
        s3_storage_for(current_app.config).check()
    except (StorageUnavailable, FileNotFoundError) as exc:
        logger.warning("readiness: evidence store: %s", exc)
        return "object store unreachable"
    return "ok"


#: Probes must never be answered from a cache.
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Liveness: the process answers (no database access)."""
    return {"status": "ok"}, 200, NO_STORE


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Readiness: database reachable, migrations at head, instance and evidence writable and
    above the free-space floor (or the evidence bucket answering); with TASKHUB_BACKUP_PATH, the
    newest backup's age besides."""
    checks = readiness()
    failing = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, Any] = {
        "status": "unavailable" if failing else "ready",
        "failing": failing,
        "checks": checks,
    }
    if current_app.config.get("BACKUP_PATH"):
        body["backup"] = backup_state()
    return body, 503 if failing else 200, NO_STORE


def backup_state() -> dict[str, Any]:
    """The newest backup's time and age in TASKHUB_BACKUP_PATH: reported, never failing the
    probe (an old backup is no reason to take the web out of the load balancer)."""
    from taskhub.ops.retention import freshness

    hours = int(current_app.config.get("BACKUP_MAX_AGE_HOURS") or 26)
    state = freshness(Path(current_app.config["BACKUP_PATH"]), timedelta(hours=hours))
    if not state.ok:
        logger.warning("readiness: backup: %s", state.message)
    return {
        "status": "ok" if state.ok else "too old" if state.last else "none",
        "last": state.last.made_at.isoformat() if state.last else None,
        "age_hours": round(state.age.total_seconds() / 3600, 1) if state.age else None,
        "max_age_hours": hours,
    }
