"""Exclude package accounts from one Conditional Access policy (conditions.users.excludeUsers), nothing else."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.changes.base import Outcome, Result
from bot.domain.causes import CA_PORTAL, ExclusionPlan
from bot.graph import GraphGateway, ca_policy_from_json


class ConditionalAccessExclusion:
    name = "ca_exclusion"
    title = "a Conditional Access policy"
    noun = "Exclusion from a Conditional Access policy"
    # Graph needs both for an app to update a policy; the write one is what the token must show.
    write_permission = "Policy.ReadWrite.ConditionalAccess"
    portal = CA_PORTAL
    opt_in = True  # Conditional Access write is a master key: only when the operator granted it

    def plan_from_json(self, data: dict[str, Any]) -> ExclusionPlan:
        return ExclusionPlan.from_json(data)

    def facts(self, plan: ExclusionPlan) -> Sequence[tuple[str, str]]:
        before = len(plan.before.get("excludeUsers") or [])
        after = len(plan.after.get("excludeUsers") or [])
        return [
            ("Policy", plan.policy_name),
            ("Excluded users before", str(before)),
            ("Excluded users after", f"{after} (adds {len(plan.add_users)} package accounts)"),
        ]

    def portal_steps(self, plan: ExclusionPlan) -> str:
        return (
            f"{CA_PORTAL} > '{plan.policy_name}' > Users > Exclude > Users and groups: add the package accounts "
            "listed (or a group that holds them), then Save."
        )

    async def apply(self, graph: GraphGateway, plan: ExclusionPlan) -> Outcome:
        current = await graph.get_ca_policy(plan.policy_id)
        users = ((current.get("conditions") or {}).get("users")) or {}
        step = plan.decide(users)
        if step == "already":
            return Outcome(Result.ALREADY, current, current)
        # Every condition the plan rests on, not only who is excluded: a policy switched to report-only or off, or
        # no longer on joins or demanding what a package account cannot give, needs no exclusion.
        if step == "stale" or not ca_policy_from_json(current).stops_joins():
            return Outcome(Result.STALE, current)
        # Every other condition exactly as read; only who is excluded changes.
        conditions = json.loads(json.dumps(current.get("conditions") or {}))
        conditions["users"] = {**users, "excludeUsers": plan.after["excludeUsers"]}
        request_id = await graph.patch_ca_policy(plan.policy_id, {"conditions": conditions})
        confirmed = await graph.get_ca_policy(plan.policy_id)
        confirmed_users = ((confirmed.get("conditions") or {}).get("users")) or {}
        verified = plan.decide(confirmed_users) == "already"
        return Outcome(Result.APPLIED if verified else Result.UNVERIFIED, current, confirmed, request_id)


KIND = ConditionalAccessExclusion()
