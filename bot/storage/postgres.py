"""PostgreSQL backend (asyncpg): the store for several replicas sharing one database."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from bot.storage.base import ConversationRecord, DiagnosisSession

SCHEMA = """
CREATE TABLE IF NOT EXISTS diagnosis_sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    step TEXT NOT NULL,
    error_codes JSONB NOT NULL,
    package_guids JSONB NOT NULL,
    device_name TEXT,
    plan JSONB
);
CREATE INDEX IF NOT EXISTS diagnosis_sessions_conversation ON diagnosis_sessions (conversation_id);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
"""


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, schema: str | None = None) -> PostgresStore:
        settings = {"search_path": schema} if schema else None
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5, server_settings=settings)
        async with pool.acquire() as connection:
            # Several replicas may start at once: serialise the schema set-up.
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(7410001)")
                await connection.execute(SCHEMA)
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def create_session(self, session: DiagnosisSession) -> None:
        await self._pool.execute(
            "INSERT INTO diagnosis_sessions VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            session.id,
            session.tenant_id,
            session.conversation_id,
            session.user_id,
            session.user_name,
            session.created_at,
            session.updated_at or session.created_at,
            session.step,
            json.dumps(list(session.error_codes)),
            json.dumps(list(session.package_guids)),
            session.device_name,
            json.dumps(session.plan) if session.plan is not None else None,
        )

    async def get_session(self, session_id: str) -> DiagnosisSession | None:
        row = await self._pool.fetchrow("SELECT * FROM diagnosis_sessions WHERE id = $1", session_id)
        if row is None:
            return None
        return DiagnosisSession(
            id=row["id"],
            tenant_id=row["tenant_id"],
            conversation_id=row["conversation_id"],
            user_id=row["user_id"],
            user_name=row["user_name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            step=row["step"],
            error_codes=tuple(json.loads(row["error_codes"])),
            package_guids=tuple(json.loads(row["package_guids"])),
            device_name=row["device_name"],
            plan=json.loads(row["plan"]) if row["plan"] is not None else None,
        )

    async def update_session(self, session_id: str, *, step: str, plan: dict[str, Any] | None, now: datetime) -> None:
        await self._pool.execute(
            "UPDATE diagnosis_sessions SET step = $1, plan = $2, updated_at = $3 WHERE id = $4",
            step,
            json.dumps(plan) if plan is not None else None,
            now,
            session_id,
        )

    async def save_conversation(self, record: ConversationRecord) -> None:
        await self._pool.execute(
            "INSERT INTO conversations VALUES ($1,$2,$3,$4,$5) ON CONFLICT (conversation_id) DO UPDATE SET "
            "tenant_id = excluded.tenant_id, kind = excluded.kind, reference = excluded.reference, "
            "updated_at = excluded.updated_at",
            record.conversation_id,
            record.tenant_id,
            record.kind,
            json.dumps(record.reference),
            record.updated_at or datetime.now().astimezone(),
        )

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        row = await self._pool.fetchrow("SELECT * FROM conversations WHERE conversation_id = $1", conversation_id)
        if row is None:
            return None
        return ConversationRecord(
            conversation_id=row["conversation_id"],
            tenant_id=row["tenant_id"],
            kind=row["kind"],
            reference=json.loads(row["reference"]),
            updated_at=row["updated_at"],
        )
