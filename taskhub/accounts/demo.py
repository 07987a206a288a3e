"""Demo accounts (one per role and unit kind) and a demo contact for every unit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select

from taskhub.accounts import services
from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.plans.models import ItemUnit, Plan, UnitRole
from taskhub.tracking.models import Assignment
from taskhub.units.models import City, Contact, Unit


@dataclass
class DemoAccount:
    username: str
    role: str
    unit: str | None
    password: str | None  #: None when the account already existed (password not shown again)


def _unit_with_most_assignments(kind: str) -> Unit | None:
    from sqlalchemy import func

    return db.session.scalar(
        select(Unit)
        .join(Assignment, Assignment.unit_id == Unit.id)
        .where(Unit.kind == kind)
        .group_by(Unit.id)
        .order_by(func.count().desc(), Unit.id)
        .limit(1)
    )


def _busiest_lead_assessor() -> Unit | None:
    from sqlalchemy import func

    return db.session.scalar(
        select(Unit)
        .join(ItemUnit, ItemUnit.unit_id == Unit.id)
        .where(ItemUnit.role == UnitRole.LEAD_ASSESSOR.value, Unit.kind == "department")
        .group_by(Unit.id)
        .order_by(func.count().desc(), Unit.id)
        .limit(1)
    )


def _label(unit: Unit | None) -> str | None:
    return f"{unit.city.name} {unit.name}" if unit else None


def ensure_account(username: str, role: str, unit: Unit | None) -> DemoAccount:
    """Create a demo account unless it exists (an existing one's password is never shown)."""
    existing = db.session.scalar(select(User).where(User.username == username))
    if existing is not None:
        return DemoAccount(username, existing.role, _label(existing.unit), None)
    password = services.generate_password()
    label = f"演示{unit.name}" if unit else f"演示{role}"
    services.create_user(
        username=username, password=password, role=role, display_name=label, unit=unit
    )
    return DemoAccount(username, role, _label(unit), password)


def load_demo() -> tuple[list[DemoAccount], int]:
    """Create missing demo accounts and contacts; returns accounts and contacts added."""
    if db.session.scalar(select(exists().where(Plan.id.isnot(None)))) is not True:
        raise ValidationFailed("no plans are loaded; run `taskhub seed load` first")
    wanted: list[tuple[str, str, Unit | None]] = [
        ("admin", "admin", None),
        ("office", "office", None),
        ("viewer", "viewer", None),
        ("assessor", "assessor", _busiest_lead_assessor()),
    ]
    for kind in ("county", "township", "department", "enterprise"):
        unit = _unit_with_most_assignments(kind)
        if unit is not None:
            wanted.append((f"unit-{kind}", "unit", unit))
    accounts = [ensure_account(username, role, unit) for username, role, unit in wanted]

    has_contact = select(Contact.id).where(Contact.unit_id == Unit.id).exists()
    bare = db.session.execute(
        select(Unit.id, City.code).join(City).where(~has_contact).order_by(Unit.id)
    ).all()
    for unit_id, city_code in bare:
        db.session.add(
            Contact(
                unit_id=unit_id,
                name="演示联系人",
                position="联络员",
                email=f"unit{unit_id}.{city_code}@example.org",
                is_demo=True,
            )
        )
    db.session.flush()
    return accounts, len(bare)
