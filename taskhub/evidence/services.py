"""Evidence files in their store (a folder or an object store): nothing is left behind by a
submission that failed, and :func:`collect_garbage` (``taskhub evidence gc``, the daily
``evidence_gc`` job) removes blobs no row refers to and partial files a killed worker left.

Blobs are content-addressed, so one file may belong to several evidence rows, and a request in
flight may be about to commit a row naming a blob that no committed row names yet. A blob is
therefore removed only inside a transaction that excludes such requests: on SQLite the write
transaction (requests that store evidence hold SQLite's write lock from their first
statement), on PostgreSQL an advisory lock per blob, which a storing transaction holds shared
from before it looks at the file until it ends. The collector also leaves alone anything
written or reused in the last :data:`SAFE_AGE`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.storage import Storage, StorageUnavailable, Stored, storage_for
from taskhub.tracking.models import Evidence

logger = logging.getLogger(__name__)

#: Files younger than this are never collected: a transaction in flight may still refer to
#: them (no request runs that long), and a partial file may still be being written.
SAFE_AGE = timedelta(hours=24)
#: First key of the PostgreSQL advisory locks on blobs ("EVID"); the second is from the digest.
_LOCK_CLASS = 0x45564944
#: Session keys: blobs this transaction created (not committed yet), and blobs created by a
#: transaction that was rolled back, removed when the request ends.
_PENDING = "evidence.pending"
_DISCARDED = "evidence.discarded"
#: Digests per IN (...) query.
_CHUNK = 500


def _lock_args(sha256: str) -> dict[str, int]:
    key = int(sha256[:8], 16)
    return {"c": _LOCK_CLASS, "k": key - 2**32 if key >= 2**31 else key}


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def store(storage: Storage, data: bytes) -> str:
    """Store evidence bytes for a row this transaction adds; returns the digest.

    A blob this call creates is removed again if the transaction does not commit.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    if _on_postgresql():
        # Held until this transaction ends: no cleanup can remove the blob meanwhile.
        db.session.execute(text("SELECT pg_advisory_xact_lock_shared(:c, :k)"), _lock_args(sha256))
    existed = storage.exists(sha256)
    storage.put(data)
    if not existed:
        db.session.info.setdefault(_PENDING, set()).add(sha256)
    return sha256


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_PENDING, None)  # rows now refer to them


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None and _PENDING in session.info:
        session.info.setdefault(_DISCARDED, set()).update(session.info.pop(_PENDING))


def init_app(app: Flask) -> None:
    """Remove, when a request ends, the blobs it stored but did not commit."""
    app.teardown_request(_remove_discarded)


def _remove_discarded(exc: BaseException | None) -> None:
    if not db.session.registry.has():
        return
    session = db.session()
    shas = session.info.pop(_DISCARDED, set()) | session.info.pop(_PENDING, set())
    if not shas:
        return
    try:
        session.rollback()  # the failed transaction, if it is still open
        removed = remove_unreferenced(storage_for(current_app.config), shas)
        session.commit()
    except (SQLAlchemyError, StorageUnavailable) as error:
        session.rollback()
        # The database or the object store is not answering: `taskhub evidence gc` removes
        # them later.
        logger.warning("kept %d uncommitted evidence file(s): %s", len(shas), type(error).__name__)
        return
    if removed:
        logger.info(
            "removed %d evidence file(s) of a submission that failed (%d bytes)",
            len(removed),
            sum(size for _, size in removed),
        )


def remove_unreferenced(storage: Storage, shas: Iterable[str]) -> list[tuple[str, int]]:
    """Delete the blobs among ``shas`` that no evidence row refers to and no transaction in
    flight is storing; (digest, bytes) of each removed. Call inside a write transaction."""
    free = [sha for sha in sorted(set(shas)) if _may_remove(sha)]
    referenced = _referenced(free)
    removed = []
    for sha in free:
        if sha not in referenced:
            removed.append((sha, storage.delete(sha)))
    return removed


def _may_remove(sha256: str) -> bool:
    """Whether no transaction in flight is storing this blob (PostgreSQL; on SQLite the
    caller's write transaction already excludes them). The lock is held until commit."""
    if not _on_postgresql():
        return True
    query = text("SELECT pg_try_advisory_xact_lock(:c, :k)")
    return bool(db.session.scalar(query, _lock_args(sha256)))


def _referenced(shas: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(shas), _CHUNK):
        chunk = shas[start : start + _CHUNK]
        query = select(Evidence.sha256).where(Evidence.sha256.in_(chunk)).distinct()
        found.update(db.session.scalars(query))
    return found


# -- collecting garbage ---------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    #: blob, partial (an unfinished upload) or import (an import upload never confirmed).
    kind: str
    #: A file path or an s3:// URL.
    path: str
    size: int
    #: What the store listed (None for import uploads, which are files in the instance).
    entry: Stored | None = None


@dataclass
class GcReport:
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)
    #: Unreferenced blobs left alone: younger than SAFE_AGE, or being stored right now.
    kept_recent: int = 0
    kept_in_use: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for r in self.removals if r.kind == kind)

    def size(self, kind: str | None = None) -> int:
        return sum(r.size for r in self.removals if kind is None or r.kind == kind)

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "blobs": self.count("blob"),
            "blob_bytes": self.size("blob"),
            "partial_files": self.count("partial"),
            "partial_bytes": self.size("partial"),
            "import_uploads": self.count("import"),
            "import_bytes": self.size("import"),
            "bytes": self.size(),
            "kept_recent": self.kept_recent,
            "kept_in_use": self.kept_in_use,
        }


def collect_garbage(
    storage: Storage, imports_root: Path | None, *, dry_run: bool, now: float | None = None
) -> GcReport:
    """Remove (or with ``dry_run`` only list) blobs no row refers to, partial files and
    unconfirmed import uploads older than SAFE_AGE; audited once per real run (flushes, the
    caller commits, inside a write transaction)."""
    cutoff = (time.time() if now is None else now) - SAFE_AGE.total_seconds()
    report = GcReport(dry_run=dry_run)
    old_blobs: dict[str, Stored] = {}
    recent: set[str] = set()
    for entry in storage.scan():
        if entry.kind == "partial":
            if entry.mtime < cutoff:
                report.removals.append(Removal("partial", entry.where, entry.size, entry))
        elif entry.mtime < cutoff:
            old_blobs[entry.name] = entry
        else:
            recent.add(entry.name)
    report.kept_recent = len(recent - _referenced(sorted(recent)))
    referenced = _referenced(sorted(old_blobs))
    orphans = [sha for sha in sorted(old_blobs) if sha not in referenced]
    if not dry_run:
        locked = [sha for sha in orphans if _may_remove(sha)]
        report.kept_in_use = len(orphans) - len(locked)
        # Asked again under the locks: a row may have been committed since the first look.
        referenced = _referenced(locked)
        orphans = [sha for sha in locked if sha not in referenced]
    for sha in orphans:
        entry = old_blobs[sha]
        report.removals.append(Removal("blob", entry.where, entry.size, entry))
    if imports_root is not None:
        from taskhub.imports.services import stale_uploads

        report.removals += [
            Removal("import", str(path), size)
            for path, size in stale_uploads(imports_root, now=now)
        ]
    if not dry_run:
        _remove(storage, report, cutoff)
        audit.record("evidence.gc", "evidence_store", "gc", actor_id=None, after=report.summary())
    return report


def _remove(storage: Storage, report: GcReport, cutoff: float) -> None:
    kept = []
    for removal in report.removals:
        entry = removal.entry
        if removal.kind == "blob" and entry is not None:
            # Used again since the listing (put() refreshes a blob it reuses): keep it.
            mtime = storage.mtime(entry.name)
            if mtime is None:
                continue  # gone already: another collector or worker
            if mtime >= cutoff:
                report.kept_recent += 1
                continue
            storage.delete(entry.name)
        elif removal.kind == "partial" and entry is not None:
            storage.remove_partial(entry)
        else:
            try:
                Path(removal.path).unlink()
            except FileNotFoundError:
                continue
        kept.append(removal)
    report.removals = kept
