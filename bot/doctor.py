"""Reads the tenant through the Graph gateway and turns it into a diagnosis (the flow's one Graph recipe)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from bot.clock import Clock
from bot.domain.causes import (
    ConditionalAccessPolicy,
    Evidence,
    MdmScope,
    PlatformRestriction,
    SignIn,
    Unreadable,
)
from bot.domain.clues import Clue
from bot.domain.diagnosis import Diagnosis, accounts_needing_group_check, diagnose
from bot.domain.model import (
    BULK_ENROLLMENT_TYPES,
    DirectoryNames,
    DirectoryUser,
    MembershipKind,
    PolicySnapshot,
    TroubleshootingEvent,
)
from bot.errors import GraphAuthError, GraphError, GraphPermissionError
from bot.graph import GraphGateway

MAX_EVENT_PAGES = 20


@dataclass(frozen=True)
class TenantReading:
    diagnosis: Diagnosis
    names: DirectoryNames
    mdm_scope_read: bool = False  # Graph serves it to a signed-in person only


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


@dataclass(frozen=True)
class TenantState:
    """What the diagnosis reads from the tenant, before it is judged: the same for every paste in a failure wave,
    so one reading can serve them all (see TenantReadings). What depends on the message (the deleted accounts
    of a package it names) is read beside it."""

    policy: PolicySnapshot
    accounts: tuple[DirectoryUser, ...]
    members: Mapping[str, frozenset[str]]  # group id -> its transitive user ids: Selected groups, then CA/restrictions'
    names: DirectoryNames  # the Selected entries' display names
    conditional_access: tuple[ConditionalAccessPolicy, ...] | None
    restrictions: tuple[PlatformRestriction, ...] | None
    mdm_scope: MdmScope | None
    sign_ins: tuple[SignIn, ...] | None
    unreadable: tuple[Unreadable, ...]


async def read_state(graph: GraphGateway) -> TenantState:
    """Round trips, concurrently: the policy, the package account pages (999 a page), the Conditional Access
    policies, the enrollment restrictions and the package accounts' sign-ins; once the policy is in, each
    Selected group's transitive users (a paged listing per group, 20 groups to a $batch) and the Selected
    entries' names; then the members of the groups those policies name. None of it grows with the number of
    accounts beyond their pages."""
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
    # The groups Conditional Access and the restrictions name: which package accounts are in them.
    named = {g for p in ca or () for g in p.groups} | {g for r in restrictions or () for g in r.target_groups}
    extra = sorted(named - set(members))
    if extra:
        more = await _evidence("group memberships", graph.group_user_ids(extra), refused)
        members = {**members, **(more or {})}
    return TenantState(
        policy=policy,
        accounts=tuple(accounts),
        members=members,
        names=resolved,
        conditional_access=tuple(ca) if ca is not None else None,
        restrictions=tuple(restrictions) if restrictions is not None else None,
        mdm_scope=scope,
        sign_ins=tuple(sign_ins) if sign_ins is not None else None,
        unreadable=tuple(refused),
    )


async def read_tenant(
    graph: GraphGateway,
    clock: Clock,
    mentioned_guids: Iterable[str] = (),
    codes: Iterable[str | Clue] = (),
    *,
    state: TenantState | None = None,
) -> TenantReading:
    """The diagnosis of the tenant as `state` shows it (read now when not given), for the package accounts and
    codes of one message; the deleted users are read only when a mentioned package account is not among the
    living."""
    mentioned = [g.lower() for g in mentioned_guids]
    if state is None:
        state = await read_state(graph)
    refused = list(state.unreadable)
    policy, accounts, members = state.policy, state.accounts, state.members
    living = {a.package_guid for a in accounts}
    deleted = None
    if any(g not in living for g in mentioned):
        deleted = await _evidence("deleted users", graph.deleted_package_accounts(), refused)
    groups = list(policy.join.groups) if policy.join.kind is MembershipKind.SELECTED else []
    named = {g for p in state.conditional_access or () for g in p.groups} | {
        g for r in state.restrictions or () for g in r.target_groups
    }
    needing = {a.id for a in accounts_needing_group_check(policy.join, accounts)}
    groups_of = {account: frozenset(g for g in groups if account in members.get(g, ())) for account in needing}
    in_named = (
        {a.id: frozenset(g for g in named if a.id in members.get(g, ())) for a in accounts if a.account_enabled}
        if named
        else {}
    )
    evidence = Evidence(
        conditional_access=state.conditional_access,
        restrictions=state.restrictions,
        deleted=tuple(deleted) if deleted is not None else None,
        mdm_scope=state.mdm_scope,
        sign_ins=state.sign_ins,
        unreadable=tuple(refused),
        groups_of=in_named,
    )
    diagnosis = diagnose(policy, list(accounts), groups_of, clock.now(), mentioned, evidence, codes)
    # Package accounts are named by their UPN, already read; the policy's own entries by their display names.
    names = DirectoryNames({**{a.id: a.user_principal_name for a in accounts}, **state.names.names})
    return TenantReading(diagnosis, names, state.mdm_scope is not None)


class TenantReadings:
    """The tenant's state read once for everyone who asks at the same moment, and reused while fresh.

    When many technicians paste during one failure wave, each paste would read the same policy, accounts,
    groups and policies again. Here concurrent callers share the one read in flight, and a finished reading is
    reused for `fresh_for` seconds. Any write the bot makes through Graph (the gateway says so through
    `invalidate`) ends both: a read that was in flight when the write happened serves only those already waiting
    for it, and the next caller reads anew. A change made elsewhere (the portal, another replica) shows within
    `fresh_for` seconds. `fresh=True` (a person's "Check again", a plan about to be asked for) never takes a
    finished reading, only one started after it was asked. Failed reads are never kept."""

    def __init__(self, graph: GraphGateway, clock: Clock, fresh_for: float, *, shared: bool = True):
        self._graph = graph
        self._clock = clock
        self._fresh_for = fresh_for
        self._shared = shared  # off: every diagnosis reads the tenant alone (as before; the benchmark's baseline)
        self._generation = 0
        self._kept: tuple[float, TenantState] | None = None  # (when its read started, the state)
        self._flight: tuple[float, int, asyncio.Future[TenantState]] | None = None
        self.reads = 0  # how many times the tenant was actually read (the metric a benchmark states)

    def invalidate(self) -> None:
        self._generation += 1
        self._kept = None
        self._flight = None

    async def state(self, *, fresh: bool = False) -> TenantState:
        if not self._shared:
            self.reads += 1
            return await read_state(self._graph)
        asked = self._clock.now().timestamp()
        if self._kept is not None and not fresh and asked - self._kept[0] < self._fresh_for:
            return self._kept[1]
        flight = self._flight
        if flight is None or flight[2].done() or (fresh and flight[0] < asked):
            flight = (asked, self._generation, asyncio.ensure_future(self._read(asked, self._generation)))
            self._flight = flight
        # A waiter that is cancelled (its turn ended) must not cancel the read the others are waiting for.
        return await asyncio.shield(flight[2])

    async def _read(self, started: float, generation: int) -> TenantState:
        self.reads += 1
        state = await read_state(self._graph)
        if generation == self._generation:
            if self._kept is None or self._kept[0] <= started:
                self._kept = (started, state)
        return state

    async def diagnose(
        self,
        mentioned_guids: Iterable[str] = (),
        codes: Iterable[str | Clue] = (),
        *,
        fresh: bool = False,
        mdm_scope: MdmScope | None = None,
    ) -> TenantReading:
        """read_tenant over the shared state; with `mdm_scope` (read by a signed-in person) judged with it."""
        state = await self.state(fresh=fresh)
        if mdm_scope is not None:
            unread = tuple(u for u in state.unreadable if u.what != "the MDM user scope")
            state = replace(state, mdm_scope=mdm_scope, unreadable=unread)
        return await read_tenant(self._graph, self._clock, mentioned_guids, codes, state=state)


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
