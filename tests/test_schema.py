"""The migrations build exactly the schema the models declare, with its constraints."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from taskhub.core.db import db
from taskhub.models import Item, Plan, Unit, UnitAlias, User
from tests.conftest import unit_named


def test_migrations_match_the_models(session):
    context = MigrationContext.configure(session.connection())
    assert compare_metadata(context, db.metadata) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: Item(plan_id=_plan_id(), code="x1", text="t", position=999, points=-1),
        lambda: Item(plan_id=_plan_id(), code="1", text="duplicate code", position=999),
        lambda: Unit(city_id=_city_id(), name="bad kind", kind="ministry"),
        lambda: UnitAlias(city_id=_city_id(), name="nothing"),
        lambda: User(username="u", display_name="u", password_hash="x", role="unit"),
    ],
    ids=[
        "negative points",
        "duplicate item code",
        "unknown unit kind",
        "alias to nothing",
        "unit user without unit",
    ],
)
def test_database_constraints_refuse_bad_rows(session, make):
    session.add(make())
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def _plan_id() -> int:
    return db.session.query(Plan.id).filter(Plan.code == "baotou-2022").scalar()


def _city_id() -> int:
    return unit_named("市审批服务局", "baotou").city_id
