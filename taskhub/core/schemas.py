"""marshmallow pieces shared by every domain's schemas.py (no flask-smorest, no Flask).

Kept apart from taskhub.core.api so that a command that only dumps rows (``taskhub plan list
--json``) imports marshmallow alone, not the API machinery; taskhub.core.api re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow.exceptions import ValidationError as MarshmallowError

from taskhub.core.limits import MAX_ID

#: Validates an id given as input (query or body): 1 to MAX_ID.
ID_RANGE = validate.Range(min=1, max=MAX_ID)


def no_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL characters; refuse them as input, not at the database."""
    if "\x00" in value:
        raise MarshmallowError("must not contain NUL characters")


class DecimalString(fields.Decimal):
    """An exact decimal written as a JSON string (never a float); input: string or number."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("as_string", True)
        super().__init__(**kwargs)


class ListArgs(Schema):
    """Sorting shared by every list (``sort=due_on`` or ``sort=-due_on``); paging is separate."""

    class Meta:
        unknown = EXCLUDE

    sort = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "A sort key of this list; '-' in front sorts descending."},
    )


def sort_args(keys: Sequence[str], default: str) -> type[ListArgs]:
    """ListArgs whose ``sort`` accepts exactly ``keys`` (each also with a leading '-')."""
    choices = [*keys, *(f"-{k}" for k in keys)]

    class Args(ListArgs):
        sort = fields.String(
            load_default=default,
            validate=validate.OneOf(choices),
            metadata={"description": f"One of {', '.join(keys)}; '-' in front sorts descending."},
        )

    return Args
