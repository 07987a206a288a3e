"""The scoring and bulletin API: periods, scores, explanations, rankings, entered scores,
closing periods and their revisions, and bulletins, with the pages' permissions."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.scoring import services
from taskhub.tracking.models import Assignment
from tests.conftest import ApiClient, unit_named

D = Decimal
API = "/api/v1/plans"
BAOTOU, H1 = "baotou-2022", "2022-H1"
SHANWEI, APRIL, MAY = "shanwei-2021", "2021-04", "2021-05"
OWN, OTHER = "昆都仑区人民政府", "青山区人民政府"
#: The lead assessment unit of Baotou's items 1 and 2.
LEAD = "市审批服务局"
ROLES = ("admin", "office", "assessor", "viewer", "unit")


def plan_named(code: str) -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == code)).one()


def baotou_assignment(unit: str, item_code: str) -> Assignment:
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(
            Plan.code == BAOTOU,
            Item.code == item_code,
            Assignment.unit_id == unit_named(unit, "baotou").id,
        )
    ).one()


def client_for(api_as: Any, role: str) -> ApiClient:
    """Unit and assessor tokens belong to 昆都仑区人民政府 (which leads no assessment)."""
    return api_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)


def total_count(response: Any) -> int:
    return int(json.loads(response.headers["X-Pagination"])["total"])


def enter(office: ApiClient, plan: str, period: str, unit: int, **values: str) -> None:
    for component, value in values.items():
        response = office.put(
            f"{API}/{plan}/scores/components",
            json={
                "period": period,
                "unit_id": unit,
                "component": component,
                "value": value,
                "reason": "考评录入",
            },
        )
        assert response.status_code == 200, response.json


SHANWEI_BODIES = ("城区人民政府", "海丰县人民政府", "陆丰市人民政府", "陆河县人民政府")


@pytest.fixture
def shanwei(api_as: Any) -> dict[str, int]:
    """Four Shanwei bodies, entered through the API.

    May (0.8 × monitoring + 0.2 × key_apps): 城区 72 + 18 = 90; 海丰县 68 + 14 = 82;
    陆丰市 64 + 18 = 82; 陆河县 56 + 10 = 66 → ranks 1, 2, 2, 4 (the 13 others at 0: 5).
    April: 海丰县 80 (rank 1), 城区 70 (rank 2), the 15 others 0 (rank 3) → in May 城区 and
    陆丰市 gain 1 place, 海丰县 and 陆河县 lose 1, the 13 others at 0 lose 2 (3 → 5).
    """
    office = api_as("office")
    ids = {n: unit_named(n, "shanwei").id for n in SHANWEI_BODIES}
    for name, (monitoring, key_apps) in zip(
        SHANWEI_BODIES, [("90", "90"), ("85", "70"), ("80", "90"), ("70", "50")], strict=True
    ):
        enter(office, SHANWEI, MAY, ids[name], monitoring=monitoring, key_apps=key_apps)
    enter(office, SHANWEI, APRIL, ids["城区人民政府"], monitoring="70", key_apps="70")
    enter(office, SHANWEI, APRIL, ids["海丰县人民政府"], monitoring="80", key_apps="80")
    return ids


# -- access: every endpoint, every role ----------------------------------------------------------


def _reads(own: int, other: int) -> dict[str, str]:
    return {
        "periods": f"{API}/{BAOTOU}/periods",
        "period": f"{API}/{BAOTOU}/periods/{H1}",
        "scores": f"{API}/{BAOTOU}/scores?period={H1}",
        "rankings": f"{API}/{BAOTOU}/rankings?period={H1}",
        "own explanation": f"{API}/{BAOTOU}/units/{own}/explanation?period={H1}",
        "other explanation": f"{API}/{BAOTOU}/units/{other}/explanation?period={H1}",
        "item scores": f"{API}/{BAOTOU}/scores/items",
        "component scores": f"{API}/{BAOTOU}/scores/components",
        "snapshots": f"{API}/{BAOTOU}/snapshots",
        "bulletin": f"{API}/{BAOTOU}/bulletins/{H1}",
        "bulletin xlsx": f"{API}/{BAOTOU}/bulletins/{H1}.xlsx",
        "bulletin docx": f"{API}/{BAOTOU}/bulletins/{H1}.docx",
    }


#: As on the pages: rankings and explanations for every signed-in role (a unit: its own
#: explanation only); bulletins for the read-all roles.
READ_STATUS = {
    "unit": {"other explanation": 403, "bulletin": 403, "bulletin xlsx": 403, "bulletin docx": 403}
}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_read_what(api_as: Any, role: str) -> None:
    own, other = unit_named(OWN, "baotou").id, unit_named(OTHER, "baotou").id
    client = client_for(api_as, role)
    for name, url in _reads(own, other).items():
        expected = READ_STATUS.get(role, {}).get(name, 200)
        response = client.get(url)
        assert response.status_code == expected, (role, name, response.get_data(as_text=True))
        if expected == 403:
            assert response.json["code"] == "forbidden"


#: Writes: the office enters components and closes periods; items are scored by the office or
#: their lead assessment unit (the assessor here is 昆都仑区's, which leads nothing).
WRITE_STATUS = {
    "admin": (200, 200, 201),
    "office": (200, 200, 201),
    "assessor": (403, 403, 403),
    "viewer": (403, 403, 403),
    "unit": (403, 403, 403),
}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_write_what(api_as: Any, role: str) -> None:
    own = unit_named(OWN, "baotou").id
    client = client_for(api_as, role)
    item = client.put(
        f"{API}/{BAOTOU}/scores/items",
        json={"period": H1, "unit_id": own, "item": "1", "value": "1", "reason": "核查"},
    )
    component = client.put(
        f"{API}/{BAOTOU}/scores/components",
        json={"period": H1, "unit_id": own, "component": "field", "value": "80", "reason": "x"},
    )
    close = client.post(f"{API}/{BAOTOU}/periods/{H1}/close", json={})
    got = (item.status_code, component.status_code, close.status_code)
    assert got == WRITE_STATUS[role], (item.json, component.json, close.json)


def test_requests_without_a_token_get_401(client: Any, session: Any) -> None:
    response = client.get(f"{API}/{BAOTOU}/scores?period={H1}")
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"


# -- periods ---------------------------------------------------------------------------------------


def test_periods_of_the_scheme_with_closed_state_and_revisions(api_as: Any) -> None:
    office = api_as("office")
    response = office.get(f"{API}/{BAOTOU}/periods")
    assert response.status_code == 200
    assert {p["code"] for p in response.json} == {"2022-H1", "2022-H2", "2022"}
    assert all(not p["is_closed"] and p["revisions"] == [] for p in response.json)
    halves = office.get(f"{API}/{BAOTOU}/periods?kind=half_year&sort=-code").json
    assert [p["code"] for p in halves] == ["2022-H2", "2022-H1"]
    assert halves[1]["starts_on"] == "2022-01-01" and halves[1]["ends_on"] == "2022-06-30"
    assert office.post(f"{API}/{BAOTOU}/periods/{H1}/close").status_code == 201
    closed = office.get(f"{API}/{BAOTOU}/periods?closed=true").json
    assert [(p["code"], p["revision"], p["revisions"]) for p in closed] == [(H1, 1, [1])]
    one = office.get(f"{API}/{BAOTOU}/periods/{H1}")
    assert one.json["is_closed"] is True and one.headers["ETag"]
    shanwei = office.get(f"{API}/{SHANWEI}/periods?page_size=5&kind=month")
    assert [p["code"] for p in shanwei.json] == [f"2021-{m:02d}" for m in range(1, 6)]
    assert total_count(shanwei) == 12


def test_the_doc_number_takes_an_if_match_and_refuses_a_stale_one(api_as: Any) -> None:
    """PATCH of a period's 文号: without If-Match the last word counts; with the ETag read
    before another change it is refused (412) and the other change kept."""
    office = api_as("office")
    url = f"{API}/{BAOTOU}/periods/{H1}"
    read = office.get(url).headers["ETag"]
    first = office.patch(url, json={"doc_number": "包府发〔2022〕1号"}, headers={"If-Match": read})
    assert first.status_code == 200 and first.json["doc_number"] == "包府发〔2022〕1号"
    stale = office.patch(url, json={"doc_number": "包府发〔2022〕2号"}, headers={"If-Match": read})
    assert stale.status_code == 412
    assert office.get(url).json["doc_number"] == "包府发〔2022〕1号"
    fresh = office.get(url).headers["ETag"]
    again = office.patch(url, json={"doc_number": "包府发〔2022〕3号"}, headers={"If-Match": fresh})
    assert again.status_code == 200
    plain = office.patch(url, json={"doc_number": None})
    assert plain.status_code == 200 and plain.json["doc_number"] is None
    changes = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "period.doc_number").order_by(AuditEvent.id)
    ).all()
    assert [c.before for c in changes] == [
        {"doc_number": None},
        {"doc_number": "包府发〔2022〕1号"},
        {"doc_number": "包府发〔2022〕3号"},
    ]


# -- scores and rankings ---------------------------------------------------------------------------


def test_scores_list_every_unit_with_components_areas_and_rank(api_as: Any) -> None:
    office = api_as("office")
    own = unit_named(OWN, "baotou").id
    enter(office, BAOTOU, H1, own, field="80", survey="90")
    response = office.get(f"{API}/{BAOTOU}/scores?period={H1}&page_size=500")
    assert response.status_code == 200
    rows = response.json
    ranked, snapshot = services.results(plan_named(BAOTOU), H1)
    assert snapshot is None and total_count(response) == len(ranked) == len(rows)
    assert [(r["unit"]["id"], D(r["total"]), r["rank"]) for r in rows] == [
        (r.unit_id, r.total, r.rank) for r in ranked
    ]
    first = rows[0]
    # 80 × 20% + 90 × 10% = 25 while nothing else is scored; decimals travel as strings.
    assert first["unit"]["id"] == own and first["rank"] == 1 and first["revision"] is None
    assert first["total"] == "25.0000" and first["display_total"] == "25.00"
    assert first["components"]["field"] == "80.0000"
    assert first["components"]["monitoring"] == "0.0000"  # its H1 milestones are all open
    assert set(first["areas"]) and all(isinstance(v, str) for v in first["areas"].values())


def test_unit_tokens_see_the_ranking_as_the_rankings_page_shows_it(api_as: Any) -> None:
    """The rankings page shows unit users every unit (rankings are published); the API too."""
    own = unit_named(OWN, "baotou").id
    as_unit = client_for(api_as, "unit").get(f"{API}/{BAOTOU}/scores?period={H1}&page_size=500")
    as_office = api_as("office").get(f"{API}/{BAOTOU}/scores?period={H1}&page_size=500")
    assert as_unit.json == as_office.json
    assert own in {r["unit"]["id"] for r in as_unit.json} and len(as_unit.json) > 1


def test_scores_page_sort_and_filter(api_as: Any, shanwei: dict[str, int]) -> None:
    office = api_as("office")
    url = f"{API}/{SHANWEI}/scores?period={MAY}"
    first = office.get(f"{url}&page_size=3&sort=-total")
    assert [D(r["total"]) for r in first.json] == [D(90), D(82), D(82)]
    assert total_count(first) == 17
    second = office.get(f"{url}&page_size=3&sort=-total&page=2")
    assert [D(r["total"]) for r in second.json] == [D(66), D(0), D(0)]
    by_unit = office.get(f"{url}&sort=unit&page_size=500").json
    assert [r["unit"]["name"] for r in by_unit] == sorted(r["unit"]["name"] for r in by_unit)
    picked = office.get(f"{url}&unit={shanwei['陆河县人民政府']}&unit={shanwei['城区人民政府']}")
    assert [(r["unit"]["name"], r["rank"]) for r in picked.json] == [
        ("城区人民政府", 1),
        ("陆河县人民政府", 4),
    ]


def test_rankings_use_competition_ranking_and_the_change(api_as: Any, shanwei: dict[str, int]):
    office = api_as("office")
    response = office.get(f"{API}/{SHANWEI}/rankings?period={MAY}&top=4")
    assert response.status_code == 200
    got = [(r["unit"]["name"], r["rank"], r["display_total"], r["change"]) for r in response.json]
    assert got == [
        ("城区人民政府", 1, "90.00", 1),
        ("海丰县人民政府", 2, "82.00", -1),
        ("陆丰市人民政府", 2, "82.00", 1),
        ("陆河县人民政府", 4, "66.00", -1),
    ]
    assert {r["previous_period"] for r in response.json} == {APRIL}
    others = office.get(f"{API}/{SHANWEI}/rankings?period={MAY}&page_size=500").json
    assert {(r["rank"], r["change"]) for r in others[4:]} == {(5, -2)}  # 13 at 0 share 5th
    moved = office.get(f"{API}/{SHANWEI}/rankings?period={MAY}&sort=-change&page_size=3").json
    assert [(r["unit"]["name"], r["change"]) for r in moved] == [
        ("城区人民政府", 1),
        ("陆丰市人民政府", 1),
        ("海丰县人民政府", -1),
    ]


# -- explanations ----------------------------------------------------------------------------------


def test_explanation_contributions_add_up_exactly_and_match_the_cli(
    api_as: Any, app: Flask
) -> None:
    """Item 1 scored 1.2 by its lead assessment unit, field 80, survey 90 → every contribution
    (items, components) as an exact decimal string; their Decimal sum is the total."""
    office = api_as("office")
    own = unit_named(OWN, "baotou").id
    enter(office, BAOTOU, H1, own, field="80", survey="90", third_party="70.5")
    lead = api_as("assessor", unit_named(LEAD, "baotou"))
    scored = lead.put(
        f"{API}/{BAOTOU}/scores/items",
        json={"period": H1, "unit_id": own, "item": "1", "value": "1.2", "reason": "现场核查"},
    )
    assert scored.status_code == 200, scored.json
    response = client_for(api_as, "unit").get(f"{API}/{BAOTOU}/units/{own}/explanation?period={H1}")
    assert response.status_code == 200
    data = response.json
    values = [c["value"] for c in data["contributions"]]
    assert all(isinstance(v, str) for v in values) and isinstance(data["total"], str)
    assert sum((D(v) for v in values), D(0)) == D(data["total"])
    item = next(c for c in data["contributions"] if c["kind"] == "item" and c["key"] == "1")
    assert item["source"] == "assessor" and D(item["fraction"]) > 0
    assert {c["key"]: c["source"] for c in data["contributions"] if c["kind"] == "component"} == {
        "field": "entered",
        "survey": "entered",
        "third_party": "entered",
    }
    assert data["unit"] == {"id": own, "name": OWN} and data["revision"] is None
    # The same figures as `taskhub score explain --json`, digit for digit as decimals.
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["score", "explain", "--plan", BAOTOU, "--unit", OWN, "--period", H1, "--json"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout, parse_float=D)
    assert D(printed["total"]) == D(data["total"])
    assert [D(c["value"]) for c in printed["contributions"]] == [D(v) for v in values]


def test_explanation_404_and_422(api_as: Any) -> None:
    office = api_as("office")
    own = unit_named(OWN, "baotou").id
    stranger = unit_named("市营商环境局", "hegang").id
    url = f"{API}/{BAOTOU}/units"
    assert office.get(f"{url}/{stranger}/explanation?period={H1}").status_code == 404
    assert office.get(f"{url}/999999/explanation?period={H1}").status_code == 404
    assert office.get(f"{API}/nope-2022/units/{own}/explanation?period={H1}").status_code == 404
    bad = office.get(f"{url}/{own}/explanation?period=2022-H3")
    assert bad.status_code == 422 and bad.json["code"] == "validation_failed"
    assert set(bad.json["errors"]) == {"period"}
    zero = office.get(f"{url}/{own}/explanation?period=0000")
    assert zero.status_code == 422 and set(zero.json["errors"]) == {"period"}
    missing = office.get(f"{url}/{own}/explanation")
    assert missing.status_code == 422 and set(missing.json["errors"]) == {"period"}
    # A well-formed period the plan is not scored by (Baotou has no months, no 2019).
    for period in ("2022-05", "2019-H1"):
        response = office.get(f"{url}/{own}/explanation?period={period}")
        assert response.status_code == 404 and "2022-H1" in response.json["message"]


def test_unknown_plans_and_periods_everywhere(api_as: Any) -> None:
    office = api_as("office")
    for url in (
        f"{API}/nope/periods",
        f"{API}/nope/scores?period={H1}",
        f"{API}/nope/rankings?period={H1}",
        f"{API}/nope/snapshots",
        f"{API}/nope/bulletins/{H1}",
        f"{API}/{BAOTOU}/periods/2022-05",
        f"{API}/{BAOTOU}/scores?period=2022-05",
        f"{API}/{BAOTOU}/rankings?period=2023-H1",
        f"{API}/{BAOTOU}/bulletins/2022-05",
        f"{API}/{BAOTOU}/bulletins/2022-05.xlsx",
        f"{API}/{BAOTOU}/periods/{H1}/snapshots/1",
    ):
        response = office.get(url)
        assert response.status_code == 404, url
        assert response.json["code"] == "not_found" and response.json["message"]
    for url in (
        f"{API}/{BAOTOU}/scores?period=H1-2022",
        f"{API}/{BAOTOU}/rankings?period={H1}&sort=colour",
        f"{API}/{BAOTOU}/scores?period={H1}&page_size=0",
        f"{API}/{BAOTOU}/bulletins/2022-13",
        f"{API}/{BAOTOU}/periods?kind=week",
    ):
        response = office.get(url)
        assert response.status_code == 422, url
        assert response.json["errors"], url


# -- entering scores -------------------------------------------------------------------------------


def test_lead_assessor_scores_an_item_with_a_reason_audited_and_versioned(api_as: Any) -> None:
    own = unit_named(OWN, "baotou").id
    lead_unit = unit_named(LEAD, "baotou")
    lead = api_as("assessor", lead_unit)
    assignment = baotou_assignment(OWN, "1")
    url = f"{API}/{BAOTOU}/scores/items"
    body = {"period": H1, "assignment_id": assignment.id, "value": "1.2", "reason": "现场核查"}
    first = lead.put(url, json={**body, "version": 0})
    assert first.status_code == 200, first.json
    assert first.json["scorer"] == f"unit:{lead_unit.id}" and first.json["value"] == "1.2000"
    assert first.json["version"] == 1 and first.json["entered_by"]["id"] == lead.user.id
    assert first.json["unit"] == {"id": own, "name": OWN} and first.json["item"]["code"] == "1"
    same = lead.put(url, json=body)  # the same score again changes nothing
    assert same.json["version"] == 1
    changed = lead.put(url, json={**body, "value": "1", "reason": "复核", "version": 1})
    assert changed.status_code == 200 and changed.json["version"] == 2
    stale = lead.put(url, json={**body, "value": "0.5", "version": 1})
    assert stale.status_code == 409 and stale.json["code"] == "stale"
    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "score.item_set", AuditEvent.object_id == str(first.json["id"])
        )
    ).all()
    assert [e.actor_id for e in events] == [lead.user.id, lead.user.id]
    # The office scores too, under its own key; the lead's score is untouched.
    office = api_as("office")
    by_office = office.put(url, json={**body, "value": "0.8"})
    assert by_office.status_code == 200 and by_office.json["scorer"] == "office"
    listed = office.get(f"{url}?assignment={assignment.id}&sort=entered_at").json
    assert [(s["scorer"], s["value"]) for s in listed] == [
        (f"unit:{lead_unit.id}", "1.0000"),
        ("office", "0.8000"),
    ]


def test_an_assessor_cannot_score_an_item_another_unit_leads(api_as: Any) -> None:
    lead = api_as("assessor", unit_named(LEAD, "baotou"))
    other_item = baotou_assignment(OWN, "3")  # led by another unit
    response = lead.put(
        f"{API}/{BAOTOU}/scores/items",
        json={"period": H1, "assignment_id": other_item.id, "value": "1", "reason": "x"},
    )
    assert response.status_code == 403 and response.json["code"] == "forbidden"


def test_item_score_input_errors_by_field(api_as: Any) -> None:
    office = api_as("office")
    assignment = baotou_assignment(OWN, "1")
    url = f"{API}/{BAOTOU}/scores/items"
    base = {"period": H1, "assignment_id": assignment.id}

    def errors(body: dict[str, Any]) -> set[str]:
        response = office.put(url, json=body)
        assert response.status_code == 422, (body, response.json)
        return set(response.json["errors"])

    assert errors({**base, "value": "1"}) == {"reason"}
    assert errors({**base, "value": "1", "reason": "   "}) == {"reason"}
    assert errors({**base, "value": "1000", "reason": "x"}) == {"value"}
    assert errors({**base, "value": "-1", "reason": "x"}) == {"value"}
    assert errors({**base, "value": "NaN", "reason": "x"}) == {"value"}
    assert errors({**base, "value": "1", "numerator": "1", "reason": "x"}) == {"value"}
    assert errors({**base, "numerator": "1", "reason": "x"}) == {"denominator"}
    assert errors({**base, "reason": "x"}) == {"value"}
    assert errors({**base, "value": "1e99", "reason": "x"}) == {"value"}
    assert errors({"period": H1, "value": "1", "reason": "x"}) == {"assignment_id"}
    assert errors({"period": H1, "unit_id": 1, "value": "1", "reason": "x"}) == {"item"}
    assert errors({**base, "period": "2022-7", "value": "1", "reason": "x"}) == {"period"}
    hegang = db.session.scalar(
        select(Assignment.id).join(Item).join(Plan).where(Plan.code == "hegang-2022")
    )
    other_plan = office.put(
        url, json={**base, "assignment_id": hegang, "value": "1", "reason": "x"}
    )
    assert other_plan.status_code == 404


def test_components_entered_by_the_office_with_checks(api_as: Any) -> None:
    office = api_as("office")
    own = unit_named(OWN, "baotou").id
    url = f"{API}/{BAOTOU}/scores/components"
    body = {"period": H1, "unit_id": own, "component": "field", "value": "80", "reason": "实地调研"}
    first = office.put(url, json={**body, "version": 0})
    assert first.status_code == 200, first.json
    assert (first.json["component"], first.json["value"], first.json["version"]) == (
        "field",
        "80.0000",
        1,
    )
    again = office.put(url, json={**body, "value": "85", "version": 1})
    assert again.json["version"] == 2 and again.json["value"] == "85.0000"
    assert office.put(url, json={**body, "version": 1}).status_code == 409

    def error(changes: dict[str, Any], status: int = 422) -> dict[str, Any]:
        response = office.put(url, json={**body, **changes})
        assert response.status_code == status, (changes, response.json)
        return dict(response.json)

    assert set(error({"component": "monitoring"})["errors"]) == {"component"}
    assert set(error({"value": "180"})["errors"]) == {"value"}
    assert set(error({"reason": ""})["errors"]) == {"reason"}
    stranger = unit_named("市营商环境局", "hegang").id
    assert set(error({"unit_id": stranger})["errors"]) == {"unit_id"}
    error({"unit_id": 999999}, 404)
    # Listed for the office; a unit token sees its own unit's only.
    enter(office, BAOTOU, H1, unit_named(OTHER, "baotou").id, survey="70")
    listed = office.get(f"{url}?period={H1}&sort=unit")
    assert total_count(listed) == 2
    mine = client_for(api_as, "unit").get(url).json
    assert [(r["unit"]["id"], r["component"]) for r in mine] == [(own, "field")]
    assert office.get(f"{url}?component=survey").json[0]["value"] == "70.0000"


def test_a_unit_token_lists_only_its_own_item_scores(api_as: Any) -> None:
    office = api_as("office")
    for unit in (OWN, OTHER):
        response = office.put(
            f"{API}/{BAOTOU}/scores/items",
            json={
                "period": H1,
                "assignment_id": baotou_assignment(unit, "1").id,
                "value": "1",
                "reason": "核定",
            },
        )
        assert response.status_code == 200
    assert total_count(office.get(f"{API}/{BAOTOU}/scores/items?period={H1}")) == 2
    own = unit_named(OWN, "baotou").id
    other = unit_named(OTHER, "baotou").id
    unit = client_for(api_as, "unit")
    mine = unit.get(f"{API}/{BAOTOU}/scores/items?unit={other}&unit={own}").json
    assert [r["unit"]["id"] for r in mine] == [own]


# -- closing periods and revisions -----------------------------------------------------------------


def test_close_then_correction_is_a_new_revision(api_as: Any, shanwei: dict[str, int]) -> None:
    """Closed at 90/82/82/66; 陆河县's monitoring corrected 70 → 100 (80 + 10 = 90).

    The published ranking stays frozen until a revision with a reason: then 城区 and 陆河县
    share rank 1 (90), 海丰县 and 陆丰市 rank 3 (82)."""
    office = api_as("office")
    close = f"{API}/{SHANWEI}/periods/{MAY}/close"
    first = office.post(close, json={"revision": 0})
    assert first.status_code == 201, first.json
    assert (first.json["revision"], first.json["is_latest"], first.json["reason"]) == (
        1,
        True,
        None,
    )
    enter(office, SHANWEI, MAY, shanwei["陆河县人民政府"], monitoring="100")
    rankings = f"{API}/{SHANWEI}/rankings?period={MAY}&top=4"
    frozen = office.get(rankings).json
    assert {r["revision"] for r in frozen} == {1}
    assert [(r["unit"]["name"], r["total"]) for r in frozen][-1] == ("陆河县人民政府", "66.0000")

    no_reason = office.post(close, json={})
    assert no_reason.status_code == 422 and set(no_reason.json["errors"]) == {"reason"}
    stale = office.post(close, json={"reason": "更正", "revision": 0})
    assert stale.status_code == 409 and stale.json["code"] == "stale"
    second = office.post(close, json={"reason": "更正陆河县监测分", "revision": 1})
    assert second.status_code == 201 and second.json["revision"] == 2

    ranks = {r["unit"]["name"]: (r["rank"], r["revision"]) for r in office.get(rankings).json}
    assert ranks == {
        "城区人民政府": (1, 2),
        "陆河县人民政府": (1, 2),
        "海丰县人民政府": (3, 2),
        "陆丰市人民政府": (3, 2),
    }
    revisions = office.get(f"{API}/{SHANWEI}/snapshots?period={MAY}&sort=revision").json
    assert [(s["revision"], s["is_latest"], s["reason"]) for s in revisions] == [
        (1, False, None),
        (2, True, "更正陆河县监测分"),
    ]
    assert revisions[0]["created_by"]["id"] == office.user.id
    old = office.get(f"{API}/{SHANWEI}/periods/{MAY}/snapshots/1").json
    new = office.get(f"{API}/{SHANWEI}/periods/{MAY}/snapshots/2").json
    lu_he = shanwei["陆河县人民政府"]
    assert next(u["total"] for u in old["units"] if u["unit"]["id"] == lu_he) == "66.0000"
    assert next(u["total"] for u in new["units"] if u["unit"]["id"] == lu_he) == "90.0000"
    explained = office.get(f"{API}/{SHANWEI}/units/{lu_he}/explanation?period={MAY}").json
    assert explained["revision"] == 2 and explained["total"] == "90.0000"
    assert sum((D(c["value"]) for c in explained["contributions"]), D(0)) == D(90)
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.in_(["period.closed", "period.revised"]))
    ).all()
    assert sorted(actions) == ["period.closed", "period.revised"]
    assert office.get(f"{API}/{SHANWEI}/periods/{MAY}/snapshots/3").status_code == 404


def test_snapshots_list_pages_and_sorts(api_as: Any, shanwei: dict[str, int]) -> None:
    office = api_as("office")
    for period, reason in ((APRIL, None), (MAY, None), (MAY, "更正")):
        body = {"reason": reason} if reason else {}
        assert office.post(f"{API}/{SHANWEI}/periods/{period}/close", json=body).status_code == 201
    listed = office.get(f"{API}/{SHANWEI}/snapshots?sort=period&page_size=2")
    assert total_count(listed) == 3
    assert [(s["period"], s["revision"]) for s in listed.json] == [(APRIL, 1), (MAY, 1)]
    assert office.get(f"{API}/{SHANWEI}/snapshots?period=2021-5").status_code == 422
    assert total_count(office.get(f"{API}/{BAOTOU}/snapshots")) == 0


# -- bulletins -------------------------------------------------------------------------------------


def test_bulletin_as_json_with_counts_areas_movers_and_revision(api_as: Any) -> None:
    office = api_as("office")
    own = unit_named(OWN, "baotou").id
    enter(office, BAOTOU, H1, own, field="80")
    response = office.get(f"{API}/{BAOTOU}/bulletins/{H1}")
    assert response.status_code == 200, response.json
    b = response.json
    assert b["plan"] == BAOTOU and b["period_label"] == "2022年上半年"
    assert b["revision"] is None and b["is_final"] is False and "通报" in b["title"]
    kinds = {c["kind"] for c in b["columns"]}
    assert kinds == {"component", "area"}
    top = b["rows"][0]
    assert top["unit"]["id"] == own and top["rank"] == 1 and top["total"] == "16.00"
    area_titles = {c["code"] for c in b["columns"] if c["kind"] == "area"}
    assert set(top["areas"]) == area_titles
    # Progress counts cover every applicable assignment of the unit.
    applicable = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Item)
        .join(Plan)
        .where(Plan.code == BAOTOU, Assignment.unit_id == own, ~Assignment.is_not_applicable)
    )
    counted = top["completed"] + top["on_schedule"] + top["behind"] + top["overdue"]
    assert counted == applicable
    names = [name for names in b["standings"].values() for name in names]
    assert sorted(names) == sorted(r["unit"]["name"] for r in b["rows"])
    assert b["movers_up"] == [] and b["movers_down"] == []  # no previous half-year scored
    assert office.post(f"{API}/{BAOTOU}/periods/{H1}/close").status_code == 201
    closed = office.get(f"{API}/{BAOTOU}/bulletins/{H1}").json
    assert closed["revision"] == 1 and closed["is_final"] is True


def test_bulletin_downloads(api_as: Any) -> None:
    viewer = api_as("viewer")
    xlsx = viewer.get(f"{API}/{BAOTOU}/bulletins/{H1}.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert sheet.cell(3, 1).value == "名次"
    docx = viewer.get(f"{API}/{BAOTOU}/bulletins/{H1}.docx")
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    assert docx.mimetype.endswith("wordprocessingml.document")


def test_openapi_documents_decimals_as_strings(api_as: Any) -> None:
    spec = api_as("viewer").get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert schemas["Score"]["properties"]["total"]["type"] == "string"
    assert schemas["Contribution"]["properties"]["value"]["type"] == "string"
    paths = spec["paths"]
    for path in (
        "/api/v1/plans/{code}/periods",
        "/api/v1/plans/{code}/scores",
        "/api/v1/plans/{code}/rankings",
        "/api/v1/plans/{code}/units/{unit_id}/explanation",
        "/api/v1/plans/{code}/scores/items",
        "/api/v1/plans/{code}/scores/components",
        "/api/v1/plans/{code}/snapshots",
        "/api/v1/plans/{code}/periods/{period}/close",
        "/api/v1/plans/{code}/bulletins/{period}",
    ):
        assert path in paths, path
