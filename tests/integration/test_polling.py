"""Per-tenant polling across replicas (bot/tenants/polling.py) on a real database, the clock moved by hand: fair
share, rebalance, takeover after a replica stops, one owner per tenant at every step, per-tenant backoff."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import GraphThrottledError, GraphUnavailableError
from bot.storage import Storage, open_storage
from bot.tenants.polling import PollScheduler, slot_of
from tests.support.clock import FakeClock
from tests.unit.test_storage import POSTGRES_DSN

INTERVAL = 30.0
LEASE = 15.0


@pytest.fixture(params=["sqlite", "postgres"])
async def storage(request, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "sqlite":
        store = await open_storage(f"sqlite:///{tmp_path / 'polling.db'}")
        yield store
        await store.close()
        return
    import asyncpg

    from bot.storage.postgres import PostgresStore

    schema = f"polling_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    store = await PostgresStore.open(POSTGRES_DSN, schema=schema)
    yield store
    await store.close()
    await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    await admin.close()


class Fleet:
    """Replicas sharing one database and one clock, run as a discrete-event simulation: the clock jumps to the
    next time any live replica wants to wake, and every replica due then ticks (in a random order)."""

    def __init__(self, storage: Storage, clock: FakeClock, tenants: list[str], seed: int = 1, **options):
        self.storage = storage
        self.clock = clock
        self.tenants = tenants
        self.options = {"interval": INTERVAL, "lease_seconds": LEASE, "concurrency": 4, **options}
        self.replicas: dict[str, PollScheduler] = {}
        self.wakes: dict[str, float] = {}
        self.running: set[str] = set()  # replicas that tick (a killed or paused one does not)
        self.polls: list[tuple[str, str, float]] = []  # (tenant, replica, time)
        self.fail: dict[str, Exception] = {}  # tenant -> what its poll raises
        self.hang: dict[str, asyncio.Event] = {}  # tenant -> its poll waits for this
        self.random = random.Random(seed)
        self.violations: list[str] = []

    def add(self, replica_id: str) -> PollScheduler:
        async def tenants() -> list[str]:
            return list(self.tenants)

        async def poll(tenant_id: str) -> None:
            self.polls.append((tenant_id, replica_id, self.clock.now().timestamp()))
            if tenant_id in self.hang:
                await self.hang[tenant_id].wait()
            if tenant_id in self.fail:
                raise self.fail[tenant_id]

        scheduler = PollScheduler(self.storage, self.clock, replica_id, tenants, poll, **self.options)
        self.replicas[replica_id] = scheduler
        self.wakes[replica_id] = self.clock.now().timestamp()
        self.running.add(replica_id)
        return scheduler

    async def settle(self) -> None:
        for _ in range(10):  # the polls here are instant: a few turns of the loop finish them
            await asyncio.sleep(0)

    async def run_for(self, seconds: float) -> None:
        end = self.clock.now().timestamp() + seconds
        while True:
            due = min((self.wakes[r] for r in self.running), default=end + 1)
            if due > end:
                self.clock.current = self.clock.current.fromtimestamp(end, self.clock.current.tzinfo)
                return
            now = max(self.clock.now().timestamp(), due) + 1e-6  # the clock keeps microseconds: not before `due`
            self.clock.current = self.clock.current.fromtimestamp(now, self.clock.current.tzinfo)
            ready = [r for r in self.running if self.wakes[r] <= now]
            self.random.shuffle(ready)
            # At once, as replicas do: their reads, claims and renewals interleave in the database.
            ticks = await asyncio.wait_for(asyncio.gather(*(self.replicas[r].tick() for r in ready)), 10)
            self.wakes.update(zip(ready, ticks, strict=True))
            await self.settle()
            for replica_id in self.running:  # a finished poll moves its tenant's next due time
                self.wakes[replica_id] = min(self.wakes[replica_id], await self.replicas[replica_id].tick())
            self.check()

    def check(self) -> None:
        """At every step, no tenant is polled-for by two replicas (paused ones included: they believe what they
        believed when they stopped, and must not act on it once their leases ran out)."""
        owners: dict[str, list[str]] = defaultdict(list)
        for replica_id, scheduler in self.replicas.items():
            for tenant_id in scheduler.polling():
                owners[tenant_id].append(replica_id)
        for tenant_id, holders in owners.items():
            if len(holders) > 1:
                self.violations.append(f"{self.clock.now()}: {tenant_id} held by {holders}")

    def owners(self) -> dict[str, str]:
        return {t: r for r in self.running for t in self.replicas[r].polling()}

    def counts(self) -> Counter[str]:
        return Counter(self.owners().values())

    def double_polls(self) -> list[tuple[str, float]]:
        """Tenants polled by two replicas (or twice) in one interval slot."""
        slots = Counter((t, slot_of(t, INTERVAL, at)) for t, _, at in self.polls)
        return [key for key, n in slots.items() if n > 1]


def tenants(n: int) -> list[str]:
    return [f"tenant-{i:03}" for i in range(n)]


async def test_replicas_take_a_fair_share_and_rebalance_as_replicas_join_and_leave(storage):
    clock = FakeClock()
    fleet = Fleet(storage, clock, tenants(30))
    for name in ("a", "b", "c"):
        fleet.add(name)
    await fleet.run_for(LEASE)
    assert len(fleet.owners()) == 30 and max(fleet.counts().values()) <= 10
    assert sorted(fleet.counts().values()) == [10, 10, 10]

    fleet.add("d")  # share 8: the others hand back their extras, the newcomer takes them
    await fleet.run_for(LEASE)
    assert len(fleet.owners()) == 30 and max(fleet.counts().values()) <= 8 and fleet.counts()["d"] >= 6

    fleet.running.discard("a")
    fleet.replicas["a"].stop()
    await fleet.replicas["a"]._shut_down()  # a stopping replica hands its tenants back at once
    await fleet.run_for(LEASE / 3 + 1)  # one round later, not one lease period later
    assert len(fleet.owners()) == 30 and set(fleet.counts()) == {"b", "c", "d"}
    assert max(fleet.counts().values()) <= 10

    fleet.tenants[:] = fleet.tenants[:12]  # tenants removed from the registry are handed back
    await fleet.run_for(LEASE)
    assert sorted(fleet.owners()) == fleet.tenants and max(fleet.counts().values()) <= 4
    assert await storage.claim_tenants(tenants(30)[12:], "z", clock.now().timestamp(), LEASE) != {}
    assert fleet.violations == [] and fleet.double_polls() == []


async def test_a_killed_replicas_tenants_are_taken_over_within_one_lease_period(storage):
    clock = FakeClock()
    fleet = Fleet(storage, clock, tenants(24))
    for name in ("a", "b", "c"):
        fleet.add(name)
    await fleet.run_for(2 * LEASE)
    victims = fleet.replicas["b"].polling()
    assert len(victims) == 8
    await fleet.run_for(fleet.random.uniform(0, LEASE / 3))
    killed = clock.now().timestamp()
    fleet.running.discard("b")  # kill -9: no hand-back, its leases simply stop being renewed
    taken: dict[str, float] = {}
    while len(taken) < len(victims) and clock.now().timestamp() < killed + 3 * LEASE:
        await fleet.run_for(0.01)
        for tenant_id in fleet.owners():
            if tenant_id in victims and tenant_id not in taken:
                taken[tenant_id] = clock.now().timestamp() - killed
    assert set(taken) == victims
    assert max(taken.values()) <= LEASE + 0.1, taken  # the lease runs out at most one period after the kill
    assert max(fleet.counts().values()) == 12
    assert fleet.violations == [] and fleet.double_polls() == []


async def test_one_owner_per_tenant_at_every_step_of_a_long_randomized_run(storage):
    """Replicas join, stop, are killed, pause (as a long GC pause or a frozen VM) and come back, while tenants come
    and go: at every step no two replicas believe they may poll one tenant, no slot is polled twice, and every
    tenant is polled again once the fleet settles."""
    clock = FakeClock()
    names = [f"r{i}" for i in range(6)]
    fleet = Fleet(storage, clock, tenants(40), seed=7)
    for name in names[:3]:
        fleet.add(name)
    rng = random.Random(11)
    for _ in range(60):
        action = rng.choice(["run", "run", "join", "kill", "pause", "resume", "stop", "tenants"])
        idle = [n for n in names if n not in fleet.replicas]
        live = sorted(fleet.running)
        paused = [n for n in fleet.replicas if n not in fleet.running and not fleet.replicas[n]._stopping.is_set()]
        if action == "join" and idle:
            fleet.add(rng.choice(idle))
        elif action == "kill" and len(live) > 1:
            victim = rng.choice(live)
            fleet.running.discard(victim)
            fleet.replicas[victim].stop()  # never ticks again, never hands back
        elif action == "pause" and len(live) > 1:
            fleet.running.discard(rng.choice(live))
        elif action == "resume" and paused:
            back = rng.choice(paused)
            fleet.running.add(back)
            fleet.wakes[back] = clock.now().timestamp()
        elif action == "stop" and len(live) > 1:
            victim = rng.choice(live)
            fleet.running.discard(victim)
            fleet.replicas[victim].stop()
            await fleet.replicas[victim]._shut_down()
        elif action == "tenants":
            fleet.tenants[:] = tenants(rng.randint(20, 60))
        await fleet.run_for(rng.uniform(1, LEASE))
    assert fleet.violations == []
    assert fleet.double_polls() == []
    await fleet.run_for(2 * LEASE + INTERVAL)
    assert sorted(fleet.owners()) == fleet.tenants
    since = clock.now().timestamp() - INTERVAL
    assert {t for t, _, at in fleet.polls if at >= since} == set(fleet.tenants)


async def test_polls_are_spread_over_the_interval_and_repeat_once_per_interval(storage):
    clock = FakeClock()
    fleet = Fleet(storage, clock, tenants(60))
    fleet.add("a")
    fleet.add("b")
    await fleet.run_for(LEASE)
    start = clock.now().timestamp()
    fleet.polls.clear()
    await fleet.run_for(3 * INTERVAL)
    per_tenant = Counter(t for t, _, _ in fleet.polls)
    assert set(per_tenant.values()) == {3}
    # spread: no tenth of the interval has more than a third of the polls (not all at once, no herd)
    tenths = Counter(int((at - start) % INTERVAL / (INTERVAL / 10)) for _, _, at in fleet.polls)
    assert max(tenths.values()) <= len(fleet.polls) / 3
    # each on time: started at its slot (this clock does not move while polls run)
    assert all(at == pytest.approx(slot_of(t, INTERVAL, at + 1e-6), abs=1e-3) for t, _, at in fleet.polls)


async def test_a_failing_tenant_backs_off_alone_and_a_hanging_one_does_not_delay_the_others(storage):
    clock = FakeClock()
    fleet = Fleet(storage, clock, tenants(12), concurrency=2)
    fleet.add("a")
    await fleet.run_for(LEASE)
    fleet.fail["tenant-000"] = GraphUnavailableError("Graph is down", operation="read troubleshooting events")
    fleet.fail["tenant-001"] = GraphThrottledError("throttled", retry_after=10 * INTERVAL, operation="read")
    fleet.hang["tenant-002"] = asyncio.Event()  # holds one of the two slots the whole time
    fleet.polls.clear()
    await fleet.run_for(16 * INTERVAL)
    per_tenant = Counter(t for t, _, _ in fleet.polls)
    # backing off 2, 4, 8, 8 intervals: 4 tries (the first at its slot) in 16 intervals, not 16
    assert 3 <= per_tenant["tenant-000"] <= 5
    assert per_tenant["tenant-001"] == 2  # its own Retry-After (10 intervals) is longer than its backoff
    assert per_tenant["tenant-002"] == 1  # still in its first poll
    others = [per_tenant[t] for t in tenants(12)[3:]]
    assert min(others) >= 15, per_tenant
    # the others were polled at their slots all along: no lag behind the failing or hanging ones
    lags = [at - slot_of(t, INTERVAL, at + 1e-6) for t, _, at in fleet.polls if t not in fleet.fail]
    assert max(lags) < 1e-3
    fleet.fail.clear()
    fleet.hang.pop("tenant-002").set()
    await fleet.settle()
    fleet.polls.clear()
    await fleet.run_for(9 * INTERVAL)  # recovered: every interval again, once the longest backoff has passed
    assert Counter(t for t, _, _ in fleet.polls)["tenant-000"] >= 1
    assert Counter(t for t, _, _ in fleet.polls)["tenant-002"] >= 8


# ---- real processes on PostgreSQL ------------------------------------------------------------------------
REPLICA = Path(__file__).resolve().parents[2] / "bench" / "poll_replica.py"


async def test_three_replica_processes_share_tenants_and_take_over_after_kill_9():
    """bench/poll_replica.py as 3 processes on a fresh PostgreSQL schema: every tenant owned by one of them, a
    `kill -9`ed one's tenants taken over within one lease period, and no tenant polled twice in one interval."""
    import signal
    import sys
    import time

    import asyncpg

    count, interval, lease = 30, 2.0, 3.0
    schema = f"processes_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    await admin.execute(f"SET search_path TO {schema}")
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        for name in ("r1", "r2", "r3"):
            processes[name] = await asyncio.create_subprocess_exec(
                sys.executable, str(REPLICA), "--dsn", POSTGRES_DSN, "--schema", schema, "--replica", name,
                "--tenants", str(count), "--interval", str(interval), "--lease", str(lease),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
        for process in processes.values():
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"

        async def holders() -> dict[str, str]:
            rows = await admin.fetch("SELECT tenant_id, holder FROM tenant_leases WHERE expires_at > $1", time.time())
            return {r["tenant_id"]: r["holder"] for r in rows}

        deadline = time.time() + 30
        while time.time() < deadline:
            owned = await holders()
            if len(owned) == count and max(Counter(owned.values()).values()) <= 10:
                break
            await asyncio.sleep(0.1)
        assert len(owned) == count and sorted(Counter(owned.values()).values()) == [10, 10, 10], owned
        await asyncio.sleep(2 * interval)

        victims = {t for t, h in (await holders()).items() if h == "r2"}
        renewed = (
            await admin.fetchval("SELECT max(expires_at) FROM tenant_leases WHERE holder = 'r2'") - lease
        )  # its last renewal
        processes["r2"].send_signal(signal.SIGKILL)
        killed = time.time()
        await processes["r2"].wait()
        while time.time() < killed + 3 * lease:
            owned = await holders()
            if all(owned.get(t) in ("r1", "r3") for t in victims):
                break
            await asyncio.sleep(0.02)
        taken = time.time()
        assert all(owned.get(t) in ("r1", "r3") for t in victims), owned
        # The leases run out one period after r2's last renewal (before the kill) and are taken at once then. The
        # margins are scheduling on this shared 2-core machine: under the whole suite a replica's round ran 1 s late.
        assert taken - killed <= lease + 0.5, (taken - killed, taken - renewed)
        assert taken - renewed <= lease + 1.5, (taken - killed, taken - renewed)
        await asyncio.sleep(3 * interval)
        rows = await admin.fetch("SELECT tenant_id, replica, at FROM poll_log")
        slots = Counter((r["tenant_id"], round(slot_of(r["tenant_id"], interval, r["at"]), 3)) for r in rows)
        assert [key for key, n in slots.items() if n > 1] == []
        after = {r["tenant_id"] for r in rows if r["at"] > taken + interval}
        assert len(after) == count  # every tenant, the victim's included, polled since
        assert {r["replica"] for r in rows if r["at"] > taken} == {"r1", "r3"}
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            await asyncio.wait_for(process.wait(), 30)
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


# ---- the per-tenant Graph request budget -------------------------------------------------------------------
async def test_a_budget_spaces_requests_beyond_its_burst_and_a_pause_holds_only_its_tenant():
    from bot.budget import RequestBudget

    clock = FakeClock()
    budget = RequestBudget(60, clock, burst=3)  # one a second, three at once
    for _ in range(3):
        await budget.acquire()
    assert clock.slept == []
    for _ in range(4):
        await budget.acquire()
    assert clock.slept == pytest.approx([1.0, 1.0, 1.0, 1.0])
    other = RequestBudget(60, clock, burst=3)
    budget.pause(30)
    await other.acquire()
    assert sum(clock.slept) == pytest.approx(4.0)  # the other tenant did not wait for this one's Retry-After
    await budget.acquire()
    assert sum(clock.slept) == pytest.approx(34.0)
    unlimited = RequestBudget(0, clock)
    for _ in range(1000):
        await unlimited.acquire()
    assert sum(clock.slept) == pytest.approx(34.0)


async def test_each_gateway_waits_on_its_own_budget_and_a_throttled_tenant_holds_off_alone(sim):
    """Over HTTP to the simulated tenant: a gateway's requests beyond its budget wait (on its clock), and a 429
    that outlasts the SDK's retries holds that gateway off for Retry-After while another gateway goes on."""
    from dataclasses import replace

    from bot.demo import sim_graph_env
    from bot.errors import GraphThrottledError
    from bot.graph import MsGraphGateway
    from bot.settings import load_settings
    from sim.tenant import Fault

    settings = load_settings({**sim_graph_env(sim), "GRAPH_REQUESTS_PER_MINUTE": "6"}, dotenv=None).graph
    settings = replace(settings, max_retries=0)
    clock_a, clock_b = FakeClock(), FakeClock()
    a, b = MsGraphGateway(settings, clock_a), MsGraphGateway(settings, clock_b)
    try:
        assert a.budget is not None and a.budget.capacity == 1.0  # 6 a minute: a burst of one
        await a.get_policy()
        await a.get_policy()
        assert clock_a.slept == pytest.approx([10.0])  # one request per 10 s
        sim.tenant.faults.append(Fault("policy.get", status=429, retry_after=120, times=1))
        clock_a.advance(seconds=10)
        with pytest.raises(GraphThrottledError):
            await a.get_policy()
        await b.get_policy()
        assert clock_b.slept == []
        await a.get_policy()
        assert clock_a.slept[-1] == pytest.approx(120.0)
    finally:
        await a.close()
        await b.close()


class FlakyStorage:
    """The database failing the next `failures` lease claims (a deadlock, a lost connection), then answering."""

    def __init__(self, inner: Storage, failures: int):
        self._inner = inner
        self.failures = failures

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def claim_tenants(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise GraphUnavailableError("deadlock detected", operation="claim")  # any error of the database's
        return await self._inner.claim_tenants(*args, **kwargs)


async def test_a_failed_lease_round_costs_a_round_not_the_replicas_polling(storage, clock: FakeClock):
    tenants = [f"t{i}" for i in range(4)]
    polled: list[str] = []

    async def listing() -> list[str]:
        return tenants

    async def poll(tenant_id: str) -> None:
        polled.append(tenant_id)

    flaky = FlakyStorage(storage, failures=2)
    scheduler = PollScheduler(flaky, clock, "r1", listing, poll, interval=0.2, lease_seconds=0.6)  # type: ignore[arg-type]
    task = asyncio.create_task(scheduler.run_forever())
    try:
        for _ in range(400):
            if set(polled) == set(tenants):
                break
            clock.advance(seconds=0.05)
            await asyncio.sleep(0.005)
        assert flaky.failures == 0 and not task.done()  # it failed twice, and went on
        assert set(polled) == set(tenants)
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, 5)
