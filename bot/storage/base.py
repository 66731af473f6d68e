"""The storage interface and the records it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


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


@dataclass(frozen=True)
class ConversationRecord:
    """Where the bot can write later: a conversation reference as botbuilder serializes it."""

    conversation_id: str
    tenant_id: str
    kind: str  # personal | groupChat | channel
    reference: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


class Storage(Protocol):
    async def create_session(self, session: DiagnosisSession) -> None: ...

    async def get_session(self, session_id: str) -> DiagnosisSession | None: ...

    async def update_session(
        self, session_id: str, *, step: str, plan: dict[str, Any] | None, now: datetime
    ) -> None: ...

    async def save_conversation(self, record: ConversationRecord) -> None: ...

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
