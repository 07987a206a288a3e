"""The application factory: a list of named setup steps."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, g, has_request_context, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from taskhub.config import PROJECT_ROOT, Config
from taskhub.core.db import db

logger = logging.getLogger(__name__)

#: psycopg's "no transaction open" state (``pq.TransactionStatus.IDLE``).
_IDLE = 0


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    """Build the Flask app; never starts the scheduler (see taskhub.scheduler)."""
    app = _new_app(config, overrides)
    _configure_logging(app)
    _configure_database(app)
    _configure_extensions(app)
    _configure_evidence(app)
    _configure_auth(app)
    _configure_security(app)
    _configure_i18n(app)
    _register_blueprints(app)
    _register_api(app)
    _register_error_handlers(app)
    _register_template_helpers(app)
    _register_cli(app)
    return app


def _new_app(config: Config | None, overrides: dict[str, Any]) -> Flask:
    config = config or Config()
    config.finalize()
    app = Flask(
        "taskhub",
        instance_path=config.INSTANCE_PATH,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_object(config)
    app.config.update(overrides)
    return app


def _configure_logging(app: Flask) -> None:
    """Structured logs with a request id on every line (taskhub.core.logs)."""
    from taskhub.core import logs

    logs.init_app(app)


def _configure_security(app: Flask) -> None:
    """Security headers, session expiry, sign-in throttling (taskhub.core.security)."""
    from taskhub.core import security

    security.init_app(app)


def _configure_database(app: Flask) -> None:
    """Every table, the engine, and the dialect's settings (SQLite pragmas, PostgreSQL reads)."""
    import taskhub.models  # noqa: F401  (register every table)

    # SQLite: a file on this host never drops a connection, no SELECT 1 before every request.
    # PostgreSQL: _configure_postgresql checks a connection without a round trip instead of
    # SQLAlchemy's pre-ping (a statement of its own on every checkout).
    # (A copy: the Config object may build other apps.)
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    check = options.pop("pool_pre_ping", False)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql":
            _configure_postgresql(db.engine, check_connections=bool(check))
            # Registered after db.init_app, so it runs before Flask-SQLAlchemy's own teardown.
            app.teardown_appcontext(_end_reads_with_commit)
            from taskhub.core import replica

            replica.init_app(app)


def _configure_extensions(app: Flask) -> None:
    from flask_migrate import Migrate

    from taskhub.extensions import csrf

    # Batch mode lets later migrations alter SQLite tables (it cannot ALTER most things).
    Migrate(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    from taskhub.core import api

    api.init_app(app)


def _configure_evidence(app: Flask) -> None:
    """Evidence files a failed request stored are removed when it ends (taskhub.evidence)."""
    from taskhub.evidence import services

    services.init_app(app)


def _end_reads_with_commit(exc: BaseException | None) -> None:
    """End a transaction that wrote nothing with COMMIT instead of the usual ROLLBACK.

    psycopg forgets its prepared statements at every ROLLBACK, and every read-only request
    ended with one, so PostgreSQL planned each statement anew on every request (about 1 ms
    for the assignment list's rows). A COMMIT of a transaction without a transaction id is
    the same as a ROLLBACK for the data; anything that wrote, or failed, is rolled back as
    before.
    """
    if exc is not None or not db.session.registry.has():
        return
    current = db.session()
    if not current.in_transaction():
        return
    try:
        if not _server_transaction(current.connection()):
            # Only statements that read ran, outside any transaction (READS_ONLY): nothing to
            # commit or roll back, and the pool's reset on return sends nothing either.
            return
        wrote = current.execute(text("SELECT txid_current_if_assigned()")).scalar()
        if wrote is None and not (current.new or current.dirty or current.deleted):
            # Without expiring the objects: a streamed response (the ledger's export) goes on
            # reading them, e.g. the signed-in user, after this teardown has run.
            current.expire_on_commit = False
            current.commit()
    except SQLAlchemyError:
        current.rollback()


def _server_transaction(connection: Any) -> bool:
    """Whether PostgreSQL has a transaction open on this connection (psycopg's own state, no
    round trip)."""
    from psycopg import pq

    status = connection.connection.dbapi_connection.info.transaction_status
    return bool(status != pq.TransactionStatus.IDLE)


#: A connection idle longer than this is pinged at checkout (``pool_pre_ping``), however
#: quiet its socket: a connection dropped silently on the way (a firewall) says nothing.
PING_AFTER_IDLE_SECONDS = 10.0


def _configure_postgresql(engine: Any, *, check_connections: bool) -> None:
    """Round trips a read-only request need not make (issue 17).

    - **No BEGIN for reads.** A connection is handed out in autocommit mode; statements marked
      :data:`taskhub.core.db.READS_ONLY` (a plain SELECT) run as they are, and the first
      statement that is not marked switches the connection back to a transaction before it
      runs (psycopg then sends BEGIN first, as it always did). Whatever may write, lock or
      set state is therefore in a transaction, committed or rolled back as before
      (:func:`_end_reads_with_commit`). Under READ COMMITTED every statement sees its own
      snapshot anyway, so reads before the BEGIN see what they would have seen after it.
      A request that only read ends with neither COMMIT nor ROLLBACK (psycopg keeps its
      prepared statements), and without the ``txid_current_if_assigned()`` question.
    - **No ping per checkout** (``pool_pre_ping``): a connection is pinged only when its socket
      has something to say while idle (the server closed it: a restart, a terminated backend)
      or when it has been idle for :data:`PING_AFTER_IDLE_SECONDS`; a dead one is replaced.
    """
    import select as select_module
    import time as time_module

    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    from taskhub.core.db import READS_ONLY

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record is None:
            return
        record.info["idle_since"] = time_module.monotonic()
        # Back in the pool as it came: a connection that only read is still in the autocommit
        # mode given at checkout (the pool's reset left it without a transaction).
        deferred = record.info.pop("deferred_begin", False)
        if deferred and dbapi_connection is not None and not dbapi_connection.closed:
            dbapi_connection.autocommit = False

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if check_connections:
            idle_since = record.info.get("idle_since")
            stale = (
                idle_since is None or time_module.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS
            )
            try:
                if dbapi_connection.closed:
                    raise DisconnectionError("closed")
                said_something, _, _ = select_module.select([dbapi_connection.fileno()], [], [], 0)
                if stale or said_something:
                    engine.dialect.do_ping(dbapi_connection)
            except DisconnectionError:
                raise
            except Exception as error:  # the ping failed: let the pool open another one
                raise DisconnectionError(str(error)) from error
        deferred = (
            not dbapi_connection.autocommit and dbapi_connection.info.transaction_status == _IDLE
        )
        if deferred:
            dbapi_connection.autocommit = True
        proxy.info["deferred_begin"] = deferred

    @event.listens_for(engine, "before_cursor_execute")
    def begin_unless_reading(
        conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: bool
    ) -> None:
        fairy = conn.connection
        if not fairy.info.get("deferred_begin"):
            return
        options = context.execution_options if context is not None else {}
        if options.get(READS_ONLY):
            return
        fairy.info["deferred_begin"] = False
        # An isolation level set for this connection (SQLAlchemy set autocommit itself) stays.
        if "isolation_level" not in options and fairy.dbapi_connection.autocommit:
            fairy.dbapi_connection.autocommit = False


def _configure_sqlite(engine: Any) -> None:
    """Make SQLite behave: real transactions (savepoints work), foreign keys, WAL; the file
    (it holds password hashes) is readable by the service account only. A writer's
    transaction takes the write lock at BEGIN (BEGIN IMMEDIATE, see ``_expects_writes``); a
    reader's BEGIN waits for its first statement that is not a marked read (``READS_ONLY``)."""
    from sqlalchemy import event

    from taskhub.core.db import READS_ONLY
    from taskhub.core.files import private_sqlite_file

    @event.listens_for(engine, "do_connect")
    def before_connect(*_: Any) -> None:
        # Before SQLite opens (and maybe creates) the file: 0600, not the umask's 0644.
        private_sqlite_file(engine.url.database)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        if _expects_writes():
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # Deferred until a statement that is not a marked read (as on PostgreSQL): a
            # request that only runs READS_ONLY statements (the API's lists) needs neither
            # BEGIN nor COMMIT, each SELECT reading its own snapshot.
            conn.connection.info["deferred_begin"] = True

    @event.listens_for(engine, "before_cursor_execute")
    def begin_unless_reading(
        conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: bool
    ) -> None:
        info = conn.connection.info
        if not info.get("deferred_begin"):
            return
        if context is not None and context.execution_options.get(READS_ONLY):
            return
        info["deferred_begin"] = False
        cursor.execute("BEGIN")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def on_end(conn: Any) -> None:
        if not conn.invalidated:  # (an invalidated connection's info is not to be reached)
            conn.connection.info["deferred_begin"] = False


#: Requests that only read; every other method's transactions take SQLite's write lock first.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _expects_writes() -> bool:
    """Whether the transaction about to begin is for writing: a request that may change
    something, or a scheduled job (``taskhub.core.db.writing``).

    A plain (deferred) BEGIN reads first; in WAL mode, if another connection commits before
    this one's first write, SQLite cannot turn the read into a write and fails at once
    ("database is locked", SQLITE_BUSY_SNAPSHOT) without waiting under ``busy_timeout``.
    BEGIN IMMEDIATE takes the write lock at the start, so writers queue instead. Reads keep a
    plain BEGIN and stay concurrent.
    """
    from taskhub.core.db import is_writing

    if is_writing():
        return True
    return has_request_context() and request.method not in _READ_METHODS


def _configure_auth(app: Flask) -> None:
    from taskhub.accounts.models import User
    from taskhub.extensions import login_manager

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None  # the login page explains itself
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        # Checked on every request: a disabled user or an older session generation (after a
        # sign-out, a new password, "sign out everywhere") is signed out at once.
        from taskhub.accounts.services import session_user

        return session_user(session_id)


def _select_locale() -> str:
    from flask import current_app

    languages: list[str] = current_app.config["LANGUAGES"]
    if not has_request_context():  # services called from commands and jobs speak Chinese
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    if current_user.is_authenticated and current_user.locale in languages:
        return str(current_user.locale)
    # Chinese first: only an explicit choice switches to English.
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def _catalogue() -> Any:
    """This request's translations, looked up once (reset in ``remember_locale``)."""
    catalogue = g.get("catalogue")
    if catalogue is None:
        from flask_babel import get_translations

        catalogue = g.catalogue = get_translations()
    return catalogue


def _configure_i18n(app: Flask) -> None:
    from taskhub.core.i18n import translation_directory
    from taskhub.extensions import babel

    babel.init_app(
        app,
        locale_selector=_select_locale,
        # The package's compiled catalogues, or ones compiled now when a checkout lacks them.
        default_translation_directories=translation_directory(app.instance_path),
    )
    # Flask-Babel looks the catalogue up again on every _() call (tens of microseconds each);
    # a ledger page makes hundreds of them. Look it up once per request instead.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _catalogue().ugettext(s),
        ngettext=lambda s, p, n: _catalogue().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: _catalogue().unpgettext(c, s, p, n),
    )

    @app.get("/lang/<locale>")
    def set_language(locale: str) -> Response:
        """Switch the UI language and go back where the user was."""
        if locale in app.config["LANGUAGES"]:
            session["locale"] = locale
        target = request.referrer or url_for("plans.index")
        # Only follow same-site referrers.
        if not target.startswith(request.host_url):
            target = url_for("plans.index")
        return redirect(target)


def _register_blueprints(app: Flask) -> None:
    import taskhub.supervision.level_views  # noqa: F401  (the levels page on supervision_bp)
    from taskhub.accounts.views import bp as accounts_bp
    from taskhub.cadence.views import bp as cadence_bp
    from taskhub.calendar.views import bp as calendar_bp
    from taskhub.core import inputs
    from taskhub.dashboard.views import bp as dashboard_bp
    from taskhub.documents.views import bp as documents_bp
    from taskhub.imports.views import bp as imports_bp
    from taskhub.leaders.views import bp as leaders_bp
    from taskhub.ledger.views import bp as ledger_bp
    from taskhub.ops.health import bp as ops_bp
    from taskhub.plans.editor_views import bp as plan_editor_bp
    from taskhub.plans.views import bp as plans_bp
    from taskhub.reminders.views import bp as reminders_bp
    from taskhub.reports.views import bp as reports_bp
    from taskhub.scoring.views import bp as scoring_bp
    from taskhub.supervision.subtask_views import bp as subtasks_bp
    from taskhub.supervision.views import bp as supervision_bp
    from taskhub.tracking.views import bp as tracking_bp
    from taskhub.units.group_views import bp as groups_bp
    from taskhub.units.views import bp as units_bp
    from taskhub.webhooks.views import bp as webhooks_bp

    inputs.init_app(app)  # the <id:…> converter of page routes, before any route is added
    for blueprint in (
        accounts_bp,
        plans_bp,
        units_bp,
        tracking_bp,
        reminders_bp,
        calendar_bp,
        scoring_bp,
        reports_bp,
        dashboard_bp,
        ledger_bp,
        imports_bp,
        ops_bp,
        webhooks_bp,
        plan_editor_bp,
        groups_bp,
        documents_bp,
        cadence_bp,
        supervision_bp,
        subtasks_bp,
        leaders_bp,
    ):
        app.register_blueprint(blueprint)

    @app.get("/")
    def home() -> Response:
        """Each role's own page (taskhub.dashboard.landing); the sign-in page for others."""
        from taskhub.dashboard.landing import landing_url

        if not current_user.is_authenticated:
            return redirect(url_for("accounts.login"))
        return redirect(landing_url(current_user, seeds=app.config["SEEDS"]))

    @app.get("/favicon.ico")
    def favicon() -> Response:
        """Browsers and tools that ask for /favicon.ico get the SVG icon (pages link it)."""
        return redirect(url_for("static", filename="favicon.svg"), code=301)


#: Modules whose ``blp`` is mounted under /api/v1 (their routes carry the rest of the path).
API_MODULES = (
    "taskhub.plans.api",
    "taskhub.units.api",
    "taskhub.tracking.api",
    "taskhub.scoring.api",
    "taskhub.reports.api",
    "taskhub.webhooks.api",
    "taskhub.documents.api",
    "taskhub.cadence.api",
    "taskhub.supervision.api",
    "taskhub.supervision.handover_api",
    "taskhub.supervision.subtasks_api",
    "taskhub.leaders.api",
)


def _register_api(app: Flask) -> None:
    """Mount every domain's api.py; token-authenticated, so exempt from CSRF."""
    import importlib

    from taskhub.core.api import PREFIX, api
    from taskhub.extensions import csrf

    # Chinese text is most of every answer: send it as UTF-8, not as \uXXXX escapes (a
    # 100-item list shrinks from 172 KB to 113 KB and encodes faster), and say so.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.mimetype = "application/json; charset=utf-8"  # type: ignore[attr-defined]
    for module_name in API_MODULES:
        blp = importlib.import_module(module_name).blp
        api.register_blueprint(blp, url_prefix=PREFIX)
        csrf.exempt(blp)


def _register_error_handlers(app: Flask) -> None:
    from flask import render_template
    from werkzeug.exceptions import HTTPException

    from taskhub.core.api import error_response, is_api_request

    def handle(error: HTTPException) -> Any:
        if is_api_request():
            return error_response(error)
        if error.code in (400, 403, 404, 413, 500):
            return render_template("error.html", code=error.code), error.code
        return error

    # Unhandled exceptions arrive here as InternalServerError (after Flask logs them).
    app.register_error_handler(HTTPException, handle)
    _register_outage_handlers(app)


def _register_outage_handlers(app: Flask) -> None:
    """Database errors that are not bugs: a collision with a concurrent change answers 409
    (taskhub.core.conflicts), the database briefly unreachable 503 with Retry-After
    (taskhub.core.outages), and so does the evidence object store; anything else goes on to
    the usual 500."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from sqlalchemy.orm.exc import StaleDataError

    from taskhub.core.conflicts import conflict_response, is_conflict
    from taskhub.core.outages import database_unavailable, storage_unavailable
    from taskhub.core.storage import StorageUnavailable

    def on_database_error(error: Exception) -> Any:
        if is_conflict(error):
            return conflict_response(error)
        return database_unavailable(error)  # re-raises what is not an outage

    app.register_error_handler(DBAPIError, on_database_error)
    app.register_error_handler(PoolTimeout, database_unavailable)
    app.register_error_handler(StaleDataError, conflict_response)
    app.register_error_handler(StorageUnavailable, storage_unavailable)


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import refresh

    from taskhub.core.numbers import format_points

    app.add_template_filter(format_points, "points")
    from taskhub.units.services import source_label

    app.add_template_filter(source_label, "list_source")
    from taskhub.scoring.labels import period_text

    # 2022-H1 → 2022年上半年: period codes stay in URLs and form values, never in the text.
    app.add_template_filter(period_text, "period")

    from taskhub.core.dates import cn_date, cn_datetime
    from taskhub.core.sections import section_label

    # 2026年12月7日 04:58 / 7 Dec 2026 04:58, in the office's time zone.
    app.add_template_filter(cn_datetime, "cn_datetime")

    @app.template_filter("cn_date")
    def cached_cn_date(value: Any) -> str:
        """2026年12月7日 / 7 Dec 2026 (a timestamp gives the office's day)."""
        if value is None:
            return ""
        # Long lists repeat the same few dates; each is formatted once per request.
        cache = g.get("dates")
        if cache is None:
            cache = g.dates = {}
        text = cache.get(value)
        if text is None:
            text = cache[value] = cn_date(value)
        return text

    # 一 + 政务服务 → 一、政务服务; （一） and 1. keep their own marks.
    app.add_template_filter(section_label, "section_label")
    app.add_template_global(section_label, "section_label")

    from taskhub.core.labels import field_error, label
    from taskhub.core.navigation import main_menu

    @app.context_processor
    def labels() -> dict[str, Any]:
        return {
            "label": label,
            "role_label": lambda code: label("role", code),
            "kind_label": lambda code: label("unit_kind", code),
            "field_error": field_error,
            "main_menu": main_menu,
        }

    @app.before_request
    def remember_locale() -> None:
        # Flask-Babel caches the locale on the app context, which a reused context would keep.
        refresh()
        g.catalogue = g.labels = g.dates = g.main_menu = g.touched_units = None
        g.locale = _select_locale()
        g.request_started = time.perf_counter()

    @app.after_request
    def server_timing(response: Response) -> Response:
        # The app's own time for the request (browser dev tools and bench/ read it).
        started = g.get("request_started")
        if started is not None:
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
        return response


def _register_cli(app: Flask) -> None:
    from taskhub.cli import register_commands

    register_commands(app)
