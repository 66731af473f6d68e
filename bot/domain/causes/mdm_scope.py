"""The MDM user scope (automatic enrollment): Graph lets only a signed-in admin read it, so an app is told what to
check by hand; None stops every device after it joins."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.causes.base import Cause, Context

MDM_SCOPE_PORTAL = "Entra admin center > Entra ID > Mobility (MDM and WIP) > Microsoft Intune"
REFUSED = "the MDM user scope"  # what the read is called when Graph refuses it


@dataclass(frozen=True)
class MdmScope:
    applies_to: str  # all | selected | none
    groups: frozenset[str] = frozenset()


def mdm_scope_causes(scope: MdmScope | None, unreadable: bool) -> list[Cause]:
    if unreadable or scope is None:
        return [
            Cause(
                "mdm_scope_unreadable",
                False,
                "MDM user scope not checked",
                "Graph lets only a signed-in admin read the MDM user scope (automatic enrollment; a beta API with "
                "delegated permissions only), not an app like me, so I cannot see it.",
                fix="Check it yourself: MDM user scope must be All, or Some with a group that holds the account "
                "that built the package (the admin who requested the bulk token). None stops every device after "
                "it joins (0x8018002b).",
                portal=MDM_SCOPE_PORTAL,
            )
        ]
    if scope.applies_to == "none":
        return [
            Cause(
                "mdm_scope_none",
                True,
                "Automatic MDM enrollment is off",
                "MDM user scope is None, so a device that joins is never enrolled in Intune.",
                fix="Set MDM user scope to All, or to Some with a group that holds the account that built the package.",
                portal=MDM_SCOPE_PORTAL,
            )
        ]
    return []


class MdmScopeKind:
    name = "mdm_scope"

    def judge(self, context: Context) -> list[Cause]:
        refused = any(u.what == REFUSED for u in context.evidence.unreadable)
        return mdm_scope_causes(context.evidence.mdm_scope, refused)


KIND = MdmScopeKind()
