"""Pages: upload or paste a plan document, check the draft next to its source, confirm.

The views are thin: the rules live in taskhub.documents.drafts (create, edit with a version,
confirm through the Excel plan importer). What is here turns forms into the service's calls and
the draft's JSON into the grid: sections with their items, each beside its source sentence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from taskhub.core.db import db
from taskhub.core.errors import DomainError, NotFound
from taskhub.core.inputs import digits
from taskhub.core.limits import limit
from taskhub.core.permissions import STAFF, roles_required
from taskhub.documents import drafts, model
from taskhub.documents.models import DraftStatus, PlanDraft
from taskhub.imports import plan_names
from taskhub.plans.models import Plan
from taskhub.tracking.services import StaleObject
from taskhub.units.models import UNIT_KINDS, City

bp = Blueprint("documents", __name__)

#: The formats the upload accepts (the reader refuses others with what to save them as).
ACCEPT = ".docx,.pdf,.txt,.md,.html,.htm"
#: The flags as the office reads them (badges on the grid).
FLAG_LABELS = {
    model.FLAG_UNKNOWN_UNIT: _l("Unknown unit"),
    model.FLAG_NO_LEAD: _l("No lead unit"),
    model.FLAG_DEADLINE_UNREADABLE: _l("Deadline not understood"),
    model.FLAG_POINTS_MISMATCH: _l("Points do not add up"),
    model.FLAG_CUT_OFF: _l("Possibly incomplete"),
    model.FLAG_NUMBER_GAP: _l("Numbering gap"),
    model.FLAG_DUPLICATE_NUMBER: _l("Number repeated"),
    model.FLAG_AMBIGUOUS: _l("Ambiguous"),
}
#: Highlight kinds of the source sentence, as the office reads them (the legend).
MARK_LABELS = {
    "unit": _l("units"),
    "unknown_unit": _l("unknown units"),
    "deadline": _l("deadline"),
    "points": _l("points"),
    "weight": _l("weight"),
}
HEAD_FIELDS = ("title", "code", "year", "kind", "document_number", "assessed")
SECTION_FIELDS = ("number", "title", "points")
ITEM_FIELDS = (
    "number",
    "title",
    "text",
    "lead_units",
    "responsible_units",
    "lead_assessors",
    "deadline_text",
    "points",
    "weight",
)
#: Fields holding a list of unit names: shown and edited as one text, names joined by 、.
LIST_FIELDS = frozenset({"lead_units", "responsible_units", "lead_assessors", "assessed"})
#: The longest text a form field may send (the service checks the real limits).
FIELD_MAX = 20_000


def _draft(draft_id: int) -> PlanDraft:
    """The draft, or 404 (the service refuses what the user may not see)."""
    try:
        return drafts.get(draft_id, current_user)
    except NotFound:
        abort(404)


# -- upload or paste -----------------------------------------------------------------------------


def _cities() -> list[City]:
    return list(db.session.scalars(select(City).order_by(City.code)))


def _new_page(status: int = 200, error: str | None = None) -> Any:
    return (
        render_template(
            "documents/new.html",
            cities=_cities(),
            form=request.form,
            error=error,
            accept=ACCEPT,
            text_limit=limit("document.text"),
            open_drafts=drafts.open_drafts(current_user),
        ),
        status,
    )


@bp.get("/imports/document")
@roles_required(*STAFF)
def new() -> Any:
    """Upload a plan document or paste its text."""
    return _new_page()


@bp.post("/imports/document")
@roles_required(*STAFF)
def create() -> Any:
    """Read the document into a draft and open it."""
    code = request.form.get("city", "")[:50]
    city = db.session.scalar(select(City).where(City.code == code)) if code else None
    if city is None:
        return _new_page(422, _("Choose the city whose plan this is."))
    year_text = request.form.get("year", "").strip()
    year = digits(year_text) if len(year_text) == 4 else None
    if year_text and year is None:
        return _new_page(422, _("The year is four digits, e.g. 2024."))
    upload = request.files.get("file")
    text = request.form.get("text", "")
    data: bytes | None = None
    name = _("Pasted text")
    if upload is not None and upload.filename:
        largest = int(current_app.config["MAX_UPLOAD_BYTES"])
        data = upload.stream.read(largest + 1)
        if len(data) > largest:
            return _new_page(
                422, _("The file is larger than %(mb)d MB.", mb=largest // (1024 * 1024))
            )
        name = upload.filename
        text = ""
    elif not text.strip():
        return _new_page(422, _("Choose a file or paste the text of the plan."))
    try:
        draft = drafts.create(
            city=city,
            actor=current_user,
            name=name,
            data=data,
            text=text or None,
            year=year,
        )
    except DomainError as exc:  # UnreadableDocument: the reader says what to save it as
        db.session.rollback()
        return _new_page(422, exc.message)
    db.session.commit()
    return redirect(url_for("documents.show", draft_id=draft.id))


# -- the list of open drafts ---------------------------------------------------------------------


@bp.get("/plan-drafts")
@roles_required(*STAFF)
def index() -> Any:
    """The open drafts, newest first."""
    entries = [(d, _counts(d.data)) for d in drafts.open_drafts(current_user)]
    return render_template("documents/index.html", entries=entries)


def _counts(data: Mapping[str, Any]) -> tuple[int, int]:
    """(items, items with flags) of a draft's JSON."""
    items = list(_walk_items(data))
    return len(items), sum(1 for i in items if i.get("flags"))


def _walk_items(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from node.get("items") or []
    for section in node.get("sections") or []:
        yield from _walk_items(section)


# -- the review grid -----------------------------------------------------------------------------


@dataclass
class Entry:
    """One line of the grid: a section heading (``section``) or an item (``row``)."""

    depth: int
    section: Mapping[str, Any] | None = None
    row: Mapping[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _entries(draft: PlanDraft, errors: Mapping[str, list[str]]) -> list[Entry]:
    """Sections and items in document order; each item with its grid row (flags, unknown
    units, source sentence and highlights) from the service."""
    rows = {str(r["id"]): r for r in drafts.rows(draft)}
    out: list[Entry] = []

    def items(node: Mapping[str, Any], depth: int) -> None:
        for item in node.get("items") or []:
            key = str(item.get("id"))
            out.append(Entry(depth, row=rows.get(key, item), errors=errors.get(key, [])))

    def sections(node: Mapping[str, Any], depth: int) -> None:
        for section in node.get("sections") or []:
            key = str(section.get("id"))
            out.append(Entry(depth, section=section, errors=errors.get(key, [])))
            items(section, depth + 1)
            sections(section, depth + 1)

    # Items under no heading (a table the reader found outside the numbered prose, say) stand
    # where the document has them, among the top-level sections.
    top: list[tuple[str, Mapping[str, Any]]] = [
        *(("item", i) for i in draft.data.get("items") or []),
        *(("section", s) for s in draft.data.get("sections") or []),
    ]
    top.sort(key=lambda entry: _start(entry[1]))
    for kind, node in top:
        if kind == "item":
            items({"items": [node]}, 0)
        else:
            sections({"sections": [node]}, 0)
    return out


def _start(node: Mapping[str, Any]) -> int:
    """Where a section or item starts in the source (those without a source go last)."""
    source = node.get("source")
    start = source.get("start") if isinstance(source, Mapping) else None
    return start if isinstance(start, int) else 1 << 62


def _columns(entries: list[Entry]) -> dict[str, bool]:
    """Which optional columns the plan has (lead assessors, points, weights)."""

    def some(key: str) -> bool:
        return any(e.row is not None and e.row.get(key) for e in entries)

    return {
        "lead_assessors": some("lead_assessors"),
        "points": True,
        "weight": some("weight"),
    }


def _unknown_names(draft: PlanDraft, entries: list[Entry]) -> list[plan_names.UnknownName]:
    """The draft's unit names the city does not know (kept on the draft by the service, with a
    guessed kind and the closest known names): the same choices as the Excel preview offers.
    Places are item ids in the draft; the page names the items by their numbers."""
    numbers = {
        str(e.row.get("id")): str(e.row.get("number") or "—") for e in entries if e.row is not None
    }
    out: list[plan_names.UnknownName] = []
    for entry in draft.data.get("unknown_names") or []:
        places = [
            _("head") if p == "head" else _("item %(number)s", number=numbers.get(p, p))
            for p in entry.get("places") or []
        ]
        out.append(
            plan_names.UnknownName(
                name=entry["name"],
                places=places,
                kind=entry.get("kind") or "department",
                similar=list(entry.get("similar") or []),
            )
        )
    return out


def value_text(value: Any) -> str:
    """A field's value as the form shows it: names joined by 、, numbers as printed."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def marked(text: str, ranges: list[Any] | None) -> Markup:
    """The source sentence with its extracted parts in <mark class="m-kind"> (the page's legend
    names the kinds).

    ``ranges`` are (start, end, kind) offsets into ``text`` (lists or dicts); overlapping or
    out-of-range ones are skipped rather than breaking the sentence.
    """
    spans: list[tuple[int, int, str]] = []
    for r in ranges or []:
        start, end, kind = (
            (r.get("start"), r.get("end"), r.get("kind")) if isinstance(r, Mapping) else r
        )
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            spans.append((start, end, str(kind or "")))
    spans.sort()
    out: list[str] = []
    at = 0
    for start, end, kind in spans:
        if start < at:
            continue
        out.append(str(escape(text[at:start])))
        out.append(f'<mark class="m-{escape(kind)}">{escape(text[start:end])}</mark>')
        at = end
    out.append(str(escape(text[at:])))
    return Markup("".join(out))


def _grid(
    draft: PlanDraft,
    *,
    status: int = 200,
    message: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    general_errors: list[str] | None = None,
    choices: Mapping[str, plan_names.NameChoice] | None = None,
) -> Any:
    entries = _entries(draft, errors or {})
    code = draft.data.get("code")
    # Importing over a published plan is a revision (修订): the confirm form asks its reason.
    revision = bool(code) and db.session.scalar(
        select(Plan.status).where(Plan.code == code)
    ) not in (None, "draft")
    only_flagged = request.args.get("flagged") == "1"
    flagged = sum(1 for e in entries if e.row is not None and (e.row.get("flags") or e.errors))
    page = render_template(
        "documents/draft.html",
        draft=draft,
        head=draft.data,
        entries=entries,
        columns=_columns(entries),
        only_flagged=only_flagged,
        flagged=flagged,
        items=sum(1 for e in entries if e.row is not None),
        unknown=_unknown_names(draft, entries),
        choices=choices or {},
        unit_kinds=UNIT_KINDS,
        flag_labels={code: str(text) for code, text in FLAG_LABELS.items()},
        mark_labels={kind: str(text) for kind, text in MARK_LABELS.items()},
        message=message,
        general_errors=general_errors or [],
        value_text=value_text,
        marked=marked,
        revision=revision,
    )
    return page, status


@bp.get("/plan-drafts/<id:draft_id>")
@roles_required(*STAFF)
def show(draft_id: int) -> Any:
    """The review grid: every item beside its source sentence, flags on what needs a look."""
    draft = _draft(draft_id)
    if draft.status != DraftStatus.OPEN.value:
        plan = db.session.get(Plan, draft.plan_id) if draft.plan_id else None
        if plan is not None:
            flash(_("This draft was imported as plan %(code)s.", code=plan.code), "success")
            return redirect(url_for("plans.show", code=plan.code))
        flash(_("This draft was discarded."), "success")
        return redirect(url_for("documents.index"))
    return _grid(draft)


def _stale() -> str:
    return _(
        "Someone else changed this draft since you opened it, so nothing was saved. "
        "Here it is as it is now: make your change again."
    )


def _posted_version() -> int | None:
    text = request.form.get("version", "")
    return digits(text)


def changes_from(form: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, Any]:
    """The edits of a grid form: only fields whose posted text differs from the draft's.

    Fields are named ``head-<field>``, ``section-<id>-<field>`` and ``item-<id>-<field>``; a
    field not posted is left alone (the JavaScript editor posts one cell at a time).
    """
    changes: dict[str, Any] = {"head": {}, "sections": {}, "items": {}}
    for key in HEAD_FIELDS:
        posted = form.get(f"head-{key}")
        if posted is not None and posted.strip() != value_text(data.get(key)):
            changes["head"][key] = posted.strip()[:FIELD_MAX]

    def walk(node: Mapping[str, Any]) -> None:
        for item in node.get("items") or []:
            _collect(form, "item", item, ITEM_FIELDS, changes["items"])
        for section in node.get("sections") or []:
            _collect(form, "section", section, SECTION_FIELDS, changes["sections"])
            walk(section)

    walk(data)
    return {k: v for k, v in changes.items() if v}


def _collect(
    form: Mapping[str, str],
    prefix: str,
    node: Mapping[str, Any],
    fields: tuple[str, ...],
    into: dict[str, dict[str, str]],
) -> None:
    key = str(node.get("id"))
    for name in fields:
        posted = form.get(f"{prefix}-{key}-{name}")
        if posted is None:
            continue
        posted = posted.replace("\r\n", "\n").strip()
        if posted != value_text(node.get(name)).strip():
            into.setdefault(key, {})[name] = posted[:FIELD_MAX]


@bp.post("/plan-drafts/<id:draft_id>")
@roles_required(*STAFF)
def update(draft_id: int) -> Any:
    """Save the edited cells (all or nothing, against the version the form was read at)."""
    draft = _draft(draft_id)
    version = _posted_version()
    if version != draft.version:
        return _refused(draft_id, 409, _stale())
    changes = changes_from(request.form, draft.data)
    if not changes:
        if _wants_json():
            return jsonify({"version": draft.version, "row": None})
        flash(_("Nothing changed."), "success")
        return _back(draft)
    try:
        drafts.update(draft, changes, actor=current_user, version=version)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return _refused(draft_id, 409, _stale())
    except DomainError as exc:
        db.session.rollback()
        if isinstance(exc, StaleObject):
            return _refused(draft_id, 409, _stale())
        return _refused(draft_id, 422, exc.message)
    if _wants_json():
        return _saved_json(draft, changes)
    flash(_("Draft saved."), "success")
    return _back(draft)


def _refused(draft_id: int, status: int, message: str) -> Any:
    """An edit refused: the inline editor gets the message, a form post the grid as it is."""
    if _wants_json():
        return jsonify({"error": message}), status
    return _grid(_draft(draft_id), status=status, message=message)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _saved_json(draft: PlanDraft, changes: Mapping[str, Any]) -> Any:
    """The inline editor's answer: the new version and the edited item's flags."""
    row: dict[str, Any] | None = None
    edited = list(changes.get("items") or {})
    if len(edited) == 1:
        found = next((r for r in drafts.rows(draft) if str(r.get("id")) == edited[0]), None)
        if found is not None:
            flags = found.get("flags") or []
            row = {
                "flags": [{"code": f, "label": str(FLAG_LABELS.get(f, f))} for f in flags],
                "unknown_units": list(found.get("unknown_units") or []),
            }
    return jsonify({"version": draft.version, "row": row})


def _back(draft: PlanDraft) -> Any:
    anchor = request.form.get("anchor", "")[:40]
    if request.form.get("flagged") == "1":
        target = url_for("documents.show", draft_id=draft.id, flagged="1")
    else:
        target = url_for("documents.show", draft_id=draft.id)
    return redirect(target + (f"#{anchor}" if anchor.replace("-", "").isalnum() else ""))


# -- confirm, discard ----------------------------------------------------------------------------


def _row_errors(draft: PlanDraft, preview: Any) -> tuple[dict[str, list[str]], list[str]]:
    """The importer's errors by item or section id (as the service places them), and those
    of the plan as a whole."""
    by_id: dict[str, list[str]] = {}
    general: list[str] = []
    for error in drafts.errors(draft, preview):
        if error.target and error.target != "head":
            by_id.setdefault(error.target, []).append(error.message)
        else:
            general.append(error.message)
    return by_id, general


@bp.post("/plan-drafts/<id:draft_id>/confirm")
@roles_required(*STAFF)
def confirm(draft_id: int) -> Any:
    """Import the draft through the plan importer: the plan lands as a draft to publish."""
    draft = _draft(draft_id)
    choices = plan_names.parse_choices(request.form)
    if _posted_version() != draft.version:
        return _grid(draft, status=409, message=_stale(), choices=choices)
    try:
        preview = drafts.confirm(
            draft,
            actor=current_user,
            choices=choices,
            reason=request.form.get("reason", ""),
            version=_posted_version(),
        )
    except StaleDataError:
        db.session.rollback()
        return _grid(_draft(draft_id), status=409, message=_stale(), choices=choices)
    except DomainError as exc:
        db.session.rollback()
        stale = isinstance(exc, StaleObject)
        return _grid(
            _draft(draft_id),
            status=409 if stale else 422,
            message=_stale() if stale else exc.message,
            choices=choices,
        )
    if preview.errors:
        by_id, general = _row_errors(draft, preview)
        db.session.rollback()
        return _grid(
            _draft(draft_id),
            status=422,
            message=_("Nothing was imported: correct the problems marked below, then confirm."),
            errors=by_id,
            general_errors=general,
            choices=choices,
        )
    db.session.commit()
    status = db.session.scalar(select(Plan.status).where(Plan.code == preview.code))
    if preview.status == "unchanged":
        flash(_("Nothing was imported: the plan already matches this draft."), "success")
    elif status == "draft":
        flash(
            _("Plan %(code)s imported as a draft: check it, then publish it.", code=preview.code),
            "success",
        )
    else:
        flash(_("Plan %(code)s imported.", code=preview.code), "success")
    return redirect(url_for("plans.show", code=preview.code))


@bp.post("/plan-drafts/<id:draft_id>/discard")
@roles_required(*STAFF)
def discard(draft_id: int) -> Any:
    """Drop the draft (nothing was imported from it)."""
    draft = _draft(draft_id)
    try:
        drafts.discard(draft, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("documents.show", draft_id=draft_id))
    db.session.commit()
    flash(_("Draft discarded: nothing was imported."), "success")
    return redirect(url_for("documents.index"))
