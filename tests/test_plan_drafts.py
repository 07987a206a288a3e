"""Draft plans read from documents: the service (create, correct, confirm through the plan
importer), the /api/v1/plan-drafts/ contract and the `taskhub plan parse / import-document`
commands.

The parser proper lands on other branches; here drafts are mostly built from a synthetic
Draft (what the parser returns), and two tests go through parse() end to end.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.documents import drafts
from taskhub.documents.model import (
    FLAG_NO_LEAD,
    FLAG_UNKNOWN_UNIT,
    Draft,
    DraftItem,
    DraftSection,
    Span,
)
from taskhub.documents.models import PlanDraft
from taskhub.imports.plan_names import NameChoice
from taskhub.plans.models import Item, ItemUnit, Plan
from taskhub.tracking.models import Assignment
from taskhub.units.models import City, Unit
from tests.conftest import make_user

CITY = "baotou"
NEW_NAME = "市大数据发展中心"

#: A small prose plan, as a city would print it (its units are 包头市's).
SOURCE = (
    "包头市数字政府建设2024年工作要点\n"
    "一、政务服务\n"
    "1. 推进政务服务事项标准化，统一办理要素，2024年6月底前完成。（牵头单位：市审批服务局；"
    "责任单位：市公安局、市医保局）\n"
    "2. 建设城市数据底座，汇聚公共数据，年底前完成。（市发改委牵头，" + NEW_NAME + "配合）\n"
    "二、保障措施\n"
    "3. 开展数字政府建设培训，提升干部数字素养。\n"
)


def _span(text: str) -> Span:
    start = SOURCE.index(text)
    return Span(start, start + len(text))


def synthetic_draft() -> Draft:
    """What the parser gives for SOURCE (built by hand while the parser is elsewhere)."""
    one = SOURCE.splitlines()[2]
    two = SOURCE.splitlines()[3]
    three = SOURCE.splitlines()[5]
    return Draft(
        title="包头市数字政府建设2024年工作要点",
        year=2024,
        sections=[
            DraftSection(
                number="一",
                title="政务服务",
                items=[
                    DraftItem(
                        number="1",
                        title="推进政务服务事项标准化",
                        text=one[3:],
                        lead_units=["市审批服务局"],
                        responsible_units=["市公安局", "市医保局"],
                        deadline_text="2024年6月底前完成",
                        source=_span(one),
                    ),
                    DraftItem(
                        number="2",
                        title="建设城市数据底座",
                        text=two[3:],
                        lead_units=["市发改委"],
                        responsible_units=[NEW_NAME],
                        deadline_text="年底前完成",
                        points=Decimal("5"),
                        source=_span(two),
                    ),
                ],
            ),
            DraftSection(
                number="二",
                title="保障措施",
                items=[
                    DraftItem(
                        number="3",
                        title="开展数字政府建设培训",
                        text=three[3:],
                        flags=[FLAG_NO_LEAD],
                        source=_span(three),
                    )
                ],
            ),
        ],
        source_text=SOURCE,
    )


def city() -> City:
    return db.session.scalars(select(City).where(City.code == CITY)).one()


def office() -> Any:
    return make_user("office", username="office-drafts")


def new_draft(actor: Any) -> PlanDraft:
    draft = drafts.store(
        synthetic_draft(), city=city(), actor=actor, name="要点.docx", format="docx"
    )
    db.session.commit()
    return draft


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# -- the service -------------------------------------------------------------------------------


def test_a_stored_draft_has_ids_a_code_and_its_unknown_names(session: Any) -> None:
    draft = new_draft(office())
    data = draft.data
    assert data["code"] == "baotou-2024"
    assert [s["id"] for s in data["sections"]] == ["s1", "s2"]
    items = [i for s in data["sections"] for i in s["items"]]
    assert [i["id"] for i in items] == ["i1", "i2", "i3"]
    assert items[1]["unknown_units"] == [NEW_NAME]
    assert FLAG_UNKNOWN_UNIT in items[1]["flags"]
    assert FLAG_UNKNOWN_UNIT not in items[0]["flags"]
    (unknown,) = data["unknown_names"]
    assert unknown["name"] == NEW_NAME
    assert unknown["places"] == ["i2"]
    assert unknown["kind"] == "department"
    assert unknown["similar"], "the closest known names are offered"
    # A second draft of the same city and year gets the next free code.
    assert new_draft(office_two()).data["code"] == "baotou-2024-2"
    events = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == drafts.AUDIT_OBJECT)
    ).all()
    assert events.count("plan_draft.created") == 2


def office_two() -> Any:
    return make_user("office", username="office-drafts-2")


def test_rows_put_each_item_beside_its_sentence_with_highlights(session: Any) -> None:
    draft = new_draft(office())
    rows = drafts.rows(draft)
    assert [r["id"] for r in rows] == ["i1", "i2", "i3"]
    second = rows[1]
    assert [p["title"] for p in second["path"]] == ["政务服务"]
    assert second["sentence"].startswith("2. 建设城市数据底座")
    marked = {(h["kind"], second["sentence"][h["start"] : h["end"]]) for h in second["highlights"]}
    assert ("unit", "市发改委") in marked
    assert ("unknown_unit", NEW_NAME) in marked
    assert ("deadline", "年底前完成") in marked
    starts = [h["start"] for h in second["highlights"]]
    assert starts == sorted(starts)


def test_an_edit_re_resolves_units_and_flags(session: Any) -> None:
    user = office()
    draft = new_draft(user)
    drafts.update(
        draft,
        {
            "head": {"title": "包头市数字政府建设工作要点（修订）"},
            "items": {
                "i2": {"responsible_units": "市财政局、市教育局"},
                "i3": {"lead_units": ["市委组织部"], "deadline_text": "某个时候"},
            },
            "sections": {"s2": {"title": "组织保障"}},
        },
        actor=user,
        version=draft.version,
    )
    db.session.commit()
    items = [r for r in drafts.rows(draft)]
    assert items[1]["responsible_units"] == ["市财政局", "市教育局"]
    assert items[1]["unknown_units"] == [] and FLAG_UNKNOWN_UNIT not in items[1]["flags"]
    assert FLAG_NO_LEAD not in items[2]["flags"]
    assert "deadline_unreadable" in items[2]["flags"]
    assert draft.data["unknown_names"] == []
    assert draft.data["sections"][1]["title"] == "组织保障"
    assert draft.version == 2
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "plan_draft.updated")
    ).one()
    assert event.after["i2.responsible_units"] == ["市财政局", "市教育局"]


def test_an_edit_on_an_old_version_is_refused(session: Any) -> None:
    user = office()
    draft = new_draft(user)
    old = draft.version
    drafts.update(draft, {"items": {"i1": {"title": "甲"}}}, actor=user, version=old)
    db.session.commit()
    with pytest.raises(drafts.DraftChanged):
        drafts.update(draft, {"items": {"i1": {"title": "乙"}}}, actor=user, version=old)
    db.session.rollback()
    assert drafts.rows(draft)[0]["title"] == "甲"


def test_a_confirm_on_an_old_version_imports_nothing(session: Any) -> None:
    """The page confirms the version it showed: an edit saved in between (checked under the
    draft's lock) refuses the confirm instead of importing what nobody confirmed."""
    user = office()
    draft = new_draft(user)
    seen = draft.version
    drafts.update(draft, {"items": {"i1": {"title": "别人改的"}}}, actor=user, version=seen)
    db.session.commit()
    with pytest.raises(drafts.DraftChanged):
        drafts.confirm(draft, actor=user, version=seen)
    db.session.rollback()
    assert draft.status == "open" and draft.plan_id is None


def test_invalid_edits_name_the_item(session: Any) -> None:
    user = office()
    draft = new_draft(user)
    with pytest.raises(ValidationFailed, match="1"):
        drafts.update(draft, {"items": {"i1": {"points": "很多"}}}, actor=user, version=1)
    with pytest.raises(ValidationFailed):
        drafts.update(draft, {"items": {"i9": {"title": "x"}}}, actor=user, version=1)
    with pytest.raises(ValidationFailed):
        drafts.update(draft, {"head": {"code": "不是代码"}}, actor=user, version=1)
    with pytest.raises(ValidationFailed):
        drafts.update(draft, {"items": {"i1": {"text": ""}}}, actor=user, version=1)


def test_only_the_office_reads_drafts(session: Any) -> None:
    draft = new_draft(office())
    unit_user = make_user("unit")
    with pytest.raises(PermissionDenied):
        drafts.get(draft.id, unit_user)
    with pytest.raises(PermissionDenied):
        drafts.open_drafts(unit_user)
    assert draft in drafts.open_drafts(office_two())


def test_confirm_with_an_unknown_name_fails_and_maps_errors_to_items(session: Any) -> None:
    user = office()
    draft = new_draft(user)
    plans, units = count(Plan), count(Unit)
    result = drafts.confirm(draft, actor=user)
    assert result.errors
    placed = drafts.errors(draft, result)
    assert {(e.target, e.field) for e in placed} == {("i2", "responsible_units")}
    assert [u.name for u in result.unknown_names] == [NEW_NAME]
    assert drafts.unknown_places(draft, result) == {NEW_NAME: ["i2"]}
    db.session.rollback()
    assert (count(Plan), count(Unit)) == (plans, units)
    assert db.session.get(PlanDraft, draft.id).status == "open"


def test_confirm_with_choices_lands_a_draft_plan_with_assignments(session: Any) -> None:
    user = office()
    draft = new_draft(user)
    result = drafts.confirm(
        draft, actor=user, choices={NEW_NAME: NameChoice("create", kind="department")}
    )
    assert not result.errors, result.errors
    db.session.commit()
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2024")).one()
    assert plan.status == "draft"
    assert plan.title == "包头市数字政府建设2024年工作要点"
    assert draft.status == "confirmed" and draft.plan_id == plan.id
    items = {i.code: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))}
    assert set(items) == {"1", "2", "3"}
    assert items["1"].deadline_phrase == "2024年6月底前完成"
    unit = db.session.scalars(select(Unit).where(Unit.name == NEW_NAME)).one()
    assert unit.kind == "department"
    links = db.session.execute(
        select(ItemUnit.role, Unit.name)
        .join(Unit, Unit.id == ItemUnit.unit_id)
        .where(ItemUnit.item_id == items["2"].id)
        .order_by(ItemUnit.role, ItemUnit.position)
    ).all()
    assert [tuple(link) for link in links] == [("lead", "市发改委"), ("responsible", NEW_NAME)]
    # A task with no lead in the document is imported as 待分配; publishing assigns the rest.
    assert "3" in result.unassigned
    assert plan.id == result.plan_id
    # Published from its page, the plan assigns its units.
    from taskhub.plans import lifecycle

    lifecycle.publish(plan, actor=user)
    db.session.commit()
    assigned = set(
        db.session.scalars(
            select(Unit.name)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .where(Assignment.item_id == items["2"].id)
        )
    )
    assert assigned == {"市发改委", NEW_NAME}
    actions = set(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id))
    )
    assert {"plan_draft.confirmed", "import.plan", "unit.created"} <= actions
    with pytest.raises(drafts.DraftClosed):
        drafts.update(draft, {"items": {"i1": {"title": "x"}}}, actor=user, version=draft.version)


def test_discard(session: Any) -> None:
    user = office()
    draft = new_draft(user)
    drafts.discard(draft, actor=user)
    db.session.commit()
    assert draft.status == "discarded"
    assert draft not in drafts.open_drafts(user)


# -- the API -----------------------------------------------------------------------------------

URL = "/api/v1/plan-drafts/"


def test_api_reads_pasted_text_into_a_draft(api_as: Any) -> None:
    api = api_as("office")
    response = api.post(URL, json={"city": CITY, "text": SOURCE, "year": 2024})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "open" and body["city"] == CITY and body["version"] == 1
    assert body["name"] == "粘贴的文本"
    assert body["draft"]["year"] == 2024
    assert body["draft"]["code"] == "baotou-2024"
    assert {"title", "sections", "items", "warnings", "unknown_names"} <= set(body["draft"])
    assert response.headers["Location"].endswith(f"/plan-drafts/{body['id']}")
    again = api.get(response.headers["Location"])
    assert again.status_code == 200 and again.headers["ETag"]


def test_api_reads_an_uploaded_file_and_refuses_what_it_cannot_read(api_as: Any) -> None:
    import io

    api = api_as("office")
    response = api.post(
        URL,
        data={"city": CITY, "file": (io.BytesIO(SOURCE.encode("gbk")), "要点.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["format"] == "txt"
    refused = api.post(
        URL,
        data={"city": CITY, "file": (io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" * 8), "a.wps")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "unreadable_document"
    assert "WPS" in refused.get_json()["message"]
    unknown_city = api.post(URL, json={"city": "nowhere", "text": SOURCE})
    assert unknown_city.status_code == 422
    assert "city" in unknown_city.get_json()["errors"]


def test_api_is_for_the_office_only(api_as: Any, session: Any) -> None:
    draft = new_draft(office())
    unit = api_as("unit")
    assert unit.post(URL, json={"city": CITY, "text": SOURCE}).status_code == 403
    assert unit.get(f"{URL}{draft.id}").status_code == 403
    assert unit.post(f"{URL}{draft.id}/confirm", json={}).status_code == 403


def test_api_confirm_with_an_old_version_is_stale(api_as: Any, session: Any) -> None:
    draft = new_draft(office())
    api = api_as("office")
    url = f"{URL}{draft.id}"
    etag = api.get(url).headers["ETag"]
    seen = api.get(url).get_json()["version"]
    edited = api.patch(url, json={"head": {"title": "改过的标题"}}, headers={"If-Match": etag})
    assert edited.status_code == 200
    stale = api.post(f"{url}/confirm", json={"version": seen})
    assert stale.status_code == 409 and stale.get_json()["code"] == "stale"
    assert api.get(url).get_json()["status"] == "open"


def test_api_patch_needs_the_etag_and_names_the_item(api_as: Any, session: Any) -> None:
    draft = new_draft(office())
    api = api_as("office")
    url = f"{URL}{draft.id}"
    etag = api.get(url).headers["ETag"]
    changes = {"items": {"i2": {"responsible_units": "市财政局"}}}
    assert api.patch(url, json=changes).status_code == 428
    response = api.patch(url, json=changes, headers={"If-Match": etag})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["version"] == 2
    assert body["draft"]["unknown_names"] == []
    assert "i2" not in body["flags"] or "unknown_unit" not in body["flags"]["i2"]
    stale = api.patch(url, json=changes, headers={"If-Match": etag})
    assert stale.status_code == 412
    bad = api.patch(
        url,
        json={"items": {"i1": {"points": "很多"}}},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert bad.status_code == 422
    assert "1" in bad.get_json()["message"]


def test_api_confirm_reports_unknown_names_then_imports_with_choices(
    api_as: Any, session: Any
) -> None:
    draft = new_draft(office())
    api = api_as("office")
    url = f"{URL}{draft.id}/confirm"
    refused = api.post(url, json={})
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]
    assert "items.i2.responsible_units" in errors
    assert f"unknown_names.{NEW_NAME}" in errors
    assert db.session.scalar(select(Plan.id).where(Plan.code == "baotou-2024")) is None
    response = api.post(
        url, json={"choices": {NEW_NAME: {"action": "create", "kind": "department"}}}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["code"] == "baotou-2024" and body["status"] == "new"
    plan = db.session.get(Plan, body["plan_id"])
    assert plan is not None and plan.status == "draft"
    assert api.post(url, json={}).status_code == 409


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli(app: Any, session: Any) -> Any:
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(args=list(args), input=input)

    return invoke


def test_plan_parse_json_prints_the_contract_and_writes_nothing(cli: Any, tmp_path: Any) -> None:
    path = tmp_path / "要点.txt"
    path.write_bytes(SOURCE.encode("gb18030"))
    before = (count(PlanDraft), count(AuditEvent), count(Plan), count(Unit))
    result = cli("plan", "parse", str(path), "--year", "2024", "--city", CITY, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"title", "document_number", "year", "kind", "sections", "items", "warnings"} <= set(
        data
    )
    assert data["year"] == 2024
    assert data["kind"] in ("tasks", "indicators")
    assert isinstance(data["unknown_names"], list)
    assert (count(PlanDraft), count(AuditEvent), count(Plan), count(Unit)) == before
    plain = cli("plan", "parse", str(path))
    assert plain.exit_code == 0, plain.output
    assert "items" in plain.stdout


def test_plan_parse_refuses_what_it_cannot_read(cli: Any, tmp_path: Any) -> None:
    path = tmp_path / "方案.wps"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64)
    result = cli("plan", "parse", str(path), "--json")
    assert result.exit_code != 0
    assert "WPS" in result.output and ".docx" in result.output


def test_import_document_without_items_imports_nothing(cli: Any, tmp_path: Any) -> None:
    path = tmp_path / "空.txt"
    path.write_text("各旗县区人民政府，市直各部门：\n现将有关事项通知如下。\n", encoding="utf-8")
    plans = count(Plan)
    result = cli("plan", "import-document", str(path), "--city", CITY, "--yes")
    assert result.exit_code != 0
    assert count(Plan) == plans and count(PlanDraft) == 0


def test_import_document_end_to_end(cli: Any, tmp_path: Any) -> None:
    """parse -> draft -> plan importer, from the command line (needs the prose parser)."""
    known = SOURCE.replace(NEW_NAME, "市财政局")
    path = tmp_path / "要点.txt"
    path.write_text(known, encoding="utf-8")
    result = cli("plan", "import-document", str(path), "--city", CITY, "--code", "bt-doc", "--yes")
    assert result.exit_code == 0, result.output
    plan = db.session.scalars(select(Plan).where(Plan.code == "bt-doc")).one()
    assert plan.status == "draft"
    codes = set(db.session.scalars(select(Item.code).where(Item.plan_id == plan.id)))
    assert codes == {"1", "2", "3"}
    unknown = path.with_name("新.txt")
    unknown.write_text(SOURCE, encoding="utf-8")
    refused = cli("plan", "import-document", str(unknown), "--city", CITY, "--yes")
    assert refused.exit_code != 0 and NEW_NAME in refused.output


def test_pasted_text_parses_into_items_with_units(session: Any) -> None:
    """create() through parse(): the prose plan's items, units and deadlines (needs the parser)."""
    draft = drafts.create(city=city(), actor=office(), name="", text=SOURCE, year=2024)
    rows = drafts.rows(draft)
    assert [r["number"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["lead_units"] == ["市审批服务局"]
    assert rows[0]["responsible_units"] == ["市公安局", "市医保局"]
    assert rows[1]["unknown_units"] == [NEW_NAME]
    assert rows[0]["deadline_text"]


def test_highlights_mark_points_only_as_printed_with_their_unit() -> None:
    sentence = "2. 完成2项试点（市财政局牵头），得2分，年底前。"
    item = {"lead_units": ["市财政局"], "deadline_text": "年底前", "points": 2}
    marks = [
        (h["kind"], sentence[h["start"] : h["end"]]) for h in drafts.highlights(sentence, item)
    ]
    assert marks == [("unit", "市财政局"), ("points", "2分"), ("deadline", "年底前")]
    assert drafts.highlights("2. 完成2项试点。", {"points": 2}) == []
