"""`taskhub city …`: create and list cities from the command line.

The command names and flags are a public contract. A city created here is audited with no
actor (the operator at the server); the same service and rules as the cities page apply.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group()
def city() -> None:
    """Manage cities (their units: the Cities page, the API or the units import)."""


@city.command("create")
@click.argument("code")
@click.option("--name", required=True, help="The city's name, such as 包头市.")
@click.option("--province", help="Such as 内蒙古自治区.")
@click.option("--timezone", help="IANA time zone (default Asia/Shanghai).")
@with_appcontext
def create(code: str, name: str, province: str | None, timezone: str | None) -> None:
    """Create the city CODE (lower-case letters, digits and hyphens, such as baotou)."""
    from taskhub.cli import _require_schema, fail
    from taskhub.core.db import db
    from taskhub.core.errors import DomainError
    from taskhub.units.admin import create_city

    _require_schema()
    data = {"code": code, "name": name, "province": province}
    if timezone is not None:
        data["timezone"] = timezone
    try:
        made = create_city(data, actor=None)
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    db.session.commit()
    click.echo(f"created city {made.code} ({made.name}, {made.timezone})")


@city.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@with_appcontext
def list_cities(as_json: bool) -> None:
    """List the cities with their numbers of active and retired units."""
    import json

    from sqlalchemy import select

    from taskhub.cli import _require_schema
    from taskhub.core.db import db
    from taskhub.units.admin import unit_counts
    from taskhub.units.models import City

    _require_schema()
    counts = unit_counts()
    rows = [
        {
            "code": c.code,
            "name": c.name,
            "province": c.province,
            "timezone": c.timezone,
            "units": counts.get((c.id, False), 0),
            "retired_units": counts.get((c.id, True), 0),
        }
        for c in db.session.scalars(select(City).order_by(City.code))
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['code']:<16} {row['name']:<12} {row['province'] or '-':<12} "
            f"{row['timezone']:<16} {row['units']} units, {row['retired_units']} retired"
        )
    if not rows:
        click.echo("no cities yet; `taskhub city create CODE --name NAME` adds one", err=True)
