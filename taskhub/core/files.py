"""Files only the service account may read: the SQLite database, keys, the checkpoint log.

They are created with mode 0600 from the start (never created readable and tightened
afterwards), and an existing one that others can read is tightened at start-up.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700
#: The files SQLite keeps beside a database; it creates them with the database's own mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Take group and other permissions off an existing file (missing: nothing to do)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except OSError as exc:  # another user's file: say so, do not stop the service
            logger.warning("%s is readable by other users (mode %o): %s", path, mode, exc)
            return
        logger.warning("%s was readable by other users (mode %o); now %o", path, mode, mode & 0o700)


def private_folder(path: Path) -> None:
    """Create a folder (and missing parents) readable by the owner only; an existing one is
    left as the operator made it."""
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)


def create_private(path: Path) -> bool:
    """Create an empty file with mode 0600 unless it exists; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private(path: Path, text: str) -> None:
    """Write a new file that is 0600 from its first byte (fails if the file exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def append_private(path: Path, line: str) -> None:
    """Append one line to a 0600 log opened O_APPEND (concurrent writers never interleave a
    line: each is one write) and flush it to disk."""
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    make_private(path)


def private_sqlite_file(database: str | None) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would use the umask,
    usually 0644), and tighten an existing one and its -wal/-shm files."""
    if database in (None, "", ":memory:") or str(database).startswith("file:"):
        return
    path = Path(str(database))
    if not path.parent.is_dir():
        # SQLite does not create folders either: a missing one is an outage to report (a
        # moved or unmounted volume), not a place to start an empty database.
        return
    create_private(path)
    for name in ("", *SQLITE_COMPANIONS):
        make_private(path.with_name(path.name + name))
