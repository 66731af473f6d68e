"""The causes of the bulk enrollment error beyond the join permission, each judged from what Graph returned.

Pure: the gateway turns Graph's JSON into these types, `bot.doctor` reads them concurrently, and each function
here turns one reading into findings (what was read, what it means, the minimal fix, where in the portal, and
the permission the read needs). A read Graph refused becomes a finding that says so and names the permission;
the other causes are still judged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.model import DirectoryUser

REGISTER_DEVICE_ACTION = "urn:user:registerdevice"
BLOCKING_CONTROLS = {
    "mfa": "multifactor authentication",
    "compliantDevice": "a compliant device",
    "domainJoinedDevice": "a hybrid-joined device",
    "block": "blocks access",
}
DELETED_RESTORE_WINDOW = timedelta(days=30)
CA_PORTAL = "Entra admin center > Entra ID > Conditional Access > Policies"
RESTRICTION_PORTAL = "Intune admin center > Devices > Enrollment > Device platform restriction > Windows restrictions"
MDM_SCOPE_PORTAL = "Entra admin center > Entra ID > Mobility (MDM and WIP) > Microsoft Intune"
DELETED_PORTAL = "Entra admin center > Entra ID > Users > Deleted users"


@dataclass(frozen=True)
class ConditionalAccessPolicy:
    id: str
    name: str
    state: str  # enabled | disabled | enabledForReportingButNotEnforced
    include_users: frozenset[str] = frozenset()
    exclude_users: frozenset[str] = frozenset()
    include_groups: frozenset[str] = frozenset()
    exclude_groups: frozenset[str] = frozenset()
    include_applications: frozenset[str] = frozenset()
    include_user_actions: frozenset[str] = frozenset()
    controls: frozenset[str] = frozenset()
    strength: bool = False  # an authentication strength is required (MFA by another name)
    client_app_types: frozenset[str] = frozenset()
    users_json: str = "{}"  # conditions.users exactly as read: what an exclusion plan is made over

    @property
    def groups(self) -> frozenset[str]:
        return self.include_groups | self.exclude_groups

    def covers_join(self) -> bool:
        """Joining is a modern-auth sign-in to the "Register or join devices" action: a policy on all cloud apps
        covers it too, unless it is limited to legacy clients (Exchange ActiveSync, other clients)."""
        modern = not self.client_app_types or bool(
            self.client_app_types & {"all", "browser", "mobileAppsAndDesktopClients"}
        )
        return modern and (REGISTER_DEVICE_ACTION in self.include_user_actions or "All" in self.include_applications)

    def demands(self) -> list[str]:
        found = [BLOCKING_CONTROLS[c] for c in sorted(self.controls) if c in BLOCKING_CONTROLS]
        if self.strength:
            found.append("an authentication strength")
        return found

    def applies_to(self, account: str, groups_of_account: frozenset[str]) -> bool:
        if account in self.exclude_users or groups_of_account & self.exclude_groups:
            return False
        return (
            "All" in self.include_users
            or account in self.include_users
            or bool(groups_of_account & self.include_groups)
        )


def _normal_users(users: Mapping[str, Any]) -> dict[str, Any]:
    """conditions.users compared without regard to the order of its id lists."""
    return {k: sorted(v) if isinstance(v, list) else v for k, v in users.items() if not k.startswith("@odata")}


@dataclass(frozen=True)
class ExclusionPlan:
    """Exclude these package accounts from one Conditional Access policy: its conditions.users before and after;
    nothing else of the policy changes."""

    policy_id: str
    policy_name: str
    users_before: str  # JSON of conditions.users as read
    add_users: tuple[str, ...]  # object ids of the package accounts to exclude
    accounts: tuple[str, ...]  # their UPNs
    kind: str = "ca_exclusion"

    @property
    def option(self) -> str:
        return f"ca:{self.policy_id}"

    @property
    def label(self) -> str:
        return f"exclude from '{self.policy_name}'"

    @property
    def before(self) -> dict[str, Any]:
        return dict(json.loads(self.users_before))

    @property
    def after(self) -> dict[str, Any]:
        users = self.before
        excluded = list(users.get("excludeUsers") or [])
        users["excludeUsers"] = excluded + [u for u in self.add_users if u not in excluded]
        return users

    def consequence(self) -> str:
        count = len(self.add_users)
        noun = "package account" if count == 1 else "package accounts"
        return (
            f"{count} {noun} will be excluded from the Conditional Access policy '{self.policy_name}'. Everyone "
            "else it covers stays covered."
        )

    def applied_text(self) -> str:
        return f"the package accounts are now excluded from '{self.policy_name}'."

    def stale_text(self) -> str:
        return (
            f"Who '{self.policy_name}' applies to changed after this plan was made, so it was not applied. "
            "Nothing was written."
        )

    def fingerprint(self) -> str:
        payload = json.dumps(
            {
                "kind": self.kind,
                "policy": self.policy_id,
                "before": _normal_users(self.before),
                "add": sorted(self.add_users),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "policyId": self.policy_id,
            "policyName": self.policy_name,
            "usersBefore": self.before,
            "addUsers": list(self.add_users),
            "accounts": list(self.accounts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExclusionPlan:
        return cls(
            str(data["policyId"]),
            str(data["policyName"]),
            json.dumps(data["usersBefore"], sort_keys=True),
            tuple(data["addUsers"]),
            tuple(data["accounts"]),
        )

    def decide(self, current_users: Mapping[str, Any]) -> str:
        """ "already" when every account is excluded now, "stale" when who the policy covers moved since the plan
        was made, else "write"."""
        excluded = set(current_users.get("excludeUsers") or [])
        if set(self.add_users) <= excluded:
            return "already"
        return "write" if _normal_users(current_users) == _normal_users(self.before) else "stale"


def exclusion_plans(
    policies: Iterable[ConditionalAccessPolicy],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
) -> list[ExclusionPlan]:
    """For each policy that stops package accounts from joining: exclude exactly those it applies to."""
    usable = [a for a in accounts if a.account_enabled]
    plans = []
    for policy in policies:
        if policy.state != "enabled" or not policy.covers_join() or not policy.demands():
            continue
        hit = [a for a in usable if policy.applies_to(a.id, groups_of.get(a.id, frozenset()))]
        if hit:
            plans.append(
                ExclusionPlan(
                    policy.id,
                    policy.name,
                    policy.users_json,
                    tuple(a.id for a in hit),
                    tuple(a.user_principal_name for a in hit),
                )
            )
    return plans


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


@dataclass(frozen=True)
class DeletedAccount:
    id: str
    user_principal_name: str
    deleted: datetime | None

    def has_guid(self, guid: str) -> bool:
        return f"package_{guid}" in self.user_principal_name.lower()


@dataclass(frozen=True)
class MdmScope:
    applies_to: str  # all | selected | none
    groups: frozenset[str] = frozenset()


# Entra sign-in error codes that say a package account was stopped by what it cannot do.
SIGN_IN_ERRORS = {
    50076: "MFA was required",
    50079: "MFA registration was required",
    53000: "a compliant or managed device was required",
    53003: "Conditional Access blocked the sign-in",
}


@dataclass(frozen=True)
class SignIn:
    user_id: str
    user_principal_name: str
    error_code: int
    policies: tuple[str, ...] = ()  # names of the Conditional Access policies that failed it


@dataclass(frozen=True)
class Unreadable:
    """A read Graph refused: what could not be seen, why, and what would let the bot see it."""

    what: str
    permission: str
    reason: str = ""


@dataclass(frozen=True)
class Evidence:
    """Everything read for the causes beyond the join permission; None: not read (refused or not asked)."""

    conditional_access: tuple[ConditionalAccessPolicy, ...] | None = None
    restrictions: tuple[PlatformRestriction, ...] | None = None
    deleted: tuple[DeletedAccount, ...] | None = None
    mdm_scope: MdmScope | None = None
    sign_ins: tuple[SignIn, ...] | None = None
    unreadable: tuple[Unreadable, ...] = ()
    groups_of: Mapping[str, frozenset[str]] = field(default_factory=dict)  # account -> groups among those asked


@dataclass(frozen=True)
class Cause:
    """One finding beyond the join permission. `blocker`: the error follows from it; otherwise a warning."""

    key: str
    blocker: bool
    title: str
    detail: str
    fix: str = ""
    portal: str = ""
    permission: str = ""


def _names(items: Iterable[str], limit: int = 4) -> str:
    listed = list(items)
    shown = ", ".join(f"'{n}'" for n in listed[:limit])
    return shown + (f" and {len(listed) - limit} more" if len(listed) > limit else "")


def sign_in_evidence(sign_ins: Iterable[SignIn]) -> str:
    """ "Sign-in logs: 12 failed sign-ins of package accounts: MFA was required (50076) ×9, …". Empty: none."""
    counts: dict[int, int] = {}
    for sign_in in sign_ins:
        if sign_in.error_code in SIGN_IN_ERRORS:
            counts[sign_in.error_code] = counts.get(sign_in.error_code, 0) + 1
    if not counts:
        return ""
    total = sum(counts.values())
    parts = ", ".join(f"{SIGN_IN_ERRORS[c]} ({c}) \u00d7{n}" for c, n in sorted(counts.items(), key=lambda x: -x[1]))
    return f"Sign-in logs: {total} failed sign-in{'s' if total != 1 else ''} of package accounts: {parts}."


def conditional_access_causes(
    policies: Iterable[ConditionalAccessPolicy],
    accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
    sign_ins: Iterable[SignIn] = (),
) -> list[Cause]:
    """The enabled policies that apply to a usable package account when it joins a device (the "Register or
    join devices" user action, or all cloud apps) and demand what a package account cannot give; with the
    sign-in logs' evidence where they were readable. Sign-ins stopped by Conditional Access with no policy
    found (one the bot could not judge, e.g. by location) are a cause of their own."""
    sign_ins = list(sign_ins)
    evidence = sign_in_evidence(sign_ins)
    usable = [a for a in accounts if a.account_enabled]
    hits: list[tuple[ConditionalAccessPolicy, int]] = []
    for policy in policies:
        if policy.state != "enabled" or not policy.covers_join() or not policy.demands():
            continue
        applies = sum(1 for a in usable if policy.applies_to(a.id, groups_of.get(a.id, frozenset())))
        if applies:
            hits.append((policy, applies))
    if not hits:
        blocked = [s for s in sign_ins if s.error_code in SIGN_IN_ERRORS]
        if not blocked:
            return []
        named = sorted({p for s in blocked for p in s.policies})
        return [
            Cause(
                "conditional_access_sign_ins",
                True,
                "Sign-ins of package accounts fail on Conditional Access",
                evidence
                + (f" The sign-ins name {_names(named)}." if named else "")
                + " I found no policy I could judge that does it (its conditions may be locations or platforms).",
                fix="Exclude the package accounts (a group of them) from the policy the sign-in logs name.",
                portal=CA_PORTAL,
                permission="Policy.Read.All, AuditLog.Read.All",
            )
        ]

    def scope(policy: ConditionalAccessPolicy) -> str:
        return (
            "the Register or join devices action"
            if REGISTER_DEVICE_ACTION in policy.include_user_actions
            else ("all cloud apps")
        )

    details = "; ".join(
        f"'{p.name}' demands {' or '.join(p.demands())} ({scope(p)}, {n} package account{'s' if n != 1 else ''})"
        for p, n in hits
    )
    return [
        Cause(
            "conditional_access",
            True,
            f"{len(hits)} Conditional Access polic{'ies' if len(hits) != 1 else 'y'} stop the package accounts",
            f"A package account signs in without a person and cannot do MFA or bring a compliant device: {details}."
            + (f" {evidence}" if evidence else ""),
            fix="Exclude the package accounts (best: one group that holds them) from exactly "
            + _names(p.name for p, _ in hits)
            + ", under Users > Exclude. Leave the policies on for everyone else.",
            portal=CA_PORTAL,
            permission="Policy.Read.All",
        )
    ]


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


def deleted_causes(
    deleted: Iterable[DeletedAccount], mentioned_guids: Iterable[str], now: datetime
) -> tuple[list[Cause], set[str]]:
    """Mentioned package accounts found among the deleted users; and the GUIDs so explained."""
    causes: list[Cause] = []
    explained: set[str] = set()
    accounts = list(deleted)
    for guid in dict.fromkeys(g.lower() for g in mentioned_guids):
        match = next((d for d in accounts if d.has_guid(guid)), None)
        if match is None:
            continue
        explained.add(guid)
        age = now - match.deleted if match.deleted else None
        when = f" on {match.deleted:%Y-%m-%d}" if match.deleted else ""
        if age is not None and age > DELETED_RESTORE_WINDOW:
            fix = (
                "It was deleted more than 30 days ago and cannot be restored. Build a new package: Windows "
                "Configuration Designer > Provision desktop devices > Set up account > Enroll in Microsoft Entra ID "
                "> Get bulk token, then export the package and apply it; the new package account needs the join "
                "permission too."
            )
        else:
            left = (DELETED_RESTORE_WINDOW - age).days if age is not None else None
            fix = (
                "Restore it: Deleted users > select it > Restore user"
                + (f" ({left} day{'s' if left != 1 else ''} left to do so)" if left is not None else "")
                + ". The package works again once the account is back and allowed to join."
            )
        causes.append(
            Cause(
                "package_account_deleted",
                True,
                f"package_{guid} was deleted",
                f"The package account of the package you mentioned was deleted{when}, so the package's bulk "
                "token no longer signs in.",
                fix=fix,
                portal=DELETED_PORTAL,
                permission="User.Read.All",
            )
        )
    return causes, explained


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


# Codes from the device (the paste) that name a device-side cause: (key, title, detail, fix).
DEVICE_CAUSES: dict[str, tuple[str, str, str, str]] = {
    "0x8018001c": (
        "edition",
        "This Windows edition cannot be bulk enrolled",
        "The device reported 0x8018001C: its edition does not support this enrollment (Windows Home cannot join "
        "Entra ID or enroll in Intune).",
        "Upgrade the device to Windows Pro, Education or Enterprise, then apply the package again.",
    ),
    "0x80180022": (
        "edition",
        "This Windows edition cannot be bulk enrolled",
        "The device reported 0x80180022: Windows Home.",
        "Upgrade the device to Windows Pro, Education or Enterprise, then apply the package again.",
    ),
    "0x80180016": (
        "clock",
        "The device's clock is wrong",
        "The device reported a time error (0x80180016): tokens and certificates look invalid to it.",
        "Set the date, time and time zone (or the BIOS clock) right, connect to the network so it syncs, and retry.",
    ),
    "0x8018000d": (
        "clock",
        "The device's clock is wrong",
        "The device reported 0x8018000D: the enrollment service's certificate date looks invalid to it.",
        "Set the date, time and time zone (or the BIOS clock) right, connect to the network so it syncs, and retry.",
    ),
    "0x80180010": (
        "network",
        "The device could not reach the enrollment service",
        "The device reported a network or DNS failure (0x80180010).",
        "Give the device a wired or open network during setup (or put Wi-Fi in the package) and allow "
        "login.microsoftonline.com, enterpriseregistration.windows.net and enrollment.manage.microsoft.com.",
    ),
    "0x801c0006": (
        "network",
        "The device could not reach the registration service",
        "The device reported 0x801C0006: the device registration service could not be reached.",
        "Allow login.microsoftonline.com, device.login.microsoftonline.com and enterpriseregistration.windows.net "
        "through the proxy or firewall, and retry.",
    ),
    "0x801c000c": (
        "network",
        "The device could not reach the registration service",
        "The device reported 0x801C000C: the device registration service could not be reached.",
        "Allow login.microsoftonline.com, device.login.microsoftonline.com and enterpriseregistration.windows.net "
        "through the proxy or firewall, and retry.",
    ),
    "0x801c0012": (
        "network",
        "Discovery of the registration service failed",
        "The device reported 0x801C0012: discovery failed.",
        "Check the device's network and proxy (see 0x801C0006) and that its clock is right, and retry.",
    ),
    "0x801c000e": (
        "quota",
        "The package account reached the device quota",
        "The device reported 0x801C000E: the account may join no more devices (Entra ID's per-user device limit).",
        "Raise 'Maximum number of devices per user' in Device settings, or remove stale devices of the package "
        "account. (Microsoft's current documentation says the quota does not apply to bulk enrollment; the code "
        "says it applied here.)",
    ),
}


def device_causes(codes: Iterable[str]) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for code in codes:
        entry = DEVICE_CAUSES.get(code.lower())
        if entry is None or entry[0] in seen:
            continue
        seen.add(entry[0])
        key, title, detail, fix = entry
        causes.append(Cause(f"device_{key}", False, title, detail, fix=fix, portal="On the device"))
    return causes


def unreadable_causes(unreadable: Iterable[Unreadable]) -> list[Cause]:
    found = []
    for u in unreadable:
        if u.permission:
            detail = f"Graph refused the read: the app lacks {u.permission}. The other checks ran."
            fix = (
                f"Grant the app the Microsoft Graph application permission {u.permission} (admin consent) to have "
                f"{u.what} checked too."
            )
        else:
            detail = f"{u.reason or 'Graph did not answer.'} The other checks ran."
            fix = "Check again in a while; if it persists, the Graph request id below helps Microsoft support."
        found.append(Cause("unreadable", False, f"I could not read {u.what}", detail, fix=fix, permission=u.permission))
    return found


def causes(
    evidence: Evidence,
    accounts: Iterable[DirectoryUser],
    mentioned_guids: Iterable[str],
    codes: Iterable[str],
    now: datetime,
) -> tuple[list[Cause], set[str]]:
    """Every cause beyond the join permission, blockers first; and the mentioned GUIDs explained as deleted."""
    accounts = list(accounts)
    found: list[Cause] = []
    explained: set[str] = set()
    if evidence.conditional_access is not None:
        found += conditional_access_causes(
            evidence.conditional_access, accounts, evidence.groups_of, evidence.sign_ins or ()
        )
    if evidence.restrictions is not None:
        found += restriction_causes(evidence.restrictions, accounts, evidence.groups_of)
    if evidence.deleted is not None:
        deleted, explained = deleted_causes(evidence.deleted, mentioned_guids, now)
        found += deleted
    mdm_refused = any(u.what == "the MDM user scope" for u in evidence.unreadable)
    found += mdm_scope_causes(evidence.mdm_scope, mdm_refused)
    found += device_causes(codes)
    found += unreadable_causes(u for u in evidence.unreadable if u.what != "the MDM user scope")
    found.sort(key=lambda c: not c.blocker)
    return found, explained
