"""Item schedules: milestones parsed from deadline phrases or set by the office.

An item's schedule (ItemMilestone rows) is copied into a Milestone for each assignment, so every
unit's progress, lateness and score are tracked on its own copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, insert, select, update

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.limits import check_text
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Item, Plan
from taskhub.tracking.deadlines import parse_deadline
from taskhub.tracking.models import (
    Assignment,
    ItemMilestone,
    Milestone,
    MilestoneKind,
    MilestoneSource,
    MilestoneStatus,
    refresh_next_due,
)

MILESTONE_KINDS = tuple(k.value for k in MilestoneKind)


@dataclass(frozen=True)
class MilestoneInput:
    kind: str
    due_on: date
    title: str


def apply_parsed_schedules(plan: Plan) -> tuple[int, list[Item]]:
    """(Re)read every item's deadline phrase; returns (steps added, unparsed items).

    Phrase steps are matched by the date the phrase gave (so a step the office moved stays
    moved); steps the office added are kept, and a phrase step equal to one is not duplicated.
    A phrase step the phrase no longer gives is removed with its open copies.
    """
    items = db.session.scalars(select(Item).where(Item.plan_id == plan.id)).all()
    steps: dict[int, list[ItemMilestone]] = {}
    for im in db.session.scalars(select(ItemMilestone).join(Item).where(Item.plan_id == plan.id)):
        steps.setdefault(im.item_id, []).append(im)
    unparsed: list[Item] = []
    written = 0
    starts_on = plan.issued_on if plan.issued_on and plan.issued_on.year == plan.year else None
    for item in items:
        result = parse_deadline(
            item.deadline_phrase, year=plan.year, text=item.text, starts_on=starts_on
        )
        item.is_deadline_unparsed = bool(item.deadline_phrase) and not result.is_parsed
        if item.is_deadline_unparsed:
            unparsed.append(item)
        wanted = {(m.kind, m.due_on): m for m in result.milestones}
        mine = steps.get(item.id, [])
        from_phrase = {
            (im.kind, im.origin_due_on or im.due_on): im
            for im in mine
            if im.source == MilestoneSource.PHRASE.value
        }
        taken = {(im.kind, im.due_on) for im in mine}
        for key, im in from_phrase.items():
            if key not in wanted:
                _drop_step(im)
        for key, m in wanted.items():
            if key in from_phrase:
                from_phrase[key].title = m.title
                from_phrase[key].target_percent = m.target_percent
            elif key not in taken:  # an office step on the same date already covers it
                db.session.add(
                    ItemMilestone(
                        item_id=item.id,
                        kind=m.kind,
                        due_on=m.due_on,
                        origin_due_on=m.due_on,
                        title=m.title,
                        target_percent=m.target_percent,
                        source=MilestoneSource.PHRASE.value,
                    )
                )
                written += 1
    db.session.flush()
    sync_assignment_milestones([i.id for i in items])
    return written, unparsed


def _drop_step(im: ItemMilestone) -> None:
    """Remove a schedule step and its open copies; completed copies stay on record."""
    db.session.execute(
        delete(Milestone)
        .where(
            Milestone.item_milestone_id == im.id,
            Milestone.status == MilestoneStatus.OPEN.value,
        )
        .execution_options(synchronize_session=False)
    )
    # Bulk statements bypass the flush hook that keeps next_due_on (here and below).
    refresh_next_due(db.session, item_ids=[im.item_id])
    db.session.delete(im)


def sync_assignment_milestones(item_ids: Sequence[int]) -> int:
    """Give every assignment of these items a Milestone for each schedule step (bulk)."""
    if not item_ids:
        return 0
    steps = db.session.execute(
        select(
            ItemMilestone.id,
            ItemMilestone.item_id,
            ItemMilestone.kind,
            ItemMilestone.title,
            ItemMilestone.due_on,
        ).where(ItemMilestone.item_id.in_(item_ids))
    ).all()
    have = set(
        db.session.execute(
            select(Milestone.assignment_id, Milestone.item_milestone_id)
            .join(Assignment)
            .where(Assignment.item_id.in_(item_ids), Milestone.item_milestone_id.isnot(None))
        ).all()
    )
    assignments: dict[int, list[int]] = {}
    for aid, iid in db.session.execute(
        select(Assignment.id, Assignment.item_id).where(Assignment.item_id.in_(item_ids))
    ):
        assignments.setdefault(iid, []).append(aid)
    rows = [
        {
            "assignment_id": aid,
            "item_milestone_id": sid,
            "kind": kind,
            "title": title,
            "due_on": due,
        }
        for sid, iid, kind, title, due in steps
        for aid in assignments.get(iid, [])
        if (aid, sid) not in have
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(Milestone), rows[start : start + 5000])
    if rows:
        refresh_next_due(db.session, item_ids={iid for _, iid, *_ in steps})
    return len(rows)


def _check(kind: str, title: str) -> None:
    if kind not in MILESTONE_KINDS:
        raise ValidationFailed(f"unknown milestone kind {kind!r}", [f"kind: {kind}"])
    if not title.strip():
        raise ValidationFailed("a milestone needs a title", ["title"])
    check_text("milestone.title", title, field="title")


def add_item_milestones(
    items: Iterable[Item], steps: Sequence[MilestoneInput], *, actor_id: int | None
) -> list[ItemMilestone]:
    """Add steps to items' schedules (the bulk "set milestones for these items" action)."""
    added = []
    items = list(items)
    for step in steps:
        _check(step.kind, step.title)
    for item in items:
        current = {
            (m.kind, m.due_on)
            for m in db.session.scalars(
                select(ItemMilestone).where(ItemMilestone.item_id == item.id)
            )
        }
        for step in steps:
            if (step.kind, step.due_on) in current:
                continue  # setting the same step twice changes nothing
            im = ItemMilestone(
                item_id=item.id,
                kind=step.kind,
                due_on=step.due_on,
                title=step.title.strip(),
                source=MilestoneSource.OFFICE.value,
            )
            db.session.add(im)
            db.session.flush()
            audit.record(
                "milestone.added",
                "item_milestone",
                im.id,
                actor_id=actor_id,
                after={"item_id": item.id, "kind": im.kind, "due_on": im.due_on, "title": im.title},
            )
            added.append(im)
    sync_assignment_milestones([i.id for i in items])
    return added


def move_item_milestone(im: ItemMilestone, due_on: date, *, actor_id: int | None) -> None:
    """Move a schedule step: open assignment copies move too; done ones keep their dates."""
    before = im.due_on
    if before == due_on:
        return
    clash = db.session.scalar(
        select(ItemMilestone.id).where(
            ItemMilestone.item_id == im.item_id,
            ItemMilestone.kind == im.kind,
            ItemMilestone.due_on == due_on,
        )
    )
    if clash is not None:
        raise ValidationFailed("the item already has this step on that date", ["due_on"])
    im.due_on = due_on  # origin_due_on keeps the phrase's date
    today = office_today()
    db.session.execute(
        update(Milestone)
        .where(
            Milestone.item_milestone_id == im.id,
            Milestone.status == MilestoneStatus.OPEN.value,
        )
        .values(due_on=due_on, is_overdue=func.coalesce(Milestone.extended_to, due_on) < today)
        .execution_options(synchronize_session=False)
    )
    refresh_next_due(db.session, item_ids=[im.item_id])
    refresh_overdue_flags([im.item_id])
    db.session.flush()
    audit.record(
        "milestone.moved",
        "item_milestone",
        im.id,
        actor_id=actor_id,
        before={"due_on": before},
        after={"due_on": due_on},
    )


def remove_item_milestone(im: ItemMilestone, *, actor_id: int | None) -> None:
    """Remove a schedule step; open copies go, completed ones stay on record."""
    state = {"item_id": im.item_id, "kind": im.kind, "due_on": im.due_on, "title": im.title}
    im_id = im.id
    item_id = im.item_id
    _drop_step(im)
    db.session.flush()
    refresh_overdue_flags([item_id])
    audit.record("milestone.removed", "item_milestone", im_id, actor_id=actor_id, before=state)


def refresh_overdue_flags(item_ids: Sequence[int]) -> None:
    """Recompute the assignments' overdue flag from their milestones (after a schedule change)."""
    overdue = (
        select(Milestone.id)
        .where(
            Milestone.assignment_id == Assignment.id,
            Milestone.is_overdue,
            Milestone.status == MilestoneStatus.OPEN.value,
        )
        .exists()
    )
    db.session.execute(
        update(Assignment)
        .where(Assignment.item_id.in_(item_ids))
        .values(is_overdue=overdue)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
