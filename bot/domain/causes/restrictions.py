"""Intune's device platform restrictions: the one each package account gets, and whether it blocks Windows (MDM);
and the allow plan the bot can make once approved."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.causes.base import Cause, Context
from bot.domain.causes.base import names as _names
from bot.domain.model import DirectoryUser

RESTRICTION_PORTAL = "Intune admin center > Devices > Enrollment > Device platform restriction > Windows restrictions"


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


def allow_windows_plans(
    restrictions: Iterable[PlatformRestriction],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
) -> list[AllowWindowsPlan]:
    """For each restriction that is the effective one of some package accounts and blocks Windows: allow it."""
    effective = _effective_restrictions(restrictions, accounts, groups_of)
    plans: dict[str, AllowWindowsPlan] = {}
    for account, restriction in effective:
        if restriction.windows_blocked:
            known = plans.get(restriction.id)
            upns = (*known.accounts, account.user_principal_name) if known else (account.user_principal_name,)
            plans[restriction.id] = AllowWindowsPlan(restriction.id, restriction.name, restriction.windows_json, upns)
    return list(plans.values())


def _effective_restrictions(
    restrictions: Iterable[PlatformRestriction],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
) -> list[tuple[DirectoryUser, PlatformRestriction]]:
    """The Windows platform restriction each usable package account gets: the assigned one of highest priority
    (lowest number above 0) whose groups hold it, else the default."""
    ordered = sorted(restrictions, key=lambda r: (r.is_default, r.priority))
    found = []
    for account in accounts:
        if not account.account_enabled:
            continue
        mine = groups_of.get(account.id, frozenset())
        for restriction in ordered:
            if restriction.is_default or restriction.target_groups & mine:
                found.append((account, restriction))
                break
    return found


def restriction_causes(
    restrictions: Iterable[PlatformRestriction],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
) -> list[Cause]:
    """Restrictions that block Windows (MDM), or personally owned Windows, for the package accounts they apply to."""
    effective = {
        account.id: restriction for account, restriction in _effective_restrictions(restrictions, accounts, groups_of)
    }
    causes: list[Cause] = []
    blocked = {r.id: r for r in effective.values() if r.windows_blocked}
    if blocked:
        names = _names(r.name for r in blocked.values())
        count = sum(1 for r in effective.values() if r.windows_blocked)
        causes.append(
            Cause(
                "restriction_windows_blocked",
                True,
                "An enrollment restriction blocks Windows (MDM)",
                f"{names} blocks the Windows (MDM) platform, and it is the restriction {count} package "
                f"account{'s' if count != 1 else ''} get. The device joins, then cannot enroll (0x80180014).",
                fix=f"In {names}, set Platform settings > Windows (MDM) to Allow; or assign the package accounts' "
                "group a restriction of higher priority that allows it.",
                portal=RESTRICTION_PORTAL,
                permission="DeviceManagementServiceConfig.Read.All",
            )
        )
    personal = {r.id: r for r in effective.values() if r.personal_blocked and not r.windows_blocked}
    if personal:
        causes.append(
            Cause(
                "restriction_personal_blocked",
                False,
                "Personally owned Windows devices are blocked",
                f"{_names(r.name for r in personal.values())} blocks personally owned Windows. A device set up "
                "by a provisioning package is enrolled as corporate, so this matters only if the failures show "
                "0x80180014 on devices Intune sees as personal.",
                fix="If so, mark the devices as corporate (corporate device identifiers) or allow personally "
                "owned Windows for the package accounts' group.",
                portal=RESTRICTION_PORTAL,
                permission="DeviceManagementServiceConfig.Read.All",
            )
        )
    return causes


class Restrictions:
    name = "restrictions"

    def judge(self, context: Context) -> list[Cause]:
        evidence = context.evidence
        if evidence.restrictions is None:
            return []
        return restriction_causes(evidence.restrictions, context.accounts, evidence.groups_of)


KIND = Restrictions()
