"""The backups in a folder: which is the newest, how old it is, and pruning the old ones.

Only complete archives count: ``create_backup`` writes ``<name>.part`` and renames it to
``taskhub-backup-<UTC time>.tar.gz`` once the archive is whole, so a name of that form is a
good backup. Its age is read from the name (the UTC time it was made), not from the file's
mtime, which a copy or a restore from tape changes. Other files in the folder (encrypted
copies, notes) are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ARCHIVE_NAME = re.compile(r"taskhub-backup-(\d{8}-\d{6})\.tar\.gz")
#: A ``.part`` file this old is left from a backup that crashed; pruning removes it.
STALE_PART = timedelta(days=1)


@dataclass(frozen=True)
class Archive:
    path: Path
    made_at: datetime


@dataclass(frozen=True)
class Freshness:
    """What `taskhub backup --check` and /readyz say about a backup folder."""

    ok: bool
    message: str
    last: Archive | None
    age: timedelta | None


def archives(folder: Path) -> list[Archive]:
    """The complete backups in ``folder``, newest first."""
    found = []
    if not folder.is_dir():
        return []
    for path in folder.iterdir():
        match = ARCHIVE_NAME.fullmatch(path.name)
        if match and path.is_file():
            made_at = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
            found.append(Archive(path, made_at))
    return sorted(found, key=lambda a: (a.made_at, a.path.name), reverse=True)


def prune(folder: Path, keep: int, *, now: datetime | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest backups (and crashed ``.part`` files older than a
    day); return what was deleted."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    removed = [archive.path for archive in archives(folder)[keep:]]
    moment = now or datetime.now(UTC)
    for path in folder.glob("taskhub-backup-*.tar.gz.part") if folder.is_dir() else []:
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if moment - modified > STALE_PART:
            removed.append(path)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def freshness(folder: Path, max_age: timedelta, *, now: datetime | None = None) -> Freshness:
    """Whether the newest backup in ``folder`` is younger than ``max_age``."""
    found = archives(folder)
    if not folder.is_dir():
        return Freshness(False, f"no backup folder {folder}", None, None)
    if not found:
        return Freshness(False, f"no backup in {folder} (taskhub-backup-*.tar.gz)", None, None)
    last = found[0]
    age = (now or datetime.now(UTC)) - last.made_at
    hours = age.total_seconds() / 3600
    limit = max_age.total_seconds() / 3600
    if age > max_age:
        return Freshness(
            False,
            f"the last good backup is {hours:.1f} hours old (more than {limit:g}): "
            f"{last.path.name}; check `systemctl status taskhub-backup` and its journal",
            last,
            age,
        )
    return Freshness(True, f"last good backup {hours:.1f} hours ago: {last.path}", last, age)
