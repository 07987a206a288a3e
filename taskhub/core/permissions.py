"""Server-side permission checks for views: every route declares who may use it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, request
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])

#: Roles that may read every plan, unit and contact.
READ_ALL = ("admin", "office", "assessor", "viewer")
#: Roles that may change any plan's data.
STAFF = ("admin", "office")


def roles_required(*roles: str) -> Callable[[F], F]:
    """Require a signed-in user with one of ``roles`` (no roles: any signed-in user).

    Anonymous users are sent to the login page (JSON clients get 401); signed-in users
    without the role get 403.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if request.accept_mimetypes.best == "application/json":
                    abort(401)
                # Imported here: services import this module, and commands and jobs that run
                # them need no sign-in machinery (Flask-WTF, Flask-Babel) at start.
                from taskhub.extensions import login_manager

                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


login_required = roles_required()
