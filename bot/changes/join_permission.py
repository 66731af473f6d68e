"""The first kind of change: who may join devices to Entra ID (the device registration policy's allowedToJoin)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.changes.base import Outcome, Result
from bot.domain.approval import ApplyStep, plan_apply
from bot.domain.diagnosis import JOIN_SETTING_LABEL, PORTAL_PATH, JoinChangePlan, describe_join
from bot.graph import GraphGateway


class JoinPermission:
    name = "join_permission"
    title = f"'{JOIN_SETTING_LABEL}'"
    noun = "Join permission"
    write_permission = "Policy.ReadWrite.DeviceConfiguration"
    portal = PORTAL_PATH
    opt_in = False  # the product's own change: its permission is part of setting the bot up

    def plan_from_json(self, data: dict[str, Any]) -> JoinChangePlan:
        return JoinChangePlan.from_json(data)

    def facts(self, plan: JoinChangePlan) -> Sequence[tuple[str, str]]:
        return [("Before", describe_join(plan.before)), ("After", describe_join(plan.after))]

    def portal_steps(self, plan: JoinChangePlan) -> str:
        return f"{PORTAL_PATH}: set '{JOIN_SETTING_LABEL}' to Selected and add the package accounts listed."

    async def apply(self, graph: GraphGateway, plan: JoinChangePlan) -> Outcome:
        current = await graph.get_policy()
        decision = plan_apply(plan, current)
        if decision.step is ApplyStep.ALREADY_SATISFIED:
            return Outcome(Result.ALREADY, current.raw, current.raw)
        if decision.step is ApplyStep.STALE:
            return Outcome(Result.STALE, current.raw)
        assert decision.body is not None
        written = await graph.put_policy(decision.body)
        confirmed = await graph.get_policy()
        verified = plan_apply(plan, confirmed).step is ApplyStep.ALREADY_SATISFIED
        return Outcome(
            Result.APPLIED if verified else Result.UNVERIFIED, current.raw, confirmed.raw, written.request_id
        )


KIND = JoinPermission()
