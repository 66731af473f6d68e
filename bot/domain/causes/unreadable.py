"""Reads Graph refused (a permission the app lacks) or could not answer: each named, with what would unlock it."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.causes.base import Cause, Context, Unreadable
from bot.domain.causes.mdm_scope import REFUSED as MDM_SCOPE


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


class UnreadableKind:
    name = "unreadable"

    def judge(self, context: Context) -> list[Cause]:
        # The MDM user scope is never readable by an app: its own kind says what to check instead.
        return unreadable_causes(u for u in context.evidence.unreadable if u.what != MDM_SCOPE)


KIND = UnreadableKind()
