"""One contract suite for every storage backend: a second backend costs a fixture parameter."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.storage import ConversationRecord, DiagnosisSession, open_storage

NOW = datetime(2026, 11, 26, tzinfo=UTC)
BACKENDS = ["sqlite", "postgres"]
# The PostgreSQL these machines run (trust auth); each test gets a schema of its own.
POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=BACKENDS)
async def store(request, tmp_path: Path):
    if request.param == "sqlite":
        storage = await open_storage(f"sqlite:///{tmp_path / 'contract.db'}")
        yield storage
        await storage.close()
        return
    import asyncpg

    from bot.storage.postgres import PostgresStore

    schema = f"contract_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    storage = await PostgresStore.open(POSTGRES_DSN, schema=schema)
    yield storage
    await storage.close()
    await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    await admin.close()


def session(**changes) -> DiagnosisSession:
    base = dict(
        id="s1",
        tenant_id="t",
        conversation_id="c",
        user_id="u",
        user_name="Adele",
        created_at=NOW,
        updated_at=NOW,
        error_codes=("0x801c0003",),
        package_guids=("g",),
        device_name="LAB-1",
    )
    base.update(changes)
    return DiagnosisSession(**base)  # type: ignore[arg-type]


async def test_sessions_round_trip_and_update(store):
    await store.create_session(session())
    assert await store.get_session("s1") == session()
    assert await store.get_session("nope") is None
    await store.update_session("s1", step="join", plan={"before": 1}, now=NOW)
    updated = await store.get_session("s1")
    assert updated.step == "join" and updated.plan == {"before": 1}


async def test_a_session_id_is_unique(store):
    await store.create_session(session())
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own integrity error
        await store.create_session(session())


async def test_conversations_upsert(store):
    record = ConversationRecord("c1", "t", "channel", {"serviceUrl": "http://a"}, NOW)
    await store.save_conversation(record)
    await store.save_conversation(ConversationRecord("c1", "t", "channel", {"serviceUrl": "http://b"}, NOW))
    got = await store.get_conversation("c1")
    assert got.reference == {"serviceUrl": "http://b"}
    assert await store.get_conversation("c2") is None
    await store.ping()


async def test_data_survives_reopening(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'reopen.db'}"
    first = await open_storage(url)
    await first.create_session(session())
    await first.close()
    second = await open_storage(url)
    assert await second.get_session("s1") == session()
    await second.close()
