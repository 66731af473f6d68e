"""The diagnosis: which package accounts may join, what else blocks bulk enrollment, and the minimal fix."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.domain.causes import (
    AllowWindowsPlan,
    Evidence,
    ExclusionPlan,
    allow_windows_plans,
    causes,
    exclusion_plans,
)
from bot.domain.causes.deleted import NEW_PACKAGE_STEPS, WCD
from bot.domain.clues import Clue
from bot.domain.model import DirectoryUser, JoinSetting, MembershipKind, PolicySnapshot, short_package

BULK_TOKEN_MAX_AGE = timedelta(days=180)
POLICY_READ_ONLY_FIELDS = ("id", "displayName", "description", "@odata.context")
PORTAL_PATH = "Entra admin center > Entra ID > Devices > Device settings"
JOIN_SETTING_LABEL = "Users may join devices to Microsoft Entra ID"


class Severity(StrEnum):
    BLOCKER = "blocker"
    WARNING = "warning"
    OK = "ok"


class FindingCode(StrEnum):
    JOIN_NONE = "join_none"
    ACCOUNTS_NOT_COVERED = "accounts_not_covered"
    JOIN_OK = "join_ok"
    ACCOUNT_DISABLED = "account_disabled"
    TOKEN_EXPIRED = "token_expired"
    MFA_REQUIRED = "mfa_required"
    NO_PACKAGE_ACCOUNTS = "no_package_accounts"
    MENTIONED_ACCOUNT_MISSING = "mentioned_account_missing"


@dataclass(frozen=True)
class Finding:
    code: FindingCode | str  # a FindingCode, or the key of a cause beyond the join permission
    severity: Severity
    title: str
    detail: str
    fix: str = ""
    portal: str = ""
    permission: str = ""


class Coverage(StrEnum):
    ALL = "all"
    DIRECT = "direct"
    GROUP = "group"
    NONE = "none"


@dataclass(frozen=True)
class AccountStatus:
    account: DirectoryUser
    coverage: Coverage
    via_group: str | None
    token_expired: bool

    @property
    def covered(self) -> bool:
        return self.coverage is not Coverage.NONE

    @property
    def needs_join_permission(self) -> bool:
        """Uncovered, and adding it would help: enabled and its token still possibly valid."""
        return not self.covered and self.account.account_enabled and not self.token_expired

    @property
    def standing(self) -> Standing:
        """The one word every count and line about this account uses (see AccountCounts)."""
        if not self.account.account_enabled:
            return Standing.DISABLED
        if self.token_expired:
            return Standing.EXPIRED
        return Standing.MAY_JOIN if self.covered else Standing.MAY_NOT_JOIN


class Standing(StrEnum):
    """Each package account is exactly one of these, so the numbers on a card add up and agree."""

    MAY_JOIN = "may join"
    MAY_NOT_JOIN = "may not join"  # enabled, token valid, not allowed to join: what the join fix adds
    DISABLED = "disabled"
    EXPIRED = "expired"  # enabled, but its bulk token is older than 180 days


@dataclass(frozen=True)
class AccountCounts:
    """How many package accounts stand where: one source for every number a card states about them."""

    may_join: int = 0
    may_not_join: int = 0
    disabled: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        return self.may_join + self.may_not_join + self.disabled + self.expired

    @property
    def usable(self) -> int:
        """Enabled with a valid token: the accounts the join permission decides for."""
        return self.may_join + self.may_not_join

    @classmethod
    def of(cls, statuses: Iterable[AccountStatus]) -> AccountCounts:
        tally = {standing: 0 for standing in Standing}
        for status in statuses:
            tally[status.standing] += 1
        return cls(
            tally[Standing.MAY_JOIN], tally[Standing.MAY_NOT_JOIN], tally[Standing.DISABLED], tally[Standing.EXPIRED]
        )


@dataclass(frozen=True)
class JoinChangePlan:
    """The exact change to the join setting: a pure before/after diff."""

    before: JoinSetting
    after: JoinSetting
    accounts: tuple[str, ...]  # UPNs of the package accounts the change is for
    kind: str = "join_permission"

    @property
    def option(self) -> str:
        return "all" if self.widens_to_all else "minimal"

    def applied_text(self) -> str:
        return "the policy now allows these accounts to join."

    def stale_text(self) -> str:
        return "The join setting changed after this plan was made, so it was not applied. Nothing was written."

    @property
    def added_users(self) -> tuple[str, ...]:
        return tuple(u for u in self.after.users if u not in self.before.users)

    @property
    def widens_to_all(self) -> bool:
        return self.after.kind is MembershipKind.ALL

    def consequence(self) -> str:
        if self.widens_to_all:
            return (
                "Every user in the tenant will be allowed to join devices to Entra ID, not only the package accounts."
            )
        count = len(self.added_users)
        noun = "package account" if count == 1 else "package accounts"
        return f"{count} {noun} will be allowed to join devices to Entra ID."

    def fingerprint(self) -> str:
        payload = json.dumps({"before": self.before.to_json(), "after": self.after.to_json()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "accounts": list(self.accounts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JoinChangePlan:
        return cls(JoinSetting.from_json(data["before"]), JoinSetting.from_json(data["after"]), tuple(data["accounts"]))


@dataclass(frozen=True)
class Diagnosis:
    policy: PolicySnapshot
    accounts: tuple[AccountStatus, ...]
    missing_mentioned: tuple[str, ...]
    findings: tuple[Finding, ...]
    plan: JoinChangePlan | None
    alternative: JoinChangePlan | None
    checked_at: datetime
    exclusions: tuple[ExclusionPlan, ...] = ()  # one per Conditional Access policy that stops package accounts
    restriction_fixes: tuple[AllowWindowsPlan, ...] = ()  # one per restriction that blocks Windows for them

    @property
    def other_fixes(self) -> tuple[ExclusionPlan | AllowWindowsPlan, ...]:
        """The fixes beyond the join permission the bot can make once approved, in the findings' order."""
        return (*self.exclusions, *self.restriction_fixes)

    def plan_for(self, option: str) -> JoinChangePlan | ExclusionPlan | AllowWindowsPlan | None:
        """The plan a card's option names, made from the tenant as just read."""
        if option == "minimal":
            return self.plan
        if option == "all":
            return self.alternative
        return next((p for p in self.other_fixes if p.option == option), None)

    @property
    def join(self) -> JoinSetting:
        return self.policy.join

    @property
    def uncovered(self) -> tuple[AccountStatus, ...]:
        return tuple(a for a in self.accounts if not a.covered)

    @property
    def covered(self) -> tuple[AccountStatus, ...]:
        return tuple(a for a in self.accounts if a.covered)

    @property
    def disabled(self) -> tuple[AccountStatus, ...]:
        return tuple(a for a in self.accounts if not a.account.account_enabled)

    @property
    def counts(self) -> AccountCounts:
        return AccountCounts.of(self.accounts)

    @property
    def healthy(self) -> bool:
        return not any(f.severity is Severity.BLOCKER for f in self.findings)


def describe_join(join: JoinSetting) -> str:
    """The join setting in the portal's words: All, None, or Selected (2 users, 1 group)."""
    if join.kind is not MembershipKind.SELECTED:
        return join.kind.label
    users = len(join.users)
    groups = len(join.groups)
    return f"Selected ({users} user{'s' if users != 1 else ''}, {groups} group{'s' if groups != 1 else ''})"


def accounts_needing_group_check(join: JoinSetting, accounts: Iterable[DirectoryUser]) -> list[DirectoryUser]:
    """Accounts whose coverage depends on (nested) group membership: Selected, with groups, not listed directly."""
    if join.kind is not MembershipKind.SELECTED or not join.groups:
        return []
    direct = set(join.users)
    return [a for a in accounts if a.id not in direct]


def _coverage(join: JoinSetting, account: DirectoryUser, groups_of: Mapping[str, frozenset[str]]):
    if join.kind is MembershipKind.ALL:
        return Coverage.ALL, None
    if join.kind is MembershipKind.NONE:
        return Coverage.NONE, None
    if account.id in join.users:
        return Coverage.DIRECT, None
    for group in join.groups:
        if group in groups_of.get(account.id, frozenset()):
            return Coverage.GROUP, group
    return Coverage.NONE, None


def plan_join_fix(join: JoinSetting, accounts: Iterable[AccountStatus]) -> JoinChangePlan | None:
    """The minimal change: add exactly the uncovered, usable package accounts to the Selected list."""
    needed = [a.account for a in accounts if a.needs_join_permission]
    if not needed or join.kind is MembershipKind.ALL:
        return None
    users = list(join.users) if join.kind is MembershipKind.SELECTED else []
    groups = list(join.groups) if join.kind is MembershipKind.SELECTED else []
    for account in needed:
        if account.id not in users:
            users.append(account.id)
    after = JoinSetting(MembershipKind.SELECTED, tuple(users), tuple(groups))
    return JoinChangePlan(join, after, tuple(a.user_principal_name for a in needed))


def plan_widen_to_all(join: JoinSetting, accounts: Iterable[AccountStatus]) -> JoinChangePlan | None:
    needed = [a.account for a in accounts if a.needs_join_permission]
    if not needed or join.kind is MembershipKind.ALL:
        return None
    return JoinChangePlan(join, JoinSetting(MembershipKind.ALL), tuple(a.user_principal_name for a in needed))


def policy_with_join(policy_raw: Mapping[str, Any], after: JoinSetting) -> dict[str, Any]:
    """The full PUT body: every field exactly as read, only `azureADJoin.allowedToJoin` changed."""
    body = copy.deepcopy(dict(policy_raw))
    for key in POLICY_READ_ONLY_FIELDS:
        body.pop(key, None)
    body["azureADJoin"]["allowedToJoin"] = after.to_graph()
    return body


def diagnose(
    policy: PolicySnapshot,
    package_accounts: Iterable[DirectoryUser],
    groups_of: Mapping[str, frozenset[str]],
    now: datetime,
    mentioned_guids: Iterable[str] = (),
    evidence: Evidence | None = None,
    codes: Iterable[str | Clue] = (),
) -> Diagnosis:
    package_accounts = list(package_accounts)
    mentioned_guids = list(mentioned_guids)
    join = policy.join
    statuses = []
    for account in package_accounts:
        coverage, via = _coverage(join, account, groups_of)
        too_old = account.created is not None and now - account.created > BULK_TOKEN_MAX_AGE
        statuses.append(AccountStatus(account, coverage, via, too_old))
    statuses.sort(key=lambda s: (s.covered, s.account.user_principal_name.lower()))

    beyond, explained = causes(evidence or Evidence(), package_accounts, mentioned_guids, codes, now)
    known = {s.account.package_guid for s in statuses} | explained
    missing = tuple(g for g in dict.fromkeys(g.lower() for g in mentioned_guids) if g not in known)

    findings: list[Finding] = []
    counts = AccountCounts.of(statuses)  # every number below comes from here, as on the cards
    if not statuses:
        findings.append(
            Finding(
                FindingCode.NO_PACKAGE_ACCOUNTS,
                Severity.WARNING,
                "No package accounts found",
                "No user whose name starts with package_ exists. The package may have been revoked "
                "(its account deleted) or built for another tenant.",
            )
        )
    if join.kind is MembershipKind.NONE:
        findings.append(
            Finding(
                FindingCode.JOIN_NONE,
                Severity.BLOCKER,
                "Nobody may join devices",
                f"'{JOIN_SETTING_LABEL}' is None, so no package account can join a device.",
            )
        )
    elif counts.may_not_join:
        count = counts.may_not_join
        findings.append(
            Finding(
                FindingCode.ACCOUNTS_NOT_COVERED,
                Severity.BLOCKER,
                f"{count} package account{'s' if count != 1 else ''} may not join devices",
                f"'{JOIN_SETTING_LABEL}' is Selected and does not include them, directly or through a group.",
            )
        )
    elif statuses:
        findings.append(
            Finding(
                FindingCode.JOIN_OK,
                Severity.OK,
                "Every usable package account may join devices",
                "The join permission is not what blocks bulk enrollment here.",
            )
        )
    if counts.disabled:
        findings.append(
            Finding(
                FindingCode.ACCOUNT_DISABLED,
                Severity.BLOCKER,
                f"{counts.disabled} package account{'s are' if counts.disabled != 1 else ' is'} disabled",
                "A disabled package account cannot sign in. Re-enable it if its package is still valid, "
                "or build a new package.",
            )
        )
    if counts.expired:
        findings.append(
            Finding(
                FindingCode.TOKEN_EXPIRED,
                Severity.WARNING,
                f"{counts.expired} package token{'s' if counts.expired != 1 else ''} older than 180 days",
                "A bulk token lasts at most 180 days. Packages made from these accounts have expired: "
                "build a new package in Windows Configuration Designer.",
            )
        )
    if policy.mfa_required:
        findings.append(
            Finding(
                FindingCode.MFA_REQUIRED,
                Severity.BLOCKER,
                "MFA is required to join devices",
                "'Require multifactor authentication to register or join devices' is Yes. Package accounts "
                "cannot do MFA; set it to No and use a Conditional Access policy that excludes them.",
            )
        )
    if missing:
        findings.append(
            Finding(
                FindingCode.MENTIONED_ACCOUNT_MISSING,
                Severity.WARNING,
                "A package you mentioned has no account here",
                "No package account matches "
                + ", ".join(short_package(g) for g in missing)  # short, as on every card
                + ". It was deleted (the package is revoked) or the package belongs to another tenant.",
                fix=NEW_PACKAGE_STEPS,
                portal=WCD,
            )
        )
    blocked = any(f.severity is Severity.BLOCKER for f in findings) or any(c.blocker for c in beyond)
    # On a tenant where nothing blocks, what the device reported is the cause: said as a blocker, on the device.
    device_decides = not blocked and any(c.on_device for c in beyond)
    for cause in beyond:
        if cause.key == "mdm_scope_unreadable" and (blocked or device_decides):
            continue  # what cannot be read is a lead only when nothing that can be read explains the failure
        detail = cause.detail
        if cause.on_device and device_decides:
            detail = f"Nothing in the tenant blocks bulk enrollment: the device does. {detail}"
        severity = Severity.BLOCKER if cause.blocker or (cause.on_device and device_decides) else Severity.WARNING
        findings.append(Finding(cause.key, severity, cause.title, detail, cause.fix, cause.portal, cause.permission))
    # Blockers first; a tenant whose join permission is fine but something else blocks says so without "all
    # good" leading the card.
    order = {Severity.BLOCKER: 0, Severity.WARNING: 1, Severity.OK: 2}
    findings.sort(key=lambda f: order[f.severity])
    return Diagnosis(
        policy=policy,
        accounts=tuple(statuses),
        missing_mentioned=missing,
        findings=tuple(findings),
        plan=plan_join_fix(join, statuses),
        alternative=plan_widen_to_all(join, statuses),
        checked_at=now,
        exclusions=tuple(
            exclusion_plans(evidence.conditional_access, package_accounts, evidence.groups_of)
            if evidence is not None and evidence.conditional_access is not None
            else ()
        ),
        restriction_fixes=tuple(
            allow_windows_plans(evidence.restrictions, package_accounts, evidence.groups_of)
            if evidence is not None and evidence.restrictions is not None
            else ()
        ),
    )
