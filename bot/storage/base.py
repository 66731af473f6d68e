"""The storage interface and the records it holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.domain.approval import ApprovalRequest, State, Transition
from bot.domain.clues import Clue
from bot.domain.lifecycle import CardCopy
from bot.tenants.registry import TenantRecord


@dataclass(frozen=True)
class DiagnosisSession:
    """One run of the diagnostic flow in one conversation, for one person."""

    id: str
    tenant_id: str
    conversation_id: str
    user_id: str  # Entra object id of the person who asked
    user_name: str
    created_at: datetime
    step: str = "settings"
    error_codes: tuple[str, ...] = ()
    package_guids: tuple[str, ...] = ()
    device_name: str | None = None
    plan: dict[str, Any] | None = None
    updated_at: datetime | None = None
    # What the device's event logs showed: codes and its clock, with where and when (error_codes: the message's)
    log_clues: tuple[Clue, ...] = ()


@dataclass(frozen=True)
class ConversationRecord:
    """Where the bot can write later: a conversation reference as botbuilder serializes it."""

    conversation_id: str
    tenant_id: str
    kind: str  # personal | groupChat | channel
    reference: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit log."""

    at: datetime
    action: str
    request_id: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    tenant_id: str | None = None  # the tenant the entry is about (None: written before tenants were recorded)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "tenantId": self.tenant_id,
            "at": self.at.isoformat(),
            "requestId": self.request_id,
            "action": self.action,
            "actorId": self.actor_id,
            "actorName": self.actor_name,
            "fromState": self.from_state,
            "toState": self.to_state,
            **self.data,
        }


@dataclass(frozen=True)
class TenantLease:
    """Which replica polls a tenant, until when (seconds since the epoch); the epoch counts the lease's takeovers."""

    tenant_id: str
    holder: str
    expires_at: float
    epoch: int


class Storage(Protocol):
    async def create_session(self, session: DiagnosisSession) -> None: ...

    async def get_session(self, session_id: str) -> DiagnosisSession | None: ...

    async def update_session(
        self, session_id: str, *, step: str, plan: dict[str, Any] | None, now: datetime
    ) -> None: ...

    async def save_conversation(self, record: ConversationRecord) -> None: ...

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def latest_conversation(self, tenant_id: str) -> ConversationRecord | None: ...

    async def create_approval(self, request: ApprovalRequest, audit: AuditEntry) -> tuple[ApprovalRequest, bool]: ...

    async def get_approval(self, request_id: str) -> ApprovalRequest | None: ...

    async def list_approvals(self, states: Sequence[State], tenant_id: str | None = None) -> list[ApprovalRequest]: ...

    async def apply_transition(self, transition: Transition, audit: AuditEntry, now: datetime) -> bool: ...

    async def set_approval_cards(
        self, request_id: str, *, requester: tuple[str, str] | None = None, approval: tuple[str, str] | None = None
    ) -> None: ...

    async def add_approval_copy(self, copy: CardCopy) -> None: ...

    async def list_approval_copies(self, request_id: str) -> list[CardCopy]: ...

    async def append_audit(self, entry: AuditEntry) -> None: ...

    async def list_audit(
        self, since: datetime | None = None, limit: int | None = None, tenant_id: str | None = None
    ) -> list[AuditEntry]: ...

    async def set_subscription(
        self, conversation_id: str, tenant_id: str, active: bool, changed_by: str | None, at: datetime
    ) -> None: ...

    async def list_subscriptions(self, tenant_id: str | None = None) -> dict[str, bool]: ...

    async def acquire_lease(self, name: str, holder: str, now: datetime, duration: timedelta) -> bool: ...

    async def heartbeat(self, replica_id: str, now: float, ttl: float) -> list[str]: ...

    async def leave(self, replica_id: str) -> None: ...

    async def list_tenant_leases(self) -> list[TenantLease]: ...

    async def claim_tenants(
        self, tenant_ids: Sequence[str], holder: str, now: float, duration: float
    ) -> dict[str, int]: ...

    async def renew_tenants(self, holder: str, now: float, duration: float) -> dict[str, int]: ...

    async def release_tenants(self, tenant_ids: Sequence[str], holder: str) -> None: ...

    async def holds_tenant(self, tenant_id: str, holder: str, epoch: int, now: float) -> bool: ...

    async def get_setting(self, key: str) -> Any: ...

    async def set_setting(self, key: str, value: Any) -> None: ...

    async def set_settings(self, values: dict[str, Any]) -> None: ...

    async def claim_setting(self, key: str, value: Any) -> bool: ...

    async def save_tenant(self, record: TenantRecord, now: datetime) -> None: ...

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None: ...

    async def list_tenants(self) -> list[TenantRecord]: ...

    async def remove_tenant(self, tenant_id: str) -> bool: ...

    async def bind_channel(self, conversation_id: str, tenant_id: str | None, by: str | None, at: datetime) -> None: ...

    async def channel_tenant(self, conversation_id: str) -> str | None: ...

    async def channel_bindings(self) -> dict[str, str]: ...  # conversation id -> the tenant it is bound to

    async def save_consent_state(self, state_hash: str, data: dict[str, Any], expires_at: datetime) -> None: ...

    async def take_consent_state(self, state_hash: str, now: datetime) -> dict[str, Any] | None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
