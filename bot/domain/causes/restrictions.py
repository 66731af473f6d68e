"""Intune's device platform restrictions, judged as bulk enrollment meets them: it is userless, so only the Default
restriction applies, whatever the package accounts' groups are assigned.

Microsoft, "Bulk enrollment for Windows devices" (memdocs `intune/intune-service/enrollment/windows-bulk-enroll.md`,
section "Troubleshooting Windows bulk enrollment"): "Bulk enrollment is considered a userless enrollment method,
and because of it, only the "Default" enrollment restriction in Intune would apply during enrollment. Make sure
Windows platform is allowed in the default restriction, otherwise, the enrollment will fail."

Priority still decides which assigned restriction a *user* gets (Microsoft, "Set enrollment restrictions", memdocs
`enrollment-restrictions-set.md`, "Change enrollment restriction priority": "Users are subject only to the highest
priority restriction assigned to a group that they are in. For example, Joe is in group A assigned to priority 5
restrictions and also in group B assigned to priority 2 restrictions. Joe is subject only to the priority 2
restrictions."); the card names that one to say it does not apply to bulk enrollment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.causes.base import Cause, Context
from bot.domain.model import DirectoryUser

RESTRICTION_PORTAL = "Intune admin center > Devices > Enrollment > Device platform restriction > Windows restrictions"
DEFAULT_RULE = (
    'Bulk enrollment is userless, so only the Default enrollment restriction applies to it (Microsoft: "only the '
    "'Default' enrollment restriction in Intune would apply during enrollment\"), whatever the package accounts' "
    "groups are assigned."
)


@dataclass(frozen=True)
class PlatformRestriction:
    id: str
    name: str
    priority: int
    windows_blocked: bool
    personal_blocked: bool
    target_groups: frozenset[str] = frozenset()  # empty with priority 0: the default, for all users
    windows_json: str = "{}"  # windowsRestriction exactly as read: what an allow plan is made over

    @property
    def is_default(self) -> bool:
        return self.priority == 0


@dataclass(frozen=True)
class AllowWindowsPlan:
    """Allow Windows (MDM) in one platform restriction: its windowsRestriction before and after (platformBlocked
    false); nothing else of the restriction changes."""

    configuration_id: str
    name: str
    windows_before: str  # JSON of windowsRestriction as read
    accounts: tuple[str, ...]  # UPNs of the package accounts that get this restriction
    kind: str = "allow_windows"

    @property
    def option(self) -> str:
        return f"restriction:{self.configuration_id}"

    @property
    def label(self) -> str:
        return f"allow Windows in '{self.name}'"

    @property
    def before(self) -> dict[str, Any]:
        return dict(json.loads(self.windows_before))

    @property
    def after(self) -> dict[str, Any]:
        return {**self.before, "platformBlocked": False}

    def consequence(self) -> str:
        return (
            f"Windows (MDM) enrollment will be allowed by the restriction '{self.name}' (everyone it is assigned "
            "to, not only the package accounts). Its other settings stay as they are."
        )

    def applied_text(self) -> str:
        return f"'{self.name}' now allows Windows (MDM) enrollment."

    def stale_text(self) -> str:
        return f"'{self.name}' changed after this plan was made, so it was not applied. Nothing was written."

    def fingerprint(self) -> str:
        payload = json.dumps({"kind": self.kind, "id": self.configuration_id, "before": self.before}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "configurationId": self.configuration_id,
            "name": self.name,
            "windowsBefore": self.before,
            "accounts": list(self.accounts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AllowWindowsPlan:
        return cls(
            str(data["configurationId"]),
            str(data["name"]),
            json.dumps(data["windowsBefore"], sort_keys=True),
            tuple(data["accounts"]),
        )

    def decide(self, current: Mapping[str, Any]) -> str:
        if current.get("platformBlocked") is False:
            return "already"
        return "write" if dict(current) == self.before else "stale"


def default_restriction(restrictions: Iterable[PlatformRestriction]) -> PlatformRestriction | None:
    """The Default restriction ("All users and all devices", priority 0): the one bulk enrollment gets."""
    return next((r for r in restrictions if r.is_default), None)


def assigned_restriction(
    restrictions: Iterable[PlatformRestriction], groups: frozenset[str]
) -> PlatformRestriction | None:
    """The restriction a user in these groups gets when enrolling as a user: of those assigned to one of the
    groups, the one of highest priority (lowest number). Not what bulk enrollment gets."""
    assigned = [r for r in restrictions if not r.is_default and r.target_groups & groups]
    return min(assigned, key=lambda r: r.priority, default=None)


def _usable(accounts: Iterable[DirectoryUser]) -> list[DirectoryUser]:
    return [a for a in accounts if a.account_enabled]


def allow_windows_plans(
    restrictions: Iterable[PlatformRestriction],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
) -> list[AllowWindowsPlan]:
    """Allow Windows in the Default restriction when it blocks it: the only restriction bulk enrollment gets."""
    default = default_restriction(restrictions)
    usable = _usable(accounts)
    if default is None or not default.windows_blocked or not usable:
        return []
    upns = tuple(a.user_principal_name for a in usable)
    return [AllowWindowsPlan(default.id, default.name, default.windows_json, upns)]


def _assigned_note(
    restrictions: list[PlatformRestriction], accounts: list[DirectoryUser], groups_of: Mapping[str, frozenset[str]]
) -> str:
    """The restrictions assigned to the package accounts' groups that would decide for a user, said not to apply."""
    deciding: dict[str, PlatformRestriction] = {}
    for account in accounts:
        found = assigned_restriction(restrictions, groups_of.get(account.id, frozenset()))
        if found is not None:
            deciding[found.id] = found
    if not deciding:
        return ""
    listed = ", ".join(
        f"'{r.name}' (priority {r.priority}, {'blocks' if r.windows_blocked else 'allows'} Windows)"
        for r in sorted(deciding.values(), key=lambda r: r.priority)
    )
    return (
        f" {listed}, assigned to the package accounts' group, would decide for a person enrolling, but not for "
        "bulk enrollment."
    )


def restriction_causes(
    restrictions: Iterable[PlatformRestriction],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
) -> list[Cause]:
    """The Default restriction blocking Windows (MDM), or personally owned Windows, for bulk enrollment."""
    restrictions = list(restrictions)
    usable = _usable(accounts)
    default = default_restriction(restrictions)
    if default is None or not usable:
        return []
    note = _assigned_note(restrictions, usable, groups_of)
    if default.windows_blocked:
        return [
            Cause(
                "restriction_windows_blocked",
                True,
                "The Default enrollment restriction blocks Windows (MDM)",
                f"'{default.name}' (the Default) blocks the Windows (MDM) platform. {DEFAULT_RULE} The device "
                f"joins, then cannot enroll (0x80180014).{note}",
                fix=f"In '{default.name}' (the Default restriction), set Platform settings > Windows (MDM) to Allow. "
                "A restriction assigned to a group does not help bulk enrollment.",
                portal=RESTRICTION_PORTAL,
                permission="DeviceManagementServiceConfig.Read.All",
            )
        ]
    if default.personal_blocked:
        return [
            Cause(
                "restriction_personal_blocked",
                False,
                "Personally owned Windows devices are blocked",
                f"'{default.name}' (the Default, the restriction bulk enrollment gets) blocks personally owned "
                "Windows. A device set up by a provisioning package is enrolled as corporate, so this matters only "
                "if the failures show 0x80180014 on devices Intune sees as personal.",
                fix="If so, mark the devices as corporate (corporate device identifiers) or allow personally "
                f"owned Windows in '{default.name}'.",
                portal=RESTRICTION_PORTAL,
                permission="DeviceManagementServiceConfig.Read.All",
            )
        ]
    return []


class Restrictions:
    name = "restrictions"

    def judge(self, context: Context) -> list[Cause]:
        evidence = context.evidence
        if evidence.restrictions is None:
            return []
        return restriction_causes(evidence.restrictions, context.accounts, evidence.groups_of)


KIND = Restrictions()
