"""Configuration read from environment variables, with safe defaults.

Every key is documented in README.md ("Configuration").
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: The repository root: templates/, static/, seeds/ and migrations/ live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Production-leaning defaults; everything overridable by TASKHUB_* variables."""

    def __init__(self) -> None:
        self.INSTANCE_PATH = str(
            Path(_env("TASKHUB_INSTANCE_PATH", str(PROJECT_ROOT / "instance")) or "").resolve()
        )
        self.SQLALCHEMY_DATABASE_URI = _env(
            "TASKHUB_DATABASE_URL", f"sqlite:///{Path(self.INSTANCE_PATH) / 'taskhub.db'}"
        )
        self.SECRET_KEY = _env("TASKHUB_SECRET_KEY")
        self.TIMEZONE = _env("TASKHUB_TIMEZONE", "Asia/Shanghai")
        self.BASE_URL = _env("TASKHUB_BASE_URL", "http://127.0.0.1:5000")
        self.SEEDS_PATH = _env("TASKHUB_SEEDS_PATH", str(PROJECT_ROOT / "seeds"))
        # Evidence files (content-addressed), kept outside the web root.
        self.EVIDENCE_PATH = _env(
            "TASKHUB_EVIDENCE_PATH", str(Path(self.INSTANCE_PATH) / "evidence")
        )
        #: Largest evidence file, in bytes (TASKHUB_MAX_UPLOAD_MB, default 20).
        self.MAX_UPLOAD_BYTES = int(_env("TASKHUB_MAX_UPLOAD_MB", "20") or 20) * 1024 * 1024
        # A report may carry several files; the whole request is capped at five of them.
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_BYTES * 5 + 1024 * 1024
        # Mail (used by reminders).
        self.SMTP_HOST = _env("TASKHUB_SMTP_HOST", "127.0.0.1")
        self.SMTP_PORT = int(_env("TASKHUB_SMTP_PORT", "25") or 25)
        self.SMTP_USER = _env("TASKHUB_SMTP_USER")
        self.SMTP_PASSWORD = _env("TASKHUB_SMTP_PASSWORD")
        self.SMTP_TLS = _env_bool("TASKHUB_SMTP_TLS", False)
        self.MAIL_FROM = _env("TASKHUB_MAIL_FROM", "taskhub@localhost")
        # Flask and extensions.
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = {"pool_pre_ping": True}
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Secure cookies whenever the public address is https.
        self.SESSION_COOKIE_SECURE = (self.BASE_URL or "").startswith("https://")
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.PERMANENT_SESSION_LIFETIME = 8 * 3600
        self.BABEL_DEFAULT_LOCALE = "zh"
        self.BABEL_DEFAULT_TIMEZONE = self.TIMEZONE
        self.LANGUAGES = ["zh", "en"]
        self.WTF_CSRF_TIME_LIMIT = None
        self.TESTING = False

    def finalize(self) -> None:
        """Fill in what depends on the instance folder (the secret key file)."""
        if not self.SECRET_KEY:
            self.SECRET_KEY = _instance_secret(Path(self.INSTANCE_PATH))


class TestConfig(Config):
    """Used by the test suite: TASKHUB_TEST_DATABASE_URL picks the database."""

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret"
        self.SQLALCHEMY_DATABASE_URI = _env("TASKHUB_TEST_DATABASE_URL", "sqlite://")


def _instance_secret(instance: Path) -> str:
    """A per-instance random key kept in instance/secret_key, so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
