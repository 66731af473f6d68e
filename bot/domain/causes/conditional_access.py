"""Conditional Access: the enabled policies that demand, when a package account joins a device, what it cannot give
(MFA, a compliant or hybrid-joined device, an authentication strength, or a block); the package accounts' sign-ins
as evidence; and the exclusion plan the bot can make once approved."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.causes.base import Cause, Context
from bot.domain.causes.base import names as _names
from bot.domain.model import DirectoryUser

REGISTER_DEVICE_ACTION = "urn:user:registerdevice"
BLOCKING_CONTROLS = {
    "mfa": "multifactor authentication",
    "compliantDevice": "a compliant device",
    "domainJoinedDevice": "a hybrid-joined device",
    "block": "blocks access",
}
CA_PORTAL = "Entra admin center > Entra ID > Conditional Access > Policies"


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

    def stops_joins(self) -> bool:
        """Enforced (not report-only, not off), on joining a device, demanding what a package account cannot give:
        the only policies a cause is found in and an exclusion is offered, planned or written for."""
        return self.state == "enabled" and self.covers_join() and bool(self.demands())

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
            f"'{self.policy_name}' changed after this plan was made (who it applies to, or whether it is enforced "
            "and stops joins), so it was not applied. Nothing was written."
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
        if not policy.stops_joins():
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
    policies = list(policies)
    evidence = sign_in_evidence(sign_ins)
    usable = [a for a in accounts if a.account_enabled]
    hits: list[tuple[ConditionalAccessPolicy, int]] = []
    for policy in policies:
        if not policy.stops_joins():
            continue
        applies = sum(1 for a in usable if policy.applies_to(a.id, groups_of.get(a.id, frozenset())))
        if applies:
            hits.append((policy, applies))
    if not hits:
        blocked = [s for s in sign_ins if s.error_code in SIGN_IN_ERRORS]
        if not blocked:
            return []
        named = sorted({p for s in blocked for p in s.policies})
        # A policy the sign-ins name that is now report-only or off enforces nothing: no exclusion is asked for it.
        states = {p.name: p.state for p in policies}
        off = [n for n in named if states.get(n, "enabled") != "enabled"]
        live = [n for n in named if n not in off]
        now_off = f" {_names(off)} {'is' if len(off) == 1 else 'are'} now report-only or off." if off else ""
        if named and not live:
            return [
                Cause(
                    "conditional_access_sign_ins_past",
                    False,
                    "Past sign-ins of package accounts failed on Conditional Access",
                    f"{evidence} The sign-ins name {_names(named)}.{now_off} Those policies stop no join now, so "
                    "these failures are from before the change.",
                    fix="Apply the package again; if it still fails, check again here for what stops it now.",
                    portal=CA_PORTAL,
                    permission="Policy.Read.All, AuditLog.Read.All",
                )
            ]
        return [
            Cause(
                "conditional_access_sign_ins",
                True,
                "Sign-ins of package accounts fail on Conditional Access",
                evidence
                + (f" The sign-ins name {_names(live)}." if live else "")
                + now_off
                + " I found no policy I could judge that does it (its conditions may be locations or platforms).",
                fix="Exclude the package accounts (a group of them) from "
                + (_names(live) if live else "the policy the sign-in logs name")
                + ".",
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


class ConditionalAccess:
    name = "conditional_access"

    def judge(self, context: Context) -> list[Cause]:
        evidence = context.evidence
        if evidence.conditional_access is None:
            return []
        return conditional_access_causes(
            evidence.conditional_access, context.accounts, evidence.groups_of, evidence.sign_ins or ()
        )


KIND = ConditionalAccess()
