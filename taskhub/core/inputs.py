"""Numbers typed into page addresses, query strings and forms: one converter, one parser.

A number no database column can hold must never reach a query (SQLite raises OverflowError,
PostgreSQL NumericValueOutOfRange: a 500). Every page route names its ids with the ``id``
converter (``/assignments/<id:assignment_id>``), so an id beyond the 32-bit range is not found
at routing; every integer read from ``request.args`` or ``request.form`` goes through
:func:`page_arg`, :func:`id_arg` or :func:`int_arg`, and every decimal through
:func:`decimal_arg`. tests/test_input_limits.py checks that no page route uses ``<int:…>``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask, abort, current_app, render_template, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, Map

from taskhub.core.errors import ValidationFailed
from taskhub.core.limits import MAX_ID, NUMBER_LIMIT, NUMBER_PLACES, number_problem

#: Largest page number of a paged list (a million pages is far past any list's end).
MAX_PAGE = 1_000_000

#: A whole number as people type it; at most 20 digits so int() stays cheap.
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_DIGITS = re.compile(r"[0-9]{1,20}")
#: A decimal as people type it (12, 3.5, .5, -2): no exponent, NaN or Infinity.
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_DECIMAL_TEXT_MAX = 40


class IdConverter(IntegerConverter):
    """``<id:name>``: a database id, 1 to MAX_ID; anything else does not match (404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def init_app(app: Flask) -> None:
    """Register the ``id`` converter, and answer a refused number no view caught with 400."""
    app.url_map.converters["id"] = IdConverter
    # First of all before-request hooks: the CSRF check reads the form.
    app.before_request_funcs.setdefault(None, []).insert(0, _cap_body)

    @app.errorhandler(InvalidNumber)
    def invalid_number(error: InvalidNumber) -> Any:
        return render_template("error.html", code=400, message=error.message), 400


def _cap_body() -> None:
    """A body without files (JSON, a plain form) is capped at MAX_BODY_BYTES (413 past it);
    multipart bodies keep MAX_CONTENT_LENGTH, sized for evidence files."""
    if request.mimetype != "multipart/form-data":
        cap = current_app.config.get("MAX_BODY_BYTES")
        current = request.max_content_length
        if cap is not None and (current is None or cap < current):
            request.max_content_length = cap


def _source(source: Any) -> Any:
    return request.args if source is None else source


def _integer(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if _INTEGER.fullmatch(text) else None


def digits(text: str | None) -> int | None:
    """Plain ASCII digits (at most 20) as a number, None for anything else. ``str.isdigit``
    is no test: it accepts 「²」 or 「①」, which ``int()`` then refuses (a 500), and digit
    strings too long for ``int()`` to read."""
    text = (text or "").strip()
    return int(text) if _DIGITS.fullmatch(text) else None


def page_arg(name: str = "page", source: Any = None) -> int:
    """A page number: 1 when absent or not a number, at most MAX_PAGE."""
    number = _integer(_source(source).get(name))
    return 1 if number is None else max(1, min(number, MAX_PAGE))


def id_arg(name: str, source: Any = None) -> int | None:
    """An id filter or form choice: None when absent or not a number; an id no row can have
    (below 1 or beyond MAX_ID) is not found (404), like the ``id`` converter."""
    number = _integer(_source(source).get(name))
    if number is None:
        return None
    if not 0 < number <= MAX_ID:
        abort(404)
    return number


def id_list_arg(name: str, source: Any = None) -> list[int]:
    """Every id given under ``name`` (checkboxes); values that cannot be an id name nothing
    and are left out."""
    numbers = (_integer(text) for text in _source(source).getlist(name))
    return [n for n in numbers if n is not None and 0 < n <= MAX_ID]


class InvalidNumber(ValidationFailed, ValueError):
    """A typed number that is refused; ``message`` is in the user's language.

    Also a ValueError, so forms that already turn ValueError into a message keep working."""

    def __init__(self, field: str, message: str) -> None:
        ValidationFailed.__init__(self, message, [field])
        self.field = field


def int_arg(
    name: str, source: Any = None, *, minimum: int = -MAX_ID, maximum: int = MAX_ID
) -> int | None:
    """A whole number from minimum to maximum; None when blank, InvalidNumber otherwise."""
    text = (_source(source).get(name) or "").strip()
    if not text:
        return None
    number = _integer(text)
    if number is None:
        raise InvalidNumber(name, _("Enter a whole number."))
    if not minimum <= number <= maximum:
        raise InvalidNumber(
            name,
            _("Enter a whole number from %(low)d to %(high)d.", low=minimum, high=maximum),
        )
    return number


def decimal_arg(name: str, source: Any = None) -> Decimal | None:
    """An exact decimal (score, component, points, numerator…); None when blank.

    NaN, sNaN, Infinity, exponents (1e999999) and numbers beyond ±NUMBER_LIMIT or with more
    than NUMBER_PLACES decimals raise InvalidNumber with a message in the user's language, the
    same rules as the API's decimal fields (taskhub.core.limits.number_problem)."""
    text = (_source(source).get(name) or "").strip()
    if not text:
        return None
    number: Decimal | None = None
    if len(text) <= _DECIMAL_TEXT_MAX and _DECIMAL.fullmatch(text):
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            number = None
    if number is None:
        if re.fullmatch(r"[+-]?(s?nan|inf(inity)?)", text, re.IGNORECASE):
            raise InvalidNumber(
                name, _("Enter a real number: NaN and Infinity are not numbers here.")
            )
        shown = text if len(text) <= 20 else text[:19] + "…"
        raise InvalidNumber(
            name, _("“%(text)s” is not a number: enter one such as 12 or 3.5.", text=shown)
        )
    problem = number_problem(number)
    if problem == "too_large":
        raise InvalidNumber(
            name, _("Enter a number from -%(limit)s to %(limit)s.", limit=f"{NUMBER_LIMIT:,}")
        )
    if problem is not None:
        raise InvalidNumber(
            name, _("Give at most %(places)d decimal places.", places=NUMBER_PLACES)
        )
    return number
