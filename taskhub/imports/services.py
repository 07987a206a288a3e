"""Import plumbing shared by plans and contacts: receiving and keeping uploads, the history.

An upload is checked (size, type by content, zip safety), then kept under the instance folder
named by its SHA-256 until the user confirms; the confirm form carries only the digest, and the
confirm step reads and validates the file again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.storage import LocalStorage, StorageFull, check_sha256
from taskhub.tracking.uploads import UploadRejected, check_upload, sanitize_filename

logger = logging.getLogger(__name__)

#: Audit object type of every import event (indexed, so the history is one index range).
AUDIT_OBJECT = "import"
#: Uploads waiting for confirmation are removed after this many seconds.
KEEP_SECONDS = 24 * 3600
#: Expanded size an import workbook may declare (a 5,000-row sheet is a few MB).
MAX_EXPANDED = 100 * 1024 * 1024


class UploadRefused(DomainError):
    """The uploaded file cannot be used; the message says why, in the user's language."""


@dataclass(frozen=True)
class Upload:
    sha256: str
    #: A safe version of the user's file name, for display and the audit record.
    name: str
    path: Path


def uploads_root(instance_path: str) -> Path:
    """Where uploads wait between preview and confirm."""
    return Path(instance_path) / "imports"


def receive(file: FileStorage | None, *, root: Path, max_bytes: int) -> Upload:
    """Check an uploaded workbook and keep it by its SHA-256; UploadRefused when unusable."""
    if file is None or not file.filename:
        raise UploadRefused(_("Choose an .xlsx file to upload."))
    data = file.read()
    shown = file.filename.replace("\\", "/").rsplit("/", 1)[-1][:80]
    not_xlsx = _(
        "「%(name)s」 is not an Excel .xlsx file. Download the template, fill it in and upload it.",
        name=shown,
    )
    if not shown.lower().endswith((".xlsx", ".xls")):
        raise UploadRefused(not_xlsx)
    try:
        checked = check_upload(
            file.filename, data, max_bytes=max_bytes, max_archive_total=MAX_EXPANDED
        )
    except UploadRejected as exc:
        if exc.code in ("type_not_allowed", "type_mismatch"):
            raise UploadRefused(not_xlsx)
        raise UploadRefused(exc.message_zh if _in_chinese() else exc.message_en)
    extension = checked.safe_name.rsplit(".", 1)[-1].lower()
    if extension in ("xls", "et"):
        raise UploadRefused(
            _(
                "「%(name)s」 is an old-format .xls workbook. Save it as .xlsx in Excel or WPS "
                "and upload it again.",
                name=checked.safe_name,
            )
        )
    if extension != "xlsx":
        raise UploadRefused(not_xlsx)
    _purge(root)
    store = LocalStorage(root)
    try:
        sha256 = store.put(data)
    except StorageFull as full:  # the instance disk: say so instead of a 500
        raise UploadRefused(full.message) from full
    return Upload(sha256, checked.safe_name, store.path_of(sha256))


def stored(sha256: str, name: str, *, root: Path) -> Upload:
    """An upload kept for confirmation, by its digest (UploadRefused when gone or invalid)."""
    try:
        path = LocalStorage(root).path_of(check_sha256(sha256))
    except (ValueError, FileNotFoundError):
        raise UploadRefused(
            _("The uploaded file is no longer available. Upload it again to see a new preview.")
        )
    # The name comes back from the form: only shown and recorded, but kept safe all the same.
    return Upload(sha256, sanitize_filename(name or "")[:200] or "upload.xlsx", path)


def stale_uploads(root: Path, *, now: float | None = None) -> list[tuple[Path, int]]:
    """Uploads nobody confirmed within a day, and partial files of interrupted ones, with
    their sizes (``taskhub evidence gc`` removes them too, so they go even if no one uploads)."""
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - KEEP_SECONDS
    found = []
    for path in sorted(root.glob("*/*/*")):
        try:
            stat = path.stat()
        except OSError:  # another worker removed it first
            continue
        if path.is_file() and stat.st_mtime < cutoff:
            found.append((path, stat.st_size))
    return found


def _purge(root: Path) -> None:
    """Forget uploads nobody confirmed within a day."""
    for path, _size in stale_uploads(root):
        try:
            path.unlink()
        except OSError as exc:  # another worker removed it first, or permissions
            logger.debug("could not purge %s: %s", path, exc)


def _in_chinese() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "zh"


def record(kind: str, upload: Upload, *, actor: User | None, summary: dict[str, Any]) -> None:
    """The audit record of a confirmed import: who (None: the command line), which file, what
    it changed."""
    from taskhub.audit import services as audit

    audit.record(
        f"import.{kind}",
        AUDIT_OBJECT,
        upload.sha256,
        actor_id=actor.id if actor is not None else None,
        after={"kind": kind, "file": upload.name, **summary},
    )


def history(actor: User, *, page: int, page_size: int) -> tuple[list[tuple[AuditEvent, str]], int]:
    """Past imports, newest first, with who ran them: all for the office, own for unit staff."""
    query = select(AuditEvent, User.display_name).outerjoin(User, User.id == AuditEvent.actor_id)
    query = query.where(AuditEvent.object_type == AUDIT_OBJECT)
    if actor.role not in ("admin", "office"):
        query = query.where(AuditEvent.actor_id == actor.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(
        query.order_by(AuditEvent.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return [(event, name or "") for event, name in rows], total
