"""API: plan drafts read from documents (/api/v1/plan-drafts/).

``POST /plan-drafts/`` reads a document (multipart ``file``) or pasted text (JSON ``text``)
into a draft; ``GET`` and ``PATCH /plan-drafts/{id}`` read and correct it (PATCH needs the
ETag in If-Match); ``POST /plan-drafts/{id}/confirm`` imports it through the plan importer,
all or nothing. The office and admins only; the rules are taskhub.documents.drafts'.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import request, url_for
from flask.views import MethodView
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select

from taskhub.core import api as core
from taskhub.core.api import api_user, no_nul
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.limits import length
from taskhub.core.permissions import STAFF
from taskhub.documents import drafts
from taskhub.documents.models import PlanDraft
from taskhub.documents.readers import UnreadableDocument
from taskhub.imports.plan_names import ALIAS, CREATE, NameChoice
from taskhub.imports.workbook import WorkbookRejected
from taskhub.units.models import UNIT_KINDS, City

blp = core.blueprint(
    "plan-drafts", __name__, description="Draft plans read from documents, before import."
)

_YEAR = validate.Range(min=2000, max=2100)


class NewDraftArgs(Schema):
    """Pasted text to read into a draft."""

    class Meta:
        unknown = RAISE

    city = fields.String(
        required=True,
        validate=[length("city.code", required=True), no_nul],
        metadata={"example": "baotou"},
    )
    text = fields.String(
        required=True,
        validate=[length("document.text", required=True), no_nul],
        metadata={"description": "The plan's text as copied from the document or website."},
    )
    name = fields.String(
        validate=[validate.Length(max=200), no_nul],
        metadata={"description": "A name for the draft (default 粘贴的文本)."},
    )
    year = fields.Integer(
        strict=True, validate=_YEAR, metadata={"description": "The plan year, if not printed."}
    )


class NewDraftFormArgs(Schema):
    """A document file to read into a draft (.docx, .pdf with text, .txt, .md, .html)."""

    class Meta:
        unknown = RAISE

    city = fields.String(required=True, validate=[length("city.code", required=True), no_nul])
    year = fields.Integer(validate=_YEAR)
    file = fields.Raw(
        required=True,
        load_only=True,
        metadata={"type": "string", "format": "binary", "description": "The document."},
    )


class DraftSchema(Schema):
    """A draft: its state, the draft JSON (``taskhub plan parse --json`` plus ``code``,
    ``unknown_names`` and ids) and the flags of its items by id."""

    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["open", "confirmed", "discarded"])
    )
    city = fields.String(required=True)
    name = fields.String(required=True)
    format = fields.String(required=True)
    plan_id = fields.Integer(allow_none=True, required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    draft = fields.Dict(required=True, metadata={"description": "The draft JSON."})
    flags = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Flags by item id (items without flags are left out)."},
    )


_UNITS_NOTE = "Unit names: a list, or one text split as documents write them (、，及 和)."
_NUMBER_NOTE = 'A number of zero or more (or text such as "5"); null clears it.'


def _text_field(limit_name: str) -> fields.String:
    return fields.String(allow_none=True, validate=[length(limit_name), no_nul])


class HeadChanges(Schema):
    class Meta:
        unknown = RAISE

    title = _text_field("plan.title")
    code = fields.String(validate=[validate.Length(min=1, max=64), no_nul])
    year = fields.Integer(strict=True, validate=_YEAR)
    document_number = _text_field("plan.document_number")
    issued_on = fields.String(allow_none=True, validate=[validate.Length(max=10), no_nul])
    kind = fields.String(validate=validate.OneOf(["tasks", "indicators"]))
    points = fields.Raw(allow_none=True, metadata={"description": _NUMBER_NOTE})
    assessed = fields.Raw(metadata={"description": _UNITS_NOTE})


class SectionChanges(Schema):
    class Meta:
        unknown = RAISE

    number = _text_field("section.number")
    title = fields.String(validate=[length("section.title", required=True), no_nul])
    points = fields.Raw(allow_none=True, metadata={"description": _NUMBER_NOTE})


class ItemChanges(Schema):
    class Meta:
        unknown = RAISE

    number = _text_field("item.number")
    title = _text_field("item.title")
    text = fields.String(validate=[length("item.text", required=True), no_nul])
    lead_units = fields.Raw(metadata={"description": _UNITS_NOTE})
    responsible_units = fields.Raw(metadata={"description": _UNITS_NOTE})
    lead_assessors = fields.Raw(metadata={"description": _UNITS_NOTE})
    deadline_text = _text_field("item.deadline_phrase")
    points = fields.Raw(allow_none=True, metadata={"description": _NUMBER_NOTE})
    weight = fields.Raw(allow_none=True, metadata={"description": _NUMBER_NOTE})


class DraftChangesArgs(Schema):
    """Corrections: the head's fields, and fields of items and sections by their ids."""

    class Meta:
        unknown = RAISE

    head = fields.Nested(HeadChanges)
    items = fields.Dict(
        keys=fields.String(validate=validate.Length(max=20)), values=fields.Nested(ItemChanges)
    )
    sections = fields.Dict(
        keys=fields.String(validate=validate.Length(max=20)), values=fields.Nested(SectionChanges)
    )


class ChoiceArgs(Schema):
    """Settle an unknown unit name: create it as a unit of ``kind``, or make it an alias of
    ``target`` (a known name)."""

    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf([CREATE, ALIAS]))
    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    target = fields.String(validate=[length("unit.name"), no_nul])


class ConfirmArgs(Schema):
    class Meta:
        unknown = RAISE

    choices = fields.Dict(
        keys=fields.String(validate=[length("unit.name"), no_nul]),
        values=fields.Nested(ChoiceArgs),
        metadata={"description": "Unknown unit names (draft.unknown_names) and what they are."},
    )
    reason = fields.String(
        validate=[length("plan.revision_reason"), no_nul],
        metadata={"description": "修订理由: needed when the code is a published plan's."},
    )
    version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={
            "description": "The draft's version as last read: when someone saved since, the "
            "answer is 409 stale and nothing is imported. Left out, the draft as it is now."
        },
    )


class ConfirmedSchema(Schema):
    """The imported plan (a draft plan, published from its page)."""

    class Meta:
        unknown = EXCLUDE

    draft_id = fields.Integer(required=True)
    plan_id = fields.Integer(required=True)
    code = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "new or updated"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    unassigned = fields.List(
        fields.String(), required=True, metadata={"description": "Tasks imported as 待分配."}
    )
    unparsed = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Items whose deadline phrase is kept verbatim and flagged."},
    )


_NEW_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": NewDraftArgs},
        "multipart/form-data": {"schema": NewDraftFormArgs},
    },
}
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_ERROR = {"schema": core.ErrorSchema}


def _draft_or_404(draft_id: int, *, lock: bool = False) -> PlanDraft:
    draft: PlanDraft = core.get_or_404(PlanDraft, draft_id, lock=lock)
    return draft


def _fail(error: DomainError, where: str = "_schema") -> NoReturn:
    db.session.rollback()
    if isinstance(error, UnreadableDocument):
        core.abort(422, error.message, code="unreadable_document", errors={where: [error.message]})
    core.abort_for(error)


def _new_input() -> tuple[dict[str, Any], bytes | None, str]:
    """The request's fields and file (multipart) or text (JSON)."""
    schema: Schema
    if request.mimetype in _FORM_TYPES:
        schema = NewDraftFormArgs()
        data: Any = {k: v for k, v in request.form.items() if v != ""}
        unknown = [name for name in request.files if name != "file"]
        if unknown:
            core.abort(
                422,
                "The document goes in the field 'file'.",
                errors={n: ["Unknown field."] for n in unknown},
            )
        upload = request.files.get("file")
        if upload is None:
            core.abort(
                422,
                "Send the document in the field 'file'.",
                errors={"file": ["Missing data for required field."]},
            )
        data["file"] = upload.filename or "document"
        try:
            args = schema.load(data)
        except ValidationError as error:
            core.abort(422, "The draft is not valid.", errors=error.normalized_messages())
        return args, upload.read(), upload.filename or "document"
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None:
            core.abort(400, "The body is not valid JSON.")
        try:
            args = NewDraftArgs().load(body)
        except ValidationError as error:
            core.abort(422, "The draft is not valid.", errors=error.normalized_messages())
        return args, None, args.get("name") or drafts.PASTED
    core.abort(415, "Send the document as multipart/form-data or the text as application/json.")


@blp.route("/plan-drafts/")
class PlanDrafts(MethodView):
    @core.roles(*STAFF)
    @blp.doc(requestBody=_NEW_BODY)
    @blp.response(201, DraftSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(403, **_ERROR, description="Not admin or office.")
    @blp.alt_response(413, **_ERROR, description="The request is too large.")
    @blp.alt_response(415, **_ERROR, description="Neither JSON nor multipart/form-data.")
    @blp.alt_response(
        422,
        **_ERROR,
        description="Invalid fields, an unknown city, or a document that cannot be read "
        "(code unreadable_document: the message says what to save it as).",
    )
    def post(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Read a document (multipart ``file`` + ``city`` [+ ``year``]) or pasted text (JSON
        ``{"city", "text", "name"?, "year"?}``) into a draft plan; nothing is imported yet."""
        args, content, name = _new_input()
        city = db.session.scalar(select(City).where(City.code == args["city"]))
        if city is None:
            core.abort(
                422, f"There is no city {args['city']!r}.", errors={"city": ["Unknown city."]}
            )
        try:
            draft = drafts.create(
                city=city,
                actor=api_user(),
                name=name,
                data=content,
                text=args.get("text"),
                year=args.get("year"),
            )
        except DomainError as error:
            _fail(error, "file" if content is not None else "text")
        draft_id = draft.id
        db.session.commit()
        location = url_for("api_plan-drafts.PlanDraftById", draft_id=draft_id)
        return drafts.to_json(draft), {"Location": location}


@blp.route("/plan-drafts/<int:draft_id>")
class PlanDraftById(MethodView):
    @core.roles(*STAFF)
    @blp.etag
    @blp.response(200, DraftSchema)
    @blp.alt_response(403, **_ERROR, description="Not admin or office.")
    def get(self, draft_id: int) -> dict[str, Any]:
        """One draft; send its ETag in If-Match to correct it."""
        return drafts.to_json(_draft_or_404(draft_id))

    @core.roles(*STAFF)
    @blp.etag
    @blp.arguments(DraftChangesArgs)
    @blp.response(200, DraftSchema)
    @blp.alt_response(403, **_ERROR, description="Not admin or office.")
    @blp.alt_response(409, **_ERROR, description="Changed by someone else, or not open.")
    @blp.alt_response(422, **_ERROR, description="A correction is invalid (names the item).")
    def patch(self, args: dict[str, Any], draft_id: int) -> dict[str, Any]:
        """Correct the draft (If-Match required): ``head`` fields, and ``items`` / ``sections``
        fields by id; unit lists are resolved again against the city. Audited."""
        draft = _draft_or_404(draft_id, lock=True)
        blp.check_etag(drafts.to_json(draft), DraftSchema)
        try:
            drafts.update(draft, args, actor=api_user(), version=draft.version)
        except drafts.DraftClosed as error:
            db.session.rollback()
            core.abort(409, error.message, code="closed")
        except DomainError as error:
            _fail(error)
        db.session.commit()
        return drafts.to_json(draft)


@blp.route("/plan-drafts/<int:draft_id>/confirm")
class ConfirmDraft(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(ConfirmArgs)
    @blp.response(201, ConfirmedSchema)
    @blp.alt_response(403, **_ERROR, description="Not admin or office.")
    @blp.alt_response(
        409, **_ERROR, description="Already confirmed or discarded, or changed since ``version``."
    )
    @blp.alt_response(
        422,
        **_ERROR,
        description="The plan importer refused it; nothing was written. ``errors`` by place: "
        "``items.<id>.<field>``, ``sections.<id>.<field>``, ``head.<field>``, and "
        "``unknown_names.<name>`` (settle with ``choices``; the draft's ``unknown_names`` "
        "give each name's guessed kind and similar known names).",
    )
    def post(self, args: dict[str, Any], draft_id: int) -> dict[str, Any]:
        """Import the draft through the plan importer (all or nothing): the plan lands as a
        draft plan, to publish from its page. Unknown unit names are settled by ``choices``."""
        draft = _draft_or_404(draft_id, lock=True)
        choices = {
            name: NameChoice(c["action"], kind=c.get("kind"), target=c.get("target"))
            for name, c in (args.get("choices") or {}).items()
        }
        try:
            result = drafts.confirm(
                draft,
                actor=api_user(),
                choices=choices,
                reason=args.get("reason", ""),
                version=args.get("version"),
            )
        except drafts.DraftClosed as error:
            db.session.rollback()
            core.abort(409, error.message, code="closed")
        except WorkbookRejected as error:
            db.session.rollback()
            core.abort(422, error.message, errors={"choices": [error.message]})
        except DomainError as error:
            _fail(error, "reason")
        if result.errors or result.plan_id is None:
            errors = _errors_by_place(draft, result)
            db.session.rollback()
            core.abort(
                422,
                f"The plan cannot be imported: {len(result.errors)} problems; nothing was written.",
                errors=errors or {"_schema": ["The plan is unchanged: nothing to import."]},
            )
        db.session.commit()
        return {
            "draft_id": draft_id,
            "plan_id": result.plan_id,
            "code": result.code,
            "status": result.status,
            "counts": result.counts,
            "unassigned": result.unassigned,
            "unparsed": result.unparsed,
        }


def _errors_by_place(draft: PlanDraft, result: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for error in drafts.errors(draft, result):
        if error.target is None:
            key = "_schema"
        elif error.target == "head":
            key = f"head.{error.field}" if error.field else "head"
        else:
            kind = "items" if error.target.startswith("i") else "sections"
            key = f"{kind}.{error.target}" + (f".{error.field}" if error.field else "")
        out.setdefault(key, []).append(error.message)
    for entry in result.unknown_names:
        hint = f"{entry.name}: unknown unit name; guessed kind {entry.kind}"
        if entry.similar:
            hint += "; similar known names: " + "、".join(entry.similar)
        out.setdefault(f"unknown_names.{entry.name}", []).append(hint)
    return out
