"""Every tenant the deployment serves, each with its own services: built once, rebuilt when its record changes.

The deployment's own tenant (GRAPH_TENANT_ID) is always served, from the environment's settings: with an empty
registry it is the only one, which is the single-tenant configuration of before. Each customer tenant in the
registry gets the same services over its own Graph tenant and credential, its approvers, its admins' channel and
a view of the database that holds only its records (bot/tenants/scoped.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.errors import BotError, GraphError
from bot.settings import Settings
from bot.storage import Storage
from bot.tenants.registry import TenantRecord, by_domain

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)


class UnknownTenantError(BotError):
    """A tenant the deployment does not serve (never connected, or removed)."""


@dataclass
class TenantRuntime:
    record: TenantRecord
    deps: Deps  # the tenant's own settings, Graph gateway, reading, scoped storage and services
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def tenant_id(self) -> str:
        return self.record.tenant_id

    async def close(self) -> None:
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:  # noqa: BLE001 - closing one tenant must not stop closing the rest
                log.warning("tenant %s: could not close cleanly", self.tenant_id, exc_info=True)


Build = Callable[[TenantRecord, Settings], TenantRuntime]


class Tenants:
    """The registry in memory (re-read every TENANT_REFRESH_SECONDS, as other replicas may change it) and the
    runtime of each tenant served."""

    def __init__(self, settings: Settings, storage: Storage, clock: Clock, build: Build):
        self._settings = settings
        self._storage = storage
        self._clock = clock
        self._build = build
        self.home_id = settings.tenant_id.lower()
        self._records: dict[str, TenantRecord] = {}
        self._runtimes: dict[str, TenantRuntime] = {}
        self._listeners: list[Callable[[TenantRuntime], None]] = []

    @property
    def storage(self) -> Storage:
        """The whole database (the registry, and records of every tenant): for deciding which tenant, not for acting."""
        return self._storage

    # ---- the records ---------------------------------------------------------------------------------
    def home_record(self) -> TenantRecord:
        stored = self._records.get(self.home_id)
        return TenantRecord(
            tenant_id=self.home_id,
            display_name=stored.display_name if stored else "this deployment's tenant",
            domains=stored.domains if stored else (),
            approver_user_ids=self._settings.approver_user_ids,
            approver_group_id=self._settings.approver_group_id,
            admin_channel_id=self._settings.approval_channel_id,
            allowed_changes=self._settings.allowed_changes,
            connected_by=stored.connected_by if stored else None,
            connected_at=stored.connected_at if stored else None,
            home=True,
        )

    def records(self) -> list[TenantRecord]:
        """The deployment's own tenant first, then the registry's, by name."""
        others = sorted(
            (r for tid, r in self._records.items() if tid != self.home_id), key=lambda r: r.display_name.lower()
        )
        return [self.home_record(), *others]

    def record(self, tenant_id: str | None) -> TenantRecord | None:
        tid = (tenant_id or "").lower()
        if tid == self.home_id:
            return self.home_record()
        return self._records.get(tid)

    def serves(self, tenant_id: str | None) -> bool:
        return self.record(tenant_id) is not None

    @property
    def many(self) -> bool:
        """More than the deployment's own tenant: messages must say (or be asked) which tenant they are about."""
        return any(tid != self.home_id for tid in self._records)

    def domains(self) -> dict[str, str]:
        return by_domain(self.records())

    # ---- the runtimes ----------------------------------------------------------------------------------
    def on_built(self, listener: Callable[[TenantRuntime], None]) -> None:
        """Called with each tenant's runtime when it is built (the background work it needs starts there)."""
        self._listeners.append(listener)

    def runtime(self, tenant_id: str | None) -> TenantRuntime:
        record = self.record(tenant_id)
        if record is None:
            raise UnknownTenantError(f"tenant {tenant_id!r} is not served by this deployment")
        built = self._runtimes.get(record.tenant_id)
        if built is None or built.record != record:
            if built is not None:
                asyncio.ensure_future(built.close())  # noqa: RUF006 - its closers log their own failures
            settings = self._settings if record.home else self._settings.for_tenant(record)
            built = self._build(record, settings)
            self._runtimes[record.tenant_id] = built
            for listener in self._listeners:
                listener(built)
        return built

    def deps_for(self, tenant_id: str | None) -> Deps:
        return self.runtime(tenant_id).deps

    # ---- changes -----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Read the registry; build a runtime for each tenant (so each is watched), close the removed ones'."""
        self._records = {r.tenant_id: r for r in await self._storage.list_tenants()}
        for tid in [t for t in self._runtimes if t != self.home_id and t not in self._records]:
            await self._runtimes.pop(tid).close()
        for record in self.records():
            self.runtime(record.tenant_id)

    async def add(self, record: TenantRecord) -> TenantRecord:
        """Validate and store (a record for the deployment's own tenant keeps only its name and domains)."""
        checked = record.validated()
        if self._settings.apply_as == "approver" and checked.tenant_id != self.home_id:
            raise UnknownTenantError(
                "APPLY_AS=approver serves the deployment's own tenant only: an approver signs in to one directory"
            )
        await self._storage.save_tenant(checked, self._clock.now())
        await self.load()
        return self.record(checked.tenant_id) or checked

    async def remove(self, tenant_id: str) -> bool:
        if tenant_id.lower() == self.home_id:
            raise UnknownTenantError("the deployment's own tenant (GRAPH_TENANT_ID) cannot be removed")
        removed = await self._storage.remove_tenant(tenant_id.lower())
        await self.load()
        return removed

    async def learn_home(self) -> None:
        """With several tenants served, a message naming the deployment's own domain must be told from a
        customer's: its name and verified domains are read once from Graph (GET /organization/{id})."""
        if not self.many or self.home_record().domains:
            return
        try:
            found = await self.deps_for(self.home_id).graph.organization()
        except GraphError as exc:
            log.warning("tenants: could not read the deployment's own tenant's domains: %s", exc)
            return
        record = TenantRecord(self.home_id, found.display_name or self.home_id, found.verified_domains)
        await self._storage.save_tenant(record.validated(), self._clock.now())
        await self.load()
        log.info("tenants: the deployment's own tenant is %s", self.home_record().label())

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.tenant_refresh_seconds)
            try:
                await self.load()
                await self.learn_home()
            except Exception:  # noqa: BLE001 - the next round tries again; the runtimes in use stay
                log.warning("tenants: could not re-read the registry", exc_info=True)

    async def close(self) -> None:
        for runtime in self._runtimes.values():
            await runtime.close()
        self._runtimes.clear()
