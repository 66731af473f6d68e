"""What every kind of cause shares: the finding it gives, what was read for it, and what a kind judges from.

A kind lives in one module of `bot.domain.causes` and is registered by one line in its `__init__`. It turns the
evidence Graph returned (and the clues from the device) into findings: what was read, what it means, the minimal
fix, where in the portal, and the permission the read needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.domain.clues import Clue
from bot.domain.model import DirectoryUser

if TYPE_CHECKING:
    from bot.domain.causes.conditional_access import ConditionalAccessPolicy, SignIn
    from bot.domain.causes.deleted import DeletedAccount
    from bot.domain.causes.mdm_scope import MdmScope
    from bot.domain.causes.restrictions import PlatformRestriction


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
    explains: frozenset[str] = frozenset()  # mentioned package GUIDs this finding accounts for
    on_device: bool = False  # the cause lives on the device, not in the tenant


@dataclass(frozen=True)
class Context:
    """What a kind judges: the evidence, the package accounts, what the person mentioned, the device's clues."""

    evidence: Evidence
    accounts: tuple[DirectoryUser, ...]
    mentioned_guids: tuple[str, ...]
    clues: tuple[Clue, ...]
    now: datetime


class CauseKind(Protocol):
    name: str

    def judge(self, context: Context) -> list[Cause]: ...


def names(items: Iterable[str], limit: int = 4) -> str:
    """ "'A', 'B' and 3 more"."""
    listed = list(items)
    shown = ", ".join(f"'{n}'" for n in listed[:limit])
    return shown + (f" and {len(listed) - limit} more" if len(listed) > limit else "")
