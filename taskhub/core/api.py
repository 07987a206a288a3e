"""Shared plumbing of the JSON API (/api/v1): token authentication, errors, paging, sorting.

Every domain has an ``api.py`` with a flask-smorest ``Blueprint`` built by :func:`blueprint`;
the app factory registers them all under ``/api/v1``. Requests authenticate with a personal
token (``Authorization: Bearer thk_…``) and act with that user's permissions; cookies are
ignored here, so a browser session can never be used against the API (no CSRF surface).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import lru_cache, wraps
from typing import Any, ClassVar, NoReturn, TypeVar, cast

from flask import Flask, current_app, g, request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort as smorest_abort
from itsdangerous import BadData, URLSafeSerializer
from marshmallow import Schema, fields
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from taskhub.accounts.models import User
from taskhub.core import counts
from taskhub.core.db import db
from taskhub.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from taskhub.core.inputs import MAX_ID

# Re-exported: the schemas' shared pieces live in taskhub.core.schemas (no flask-smorest).
from taskhub.core.schemas import ID_RANGE as ID_RANGE
from taskhub.core.schemas import DecimalString as DecimalString
from taskhub.core.schemas import ListArgs as ListArgs
from taskhub.core.schemas import no_nul as no_nul
from taskhub.core.schemas import sort_args as sort_args

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "/api/v1"

#: Stable, machine-readable error codes by HTTP status.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
    507: "insufficient_storage",
}


class ErrorSchema(Schema):
    """Every API error: a code, a message and, for invalid input, the errors by field."""

    code = fields.String(required=True, metadata={"example": "validation_failed"})
    message = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages by field name (invalid input only)."},
    )


IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": "The object's ETag as last read (GET); required to change or remove it. "
    "Without it the answer is 428, with another one 412 (someone changed it since).",
    # One entity-tag as GET sent it (RFC 9110): "…" or W/"…".
    "schema": {"type": "string", "pattern": '^(W/)?"[!#-~]*"$'},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "description": "An ETag read before: 304 Not Modified while the object is unchanged.",
    "schema": {"type": "string"},
}
ETAG = {
    "description": "The object's version; send it in If-Match to change it.",
    "schema": {"type": "string"},
}


class TaskHubApi(Api):
    """flask-smorest's Api with TaskHub's error bodies, only for /api/ paths.

    flask-smorest registers its JSON error handler for the whole app; the HTML pages keep
    their own error pages, so the app's handlers call :func:`is_api_request` and
    :func:`error_response` instead.
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass

    def _register_etag_headers(self) -> None:
        """flask-smorest's If-Match and If-None-Match, saying what a client must send: an
        If-Match names one ETag (428 without one, 412 when it is not the current one)."""
        self.spec.components.parameter("IF_NONE_MATCH", "header", IF_NONE_MATCH, lazy=True)
        self.spec.components.parameter("IF_MATCH", "header", IF_MATCH, lazy=True)
        self.spec.components.header("ETAG", ETAG, lazy=True)


api = TaskHubApi()
# The OpenAPI document must say "string": schemathesis checks responses against it.
api.register_field(DecimalString, "string", "decimal")


def is_api_request() -> bool:
    return request.path.startswith(PREFIX + "/") or request.path == PREFIX


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location and field; clients want ``{"field": ["message"]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = str(key)
            # The location level (json, query, form, files, headers) is not part of the name.
            if not prefix and name in ("json", "query", "form", "files", "headers", "view_args"):
                name = ""
            joined = f"{prefix}.{name}" if prefix and name else (name or prefix)
            for field, texts in _flatten(value, joined).items():
                out.setdefault(field, []).extend(texts)
    elif isinstance(messages, list | tuple):
        for value in messages:
            for field, texts in _flatten(value, prefix).items():
                out.setdefault(field, []).extend(texts)
    else:
        out.setdefault(prefix or "_schema", []).append(str(messages))
    return out


def error_response(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The JSON body of an HTTP error on an API path."""
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    body: dict[str, Any] = {
        "code": data.get("code") or ERROR_CODES.get(code, "error"),
        "message": data.get("message") or error.description or error.name,
    }
    errors = data.get("errors") or data.get("messages")
    if errors:
        body["errors"] = _flatten(errors)
    headers = dict(data.get("headers") or {})
    if code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="taskhub"')
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # RFC 9110: a 405 lists the methods the resource has.
        headers.setdefault("Allow", ", ".join(error.valid_methods))
    return body, code, headers


def abort(
    status: int,
    message: str,
    *,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> NoReturn:
    """Stop with an API error (``errors`` by field name, for invalid input)."""
    kwargs: dict[str, Any] = {"message": message}
    if code:
        kwargs["code"] = code
    if errors:
        kwargs["errors"] = dict(errors)
    smorest_abort(status, **kwargs)
    raise AssertionError("unreachable")  # smorest's abort always raises


class InsufficientStorage(HTTPException):
    """507: no space is left to store the request's files (werkzeug has no class for it)."""

    code = 507
    description = "No space is left to store the files."


def abort_for(error: DomainError) -> NoReturn:
    """Turn a service's domain error into the matching API error."""
    from taskhub.core.storage import StorageFull

    if isinstance(error, StorageFull):
        full = InsufficientStorage()
        full.data = {"message": error.message}  # type: ignore[attr-defined]
        raise full
    if isinstance(error, NotFound):
        abort(404, error.message)
    if isinstance(error, PermissionDenied):
        abort(403, error.message)
    if isinstance(error, ValidationFailed) and error.problems:
        # Services list either the fields at fault ("value") or whole sentences.
        if all(p.isidentifier() for p in error.problems):
            abort(422, error.message, errors={p: [error.message] for p in error.problems})
        abort(422, error.message, errors={"_schema": error.problems})
    from taskhub.tracking.services import StaleObject

    if isinstance(error, StaleObject):
        abort(409, error.message, code="stale")
    code = getattr(error, "code", None)
    field_errors = {error.field: [error.message]} if error.field else {}
    abort(422, error.message, code=code if isinstance(code, str) else None, errors=field_errors)


def init_app(app: Flask) -> None:
    """Configure flask-smorest; the OpenAPI document is at /api/v1/openapi.json."""
    app.config.setdefault("API_TITLE", "TaskHub API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # Swagger UI, vendored under static/ (no CDN: government intranets are offline).
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/static/vendor/swagger-ui/")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "TaskHub's JSON API. Authenticate with a personal token created on the "
                    "'API tokens' page: `Authorization: Bearer <token>`. A token acts with its "
                    "user's permissions (a unit's token sees only that unit). Lists are paged "
                    "with `page` and `page_size`; the `X-Pagination` header carries the totals "
                    "(`total_estimated`: a planner estimate on big tables). Deep pages of the "
                    "assignments: follow `next_cursor` (`cursor=`), which costs the same at any "
                    "depth. "
                    "Errors carry `code`, `message` and, for invalid input, `errors` by field. "
                    "Single objects carry an `ETag`; send it back in `If-Match` to change them."
                )
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "token"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api.init_app(app)


#: X-Pagination as it is sent: JSON text. (flask-smorest documents it as an object, which an
#: OpenAPI header would carry as "key,value,key,value" text.)
PAGINATION_HEADER = {
    "description": "The paging totals as a JSON object: total, total_pages, first_page, "
    "last_page, page and, where they exist, previous_page and next_page; total_estimated "
    "(true) when the total is the planner's estimate; next_cursor and next (a URL) where a "
    "list pages by cursor.",
    "schema": {
        "type": "string",
        "example": '{"total": 120, "total_pages": 3, "first_page": 1, "last_page": 3, '
        '"page": 1, "next_page": 2}',
    },
}


class _Parser(FlaskParser):
    """webargs' parser, keeping one instance of each schema class it is given.

    flask-smorest hands the paging arguments' schema over as a class, which webargs
    instantiates on every request; a marshmallow schema is reusable, so one instance serves.
    """

    _instances: ClassVar[dict[type[Schema], Schema]] = {}

    def _get_schema(self, argmap: Any, req: Any) -> Schema:
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint, documenting X-Pagination as the JSON text it is."""

    PAGINATION_ARGUMENTS_PARSER = _Parser()

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = PAGINATION_HEADER

    @staticmethod
    def _make_pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
        """flask-smorest's X-Pagination fields, in the same order with the same values, without
        building and running its marshmallow schema on every list request."""
        meta = {"total": item_count}
        if item_count == 0:
            meta["total_pages"] = 0
            return meta
        last_page = (item_count - 1) // page_size + 1
        meta.update(total_pages=last_page, first_page=1, last_page=last_page)
        if page <= last_page:
            meta["page"] = page
            if page > 1:
                meta["previous_page"] = page - 1
            if page < last_page:
                meta["next_page"] = page + 1
        return meta

    def _set_pagination_metadata(
        self, page_params: Any, result: Any, headers: Any
    ) -> tuple[Any, Any]:
        """flask-smorest's X-Pagination, plus what a list adds (``extra``): whether the total
        is an estimate and, for keyset paging, the next page's cursor (also a Link header)."""
        if headers is None:
            headers = {}
        meta: dict[str, Any] = self._make_pagination_metadata(
            page_params.page, page_params.page_size, page_params.item_count
        )
        extra = getattr(page_params, "extra", None)
        if extra:
            if "cursor" in request.args:
                # Page numbers mean nothing to a cursor's page.
                for key in ("page", "previous_page", "next_page", "first_page", "last_page"):
                    meta.pop(key, None)
            meta.update(extra)
        headers[self.PAGINATION_HEADER_NAME] = json.dumps(meta)
        if "next" in meta:
            headers["Link"] = f'<{meta["next"]}>; rel="next"'
        return result, headers


def blueprint(name: str, import_name: str, *, description: str) -> Blueprint:
    """A blueprint of the API; every request to it must carry a valid token."""
    bp = Blueprint(f"api_{name}", import_name, description=description)
    bp.url_value_preprocessor(_unknown_path_values)
    bp.before_request(_authenticate)
    bp.before_request(_refuse_deep_json)
    bp.before_request(_refuse_nul)
    return bp


def _unknown_path_values(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A path naming nothing that could exist answers 404 before a query fails on it: an id
    beyond the database's integers (the int converter takes any size), a NUL character."""
    for value in (values or {}).values():
        if (isinstance(value, int) and not 0 < value <= MAX_ID) or (
            isinstance(value, str) and "\x00" in value
        ):
            abort(404, "Nothing has this name or id.")


#: Deepest nesting of a JSON body; TaskHub's own bodies are at most three levels deep.
MAX_JSON_DEPTH = 32


def _depth(data: Any) -> int:
    """How deeply lists and objects nest in ``data`` (without recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            stack.extend(
                (v, level + 1) for v in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def _refuse_deep_json() -> None:
    """A JSON body nested deeper than MAX_JSON_DEPTH gets 400 before anything walks it:
    Python's parser and validators recurse, and would fail with RecursionError (a 500)."""
    if not request.is_json:
        return
    try:
        too_deep = _depth(request.get_json(silent=True)) > MAX_JSON_DEPTH
    except RecursionError:
        too_deep = True
    if too_deep:
        message = f"The JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)."
        abort(400, message, errors={"_schema": [message]})


def _nul_fields(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, str):
        return [prefix or "_schema"] if "\x00" in data else []
    if isinstance(data, Mapping):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return []
    found: list[str] = []
    for key, value in items:
        found += _nul_fields(value, f"{prefix}.{key}" if prefix else str(key))
    return found


def _refuse_nul() -> None:
    """Query, form and JSON text with NUL characters gets 422 (PostgreSQL cannot store it)."""
    fields_at_fault = [
        name
        for source in (request.args, request.form)
        for name, value in source.items(multi=True)
        if "\x00" in name + value
    ]
    if request.is_json:
        fields_at_fault += _nul_fields(request.get_json(silent=True))
    if fields_at_fault:
        message = "must not contain NUL characters"
        abort(422, message, errors={name: [message] for name in fields_at_fault})


def _authenticate() -> None:
    from taskhub.accounts.tokens import user_for_token

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, "Authentication required: send 'Authorization: Bearer <token>'.")
    user = user_for_token(token.strip())
    if user is None:
        abort(401, "The token is unknown, revoked or expired.")
    g.api_user = user


def api_user() -> User:
    """The user whose token authenticated this request."""
    return cast(User, g.api_user)


def roles(*allowed: str) -> Callable[[F], F]:
    """Refuse (403) tokens whose user has none of ``allowed`` roles."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if api_user().role not in allowed:
                abort(403, "Your role may not use this endpoint.")
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def get_or_404(model: type[Any], ident: Any, *, lock: bool = False) -> Any:
    """The object, or 404. ``lock``: with its row lock taken and its values read afresh, for a
    change whose check (an ETag in If-Match) must see what the write will replace; see
    :func:`taskhub.core.db.lock`."""
    if isinstance(ident, int) and not 0 < ident <= MAX_ID:
        abort(404, f"{model.__name__} {ident} does not exist.")
    obj = db.session.get(model, ident, with_for_update=lock or None, populate_existing=lock)
    if obj is None:
        abort(404, f"{model.__name__} {ident} does not exist.")
    return obj


def apply_sort(
    query: Select[Any], sort: str, columns: Mapping[str, ColumnElement[Any] | Any], tiebreak: Any
) -> Select[Any]:
    """Order ``query`` by the whitelisted key (``-key`` descending), then by ``tiebreak``."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    return query.order_by(column.desc() if descending else column.asc(), tiebreak)


def paged(query: Select[Any], pagination: Any, *, scalars: bool = True) -> list[Any]:
    """One page of ``query``; sets the total for the X-Pagination header."""
    page = limit_to_page(query, pagination)
    if page is None:
        return []
    if scalars:
        return list(db.session.scalars(page))
    return list(db.session.execute(page))


def limit_to_page(
    query: Select[Any], pagination: Any, *, count: Select[Any] | None = None, total: bool = True
) -> Select[Any] | None:
    """``query`` limited to the requested page, or None past the end; sets the total.

    ``count`` is a cheaper query of the same total (for instance over the main table alone,
    without the joins that only add columns); by default ``query``'s rows are counted.
    ``total=False``: the caller has set the total already (:func:`count_total`).
    """
    if total:
        if count is None:
            count = select(func.count()).select_from(query.order_by(None).subquery())
        pagination.item_count = db.session.scalar(count) or 0
    # An estimated total may be short of the real one: only the database's limit ends the list.
    estimated = (getattr(pagination, "extra", None) or {}).get("total_estimated")
    if pagination.first_item >= (MAX_ID if estimated else min(pagination.item_count, MAX_ID)):
        return None  # past the end (also for page numbers no database could offset to)
    return query.limit(pagination.page_size).offset(pagination.first_item)


def count_total(
    pagination: Any, count: Select[Any], rows: Select[Any], *, table: Any, cheap: bool
) -> None:
    """Set the list's total on ``pagination``: exact when that is cheap, else estimated.

    Exact when ``cheap`` (the caller knows an index bounds the count, e.g. one unit's rows),
    when the table is small or on SQLite (:mod:`taskhub.core.counts`); otherwise PostgreSQL's
    planner estimate of ``rows`` (the filtered ids), marked ``total_estimated`` in X-Pagination
    (pages show 约N项). Counting a million rows costs as much as the page itself ten times over.
    """
    if cheap or not counts.is_big(table):
        pagination.item_count = db.session.scalar(count) or 0
        return
    pagination.item_count = counts.planner_rows(rows)
    pagination.extra = {"total_estimated": True}


@lru_cache(maxsize=4)
def _cursor_serializer(secret_key: Any, salt: str) -> URLSafeSerializer:
    """One signer per secret key (made once, not on every page: it is the same every time)."""
    return URLSafeSerializer(secret_key, salt=salt)


class Keyset:
    """Keyset ("cursor") paging of a list sorted by one whitelisted column, then by id.

    A page's last row gives the cursor of the next one: the sort key, its value and id, and a
    digest of the filters, signed with the app's secret key, so that a changed or foreign
    cursor is refused (400) rather than silently paging something else. ``WHERE (sort, id) >
    (value, id)`` reads only the next page, however deep: OFFSET reads every row before it.
    """

    SALT = "taskhub-api-cursor"

    def __init__(self, columns: Mapping[str, Any], tiebreak: Any, kinds: Mapping[str, str]):
        self.columns = columns
        self.tiebreak = tiebreak
        #: How each sort key's value is written in a cursor: int, str, date or datetime.
        self.kinds = kinds

    @staticmethod
    def context(args: Mapping[str, Any]) -> str:
        """A digest of the filters and sort: a cursor works only for the list it came from."""
        plain = {k: v for k, v in args.items() if k != "cursor"}
        text_ = json.dumps(plain, sort_keys=True, default=str)
        return hashlib.sha256(text_.encode()).hexdigest()[:16]

    def _serializer(self) -> URLSafeSerializer:
        key = current_app.config["SECRET_KEY"]
        # (A list of keys, newest last, rotates them: kept as a tuple to be a cache key.)
        return _cursor_serializer(tuple(key) if isinstance(key, list) else key, self.SALT)

    def encode(self, args: Mapping[str, Any], value: Any, ident: int) -> str:
        if isinstance(value, date):
            value = value.isoformat()
        return str(self._serializer().dumps([args["sort"], value, ident, self.context(args)]))

    def decode(self, args: Mapping[str, Any]) -> tuple[Any, int]:
        """The cursor's (value, id), or 400 with what is wrong with it."""
        try:
            sort, value, ident, context = self._serializer().loads(args["cursor"])
        except (BadData, ValueError, TypeError):
            abort(
                400,
                "The cursor is not one this list gave out (changed, cut short or from another "
                "server); start again without it.",
                errors={"cursor": ["Not a cursor of this list."]},
            )
        if sort != args["sort"] or context != self.context(args):
            abort(
                400,
                "The cursor belongs to the same list with other filters or another sort; ask "
                "with the filters and sort it was given for, or start again without it.",
                errors={"cursor": ["Given for other filters or another sort."]},
            )
        kind = self.kinds[sort.lstrip("-")]
        try:
            if value is not None and kind == "date":
                value = date.fromisoformat(value)
            elif value is not None and kind == "datetime":
                value = datetime.fromisoformat(value)
            elif value is not None and not isinstance(value, int if kind == "int" else str):
                raise ValueError(value)
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise ValueError(ident)
        except (ValueError, TypeError):
            abort(400, "The cursor's position is not valid.", errors={"cursor": ["Invalid."]})
        return value, ident

    def after(self, query: Select[Any], sort: str, value: Any, ident: int) -> Select[Any]:
        """``query`` (ordered by :func:`apply_sort`) from the row after (value, ident) on.

        NULLs sort as the database puts them: last going up on PostgreSQL, first on SQLite
        (the other way round going down)."""
        descending = sort.startswith("-")
        column = self.columns[sort.lstrip("-")]
        if column is self.tiebreak:  # sorted by id alone: one range of the primary key
            return query.where(column < ident if descending else column > ident)
        postgres = db.session.get_bind().dialect.name == "postgresql"
        nulls_last = postgres != descending
        same_then_later = self.tiebreak > ident
        if value is None:
            later = and_(column.is_(None), same_then_later)
            if not nulls_last:  # the NULLs come first: every value is after them
                later = or_(later, column.is_not(None))
            return query.where(later)
        # A plain bound first (an index range on the column), then the ties by id: an OR of
        # two ranges alone would make PostgreSQL gather and sort every later row.
        bound = column <= value if descending else column >= value
        later = and_(bound, or_(column != value, same_then_later))
        if nulls_last:
            later = or_(later, column.is_(None))
        return query.where(later)


#: Default and largest page sizes of every list.
PAGE = {"page_size": 50, "max_page_size": 500}


R = TypeVar("R")


def commit_or_fail(change: Callable[[], R]) -> R:
    """Run a service's change as the request's one transaction: commit and return its result,
    or roll back and answer with the matching API error (:func:`abort_for`).

    Changes of one object check the client's ETag first (``blp.check_etag``, If-Match)."""
    try:
        result = change()
    except DomainError as error:
        db.session.rollback()
        abort_for(error)
    db.session.commit()
    return result
