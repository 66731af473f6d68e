"""The storage one tenant's services see: only that tenant's requests, sessions, subscriptions, settings and audit.

Each tenant's approval, alert and package services are the single-tenant services of before, given this view of
the shared database: whatever they read is their tenant's, whatever they write is stamped with it, so a request,
session or alert of another tenant is simply not found (a card of tenant A can never reach tenant B's records).
The deployment's own tenant keeps its setting keys unprefixed, as databases made before tenants have them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain.approval import ApprovalRequest, State, Transition
from bot.domain.lifecycle import CardCopy
from bot.storage.base import AuditEntry, ConversationRecord, DiagnosisSession, Storage, TenantLease
from bot.tenants.registry import TenantRecord


class TenantScopedStorage:
    def __init__(self, inner: Storage, tenant_id: str, *, home: bool):
        self.inner = inner
        self.tenant_id = tenant_id
        self._prefix = "" if home else f"tenant:{tenant_id}:"

    def _key(self, key: str) -> str:
        return self._prefix + key

    def _stamp(self, entry: AuditEntry) -> AuditEntry:
        return replace(entry, tenant_id=self.tenant_id)

    # ---- sessions: this tenant's only ----------------------------------------------------------
    async def create_session(self, session: DiagnosisSession) -> None:
        await self.inner.create_session(replace(session, tenant_id=self.tenant_id))

    async def get_session(self, session_id: str) -> DiagnosisSession | None:
        session = await self.inner.get_session(session_id)
        return session if session is not None and session.tenant_id == self.tenant_id else None

    async def update_session(self, session_id: str, *, step: str, plan: dict[str, Any] | None, now: datetime) -> None:
        if await self.get_session(session_id) is not None:
            await self.inner.update_session(session_id, step=step, plan=plan, now=now)

    # ---- conversations are where the bot writes, in the people's own Teams: shared ---------------
    async def save_conversation(self, record: ConversationRecord) -> None:
        await self.inner.save_conversation(record)

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        return await self.inner.get_conversation(conversation_id)

    async def latest_conversation(self, tenant_id: str) -> ConversationRecord | None:
        return await self.inner.latest_conversation(tenant_id)

    # ---- requests: this tenant's only ----------------------------------------------------------
    async def create_approval(self, request: ApprovalRequest, audit: AuditEntry) -> tuple[ApprovalRequest, bool]:
        return await self.inner.create_approval(replace(request, tenant_id=self.tenant_id), self._stamp(audit))

    async def get_approval(self, request_id: str) -> ApprovalRequest | None:
        request = await self.inner.get_approval(request_id)
        return request if request is not None and request.tenant_id == self.tenant_id else None

    async def list_approvals(self, states: Sequence[State], tenant_id: str | None = None) -> list[ApprovalRequest]:
        return await self.inner.list_approvals(states, self.tenant_id)

    async def apply_transition(self, transition: Transition, audit: AuditEntry, now: datetime) -> bool:
        if transition.request.tenant_id != self.tenant_id:
            return False
        return await self.inner.apply_transition(transition, self._stamp(audit), now)

    async def set_approval_cards(
        self, request_id: str, *, requester: tuple[str, str] | None = None, approval: tuple[str, str] | None = None
    ) -> None:
        if await self.get_approval(request_id) is not None:
            await self.inner.set_approval_cards(request_id, requester=requester, approval=approval)

    async def add_approval_copy(self, copy: CardCopy) -> None:
        if await self.get_approval(copy.request_id) is not None:
            await self.inner.add_approval_copy(copy)

    async def list_approval_copies(self, request_id: str) -> list[CardCopy]:
        if await self.get_approval(request_id) is None:
            return []
        return await self.inner.list_approval_copies(request_id)

    # ---- audit ---------------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> None:
        await self.inner.append_audit(self._stamp(entry))

    async def list_audit(
        self, since: datetime | None = None, limit: int | None = None, tenant_id: str | None = None
    ) -> list[AuditEntry]:
        return await self.inner.list_audit(since, limit, self.tenant_id)

    # ---- alerts and settings -------------------------------------------------------------------
    async def set_subscription(
        self, conversation_id: str, tenant_id: str, active: bool, changed_by: str | None, at: datetime
    ) -> None:
        await self.inner.set_subscription(conversation_id, self.tenant_id, active, changed_by, at)

    async def list_subscriptions(self, tenant_id: str | None = None) -> dict[str, bool]:
        return await self.inner.list_subscriptions(self.tenant_id)

    async def acquire_lease(self, name: str, holder: str, now: datetime, duration: timedelta) -> bool:
        return await self.inner.acquire_lease(self._key(name), holder, now, duration)

    async def get_setting(self, key: str) -> Any:
        return await self.inner.get_setting(self._key(key))

    async def set_setting(self, key: str, value: Any) -> None:
        await self.inner.set_setting(self._key(key), value)

    async def set_settings(self, values: dict[str, Any]) -> None:
        await self.inner.set_settings({self._key(key): value for key, value in values.items()})

    async def claim_setting(self, key: str, value: Any) -> bool:
        return await self.inner.claim_setting(self._key(key), value)

    # ---- the registry is the deployment's, not a tenant's ----------------------------------------
    async def save_tenant(self, record: TenantRecord, now: datetime) -> None:
        await self.inner.save_tenant(record, now)

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        return await self.inner.get_tenant(tenant_id)

    async def list_tenants(self) -> list[TenantRecord]:
        return await self.inner.list_tenants()

    async def remove_tenant(self, tenant_id: str) -> bool:
        return await self.inner.remove_tenant(tenant_id)

    async def bind_channel(self, conversation_id: str, tenant_id: str | None, by: str | None, at: datetime) -> None:
        await self.inner.bind_channel(conversation_id, tenant_id, by, at)

    async def channel_tenant(self, conversation_id: str) -> str | None:
        return await self.inner.channel_tenant(conversation_id)

    async def channel_bindings(self) -> dict[str, str]:
        return await self.inner.channel_bindings()

    async def save_consent_state(self, state_hash: str, data: dict[str, Any], expires_at: datetime) -> None:
        await self.inner.save_consent_state(state_hash, data, expires_at)

    async def take_consent_state(self, state_hash: str, now: datetime) -> dict[str, Any] | None:
        return await self.inner.take_consent_state(state_hash, now)

    # ---- polling leases are the deployment's: which replica polls which tenant (bot/tenants/polling.py) -----
    async def heartbeat(self, replica_id: str, now: float, ttl: float) -> list[str]:
        return await self.inner.heartbeat(replica_id, now, ttl)

    async def leave(self, replica_id: str) -> None:
        await self.inner.leave(replica_id)

    async def list_tenant_leases(self) -> list[TenantLease]:
        return await self.inner.list_tenant_leases()

    async def claim_tenants(
        self, tenant_ids: Sequence[str], holder: str, now: float, duration: float
    ) -> dict[str, int]:
        return await self.inner.claim_tenants(tenant_ids, holder, now, duration)

    async def renew_tenants(self, holder: str, now: float, duration: float) -> dict[str, int]:
        return await self.inner.renew_tenants(holder, now, duration)

    async def release_tenants(self, tenant_ids: Sequence[str], holder: str) -> None:
        await self.inner.release_tenants(tenant_ids, holder)

    async def holds_tenant(self, tenant_id: str, holder: str, epoch: int, now: float) -> bool:
        return await self.inner.holds_tenant(tenant_id, holder, epoch, now)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        """Closes the shared database: only the composition root does (a tenant's runtime never closes it)."""
        await self.inner.close()
