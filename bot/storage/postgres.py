"""PostgreSQL backend (asyncpg): the store for several replicas sharing one database."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from bot.errors import StorageOpenError, StorageUnavailableError
from bot.storage.sql import ADDED_COLUMNS, SCHEMA, SqlStore

SCHEMA_LOCK = 7410001
ACQUIRE_TIMEOUT = 10.0
# The database cannot be reached or went away: as opposed to a query the database refused.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


@lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """`?` placeholders to PostgreSQL's `$1, $2, ...`."""
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class _PostgresTx:
    def __init__(self, connection: asyncpg.Connection):
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._connection.execute(_numbered(sql), *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def fetchone(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = await self._connection.fetchrow(_numbered(sql), *args)
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._connection.fetch(_numbered(sql), *args)]


class PostgresDb:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresTx]:
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection, connection.transaction():
                yield _PostgresTx(connection)
        except UNAVAILABLE as exc:
            raise StorageUnavailableError(f"PostgreSQL: {exc or type(exc).__name__}") from exc

    async def write(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        async with self.transaction() as tx:
            return [await tx.execute(sql, *args) for sql, args in statements]

    async def close(self) -> None:
        await self._pool.close()


class PostgresStore(SqlStore):
    @classmethod
    async def open(cls, dsn: str, schema: str | None = None) -> PostgresStore:
        settings = {"search_path": schema} if schema else None
        pool = None
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5, server_settings=settings, timeout=10)
            async with pool.acquire() as connection, connection.transaction():
                # Several replicas may start at once: serialise the schema set-up.
                await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                await connection.execute(SCHEMA.replace("{AUTO_ID}", "BIGSERIAL PRIMARY KEY"))
                for table, column, kind in ADDED_COLUMNS:
                    await connection.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if pool is not None:
                await pool.close()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StorageOpenError(
                f"DATABASE_URL: cannot open the PostgreSQL database {redact(dsn)}: {reason}"
            ) from exc
        return cls(PostgresDb(pool))


def redact(dsn: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db: the password never reaches a log."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", dsn)
