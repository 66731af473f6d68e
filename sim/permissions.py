"""Which application permissions each API the simulator serves accepts: one table, each row from Microsoft's
permissions page for that API (Application row: the least privileged permission first, then the higher ones).

A requirement is a list of alternatives; each alternative is a set of permissions the token must hold together
(an app calling checkMemberGroups needs a User permission *and* a Group permission). Reads through a ReadWrite
permission are accepted only where the page lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sim.tenant import GraphFailure


@dataclass(frozen=True)
class Requirement:
    alternatives: tuple[frozenset[str], ...]  # least privileged first
    page: str  # Microsoft's page for the API, whose permissions table this encodes

    @property
    def least_privileged(self) -> frozenset[str]:
        return self.alternatives[0]

    def satisfied_by(self, roles: Iterable[str]) -> bool:
        held = set(roles)
        return any(alternative <= held for alternative in self.alternatives)


def _any(*permissions: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset({p}) for p in permissions)


def _all(*permissions: str) -> frozenset[str]:
    return frozenset(permissions)


DOCS = "https://learn.microsoft.com/graph/api/"

# route name (sim/server.py) -> what Microsoft's page lists for an application.
APPLICATION_PERMISSIONS: Mapping[str, Requirement] = {
    # deviceRegistrationPolicy: the DeviceConfiguration pair only (Policy.Read.All is not listed).
    "policy.get": Requirement(
        _any("Policy.Read.DeviceConfiguration", "Policy.ReadWrite.DeviceConfiguration"),
        DOCS + "deviceregistrationpolicy-get?view=graph-rest-1.0",
    ),
    "policy.put": Requirement(
        _any("Policy.ReadWrite.DeviceConfiguration"), DOCS + "deviceregistrationpolicy-update?view=graph-rest-1.0"
    ),
    # List users / Get a user: User.Read.All first. User.ReadBasic.All is not in the Application row (and with it
    # alone a client-credentials GET /users is refused: learn.microsoft.com/answers/questions/6019739).
    "users.list": Requirement(
        _any("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
        DOCS + "user-list?view=graph-rest-1.0",
    ),
    "users.get": Requirement(
        _any("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
        DOCS + "user-get?view=graph-rest-1.0",
    ),
    # checkMemberGroups, "Group memberships for other users", Application: "User.Read.All and GroupMember.Read.All,
    # User.Read.All and Group.Read.All, Directory.Read.All": pairs, never a Group permission alone. (The page's
    # delegated rows, and the getMemberGroups page's application row, also list User.ReadBasic.All pairs; this
    # page's application row does not, so the simulator does not accept them here.)
    "users.checkMemberGroups": Requirement(
        (
            _all("User.Read.All", "GroupMember.Read.All"),
            _all("User.Read.All", "Group.Read.All"),
            _all("Directory.Read.All"),
        ),
        DOCS + "user-checkmembergroups?view=graph-rest-1.0",
    ),
    "users.transitiveMemberOf": Requirement(
        _any(
            "User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", "Group.Read.All", "GroupMember.Read.All"
        ),
        DOCS + "user-list-transitivememberof?view=graph-rest-1.0",
    ),
    "groups.get": Requirement(
        _any(
            "GroupMember.Read.All",
            "Group.Read.All",
            "Directory.Read.All",
            "Group.ReadWrite.All",
            "Directory.ReadWrite.All",
        ),
        DOCS + "group-get?view=graph-rest-1.0",
    ),
    # microsoft-graph-docs-contrib api-reference/v1.0/includes/permissions/group-list-transitivemembers-permissions.md
    "groups.transitiveMembers": Requirement(
        _any(
            "GroupMember.ReadBasic.All",
            "Directory.Read.All",
            "Group.Read.All",
            "Group.ReadBasic.All",
            "Group.ReadWrite.All",
            "GroupMember.Read.All",
            "GroupMember.ReadWrite.All",
        ),
        DOCS + "group-list-transitivemembers?view=graph-rest-1.0",
    ),
    "directoryObjects.getByIds": Requirement(
        _any("Directory.Read.All", "Directory.ReadWrite.All"), DOCS + "directoryobject-getbyids?view=graph-rest-1.0"
    ),
    "troubleshootingEvents.list": Requirement(
        _any("DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All"),
        DOCS + "intune-devices-enrollmenttroubleshootingevent-list?view=graph-rest-1.0",
    ),
    # Reading CA policies needs Policy.Read.All: the write permission alone does not read them.
    "conditionalAccess.list": Requirement(
        _any("Policy.Read.All"), DOCS + "conditionalaccessroot-list-policies?view=graph-rest-1.0"
    ),
    "conditionalAccess.get": Requirement(
        _any("Policy.Read.All"), DOCS + "conditionalaccesspolicy-get?view=graph-rest-1.0"
    ),
    # Update: "Policy.Read.All and Policy.ReadWrite.ConditionalAccess", together.
    "conditionalAccess.patch": Requirement(
        (_all("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),),
        DOCS + "conditionalaccesspolicy-update?view=graph-rest-1.0",
    ),
    "enrollmentConfigurations.list": Requirement(
        _any("DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"),
        DOCS + "intune-onboarding-deviceenrollmentconfiguration-list?view=graph-rest-1.0",
    ),
    "enrollmentConfigurations.get": Requirement(
        _any("DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"),
        DOCS + "intune-onboarding-deviceenrollmentplatformrestrictionsconfiguration-get?view=graph-rest-1.0",
    ),
    "enrollmentConfigurations.patch": Requirement(
        _any("DeviceManagementServiceConfig.ReadWrite.All"),
        DOCS + "intune-onboarding-deviceenrollmentplatformrestrictionsconfiguration-update?view=graph-rest-1.0",
    ),
    "signIns.list": Requirement(_any("AuditLog.Read.All"), DOCS + "signin-list?view=graph-rest-1.0"),
    "deletedUsers.list": Requirement(
        _any("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
        DOCS + "directory-deleteditems-list?view=graph-rest-1.0",
    ),
    # List organization reads the tenant's verified domains (what a multi-tenant deployment matches accounts to).
    # The two pages differ: List names Directory.Read.All first, Get (by the tenant's id) Organization.Read.All.
    "organization.list": Requirement(
        _any("Directory.Read.All", "Directory.ReadWrite.All"), DOCS + "organization-list?view=graph-rest-1.0"
    ),
    "organization.get": Requirement(
        _any("Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All", "Directory.ReadWrite.All"),
        DOCS + "organization-get?view=graph-rest-1.0",
    ),
    # Beta mobileDeviceManagementPolicies: delegated only (Policy.Read.All); no application permission exists.
    "mdmPolicies.list": Requirement((), DOCS + "mobiledevicemanagementpolicies-list?view=graph-rest-beta"),
    # /me: a signed-in user's call only; an app token is answered 400 by sim/delegated.py.
    "me.transitiveMemberOf": Requirement((), DOCS + "user-list-transitivememberof?view=graph-rest-1.0"),
}


def authorize_app(route: str, roles: Iterable[str]) -> None:
    """Graph's 403 for an app token whose roles meet none of the route's alternatives."""
    requirement = APPLICATION_PERMISSIONS.get(route)
    if requirement is None:
        return  # $batch: each request inside is authorized on its own
    if not requirement.alternatives:
        raise GraphFailure(
            403,
            "Authorization_RequestDenied",
            "This operation supports only delegated permissions; application permissions are not supported.",
        )
    if not requirement.satisfied_by(roles):
        raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
