"""What the account pages say when a rule refuses a change, in the reader's language."""

from __future__ import annotations

from flask_babel import gettext as _

from taskhub.accounts import passwords
from taskhub.core.errors import DomainError


def account_error(exc: DomainError) -> str:
    """The translated message for a refused account change (WeakPassword, AccountRefused)."""
    code = getattr(exc, "code", None)
    if code == "too_short":
        return _(
            "The password must have at least %(n)d characters.", n=passwords.MIN_PASSWORD_LENGTH
        )
    if code == "too_long":
        return _(
            "The password must have at most %(n)d characters.", n=passwords.MAX_PASSWORD_LENGTH
        )
    messages = {
        "like_username": _("The password must not be the user name or close to it."),
        "too_guessable": _(
            "This password is too easy to guess: avoid common passwords, words and names, "
            "keyboard patterns, repeats, sequences and dates. A phrase of several uncommon "
            "words is both strong and easy to remember."
        ),
        "needs_unit": _("Unit staff and assessors need a unit."),
        "exists": _("A user with this name already exists."),
        "username_required": _("Enter a user name."),
        "unknown_role": _("Choose a role from the list."),
        "last_admin": _(
            "The last enabled administrator cannot be disabled or given another role; "
            "make another user an administrator first."
        ),
        "wrong_current": _("The current password is wrong."),
        "own_password": _(
            "Change your own password on your account page (it asks for the current one)."
        ),
        "unchanged": _("The new password must differ from the current one."),
    }
    if code in messages:
        return messages[code]
    return _("Not saved: %(problem)s", problem=exc.message)
