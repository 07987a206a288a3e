"""Totals that do not scan everything (issue 17): exact when cheap, else the planner's estimate.

The rule, everywhere a list shows a total (the API's X-Pagination, the ledger page):

- exact when the rows are bounded by an index (one unit's or one item's assignments, a unit's
  own view), when the table is small (:data:`EXACT_COUNT_LIMIT`, config
  ``API_EXACT_COUNT_LIMIT``) and always on SQLite;
- otherwise PostgreSQL's planner estimate of the filtered query (``EXPLAIN (FORMAT JSON)``,
  its top node's rows), shown as an estimate: ``"total_estimated": true`` in the API, 约N on
  the pages. Counting a million rows costs ten pages' worth; an estimate costs a plan.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select, text

from taskhub.core.db import READS_ONLY, db

#: Lists over a table of at most this many rows always count exactly (the config key
#: ``API_EXACT_COUNT_LIMIT`` overrides it); bigger tables count exactly only when the caller
#: says the count is cheap (one unit's or one item's rows, by index), otherwise the planner
#: estimates the total (PostgreSQL) and X-Pagination says ``"total_estimated": true``.
EXACT_COUNT_LIMIT = 20_000


def is_big(table: Any) -> bool:
    """Whether counting ``table``'s rows exactly is too dear: a PostgreSQL table of more than
    ``API_EXACT_COUNT_LIMIT`` rows (SQLite has no planner estimates: always exact)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return False
    limit = current_app.config.get("API_EXACT_COUNT_LIMIT", EXACT_COUNT_LIMIT)
    return table_rows(table) > limit


def table_rows(table: Any) -> int:
    """About how many rows ``table`` holds, without counting them.

    PostgreSQL: the planner's ``pg_class.reltuples`` (kept by ANALYZE and autovacuum; -1 before
    the first, then counted). SQLite: the largest id, an upper bound (ids are never reused
    past the largest)."""
    key = (str(db.engine.url), table.name)
    known = _TABLE_ROWS.get(key)
    if known is not None and known[1] > monotonic():
        return known[0]
    rows = _table_rows(table)
    _TABLE_ROWS[key] = (rows, monotonic() + 10)
    return rows


#: table_rows' answers for ten seconds: (rows, until) by database and table.
_TABLE_ROWS: dict[tuple[str, str], tuple[int, float]] = {}


def _table_rows(table: Any) -> int:
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
            {"name": table.name},
            execution_options={READS_ONLY: True},
        )
        if rows is not None and rows >= 0:
            return int(rows)
        return int(db.session.scalar(select(func.count()).select_from(table)) or 0)
    return int(db.session.scalar(select(func.max(table.c.id))) or 0)


def planner_rows(query: Select[Any]) -> int:
    """The PostgreSQL planner's estimate of ``query``'s rows (``EXPLAIN (FORMAT JSON)``),
    kept ten seconds per statement and parameters (an estimate is not made truer by asking
    again, and a list's pages ask the same one in turn)."""
    connection = db.session.connection()
    compiled = query.order_by(None).compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    sql = str(compiled)
    key = (str(db.engine.url), sql, repr(sorted(compiled.params.items())))
    known = _PLANNED.get(key)
    if known is not None and known[1] > monotonic():
        return known[0]
    # EXPLAIN without ANALYZE runs nothing: it reads however ``query`` is marked.
    plan = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {sql}",
        compiled.params,
        execution_options={READS_ONLY: bool(query.get_execution_options().get(READS_ONLY))},
    )
    rows = int(plan.scalar_one()[0]["Plan"]["Plan Rows"])
    if len(_PLANNED) >= 512:
        _PLANNED.clear()
    _PLANNED[key] = (rows, monotonic() + 10)
    return rows


#: planner_rows' answers: (rows, until) by database, statement and parameters.
_PLANNED: dict[tuple[str, str, str], tuple[int, float]] = {}
