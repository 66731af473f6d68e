"""Allow Windows (MDM) in one Intune platform restriction (windowsRestriction.platformBlocked), nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.changes.base import Outcome, Result
from bot.domain.causes import RESTRICTION_PORTAL, AllowWindowsPlan
from bot.graph import GraphGateway

PLATFORM_RESTRICTIONS = "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration"


class AllowWindows:
    name = "allow_windows"
    title = "an Intune enrollment restriction"
    noun = "Windows enrollment allowed in a restriction"
    write_permission = "DeviceManagementServiceConfig.ReadWrite.All"
    portal = RESTRICTION_PORTAL
    opt_in = True

    def plan_from_json(self, data: dict[str, Any]) -> AllowWindowsPlan:
        return AllowWindowsPlan.from_json(data)

    def facts(self, plan: AllowWindowsPlan) -> Sequence[tuple[str, str]]:
        return [("Restriction", plan.name), ("Windows (MDM)", "Blocked \u2192 Allowed")]

    def portal_steps(self, plan: AllowWindowsPlan) -> str:
        return f"{RESTRICTION_PORTAL} > '{plan.name}' > Properties > Platform settings: Windows (MDM) Allow, then Save."

    async def apply(self, graph: GraphGateway, plan: AllowWindowsPlan) -> Outcome:
        current = await graph.get_enrollment_configuration(plan.configuration_id)
        windows = current.get("windowsRestriction") or {}
        step = plan.decide(windows)
        if step == "already":
            return Outcome(Result.ALREADY, current, current)
        if step == "stale":
            return Outcome(Result.STALE, current)
        # Intune's PATCH names the type; the platform's block is the only value that differs from what was read.
        body = {"@odata.type": PLATFORM_RESTRICTIONS, "windowsRestriction": {**windows, "platformBlocked": False}}
        request_id = await graph.patch_enrollment_configuration(plan.configuration_id, body)
        confirmed = await graph.get_enrollment_configuration(plan.configuration_id)
        verified = plan.decide(confirmed.get("windowsRestriction") or {}) == "already"
        return Outcome(Result.APPLIED if verified else Result.UNVERIFIED, current, confirmed, request_id)


KIND = AllowWindows()
