"""What every kind of change the bot can make (after approval) provides, and what an attempt to apply it ends in.

A kind lives in one module of `bot.changes` and is registered in `bot/changes/__init__.py`. Its plan is a pure
before/after value (stored with the request, fingerprinted so one pending request exists per plan); its
`apply` reads the resource as it is now, refuses to write over anything but the state the plan was made from
(stale), writes exactly the plan, and reads back to verify. The approval workflow around it (who may approve,
exactly once across replicas, audit, cards) is the same for every kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.approval import ChangePlan
from bot.graph import GraphGateway


class Result(StrEnum):
    APPLIED = "applied"  # written and read back as planned
    ALREADY = "already"  # the resource already was as planned: nothing written
    STALE = "stale"  # the resource changed since the plan was made: nothing written
    UNVERIFIED = "unverified"  # written, but reading it back does not show the plan


@dataclass(frozen=True)
class Outcome:
    result: Result
    before: dict[str, Any] | None = None  # the resource as read just before writing
    after: dict[str, Any] | None = None  # as read back after writing
    request_id: str | None = None  # Graph's request id of the write


class ChangeKind(Protocol):
    name: str  # the plan's `kind`
    title: str  # "the join permission", for "Change: …"
    noun: str  # what a request for it is called: "Join permission" (for 2 package accounts, asked by …)
    write_permission: str  # the application permission the write needs
    portal: str  # where a person makes the same change by hand
    opt_in: bool  # applied only when the token carries write_permission; otherwise portal steps are given

    def plan_from_json(self, data: dict[str, Any]) -> ChangePlan: ...

    def facts(self, plan: Any) -> Sequence[tuple[str, str]]: ...

    def portal_steps(self, plan: Any) -> str: ...

    async def apply(self, graph: GraphGateway, plan: Any) -> Outcome: ...
