"""Unit lists in a plan workbook as documents write them, unknown names settled from the
preview, 待分配 tasks, and the source label pages show instead of transcription notes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.imports.plan_names import guess_kind, similar_names
from taskhub.plans.models import Item, ItemUnit, Plan
from taskhub.tracking.models import Assignment
from taskhub.units.models import Unit, UnitAlias
from taskhub.units.names import split_unit_names
from tests.conftest import unit_named
from tests.test_imports import (
    CODE,
    ITEMS,
    confirm_fields,
    count,
    plan_file,
    upload,
    visible,
)

KNOWN = ["各县(市、区)人民政府", "市发展改革委", "市住房和城乡建设局", "市财政局", "市教育局"]


# --- the splitter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names", "rest"),
    [
        ("各县(市、区)人民政府", ["各县(市、区)人民政府"], None),
        ("各县（市、区）人民政府、市财政局", ["各县(市、区)人民政府", "市财政局"], None),
        ("参与数字政府建设工作的各部门、单位", ["参与数字政府建设工作的各部门、单位"], None),
        ("广州、深圳、珠海出入境边防检查总站", ["广州、深圳、珠海出入境边防检查总站"], None),
        ("市发展改革委及市财政局", ["市发展改革委", "市财政局"], None),
        ("市发改委和市教育局，市财政局", ["市发改委", "市教育局", "市财政局"], None),
        ("市住房和城乡建设局和市财政局", ["市住房和城乡建设局", "市财政局"], None),
        ("市住房和城建局", ["市住房和城建局"], None),  # 和 inside an unknown name
        ("市卫健委(市中医药局)；市医保局", ["市卫健委(市中医药局)", "市医保局"], None),
        (
            "市发展改革委、市财政局等有关单位按职责分工负责",
            ["市发展改革委", "市财政局"],
            "等有关单位",
        ),
        ("市教育局等有关部门", ["市教育局"], "等有关部门"),
        ("市教育局、市财政局及其他有关单位", ["市教育局", "市财政局"], "及其他有关单位"),
        ("高等学校", ["高等学校"], None),
        ("市财政局牵头", ["市财政局"], None),
    ],
)
def test_unit_lists_split_only_at_the_top_level(text: str, names: list[str], rest: str | None):
    result = split_unit_names(text, KNOWN)
    assert (result.names, result.open_rest) == (names, rest)


def test_a_known_name_wins_over_splitting() -> None:
    known = ["广州、深圳、珠海出入境边防检查总站", "参与数字政府建设工作的各部门、单位"]
    text = "参与数字政府建设工作的各部门、单位和广州、深圳、珠海出入境边防检查总站"
    assert split_unit_names(text, known).names == known[::-1]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("新城区人民政府", "county"),
        ("高新区管委会", "county"),
        ("城关镇人民政府", "township"),
        ("东城街道", "township"),
        ("市数据局", "department"),
        ("市政务服务中心", "department"),
        ("电信汕尾分公司", "enterprise"),
    ],
)
def test_the_kind_of_a_new_unit_is_guessed_from_its_name(name: str, kind: str) -> None:
    assert guess_kind(name) == kind


def test_close_names_come_first() -> None:
    known = ["市市场监管局", "市营商环境局", "市财政局", "各县(区)政府"]
    assert similar_names("市场监督管理局", known)[0] == "市市场监管局"


# --- the import -----------------------------------------------------------------------------


def items_with(lead: str, responsible: str | None = None, **extra: Any) -> list[dict[str, Any]]:
    first = {**ITEMS[0], "lead": lead, "responsible": responsible, **extra}
    return [first, *ITEMS[1:]]


def preview_page(client: FlaskClient, data: bytes) -> tuple[int, str]:
    response = upload(client, "/imports/plan", data)
    return response.status_code, response.get_data(as_text=True)


def choice_fields(page: str) -> dict[str, str]:
    """The hidden fields of the unknown-names form (csrf, sha256, name, name-N)."""
    form = page.split('id="unknown-names"')[1].split("</form>")[0]
    return {
        k: v
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
        if k != "csrf_token"
    }


def plan_items() -> dict[str, Item]:
    plan = db.session.scalars(select(Plan).where(Plan.code == CODE)).one()
    return {i.code: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))}


def lead_names(item: Item) -> list[str]:
    return [u.name for u in db.session.scalars(select(ItemUnit).where(ItemUnit.item_id == item.id))]


def test_bracketed_names_stay_whole_and_and_words_split(client, login_as):
    login_as("office")
    data = plan_file(items=items_with("市营商环境局及市财政局", "各县（区）政府和市场监管局"))
    status, page = preview_page(client, data)
    assert status == 200, visible(page)
    fields = confirm_fields(page)
    done = client.post("/imports/plan/confirm", data=fields, follow_redirects=True)
    assert done.request.path == f"/plans/{CODE}"
    item = plan_items()["1"]
    assert lead_names(item) == ["市营商环境局", "市财政局", "各县(区)政府", "市市场监管局"]


def test_an_open_ended_list_keeps_the_named_units_and_records_the_rest(client, login_as):
    login_as("office")
    data = plan_file(items=items_with("市营商环境局", "市财政局等有关单位按职责分工负责"))
    status, page = preview_page(client, data)
    assert status == 200, visible(page)
    client.post("/imports/plan/confirm", data=confirm_fields(page))
    item = plan_items()["1"]
    assert lead_names(item) == ["市营商环境局", "市财政局"]
    assert item.open_units == "等有关单位"
    shown = visible(client.get(f"/items/{item.id}").get_data(as_text=True))
    assert "等有关单位" in shown


def test_an_unknown_name_is_a_per_row_error_with_choices(client, login_as):
    login_as("office")
    status, page = preview_page(client, plan_file(items=items_with("市数据局")))
    assert status == 422
    text = visible(page)
    assert "「市数据局」" in text and "事项 2 牵头单位" in text  # sheet, row, column
    assert "新建单位" in text and "别名" in text
    assert count(Unit, Unit.name == "市数据局") == 0  # a preview writes nothing
    # Confirming without a choice imports nothing and shows the error again.
    again = client.post("/imports/plan/confirm", data=choice_fields(page))
    assert again.status_code == 422 and "「市数据局」" in visible(again.get_data(as_text=True))
    assert count(Plan, Plan.code == CODE) == 0


def test_an_unknown_name_created_from_the_preview_is_imported(client, login_as):
    office = login_as("office")
    status, page = preview_page(client, plan_file(items=items_with("市数据局")))
    assert status == 422
    fields = choice_fields(page)
    index = next(k for k, v in fields.items() if k.startswith("name-") and v == "市数据局")[5:]
    assert re.search(rf'name="kind-{index}".*?<option value="department" selected', page, re.S)
    done = client.post(
        "/imports/plan/confirm",
        data={**fields, f"action-{index}": "create", f"kind-{index}": "department"},
        follow_redirects=True,
    )
    assert done.request.path == f"/plans/{CODE}", visible(done.get_data(as_text=True))
    unit = unit_named("市数据局", "hegang")
    assert unit.kind == "department"
    item = plan_items()["1"]
    assert lead_names(item)[0] == "市数据局"
    # A new plan comes in as a draft; publishing it assigns the task to the new unit.
    assert client.post(f"/plans/{CODE}/publish").status_code == 302
    assert (
        db.session.scalars(
            select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == unit.id)
        )
        .one()
        .role
        == "lead"
    )
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unit.created")).one()
    assert event.actor_id == office.id and event.after["name"] == "市数据局"
    assert count(AuditEvent, AuditEvent.action == "import.plan") == 1


def test_an_unknown_name_made_an_alias_of_a_close_match(client, login_as):
    login_as("office")
    status, page = preview_page(client, plan_file(items=items_with("营商环境建设局")))
    assert status == 422
    fields = choice_fields(page)
    index = next(k for k, v in fields.items() if k.startswith("name-") and v == "营商环境建设局")[
        5:
    ]
    options = re.search(rf'name="target-{index}">(.*?)</select>', page, re.S)
    assert options and "市营商环境局" in options.group(1)
    done = client.post(
        "/imports/plan/confirm",
        data={**fields, f"action-{index}": "alias", f"target-{index}": "市营商环境局"},
        follow_redirects=True,
    )
    assert done.request.path == f"/plans/{CODE}"
    assert unit_named("营商环境建设局", "hegang") is unit_named("市营商环境局", "hegang")
    assert lead_names(plan_items()["1"])[0] == "市营商环境局"
    assert count(AuditEvent, AuditEvent.action == "unit.alias_added") == 1


def test_a_bad_choice_target_is_refused_and_nothing_is_written(client, login_as):
    login_as("office")
    _status, page = preview_page(client, plan_file(items=items_with("营商环境建设局")))
    fields = choice_fields(page)
    index = next(k for k, v in fields.items() if k.startswith("name-"))[5:]
    refused = client.post(
        "/imports/plan/confirm",
        data={**fields, f"action-{index}": "alias", f"target-{index}": "不存在的单位"},
    )
    assert refused.status_code == 422
    assert "不存在的单位" in visible(refused.get_data(as_text=True))
    assert count(UnitAlias, UnitAlias.name == "营商环境建设局") == 0
    assert count(Plan, Plan.code == CODE) == 0


def test_a_task_with_no_lead_yet_is_imported_as_unassigned_and_listed(client, login_as):
    login_as("office")
    data = plan_file(items=items_with("待分配", None))
    status, page = preview_page(client, data)
    assert status == 200, visible(page)
    assert "待分配" in visible(page)
    client.post("/imports/plan/confirm", data=confirm_fields(page))
    item = plan_items()["1"]
    assert item.is_unassigned and lead_names(item) == []
    assert count(Assignment, Assignment.item_id == item.id) == 0
    shown = visible(client.get(f"/plans/{CODE}").get_data(as_text=True))
    assert "待分配" in shown and "尚无牵头单位" in shown


def test_an_empty_lead_cell_is_still_an_error(client, login_as):
    login_as("office")
    status, page = preview_page(client, plan_file(items=items_with("")))
    assert status == 422 and "待分配" in visible(page)


def test_the_plan_page_shows_the_source_label_not_the_file_name(client, login_as):
    login_as("office")
    page = visible(client.get("/plans/baotou-2022").get_data(as_text=True))
    plan = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    assert plan.source and plan.source.endswith(".txt")
    assert f"《{plan.title}》" in page
    assert plan.source not in page and ".txt" not in page
    hegang = visible(client.get("/plans/hegang-2022").get_data(as_text=True))
    assert "《鹤岗市数字政府建设实施方案》（鹤政发〔2022〕12号）" in hegang
    assert "004_02b93624949c2267" not in hegang and "Reading choices" not in hegang


def test_admins_see_the_transcription_notes_in_a_details_block(client, login_as):
    login_as("admin")
    page = client.get("/plans/hegang-2022").get_data(as_text=True)
    notes = page.split("<main")[1].split("<details")[1].split("</details>")[0]
    assert "004_02b93624949c2267.txt" in notes


def test_a_partial_choice_imports_nothing_and_keeps_the_choices_on_the_page(client, login_as):
    login_as("office")
    data = plan_file(items=items_with("市数据局", "市数据资源中心"))
    _status, page = preview_page(client, data)
    fields = choice_fields(page)
    index = {v: k[5:] for k, v in fields.items() if k.startswith("name-")}
    assert set(index) == {"市数据局", "市数据资源中心"}
    first = index["市数据局"]
    again = client.post(
        "/imports/plan/confirm",
        data={**fields, f"action-{first}": "create", f"kind-{first}": "department"},
    )
    assert again.status_code == 422
    shown = again.get_data(as_text=True)
    assert "「市数据资源中心」" in visible(shown)
    # Both names are offered again, the one chosen with its choice.
    assert re.search(rf'name="action-{first}" value="create"[^>]*checked', shown)
    assert count(Unit, Unit.name == "市数据局") == 0
    assert count(Plan, Plan.code == CODE) == 0
