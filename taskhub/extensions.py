"""Flask extensions, created unbound and initialised in the app factory."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

from taskhub.core.db import db

__all__ = ["babel", "csrf", "db", "login_manager", "migrate"]

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()
