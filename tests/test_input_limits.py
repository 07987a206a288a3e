"""Input limits: bad numbers, NaN, deep JSON, long text and large bodies never give a 500.

The app under test raises server errors (TESTING), so a 500 fails these tests with its
traceback. Property tests (hypothesis) are bounded so the file stays fast on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter
from werkzeug.test import encode_multipart

from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.core.inputs import MAX_ID, IdConverter
from taskhub.core.limits import TEXT_LIMITS, TextTooLong, check_text
from taskhub.models import (
    Assignment,
    AuditEvent,
    ComponentScore,
    Contact,
    Item,
    ItemScore,
    Milestone,
    Plan,
    PointAllocation,
    ProgressReport,
    Section,
)
from taskhub.scoring import services as scoring
from tests.conftest import unit_named

HUGE = "99999999999999999999"
KUNDULUN = "昆都仑区人民政府"
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def visible(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def assignment_of(code: str, unit: str = KUNDULUN, plan: str = "baotou-2022") -> Assignment:
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(
            Plan.code == plan,
            Item.code == code,
            Assignment.unit_id == unit_named(unit, plan.split("-")[0]).id,
        )
    ).one()


# -- ids in page addresses and numbers in query strings ------------------------------------


def page_rules(app: Flask) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if not r.rule.startswith("/api/")]


def test_every_page_route_names_its_ids_with_the_bounded_converter(app: Flask) -> None:
    unbounded = [
        rule.rule
        for rule in page_rules(app)
        for converter in rule._converters.values()
        if isinstance(converter, IntegerConverter) and not isinstance(converter, IdConverter)
    ]
    assert unbounded == []
    assert any("<id:" in rule.rule for rule in page_rules(app))


@pytest.mark.parametrize(
    "url",
    [
        f"/assignments/{HUGE}",
        f"/assignments/{HUGE}/history",
        f"/items/{HUGE}",
        f"/units/{HUGE}",
        f"/evidence/{HUGE}",
        f"/plans/baotou-2022/scores/{HUGE}",
        f"/users/{HUGE}/tokens",
        f"/admin/webhooks/{HUGE}",
        f"/assignments/{2**31}",
        f"/units?group={HUGE}",
    ],
)
def test_out_of_range_ids_in_pages_are_not_found(client: FlaskClient, login_as: Any, url: str):
    login_as("admin")
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("page", ["/board", "/ledger"])
@pytest.mark.parametrize(
    "query", [f"unit={HUGE}", f"lead={HUGE}", "unit=-5", f"lead={2**31}", "lead=x"]
)
def test_out_of_range_ids_in_list_filters_are_refused_beside_the_field(
    client: FlaskClient, login_as: Any, page: str, query: str
) -> None:
    """The ledger and the board keep the other filters and mark the refused one (not a 500)."""
    login_as("admin")
    response = client.get(f"{page}?plan=baotou-2022&{query}")
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url", ["/board", "/units", "/outbox", "/imports", "/ledger", "/dashboard"]
)
def test_a_huge_page_number_shows_an_empty_last_page(client: FlaskClient, login_as: Any, url):
    login_as("admin")
    for page in (HUGE, "-3", "x", "1e9", str(2**31)):
        param = "due_page" if url == "/dashboard" else "page"
        assert client.get(f"{url}?{param}={page}").status_code == 200, page


def test_a_milestone_id_out_of_range_in_the_report_form_is_not_found(
    client: FlaskClient, login_as: Any
) -> None:
    login_as("unit", unit_named(KUNDULUN, "baotou"))
    assignment = assignment_of("3")
    response = client.post(
        f"/assignments/{assignment.id}/reports",
        data={"progress": "完成", "percent": "10", "milestone_id": HUGE},
    )
    assert response.status_code == 404
    assert count(ProgressReport, ProgressReport.assignment_id == assignment.id) == 0


#: GET page routes with one id, by the id's name; filled with a real id where one is needed.
def _get_id_rules(app: Flask) -> list[str]:
    rules = []
    for rule in page_rules(app):
        if "GET" in (rule.methods or ()) and sorted(rule.arguments) in (
            ["assignment_id"],
            ["item_id"],
            ["unit_id"],
            ["evidence_id"],
            ["user_id"],
            ["endpoint_id"],
        ):
            rules.append(rule.rule)
    return rules


NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from([HUGE, str(MAX_ID), str(MAX_ID + 1), "0", "-0", "1e9", "NaN", "٣", "１"]),
    st.text(alphabet="0123456789-+.eE ", min_size=1, max_size=30),
)


QUERY_NAMES = ["page", "unit", "lead", "group", "due_page", "year", "plan", "status"]
QUERY_PAGES = ["/board", "/units", "/my", "/dashboard", "/calendar", "/outbox", "/ledger"]


def test_property_page_routes_never_answer_5xx(
    app: Flask, client: FlaskClient, login_as: Any
) -> None:
    login_as("admin")
    rules = _get_id_rules(app)
    assert len(rules) >= 5

    @PROPERTY
    @example("/assignments/<id:assignment_id>", HUGE, "/board", "unit", HUGE)
    @example("/items/<id:item_id>", str(2**63), "/units", "group", str(2**64))
    @example("/items/<id:item_id>", "1", "/ledger", "unit", HUGE)  # found by the property run
    @example("/items/<id:item_id>", "1", "/ledger", "lead", str(2**40))
    @given(
        rule=st.sampled_from(rules),
        number=NUMBERS,
        page=st.sampled_from(QUERY_PAGES),
        query=st.sampled_from(QUERY_NAMES),
        value=NUMBERS,
    )
    def check(rule: str, number: str, page: str, query: str, value: str) -> None:
        url = re.sub(r"<(?:int|id):\w+>", number.strip() or "1", rule)
        for target in (url, f"{page}?{query}={value}"):
            assert client.get(target).status_code < 500, target

    check()


# -- NaN, Infinity and huge numbers in score, component and allocation forms ---------------

BAD_NUMBERS = ["NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "1E+999999999", "1" * 60]


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_nan_and_infinity_in_score_forms_are_refused_in_chinese(
    client: FlaskClient, login_as: Any, bad: str
) -> None:
    login_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    assignment = assignment_of("1")
    audits = count(AuditEvent)

    page = client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2022-H1", "value": bad, "reason": "核查"},
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert "未保存" in visible(page.get_data(as_text=True))
    assert re.search("请输入(实际数值|数字)", visible(page.get_data(as_text=True)))

    rate = client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2022-H1", "numerator": "1", "denominator": bad, "reason": "核查"},
        follow_redirects=True,
    )
    assert rate.status_code == 200 and "未保存" in visible(rate.get_data(as_text=True))

    component = client.post(
        "/plans/baotou-2022/components?period=2022-H1",
        data={"unit_id": unit.id, "component": "field", "value": bad, "reason": "调研"},
        follow_redirects=True,
    )
    assert component.status_code == 200
    assert re.search("请输入(实际数值|数字)", visible(component.get_data(as_text=True)))

    area3 = db.session.scalars(
        select(Section).join(Plan).where(Plan.code == "baotou-2022", Section.path == "3")
    ).one()
    items = scoring.free_items(area3)[0]
    form = {f"points_{i.id}": "4" for i in items}
    form[f"points_{items[0].id}"] = bad
    allocation = client.post(f"/sections/{area3.id}/allocation", data=form, follow_redirects=True)
    assert allocation.status_code == 200
    assert re.search("请输入(实际数值|数字)", visible(allocation.get_data(as_text=True)))

    assert count(ItemScore) == count(ComponentScore) == count(PointAllocation) == 0
    assert count(AuditEvent) == audits


def test_the_service_refuses_nan_from_any_caller(session: Any) -> None:
    assignment = assignment_of("1")
    for bad in ("NaN", "sNaN", "Infinity", "1e999999"):
        with pytest.raises(scoring.ValidationFailed) as refused:
            scoring.score_item(assignment, "2022-H1", actor=None, reason="x", value=Decimal(bad))
        assert refused.value.problems == ["value"]


# -- a rate with a zero denominator ----------------------------------------------------------


def _rate_assignment() -> Assignment:
    return assignment_of("t1-15", "剡湖街道", "shengzhou-2020")


def test_a_zero_denominator_is_refused_not_scored_zero(session: Any) -> None:
    assignment = _rate_assignment()
    with pytest.raises(scoring.ValidationFailed) as refused:
        scoring.score_item(
            assignment,
            "2020",
            actor=None,
            reason="钉钉数据",
            numerator=Decimal(1),
            denominator=Decimal(0),
        )
    assert refused.value.problems == ["denominator"]
    assert count(ItemScore) == 0


def test_a_zero_denominator_is_refused_by_the_api_and_the_page(
    client: FlaskClient, api_as: Any, login_as: Any
) -> None:
    assignment = _rate_assignment()
    office = api_as("office")
    response = office.put(
        "/api/v1/plans/shengzhou-2020/scores/items",
        json={
            "period": "2020",
            "assignment_id": assignment.id,
            "numerator": "1",
            "denominator": "0",
            "reason": "钉钉数据",
        },
    )
    assert response.status_code == 422 and set(response.json["errors"]) == {"denominator"}
    login_as("office")
    page = client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2020", "numerator": "1", "denominator": "0", "reason": "钉钉数据"},
        follow_redirects=True,
    )
    assert "未保存" in visible(page.get_data(as_text=True))
    assert count(ItemScore) == 0


# -- JSON bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"name": ' + "[" * 500 + "]" * 500 + "}",
    ],
    ids=["deep-list", "deep-object", "deep-field"],
)
def test_a_deeply_nested_json_body_is_a_400_with_the_error_body(api_as: Any, body: str) -> None:
    office = api_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    response = office.post(
        f"/api/v1/units/{unit.id}/contacts",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["code"] == "bad_request"
    assert "nested too deeply" in response.json["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{bad", "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ('"x"', "application/json", 422),
        ("null", "application/json", 422),
        ('{"name": "张三"}', "text/plain", 422),
        ("\xff\xfe", "application/json", 400),
    ],
)
def test_malformed_or_odd_json_bodies_get_the_usual_error_body(
    api_as: Any, body: str, content_type: str, status: int
) -> None:
    office = api_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    response = office.post(
        f"/api/v1/units/{unit.id}/contacts",
        data=body.encode("latin-1") if body.startswith("\xff") else body,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == status
    assert set(response.json) >= {"code", "message"}


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from(["NaN", "Infinity", "-1e999999", HUGE, "", "\x00"])
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=10,
)


def test_property_json_api_bodies_never_answer_5xx(api_as: Any) -> None:
    office = api_as("office")
    unit = unit_named(KUNDULUN, "baotou")
    assignment = assignment_of("1")
    endpoints = [
        ("PUT", "/api/v1/plans/baotou-2022/scores/items"),
        ("PUT", "/api/v1/plans/baotou-2022/scores/components"),
        ("POST", f"/api/v1/units/{unit.id}/contacts"),
        ("POST", f"/api/v1/assignments/{assignment.id}/reports"),
    ]
    fields = ["value", "numerator", "denominator", "unit_id", "component", "reason", "progress"]

    @PROPERTY
    @given(
        endpoint=st.sampled_from(endpoints),
        body=st.fixed_dictionaries(
            {"period": st.just("2022-H1"), "assignment_id": st.just(assignment.id)},
            optional={f: JSON_VALUES for f in fields},
        )
        | JSON_VALUES,
    )
    def check(endpoint: tuple[str, str], body: Any) -> None:
        method, url = endpoint
        response = office._call(method, url, json=body)
        assert response.status_code < 500, (url, body)

    check()


@PROPERTY
@given(text=NUMBERS)
def test_property_score_form_numbers_never_answer_5xx(app: Flask, text: str) -> None:
    from taskhub.core.inputs import InvalidNumber, decimal_arg

    with app.test_request_context(method="POST", data={"value": text}):
        try:
            value = decimal_arg("value")
        except InvalidNumber as refused:
            assert refused.problems == ["value"]
        else:
            assert value is None or value.is_finite()


# -- text limits -------------------------------------------------------------------------------


def test_a_report_longer_than_its_limit_is_refused_on_the_page_and_keeps_the_text(
    client: FlaskClient, login_as: Any
) -> None:
    login_as("unit", unit_named(KUNDULUN, "baotou"))
    assignment = assignment_of("3")
    too_long = "进" * (TEXT_LIMITS["report.progress"] + 1)
    response = client.post(
        f"/assignments/{assignment.id}/reports",
        data={"progress": "完成", "problems": too_long, "percent": "10"},
    )
    assert response.status_code == 200
    text = visible(response.get_data(as_text=True))
    assert "「存在问题」过长：20001 个字，最多 20000 个字。" in text
    assert count(ProgressReport, ProgressReport.assignment_id == assignment.id) == 0


def test_the_api_refuses_long_text_with_422_naming_the_field(api_as: Any) -> None:
    unit = unit_named(KUNDULUN, "baotou")
    staff = api_as("unit", unit)
    assignment = assignment_of("3")
    response = staff.post(
        f"/api/v1/assignments/{assignment.id}/reports",
        json={"progress": "x" * (TEXT_LIMITS["report.progress"] + 1), "percent": 10},
    )
    assert response.status_code == 422 and set(response.json["errors"]) == {"progress"}
    office = api_as("office")
    contact = office.post(
        f"/api/v1/units/{unit.id}/contacts", json={"name": "张" * 101, "mobile": "13800000000"}
    )
    assert contact.status_code == 422 and set(contact.json["errors"]) == {"name"}
    assert count(ProgressReport, ProgressReport.assignment_id == assignment.id) == 0


def test_the_openapi_document_shows_the_limits(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    report = spec["components"]["schemas"]["NewReportArgs"]["properties"]
    assert report["progress"]["maxLength"] == TEXT_LIMITS["report.progress"]
    assert report["next_steps"]["maxLength"] == TEXT_LIMITS["report.next_steps"]


def test_services_check_every_limited_text(session: Any) -> None:
    from taskhub.calendar.services import set_override
    from taskhub.tracking import services as tracking
    from taskhub.units.services import add_contact
    from tests.conftest import make_user

    unit = unit_named(KUNDULUN, "baotou")
    office = make_user("office")
    staff = make_user("unit", unit)
    assignment = assignment_of("3")
    from datetime import date

    cases = [
        lambda: set_override(date(2030, 1, 2), True, "n" * 201, actor_id=None),
        lambda: add_contact(unit, {"name": "n" * 101, "mobile": "1"}, actor=office),
        lambda: scoring.score_item(
            assignment_of("1"), "2022-H1", actor=None, reason="r" * 501, value=Decimal(1)
        ),
    ]
    for case in cases:
        with pytest.raises(TextTooLong):
            case()
    milestone = assignment.milestones[0]
    with pytest.raises(TextTooLong) as refused:
        tracking.request_extension(
            milestone, actor=staff, reason="r" * 2001, requested_due_on=date(2099, 1, 1)
        )
    assert refused.value.field == "reason" and refused.value.limit == 2000
    assert count(Contact, Contact.name == "n" * 101) == 0
    check_text("report.progress", "x" * TEXT_LIMITS["report.progress"])  # the limit itself fits


def test_a_score_import_row_with_a_long_reason_names_file_and_row(session: Any, tmp_path):
    from openpyxl import Workbook

    from taskhub.scoring.imports import ImportFailed, import_scores

    book = Workbook()
    sheet = book.active
    sheet.append(["单位", "事项", "分值", "理由"])
    sheet.append([KUNDULUN, "1", "1", "核查"])
    sheet.append([KUNDULUN, "2", "1", "理" * 501])
    path = tmp_path / "scores.xlsx"
    book.save(path)
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    with pytest.raises(ImportFailed) as failed:
        import_scores(plan, "2022-H1", path, actor=None)
    problems = failed.value.problems
    assert any(p.startswith("scores.xlsx: row 3: reason is too long") for p in problems)
    db.session.rollback()  # the caller's one transaction: nothing of the file is kept
    assert count(ItemScore) == 0


# -- request size --------------------------------------------------------------------------


def test_a_huge_plain_body_is_refused_with_413(
    client: FlaskClient, login_as: Any, api_as: Any
) -> None:
    unit = unit_named(KUNDULUN, "baotou")
    staff = api_as("unit", unit)
    assignment = assignment_of("3")
    big = "x" * (2 * 1024 * 1024)
    api = staff.post(f"/api/v1/assignments/{assignment.id}/reports", json={"progress": big})
    assert api.status_code == 413 and api.json["code"] == "too_large"
    login_as("unit", unit)
    page = client.post(
        f"/assignments/{assignment.id}/reports", data={"progress": big, "percent": "10"}
    )
    assert page.status_code == 413
    assert "提交的内容过大" in visible(page.get_data(as_text=True))
    assert count(ProgressReport, ProgressReport.assignment_id == assignment.id) == 0


def test_evidence_uploads_still_fit_in_a_multipart_report(client: FlaskClient, login_as: Any):
    login_as("unit", unit_named(KUNDULUN, "baotou"))
    assignment = assignment_of("3")
    pdf = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024) + b"\n%%EOF\n"
    fields = {"progress": "完成", "percent": "10", "evidence": (io.BytesIO(pdf), "材料.pdf")}
    # Encoded in memory: the test client would spool a body this large to a temporary file
    # that it never closes (a ResourceWarning, an error under filterwarnings).
    boundary, body = encode_multipart(fields)
    response = client.post(
        f"/assignments/{assignment.id}/reports",
        data=body,
        content_type=f'multipart/form-data; boundary="{boundary}"',
    )
    assert response.status_code == 302
    assert count(ProgressReport, ProgressReport.assignment_id == assignment.id) == 1


def test_a_plan_import_names_sheet_row_and_column_of_a_long_text(
    client: FlaskClient, login_as: Any
) -> None:
    from tests.test_imports import ITEMS, error_rows, plan_file, upload

    login_as("office")
    too_long = "内" * (TEXT_LIMITS["item.text"] + 1)
    response = upload(client, "/imports/plan", plan_file(items=[dict(ITEMS[0], text=too_long)]))
    assert response.status_code == 422
    ((sheet, row, column, problem),) = error_rows(response.get_data(as_text=True))
    assert (sheet, row, column) == ("事项", "2", "内容")
    assert "5001 个字，最多 5000 个字" in problem


def test_a_contacts_import_row_with_a_long_name_names_its_row(
    client: FlaskClient, login_as: Any
) -> None:
    from tests.test_imports import contacts_file, error_rows, upload

    login_as("office")
    row = {"unit": "市财政局", "city": "鹤岗市", "name": "张" * 101, "mobile": "13800000000"}
    response = upload(client, "/imports/contacts", contacts_file([row]))
    assert response.status_code == 422
    ((_sheet, number, column, _problem),) = error_rows(response.get_data(as_text=True))
    assert (number, column) == ("2", "姓名")


def test_every_text_limit_is_documented():
    """docs/security.md lists every maximum the services check, with its value."""
    doc = (PROJECT_ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    missing = [k for k, n in TEXT_LIMITS.items() if f"| `{k}` | {n:,} |" not in doc]
    assert not missing, f"document these limits in docs/security.md: {missing}"


# -- digits that int() refuses: 「²」 is a digit to str.isdigit ----------------------------------

#: Each is a digit to ``str.isdigit`` but not to ``int()``; the last is too long for it.
NOT_NUMBERS = ["²", "①", "²" * 4, "9" * 5000]


@pytest.mark.parametrize("typed", NOT_NUMBERS)
def test_working_days_that_are_not_a_number_are_refused(
    client: FlaskClient, login_as: Any, typed: str
) -> None:
    login_as("office")
    item = db.session.scalars(select(Item).order_by(Item.id)).first()
    assert item is not None
    mine = Milestone.assignment_id.in_(select(Assignment.id).where(Assignment.item_id == item.id))
    before = count(Milestone, mine)
    response = client.post(
        f"/items/{item.id}/milestones",
        data={"kind": "checkpoint", "working_days": typed},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "工作日" in response.get_data(as_text=True)
    assert count(Milestone, mine) == before


def test_the_new_item_form_opens_when_an_item_is_numbered_with_a_superscript(
    client: FlaskClient, login_as: Any
) -> None:
    login_as("office")
    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "baotou-2022").order_by(Item.id)
    ).first()
    assert item is not None
    item.number = "²"
    db.session.commit()
    assert client.get("/plans/baotou-2022/items/new").status_code == 200


@pytest.mark.parametrize("typed", NOT_NUMBERS)
def test_a_plan_draft_page_refuses_a_version_or_year_that_is_not_a_number(
    client: FlaskClient, login_as: Any, typed: str
) -> None:
    from tests.test_document_pages import make_draft

    draft = make_draft(login_as("office"))
    stale = client.post(f"/plan-drafts/{draft.id}", data={"version": typed, "head-title": "新"})
    assert stale.status_code == 409
    year = client.post(f"/plan-drafts/{draft.id}", data={"version": "1", "head-year": typed})
    assert year.status_code == 422
    assert "2024" in year.get_data(as_text=True)
    new = client.post(
        "/imports/document", data={"city": "baotou", "year": typed, "text": "一、工作\n1. 推进。"}
    )
    assert new.status_code == 422
