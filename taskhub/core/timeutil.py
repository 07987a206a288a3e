"""The office's day: dates are in the deployment's time zone, timestamps in UTC."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from taskhub.core.db import now_utc

DEFAULT_TZ = "Asia/Shanghai"


def office_zone() -> ZoneInfo:
    name = current_app.config.get("TIMEZONE", DEFAULT_TZ) if has_app_context() else DEFAULT_TZ
    return ZoneInfo(name or DEFAULT_TZ)


def office_today() -> date:
    """Today in the office's time zone (月底 and "overdue" mean the office's day)."""
    return now_utc().astimezone(office_zone()).date()


def local_time(moment: datetime) -> datetime:
    return moment.astimezone(office_zone())
