"""The tracking API: milestones, progress reports with evidence, reviews and extensions, with
the same rules and permissions as the pages."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import event, func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, Evidence, ProgressReport
from tests.conftest import unit_named
from tests.test_uploads import make_pdf, make_png

KUNDULUN = "昆都仑区人民政府"
QINGSHAN = "青山区人民政府"
APPROVALS = "市审批服务局"  # lead assessor of Baotou item 1, not of item 3
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
API = "/api/v1"


def assignment_id(code: str, unit: str = KUNDULUN) -> int:
    """Baotou 2022 item ``code``'s assignment of ``unit`` (item 3: one milestone, 06-30)."""
    found = db.session.scalar(
        select(Assignment.id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(
            Plan.code == "baotou-2022",
            Item.code == code,
            Assignment.unit_id == unit_named(unit, "baotou").id,
        )
    )
    assert found is not None
    return found


def multipart(files: list[tuple[bytes, str]], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {k: str(v) for k, v in fields.items()}
    data["evidence"] = [(io.BytesIO(content), name) for content, name in files]
    return {"data": data, "content_type": "multipart/form-data"}


def submit(client: Any, aid: int, **fields: Any) -> Any:
    body = {"progress": "已完成系统部署。", "percent": 50, **fields}
    return client.post(f"{API}/assignments/{aid}/reports", json=body)


def actions(object_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(
                AuditEvent.object_type == "progress_report", AuditEvent.object_id == str(object_id)
            )
            .order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def unit(api_as: Any) -> Any:
    return api_as("unit", unit_named(KUNDULUN, "baotou"))


@pytest.fixture
def office(api_as: Any) -> Any:
    return api_as("office")


# -- the journey ------------------------------------------------------------------------------


def test_report_return_resubmit_accept_through_the_api(unit: Any, office: Any) -> None:
    aid = assignment_id("3")
    pdf, png = make_pdf(), make_png()
    version = unit.get(f"{API}/assignments/{aid}").json["version"]
    sent = unit.post(
        f"{API}/assignments/{aid}/reports",
        **multipart(
            [(pdf, "进展报告.pdf"), (png, "现场照片.png")],
            progress="平台已上线试运行。",
            problems="数据对接慢。",
            next_steps="6月底前完成验收。",
            percent=60,
            version=version,
        ),
    )
    assert sent.status_code == 201, sent.json
    report = sent.json
    assert sent.headers["Location"].endswith(f"/api/v1/reports/{report['id']}")
    assert report["status"] == "submitted" and report["percent"] == 60
    assert report["problems"] == "数据对接慢。" and report["author"]["id"] == unit.user.id
    assert [e["original_name"] for e in report["evidence"]] == ["进展报告.pdf", "现场照片.png"]
    assert report["evidence"][0]["content_type"] == "application/pdf"
    assert unit.get(f"{API}/assignments/{aid}").json["status"] == "submitted"

    # The download is the uploaded file, byte for byte, as an attachment that is never sniffed.
    first = report["evidence"][0]
    download = unit.get(first["url"])
    assert download.status_code == 200
    assert download.data == pdf
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "%E8%BF%9B%E5%B1%95%E6%8A%A5%E5%91%8A.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()  # the file stays open until the response is closed
    meta = office.get(f"{API}/evidence/{first['id']}/meta")
    assert meta.json["size_bytes"] == len(pdf) and meta.json["report_id"] == report["id"]

    # The office's review queue has it; returning needs a reason.
    queue = office.get(f"{API}/reports/?status=submitted&reviewable=true&page_size=500")
    assert report["id"] in [r["id"] for r in queue.json]
    review_url = f"{API}/reports/{report['id']}/review"
    no_reason = office.post(review_url, json={"decision": "return"})
    assert no_reason.status_code == 422
    assert "reason" in no_reason.json["errors"]
    returned = office.post(review_url, json={"decision": "return", "reason": "缺少验收材料。"})
    assert returned.status_code == 200, returned.json
    assert returned.json["status"] == "returned"
    assert returned.json["reviews"][0]["reason"] == "缺少验收材料。"
    assert returned.json["reviews"][0]["reviewer"]["id"] == office.user.id
    assert returned.json["assignment"]["status"] == "returned"
    again = office.post(review_url, json={"decision": "accept"})
    assert again.status_code == 422 and again.json["code"] == "already_reviewed"

    # The unit resubmits (JSON this time) on the milestone; the office accepts: all done.
    milestones = unit.get(f"{API}/assignments/{aid}/milestones").json
    assert [m["status"] for m in milestones] == ["open"]
    resent = submit(
        unit, aid, progress="已通过验收。", percent=100, milestone_id=milestones[0]["id"]
    )
    assert resent.status_code == 201, resent.json
    accepted = office.post(f"{API}/reports/{resent.json['id']}/review", json={"decision": "accept"})
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "accepted"
    assignment = unit.get(f"{API}/assignments/{aid}").json
    assert assignment["status"] == "completed" and assignment["percent"] == 100
    assert assignment["completed_at"] is not None and assignment["next_milestone"] is None
    (done,) = unit.get(f"{API}/assignments/{aid}/milestones").json
    assert done["status"] == "done" and done["completed_on"] is not None
    assert done["is_late"] is True  # accepted after 2022-06-30
    history = unit.get(f"{API}/assignments/{aid}/reports").json
    assert [(r["id"], r["status"]) for r in history] == [
        (report["id"], "returned"),
        (resent.json["id"], "accepted"),
    ]
    # Every step went through the services: the audit trail has each of them.
    assert actions(report["id"]) == ["report.submitted", "report.returned"]
    assert actions(resent.json["id"]) == ["report.submitted", "report.accepted"]
    closed = submit(unit, aid)
    assert closed.status_code == 422 and closed.json["code"] == "closed"


def test_the_created_report_is_what_reading_it_back_gives(unit: Any, office: Any) -> None:
    """The 201's body is built from what the request holds (issue 17): it is the report as a
    later GET shows it, field for field, with evidence files and without, and when the office
    reports for a unit on a task not yet acknowledged (which the report acknowledges)."""
    with_files = unit.post(
        f"{API}/assignments/{assignment_id('3')}/reports",
        **multipart(
            [(make_pdf(), "进展报告.pdf"), (make_png(), "现场照片.png")],
            progress="  平台已上线试运行。 ",
            problems="数据对接慢。",
            percent=60,
        ),
    )
    plain = submit(unit, assignment_id("1"), next_steps="下月验收。", percent=30)
    aid = assignment_id("2", QINGSHAN)
    assert office.get(f"{API}/assignments/{aid}").json["acknowledged_at"] is None
    by_office = submit(office, aid, percent=100, closing=True)
    for sent in (with_files, plain, by_office):
        assert sent.status_code == 201, sent.json
        assert sent.json == office.get(f"{API}/reports/{sent.json['id']}").json
        now = office.get(f"{API}/assignments/{sent.json['assignment']['id']}").json
        assert sent.json["assignment"]["version"] == now["version"]  # as after the report
        assert sent.json["assignment"]["status"] == now["status"] == "submitted"
    assert len(with_files.json["evidence"]) == 2
    assert with_files.json["progress"] == "平台已上线试运行。"
    assert by_office.json["author"]["id"] == office.user.id and by_office.json["closing"] is True


# -- permissions ------------------------------------------------------------------------------


def test_a_report_reads_its_assignment_once_with_the_row_lock(unit: Any) -> None:
    aid = assignment_id("3")
    unit.get(f"{API}/assignments/{aid}/milestones")  # the token's first use is recorded once
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = submit(unit, aid)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 201
    reads = [s for s in statements if s.lstrip().startswith("SELECT") and "FROM assignments" in s]
    assert len(reads) == 1  # the permission check and the report's lock share it
    if db.engine.dialect.name == "postgresql":
        assert "FOR UPDATE OF assignments" in reads[0]


def test_a_unit_token_cannot_see_or_report_on_another_units_assignment(
    unit: Any, api_as: Any
) -> None:
    other = api_as("unit", unit_named(QINGSHAN, "baotou"))
    foreign = assignment_id("3", QINGSHAN)
    theirs = other.post(
        f"{API}/assignments/{foreign}/reports",
        **multipart([(make_pdf(), "a.pdf")], progress="进展", percent=10),
    )
    assert theirs.status_code == 201
    report_id, evidence_id = theirs.json["id"], theirs.json["evidence"][0]["id"]
    milestone_id = other.get(f"{API}/assignments/{foreign}/milestones").json[0]["id"]
    for url in (
        f"{API}/assignments/{foreign}/milestones",
        f"{API}/assignments/{foreign}/reports",
        f"{API}/reports/{report_id}",
        f"{API}/evidence/{evidence_id}",
        f"{API}/evidence/{evidence_id}/meta",
        f"{API}/milestones/{milestone_id}",
    ):
        response = unit.get(url)
        assert response.status_code == 403, url
        assert response.json["code"] == "forbidden"
    assert submit(unit, foreign).status_code == 403
    ask = {"reason": "需要协调。", "requested_due_on": "2022-09-30"}
    assert unit.post(f"{API}/milestones/{milestone_id}/extensions", json=ask).status_code == 403
    review = unit.post(f"{API}/reports/{report_id}/review", json={"decision": "accept"})
    assert review.status_code == 403
    # Lists keep to the token's unit whatever is asked for.
    mine = assignment_id("3")
    assert submit(unit, mine).status_code == 201
    listed = unit.get(f"{API}/reports/?page_size=500&unit={other.user.unit_id}")
    assert listed.status_code == 200 and listed.json == []
    listed = unit.get(f"{API}/reports/?page_size=500")
    assert {r["assignment"]["unit"]["id"] for r in listed.json} == {unit.user.unit_id}
    other_ask = other.post(f"{API}/milestones/{milestone_id}/extensions", json=ask)
    assert other_ask.status_code == 201
    assert unit.get(f"{API}/extensions/").json == []
    assert unit.get(other_ask.headers["Location"]).status_code == 403


def test_viewers_and_assessors_read_but_do_not_write(unit: Any, api_as: Any) -> None:
    aid = assignment_id("3")
    sent = unit.post(
        f"{API}/assignments/{aid}/reports",
        **multipart([(make_png(), "photo.png")], progress="进展", percent=30),
    )
    report_id, evidence_id = sent.json["id"], sent.json["evidence"][0]["id"]
    milestone_id = unit.get(f"{API}/assignments/{aid}/milestones").json[0]["id"]
    ask = unit.post(
        f"{API}/milestones/{milestone_id}/extensions",
        json={"reason": "需要协调。", "requested_due_on": "2022-09-30"},
    )
    assert ask.status_code == 201
    for role in ("viewer", "assessor"):
        reader = api_as(role, unit_named(QINGSHAN, "baotou") if role == "assessor" else None)
        for url in (
            f"{API}/assignments/{aid}/milestones",
            f"{API}/assignments/{aid}/reports",
            f"{API}/reports/{report_id}",
            f"{API}/reports/",
            f"{API}/evidence/{evidence_id}",
            f"{API}/extensions/",
            ask.headers["Location"],
        ):
            response = reader.get(url)
            response.close()
            assert response.status_code == 200, (role, url)
        assert submit(reader, aid).status_code == 403, role
        review = reader.post(f"{API}/reports/{report_id}/review", json={"decision": "accept"})
        assert review.status_code == 403, role
        decision = reader.post(
            f"{API}/extensions/{ask.json['id']}/decision", json={"decision": "approve"}
        )
        assert decision.status_code == 403, role
        request = reader.post(
            f"{API}/milestones/{milestone_id}/extensions",
            json={"reason": "x", "requested_due_on": "2022-10-31"},
        )
        assert request.status_code == 403, role
    # Nothing changed: the report still awaits review, the request is still pending.
    assert unit.get(f"{API}/reports/{report_id}").json["status"] == "submitted"
    assert unit.get(ask.headers["Location"]).json["status"] == "pending"


@pytest.mark.parametrize(("item", "allowed"), [("1", True), ("3", False)])
def test_an_assessor_reviews_only_items_its_unit_leads_the_assessment_of(
    unit: Any, api_as: Any, item: str, allowed: bool
) -> None:
    assessor = api_as("assessor", unit_named(APPROVALS, "baotou"))
    sent = submit(unit, assignment_id(item))
    assert sent.status_code == 201
    queue = assessor.get(f"{API}/reports/?status=submitted&reviewable=true&page_size=500")
    assert (sent.json["id"] in [r["id"] for r in queue.json]) is allowed
    review = assessor.post(f"{API}/reports/{sent.json['id']}/review", json={"decision": "accept"})
    assert review.status_code == (200 if allowed else 403)
    status = unit.get(f"{API}/reports/{sent.json['id']}").json["status"]
    assert status == ("accepted" if allowed else "submitted")


# -- invalid input, conflicts, missing objects ---------------------------------------------


def test_invalid_reports_get_422_with_errors_by_field(unit: Any) -> None:
    aid = assignment_id("3")
    url = f"{API}/assignments/{aid}/reports"
    missing = unit.post(url, json={"problems": "无"})
    assert missing.status_code == 422
    assert {"progress", "percent"} <= set(missing.json["errors"])
    typed = unit.post(url, json={"progress": "x", "percent": "half", "colour": "red"})
    assert {"percent", "colour"} <= set(typed.json["errors"])
    out_of_range = submit(unit, aid, percent=101)
    assert out_of_range.status_code == 422 and "percent" in out_of_range.json["errors"]
    blank = submit(unit, aid, progress="   ")
    assert blank.status_code == 422 and "progress" in blank.json["errors"]
    other_milestone = unit.get(f"{API}/assignments/{assignment_id('1')}/milestones").json[0]
    wrong = submit(unit, aid, milestone_id=other_milestone["id"])
    assert wrong.status_code == 422 and "milestone_id" in wrong.json["errors"]
    form = unit.post(url, **multipart([], progress="进展", percent="5.5"))
    assert form.status_code == 422 and "percent" in form.json["errors"]
    assert unit.post(url, data="progress", content_type="text/plain").status_code == 415
    assert unit.post(url, data="{", content_type="application/json").status_code == 400
    assert unit.get(f"{API}/assignments/{aid}").json["status"] != "submitted"


def test_refused_files_are_named_one_by_one_and_nothing_is_saved(unit: Any) -> None:
    aid = assignment_id("3")
    stored = db.session.scalar(select(func.count()).select_from(Evidence))
    response = unit.post(
        f"{API}/assignments/{aid}/reports",
        **multipart(
            [(make_pdf(), "ok.pdf"), (EXE, "setup.exe"), (b"", "empty.pdf"), (make_pdf(), "a.png")],
            progress="进展",
            percent=40,
        ),
    )
    assert response.status_code == 422
    body = response.json
    assert body["code"] == "type_not_allowed"
    assert set(body["errors"]) == {"evidence.1", "evidence.2", "evidence.3"}
    assert "setup.exe" in body["errors"]["evidence.1"][0]
    assert "empty" in body["errors"]["evidence.2"][0]
    assert "a.png" in body["errors"]["evidence.3"][0]
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == stored
    count = select(func.count()).select_from(ProgressReport)
    assert db.session.scalar(count.where(ProgressReport.assignment_id == aid)) == 0
    wrong_field = unit.post(
        f"{API}/assignments/{aid}/reports",
        data={"progress": "x", "percent": "1", "file": (io.BytesIO(make_pdf()), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert wrong_field.status_code == 422 and "file" in wrong_field.json["errors"]


def test_a_file_over_the_configured_limit_is_refused_with_the_limit(
    unit: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 100)
    response = unit.post(
        f"{API}/assignments/{assignment_id('3')}/reports",
        **multipart([(make_pdf(), "big.pdf")], progress="进展", percent=40),
    )
    assert response.status_code == 422
    assert response.json["code"] == "too_large"
    assert "100 B" in response.json["errors"]["evidence.0"][0]


def test_a_stale_version_gets_409_and_changes_nothing(unit: Any, office: Any) -> None:
    aid = assignment_id("3")
    version = unit.get(f"{API}/assignments/{aid}").json["version"]
    assert unit.post(f"{API}/assignments/{aid}/acknowledge").status_code == 200
    stale = submit(unit, aid, version=version)
    assert stale.status_code == 409 and stale.json["code"] == "stale"
    current = unit.get(f"{API}/assignments/{aid}").json["version"]
    sent = submit(unit, aid, version=current)
    assert sent.status_code == 201
    review = office.post(
        f"{API}/reports/{sent.json['id']}/review", json={"decision": "accept", "version": current}
    )
    assert review.status_code == 409 and review.json["code"] == "stale"
    assert unit.get(f"{API}/reports/{sent.json['id']}").json["status"] == "submitted"
    fresh = sent.json["assignment"]["version"]
    review = office.post(
        f"{API}/reports/{sent.json['id']}/review", json={"decision": "accept", "version": fresh}
    )
    assert review.status_code == 200
    assert unit.get(f"{API}/assignments/{aid}/reports?status=accepted").json[0]["percent"] == 50


def test_a_second_report_while_one_awaits_review_is_refused(unit: Any) -> None:
    aid = assignment_id("3")
    assert submit(unit, aid).status_code == 201
    again = submit(unit, aid)
    assert again.status_code == 422 and again.json["code"] == "pending"


def test_missing_objects_get_404(office: Any) -> None:
    gets = (
        "/assignments/999999/milestones",
        "/assignments/999999/reports",
        "/reports/999999",
        "/evidence/999999",
        "/evidence/999999/meta",
        "/milestones/999999",
        "/extensions/999999",
    )
    for path in gets:
        response = office.get(API + path)
        assert response.status_code == 404, path
        assert response.json["code"] == "not_found"
    posts = {
        "/assignments/999999/reports": {"progress": "x", "percent": 1},
        "/reports/999999/review": {"decision": "accept"},
        "/milestones/999999/extensions": {"reason": "x", "requested_due_on": "2022-12-31"},
        "/extensions/999999/decision": {"decision": "approve"},
    }
    for path, body in posts.items():
        assert office.post(API + path, json=body).status_code == 404, path


def test_requests_without_a_token_get_401(client: Any) -> None:
    for path in ("/reports/", "/extensions/", "/evidence/1", "/assignments/1/milestones"):
        assert client.get(API + path).status_code == 401


# -- extensions -------------------------------------------------------------------------------


def test_extension_request_and_decisions(unit: Any, office: Any, api_as: Any) -> None:
    aid = assignment_id("3")
    (milestone,) = unit.get(f"{API}/assignments/{aid}/milestones").json
    url = f"{API}/milestones/{milestone['id']}/extensions"
    early = unit.post(url, json={"reason": "需要协调。", "requested_due_on": "2022-06-01"})
    assert early.status_code == 422 and "requested_due_on" in early.json["errors"]
    bad_date = unit.post(url, json={"reason": "需要协调。", "requested_due_on": "9月底"})
    assert bad_date.status_code == 422 and "requested_due_on" in bad_date.json["errors"]
    asked = unit.post(url, json={"reason": "需要协调。", "requested_due_on": "2022-09-30"})
    assert asked.status_code == 201, asked.json
    ext = asked.json
    assert asked.headers["Location"].endswith(f"/api/v1/extensions/{ext['id']}")
    assert ext["status"] == "pending" and ext["requested_by"]["id"] == unit.user.id
    assert ext["milestone"]["due_on"] == "2022-06-30" and ext["decided_by"] is None
    twice = unit.post(url, json={"reason": "再次申请。", "requested_due_on": "2022-10-31"})
    assert twice.status_code == 422 and twice.json["code"] == "extension_pending"

    queue = office.get(f"{API}/extensions/?status=pending&page_size=500").json
    assert ext["id"] in [e["id"] for e in queue]
    decide = f"{API}/extensions/{ext['id']}/decision"
    assert unit.post(decide, json={"decision": "approve"}).status_code == 403
    no_reason = office.post(decide, json={"decision": "reject"})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    assert office.post(decide, json={"decision": "maybe"}).status_code == 422
    approved = office.post(decide, json={"decision": "approve"})
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved"
    assert approved.json["decided_by"]["id"] == office.user.id
    assert approved.json["milestone"]["extended_to"] == "2022-09-30"
    moved = unit.get(f"{API}/milestones/{milestone['id']}").json
    assert moved["due_on"] == "2022-06-30" and moved["effective_due_on"] == "2022-09-30"
    assert unit.get(f"{API}/assignments/{aid}").json["next_due_on"] == "2022-09-30"
    assert office.post(decide, json={"decision": "reject", "reason": "x"}).json["code"] == (
        "already_decided"
    )

    # A second request, rejected with a reason: the date stays.
    later = unit.post(url, json={"reason": "仍需协调。", "requested_due_on": "2022-11-30"})
    rejected = office.post(
        f"{API}/extensions/{later.json['id']}/decision",
        json={"decision": "reject", "reason": "理由不充分。"},
    )
    assert rejected.json["status"] == "rejected"
    assert rejected.json["decision_reason"] == "理由不充分。"
    assert unit.get(f"{API}/milestones/{milestone['id']}").json["extended_to"] == "2022-09-30"
    mine = unit.get(f"{API}/extensions/?sort=-requested_due_on").json
    assert [e["requested_due_on"] for e in mine] == ["2022-11-30", "2022-09-30"]
    assert unit.get(f"{API}/extensions/?status=rejected").json[0]["id"] == later.json["id"]
    events = db.session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.object_type == "extension_request",
            AuditEvent.object_id.in_([str(ext["id"]), str(later.json["id"])]),
        )
    ).all()
    assert sorted(events) == [
        "extension.approved",
        "extension.rejected",
        "extension.requested",
        "extension.requested",
    ]


# -- lists: paging, filters, sorting, a fixed number of queries ----------------------------


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


def count_queries(call: Any) -> tuple[Any, int]:
    counter = QueryCounter()
    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        return call(), counter.count
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)


def test_report_lists_page_filter_sort_in_a_fixed_number_of_queries(unit: Any, office: Any) -> None:
    items = ("1", "2", "3", "4", "5", "6")
    sent = []
    for code in items:
        response = unit.post(
            f"{API}/assignments/{assignment_id(code)}/reports",
            **multipart([(make_png(), "p.png"), (make_pdf(), "r.pdf")], progress="进", percent=10),
        )
        assert response.status_code == 201, (code, response.json)
        sent.append(response.json["id"])
    office.post(f"{API}/reports/{sent[0]}/review", json={"decision": "return", "reason": "补充"})

    base = f"{API}/reports/?plan=baotou-2022&unit={unit.user.unit_id}&sort=-id"
    office.get(base)  # the token's first use is recorded once
    small, few = count_queries(lambda: office.get(base + "&page_size=2"))
    large, many = count_queries(lambda: office.get(base + "&page_size=6"))
    assert few == many  # no query per row
    assert [r["id"] for r in large.json] == sorted(sent, reverse=True)
    assert all(len(r["evidence"]) == 2 for r in large.json)
    assert [r["id"] for r in small.json] == sorted(sent, reverse=True)[:2]
    assert json.loads(small.headers["X-Pagination"])["total"] == len(items)
    second = office.get(base + "&page_size=2&page=2").json
    assert [r["id"] for r in second] == sorted(sent, reverse=True)[2:4]
    waiting = office.get(base + "&status=submitted").json
    assert sent[0] not in [r["id"] for r in waiting] and len(waiting) == len(items) - 1
    returned = office.get(base + "&status=returned").json
    assert [r["id"] for r in returned] == [sent[0]]
    assert returned[0]["reviews"][0]["decision"] == "return"
    other_plan = office.get(f"{API}/reports/?plan=hegang-2022&unit={unit.user.unit_id}").json
    assert other_plan == []
    bad = office.get(f"{API}/reports/?sort=colour&status=done&reviewable=perhaps")
    assert bad.status_code == 422
    assert {"sort", "reviewable"} <= {key.split(".")[0] for key in bad.json["errors"]}


def test_milestones_are_paged_filtered_and_sorted(office: Any) -> None:
    aid = assignment_id("1")  # notable 05-31, then monthly checkpoints to 12-31
    everything = office.get(f"{API}/assignments/{aid}/milestones?page_size=500")
    dates = [m["due_on"] for m in everything.json]
    assert len(dates) > 3 and dates == sorted(dates)
    assert {m["kind"] for m in everything.json} >= {"notable", "checkpoint"}
    page = office.get(f"{API}/assignments/{aid}/milestones?page_size=2&page=2&sort=-due_on")
    assert [m["due_on"] for m in page.json] == sorted(dates, reverse=True)[2:4]
    assert json.loads(page.headers["X-Pagination"])["total"] == len(dates)
    assert office.get(f"{API}/assignments/{aid}/milestones?status=done").json == []
    assert office.get(f"{API}/assignments/{aid}/milestones?status=late").status_code == 422
