"""Back up a whole instance into one file: the database, the evidence files, pending imports.

A backup is one ``.tar.gz``:

- ``database.sqlite3`` (SQLite's online backup API: consistent while the app runs) or
  ``database.pgdump`` (``pg_dump --format=custom`` of an exported snapshot);
- ``evidence/ab/cd/<sha256>`` and ``imports/ab/cd/<sha256>``: the content-addressed files
  (evidence from the configured store: the folder, or the object store's bucket);
- ``manifest.json`` last: format version, TaskHub version, migration revision, row counts per
  table and a signed audit checkpoint (both taken in the same snapshot as the dump) and
  checksums. The checkpoint also goes to the checkpoint log and to audit.checkpoint webhooks.

taskhub.ops.restore reads it back.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import Connection, Engine, create_engine, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from taskhub.audit.models import AuditEvent
from taskhub.audit.services import chain_head
from taskhub.config import PROJECT_ROOT, mask_url
from taskhub.core.db import db, now_utc
from taskhub.core.storage import LocalStorage, Storage, storage_for

logger = logging.getLogger(__name__)

FORMAT = "taskhub-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
#: The two folders of content-addressed files, and where each lives in an instance.
FOLDERS = ("evidence", "imports")
BLOB_MEMBER = re.compile(r"(evidence|imports)/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")
#: A manifest larger than this is not one of ours (it lists file names, not contents).
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024
#: An object downloaded for a backup stays in memory up to this size, else in a temp file.
SPOOL_BYTES = 16 * 1024 * 1024
#: Tables that migrations (default reminder rules) or an idle scheduler fill by themselves:
#: rows there do not make a database "hold data".
NOT_DATA = frozenset({"alembic_version", "reminder_rules", "scheduler_leases", "job_runs"})

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore cannot go on; the message tells the operator why and what to do."""


@dataclass
class Blobs:
    """The content-addressed files of one folder in a backup."""

    names: list[str] = field(default_factory=list)
    total_bytes: int = 0


@dataclass
class BackupResult:
    path: Path
    size: int
    manifest: dict[str, Any]


# -- locations ------------------------------------------------------------------------------


def folder_path(name: str) -> Path:
    """Where the app keeps the files of a backup folder (evidence or imports)."""
    from taskhub.imports.services import uploads_root

    if name == "evidence":
        return Path(current_app.config["EVIDENCE_PATH"])
    return uploads_root(current_app.instance_path)


def evidence_store() -> Storage:
    """The app's evidence store (a folder, or an object store)."""
    return storage_for(current_app.config)


def folder_store(name: str) -> Storage:
    """The store of a backup folder: the evidence store, or the imports folder."""
    return evidence_store() if name == "evidence" else LocalStorage(folder_path(name))


def dialect_of(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in DATABASE_MEMBERS:
        raise BackupError(f"cannot back up a {name} database (SQLite and PostgreSQL only)")
    return name


def sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    if database in (None, "", ":memory:"):
        raise BackupError("the database is in memory; there is nothing on disk to back up")
    return Path(str(database))


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, the password passed by environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    conninfo = url.set(drivername="postgresql", password=None)
    return conninfo.render_as_string(hide_password=False), env


def find_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} is not installed; install the PostgreSQL client tools "
            "(Debian/Ubuntu: apt install postgresql-client) in the server's major version"
        )
    return found


def run_tool(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tool = Path(command[0]).name
        raise BackupError(f"{tool} failed (exit {result.returncode}): {result.stderr.strip()}")


def code_heads() -> list[str]:
    return sorted(ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_heads())


# -- describing a database ------------------------------------------------------------------


def quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows per table (alembic_version included), in the connection's snapshot."""
    counts: dict[str, int] = {}
    for table in sorted(inspect(conn).get_table_names()):
        counts[table] = int(
            conn.execute(text(f"SELECT count(*) FROM {quote(conn, table)}")).one()[0]
        )
    return counts


def _describe(conn: Connection) -> dict[str, Any]:
    """Revision, row counts and referenced evidence digests of the database behind ``conn``."""
    from taskhub.tracking.models import Evidence

    tables = inspect(conn).get_table_names()
    if "alembic_version" not in tables:
        raise BackupError("the database has no TaskHub tables yet; run `taskhub db upgrade`")
    revisions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    referenced: set[str] = set()
    if Evidence.__tablename__ in tables:
        referenced = set(conn.execute(select(Evidence.sha256).distinct()).scalars())
    return {
        "revisions": revisions,
        "tables": table_counts(conn),
        "referenced": referenced,
        "audit_head": chain_head(conn) if AuditEvent.__tablename__ in tables else None,
    }


# -- backup ---------------------------------------------------------------------------------


def default_backup_name() -> str:
    return f"taskhub-backup-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.tar.gz"


def create_backup(output: Path, *, progress: Progress) -> BackupResult:
    """Write a backup of the app's database and files to ``output`` (a new file)."""
    engine = db.engine
    dialect = dialect_of(engine)
    if output.is_dir():
        output = output / default_backup_name()
    if output.exists():
        raise BackupError(f"{output} already exists; choose another --output")
    if not output.parent.is_dir():
        raise BackupError(f"no folder {output.parent} for the backup file")
    partial = output.with_name(output.name + ".part")
    with tempfile.TemporaryDirectory(prefix=".taskhub-backup-", dir=output.parent) as work:
        dump = Path(work) / DATABASE_MEMBERS[dialect]
        progress(f"database: copying ({dialect}, {mask_url(str(engine.url))})")
        if dialect == "sqlite":
            described = _dump_sqlite(sqlite_file(engine), dump)
        else:
            described = _dump_postgresql(engine, dump)
        rows = sum(described["tables"].values())
        progress(f"database: {rows} rows in {len(described['tables'])} tables")
        database_entry = {
            "dialect": dialect,
            "member": dump.name,
            "sha256": _sha256_file(dump),
            "size": dump.stat().st_size,
            "revisions": described["revisions"],
            "tables": described["tables"],
        }
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                    _add_file(tar, dump, dump.name)
                    manifest = _add_files_and_manifest(tar, database_entry, described, progress)
                raw.flush()
                os.fsync(raw.fileno())
            # Only a complete archive gets the name: a crash leaves a .part file at most.
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    size = output.stat().st_size
    progress(f"wrote {output} ({_megabytes(size)})")
    _publish_checkpoint(manifest, progress)
    return BackupResult(output, size, manifest)


def _publish_checkpoint(manifest: dict[str, Any], progress: Progress) -> None:
    """Log the backup's checkpoint and queue its webhooks, unless the chain no longer follows
    the last logged checkpoint: the log then keeps the older one as evidence."""
    from taskhub.audit import checkpoints

    if manifest.get("audit_checkpoint") is None:
        return
    problems = checkpoints.follows_latest()
    if problems:
        progress(
            "warning: the audit trail does not follow the last checkpoint "
            "(`taskhub audit verify` says more); this backup's checkpoint was not logged:\n  "
            + "\n  ".join(str(p) for p in problems)
        )
        return
    checkpoints.publish(checkpoints.from_dict(manifest["audit_checkpoint"]))


def _add_files_and_manifest(
    tar: tarfile.TarFile,
    database_entry: dict[str, Any],
    described: dict[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    """Add the evidence and import files, then the manifest describing it all."""
    from taskhub.audit import checkpoints

    folders = {name: _add_blobs(tar, name, folder_store(name), progress) for name in FOLDERS}
    missing = sorted(described["referenced"] - set(folders["evidence"].names))
    if missing:
        progress(
            f"warning: {len(missing)} evidence file(s) named in the database are not in "
            f"{evidence_store().location} (listed in the manifest as missing)"
        )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": now_utc().isoformat(timespec="seconds"),
        "taskhub_version": _version(),
        "database": database_entry,
        **{
            name: {"count": len(blobs.names), "bytes": blobs.total_bytes, "blobs": blobs.names}
            for name, blobs in folders.items()
        },
        "missing_evidence": missing,
        "evidence_store": evidence_store().location,
        "audit_checkpoint": (
            checkpoints.sign(described["audit_head"], "backup").as_dict()
            if described["audit_head"] is not None
            else None
        ),
    }
    data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    tar.addfile(_tarinfo(MANIFEST, len(data)), io.BytesIO(data))
    return manifest


def _dump_sqlite(source: Path, target: Path) -> dict[str, Any]:
    if not source.is_file():
        raise BackupError(f"no database file at {source}; check TASKHUB_DATABASE_URL")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        # One step: a consistent snapshot; in WAL mode writers carry on meanwhile.
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the SQLite database {source}: {exc}")
    finally:
        dst.close()
        src.close()
    copy = create_engine(f"sqlite:///{target}")
    try:
        with copy.connect() as conn:
            return _describe(conn)
    finally:
        copy.dispose()


def _dump_postgresql(engine: Engine, target: Path) -> dict[str, Any]:
    pg_dump = find_tool("pg_dump")
    conninfo, env = libpq(engine.url)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # pg_dump reads the very snapshot the counts come from.
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                described = _describe(conn)
                run_tool(
                    [
                        pg_dump,
                        "--format=custom",
                        "--no-password",
                        f"--snapshot={snapshot}",
                        f"--file={target}",
                        f"--dbname={conninfo}",
                    ],
                    env,
                )
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot read the database: {exc.__class__.__name__}: {exc}")
    return described


def _add_blobs(tar: tarfile.TarFile, name: str, store: Storage, progress: Progress) -> Blobs:
    """Add every content-addressed file of ``store``; skip (and report) damaged ones."""
    blobs = Blobs()
    for entry in store.scan():
        if entry.kind != "blob":
            continue
        copy = _checked_copy(store, entry.name)
        if copy is None:
            progress(f"warning: {entry.where} does not match its name (damaged); left out")
            continue
        digest = entry.name
        with copy as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            tar.addfile(_tarinfo(f"{name}/{digest[:2]}/{digest[2:4]}/{digest}", size), fh)
        blobs.names.append(digest)
        blobs.total_bytes += size
        if len(blobs.names) % 1000 == 0:
            progress(f"{name}: {len(blobs.names)} files")
    progress(f"{name}: {len(blobs.names)} files, {_megabytes(blobs.total_bytes)}")
    return blobs


def _checked_copy(store: Storage, sha256: str) -> IO[bytes] | None:
    """The blob to read, its bytes checked against its name first (None: damaged, or gone).

    A local blob is read twice from disk; an object is downloaded once into a spooled copy.
    """
    try:
        path = store.path_of(sha256)
        if path is not None:
            return None if _sha256_file(path) != sha256 else path.open("rb")
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
        with store.open(sha256) as source:
            digest = sha256_stream(source, spool)
    except FileNotFoundError:
        return None  # removed since the listing (`taskhub evidence gc`)
    if digest != sha256:
        spool.close()
        return None
    return spool


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    with path.open("rb") as fh:
        tar.addfile(_tarinfo(arcname, path.stat().st_size), fh)


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(now_utc().timestamp())
    return info


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_stream(stream: IO[bytes], sink: IO[bytes] | None = None) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest()


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _version() -> str:
    try:
        return metadata.version("taskhub")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"
