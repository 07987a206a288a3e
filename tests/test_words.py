"""The right words: periods and components by name, Chinese score errors, one Chinese word
per meaning (message contexts), and explanations in the document's terms."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.models import Assignment, Item, Plan
from taskhub.scoring.labels import (
    component_label,
    component_names,
    explanation_lines,
    percent,
    period_label,
    period_text,
)
from tests.conftest import unit_named

RANKINGS = "/plans/baotou-2022/scores?period=2022-H1"


@pytest.mark.parametrize(
    ("code", "zh"),
    [
        ("2026-H2", "2026年下半年"),
        ("2022-H1", "2022年上半年"),
        ("2022-06", "2022年6月"),
        ("2022", "2022年度"),
    ],
)
def test_periods_read_in_chinese(app, code: str, zh: str) -> None:
    assert period_label(code) == zh
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        assert period_text(code) == zh
        assert period_text("not a code") == "not a code"  # other text passes through


def test_components_are_named_as_the_scheme_names_them(session) -> None:
    baotou = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    names = component_names(baotou)
    shown = [component_label(c, names) for c in ("monitoring", "field", "survey", "third_party")]
    assert shown == ["日常监测", "实地调研", "民意调查", "第三方评估"]
    assert component_label("2022-H1", names) == "2022年上半年"  # a year's mean of its halves
    assert component_label("area:一、政务服务", names) == "一、政务服务"


def test_percentages() -> None:
    assert [percent(v) for v in ("0.833333", "1", "0.6", "0.125")] == [
        "83.3%",
        "100%",
        "60%",
        "12.5%",
    ]


def test_rankings_page_names_components_and_periods(client, login_as) -> None:
    login_as("office")
    page = client.get(RANKINGS).get_data(as_text=True)
    for name in ("日常监测", "实地调研", "民意调查", "第三方评估", "2022年上半年", "较上期"):
        assert name in page
    assert ">field<" not in page and ">third_party<" not in page and ">2022-H1<" not in page
    assert '<option value="field">实地调研</option>' in page  # the code stays the value
    assert "调整" not in page


def test_component_out_of_range_is_refused_in_chinese_with_its_name(client, login_as) -> None:
    login_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    form = {"unit_id": unit.id, "component": "third_party", "value": "150", "reason": "评估"}
    page = client.post(
        "/plans/baotou-2022/components?period=2022-H1", data=form, follow_redirects=True
    ).get_data(as_text=True)
    assert "“第三方评估”得分应在 0 至 100 之间" in page
    assert "third_party must be" not in page
    form["value"] = "abc"
    page = client.post(
        "/plans/baotou-2022/components?period=2022-H1", data=form, follow_redirects=True
    ).get_data(as_text=True)
    assert "“abc”不是数字" in page


def test_the_api_keeps_its_english_messages(api_as) -> None:
    """docs/api.md: API error messages are English (with codes); pages are Chinese."""
    api = api_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    response = api.put(
        "/api/v1/plans/baotou-2022/scores/components",
        json={
            "period": "2022-H1",
            "unit_id": unit.id,
            "component": "third_party",
            "value": "150",
            "reason": "评估",
        },
    )
    assert response.status_code == 422
    assert "third_party must be between 0 and 100" in response.get_data(as_text=True)


def _baotou_assignment(unit: str, code: str) -> Assignment:
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(
            Plan.code == "baotou-2022",
            Item.code == code,
            Assignment.unit_id == unit_named(unit, "baotou").id,
        )
    ).one()


def test_item_score_out_of_range_is_refused_in_chinese(client, login_as) -> None:
    login_as("office")
    assignment = _baotou_assignment("昆都仑区人民政府", "1")
    page = client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2022-H1", "value": "9", "reason": "核查"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "得分应在 0 至本事项分值" in page and "the score must be" not in page


def test_explanation_shows_percentages_and_the_schemes_weights(client, login_as) -> None:
    login_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    client.post(
        "/plans/baotou-2022/components?period=2022-H1",
        data={"unit_id": unit.id, "component": "survey", "value": "90", "reason": "民意调查"},
    )
    assignment = _baotou_assignment("昆都仑区人民政府", "1")
    client.post(
        f"/assignments/{assignment.id}/score",
        data={"period": "2022-H1", "value": "0.5", "reason": "核查"},
    )
    page = client.get(f"/plans/baotou-2022/scores/{unit.id}?period=2022-H1").get_data(as_text=True)
    assert "民意调查" in page and ">10%<" in page  # the survey's weight as the scheme says
    assert "日常监测 60%" in page  # an item's weight: its component's share
    assert "2022年上半年" in page and "weight" not in page
    assert "0.871671" not in page.split("title=")[0]  # the exact factor only in a tooltip
    assert "<th>来源</th>" in page and "来源文件" not in page


def test_explanation_lines_turn_fractions_into_percentages() -> None:
    lines = explanation_lines(
        [
            {
                "kind": "item",
                "key": "1",
                "label": "1. 全程网办",
                "points": Decimal(2),
                "fraction": Decimal("0.833333"),
                "source": "assessor",
                "weight": Decimal("0.871671"),
                "value": Decimal("1.4528"),
            },
            {
                "kind": "component",
                "key": "field",
                "label": "field",
                "points": Decimal(80),
                "fraction": None,
                "source": "entered",
                "weight": Decimal("0.2"),
                "value": Decimal(16),
            },
        ],
        {"monitoring": "日常监测", "field": "实地调研"},
        {"monitoring": Decimal("0.6"), "field": Decimal("0.2")},
        "monitoring",
    )
    item, field = lines
    assert (item.share, item.weight, item.factor) == ("83.3%", "日常监测 60%", "0.871671")
    assert (field.label, field.share, field.weight) == ("实地调研", "—", "20%")


def test_one_word_per_meaning(client, login_as) -> None:
    login_as("office")
    rules = client.get("/reminders/rules").get_data(as_text=True)
    assert "名称" in rules and "姓名" not in rules  # a rule has a name, not a person's name
    extensions = client.get("/extensions").get_data(as_text=True)
    assert "<h1>延期审批 <span" in extensions  # as the menu says
    assignment = _baotou_assignment("昆都仑区人民政府", "1")
    item_page = client.get(f"/items/{assignment.item_id}").get_data(as_text=True)
    assert "<th>来源</th>" in item_page and "来源文件" not in item_page
    webhooks_text = client.get("/outbox").get_data(as_text=True)
    assert "发件箱" not in webhooks_text


def test_the_scores_export_uses_component_and_period_names(client, login_as) -> None:
    from openpyxl import load_workbook

    login_as("office")
    response = client.get("/plans/baotou-2022/scores.xlsx?period=2022-H1")
    assert response.status_code == 200
    from urllib.parse import unquote

    disposition = unquote(response.headers["Content-Disposition"].split("filename*=UTF-8''")[-1])
    assert "2022年上半年" in disposition and "2022-H1" not in disposition
    book = load_workbook(io.BytesIO(response.data))
    headers = [c.value for c in next(book["得分排名"].iter_rows(max_row=1))]
    assert "第三方评估" in headers and "third_party" not in headers
    notes = {row[0].value: row[1].value for row in book["导出说明"].iter_rows()}
    assert notes["期次"] == "2022年上半年"


def test_an_allocation_that_does_not_add_up_is_refused_in_chinese(client, login_as) -> None:
    from taskhub.models import Section

    login_as("office")
    area3 = db.session.scalars(
        select(Section).join(Plan).where(Plan.code == "baotou-2022", Section.path == "3")
    ).one()
    items = db.session.scalars(
        select(Item)
        .join(Plan)
        .where(Plan.code == "baotou-2022", Item.code.in_(["54", "55", "56", "57", "58"]))
    ).all()
    page = client.post(
        f"/sections/{area3.id}/allocation",
        data={f"points_{i.id}": "5" for i in items},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "分配的分值合计 25 分，应恰好等于本部分的 20 分" in page
    assert "adds up to" not in page


def test_a_rule_name_too_long_is_called_a_name_not_a_persons_name(client, login_as) -> None:
    login_as("office")
    page = client.post(
        "/reminders/rules", data={"name": "提" * 5000}, follow_redirects=True
    ).get_data(as_text=True)
    assert "「名称」" in page and "「姓名」" not in page
