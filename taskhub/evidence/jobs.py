"""The daily evidence_gc job (the scheduled `taskhub evidence gc`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app

from taskhub.core.storage import storage_for
from taskhub.evidence.services import collect_garbage
from taskhub.imports.services import uploads_root


def evidence_gc(today: date) -> dict[str, Any]:
    """Remove unreferenced blobs, stale partial files and unconfirmed import uploads."""
    report = collect_garbage(
        storage_for(current_app.config), uploads_root(current_app.instance_path), dry_run=False
    )
    return report.summary()
