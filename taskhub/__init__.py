"""TaskHub: track digital-government construction plans.

Importing the package imports nothing else: ``taskhub --help``, the gunicorn master
(deploy/gunicorn.conf.py) and the models stay lean; ``create_app`` loads the app on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskhub.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from taskhub.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
