"""Signed checkpoints of the audit trail, kept outside the database.

A checkpoint records how many events the chain had and the digest of the newest, with the
time, signed with HMAC-SHA256 under the audit key. It is appended to a log file (one JSON line
each, opened O_APPEND, mode 0600; TASKHUB_AUDIT_CHECKPOINT_LOG), written into every backup's
manifest and sent to webhook endpoints subscribed to ``audit.checkpoint``. Deleting the newest
events leaves a valid chain, but not one that holds the last checkpoint's head:
:func:`taskhub.audit.services.verify` reports it.

Written by the hourly ``audit_checkpoint`` job, by ``taskhub audit checkpoint``, by every
backup and after a restore (which starts a new baseline).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import current_app

from taskhub.audit.services import (
    ChainProblem,
    Head,
    audit_key,
    chain_head,
    subkey,
    verify_since,
)
from taskhub.core.db import now_utc
from taskhub.core.files import append_private

logger = logging.getLogger(__name__)

KIND = "taskhub-audit-checkpoint"
VERSION = 1
#: Why a checkpoint was written (shown by `taskhub audit verify`).
REASONS = ("scheduled", "command", "backup", "restore")


class CheckpointError(Exception):
    """A checkpoint cannot be read or does not verify; the message says which and why."""


class ChainBroken(Exception):
    """The chain does not follow the last checkpoint: no new one is written over it."""

    def __init__(self, problems: list[ChainProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Checkpoint:
    count: int
    head_id: int | None
    head: str | None
    #: UTC, ISO 8601 with seconds.
    created_at: str
    reason: str
    #: Names the audit key without revealing it, so a checkpoint signed under another key
    #: is told apart from a forged one.
    key_id: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "version": VERSION, **asdict(self)}

    def line(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")) + "\n"


def key_id(key: str) -> str:
    return subkey(key, "key id").hex()[:16]


def _signature(fields: dict[str, Any], key: str) -> str:
    signed = {k: fields[k] for k in ("count", "head_id", "head", "created_at", "reason")}
    raw = json.dumps({"kind": KIND, "version": VERSION, **signed}, sort_keys=True)
    return hmac.new(subkey(key, "checkpoint"), raw.encode(), hashlib.sha256).hexdigest()


def sign(head: Head, reason: str) -> Checkpoint:
    """A checkpoint of ``head``, signed now with the app's audit key."""
    key = audit_key()
    fields: dict[str, Any] = {
        "count": head.count,
        "head_id": head.last_id,
        "head": head.digest,
        "created_at": now_utc().isoformat(timespec="seconds"),
        "reason": reason,
    }
    return Checkpoint(**fields, key_id=key_id(key), signature=_signature(fields, key))


def check_signature(checkpoint: Checkpoint) -> None:
    """CheckpointError unless the checkpoint was signed with this app's audit key."""
    key = audit_key()
    if checkpoint.key_id != key_id(key):
        raise CheckpointError(
            f"the checkpoint of {checkpoint.created_at} was signed with another audit key "
            f"(key id {checkpoint.key_id}, this instance's is {key_id(key)}): "
            "TASKHUB_AUDIT_KEY, or the secret key it is derived from, differs"
        )
    expected = _signature(asdict(checkpoint), key)
    if not hmac.compare_digest(expected, checkpoint.signature):
        raise CheckpointError(
            f"the checkpoint of {checkpoint.created_at} does not match its signature: "
            "it was altered or forged"
        )


def from_dict(data: Any) -> Checkpoint:
    """A checkpoint from its JSON form (a log line, a webhook body, a backup manifest's
    ``audit_checkpoint``); CheckpointError when it is not one."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise CheckpointError("not a TaskHub audit checkpoint")
    try:
        checkpoint = Checkpoint(
            count=data["count"],
            head_id=data["head_id"],
            head=data["head"],
            created_at=data["created_at"],
            reason=data["reason"],
            key_id=data["key_id"],
            signature=data["signature"],
        )
    except KeyError as exc:
        raise CheckpointError(f"the checkpoint lacks {exc.args[0]!r}")
    if not isinstance(checkpoint.count, int) or checkpoint.count < 0:
        raise CheckpointError("the checkpoint's count is not a number of events")
    return checkpoint


#: The log's name in the instance folder when TASKHUB_AUDIT_CHECKPOINT_LOG is unset.
LOG_NAME = "audit-checkpoints.log"


def log_path() -> Path:
    configured = current_app.config.get("AUDIT_CHECKPOINT_LOG")
    return Path(configured) if configured else Path(current_app.instance_path) / LOG_NAME


def latest(path: Path | None = None) -> Checkpoint | None:
    """The last checkpoint in the log (None when there is none yet); CheckpointError when
    its last line is damaged."""
    path = path or log_path()
    try:
        with path.open("rb") as fh:
            last = b""
            for line in fh:
                if line.strip():
                    last = line
    except FileNotFoundError:
        return None
    if not last:
        return None
    try:
        return from_dict(json.loads(last))
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"the last line of {path} is not a checkpoint: it was damaged")


def read_file(path: Path) -> Checkpoint:
    """The checkpoint in a file: a checkpoint log (its last line), a saved webhook body or
    log line, or a backup's manifest.json."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}")
    try:
        data = json.loads(text)
    except ValueError:
        found = latest(path)
        if found is None:
            raise CheckpointError(f"{path} holds no checkpoint")
        return found
    if isinstance(data, dict) and "audit_checkpoint" in data:
        data = data["audit_checkpoint"]
    return from_dict(data)


def publish(checkpoint: Checkpoint) -> None:
    """Append the checkpoint to the log and queue it for ``audit.checkpoint`` webhooks (in
    the caller's transaction, which commits)."""
    from taskhub.webhooks.models import WebhookEvent
    from taskhub.webhooks.services import emit

    append_private(log_path(), checkpoint.line())
    emit(
        WebhookEvent.AUDIT_CHECKPOINT,
        checkpoint.as_dict(),
        key=f"{checkpoint.created_at}-{checkpoint.count}-{(checkpoint.head or '')[-12:]}",
    )
    logger.info(
        "audit checkpoint (%s): %d events, head %s",
        checkpoint.reason,
        checkpoint.count,
        checkpoint.head_id,
    )


def follows_latest() -> list[ChainProblem]:
    """Problems of the chain against the last logged checkpoint ([] when none, or fine)."""
    try:
        previous = latest()
        if previous is None:
            return []
        check_signature(previous)
    except CheckpointError as exc:
        return [ChainProblem(None, str(exc))]
    return verify_since(previous)


def write(reason: str, *, force: bool = False, skip_unchanged: bool = False) -> Checkpoint | None:
    """Sign the chain's head now and publish it; ChainBroken (nothing written) when the chain
    no longer follows the last checkpoint, unless ``force`` (a restore's new baseline).
    ``skip_unchanged``: None when the head is the last checkpoint's (the hourly job)."""
    head = chain_head()
    if not force:
        problems = follows_latest()
        if problems:
            raise ChainBroken(problems)
    if skip_unchanged:
        previous = latest()
        if previous and (previous.count, previous.head) == (head.count, head.digest):
            return None
    checkpoint = sign(head, reason)
    publish(checkpoint)
    return checkpoint
