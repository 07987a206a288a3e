"""JSON API of the leaders (分管领导): a city's list, adding and changing leaders, naming the
leader of a unit or an item. Every token reads the list; the office and admins change it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from taskhub.core import api as core
from taskhub.core.api import api_user, commit_or_fail, get_or_404
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.leaders import digest, instructions, services
from taskhub.leaders.models import DigestSetting, Instruction, InstructionTarget, Leader
from taskhub.plans.models import Item
from taskhub.units.models import City, Unit

blp = core.blueprint("leaders", __name__, description="Responsible leaders (分管领导).")

_ID = "int(min=1, max=2147483647)"


class StrictBoolean(fields.Boolean):
    """true or false only: marshmallow's Boolean also takes 0, 1, "yes" and "on", which the
    OpenAPI document (type boolean) does not allow."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class LeaderSchema(Schema):
    """A leader of a city with their portfolio."""

    id = fields.Integer(required=True)
    city_id = fields.Integer(required=True)
    name = fields.String(required=True)
    title = fields.String(allow_none=True, metadata={"description": "市长, 副市长 …"})
    portfolio = fields.String(allow_none=True, metadata={"description": "分管工作"})
    email = fields.String(allow_none=True)
    webhook_url = fields.String(allow_none=True, metadata={"description": "The chat robot."})
    user_id = fields.Integer(allow_none=True, metadata={"description": "The leader's account."})
    is_active = fields.Boolean(required=True)


class LeaderArgs(Schema):
    """A new leader's fields."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    title = fields.String(allow_none=True, validate=validate.Length(max=100))
    portfolio = fields.String(allow_none=True, validate=validate.Length(max=1000))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    webhook_url = fields.String(allow_none=True, validate=validate.Length(max=2000))
    user_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2147483647))
    is_active = StrictBoolean()


class LeaderPatchArgs(LeaderArgs):
    """The fields to change; those left out stay as they are."""

    name = fields.String(validate=validate.Length(min=1, max=100))


class LeaderLinkArgs(Schema):
    """The leader to name; null clears it."""

    leader_id = fields.Integer(
        required=True, allow_none=True, validate=validate.Range(min=1, max=2147483647)
    )


class LeaderLinkSchema(Schema):
    leader_id = fields.Integer(allow_none=True)


@blp.route(f"/cities/<{_ID}:city_id>/leaders")
class Leaders(MethodView):
    @blp.response(200, LeaderSchema(many=True))
    def get(self, city_id: int) -> list[Leader]:
        """A city's leaders, the active ones first, by name."""
        get_or_404(City, city_id)
        return services.leaders_of(city_id)

    @core.roles(*STAFF)
    @blp.arguments(LeaderArgs)
    @blp.response(201, LeaderSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Name taken, bad e-mail.")
    def post(self, args: dict[str, Any], city_id: int) -> Leader:
        """Add a leader (audited as ``leader.created``)."""
        city: City = get_or_404(City, city_id)
        return commit_or_fail(lambda: services.create_leader(city, args, actor=api_user()))


@blp.route(f"/cities/<{_ID}:city_id>/leaders/<{_ID}:leader_id>")
class LeaderById(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(LeaderPatchArgs)
    @blp.response(200, LeaderSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Name taken, bad e-mail.")
    def patch(self, args: dict[str, Any], city_id: int, leader_id: int) -> Leader:
        """Change a leader's fields (audited as ``leader.updated``); inactive, not deleted."""
        leader: Leader = get_or_404(Leader, leader_id)
        if leader.city_id != city_id:
            core.abort(404, f"The city has no leader {leader_id}.")
        return commit_or_fail(lambda: services.update_leader(leader, args, actor=api_user()))


@blp.route(f"/units/<{_ID}:unit_id>/leader")
class UnitLeaderLink(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(LeaderLinkArgs)
    @blp.response(200, LeaderLinkSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="A leader of another city.")
    def put(self, args: dict[str, Any], unit_id: int) -> dict[str, Any]:
        """Name the unit's 分管领导, or clear it with null (audited as ``unit.leader_set``)."""
        unit: Unit = get_or_404(Unit, unit_id)
        commit_or_fail(lambda: services.set_unit_leader(unit, args["leader_id"], actor=api_user()))
        return {"leader_id": services.unit_leader_id(unit_id)}


@blp.route(f"/items/<{_ID}:item_id>/leader")
class ItemLeaderLink(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(LeaderLinkArgs)
    @blp.response(200, LeaderLinkSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="A leader of another city.")
    def put(self, args: dict[str, Any], item_id: int) -> dict[str, Any]:
        """Name the item's own 分管领导 (overrides its units'), or clear it with null."""
        item: Item = get_or_404(Item, item_id)
        commit_or_fail(lambda: services.set_item_leader(item, args["leader_id"], actor=api_user()))
        return {"leader_id": services.item_leader_id(item_id)}


# -- leaders' instructions (领导批示) and the weekly digest setting --------------------------------


class InstructionTargetSchema(Schema):
    """One task concerned by an instruction, and its unit's answer (反馈)."""

    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    unit_id = fields.Function(lambda t: t.assignment.unit_id, required=True)
    state = fields.String(required=True, metadata={"description": "open (待落实) or answered"})
    answer = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    is_answered_late = fields.Boolean(allow_none=True)


class InstructionSchema(Schema):
    """A leader's instruction (领导批示) on an item or one of its reports."""

    id = fields.Integer(required=True)
    leader_id = fields.Integer(required=True)
    item_id = fields.Integer(required=True)
    report_id = fields.Integer(allow_none=True)
    text = fields.String(required=True)
    instructed_on = fields.Date(required=True)
    answer_due_on = fields.Date(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime(required=True)
    is_open = fields.Boolean(required=True, metadata={"description": "待落实: a unit to answer"})
    targets = fields.List(fields.Nested(InstructionTargetSchema), required=True)


class InstructionArgs(Schema):
    """A new instruction: the leader (a leader's own account may leave it out), the words, and
    optionally the day written, the answer date and the report it is written on."""

    leader_id = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1, max=2147483647)
    )
    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    instructed_on = fields.Date(allow_none=True)
    answer_due_on = fields.Date(allow_none=True)
    report_id = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1, max=2147483647)
    )


class InstructionAnswerArgs(Schema):
    answer = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class DigestSettingSchema(Schema):
    """When the weekly summary (每周摘要) goes out; null: none set."""

    weekday = fields.Integer(required=True, metadata={"description": "0 = Monday … 6 = Sunday"})
    send_at = fields.Function(
        lambda s: s.send_at.strftime("%H:%M"),
        required=True,
        metadata={"type": "string", "description": "office-local time, 17:00"},
    )
    channels = fields.List(fields.String(), required=True)
    is_enabled = fields.Boolean(required=True)


class DigestSettingArgs(Schema):
    weekday = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=6))
    send_at = fields.String(
        required=True,
        validate=validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$"),
        metadata={"description": "office-local time, 17:00"},
    )
    channels = fields.List(
        fields.String(validate=validate.OneOf(["email", "webhook"])),
        required=True,
        validate=validate.Length(min=1, max=2),
    )
    is_enabled = StrictBoolean(load_default=True)


def _visible(found: list[Instruction]) -> list[Instruction]:
    user = api_user()
    return [i for i in found if instructions.can_view(i, user)]


@blp.route(f"/items/<{_ID}:item_id>/instructions")
class ItemInstructions(MethodView):
    @blp.response(200, InstructionSchema(many=True))
    def get(self, item_id: int) -> list[Instruction]:
        """The item's instructions, newest first (a unit: those concerning its tasks)."""
        get_or_404(Item, item_id)
        return _visible(instructions.of_item(item_id))

    @blp.arguments(InstructionArgs)
    @blp.response(201, InstructionSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="No such leader, bad dates.")
    def post(self, args: dict[str, Any], item_id: int) -> Instruction:
        """Record an instruction (the office on a leader's behalf, or the leader's account);
        the units concerned are told. Audited as ``instruction.recorded``."""
        item: Item = get_or_404(Item, item_id)
        if not instructions.can_record(item, api_user()):
            core.abort(403, "Only the office or the leader records an instruction.")
        return commit_or_fail(
            lambda: instructions.record(
                item,
                actor=api_user(),
                leader_id=args.get("leader_id"),
                text=args["text"],
                today=office_today(),
                instructed_on=args.get("instructed_on"),
                answer_due_on=args.get("answer_due_on"),
                report_id=args.get("report_id"),
            )
        )


@blp.route(f"/instruction-targets/<{_ID}:target_id>/answer")
class InstructionAnswer(MethodView):
    @blp.arguments(InstructionAnswerArgs)
    @blp.response(200, InstructionTargetSchema)
    @blp.alt_response(422, schema=core.ErrorSchema, description="Answered already.")
    def post(self, args: dict[str, Any], target_id: int) -> InstructionTarget:
        """The unit's answer (反馈) on its task; ``is_answered_late`` after the answer date.
        Audited as ``instruction.answered``."""
        target: InstructionTarget = get_or_404(InstructionTarget, target_id)
        if not instructions.can_answer(target, api_user()):
            core.abort(403, "Only the task's unit answers the instruction.")
        return commit_or_fail(
            lambda: instructions.answer(
                target, actor=api_user(), text=args["answer"], today=office_today()
            )
        )


@blp.route(f"/leaders/<{_ID}:leader_id>/instructions")
class LeaderInstructions(MethodView):
    @blp.response(200, InstructionSchema(many=True))
    def get(self, leader_id: int) -> list[Instruction]:
        """The leader's instructions still 待落实 (to whoever may read the leader's view)."""
        leader: Leader = get_or_404(Leader, leader_id)
        if not services.can_view(leader, api_user()):
            core.abort(403, "You may not read this leader's view.")
        return instructions.open_of_leader(leader_id)


@blp.route(f"/leaders/<{_ID}:leader_id>/digest")
class LeaderDigest(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(DigestSettingArgs)
    @blp.response(200, DigestSettingSchema)
    def put(self, args: dict[str, Any], leader_id: int) -> DigestSetting | None:
        """Set the leader's own weekly summary day, time and channels (overrides the city's)."""
        leader: Leader = get_or_404(Leader, leader_id)
        return commit_or_fail(lambda: digest.set_setting(leader, args, actor=api_user()))


@blp.route(f"/cities/<{_ID}:city_id>/leader-digest")
class CityDigest(MethodView):
    @core.roles(*STAFF)
    @blp.arguments(DigestSettingArgs)
    @blp.response(200, DigestSettingSchema)
    def put(self, args: dict[str, Any], city_id: int) -> DigestSetting | None:
        """Set the city's weekly summary day, time and channels (for leaders without their own)."""
        city: City = get_or_404(City, city_id)
        return commit_or_fail(lambda: digest.set_setting(city, args, actor=api_user()))
