"""Loading is idempotent, transactional and validating."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.models import (
    Assignment,
    AuditEvent,
    Item,
    ItemUnit,
    Plan,
    Section,
    Unit,
    UnitAlias,
    UnitGroup,
)
from taskhub.plans.seeds import load_seeds
from taskhub.plans.seedspec import SeedError

COUNTED = (Plan, Section, Item, ItemUnit, Assignment, Unit, UnitAlias, UnitGroup)


def counts() -> dict[str, int]:
    return {
        m.__name__: db.session.scalar(select(func.count()).select_from(m)) or 0 for m in COUNTED
    }


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def baotou_item(data: dict, number: str) -> dict:
    def walk(sections):
        for s in sections:
            for i in s.get("items") or []:
                if i["number"] == number:
                    return i
            found = walk(s.get("sections") or [])
            if found:
                return found
        return None

    return walk(data["sections"])


def test_loading_twice_changes_nothing(session, seeds_copy):
    before = counts()
    results = load_seeds(seeds_copy)
    assert {r.status for r in results} == {"unchanged"}
    assert counts() == before


def test_a_changed_file_updates_in_place(session, seeds_copy):
    path = seeds_copy / "plans" / "baotou-2022.yaml"
    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "baotou-2022", Item.code == "1")
    ).one()
    assignment_ids = set(
        db.session.scalars(select(Assignment.id).where(Assignment.item_id == item.id))
    )
    edit(path, lambda d: baotou_item(d, "1").update(text="新的任务内容"))
    before = counts()
    results = {r.code: r.status for r in load_seeds(seeds_copy, ["baotou-2022"])}
    assert results == {"baotou-2022": "updated"}
    db.session.refresh(item)
    assert item.text == "新的任务内容"
    # Same rows: the item keeps its id and its assignments.
    assert (
        set(db.session.scalars(select(Assignment.id).where(Assignment.item_id == item.id)))
        == assignment_ids
    )
    assert counts() == before
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "plan.seed_updated")
        )
        == 1
    )


def test_unknown_unit_names_the_file_and_item_and_writes_nothing(session, seeds_copy):
    path = seeds_copy / "plans" / "baotou-2022.yaml"
    edit(path, lambda d: baotou_item(d, "17").update(lead_assessors=["市不存在局"]))
    # A change in another plan would be written if loading were not all-or-nothing.
    edit(seeds_copy / "plans" / "hegang-2022.yaml", lambda d: d.update(title="改过的标题"))
    before = counts()
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy)
    message = str(error.value)
    assert "baotou-2022.yaml" in message and "item 17" in message and "市不存在局" in message
    assert counts() == before
    assert db.session.scalar(select(Plan.title).where(Plan.code == "hegang-2022")) != "改过的标题"


def test_points_over_budget_are_refused(session, seeds_copy):
    path = seeds_copy / "plans" / "baotou-2022.yaml"
    edit(path, lambda d: baotou_item(d, "39").update(points=30))
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy, ["baotou-2022"])
    assert "more than the section's" in str(error.value)


def test_negative_points_and_duplicate_codes_are_refused(session, seeds_copy):
    path = seeds_copy / "plans" / "baotou-2022.yaml"

    def change(d):
        baotou_item(d, "40").update(points=-1)
        baotou_item(d, "41").update(number="42")

    edit(path, change)
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy, ["baotou-2022"])
    problems = "\n".join(error.value.problems)
    assert "item 40: points -1 must be a non-negative number" in problems
    assert "item code '42' is used twice" in problems


def test_a_name_standing_for_two_units_is_refused(session, seeds_copy):
    path = seeds_copy / "cities" / "hegang.yaml"

    def change(d):
        d["units"][1].setdefault("aliases", []).append(d["units"][0]["name"])

    edit(path, change)
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy, ["hegang-2022"])
    assert "must resolve to exactly one unit or group" in str(error.value)


def test_broken_yaml_names_the_line(session, seeds_copy):
    path = seeds_copy / "plans" / "heihe-2023.yaml"
    path.write_text("code: heihe-2023\nsections: [\n", encoding="utf-8")
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy, ["heihe-2023"])
    assert "heihe-2023.yaml: not valid YAML at line" in str(error.value)


def test_unknown_plan_code_lists_the_known_ones(session, seeds_copy):
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy, ["nowhere-2020"])
    assert "nowhere-2020" in str(error.value) and "baotou-2022" in str(error.value)


def test_removing_an_item_with_reports_is_refused(session, seeds_copy, login_as):
    from taskhub.tracking.models import ProgressReport

    user = login_as("office")
    assignment = db.session.scalars(
        select(Assignment).join(Item).join(Plan).where(Plan.code == "heihe-2023", Item.code == "54")
    ).first()
    db.session.add(
        ProgressReport(
            assignment_id=assignment.id, author_id=user.id, progress="已完成", percent=100
        )
    )
    db.session.flush()

    def drop_row_54(d):
        for s in d["sections"]:
            for s2 in s.get("sections") or []:
                for s3 in s2.get("sections") or []:
                    s3["items"] = [i for i in s3.get("items") or [] if i["number"] != "54"]

    edit(seeds_copy / "plans" / "heihe-2023.yaml", drop_row_54)
    with pytest.raises(SeedError) as error:
        load_seeds(seeds_copy, ["heihe-2023"])
    assert "item 54" in str(error.value) and "reported progress" in str(error.value)


def test_a_unit_list_written_as_one_string_is_split_like_a_document(seeds_copy):
    """Seed files may write a role as the document does; the city's names win over splitting."""
    from taskhub.plans.seedspec import read_city, read_plan

    path = seeds_copy / "plans" / "shanwei-2021.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "lead: [市政务服务数据管理局]",
        "lead: 市政务服务数据管理局及各县（市、区）人民政府等有关单位",
    )
    path.write_text(text, encoding="utf-8")
    city = read_city(seeds_copy / "cities" / "shanwei.yaml")
    spec = read_plan(path, {"shanwei": city})
    report = next(i for i in spec.items if i.code == "C2")
    assert report.units["lead"] == ["市政务服务数据管理局", "各县(市、区)人民政府"]
    assert report.open_units == "等有关单位"
