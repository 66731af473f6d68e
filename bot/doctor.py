"""Reads the tenant through the Graph gateway and turns it into a diagnosis (the flow's one Graph recipe)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain.diagnosis import Diagnosis, accounts_needing_group_check, diagnose
from bot.domain.model import DirectoryNames, TroubleshootingEvent
from bot.graph import GraphGateway

MAX_EVENT_PAGES = 20


@dataclass(frozen=True)
class TenantReading:
    diagnosis: Diagnosis
    names: DirectoryNames


async def read_tenant(graph: GraphGateway, clock: Clock, mentioned_guids: Iterable[str] = ()) -> TenantReading:
    policy, accounts = await asyncio.gather(graph.get_policy(), graph.list_package_accounts())
    needing = accounts_needing_group_check(policy.join, accounts)
    groups_of = await graph.group_memberships([a.id for a in needing], list(policy.join.groups))
    diagnosis = diagnose(policy, accounts, groups_of, clock.now(), mentioned_guids)
    # Package accounts are named by their UPN, already read; only the policy's own entries need a lookup.
    resolved = await graph.resolve_names(policy.join.users, policy.join.groups)
    names = DirectoryNames({**{a.id: a.user_principal_name for a in accounts}, **resolved.names})
    return TenantReading(diagnosis, names)


async def recent_bulk_failures(graph: GraphGateway, limit: int = 20) -> list[TroubleshootingEvent]:
    """The newest bulk enrollment failures, reading at most MAX_EVENT_PAGES pages."""
    found: list[TroubleshootingEvent] = []
    pages = 0
    async for page in graph.troubleshooting_event_pages():
        found.extend(e for e in page if e.is_bulk)
        pages += 1
        if pages >= MAX_EVENT_PAGES:
            break
    found.sort(key=lambda e: e.time, reverse=True)
    return found[:limit]
