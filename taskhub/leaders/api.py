"""JSON API of the leaders (分管领导): a city's list, adding and changing leaders, naming the
leader of a unit or an item. Every token reads the list; the office and admins change it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from taskhub.core import api as core
from taskhub.core.api import api_user, commit_or_fail, get_or_404
from taskhub.core.permissions import STAFF
from taskhub.leaders import services
from taskhub.leaders.models import Leader
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
    user_id = fields.Integer(allow_none=True, metadata={"description": "The leader's account."})
    is_active = fields.Boolean(required=True)


class LeaderArgs(Schema):
    """A new leader's fields."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    title = fields.String(allow_none=True, validate=validate.Length(max=100))
    portfolio = fields.String(allow_none=True, validate=validate.Length(max=1000))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
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
