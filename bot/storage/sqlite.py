"""SQLite backend (aiosqlite): the default store for one replica."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.base import ConversationRecord, DiagnosisSession

SCHEMA = """
CREATE TABLE IF NOT EXISTS diagnosis_sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    step TEXT NOT NULL,
    error_codes TEXT NOT NULL,
    package_guids TEXT NOT NULL,
    device_name TEXT,
    plan TEXT
);
CREATE INDEX IF NOT EXISTS diagnosis_sessions_conversation ON diagnosis_sessions (conversation_id);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


def _ts(value: datetime) -> str:
    return value.isoformat()


class SqliteStore:
    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        async with self._db.execute("SELECT 1") as cursor:
            await cursor.fetchone()

    async def create_session(self, session: DiagnosisSession) -> None:
        await self._db.execute(
            "INSERT INTO diagnosis_sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                session.id,
                session.tenant_id,
                session.conversation_id,
                session.user_id,
                session.user_name,
                _ts(session.created_at),
                _ts(session.updated_at or session.created_at),
                session.step,
                json.dumps(list(session.error_codes)),
                json.dumps(list(session.package_guids)),
                session.device_name,
                json.dumps(session.plan) if session.plan is not None else None,
            ),
        )
        await self._db.commit()

    async def get_session(self, session_id: str) -> DiagnosisSession | None:
        async with self._db.execute("SELECT * FROM diagnosis_sessions WHERE id = ?", (session_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return DiagnosisSession(
            id=row["id"],
            tenant_id=row["tenant_id"],
            conversation_id=row["conversation_id"],
            user_id=row["user_id"],
            user_name=row["user_name"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            step=row["step"],
            error_codes=tuple(json.loads(row["error_codes"])),
            package_guids=tuple(json.loads(row["package_guids"])),
            device_name=row["device_name"],
            plan=json.loads(row["plan"]) if row["plan"] else None,
        )

    async def update_session(self, session_id: str, *, step: str, plan: dict[str, Any] | None, now: datetime) -> None:
        await self._db.execute(
            "UPDATE diagnosis_sessions SET step = ?, plan = ?, updated_at = ? WHERE id = ?",
            (step, json.dumps(plan) if plan is not None else None, _ts(now), session_id),
        )
        await self._db.commit()

    async def save_conversation(self, record: ConversationRecord) -> None:
        await self._db.execute(
            "INSERT INTO conversations VALUES (?,?,?,?,?) ON CONFLICT(conversation_id) DO UPDATE SET "
            "tenant_id = excluded.tenant_id, kind = excluded.kind, reference = excluded.reference, "
            "updated_at = excluded.updated_at",
            (
                record.conversation_id,
                record.tenant_id,
                record.kind,
                json.dumps(record.reference),
                _ts(record.updated_at or datetime.now()),
            ),
        )
        await self._db.commit()

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        async with self._db.execute(
            "SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return ConversationRecord(
            conversation_id=row["conversation_id"],
            tenant_id=row["tenant_id"],
            kind=row["kind"],
            reference=json.loads(row["reference"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )
