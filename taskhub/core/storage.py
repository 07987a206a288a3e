"""Content-addressed blob storage for evidence files (佐证材料), keyed by SHA-256.

Two backends behind one interface: a local folder (the default) and an S3-compatible object
store (taskhub.core.s3storage, chosen by ``TASKHUB_EVIDENCE_URL=s3://bucket/prefix``). Both
lay blobs out as ``ab/cd/abcd…``, so a bucket synced to a folder is a valid local store.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, Protocol

from flask_babel import gettext as _

from taskhub.core.errors import DomainError

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

_SHA256 = re.compile(r"[0-9a-f]{64}")

#: Stored blobs are read-only: content-addressed data never changes in place.
_BLOB_MODE = 0o440
#: Temporary names of blobs being written (what a killed worker leaves behind).
PARTIAL_PREFIX, PARTIAL_SUFFIX = ".tmp-", ".part"
#: The filesystem is full (or the user's quota is): nothing can be stored until space is freed.
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageFull(DomainError):
    """No space is left to store a file; nothing was stored (the message is for people)."""

    code = "storage_full"

    def __init__(self) -> None:
        super().__init__(
            _(
                "The server has no space left to store files, so nothing was saved. "
                "Ask an administrator to free some space, then try again."
            ),
            field="evidence",
        )


class StorageUnavailable(Exception):
    """The evidence store cannot be reached or refuses to work (an outage: answered 503)."""


class Stored(NamedTuple):
    """One object found in a store: a blob, or a partial file a killed worker left."""

    #: "blob" or "partial" (local folders only: object stores publish whole objects).
    kind: str
    #: The digest of a blob; the file name of a partial file.
    name: str
    #: Where it is, for people: a file path or an s3:// URL.
    where: str
    size: int
    #: Last written (or reused), seconds since the epoch.
    mtime: float


def check_sha256(sha256: object) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise ValueError."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r:.80}")
    return sha256


class Storage(Protocol):
    """Where evidence bytes live; rows in the database hold only the digest."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 hex digest; identical bytes are stored once."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for reading; FileNotFoundError when it is absent."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is stored."""
        ...

    def path_of(self, sha256: str) -> Path | None:
        """A local file path for ``send_file``, or None when the backend has no local files."""
        ...

    def delete(self, sha256: str) -> int:
        """Remove a blob no row refers to; the bytes freed (0 when it was absent)."""
        ...

    def mtime(self, sha256: str) -> float | None:
        """When the blob was last written or reused (None when absent)."""
        ...

    def scan(self) -> Iterator[Stored]:
        """Every blob (and partial file) in the store, in name order."""
        ...

    def remove_partial(self, entry: Stored) -> None:
        """Remove a partial file found by :meth:`scan` (gone already is fine)."""
        ...

    @property
    def location(self) -> str:
        """Where the store is, for messages: a folder or an s3:// URL."""
        ...


class LocalStorage:
    """Blobs under ``root/ab/cd/abcd…`` (two fan-out levels keep directories small)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    @property
    def location(self) -> str:
        """The folder."""
        return str(self.root)

    def _path(self, sha256: str) -> Path:
        # Validated first: only a 64-hex name can reach the filesystem, so no traversal.
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically and durably; an existing blob is never rewritten."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self._path(sha256)
        if target.is_file():
            # Used again: a fresh time keeps `taskhub evidence gc` away while the new row
            # referring to it is not committed yet.
            with contextlib.suppress(OSError):
                os.utime(target)
            return sha256
        try:
            self._write_new(target, data)
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise StorageFull() from exc
            raise
        return sha256

    def _write_new(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                self._write(fh, data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _BLOB_MODE)
            _publish(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def _write(self, fh: BinaryIO, data: bytes) -> None:
        """Write the bytes (a seam: the tests fill the disk here)."""
        fh.write(data)

    def open(self, sha256: str) -> BinaryIO:
        """Open the blob for binary reading (FileNotFoundError when absent)."""
        return self._path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self._path(sha256).is_file()

    def path_of(self, sha256: str) -> Path:
        """The blob's file path (FileNotFoundError when absent)."""
        path = self._path(sha256)
        if not path.is_file():
            raise FileNotFoundError(f"no stored blob {sha256}")
        return path

    def delete(self, sha256: str) -> int:
        """Remove the blob (the caller made sure nothing refers to it); the bytes freed."""
        path = self._path(sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def mtime(self, sha256: str) -> float | None:
        """The blob file's modification time (put() refreshes it on reuse)."""
        try:
            return self._path(sha256).stat().st_mtime
        except FileNotFoundError:
            return None

    def scan(self) -> Iterator[Stored]:
        """Every file two fan-out levels down (root/ab/cd/name) that is a blob or partial."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*/*/*")):
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            if not path.is_file() or path.is_symlink():
                continue
            name = path.name
            if name.startswith(PARTIAL_PREFIX) and name.endswith(PARTIAL_SUFFIX):
                kind = "partial"
            elif is_blob_key(f"{path.parent.parent.name}/{path.parent.name}/{name}"):
                kind = "blob"
            else:
                continue
            yield Stored(kind, name, str(path), stat.st_size, stat.st_mtime)

    def remove_partial(self, entry: Stored) -> None:
        """Unlink the partial file."""
        Path(entry.where).unlink(missing_ok=True)


def blob_key(sha256: str) -> str:
    """``ab/cd/abcd…``: where a blob lives below the store's root (folder or prefix)."""
    check_sha256(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def is_blob_key(key: str) -> bool:
    """Whether ``key`` (``ab/cd/name``) names a blob in the fan-out layout."""
    parts = key.split("/")
    return (
        len(parts) == 3
        and bool(_SHA256.fullmatch(parts[2]))
        and parts[0] == parts[2][:2]
        and parts[1] == parts[2][2:4]
    )


def _publish(tmp: Path, target: Path) -> None:
    """Give the finished temp file its final name without ever replacing an existing blob."""
    try:
        # A hard link fails if the target exists, so a concurrent writer of the same bytes
        # cannot be overwritten; the caller removes the temp name afterwards.
        os.link(tmp, target)
    except FileExistsError:
        pass
    except OSError:
        # Filesystems without hard links: os.replace is still atomic, and a racing writer
        # could only have written these same bytes.
        if not target.exists():
            os.replace(tmp, target)


def _fsync_dir(directory: Path) -> None:
    """Persist the new directory entry (POSIX only; Windows cannot open directories)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class NamedBlob(Protocol):
    """A row naming a stored blob (an evidence row): its digest, file name and type."""

    sha256: str
    original_name: str
    content_type: str


def signed_redirect(
    storage: Storage, row: NamedBlob, app_config: Mapping[str, Any], *, inline: bool
) -> Response | None:
    """A redirect to a short-lived signed URL instead of streaming the file, when the store
    makes them and TASKHUB_S3_DOWNLOADS=signed asks for them; None: stream it. The caller has
    checked permission: the URL is the permission, for its few seconds."""
    from flask import redirect

    sign = getattr(storage, "signed_url", None)
    if sign is None or app_config.get("S3_DOWNLOADS") != "signed":
        return None
    seconds = int(app_config.get("S3_SIGNED_URL_SECONDS") or 60)
    url = sign(
        row.sha256,
        filename=row.original_name,
        content_type=row.content_type,
        inline=inline,
        seconds=seconds,
    )
    moved = redirect(url, 303)
    moved.headers["Cache-Control"] = "no-store"
    return moved


def storage_for(app_config: Mapping[str, Any]) -> Storage:
    """The configured evidence store: the object store at ``EVIDENCE_URL`` (s3://) when set,
    else a local directory at ``EVIDENCE_PATH``.

    ``EVIDENCE_STORAGE`` (not an environment variable) may name a LocalStorage subclass: the
    tests use one whose disk fills up.
    """
    if app_config.get("EVIDENCE_URL"):
        from taskhub.core.s3storage import s3_storage_for

        return s3_storage_for(app_config)
    path = app_config.get("EVIDENCE_PATH")
    if not path:
        raise RuntimeError("EVIDENCE_PATH is not configured")
    factory: type[LocalStorage] = app_config.get("EVIDENCE_STORAGE") or LocalStorage
    return factory(Path(path))
