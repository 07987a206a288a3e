"""Configuration read from environment variables, with safe defaults.

Every key is documented in docs/configuration.md. Bad values never crash with a
traceback: they are collected as problems, and :meth:`Config.finalize` (called by the app
factory) refuses to start with all of them listed, each naming its variable.
`taskhub config check` prints the effective settings (secrets masked) and the problems.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskhub.core.outbound import parse_allow

if TYPE_CHECKING:
    # SQLAlchemy is imported where a URL is parsed: `taskhub jobs list` and `plan list`
    # read through the driver alone and never load it (taskhub.core.rawdb).
    from sqlalchemy.engine import URL

#: Where the templates, static files, migrations and seeds are: beside the package in a
#: checkout; inside it (taskhub/bundled, put there by setup.py's build step) once installed
#: from a built package, where nothing of the checkout is at hand.
_BUNDLED = Path(__file__).resolve().parent / "bundled"
_CHECKOUT = Path(__file__).resolve().parent.parent
PROJECT_ROOT = _BUNDLED if (_BUNDLED / "templates").is_dir() else _CHECKOUT

#: Database drivers TaskHub runs on (psycopg 3 is the installed PostgreSQL driver).
SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
LOG_FORMATS = ("text", "json")
#: TASKHUB_SEEDS: load the shipped plans and the demo, or start empty.
SEEDS_CHOICES = ("all", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: An explicitly set secret key shorter than this is refused outside the tests.
MIN_SECRET_KEY_LENGTH = 32
#: Seconds a new PostgreSQL connection may take before the request (or /readyz) gives up.
DB_CONNECT_TIMEOUT = 5

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class ConfigProblem:
    """One bad setting, named by its environment variable."""

    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


class ConfigError(Exception):
    """The configuration has problems; the message lists every one of them."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the configuration has {len(problems)} problem(s):\n{lines}")


def normalize_database_url(value: str) -> str:
    """``postgresql://`` and ``postgres://`` mean the installed psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value


def mask_url(value: str | None) -> str:
    """A database URL with its password replaced by ***, for display and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not value:
        return ""
    try:
        return make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def database_password(value: str | None) -> str | None:
    """The password in a database URL, if any (so logs can scrub it verbatim)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(value or "").password
    except ArgumentError:
        return None
    return str(password) if password else None


def directory_problem(path: str | Path) -> str | None:
    """Why files cannot be written under ``path`` (it may not exist yet), or None."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        return f"{target} exists but is not a folder"
    # The nearest existing folder decides whether the missing ones can be created.
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            return f"no part of {target} exists"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder, so {target} cannot be created"
    if not os.access(probe, os.W_OK | os.X_OK):
        user = _user_name()
        if probe == target:
            return f"{target} is not writable by {user}"
        return f"{target} does not exist and {probe} is not writable by {user}"
    return None


def free_space_problem(path: str | Path, min_free_mb: int) -> str | None:
    """Why the filesystem holding ``path`` is too full (below ``min_free_mb``), or None."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError as exc:
        return f"the free space of {probe} is unknown ({exc.strerror})"
    if free < min_free_mb * 1024 * 1024:
        return f"{probe} has {free // (1024 * 1024)} MB free, under the floor of {min_free_mb} MB"
    return None


def _user_name() -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(os.getuid()).pw_name}"
    except (ImportError, KeyError):  # pragma: no cover - not POSIX, or no passwd entry
        return "this user"


class Config:
    """Production-leaning defaults; everything overridable by TASKHUB_* variables."""

    def __init__(self) -> None:
        #: Values that did not parse (found while reading the environment).
        self.parse_problems: list[ConfigProblem] = []
        self.INSTANCE_PATH = str(
            Path(_env("TASKHUB_INSTANCE_PATH", str(PROJECT_ROOT / "instance")) or "").resolve()
        )
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            _env("TASKHUB_DATABASE_URL", f"sqlite:///{Path(self.INSTANCE_PATH) / 'taskhub.db'}")
            or ""
        )
        #: A PostgreSQL streaming replica the heavy read pages may read (taskhub.core.replica;
        #: unset: everything reads the primary).
        self.DATABASE_REPLICA_URL = normalize_database_url(
            _env("TASKHUB_DATABASE_REPLICA_URL") or ""
        )
        #: The replica is read only while it lags at most this many seconds.
        self.REPLICA_MAX_LAG_SECONDS = self._int(
            "TASKHUB_REPLICA_MAX_LAG_SECONDS", 5, minimum=0, maximum=3600
        )
        self.SECRET_KEY = _env("TASKHUB_SECRET_KEY")
        #: Keys the audit trail's digests and checkpoints (taskhub.audit); unset: derived
        #: from the secret key in finalize().
        self.AUDIT_KEY = _env("TASKHUB_AUDIT_KEY")
        #: Signed audit checkpoints, one JSON line each (unset: instance/audit-checkpoints.log).
        self.AUDIT_CHECKPOINT_LOG = _env("TASKHUB_AUDIT_CHECKPOINT_LOG")
        self.TIMEZONE = _env("TASKHUB_TIMEZONE", "Asia/Shanghai")
        self.BASE_URL = _env("TASKHUB_BASE_URL", "http://127.0.0.1:5000")
        self.SEEDS_PATH = _env("TASKHUB_SEEDS_PATH", str(PROJECT_ROOT / "seeds"))
        #: What `taskhub seed load` and `taskhub demo load` put in: "all" (the shipped plans
        #: and the living demo) or "none" (an empty installation: the admin's setup checklist).
        self.SEEDS = (_env("TASKHUB_SEEDS", "all") or "all").strip().lower()
        # Evidence files (content-addressed), kept outside the web root.
        self.EVIDENCE_PATH = _env(
            "TASKHUB_EVIDENCE_PATH", str(Path(self.INSTANCE_PATH) / "evidence")
        )
        #: Evidence in an S3-compatible object store instead (s3://bucket/prefix; unset: the
        #: folder above). The TASKHUB_S3_* settings say how to reach it (taskhub.core.s3storage).
        self.EVIDENCE_URL = _env("TASKHUB_EVIDENCE_URL")
        #: The store's address (http(s)://host:port); unset: AWS S3 for the region.
        self.S3_ENDPOINT = _env("TASKHUB_S3_ENDPOINT")
        #: Unset both: boto3's own credential chain (environment, instance role).
        self.S3_ACCESS_KEY = _env("TASKHUB_S3_ACCESS_KEY")
        self.S3_SECRET_KEY = _env("TASKHUB_S3_SECRET_KEY")
        self.S3_REGION = _env("TASKHUB_S3_REGION", "us-east-1")
        #: path (MinIO, most private stores) or virtual (bucket.host: Aliyun OSS, AWS).
        self.S3_ADDRESSING = (_env("TASKHUB_S3_ADDRESSING", "path") or "path").strip().lower()
        #: stream: the app serves evidence (the store need not be reachable from browsers);
        #: signed: the app checks permission, then redirects to a short-lived signed URL.
        self.S3_DOWNLOADS = (_env("TASKHUB_S3_DOWNLOADS", "stream") or "stream").strip().lower()
        self.S3_SIGNED_URL_SECONDS = self._int(
            "TASKHUB_S3_SIGNED_URL_SECONDS", 60, minimum=5, maximum=3600
        )
        #: Largest evidence file, in bytes (TASKHUB_MAX_UPLOAD_MB, default 20).
        self.MAX_UPLOAD_BYTES = (
            self._int("TASKHUB_MAX_UPLOAD_MB", 20, minimum=1, maximum=1024) * 1024 * 1024
        )
        #: /readyz reports storage as failing below this many MB free (0: no floor).
        self.STORAGE_MIN_FREE_MB = self._int(
            "TASKHUB_STORAGE_MIN_FREE_MB", 100, minimum=0, maximum=1024 * 1024
        )
        #: Where `taskhub backup` writes by default and where `taskhub backup --check` and
        #: /readyz look for the newest backup (unset: no default folder, /readyz silent).
        self.BACKUP_PATH = _env("TASKHUB_BACKUP_PATH")
        #: The newest backup may be this many hours old before `backup --check` fails.
        self.BACKUP_MAX_AGE_HOURS = self._int(
            "TASKHUB_BACKUP_MAX_AGE_HOURS", 26, minimum=1, maximum=24 * 366
        )
        #: Who `taskhub alert` mails when a unit fails (comma-separated; unset: journal only).
        self.ALERT_MAIL = [
            address.strip()
            for address in (_env("TASKHUB_ALERT_MAIL") or "").split(",")
            if address.strip()
        ]
        # A report may carry several files; the whole request is capped at five of them plus
        # 1 MiB for the form's text. Bodies without files (JSON, plain forms) are capped at
        # MAX_BODY_BYTES (taskhub.core.inputs), one text field of a multipart form at
        # MAX_FORM_MEMORY_SIZE: the longest text field (20,000 characters) fits in either.
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_BYTES * 5 + 1024 * 1024
        self.MAX_BODY_BYTES = 1024 * 1024
        self.MAX_FORM_MEMORY_SIZE = 512 * 1024
        self.MAX_FORM_PARTS = 1000
        # Mail (used by reminders).
        self.SMTP_HOST = _env("TASKHUB_SMTP_HOST", "127.0.0.1")
        self.SMTP_PORT = self._int("TASKHUB_SMTP_PORT", 25, minimum=1, maximum=65535)
        self.SMTP_USER = _env("TASKHUB_SMTP_USER")
        self.SMTP_PASSWORD = _env("TASKHUB_SMTP_PASSWORD")
        self.SMTP_TLS = self._bool("TASKHUB_SMTP_TLS", False)
        self.MAIL_FROM = _env("TASKHUB_MAIL_FROM", "taskhub@localhost")
        # Outgoing requests (taskhub.core.outbound): hosts or IP addresses that robot URLs and
        # webhook endpoints may use besides the official robots and public addresses.
        self.WEBHOOK_ALLOW, bad_hosts = parse_allow(_env("TASKHUB_WEBHOOK_ALLOW"))
        if bad_hosts:
            self._problem(
                "TASKHUB_WEBHOOK_ALLOW",
                f"{', '.join(map(repr, bad_hosts))}: write host names or IP addresses only, "
                "separated by commas (for example dash.example.gov.cn,10.20.30.40)",
            )
        # Sign-in throttling (taskhub.accounts.throttle) and session expiry
        # (taskhub.core.security). 0 turns a failure limit off.
        self.LOGIN_MAX_FAILURES = self._int("TASKHUB_LOGIN_MAX_FAILURES", 5, minimum=0)
        self.LOGIN_MAX_FAILURES_PER_USER = self._int(
            "TASKHUB_LOGIN_MAX_FAILURES_PER_USER", 10, minimum=0
        )
        self.LOGIN_MAX_FAILURES_PER_ADDRESS = self._int(
            "TASKHUB_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=0
        )
        self.LOGIN_WINDOW_MINUTES = self._int("TASKHUB_LOGIN_WINDOW_MINUTES", 60, minimum=1)
        self.LOGIN_DELAY_SECONDS = self._int("TASKHUB_LOGIN_DELAY_SECONDS", 30, minimum=1)
        self.LOGIN_MAX_DELAY_MINUTES = self._int("TASKHUB_LOGIN_MAX_DELAY_MINUTES", 15, minimum=1)
        self.LOGIN_KNOWN_ADDRESS_DAYS = self._int("TASKHUB_LOGIN_KNOWN_ADDRESS_DAYS", 30, minimum=1)
        self.SESSION_IDLE_MINUTES = self._int("TASKHUB_SESSION_IDLE_MINUTES", 120, minimum=1)
        #: Days an invitation link (a new user sets their own password) stays usable
        #: (taskhub.accounts.invitations).
        self.INVITATION_DAYS = self._int("TASKHUB_INVITATION_DAYS", 7, minimum=1, maximum=90)
        #: Seconds the scheduler lease lasts (taskhub.jobs): a standby scheduler takes over
        #: at most this long after the active one died (renewed every third of it).
        self.SCHEDULER_LEASE_SECONDS = self._int(
            "TASKHUB_SCHEDULER_LEASE_SECONDS", 90, minimum=3, maximum=3600
        )
        # Operations (taskhub.core.logs): reverse proxies to trust, log format and level.
        self.PROXY_COUNT = self._int("TASKHUB_PROXY_COUNT", 0, minimum=0, maximum=5)
        self.LOG_FORMAT = (_env("TASKHUB_LOG_FORMAT", "text") or "text").strip().lower()
        self.LOG_LEVEL = (_env("TASKHUB_LOG_LEVEL", "INFO") or "INFO").strip().upper()
        # Flask and extensions.
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
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

    # -- reading ---------------------------------------------------------------------------

    def _int(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw = _env(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            self._problem(name, f"{raw!r} is not a whole number")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            if maximum is None:
                bounds = f"at least {minimum}"
            elif minimum is None:
                bounds = f"at most {maximum}"
            else:
                bounds = f"from {minimum} to {maximum}"
            self._problem(name, f"{value} is out of range (must be {bounds})")
            return default
        return value

    def _bool(self, name: str, default: bool) -> bool:
        raw = _env(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value not in _FALSE:
            self._problem(name, f"{raw!r} is not a yes/no value (write true or false)")
            return default
        return False

    def _problem(self, variable: str, message: str) -> None:
        self.parse_problems.append(ConfigProblem(variable, message))

    # -- checking --------------------------------------------------------------------------

    def validate(self, *, database_urls: bool = True) -> list[ConfigProblem]:
        """Every problem with the settings as they are now, in plain words; [] when fine.

        ``database_urls=False`` leaves out the database URLs (``database_problems``): parsing
        them imports SQLAlchemy, which the driver-only CLI listings check only on failure."""
        problems = list(self.parse_problems)
        if database_urls:
            problems += self.database_problems()
        if not self.TIMEZONE or not _known_timezone(self.TIMEZONE):
            problems.append(
                ConfigProblem(
                    "TASKHUB_TIMEZONE",
                    f"{self.TIMEZONE!r} is not a known time zone (for example Asia/Shanghai)",
                )
            )
        base = urlsplit(self.BASE_URL or "")
        if base.scheme not in ("http", "https") or not base.hostname:
            problems.append(
                ConfigProblem(
                    "TASKHUB_BASE_URL",
                    f"{self.BASE_URL!r} is not an http:// or https:// address "
                    "(for example https://taskhub.example.gov.cn)",
                )
            )
        if self.MAX_UPLOAD_BYTES <= 0:
            problems.append(ConfigProblem("TASKHUB_MAX_UPLOAD_MB", "must be a positive number"))
        # (The tests use a short fixed key; a generated instance key is 64 characters.)
        if (
            self.SECRET_KEY is not None
            and not self.TESTING
            and len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH
        ):
            problems.append(
                ConfigProblem(
                    "TASKHUB_SECRET_KEY",
                    f"is {len(self.SECRET_KEY)} characters long; use at least "
                    f"{MIN_SECRET_KEY_LENGTH} random characters "
                    '(python3 -c "import secrets; print(secrets.token_hex(32))")',
                )
            )
        if (
            self.AUDIT_KEY is not None
            and not self.TESTING
            and len(self.AUDIT_KEY) < MIN_SECRET_KEY_LENGTH
        ):
            problems.append(
                ConfigProblem(
                    "TASKHUB_AUDIT_KEY",
                    f"is {len(self.AUDIT_KEY)} characters long; use at least "
                    f"{MIN_SECRET_KEY_LENGTH} random characters, and never change it: "
                    "the audit trail is verified with it",
                )
            )
        if self.AUDIT_CHECKPOINT_LOG is not None:
            log = Path(self.AUDIT_CHECKPOINT_LOG)
            if log.is_dir():
                problems.append(
                    ConfigProblem(
                        "TASKHUB_AUDIT_CHECKPOINT_LOG", f"{log} is a folder; name a file in it"
                    )
                )
            elif problem := directory_problem(log.parent):
                problems.append(ConfigProblem("TASKHUB_AUDIT_CHECKPOINT_LOG", problem))
        if "@" not in (self.MAIL_FROM or ""):
            problems.append(
                ConfigProblem("TASKHUB_MAIL_FROM", f"{self.MAIL_FROM!r} is not an email address")
            )
        if self.SEEDS not in SEEDS_CHOICES:
            problems.append(ConfigProblem("TASKHUB_SEEDS", f"{self.SEEDS!r} is not all or none"))
        if self.LOG_FORMAT not in LOG_FORMATS:
            problems.append(
                ConfigProblem("TASKHUB_LOG_FORMAT", f"{self.LOG_FORMAT!r} is not text or json")
            )
        if self.LOG_LEVEL not in LOG_LEVELS:
            problems.append(
                ConfigProblem(
                    "TASKHUB_LOG_LEVEL",
                    f"{self.LOG_LEVEL!r} is not one of {', '.join(LOG_LEVELS)}",
                )
            )
        problems += self._object_store_problems()
        folders: list[tuple[str, str | None]] = [("TASKHUB_INSTANCE_PATH", self.INSTANCE_PATH)]
        if not self.EVIDENCE_URL:
            folders.append(("TASKHUB_EVIDENCE_PATH", self.EVIDENCE_PATH))
        for variable, path in folders:
            problem = directory_problem(path) if path else "is empty"
            if problem:
                problems.append(ConfigProblem(variable, problem))
        return problems

    def _object_store_problems(self) -> list[ConfigProblem]:
        """The TASKHUB_EVIDENCE_URL and TASKHUB_S3_* settings, when an object store is used."""
        if not self.EVIDENCE_URL:
            return []
        from taskhub.core.s3storage import ADDRESSING_STYLES, DOWNLOAD_MODES, parse_evidence_url

        problems = []
        try:
            parse_evidence_url(self.EVIDENCE_URL)
        except ValueError as exc:
            problems.append(ConfigProblem("TASKHUB_EVIDENCE_URL", str(exc)))
        if importlib.util.find_spec("boto3") is None:
            problems.append(
                ConfigProblem(
                    "TASKHUB_EVIDENCE_URL",
                    "needs boto3, which is not installed: pip install 'taskhub[s3]'",
                )
            )
        endpoint = urlsplit(self.S3_ENDPOINT or "")
        if self.S3_ENDPOINT and (endpoint.scheme not in ("http", "https") or not endpoint.hostname):
            problems.append(
                ConfigProblem(
                    "TASKHUB_S3_ENDPOINT",
                    f"{self.S3_ENDPOINT!r} is not an http:// or https:// address "
                    "(for example https://oss.example.gov.cn or http://10.0.0.5:9000)",
                )
            )
        if bool(self.S3_ACCESS_KEY) != bool(self.S3_SECRET_KEY):
            problems.append(
                ConfigProblem(
                    "TASKHUB_S3_SECRET_KEY" if self.S3_ACCESS_KEY else "TASKHUB_S3_ACCESS_KEY",
                    "set both TASKHUB_S3_ACCESS_KEY and TASKHUB_S3_SECRET_KEY, or neither",
                )
            )
        if self.S3_ADDRESSING not in ADDRESSING_STYLES:
            problems.append(
                ConfigProblem(
                    "TASKHUB_S3_ADDRESSING", f"{self.S3_ADDRESSING!r} is not path or virtual"
                )
            )
        if self.S3_DOWNLOADS not in DOWNLOAD_MODES:
            problems.append(
                ConfigProblem(
                    "TASKHUB_S3_DOWNLOADS", f"{self.S3_DOWNLOADS!r} is not stream or signed"
                )
            )
        return problems

    def database_problems(self) -> list[ConfigProblem]:
        """The problems with TASKHUB_DATABASE_URL and TASKHUB_DATABASE_REPLICA_URL."""
        return _database_problems(self.SQLALCHEMY_DATABASE_URI) + _replica_problems(
            self.DATABASE_REPLICA_URL, self.SQLALCHEMY_DATABASE_URI
        )

    def finalize(self, *, database_urls: bool = True) -> None:
        """Refuse bad settings (ConfigError lists them all), then fill in derived values."""
        problems = self.validate(database_urls=database_urls)
        if problems:
            raise ConfigError(problems)
        if not self.SECRET_KEY:
            self.SECRET_KEY = _instance_secret(Path(self.INSTANCE_PATH))
        if not self.AUDIT_KEY:
            self.AUDIT_KEY = derived_audit_key(self.SECRET_KEY)
        if (self.SQLALCHEMY_DATABASE_URI or "").startswith("postgresql"):
            # Fail fast (and let /readyz answer) when the database host does not respond.
            connect_args = self.SQLALCHEMY_ENGINE_OPTIONS.setdefault("connect_args", {})
            connect_args.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)

    # -- showing ---------------------------------------------------------------------------

    def effective(self) -> list[tuple[str, str]]:
        """(variable, value) for every setting, secrets masked: what `config check` prints."""
        secret_note = (
            f"set ({len(self.SECRET_KEY)} characters, hidden)"
            if self.SECRET_KEY
            else "unset: generated once into TASKHUB_INSTANCE_PATH/secret_key"
        )
        rows = [
            ("TASKHUB_DATABASE_URL", mask_url(self.SQLALCHEMY_DATABASE_URI)),
            (
                "TASKHUB_DATABASE_REPLICA_URL",
                mask_url(self.DATABASE_REPLICA_URL) or "(unset: every page reads the primary)",
            ),
            ("TASKHUB_REPLICA_MAX_LAG_SECONDS", str(self.REPLICA_MAX_LAG_SECONDS)),
            ("TASKHUB_SECRET_KEY", secret_note),
            (
                "TASKHUB_AUDIT_KEY",
                f"set ({len(self.AUDIT_KEY)} characters, hidden)"
                if self.AUDIT_KEY
                else "unset: derived from the secret key",
            ),
            (
                "TASKHUB_AUDIT_CHECKPOINT_LOG",
                self.AUDIT_CHECKPOINT_LOG
                or str(Path(self.INSTANCE_PATH) / "audit-checkpoints.log"),
            ),
            ("TASKHUB_INSTANCE_PATH", self.INSTANCE_PATH),
            ("TASKHUB_EVIDENCE_PATH", str(self.EVIDENCE_PATH)),
            ("TASKHUB_EVIDENCE_URL", self.EVIDENCE_URL or "(unset: evidence in the folder)"),
            ("TASKHUB_S3_ENDPOINT", self.S3_ENDPOINT or "(unset)"),
            ("TASKHUB_S3_ACCESS_KEY", self.S3_ACCESS_KEY or "(unset)"),
            ("TASKHUB_S3_SECRET_KEY", "set (hidden)" if self.S3_SECRET_KEY else "(unset)"),
            ("TASKHUB_S3_REGION", str(self.S3_REGION)),
            ("TASKHUB_S3_ADDRESSING", self.S3_ADDRESSING),
            ("TASKHUB_S3_DOWNLOADS", self.S3_DOWNLOADS),
            ("TASKHUB_S3_SIGNED_URL_SECONDS", str(self.S3_SIGNED_URL_SECONDS)),
            ("TASKHUB_SEEDS_PATH", str(self.SEEDS_PATH)),
            ("TASKHUB_SEEDS", self.SEEDS),
            ("TASKHUB_TIMEZONE", str(self.TIMEZONE)),
            ("TASKHUB_BASE_URL", str(self.BASE_URL)),
            ("TASKHUB_MAX_UPLOAD_MB", str(self.MAX_UPLOAD_BYTES // (1024 * 1024))),
            ("TASKHUB_STORAGE_MIN_FREE_MB", str(self.STORAGE_MIN_FREE_MB)),
            ("TASKHUB_BACKUP_PATH", self.BACKUP_PATH or "(unset)"),
            ("TASKHUB_BACKUP_MAX_AGE_HOURS", str(self.BACKUP_MAX_AGE_HOURS)),
            ("TASKHUB_ALERT_MAIL", ",".join(self.ALERT_MAIL) or "(unset: journal only)"),
            ("TASKHUB_SMTP_HOST", str(self.SMTP_HOST)),
            ("TASKHUB_SMTP_PORT", str(self.SMTP_PORT)),
            ("TASKHUB_SMTP_USER", self.SMTP_USER or "(unset)"),
            ("TASKHUB_SMTP_PASSWORD", "set (hidden)" if self.SMTP_PASSWORD else "(unset)"),
            ("TASKHUB_SMTP_TLS", "true" if self.SMTP_TLS else "false"),
            ("TASKHUB_MAIL_FROM", str(self.MAIL_FROM)),
            ("TASKHUB_WEBHOOK_ALLOW", ",".join(self.WEBHOOK_ALLOW) or "(none)"),
            ("TASKHUB_LOGIN_MAX_FAILURES", str(self.LOGIN_MAX_FAILURES)),
            ("TASKHUB_LOGIN_MAX_FAILURES_PER_USER", str(self.LOGIN_MAX_FAILURES_PER_USER)),
            ("TASKHUB_LOGIN_MAX_FAILURES_PER_ADDRESS", str(self.LOGIN_MAX_FAILURES_PER_ADDRESS)),
            ("TASKHUB_LOGIN_WINDOW_MINUTES", str(self.LOGIN_WINDOW_MINUTES)),
            ("TASKHUB_LOGIN_DELAY_SECONDS", str(self.LOGIN_DELAY_SECONDS)),
            ("TASKHUB_LOGIN_MAX_DELAY_MINUTES", str(self.LOGIN_MAX_DELAY_MINUTES)),
            ("TASKHUB_LOGIN_KNOWN_ADDRESS_DAYS", str(self.LOGIN_KNOWN_ADDRESS_DAYS)),
            ("TASKHUB_INVITATION_DAYS", str(self.INVITATION_DAYS)),
            ("TASKHUB_SESSION_IDLE_MINUTES", str(self.SESSION_IDLE_MINUTES)),
            ("TASKHUB_PROXY_COUNT", str(self.PROXY_COUNT)),
            ("TASKHUB_LOG_FORMAT", self.LOG_FORMAT),
            ("TASKHUB_LOG_LEVEL", self.LOG_LEVEL),
        ]
        # A value that did not parse is shown as written, not as the default used instead.
        invalid = {p.variable for p in self.parse_problems}
        return [
            (name, f"{_env(name)!r} (invalid)" if name in invalid else value)
            for name, value in rows
        ]


class TestConfig(Config):
    """Used by the test suite: TASKHUB_TEST_DATABASE_URL picks the database."""

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret"
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            _env("TASKHUB_TEST_DATABASE_URL", "sqlite://") or "sqlite://"
        )
        # The tests' robot and webhook receivers listen on 127.0.0.1 (tests/servers.py); the
        # tests of the refusals empty the list.
        if _env("TASKHUB_WEBHOOK_ALLOW") is None:
            self.WEBHOOK_ALLOW = ("127.0.0.1",)


def _known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _database_problems(value: str | None) -> list[ConfigProblem]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    name = "TASKHUB_DATABASE_URL"
    try:
        url: URL = make_url(value or "")
    except ArgumentError:
        return [
            ConfigProblem(
                name,
                "is not a database URL (for example "
                "postgresql+psycopg://taskhub@127.0.0.1/taskhub or sqlite:////var/lib/taskhub/db)",
            )
        ]
    if url.drivername not in SUPPORTED_DRIVERS:
        return [
            ConfigProblem(
                name,
                f"{url.drivername!r} is not supported; TaskHub runs on PostgreSQL "
                "(postgresql+psycopg://…) or SQLite (sqlite:///…)",
            )
        ]
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        problem = directory_problem(Path(url.database).parent)
        if problem:
            return [ConfigProblem(name, f"the SQLite file cannot be created: {problem}")]
    if url.get_backend_name() == "postgresql" and not url.database:
        return [ConfigProblem(name, "names no database (…/taskhub at the end)")]
    return []


def _replica_problems(value: str | None, primary: str | None) -> list[ConfigProblem]:
    """TASKHUB_DATABASE_REPLICA_URL: a PostgreSQL database, beside a PostgreSQL primary."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not value:
        return []
    name = "TASKHUB_DATABASE_REPLICA_URL"
    try:
        url: URL = make_url(value)
    except ArgumentError:
        return [
            ConfigProblem(
                name,
                "is not a database URL (for example "
                "postgresql+psycopg://taskhub@10.0.0.22/taskhub)",
            )
        ]
    if url.drivername != "postgresql+psycopg":
        return [
            ConfigProblem(name, "must be a PostgreSQL streaming replica (postgresql+psycopg://…)")
        ]
    if not url.database:
        return [ConfigProblem(name, "names no database (…/taskhub at the end)")]
    if not (primary or "").startswith("postgresql"):
        return [
            ConfigProblem(
                name, "needs TASKHUB_DATABASE_URL on PostgreSQL (a replica of that database)"
            )
        ]
    return []


def derived_audit_key(secret_key: str) -> str:
    """The audit key when TASKHUB_AUDIT_KEY is unset: an HMAC of the secret key (so the
    audit trail never uses the session-signing key itself)."""
    return hmac.new(secret_key.encode(), b"taskhub audit key", hashlib.sha256).hexdigest()


def _instance_secret(instance: Path) -> str:
    """A per-instance random key kept in instance/secret_key, so sessions survive restarts."""
    from taskhub.core.files import make_private, private_folder, write_private

    path = instance / "secret_key"
    if not path.exists():
        private_folder(instance)
        # 0600 from the first byte, and complete before it has its name: a link fails when
        # another worker starting at the same moment got there first (its key is then used).
        draft = instance / f".secret_key-{os.getpid()}-{secrets.token_hex(4)}"
        write_private(draft, secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    make_private(path)
    return path.read_text().strip()
