"""Package accounts that were deleted: a package you mentioned whose account is among the deleted users (restore
it within 30 days, or build a new package), or that is neither alive nor among them (deleted more than 30 days
ago, or made in another tenant: build a new package).

Microsoft's sources:
- Graph, "Delete a user": deleted users "are moved to a temporary container and if the user is restored within 30
  days, these objects are restored to them. [...] After 30 days and if not restored, the user object is
  permanently deleted".
- "Bulk enrollment for Windows devices" (memdocs `windows-bulk-enroll.md`): a package "can be revoked before its
  expiration by removing the associated package_{GUID} user account from Microsoft Entra ID"; and the steps of a
  new package in Windows Configuration Designer (Provision desktop devices, New project, Enroll in Azure AD, Bulk
  Token Expiry, Get Bulk Token, "No, sign in to this app only", Create).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.causes.base import Cause, Context
from bot.domain.model import DirectoryUser, short_package

DELETED_RESTORE_WINDOW = timedelta(days=30)
DELETED_PORTAL = "Entra admin center > Entra ID > Users > Deleted users"
WCD = "Windows Configuration Designer"
NEW_PACKAGE_STEPS = (
    f"Build a new package in {WCD}: Provision desktop devices (a new project) > Set up device > Set up network > "
    "Account Management: Enroll in Azure AD, a Bulk Token Expiry date (at most 180 days), Get Bulk Token (sign in "
    "with a password or a certificate; at 'Stay signed in to all your apps' choose 'No, sign in to this app only') "
    "> Create, which exports the .ppkg; apply it to the devices. Its new package_ account needs the join permission "
    "too: ask me to check again once the package is built."
)


@dataclass(frozen=True)
class DeletedAccount:
    id: str
    user_principal_name: str
    deleted: datetime | None

    def has_guid(self, guid: str) -> bool:
        return f"package_{guid}" in self.user_principal_name.lower()


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
            fix = f"It was deleted more than 30 days ago and cannot be restored. {NEW_PACKAGE_STEPS}"
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
                f"{short_package(guid)} was deleted",
                f"The package account of the package you mentioned was deleted{when}, so the package's bulk "
                "token no longer signs in.",
                fix=fix,
                portal=DELETED_PORTAL,
                permission="User.Read.All",
            )
        )
    return causes, explained


def gone_causes(
    deleted: Iterable[DeletedAccount], living: Iterable[DirectoryUser], mentioned_guids: Iterable[str]
) -> list[Cause]:
    """Mentioned package accounts neither alive nor among the deleted users: gone for good, or never here."""
    known = {a.package_guid for a in living}
    deleted = list(deleted)
    gone = [
        g
        for g in dict.fromkeys(g.lower() for g in mentioned_guids)
        if g not in known and not any(d.has_guid(g) for d in deleted)
    ]
    return [
        Cause(
            "package_account_gone",
            True,
            f"{short_package(guid)} is not in this tenant",
            f"No account {short_package(guid)} exists here, and it is not among the deleted users, which Entra ID "
            "keeps 30 days. So it was deleted more than 30 days ago (deleting it revokes the package), or the package "
            "was built for another tenant. Either way this package can never join a device here again.",
            fix=NEW_PACKAGE_STEPS,
            portal=WCD,
            permission="User.Read.All",
            explains=frozenset({guid}),
        )
        for guid in gone
    ]


class Deleted:
    name = "deleted"

    def judge(self, context: Context) -> list[Cause]:
        if context.evidence.deleted is None:
            return []
        found, explained = deleted_causes(context.evidence.deleted, context.mentioned_guids, context.now)
        gone = gone_causes(context.evidence.deleted, context.accounts, context.mentioned_guids)
        return [replace(c, explains=frozenset(explained)) for c in found] + gone


KIND = Deleted()
