"""Restore a backup made by taskhub.ops.backup into an empty instance.

Every member is checked against the manifest before anything is written; a database or
evidence folder that already holds data is refused unless forced; afterwards the restored row
counts are compared with the manifest and the audit chain is verified.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from taskhub.config import PROJECT_ROOT, mask_url
from taskhub.core.db import db
from taskhub.core.files import private_sqlite_file
from taskhub.core.storage import LocalStorage
from taskhub.ops.backup import (
    BLOB_MEMBER,
    DATABASE_MEMBERS,
    FOLDERS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    NOT_DATA,
    BackupError,
    Progress,
    code_heads,
    dialect_of,
    find_tool,
    folder_store,
    libpq,
    quote,
    run_tool,
    sha256_stream,
    sqlite_file,
    table_counts,
)


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    rows: int
    evidence: int
    imports: int
    upgraded: bool
    audit_events: int
    audit_problems: list[str]


# -- reading an archive ---------------------------------------------------------------------


@contextmanager
def _open_archive(path: Path) -> Iterator[tarfile.TarFile]:
    if not path.is_file():
        raise BackupError(f"no file {path}")
    try:
        with tarfile.open(path, "r:gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupError(f"{path} is not a readable TaskHub backup (.tar.gz): {exc}")


def verify_archive(path: Path, *, progress: Progress) -> dict[str, Any]:
    """Check every member against the manifest (nothing is written); return the manifest."""
    progress(f"checking {path}")
    seen: dict[str, str] = {}
    manifest: dict[str, Any] | None = None
    with _open_archive(path) as tar:
        for member in tar:
            name = member.name
            if name in seen or (name == MANIFEST and manifest is not None):
                raise BackupError(f"{path} holds {name} twice: it was altered")
            if not member.isreg():
                raise BackupError(f"{path} holds {name!r}, which is not a regular file")
            stream = tar.extractfile(member)
            assert stream is not None  # regular members always have contents
            if name == MANIFEST:
                if member.size > MAX_MANIFEST_BYTES:
                    raise BackupError(f"{path}: the manifest is implausibly large")
                manifest = _parse_manifest(stream.read(), path)
                continue
            blob = BLOB_MEMBER.fullmatch(name)
            if name not in DATABASE_MEMBERS.values() and not (
                blob and blob[2] == blob[4][:2] and blob[3] == blob[4][2:4]
            ):
                raise BackupError(f"{path} holds an unexpected file {name!r}: not a TaskHub backup")
            digest = sha256_stream(stream)
            if blob and digest != blob[4]:
                raise BackupError(
                    f"{path}: {name} does not match its checksum: the archive was altered or "
                    "damaged; nothing was restored"
                )
            seen[name] = digest
    if manifest is None:
        raise BackupError(f"{path} has no {MANIFEST}: not a TaskHub backup (or cut short)")
    _check_members(manifest, seen, path)
    progress(
        f"checksums match: database, {manifest['evidence']['count']} evidence files, "
        f"{manifest['imports']['count']} import uploads"
    )
    return manifest


def _parse_manifest(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{path}: {MANIFEST} is not valid JSON: the archive is damaged")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a TaskHub backup (its manifest names no {FORMAT})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"{path} was written by a newer TaskHub (backup format {version}, this one reads "
            f"up to {FORMAT_VERSION}); restore it with that version or newer"
        )
    try:
        database = manifest["database"]
        assert database["dialect"] in DATABASE_MEMBERS
        assert database["member"] == DATABASE_MEMBERS[database["dialect"]]
        assert isinstance(database["sha256"], str) and isinstance(database["tables"], dict)
        assert all(isinstance(r, str) for r in database["revisions"])
        for folder in FOLDERS:
            assert isinstance(manifest[folder]["blobs"], list)
    except (KeyError, TypeError, AssertionError):
        raise BackupError(f"{path}: {MANIFEST} lacks required fields: the archive is damaged")
    return manifest


def _check_members(manifest: dict[str, Any], seen: dict[str, str], path: Path) -> None:
    database = manifest["database"]
    digest = seen.pop(database["member"], None)
    if digest is None:
        raise BackupError(f"{path} lacks {database['member']}: the archive is incomplete")
    if digest != database["sha256"]:
        raise BackupError(
            f"{path}: {database['member']} does not match its checksum: the archive was altered "
            "or damaged; nothing was restored"
        )
    listed = {
        f"{folder}/{sha[:2]}/{sha[2:4]}/{sha}"
        for folder in FOLDERS
        for sha in manifest[folder]["blobs"]
    }
    missing, extra = sorted(listed - set(seen)), sorted(set(seen) - listed)
    if missing:
        raise BackupError(
            f"{path} lacks {len(missing)} file(s) its manifest lists (first: {missing[0]}): "
            "the archive is incomplete"
        )
    if extra:
        raise BackupError(
            f"{path} holds {len(extra)} file(s) its manifest does not list (first: {extra[0]}): "
            "it was altered"
        )


# -- restore --------------------------------------------------------------------------------


def check_compatible(manifest: dict[str, Any]) -> None:
    """Refuse a backup of another kind of database, or from a newer TaskHub."""
    dialect = dialect_of(db.engine)
    source = manifest["database"]["dialect"]
    if source != dialect:
        raise BackupError(
            f"this backup holds a {source} database but TASKHUB_DATABASE_URL is {dialect}; "
            f"restore it into a {source} database (moving between databases is not supported)"
        )
    scripts = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    for revision in manifest["database"]["revisions"]:
        try:
            known = scripts.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise BackupError(
                f"this backup is at migration {revision}, which this TaskHub does not know: it "
                f"was made by a newer version ({manifest.get('taskhub_version')}); upgrade "
                "TaskHub first, then restore"
            )


def target_contents() -> list[str]:
    """What the target database and evidence folder already hold ([] when both are empty)."""
    found: list[str] = []
    try:
        with db.engine.connect() as conn:
            counts = table_counts(conn)
    except SQLAlchemyError as exc:
        raise BackupError(
            f"cannot open the target database {mask_url(str(db.engine.url))}: "
            f"{exc.__class__.__name__}; check TASKHUB_DATABASE_URL"
        )
    filled = [(t, n) for t, n in counts.items() if n and t not in NOT_DATA]
    if filled:
        shown = ", ".join(f"{t} ({n} rows)" for t, n in filled[:4])
        more = f" and {len(filled) - 4} more tables" if len(filled) > 4 else ""
        found.append(f"the database {mask_url(str(db.engine.url))} holds data: {shown}{more}")
    evidence = folder_store("evidence")
    files = sum(1 for entry in evidence.scan() if entry.kind == "blob")
    if files:
        kind = "folder" if isinstance(evidence, LocalStorage) else "store"
        found.append(f"the evidence {kind} {evidence.location} holds {files} file(s)")
    return found


def restore_backup(path: Path, manifest: dict[str, Any], *, progress: Progress) -> RestoreResult:
    """Write the verified backup into the app's database and folders; the caller commits.

    Call :func:`verify_archive`, :func:`check_compatible` and :func:`target_contents` first.
    """
    engine = db.engine
    dialect = dialect_of(engine)
    counts = {name: 0 for name in FOLDERS}
    stores = {name: folder_store(name) for name in FOLDERS}
    work_root = Path(current_app.instance_path)
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".taskhub-restore-", dir=work_root) as work:
        dump = Path(work) / manifest["database"]["member"]
        with _open_archive(path) as tar:
            for member in tar:
                stream = tar.extractfile(member)
                assert stream is not None
                blob = BLOB_MEMBER.fullmatch(member.name)
                if blob:
                    # Blobs are at most an upload in size; put() stores atomically, read-only.
                    if stores[blob[1]].put(stream.read()) != blob[4]:
                        raise BackupError(f"{path} changed while restoring; restore again")
                    counts[blob[1]] += 1
                    if counts[blob[1]] % 1000 == 0:
                        progress(f"{blob[1]}: {counts[blob[1]]} files")
                elif member.name == dump.name:
                    with dump.open("wb") as sink:
                        if sha256_stream(stream, sink) != manifest["database"]["sha256"]:
                            raise BackupError(f"{path} changed while restoring; restore again")
        for name in FOLDERS:
            progress(f"{name}: {counts[name]} files restored into {stores[name].location}")
        progress(f"database: restoring into {mask_url(str(engine.url))}")
        engine.dispose()
        if dialect == "sqlite":
            _restore_sqlite(dump, sqlite_file(engine))
        else:
            _restore_postgresql(engine, dump)
        engine.dispose()
    db.session.remove()
    with engine.connect() as conn:
        restored = table_counts(conn)
    expected: dict[str, int] = manifest["database"]["tables"]
    differences = [
        f"{table}: {restored.get(table, 0)} rows, the backup has {rows}"
        for table, rows in sorted(expected.items())
        if restored.get(table, 0) != rows
    ]
    if differences:
        raise BackupError(
            "the restored database differs from the backup: " + "; ".join(differences)
        )
    progress(f"database: {sum(restored.values())} rows in {len(restored)} tables, as in the backup")
    upgraded = sorted(manifest["database"]["revisions"]) != code_heads()
    if upgraded:
        from flask_migrate import upgrade

        progress("database: the backup is from an older version; applying migrations")
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
    return _finish(path, manifest, restored, counts, upgraded, progress)


def _finish(
    path: Path,
    manifest: dict[str, Any],
    restored: dict[str, int],
    counts: dict[str, int],
    upgraded: bool,
    progress: Progress,
) -> RestoreResult:
    """Verify the audit chain against the backup's checkpoint and record the restore in it."""
    from taskhub.audit import checkpoints
    from taskhub.audit import services as audit

    checkpoint, found = None, []
    if manifest.get("audit_checkpoint") is None:
        progress(
            "warning: this backup has no audit checkpoint (an older TaskHub made it): "
            "events deleted from its newest end would not show"
        )
    else:
        try:
            checkpoint = checkpoints.from_dict(manifest["audit_checkpoint"])
            checkpoints.check_signature(checkpoint)
        except checkpoints.CheckpointError as exc:
            found.append(f"the backup's audit checkpoint: {exc}")
            checkpoint = None
    events, chain_problems = audit.verify(checkpoint)
    problems = found + [str(p) for p in chain_problems]
    audit.record(
        "instance.restored",
        "instance",
        "restore",
        actor_id=None,
        after={
            "archive": path.name,
            "created_at": manifest.get("created_at"),
            "taskhub_version": manifest.get("taskhub_version"),
            "database_sha256": manifest["database"]["sha256"],
            "revisions": manifest["database"]["revisions"],
            "evidence": counts["evidence"],
            "audit_chain_intact": not problems,
        },
    )
    return RestoreResult(
        manifest=manifest,
        rows=sum(n for t, n in restored.items() if t != "alembic_version"),
        evidence=counts["evidence"],
        imports=counts["imports"],
        upgraded=upgraded,
        audit_events=events,
        audit_problems=problems,
    )


def _restore_sqlite(dump: Path, target: Path) -> None:
    private_sqlite_file(str(target))  # 0600 before SQLite creates it
    src = sqlite3.connect(dump)
    dst = sqlite3.connect(target)
    try:
        # Page by page through SQLite itself: replaces whatever the file held, WAL included.
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot write the SQLite database {target}: {exc}")
    finally:
        dst.close()
        src.close()


def _restore_postgresql(engine: Engine, dump: Path) -> None:
    pg_restore = find_tool("pg_restore")
    with engine.begin() as conn:
        # Tables left by `taskhub db upgrade` (empty) or by --force would collide.
        tables = inspect(conn).get_table_names()
        if tables:
            names = ", ".join(quote(conn, t) for t in tables)
            conn.execute(text(f"DROP TABLE {names} CASCADE"))
    conninfo, env = libpq(engine.url)
    run_tool(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env,
    )
