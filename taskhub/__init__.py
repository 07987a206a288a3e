"""TaskHub: track digital-government construction plans."""

from taskhub.app import create_app

__all__ = ["create_app"]
