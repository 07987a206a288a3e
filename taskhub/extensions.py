"""Flask extensions, created unbound and initialised in the app factory.

Flask-Migrate (it imports Alembic and Mako) is set up in the factory's own step, so that
commands and jobs that import these extensions do not import Alembic.
"""

from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from taskhub.core.db import db

__all__ = ["babel", "csrf", "db", "login_manager"]

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
