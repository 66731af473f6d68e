"""Reads the tenant through the Graph gateway and turns it into a diagnosis (the flow's one Graph recipe)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.clock import Clock
from bot.domain.causes import Evidence, Unreadable
from bot.domain.diagnosis import Diagnosis, accounts_needing_group_check, diagnose
from bot.domain.model import BULK_ENROLLMENT_TYPES, DirectoryNames, MembershipKind, TroubleshootingEvent
from bot.errors import GraphAuthError, GraphError, GraphPermissionError
from bot.graph import GraphGateway

MAX_EVENT_PAGES = 20


@dataclass(frozen=True)
class TenantReading:
    diagnosis: Diagnosis
    names: DirectoryNames


T = TypeVar("T")


async def _evidence(what: str, read: Awaitable[T], refused: list[Unreadable]) -> T | None:
    """One read for the causes beyond the join permission: refused or failed, it is noted, and the rest goes on."""
    try:
        return await read
    except GraphAuthError:
        raise
    except GraphPermissionError as exc:
        refused.append(Unreadable(what, exc.permission))
    except GraphError as exc:
        refused.append(Unreadable(what, "", exc.message))
    return None


async def read_tenant(
    graph: GraphGateway, clock: Clock, mentioned_guids: Iterable[str] = (), codes: Iterable[str] = ()
) -> TenantReading:
    """Round trips, concurrently: the policy, the package account pages (999 a page), the Conditional Access
    policies, the enrollment restrictions and the package accounts' sign-ins; once the policy is in, each
    Selected group's transitive users (a paged listing per group, 20 groups to a $batch) and the Selected
    entries' names; then the deleted users (only when a mentioned package account is not among the living)
    and the members of the groups those policies name. None of it grows with the number of accounts beyond
    their pages."""
    mentioned = [g.lower() for g in mentioned_guids]
    refused: list[Unreadable] = []
    accounts_read = asyncio.ensure_future(graph.list_package_accounts())
    # The reads for the causes beyond the join permission need nothing from the policy: they start with it.
    ca_read = asyncio.ensure_future(
        _evidence("Conditional Access policies", graph.conditional_access_policies(), refused)
    )
    restrictions_read = asyncio.ensure_future(
        _evidence("the enrollment restrictions", graph.platform_restrictions(), refused)
    )
    scope_read = asyncio.ensure_future(_evidence("the MDM user scope", graph.mdm_user_scope(), refused))
    sign_ins_read = asyncio.ensure_future(_evidence("sign-in logs", graph.package_sign_ins(), refused))
    started: list[asyncio.Future[Any]] = [accounts_read, ca_read, restrictions_read, scope_read, sign_ins_read]
    try:
        policy = await graph.get_policy()
        groups = list(policy.join.groups) if policy.join.kind is MembershipKind.SELECTED else []
        accounts, members, resolved = await asyncio.gather(
            accounts_read, graph.group_user_ids(groups), graph.resolve_names(policy.join.users, groups)
        )
        ca, restrictions = await ca_read, await restrictions_read
        scope, sign_ins = await scope_read, await sign_ins_read
    finally:
        for pending in started:
            if not pending.done():
                pending.cancel()
    living = {a.package_guid for a in accounts}
    deleted = None
    if any(g not in living for g in mentioned):
        deleted = await _evidence("deleted users", graph.deleted_package_accounts(), refused)
    # The groups Conditional Access and the restrictions name: which package accounts are in them.
    named = {g for p in ca or () for g in p.groups} | {g for r in restrictions or () for g in r.target_groups}
    extra = sorted(named - set(members))
    if extra:
        more = await _evidence("group memberships", graph.group_user_ids(extra), refused)
        members = {**members, **(more or {})}
    needing = {a.id for a in accounts_needing_group_check(policy.join, accounts)}
    groups_of = {account: frozenset(g for g in groups if account in members.get(g, ())) for account in needing}
    in_named = (
        {a.id: frozenset(g for g in named if a.id in members.get(g, ())) for a in accounts if a.account_enabled}
        if named
        else {}
    )
    evidence = Evidence(
        conditional_access=tuple(ca) if ca is not None else None,
        restrictions=tuple(restrictions) if restrictions is not None else None,
        deleted=tuple(deleted) if deleted is not None else None,
        mdm_scope=scope,
        sign_ins=tuple(sign_ins) if sign_ins is not None else None,
        unreadable=tuple(refused),
        groups_of=in_named,
    )
    diagnosis = diagnose(policy, accounts, groups_of, clock.now(), mentioned, evidence, codes)
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
