"""`taskhub plan parse FILE` and `taskhub plan import-document FILE --city CODE`.

``parse`` prints the draft a document reads as (``--json``: the public contract of
``Draft.to_json()``; with ``--city`` the unit names are resolved against that city) and changes
nothing. ``import-document`` reads, shows a summary and the problems, asks (unless ``--yes``)
and imports through the same service as the draft page (a draft, then the plan importer, all
or nothing). Unknown unit names make it refuse, listing each with the closest known names:
add them first (``taskhub units import``, or the units page), or import from the draft page,
whose confirm step can create them.

Imports are inside the functions: the command line starts without loading parsers and models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from taskhub.documents.model import Draft
    from taskhub.units.models import City


def _city(code: str) -> City:
    from sqlalchemy import select

    from taskhub.cli import _require_schema, fail
    from taskhub.core.db import db
    from taskhub.units.models import City

    _require_schema()
    found = db.session.scalar(select(City).where(City.code == code))
    if found is None:
        fail(f"no city with the code {code!r}; `taskhub city create` makes one")
    return found


def _read(file: Path, year: int | None) -> tuple[Draft, str]:
    """The parsed draft of a file and the format it was read as (fails with the reader's
    message when the file cannot be read)."""
    from taskhub.cli import fail
    from taskhub.documents import parser, readers

    if not file.is_file():
        fail(f"no file {file}")
    try:
        doc = readers.read(file.name, file.read_bytes())
    except readers.UnreadableDocument as exc:
        fail(f"{file}: {exc.message}")
    return parser.parse(doc, year=year), doc.format


@click.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--year", type=click.IntRange(2000, 2100), help="The plan year, if not printed.")
@click.option("--city", "city_code", help="Resolve unit names against this city's units.")
@click.option("--json", "as_json", is_flag=True, help="Print the draft as JSON.")
@with_appcontext
def plan_parse(file: Path, year: int | None, city_code: str | None, as_json: bool) -> None:
    """Read a plan document (.docx, .pdf with text, .txt, .md, .html) and print the draft plan
    it reads as; changes nothing."""
    from flask import current_app

    with current_app.test_request_context():
        draft, _format = _read(file, year)
        unknown: list[Any] = []
        if city_code:
            from dataclasses import asdict

            from taskhub.documents.resolve import resolve

            unknown = [asdict(u) for u in resolve(draft, _city(city_code))]
        if as_json:
            data = draft.to_json()
            if city_code:
                data["unknown_names"] = unknown
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        _summary(draft, unknown)


def _summary(draft: Draft, unknown: list[dict[str, Any]]) -> None:
    kind = "indicator system" if draft.kind == "indicators" else "task plan"
    click.echo(f"{draft.title or '(no title)'}  {draft.document_number or ''}".rstrip())
    click.echo(f"{kind}, year {draft.year or '?'}")
    items = draft.all_items()

    def show(section: Any, depth: int) -> None:
        points = f" ({section.points}分)" if section.points is not None else ""
        click.echo(f"{'  ' * depth}{section.number or ''} {section.title}{points}")
        for item in section.items:
            _item_line(item, depth + 1)
        for child in section.sections:
            show(child, depth + 1)

    for item in draft.items:
        _item_line(item, 0)
    for section in draft.sections:
        show(section, 0)
    flagged = [i for i in items if i.flags]
    click.echo(f"{len(items)} items, {len(flagged)} flagged, {len(draft.warnings)} warnings")
    for warning in draft.warnings:
        click.echo(f"warning: {warning.message}")
    for entry in unknown:
        similar = "、".join(entry["similar"]) or "none"
        click.echo(f"unknown unit name: {entry['name']} (similar: {similar})")


def _item_line(item: Any, depth: int) -> None:
    units = "、".join(item.lead_units or item.lead_assessors) or "-"
    flags = f"  [{', '.join(item.flags)}]" if item.flags else ""
    title = (item.title or item.text)[:40]
    click.echo(
        f"{'  ' * depth}{item.number or '?'}. {title}  {units}  {item.deadline_text or ''}{flags}"
    )


@click.command("import-document")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--city", "city_code", required=True, help="The code of the plan's city.")
@click.option("--code", "plan_code", help="The plan's code (default <city>-<year>).")
@click.option("--year", type=click.IntRange(2000, 2100), help="The plan year, if not printed.")
@click.option("--yes", is_flag=True, help="Import without asking.")
@with_appcontext
def plan_import_document(
    file: Path, city_code: str, plan_code: str | None, year: int | None, yes: bool
) -> None:
    """Read a plan document and import it as a draft plan, through the plan importer (all or
    nothing). Unknown unit names are refused with suggestions; publish with `plan publish`."""
    from flask import current_app

    with current_app.test_request_context():
        _import_document(file, city_code, plan_code, year, yes)


def _import_document(
    file: Path, city_code: str, plan_code: str | None, year: int | None, yes: bool
) -> None:
    from taskhub.cli import fail, progress
    from taskhub.core.db import db
    from taskhub.core.errors import DomainError, ValidationFailed
    from taskhub.documents import drafts

    city = _city(city_code)
    progress(f"{file}: reading")
    parsed, format = _read(file, year)
    try:
        draft = drafts.store(parsed, city=city, actor=None, name=file.name, format=format)
        if plan_code:
            drafts.update(draft, {"head": {"code": plan_code}}, actor=None, version=draft.version)
    except DomainError as exc:
        db.session.rollback()
        problems = exc.problems if isinstance(exc, ValidationFailed) else []
        fail("\n".join([f"{file}: {exc.message}", *(f"  - {p}" for p in problems)]))
    data = draft.data
    rows = drafts.rows(draft)
    flagged = [r for r in rows if r["flags"]]
    click.echo(
        f"{file}: {data.get('title') or '(no title)'} -> plan {data['code']} of {city.name}, "
        f"year {data.get('year') or '?'}: {len(rows)} items, {len(flagged)} flagged"
    )
    for row in flagged:
        click.echo(f"  item {row['number'] or row['id']}: {', '.join(row['flags'])}")
    for warning in data.get("warnings") or []:
        click.echo(f"  warning: {warning['message']}")
    if data.get("unknown_names"):
        db.session.rollback()
        lines = []
        for entry in data["unknown_names"]:
            similar = "、".join(entry["similar"]) or "none"
            lines.append(f"  {entry['name']} (a new {entry['kind']}? similar: {similar})")
        fail(
            f"nothing was imported: {len(lines)} unit names are not known in {city.code}:\n"
            + "\n".join(lines)
            + "\nadd them as units or aliases (`taskhub units import`, the units page), or "
            "import from the draft page, whose confirm step can create them"
        )
    if not rows:
        db.session.rollback()
        fail(f"{file}: no items were found; nothing was imported")
    if not yes and not click.confirm("import it as a draft plan?", default=False):
        db.session.rollback()
        fail("nothing was imported")
    progress(f"{file}: importing through the plan importer")
    try:
        result = drafts.confirm(draft, actor=None)
    except DomainError as exc:
        db.session.rollback()
        fail(f"{file}: nothing was imported: {exc.message}")
    if result.errors or result.plan_id is None:
        placed = drafts.errors(draft, result)
        db.session.rollback()
        lines = [
            f"  {e.target or '-'} {e.field or ''}: {e.message}".replace("  :", ":") for e in placed
        ]
        fail(f"nothing was imported ({len(placed)} problems):\n" + "\n".join(lines))
    db.session.commit()
    counts = result.counts
    click.echo(
        f"{file}: imported as plan {result.code} ({result.status}, draft): "
        f"{counts.get('sections_added', 0)} sections, {counts.get('items_added', 0)} items, "
        f"{counts.get('links_added', 0)} unit links; publish with "
        f"`taskhub plan publish {result.code}`"
    )
