"""Dates and times as people read them: 2026年12月7日 04:58 in Chinese, 7 Dec 2026 04:58 in
English. Timestamps are stored in UTC and shown in the office's time zone; form values and
``datetime=""`` attributes keep ISO 8601 (those are for machines, not for reading)."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

#: English month abbreviations (fixed: not the server's C library locale).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _parsed(value: object) -> date | datetime | None:
    """A date or datetime from a value a template may hold (ISO text from JSON included)."""
    if isinstance(value, date):  # datetime is a date too
        return value
    if isinstance(value, str) and value:
        try:
            return (
                datetime.fromisoformat(value)
                if "T" in value or " " in value
                else date.fromisoformat(value)
            )
        except ValueError:
            return None
    return None


def in_zone(moment: datetime, zone: tzinfo) -> datetime:
    """A stored timestamp in ``zone``; a naive one is UTC (as SQLite hands them back)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def _day_text(day: date, locale: str) -> str:
    if locale.startswith("zh"):
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def date_text(value: object, locale: str, zone: tzinfo) -> str:
    """``2026年12月7日`` / ``7 Dec 2026``; a timestamp gives the office's day. Empty for None;
    text that is no date comes back unchanged."""
    if value is None or value == "":
        return ""
    parsed = _parsed(value)
    if parsed is None:
        return str(value)
    if isinstance(parsed, datetime):
        parsed = in_zone(parsed, zone).date()
    return _day_text(parsed, locale)


def datetime_text(value: object, locale: str, zone: tzinfo) -> str:
    """``2026年12月7日 04:58`` / ``7 Dec 2026 04:58`` in the office's time zone; a plain date
    gives the day alone."""
    if value is None or value == "":
        return ""
    parsed = _parsed(value)
    if parsed is None:
        return str(value)
    if not isinstance(parsed, datetime):
        return _day_text(parsed, locale)
    local = in_zone(parsed, zone)
    return f"{_day_text(local.date(), locale)} {local:%H:%M}"


def _request_locale() -> str:
    from flask import g, has_request_context

    return str(g.get("locale") or "zh") if has_request_context() else "zh"


def cn_date(value: object) -> str:
    """``date_text`` in this request's language and the office's time zone (the ``cn_date``
    template filter; also for dates that views put into messages)."""
    from taskhub.core.timeutil import office_zone

    return date_text(value, _request_locale(), office_zone())


def cn_datetime(value: object) -> str:
    """``datetime_text`` in this request's language and the office's time zone."""
    from taskhub.core.timeutil import office_zone

    return datetime_text(value, _request_locale(), office_zone())
