"""Reads the tenant through the Graph gateway and turns it into a diagnosis (the flow's one Graph recipe)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain.diagnosis import Diagnosis, accounts_needing_group_check, diagnose
from bot.domain.model import BULK_ENROLLMENT_TYPES, DirectoryNames, MembershipKind, TroubleshootingEvent
from bot.graph import GraphGateway

MAX_EVENT_PAGES = 20


@dataclass(frozen=True)
class TenantReading:
    diagnosis: Diagnosis
    names: DirectoryNames


async def read_tenant(graph: GraphGateway, clock: Clock, mentioned_guids: Iterable[str] = ()) -> TenantReading:
    """Round trips: the policy, then concurrently the package account pages (999 a page), each Selected
    group's transitive users (a paged listing per group, 20 groups to a $batch) and the Selected entries'
    names; none of it grows with the number of accounts beyond their pages."""
    accounts_read = asyncio.ensure_future(graph.list_package_accounts())
    try:
        policy = await graph.get_policy()
        groups = list(policy.join.groups) if policy.join.kind is MembershipKind.SELECTED else []
        accounts, members, resolved = await asyncio.gather(
            accounts_read, graph.group_user_ids(groups), graph.resolve_names(policy.join.users, groups)
        )
    finally:
        if not accounts_read.done():
            accounts_read.cancel()
    needing = {a.id for a in accounts_needing_group_check(policy.join, accounts)}
    groups_of = {
        account: frozenset(g for g in groups if account in members.get(g, ())) for account in needing
    }
    diagnosis = diagnose(policy, accounts, groups_of, clock.now(), mentioned_guids)
    # Package accounts are named by their UPN, already read; the policy's own entries by their display names.
    names = DirectoryNames({**{a.id: a.user_principal_name for a in accounts}, **resolved.names})
    return TenantReading(diagnosis, names)


async def recent_bulk_failures(graph: GraphGateway, limit: int = 20) -> list[TroubleshootingEvent]:
    """The newest bulk enrollment failures, reading at most MAX_EVENT_PAGES pages."""
    found: list[TroubleshootingEvent] = []
    pages = 0
    async for page in graph.troubleshooting_event_pages(BULK_ENROLLMENT_TYPES):
        found.extend(page)
        pages += 1
        if pages >= MAX_EVENT_PAGES:
            break
    found.sort(key=lambda e: e.time, reverse=True)
    return found[:limit]
