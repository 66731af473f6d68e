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


async def test_a_sessions_log_clues_round_trip_beside_the_message_codes(store):
    from datetime import datetime

    from bot.domain.clues import CodeClue

    clues = (
        CodeClue("0x80072efd", "Microsoft-Windows-AAD/Operational", NOW, "event 1025"),
        CodeClue(
            "0x801c0003", "Microsoft-Windows-User Device Registration/Admin", datetime(2026, 11, 30, 9, 12), "event 204"
        ),
        CodeClue("0x80072f8f", "log text"),
    )
    await store.create_session(session(log_clues=clues))
    got = await store.get_session("s1")
    assert got.error_codes == ("0x801c0003",) and got.log_clues == clues


async def test_a_sessions_clock_clues_round_trip(store):
    from datetime import datetime

    from bot.domain.clues import ClockClue, CodeClue

    clues = (
        CodeClue("0x80072f8f", "Microsoft-Windows-User Device Registration/Admin", NOW, "event 201"),
        ClockClue(7262.4113002, "Microsoft-Windows-Time-Service/Operational", datetime(2026, 12, 2, 6, 58), "event 260",
                  "Last Sync Error: 1 (The time service is not synchronized)"),
        ClockClue(None, "Microsoft-Windows-Time-Service, System log", NOW, "event 36", "The time service has not …"),
    )  # fmt: skip
    await store.create_session(session(log_clues=clues))
    assert (await store.get_session("s1")).log_clues == clues


# diagnosis_sessions as the version before device_clues made it, and a row it wrote: the logs' code clues as
# objects among the message's codes.
OLD_SESSIONS = """CREATE TABLE diagnosis_sessions (
    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, user_id TEXT NOT NULL,
    user_name TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, step TEXT NOT NULL,
    error_codes TEXT NOT NULL, package_guids TEXT NOT NULL, device_name TEXT, plan TEXT)"""
OLD_ROW = (
    "INSERT INTO diagnosis_sessions VALUES ('old', 't', 'c', 'u', 'Adele', '2026-11-26T00:00:00+00:00', "
    "'2026-11-26T00:00:00+00:00', 'settings', "
    """'["0x801c0003", {"code": "0x80072efd", "source": "Microsoft-Windows-AAD/Operational", "at": null, """
    """"event": "event 1025"}]', '["g"]', NULL, NULL)"""
)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_database_made_before_the_device_clues_column_gets_it_when_opened(backend, tmp_path: Path):
    from bot.domain.clues import ClockClue, CodeClue

    clock = ClockClue(7262.0, "Microsoft-Windows-Time-Service/Operational", NOW, "event 260")
    if backend == "sqlite":
        import sqlite3

        path = tmp_path / "old.db"
        with sqlite3.connect(path) as old:
            old.execute(OLD_SESSIONS)
            old.execute(OLD_ROW)
        store = await open_storage(f"sqlite:///{path}")
        cleanup = None
    else:
        import asyncpg

        from bot.storage.postgres import PostgresStore

        schema = f"migrate_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(POSTGRES_DSN)
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.execute(f"SET search_path TO {schema}")
        await admin.execute(OLD_SESSIONS)
        await admin.execute(OLD_ROW)
        store = await PostgresStore.open(POSTGRES_DSN, schema=schema)
        cleanup = (admin, schema)
    try:
        old = await store.get_session("old")  # written before: still read whole
        assert old.error_codes == ("0x801c0003",)
        assert old.log_clues == (CodeClue("0x80072efd", "Microsoft-Windows-AAD/Operational", None, "event 1025"),)
        await store.create_session(session(log_clues=(clock,)))  # and the new column is there to write
        assert (await store.get_session("s1")).log_clues == (clock,)
    finally:
        await store.close()
        if cleanup is not None:
            await cleanup[0].execute(f"DROP SCHEMA {cleanup[1]} CASCADE")
            await cleanup[0].close()


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


def approval(**changes):
    from datetime import timedelta

    from bot.domain.approval import ApprovalRequest
    from bot.domain.diagnosis import JoinChangePlan
    from bot.domain.model import JoinSetting, MembershipKind

    plan = JoinChangePlan(
        JoinSetting(MembershipKind.NONE), JoinSetting(MembershipKind.SELECTED, ("u1",), ()), ("package_x@c",)
    )
    base = dict(
        id="r1",
        tenant_id="t",
        plan=plan,
        requester_id="req",
        requester_name="Adele",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=24),
    )
    base.update(changes)
    return ApprovalRequest(**base)  # type: ignore[arg-type]


def created_audit(request_id="r1"):
    from bot.storage import AuditEntry

    return AuditEntry(at=NOW, action="created", request_id=request_id)


async def test_one_pending_request_per_plan(store):
    first, created = await store.create_approval(approval(), created_audit())
    again, created_again = await store.create_approval(approval(id="r2"), created_audit("r2"))
    assert created and not created_again and again.id == "r1"
    assert await store.get_approval("r2") is None
    assert (await store.get_approval("r1")) == first


async def test_transitions_are_compare_and_set_and_audited(store):
    from bot.domain.approval import Action, Actor, decide
    from bot.storage import AuditEntry

    request, _ = await store.create_approval(approval(), created_audit())
    approver = Actor("megan", "Megan", is_approver=True)
    first = decide(request, Action.APPROVE, approver, NOW)
    second = decide(request, Action.REJECT, approver, NOW, reason="no")
    audit = AuditEntry(at=NOW, action="x", request_id="r1")
    assert await store.apply_transition(first, audit, NOW)
    assert not await store.apply_transition(second, audit, NOW)  # read in a state that has moved on
    stored = await store.get_approval("r1")
    assert stored.state.value == "approved" and stored.decided_by_name == "Megan" and stored.version == 1
    assert [e.action for e in await store.list_audit()] == ["created", "x"]
    # a new pending request for the same plan is allowed once the first is no longer pending
    _, created = await store.create_approval(approval(id="r3"), created_audit("r3"))
    assert created


async def test_card_locations_settings_and_audit_window(store):
    from datetime import timedelta

    from bot.storage import AuditEntry

    await store.create_approval(approval(), created_audit())
    await store.set_approval_cards("r1", requester=("chat", "a1"), approval=("channel", "a2"))
    stored = await store.get_approval("r1")
    assert (stored.requester_conversation_id, stored.requester_card_id) == ("chat", "a1")
    assert (stored.approval_conversation_id, stored.approval_card_id) == ("channel", "a2")
    assert await store.get_setting("k") is None
    assert await store.claim_setting("once", 1) is True
    assert await store.claim_setting("once", 2) is False  # a second claim (another replica) gets nothing
    assert await store.get_setting("once") == 1
    await store.set_setting("k", {"a": 1})
    await store.set_setting("k", "v2")
    assert await store.get_setting("k") == "v2"
    await store.set_settings({"k": 3, "k2": [1], "k3": None})  # one transaction: all of them
    assert [await store.get_setting(k) for k in ("k", "k2", "k3")] == [3, [1], None]
    with pytest.raises(TypeError):
        await store.set_settings({"k": 4, "k2": {1, 2}})  # a set is not JSON: nothing of the batch is written
    assert [await store.get_setting(k) for k in ("k", "k2")] == [3, [1]]
    await store.append_audit(AuditEntry(at=NOW + timedelta(days=2), action="later"))
    assert [e.action for e in await store.list_audit(since=NOW + timedelta(days=1))] == ["later"]
    assert [e.action for e in await store.list_audit(limit=1)] == ["later"]


async def test_a_lease_has_one_holder_until_it_expires(store):
    from datetime import timedelta

    minute = timedelta(minutes=1)
    assert await store.acquire_lease("poller", "a", NOW, minute)
    assert await store.acquire_lease("poller", "a", NOW + timedelta(seconds=30), minute)  # renewal
    assert not await store.acquire_lease("poller", "b", NOW + timedelta(seconds=40), minute)
    assert await store.acquire_lease("poller", "b", NOW + timedelta(minutes=2), minute)  # a stopped renewing
    assert not await store.acquire_lease("poller", "a", NOW + timedelta(minutes=2, seconds=1), minute)


async def test_every_copy_of_a_request_card_is_remembered_once(store):
    from datetime import timedelta

    from bot.domain.lifecycle import CardCopy, Role

    await store.create_approval(approval(), created_audit())
    copies = [
        CardCopy("r1", "channel", "a2", Role.APPROVERS, NOW),
        CardCopy("r1", "chat", "a1", Role.REQUESTER, NOW + timedelta(seconds=1)),
        CardCopy("r1", "other-chat", "a3", Role.FOLLOWER, NOW + timedelta(seconds=2)),
    ]
    for copy in (*copies, copies[1]):  # registering the same message again changes nothing
        await store.add_approval_copy(copy)
    assert await store.list_approval_copies("r1") == copies
    assert await store.list_approval_copies("r2") == []


async def test_a_database_made_before_card_copies_gains_them(tmp_path: Path):
    import sqlite3

    from bot.domain.lifecycle import CardCopy, Role

    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = await open_storage(url)
    await first.close()
    with sqlite3.connect(tmp_path / "old.db") as db:  # as a database of the release before copies
        db.execute("DROP TABLE approval_copies")
    again = await open_storage(url)
    await again.add_approval_copy(CardCopy("r1", "chat", "a1", Role.REQUESTER, NOW))
    assert [c.activity_id for c in await again.list_approval_copies("r1")] == ["a1"]
    await again.close()


# ---- the tenant registry ---------------------------------------------------------------------------
TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001"
TENANT_B = "bbbbbbbb-0000-4000-8000-000000000002"


async def test_tenant_records_round_trip_update_and_remove(store):
    from bot.tenants import TenantRecord

    record = TenantRecord(TENANT_A, "Contoso School", ("school.onmicrosoft.com",), approver_user_ids=("u1",))
    await store.save_tenant(record, NOW)
    await store.save_tenant(TenantRecord(TENANT_B, "Fabrikam"), NOW)
    assert await store.get_tenant(TENANT_A) == record
    await store.save_tenant(record.__class__(**{**record.__dict__, "display_name": "Contoso"}), NOW)
    assert (await store.get_tenant(TENANT_A)).display_name == "Contoso"
    assert [r.tenant_id for r in await store.list_tenants()] == [TENANT_A, TENANT_B]
    await store.bind_channel("19:chan", TENANT_A, "Megan", NOW)
    await store.set_subscription("19:chan", TENANT_A, True, "Megan", NOW)
    assert await store.remove_tenant(TENANT_A) is True
    assert await store.remove_tenant(TENANT_A) is False
    assert await store.get_tenant(TENANT_A) is None
    assert await store.channel_tenant("19:chan") is None  # its channels are unbound with it
    assert await store.list_subscriptions(TENANT_A) == {"19:chan": False}  # and its alerts stop


async def test_channels_bind_to_one_tenant_at_a_time(store):
    assert await store.channel_tenant("19:chan") is None
    await store.bind_channel("19:chan", TENANT_A, "Megan", NOW)
    await store.bind_channel("19:chan", TENANT_B, "Megan", NOW)
    assert await store.channel_tenant("19:chan") == TENANT_B
    await store.bind_channel("19:chan", None, "Megan", NOW)
    assert await store.channel_tenant("19:chan") is None


async def test_audit_subscriptions_and_requests_are_read_per_tenant(store):
    from bot.storage import AuditEntry

    await store.append_audit(AuditEntry(at=NOW, action="approve", tenant_id=TENANT_A))
    await store.append_audit(AuditEntry(at=NOW, action="reject", tenant_id=TENANT_B))
    assert [e.action for e in await store.list_audit(tenant_id=TENANT_A)] == ["approve"]
    assert [e.tenant_id for e in await store.list_audit()] == [TENANT_A, TENANT_B]
    await store.set_subscription("19:a", TENANT_A, True, "Megan", NOW)
    await store.set_subscription("19:b", TENANT_B, True, "Megan", NOW)
    assert await store.list_subscriptions(TENANT_B) == {"19:b": True}
    assert set(await store.list_subscriptions()) == {"19:a", "19:b"}


async def test_an_audit_log_made_before_tenants_gains_the_column(tmp_path: Path):
    import sqlite3

    from bot.storage import AuditEntry

    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = await open_storage(url)
    await first.close()
    with sqlite3.connect(tmp_path / "old.db") as db:  # as the release before tenants made it
        db.execute("DROP TABLE audit_log")
        db.execute(
            "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, request_id TEXT, "
            "action TEXT NOT NULL, actor_id TEXT, actor_name TEXT, from_state TEXT, to_state TEXT, data TEXT NOT NULL)"
        )
        db.execute("INSERT INTO audit_log (at, action, data) VALUES (?, 'old', '{}')", (NOW.isoformat(),))
    again = await open_storage(url)
    await again.append_audit(AuditEntry(at=NOW, action="new", tenant_id=TENANT_A))
    assert [(e.action, e.tenant_id) for e in await again.list_audit()] == [("old", None), ("new", TENANT_A)]
    await again.close()


async def test_a_consent_state_is_taken_once_and_not_after_it_expired(store):
    from datetime import timedelta

    later = NOW + timedelta(minutes=30)
    await store.save_consent_state("h1", {"userId": "u1", "conversationId": "c1"}, later)
    await store.save_consent_state("h2", {"userId": "u2"}, later)
    assert await store.take_consent_state("h1", NOW) == {"userId": "u1", "conversationId": "c1"}
    assert await store.take_consent_state("h1", NOW) is None  # single-use
    assert await store.take_consent_state("unknown", NOW) is None
    assert await store.take_consent_state("h2", later) is None  # expired: refused, and cleared
    await store.save_consent_state("h2", {"userId": "again"}, later + timedelta(minutes=1))  # the hash is free again
    assert await store.take_consent_state("h2", later) == {"userId": "again"}


async def test_channel_bindings_list_every_bound_conversation(store):
    assert await store.channel_bindings() == {}
    await store.bind_channel("19:a", TENANT_A, "Megan", NOW)
    await store.bind_channel("19:b", TENANT_A, "Megan", NOW)
    await store.bind_channel("19:c", TENANT_B, "Megan", NOW)
    await store.bind_channel("19:b", None, "Megan", NOW)
    assert await store.channel_bindings() == {"19:a": TENANT_A, "19:c": TENANT_B}


async def test_a_write_of_several_statements_is_whole(store):
    statements = [
        ("INSERT INTO bot_settings VALUES (?,?)", ("w1", '"x"')),
        ("INSERT INTO no_such_table VALUES (?)", (1,)),
    ]
    with pytest.raises(Exception):  # noqa: B017 - each backend names the missing table its own way
        await store._db.write(statements)
    assert await store.get_setting("w1") is None  # the first statement was rolled back with the second
    assert await store._db.write(statements[:1]) == [1]
    assert await store.get_setting("w1") == "x"


async def test_a_tenants_settings_written_together_stay_its_own(store):
    from bot.tenants.scoped import TenantScopedStorage

    scoped = TenantScopedStorage(store, TENANT_B, home=False)
    await scoped.set_settings({"k": 1, "k2": 2})
    assert [await scoped.get_setting(k) for k in ("k", "k2")] == [1, 2]
    assert await store.get_setting("k") is None  # the deployment's own key is another tenant's
    await TenantScopedStorage(store, TENANT_A, home=True).set_settings({"k": 3})
    assert (await store.get_setting("k"), await scoped.get_setting("k")) == (3, 1)


# ---- per-tenant polling leases (bot/tenants/polling.py) ------------------------------------------------
T0 = 1_800_000_000.0  # seconds since the epoch


async def test_tenant_leases_are_claimed_compare_and_set_and_taken_over_only_once_run_out(store):
    won = await store.claim_tenants(["t1", "t2", "t3"], "a", T0, 60)
    assert won == {"t1": 1, "t2": 1, "t3": 1}
    # b asks for all three while a's leases run: it gets only the one nobody holds
    assert await store.claim_tenants(["t1", "t2", "t4"], "b", T0 + 10, 60) == {"t4": 1}
    assert {(lease.tenant_id, lease.holder) for lease in await store.list_tenant_leases()} == {
        ("t1", "a"), ("t2", "a"), ("t3", "a"), ("t4", "b")
    }  # fmt: skip
    # a stops renewing: at its expiry (not a moment before) b takes t1 over, and the epoch counts the takeover
    assert await store.claim_tenants(["t1"], "b", T0 + 59.9, 60) == {}
    assert await store.claim_tenants(["t1"], "b", T0 + 60, 60) == {"t1": 2}
    # a, back from a pause, cannot renew what it lost, only what it still holds (none: all ran out at T0 + 60)
    assert await store.renew_tenants("a", T0 + 61, 60) == {}
    assert await store.claim_tenants(["t1", "t2"], "a", T0 + 61, 60) == {"t2": 2}


async def test_renewal_is_one_statement_for_all_of_a_holders_running_leases(store):
    tenants = [f"t{i:03}" for i in range(1200)]  # more than one claim batch
    assert len(await store.claim_tenants(tenants, "a", T0, 60)) == 1200
    assert len(await store.claim_tenants(tenants[:10], "b", T0 + 30, 60)) == 0
    renewed = await store.renew_tenants("a", T0 + 30, 60)
    assert len(renewed) == 1200 and set(renewed.values()) == {1}
    assert await store.renew_tenants("b", T0 + 30, 60) == {}
    # renewed to T0 + 90: at T0 + 70 (past the first expiry) they are still a's
    assert await store.claim_tenants(tenants, "b", T0 + 70, 60) == {}
    assert await store.holds_tenant("t000", "a", 1, T0 + 70)
    assert not await store.holds_tenant("t000", "a", 1, T0 + 90)  # run out
    assert not await store.holds_tenant("t000", "b", 1, T0 + 70)


async def test_released_leases_are_free_at_once_and_leaving_frees_them_all(store):
    await store.claim_tenants(["t1", "t2", "t3"], "a", T0, 60)
    await store.release_tenants(["t1", "t3"], "b")  # not b's: nothing happens
    assert await store.claim_tenants(["t1"], "b", T0 + 1, 60) == {}
    await store.release_tenants(["t1"], "a")
    assert await store.claim_tenants(["t1"], "b", T0 + 1, 60) == {"t1": 2}
    assert await store.renew_tenants("a", T0 + 2, 60) == {"t2": 1, "t3": 1}
    await store.heartbeat("a", T0 + 2, 60)
    await store.leave("a")
    assert await store.claim_tenants(["t2", "t3"], "b", T0 + 3, 60) == {"t2": 2, "t3": 2}
    assert await store.heartbeat("b", T0 + 3, 60) == ["b"]


async def test_replicas_are_live_while_they_heartbeat(store):
    assert await store.heartbeat("r1", T0, 30) == ["r1"]
    assert await store.heartbeat("r2", T0 + 10, 30) == ["r1", "r2"]
    assert await store.heartbeat("r2", T0 + 35, 30) == ["r2"]  # r1 silent for 35 s
    assert await store.heartbeat("r1", T0 + 36, 30) == ["r1", "r2"]  # back
    await store.heartbeat("r2", T0 + 1000, 30)  # r1 silent for ten times the ttl: forgotten
    assert await store.heartbeat("r1", T0 + 1000, 30) == ["r1", "r2"]
