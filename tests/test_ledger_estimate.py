"""The ledger page on a big ledger: an estimated total, shown as such (约N, issue 17)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from taskhub.core import cache
from taskhub.core.db import db
from taskhub.tracking.models import Assignment
from tests.conftest import unit_named


def _ledger(client: FlaskClient, app: Flask, query: str = "") -> str:
    """The ledger page as if the table were big (every table over the exact-count limit)."""
    app.config["API_EXACT_COUNT_LIMIT"] = 0
    cache.clear_cache()
    try:
        response = client.get(f"/ledger{query}")
    finally:
        del app.config["API_EXACT_COUNT_LIMIT"]
        cache.clear_cache()
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_big_ledger_shows_an_estimate_as_such_and_one_unit_exactly(
    app: Flask, client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("office")
    exact = db.session.query(Assignment).count()
    page = _ledger(client, app)
    unit = unit_named("昆都仑区人民政府", "baotou")
    one_unit = _ledger(client, app, f"?unit={unit.id}")
    n_unit = db.session.query(Assignment).filter(Assignment.unit_id == unit.id).count()
    assert f"共 {n_unit} 项任务符合条件。" in one_unit and "data-estimated" not in one_unit
    if db.session.get_bind().dialect.name == "postgresql":
        assert 'data-estimated="true"' in page
        match = re.search(r"约 (\d+) 项任务符合条件（估算）。", page)
        assert match and int(match.group(1)) > 0
        assert "将这些行导出为 Excel" in page and "约 " in page
    else:  # SQLite: always exact
        assert "data-estimated" not in page and f"共 {exact} 项任务符合条件。" in page
