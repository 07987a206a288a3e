"""Content-addressed blob storage for evidence files (佐证材料), keyed by SHA-256."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from flask_babel import gettext as _

from taskhub.core.errors import DomainError

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


class LocalStorage:
    """Blobs under ``root/ab/cd/abcd…`` (two fan-out levels keep directories small)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

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


def storage_for(app_config: Mapping[str, Any]) -> LocalStorage:
    """The configured evidence store: a local directory at ``EVIDENCE_PATH``.

    ``EVIDENCE_STORAGE`` (not an environment variable) may name a LocalStorage subclass: the
    tests use one whose disk fills up.
    """
    path = app_config.get("EVIDENCE_PATH")
    if not path:
        raise RuntimeError("EVIDENCE_PATH is not configured")
    factory: type[LocalStorage] = app_config.get("EVIDENCE_STORAGE") or LocalStorage
    return factory(Path(path))
