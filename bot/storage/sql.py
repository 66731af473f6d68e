"""The storage interface implemented once in SQL; SQLite and PostgreSQL supply a connection and a dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.changes import plan_from_json
from bot.domain.approval import ApprovalRequest, State, Transition
from bot.domain.clues import ClockClue, Clue, CodeClue
from bot.domain.lifecycle import CardCopy, Role
from bot.storage.base import AuditEntry, ConversationRecord, DiagnosisSession, TenantLease
from bot.tenants.registry import TenantRecord

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
    plan TEXT,
    device_clues TEXT
);
CREATE INDEX IF NOT EXISTS diagnosis_sessions_conversation ON diagnosis_sessions (conversation_id);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    requester_conversation_id TEXT,
    requester_card_id TEXT,
    approval_conversation_id TEXT,
    approval_card_id TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS approvals_one_pending_per_plan
    ON approvals (tenant_id, fingerprint) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state);
CREATE TABLE IF NOT EXISTS approval_copies (
    request_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    role TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (request_id, conversation_id, activity_id)
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq {AUTO_ID},
    at TEXT NOT NULL,
    request_id TEXT,
    action TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT,
    from_state TEXT,
    to_state TEXT,
    data TEXT NOT NULL,
    tenant_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE TABLE IF NOT EXISTS alert_subscriptions (
    conversation_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    active INTEGER NOT NULL,
    changed_by TEXT,
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replicas (
    replica_id TEXT PRIMARY KEY,
    last_seen DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_leases (
    tenant_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    epoch BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS bot_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_tenants (
    conversation_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    bound_by TEXT,
    bound_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_states (
    state_hash TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

# Columns added since a table was first created: an older database gains them when it is opened (each backend
# adds the missing ones after SCHEMA). (table, column, type); existing rows get NULL.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("audit_log", "tenant_id", "TEXT"),
    ("diagnosis_sessions", "device_clues", "TEXT"),  # the device's clues from its logs (codes, clock) as JSON
)


LEASE_BATCH = 500  # tenants per lease statement (3 parameters each: far below either database's limit)


class Tx(Protocol):
    async def execute(self, sql: str, *args: Any) -> int: ...

    async def fetchone(self, sql: str, *args: Any) -> dict[str, Any] | None: ...

    async def fetchall(self, sql: str, *args: Any) -> list[dict[str, Any]]: ...


class Db(Protocol):
    """A connection (or pool) that runs `?`-placeholder SQL in transactions."""

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def write(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Statements that need nothing read back in between, in one transaction: their row counts. (SQLite
        runs them and the commit in one trip to its thread.)"""
        ...

    async def close(self) -> None: ...


def _ts(value: datetime) -> str:
    return value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def approval_to_json(request: ApprovalRequest) -> dict[str, Any]:
    data = asdict(request)
    data["plan"] = request.plan.to_json()
    data["state"] = request.state.value
    for key in ("created_at", "expires_at", "decided_at"):
        data[key] = _ts(data[key]) if data[key] else None
    return data


def approval_from_row(row: dict[str, Any]) -> ApprovalRequest:
    data = json.loads(row["data"])
    data["plan"] = plan_from_json(data["plan"])
    data["state"] = State(row["state"])
    data["version"] = row["version"]
    for key in ("created_at", "expires_at", "decided_at"):
        data[key] = _dt(data[key])
    for key in ("requester_conversation_id", "requester_card_id", "approval_conversation_id", "approval_card_id"):
        data[key] = row[key]
    return ApprovalRequest(**data)


class SqlStore:
    def __init__(self, db: Db):
        self._db = db

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        async with self._db.transaction() as tx:
            await tx.fetchone("SELECT 1 AS ok")

    # ---- diagnosis sessions -----------------------------------------------------------------------
    async def create_session(self, session: DiagnosisSession) -> None:
        insert = (
            "INSERT INTO diagnosis_sessions (id, tenant_id, conversation_id, user_id, user_name, created_at, "
            "updated_at, step, error_codes, package_guids, device_name, plan, device_clues) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        )
        values = (
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
            json.dumps([_clue_json(c) for c in session.log_clues]),
        )
        await self._db.write([(insert, values)])

    async def get_session(self, session_id: str) -> DiagnosisSession | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT * FROM diagnosis_sessions WHERE id = ?", session_id)
        if row is None:
            return None
        # The message's codes; rows written before device_clues existed kept the logs' code clues among them.
        codes = json.loads(row["error_codes"])
        logged = [*(c for c in codes if isinstance(c, dict)), *json.loads(row.get("device_clues") or "[]")]
        return DiagnosisSession(
            id=row["id"],
            tenant_id=row["tenant_id"],
            conversation_id=row["conversation_id"],
            user_id=row["user_id"],
            user_name=row["user_name"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=_dt(row["updated_at"]),
            step=row["step"],
            error_codes=tuple(c for c in codes if isinstance(c, str)),
            package_guids=tuple(json.loads(row["package_guids"])),
            device_name=row["device_name"],
            plan=json.loads(row["plan"]) if row["plan"] else None,
            log_clues=tuple(_clue_from_json(c) for c in logged),
        )

    async def update_session(self, session_id: str, *, step: str, plan: dict[str, Any] | None, now: datetime) -> None:
        update = "UPDATE diagnosis_sessions SET step = ?, plan = ?, updated_at = ? WHERE id = ?"
        await self._db.write([(update, (step, json.dumps(plan) if plan is not None else None, _ts(now), session_id))])

    # ---- conversations -------------------------------------------------------------------------
    async def save_conversation(self, record: ConversationRecord) -> None:
        upsert = (
            "INSERT INTO conversations VALUES (?,?,?,?,?) ON CONFLICT (conversation_id) DO UPDATE SET "
            "tenant_id = excluded.tenant_id, kind = excluded.kind, reference = excluded.reference, "
            "updated_at = excluded.updated_at"
        )
        values = (
            record.conversation_id,
            record.tenant_id,
            record.kind,
            json.dumps(record.reference),
            _ts(record.updated_at or datetime.now().astimezone()),
        )
        await self._db.write([(upsert, values)])

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT * FROM conversations WHERE conversation_id = ?", conversation_id)
        if row is None:
            return None
        return ConversationRecord(
            conversation_id=row["conversation_id"],
            tenant_id=row["tenant_id"],
            kind=row["kind"],
            reference=json.loads(row["reference"]),
            updated_at=_dt(row["updated_at"]),
        )

    async def latest_conversation(self, tenant_id: str) -> ConversationRecord | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT conversation_id FROM conversations WHERE tenant_id = ? ORDER BY updated_at DESC LIMIT 1",
                tenant_id,
            )
        return await self.get_conversation(row["conversation_id"]) if row else None

    # ---- approvals -----------------------------------------------------------------------------
    async def create_approval(self, request: ApprovalRequest, audit: AuditEntry) -> tuple[ApprovalRequest, bool]:
        """Insert a pending request, or return the pending one for the same plan (created=False)."""
        async with self._db.transaction() as tx:
            existing = await tx.fetchone(
                "SELECT * FROM approvals WHERE tenant_id = ? AND fingerprint = ? AND state = 'pending'",
                request.tenant_id,
                request.fingerprint,
            )
            if existing is not None:
                return approval_from_row(existing), False
            await tx.execute(
                "INSERT INTO approvals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                request.id,
                request.tenant_id,
                request.fingerprint,
                request.state.value,
                request.version,
                _ts(request.created_at),
                _ts(request.expires_at),
                _ts(request.created_at),
                json.dumps(approval_to_json(request)),
                request.requester_conversation_id,
                request.requester_card_id,
                request.approval_conversation_id,
                request.approval_card_id,
            )
            await self._insert_audit(tx, audit)
        return request, True

    async def get_approval(self, request_id: str) -> ApprovalRequest | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT * FROM approvals WHERE id = ?", request_id)
        return approval_from_row(row) if row else None

    async def list_approvals(self, states: Sequence[State], tenant_id: str | None = None) -> list[ApprovalRequest]:
        marks = ",".join("?" for _ in states)
        args: list[Any] = [s.value for s in states]
        where = f"state IN ({marks})"
        if tenant_id is not None:
            where += " AND tenant_id = ?"
            args.append(tenant_id)
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(f"SELECT * FROM approvals WHERE {where} ORDER BY created_at", *args)
        return [approval_from_row(r) for r in rows]

    async def apply_transition(self, transition: Transition, audit: AuditEntry, now: datetime) -> bool:
        """Compare-and-set: write the new state only if the request is still in the state it was read in."""
        old, new = transition.request, transition.new
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE approvals SET state = ?, version = ?, data = ?, updated_at = ? "
                "WHERE id = ? AND state = ? AND version = ?",
                new.state.value,
                new.version,
                json.dumps(approval_to_json(new)),
                _ts(now),
                old.id,
                old.state.value,
                old.version,
            )
            if changed != 1:
                return False
            await self._insert_audit(tx, audit)
        return True

    async def set_approval_cards(
        self,
        request_id: str,
        *,
        requester: tuple[str, str] | None = None,
        approval: tuple[str, str] | None = None,
    ) -> None:
        """Remember where the request's cards are (conversation id, activity id); not a state change."""
        async with self._db.transaction() as tx:
            if requester:
                await tx.execute(
                    "UPDATE approvals SET requester_conversation_id = ?, requester_card_id = ? WHERE id = ?",
                    *requester,
                    request_id,
                )
            if approval:
                await tx.execute(
                    "UPDATE approvals SET approval_conversation_id = ?, approval_card_id = ? WHERE id = ?",
                    *approval,
                    request_id,
                )

    async def add_approval_copy(self, copy: CardCopy) -> None:
        """Remember one more message the request is shown in (the same activity twice is one copy)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO approval_copies VALUES (?,?,?,?,?) "
                "ON CONFLICT (request_id, conversation_id, activity_id) DO NOTHING",
                copy.request_id,
                copy.conversation_id,
                copy.activity_id,
                copy.role.value,
                _ts(copy.added_at or datetime.now().astimezone()),
            )

    async def list_approval_copies(self, request_id: str) -> list[CardCopy]:
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT * FROM approval_copies WHERE request_id = ? ORDER BY added_at, activity_id", request_id
            )
        return [
            CardCopy(r["request_id"], r["conversation_id"], r["activity_id"], Role(r["role"]), _dt(r["added_at"]))
            for r in rows
        ]

    # ---- audit and settings --------------------------------------------------------------------
    async def _insert_audit(self, tx: Tx, entry: AuditEntry) -> None:
        await tx.execute(
            "INSERT INTO audit_log (at, request_id, action, actor_id, actor_name, from_state, to_state, data, "
            "tenant_id) VALUES (?,?,?,?,?,?,?,?,?)",
            _ts(entry.at),
            entry.request_id,
            entry.action,
            entry.actor_id,
            entry.actor_name,
            entry.from_state,
            entry.to_state,
            json.dumps(entry.data),
            entry.tenant_id,
        )

    async def append_audit(self, entry: AuditEntry) -> None:
        async with self._db.transaction() as tx:
            await self._insert_audit(tx, entry)

    async def list_audit(
        self, since: datetime | None = None, limit: int | None = None, tenant_id: str | None = None
    ) -> list[AuditEntry]:
        sql = "SELECT * FROM audit_log"
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("at >= ?")
            args.append(_ts(since))
        if tenant_id is not None:
            where.append("tenant_id = ?")
            args.append(tenant_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC" if limit else " ORDER BY seq"
        if limit:
            sql += f" LIMIT {int(limit)}"
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(sql, *args)
        entries = [
            AuditEntry(
                at=datetime.fromisoformat(r["at"]),
                request_id=r["request_id"],
                action=r["action"],
                actor_id=r["actor_id"],
                actor_name=r["actor_name"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                data=json.loads(r["data"]),
                seq=int(r["seq"]),
                tenant_id=r.get("tenant_id"),
            )
            for r in rows
        ]
        return list(reversed(entries)) if limit else entries

    async def set_subscription(
        self, conversation_id: str, tenant_id: str, active: bool, changed_by: str | None, at: datetime
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO alert_subscriptions VALUES (?,?,?,?,?) ON CONFLICT (conversation_id) DO UPDATE SET "
                "active = excluded.active, changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                conversation_id,
                tenant_id,
                1 if active else 0,
                changed_by,
                _ts(at),
            )

    async def list_subscriptions(self, tenant_id: str | None = None) -> dict[str, bool]:
        """Conversation -> subscribed, for one tenant's alerts (a channel follows the tenant it subscribed for)."""
        async with self._db.transaction() as tx:
            if tenant_id is None:
                rows = await tx.fetchall("SELECT conversation_id, active FROM alert_subscriptions")
            else:
                rows = await tx.fetchall(
                    "SELECT conversation_id, active FROM alert_subscriptions WHERE tenant_id = ?", tenant_id
                )
        return {r["conversation_id"]: bool(r["active"]) for r in rows}

    async def acquire_lease(self, name: str, holder: str, now: datetime, duration: timedelta) -> bool:
        """Hold `name` until now + duration if it is free, expired, or already ours (one poller among replicas)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "INSERT INTO leases VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET "
                "holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE leases.expires_at < ? OR leases.holder = excluded.holder",
                name,
                holder,
                _ts(now + duration),
                _ts(now),
            )
        return changed == 1

    # ---- per-tenant polling leases (bot/tenants/polling.py): times are seconds since the epoch ---------
    async def heartbeat(self, replica_id: str, now: float, ttl: float) -> list[str]:
        """Say this replica is alive at `now`; the replicas seen within `ttl` (this one included), sorted.
        Rows silent for ten times `ttl` are forgotten."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO replicas VALUES (?,?) "
                "ON CONFLICT (replica_id) DO UPDATE SET last_seen = excluded.last_seen",
                replica_id,
                now,
            )
            await tx.execute("DELETE FROM replicas WHERE last_seen < ?", now - 10 * ttl)
            rows = await tx.fetchall(
                "SELECT replica_id FROM replicas WHERE last_seen > ? ORDER BY replica_id", now - ttl
            )
        return [r["replica_id"] for r in rows]

    async def leave(self, replica_id: str) -> None:
        """A replica stopping: its tenants are free at once (not after their leases run out), and it is not live."""
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE tenant_leases SET expires_at = 0 WHERE holder = ?", replica_id)
            await tx.execute("DELETE FROM replicas WHERE replica_id = ?", replica_id)

    async def list_tenant_leases(self) -> list[TenantLease]:
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT * FROM tenant_leases ORDER BY tenant_id")
        return [TenantLease(r["tenant_id"], r["holder"], float(r["expires_at"]), int(r["epoch"])) for r in rows]

    async def claim_tenants(
        self, tenant_ids: Sequence[str], holder: str, now: float, duration: float
    ) -> dict[str, int]:
        """Take each tenant whose lease is free or has run out, in one statement per 500 tenants (compare-and-set:
        a lease still running is left to its holder). The tenants taken, each with its new epoch."""
        won: dict[str, int] = {}
        # In one order for every replica: two claims of overlapping tenants lock their rows in the same order, so
        # PostgreSQL never finds them waiting on each other (a deadlock, seen with each replica's own order).
        wanted = sorted(set(tenant_ids))
        for start in range(0, len(wanted), LEASE_BATCH):
            chunk = wanted[start : start + LEASE_BATCH]
            values = ",".join("(?,?,?,1)" for _ in chunk)
            args: list[Any] = []
            for tenant_id in chunk:
                args += [tenant_id, holder, now + duration]
            async with self._db.transaction() as tx:
                rows = await tx.fetchall(
                    f"INSERT INTO tenant_leases (tenant_id, holder, expires_at, epoch) VALUES {values} "
                    "ON CONFLICT (tenant_id) DO UPDATE SET holder = excluded.holder, "
                    "expires_at = excluded.expires_at, epoch = tenant_leases.epoch + 1 "
                    "WHERE tenant_leases.expires_at <= ? RETURNING tenant_id, epoch",
                    *args,
                    now,
                )
            won.update({r["tenant_id"]: int(r["epoch"]) for r in rows})
        return won

    async def renew_tenants(self, holder: str, now: float, duration: float) -> dict[str, int]:
        """Extend every lease `holder` still holds, in one statement; those it held, with their epochs (a lease that
        ran out is not renewed: someone else may have it already)."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE tenant_leases SET expires_at = ? WHERE holder = ? AND expires_at > ? "
                "RETURNING tenant_id, epoch",
                now + duration,
                holder,
                now,
            )
        return {r["tenant_id"]: int(r["epoch"]) for r in rows}

    async def release_tenants(self, tenant_ids: Sequence[str], holder: str) -> None:
        """Give up these leases now (if still ours), so another replica can take them at its next round."""
        wanted = sorted(set(tenant_ids))
        for start in range(0, len(wanted), LEASE_BATCH):
            chunk = wanted[start : start + LEASE_BATCH]
            marks = ",".join("?" for _ in chunk)
            async with self._db.transaction() as tx:
                await tx.execute(
                    f"UPDATE tenant_leases SET expires_at = 0 WHERE holder = ? AND tenant_id IN ({marks})",
                    holder,
                    *chunk,
                )

    async def holds_tenant(self, tenant_id: str, holder: str, epoch: int, now: float) -> bool:
        """Whether `holder` still holds the tenant's lease it took at `epoch` (a fencing check before a write)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT 1 AS ok FROM tenant_leases WHERE tenant_id = ? AND holder = ? AND epoch = ? AND expires_at > ?",
                tenant_id,
                holder,
                epoch,
                now,
            )
        return row is not None

    async def get_setting(self, key: str) -> Any:
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT value FROM bot_settings WHERE key = ?", key)
        return json.loads(row["value"]) if row else None

    async def claim_setting(self, key: str, value: Any) -> bool:
        """Set `key` only if it has no value yet; True for the one caller (of any replica) that set it."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "INSERT INTO bot_settings VALUES (?,?) ON CONFLICT (key) DO NOTHING", key, json.dumps(value)
            )
        return changed == 1

    async def set_setting(self, key: str, value: Any) -> None:
        await self.set_settings({key: value})

    async def set_settings(self, values: dict[str, Any]) -> None:
        """Several settings in one transaction (one commit): all are written, or none."""
        upsert = "INSERT INTO bot_settings VALUES (?,?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        await self._db.write([(upsert, (key, json.dumps(value))) for key, value in values.items()])

    # ---- the tenant registry ---------------------------------------------------------------------
    async def save_tenant(self, record: TenantRecord, now: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO tenants VALUES (?,?,?) ON CONFLICT (tenant_id) DO UPDATE SET "
                "data = excluded.data, updated_at = excluded.updated_at",
                record.tenant_id,
                json.dumps(record.to_json()),
                _ts(now),
            )

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT data FROM tenants WHERE tenant_id = ?", tenant_id)
        return TenantRecord.from_json(json.loads(row["data"])) if row else None

    async def list_tenants(self) -> list[TenantRecord]:
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT data FROM tenants ORDER BY tenant_id")
        return [TenantRecord.from_json(json.loads(r["data"])) for r in rows]

    async def remove_tenant(self, tenant_id: str) -> bool:
        """The record and the channels bound to it; its requests and audit stay, as history."""
        async with self._db.transaction() as tx:
            removed = await tx.execute("DELETE FROM tenants WHERE tenant_id = ?", tenant_id)
            await tx.execute("DELETE FROM channel_tenants WHERE tenant_id = ?", tenant_id)
            await tx.execute("UPDATE alert_subscriptions SET active = 0 WHERE tenant_id = ?", tenant_id)
        return removed == 1

    async def bind_channel(self, conversation_id: str, tenant_id: str | None, by: str | None, at: datetime) -> None:
        """The tenant a channel (or chat) is about; None unbinds it."""
        async with self._db.transaction() as tx:
            if tenant_id is None:
                await tx.execute("DELETE FROM channel_tenants WHERE conversation_id = ?", conversation_id)
                return
            await tx.execute(
                "INSERT INTO channel_tenants VALUES (?,?,?,?) ON CONFLICT (conversation_id) DO UPDATE SET "
                "tenant_id = excluded.tenant_id, bound_by = excluded.bound_by, bound_at = excluded.bound_at",
                conversation_id,
                tenant_id,
                by,
                _ts(at),
            )

    async def channel_tenant(self, conversation_id: str) -> str | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT tenant_id FROM channel_tenants WHERE conversation_id = ?", conversation_id)
        return str(row["tenant_id"]) if row else None

    async def channel_bindings(self) -> dict[str, str]:
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT conversation_id, tenant_id FROM channel_tenants ORDER BY conversation_id")
        return {str(r["conversation_id"]): str(r["tenant_id"]) for r in rows}

    # ---- admin consent in flight -------------------------------------------------------------------
    async def save_consent_state(self, state_hash: str, data: dict[str, Any], expires_at: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("INSERT INTO consent_states VALUES (?,?,?)", state_hash, json.dumps(data), _ts(expires_at))

    async def take_consent_state(self, state_hash: str, now: datetime) -> dict[str, Any] | None:
        """The state's data, once: the first caller (of any replica) takes it, later ones get None, as does anyone
        after it expired. Expired states are cleared on the way."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT data, expires_at FROM consent_states WHERE state_hash = ?", state_hash)
            taken = await tx.execute("DELETE FROM consent_states WHERE state_hash = ?", state_hash) if row else 0
            await tx.execute("DELETE FROM consent_states WHERE expires_at <= ?", _ts(now))
        if row is None or taken != 1 or datetime.fromisoformat(row["expires_at"]) <= now:
            return None
        data = json.loads(row["data"])
        return data if isinstance(data, dict) else None


def _clue_json(clue: Clue) -> dict[str, Any]:
    at = clue.at.isoformat() if clue.at is not None else None
    if isinstance(clue, ClockClue):
        return {
            "kind": "clock",
            "offsetSeconds": clue.offset_seconds,
            "source": clue.source,
            "at": at,
            "event": clue.event,
            "said": clue.said,
        }
    return {"code": clue.code, "source": clue.source, "at": at, "event": clue.event}


def _clue_from_json(data: dict[str, Any]) -> Clue:
    at = data.get("at")
    when = datetime.fromisoformat(at) if at else None
    if data.get("kind") == "clock":
        offset = data.get("offsetSeconds")
        return ClockClue(
            float(offset) if offset is not None else None,
            str(data.get("source", "")),
            when,
            str(data.get("event", "")),
            str(data.get("said", "")),
        )
    return CodeClue(str(data["code"]), str(data.get("source", "")), when, str(data.get("event", "")))
