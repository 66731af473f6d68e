"""The causes of the bulk enrollment error beyond the join permission, each kind judged from what Graph returned
and what the device reported.

Pure: the gateway turns Graph's JSON into these types, `bot.doctor` reads them concurrently, and each kind (one
module here, registered by one line in KINDS) turns its reading into findings. A read Graph refused becomes a
finding that says so and names the permission; the other causes are still judged. Adding a kind: a module like
`mdm_scope` with a KIND, and a line in KINDS.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain.causes import conditional_access, deleted, device, mdm_scope, restrictions, unreadable
from bot.domain.causes.base import Cause, CauseKind, Context, Evidence, Unreadable
from bot.domain.causes.conditional_access import (
    CA_PORTAL,
    ConditionalAccessPolicy,
    ExclusionPlan,
    SignIn,
    exclusion_plans,
)
from bot.domain.causes.deleted import DeletedAccount
from bot.domain.causes.mdm_scope import MdmScope
from bot.domain.causes.restrictions import (
    RESTRICTION_PORTAL,
    AllowWindowsPlan,
    PlatformRestriction,
    allow_windows_plans,
)
from bot.domain.clues import Clue, as_clues
from bot.domain.model import DirectoryUser

# In the order their findings are listed (blockers are then put first).
KINDS: tuple[CauseKind, ...] = (
    conditional_access.KIND,
    restrictions.KIND,
    deleted.KIND,
    mdm_scope.KIND,
    device.KIND,
    unreadable.KIND,
)


def causes(
    evidence: Evidence,
    accounts: Iterable[DirectoryUser],
    mentioned_guids: Iterable[str],
    codes: Iterable[str | Clue],
    now: datetime,
) -> tuple[list[Cause], set[str]]:
    """Every cause beyond the join permission, blockers first; and the mentioned GUIDs a finding explains."""
    context = Context(evidence, tuple(accounts), tuple(mentioned_guids), as_clues(codes), now)
    found = [cause for kind in KINDS for cause in kind.judge(context)]
    found.sort(key=lambda c: not c.blocker)
    return found, {guid for cause in found for guid in cause.explains}


__all__ = [
    "CA_PORTAL",
    "KINDS",
    "RESTRICTION_PORTAL",
    "AllowWindowsPlan",
    "Cause",
    "ConditionalAccessPolicy",
    "DeletedAccount",
    "Evidence",
    "ExclusionPlan",
    "MdmScope",
    "PlatformRestriction",
    "SignIn",
    "Unreadable",
    "allow_windows_plans",
    "causes",
    "exclusion_plans",
]
