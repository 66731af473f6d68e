"""Package accounts that were deleted: a package you mentioned whose account is among the deleted users (restore
it within 30 days, or build a new package)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.causes.base import Cause, Context

DELETED_RESTORE_WINDOW = timedelta(days=30)
DELETED_PORTAL = "Entra admin center > Entra ID > Users > Deleted users"


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


class Deleted:
    name = "deleted"

    def judge(self, context: Context) -> list[Cause]:
        if context.evidence.deleted is None:
            return []
        found, explained = deleted_causes(context.evidence.deleted, context.mentioned_guids, context.now)
        return [replace(c, explains=frozenset(explained)) for c in found]


KIND = Deleted()
