"""Persistence behind one narrow async interface; SQLite is the default backend."""

from __future__ import annotations

from bot.storage.base import AuditEntry, ConversationRecord, DiagnosisSession, Storage


async def open_storage(database_url: str) -> Storage:
    if database_url.startswith("sqlite://"):
        from bot.storage.sqlite import SqliteStore

        return await SqliteStore.open(database_url.removeprefix("sqlite://").removeprefix("/") or ":memory:")
    if database_url.startswith(("postgresql://", "postgres://")):
        from bot.storage.postgres import PostgresStore

        return await PostgresStore.open(database_url)
    raise ValueError(f"no storage backend for {database_url!r}: use sqlite:// or postgresql://")


__all__ = ["AuditEntry", "ConversationRecord", "DiagnosisSession", "Storage", "open_storage"]
