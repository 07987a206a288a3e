"""The password rule: one check used wherever a password is set (create, reset, own change,
the command line and the demo loader).

Strength is estimated by zxcvbn (Dropbox's estimator: common passwords, dictionary words,
names, keyboard patterns, repeats, sequences and dates, with l33t and reversed variants); a
password must reach ``MIN_SCORE`` and must not be the user name or a close variant of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from taskhub.core.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 10
#: Longer passwords are refused (and never hashed at sign-in): a pass phrase fits easily, and
#: the estimator's and the hash's cost grow with the length.
MAX_PASSWORD_LENGTH = 128
#: zxcvbn estimates at most this many leading characters (its own limit); the rest of a
#: longer pass phrase only adds strength.
ESTIMATED_LENGTH = 72
#: zxcvbn's score from 0 to 4; 3 means "safely unguessable: moderate protection from an
#: offline slow-hash scenario" (about 10^8 guesses or more).
MIN_SCORE = 3
#: Fewer characters than this left after removing the user name is "the name, plus a bit".
MIN_REST_BESIDES_NAME = 4
#: Words anyone guessing would try first for this site.
SITE_WORDS = ("taskhub", "督办", "督查")

_SEPARATORS = re.compile(r"[\W_]+")


class WeakPassword(ValidationFailed):
    """The password breaks the rule; ``code`` says which part (views translate it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, problems=["password"])
        self.code = code


def _plain(text: str) -> str:
    """Lower case without separators: "Zhang.Wei" and "zhang_wei" are the same name."""
    return _SEPARATORS.sub("", text.casefold())


def is_like_name(password: str, name: str) -> bool:
    """Whether ``password`` is ``name`` (or its reverse) with little else around it."""
    plain, key = _plain(password), _plain(name)
    if len(key) < 3:
        return False  # too short to be a meaningful part of a password
    for variant in (key, key[::-1]):
        if variant in plain and len(plain) - len(variant) < MIN_REST_BESIDES_NAME:
            return True
    return False


def check_password(password: str, *, username: str, context: Iterable[str | None] = ()) -> None:
    """Raise WeakPassword unless ``password`` may be used by ``username``.

    ``context`` adds words the estimator should treat as known to a guesser (the display
    name, the email address).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            "too_short", f"password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            "too_long", f"password must have at most {MAX_PASSWORD_LENGTH} characters"
        )
    names = [username, *(c for c in context if c)]
    # An email address counts by its local part too ("zhang.wei" of zhang.wei@example.org).
    names += [n.split("@", 1)[0] for n in names if "@" in n]
    if any(is_like_name(password, name) for name in names):
        raise WeakPassword("like_username", "password must not be the user name or close to it")
    # Imported here: zxcvbn's dictionaries take some 12 MiB, which a web worker that never
    # sets a password does not need (issue 17).
    from zxcvbn import zxcvbn

    words = [*names, *(_plain(n) for n in names), *SITE_WORDS]
    estimate = zxcvbn(password[:ESTIMATED_LENGTH], user_inputs=words, max_length=ESTIMATED_LENGTH)
    if estimate["score"] < MIN_SCORE:
        raise WeakPassword(
            "too_guessable",
            "password is too easy to guess (common words, names, sequences, repeats or dates)",
        )
