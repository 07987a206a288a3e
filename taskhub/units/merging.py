"""Merging two units after an institutional reform (机构改革): preview what moves, then move
it in the caller's transaction. See docs/cities-and-units.md for the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.units.admin import UnitRefused, check_actor, required_text
from taskhub.units.admin import translate as _
from taskhub.units.models import Contact, Unit, UnitAlias, UnitGroup, unit_group_members

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.tracking.models import Assignment

#: When both units have an assignment of the same item, the surviving one keeps the stronger
#: role of the two.
_ROLE_STRENGTH = {"lead": 3, "responsible": 2, "assessed": 1}


@dataclass
class MergePreview:
    """What merging ``source`` into ``target`` moves, keeps and refuses.

    Conflict rule: when the target already has an assignment of the same item, the target's
    assignment carries on (taking the stronger role of the two) and the source's is closed:
    it stays with the retired source as history, marked not applicable so that it no longer
    counts in dashboards, bulletins and scores (the merge's audit record says why); nothing is
    deleted.
    """

    source: Unit
    target: Unit
    #: Refusals (in the reader's language); the merge runs only when there are none.
    problems: list[str] = field(default_factory=list)
    moved: list[Assignment] = field(default_factory=list)
    #: (source's assignment, target's assignment of the same item)
    conflicts: list[tuple[Assignment, Assignment]] = field(default_factory=list)
    #: Completed assignments and those of closed or archived plans: they stay (history).
    kept: int = 0
    contacts: list[Contact] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    groups: list[UnitGroup] = field(default_factory=list)
    aliases: list[UnitAlias] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The preview as data (the API's dry run, the audit record)."""
        return {
            "source": {"id": self.source.id, "name": self.source.name},
            "target": {"id": self.target.id, "name": self.target.name},
            "problems": list(self.problems),
            "assignments": [a.id for a in self.moved],
            "conflicts": [
                {"source_assignment": a.id, "target_assignment": b.id, "item_id": a.item_id}
                for a, b in self.conflicts
            ],
            "kept_assignments": self.kept,
            "contacts": [c.id for c in self.contacts],
            "users": [u.id for u in self.users],
            "groups": [g.id for g in self.groups],
            "aliases": [a.name for a in self.aliases],
        }


def _open_plan_statuses() -> tuple[str, ...]:
    from taskhub.plans.models import PlanStatus

    return (PlanStatus.DRAFT.value, PlanStatus.PUBLISHED.value)


def preview_merge(source: Unit, target: Unit) -> MergePreview:
    """What ``merge`` would do, changing nothing."""
    from taskhub.accounts.models import User
    from taskhub.plans.models import Item, Plan
    from taskhub.tracking.models import Assignment, AssignmentStatus

    preview = MergePreview(source, target)
    if source.id == target.id:
        preview.problems.append(_("A unit cannot be merged into itself."))
    if source.city_id != target.city_id:
        preview.problems.append(_("Only units of the same city can be merged."))
    if source.retired_on is not None:
        preview.problems.append(_("“%(name)s” is retired already.", name=source.name))
    if target.retired_on is not None:
        preview.problems.append(
            _("“%(name)s” is retired; choose an active unit to keep.", name=target.name)
        )
    rows = db.session.execute(
        select(Assignment, Plan.status)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Assignment.unit_id == source.id)
        .order_by(Assignment.id)
    ).all()
    theirs = {
        a.item_id: a
        for a in db.session.scalars(
            select(Assignment).where(
                Assignment.unit_id == target.id,
                Assignment.item_id.in_([a.item_id for a, _status in rows]),
            )
        )
    }
    for assignment, plan_status in rows:
        if (
            assignment.status == AssignmentStatus.COMPLETED.value
            or plan_status not in _open_plan_statuses()
        ):
            preview.kept += 1
        elif assignment.item_id in theirs:
            preview.conflicts.append((assignment, theirs[assignment.item_id]))
        else:
            preview.moved.append(assignment)
    preview.contacts = list(source.contacts)
    preview.users = list(
        db.session.scalars(select(User).where(User.unit_id == source.id).order_by(User.id))
    )
    target_groups = {g.id for g in target.groups}
    preview.groups = list(source.groups)
    preview.aliases = list(source.aliases)
    # Groups both belong to: the target stays a member; listed for the record all the same.
    preview.groups.sort(key=lambda g: (g.id in target_groups, g.name))
    return preview


def merge_units(source: Unit, target: Unit, *, actor: User | None, reason: Any) -> MergePreview:
    """Merge ``source`` into ``target`` (机构改革) in the caller's transaction: open assignments,
    contacts, users, group memberships and names move to the target; completed work and
    closed plans stay with the source as history; the source is retired."""
    from taskhub.plans.models import ItemUnit, PlanAssessee
    from taskhub.scoring.models import ItemScore
    from taskhub.tracking.models import PeriodCount

    actor_id = check_actor(actor)
    reason_text = required_text("merge.reason", reason, "reason")
    preview = preview_merge(source, target)
    if preview.problems:
        raise UnitRefused(" ".join(preview.problems), "into")

    moved_ids = [a.id for a in preview.moved]
    for assignment in preview.moved:
        assignment.unit_id = target.id
    for mine, theirs in preview.conflicts:
        if _ROLE_STRENGTH.get(mine.role, 0) > _ROLE_STRENGTH.get(theirs.role, 0):
            theirs.role = mine.role
        mine.is_not_applicable = True  # closed: the target's assignment does the work now
    db.session.flush()
    if moved_ids:
        # Copies of the assignment's unit, kept for one-pass aggregates.
        for model in (ItemScore, PeriodCount):
            db.session.execute(
                update(model)
                .where(model.assignment_id.in_(moved_ids))
                .values(unit_id=target.id)
                .execution_options(synchronize_session=False)
            )
    _move_plan_references(source, target, ItemUnit, PlanAssessee)

    for contact in preview.contacts:
        contact.unit_id = target.id
    for user in preview.users:
        user.unit_id = target.id
    target_groups = {g.id for g in target.groups}
    for group in preview.groups:
        if group.id not in target_groups:
            db.session.execute(
                unit_group_members.insert().values(group_id=group.id, unit_id=target.id)
            )
    db.session.execute(unit_group_members.delete().where(unit_group_members.c.unit_id == source.id))
    for alias in preview.aliases:
        alias.unit_id = target.id
    source.retired_on = office_today()
    source.merged_into_id = target.id
    db.session.flush()
    db.session.expire(source)
    db.session.expire(target)

    summary = {**preview.summary(), "reason": reason_text}
    audit.record("unit.merged", "unit", source.id, actor_id=actor_id, after=summary)
    audit.record("unit.absorbed", "unit", target.id, actor_id=actor_id, after=summary)
    for user in preview.users:
        audit.record(
            "user.unit_changed",
            "user",
            user.id,
            actor_id=actor_id,
            before={"unit_id": source.id},
            after={"unit_id": target.id, "reason": "unit.merged"},
        )
    return preview


def _move_plan_references(source: Unit, target: Unit, item_unit: Any, assessee: Any) -> None:
    """Plans still open name the target where they named the source (re-syncing a plan must
    not take the moved assignments back); a place the target already holds is dropped."""
    from taskhub.plans.models import Item, Plan

    open_plans = select(Plan.id).where(Plan.status.in_(_open_plan_statuses()))
    open_items = select(Item.id).where(Item.plan_id.in_(open_plans))
    rows = db.session.scalars(
        select(item_unit).where(item_unit.unit_id == source.id, item_unit.item_id.in_(open_items))
    ).all()
    for row in rows:
        taken = db.session.scalar(
            select(item_unit.id).where(
                item_unit.item_id == row.item_id,
                item_unit.role == row.role,
                item_unit.unit_id == target.id,
            )
        )
        if taken is None:
            row.unit_id = target.id
        else:
            db.session.delete(row)
    for row in db.session.scalars(
        select(assessee).where(assessee.unit_id == source.id, assessee.plan_id.in_(open_plans))
    ).all():
        taken = db.session.scalar(
            select(assessee.id).where(
                assessee.plan_id == row.plan_id, assessee.unit_id == target.id
            )
        )
        if taken is None:
            row.unit_id = target.id
        else:
            db.session.delete(row)
    db.session.flush()
