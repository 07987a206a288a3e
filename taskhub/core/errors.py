"""Domain errors raised by services; views and commands turn them into responses."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the operation; the message is shown to the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The object asked for does not exist."""


class PermissionDenied(DomainError):
    """The acting user may not do this."""


class ValidationFailed(DomainError):
    """Input data is invalid; ``problems`` lists each problem with its location."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
