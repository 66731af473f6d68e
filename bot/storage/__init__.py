"""Persistence behind one narrow async interface; SQLite is the default backend."""

from __future__ import annotations

from bot.storage.base import AuditEntry, ConversationRecord, DiagnosisSession, Storage, TenantLease


def sqlite_path(database_url: str) -> str:
    """sqlite:///relative.db -> relative.db; sqlite:////data/x.db -> /data/x.db; sqlite:// -> :memory:."""
    return database_url.removeprefix("sqlite://").removeprefix("/") or ":memory:"


async def open_storage(database_url: str, *, must_exist: bool = False) -> Storage:
    """The store behind DATABASE_URL. Raises StorageOpenError, whose message is one line naming the database
    (never a password), when it cannot be opened and written, or with `must_exist` when there is none."""
    if database_url.startswith("sqlite://"):
        from bot.storage.sqlite import SqliteStore

        return await SqliteStore.open(sqlite_path(database_url), must_exist=must_exist)
    if database_url.startswith(("postgresql://", "postgres://")):
        from bot.storage.postgres import PostgresStore

        return await PostgresStore.open(database_url)
    raise ValueError(f"no storage backend for {database_url!r}: use sqlite:// or postgresql://")


__all__ = ["AuditEntry", "ConversationRecord", "DiagnosisSession", "Storage", "TenantLease", "open_storage"]
