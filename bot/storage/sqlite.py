"""SQLite backend (aiosqlite): the default store for one replica."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import StorageOpenError, StorageUnavailableError
from bot.storage.sql import ADDED_COLUMNS, SCHEMA, SqlStore


class _SqliteTx:
    """Each statement is one trip to aiosqlite's worker thread: run, read and close the cursor there. Through
    aiosqlite's cursors it is three (execute, fetch, close), each a thread hop and a wake-up of the loop."""

    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    def _run(self, sql: str, args: tuple[Any, ...], read: str) -> Any:  # in aiosqlite's thread
        cursor = self._db._conn.execute(sql, args)
        try:
            if read == "count":
                return cursor.rowcount
            if read == "one":
                row = cursor.fetchone()
                return dict(row) if row is not None else None
            return [dict(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    async def execute(self, sql: str, *args: Any) -> int:
        return int(await self._db._execute(self._run, sql, args, "count"))

    async def fetchone(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row: dict[str, Any] | None = await self._db._execute(self._run, sql, args, "one")
        return row

    async def fetchall(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._db._execute(self._run, sql, args, "all")
        return rows


@asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    """The database failing (or closed) as StorageUnavailableError."""
    try:
        yield
    except (sqlite3.OperationalError, sqlite3.DatabaseError, sqlite3.InterfaceError) as exc:
        raise StorageUnavailableError(f"SQLite: {exc}") from exc
    except ValueError as exc:  # aiosqlite: "no active connection", "Connection closed"
        if "connection" not in str(exc).lower():
            raise
        raise StorageUnavailableError(f"SQLite: {exc}") from exc


class SqliteDb:
    """One connection; a lock makes each transaction whole, since coroutines share the connection."""

    def __init__(self, db: aiosqlite.Connection):
        self._db = db
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        async with self._lock, _unavailable():
            try:
                yield _SqliteTx(self._db)
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    async def write(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        async with self._lock, _unavailable():
            counts: list[int] = await self._db._execute(self._write, list(statements))
            return counts

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[int]:  # in aiosqlite's thread
        connection = self._db._conn
        counts = []
        try:
            for sql, args in statements:
                cursor = connection.execute(sql, args)
                counts.append(cursor.rowcount)
                cursor.close()
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        return counts

    async def close(self) -> None:
        await self._db.close()


class SqliteStore(SqlStore):
    @classmethod
    async def open(cls, path: str, *, must_exist: bool = False) -> SqliteStore:
        where = _prepare(path, must_exist)  # once, at start-up: blocking file checks are fine here
        db = None
        connection = aiosqlite.connect(path)
        try:
            db = await connection
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.executescript(SCHEMA.replace("{AUTO_ID}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
            for table, column, kind in ADDED_COLUMNS:
                async with db.execute(f"PRAGMA table_info({table})") as cursor:
                    if column not in [row[1] for row in await cursor.fetchall()]:
                        await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            await db.commit()
            # A database that opens but cannot be written fails here, at start-up, not at the first approval.
            await db.execute("BEGIN IMMEDIATE")
            await db.rollback()
        except (sqlite3.Error, OSError) as exc:
            if db is not None:
                await db.close()
            else:
                # aiosqlite stops its worker thread after a failed connect and answers on this loop: wait for it,
                # or it answers after the loop has closed (a traceback on stderr at exit).
                worker = getattr(connection, "_thread", None)
                if worker is not None:
                    await asyncio.to_thread(worker.join, 5)
            place = f"{where} (the directory {where.parent} must be writable by uid {os.getuid()})" if where else path
            raise StorageOpenError(f"DATABASE_URL: cannot open and write the SQLite database {place}: {exc}") from exc
        return cls(SqliteDb(db))


def _prepare(path: str, must_exist: bool) -> Path | None:
    """The database file's absolute path, its directory made (unless it must exist already)."""
    if path == ":memory:":
        return None
    where = Path(path).resolve()
    if must_exist and not where.is_file():
        raise StorageOpenError(f"DATABASE_URL: there is no SQLite database at {where}")
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageOpenError(
            f"DATABASE_URL: cannot create the directory {where.parent} for the SQLite database "
            f"({exc.strerror}); create it, writable by uid {os.getuid()}, or mount a volume there"
        ) from exc
    return where
