"""Per-tenant polling across replicas: each tenant owned by one replica at a time through a lease in the database,
a fair share per live replica, each owned tenant polled once per interval at its own phase, with its own backoff."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.errors import GraphThrottledError
from bot.storage import Storage, TenantLease

log = logging.getLogger(__name__)

MAX_BACKOFF_FACTOR = 8  # a failing tenant is retried after 2, 4, then at most 8 intervals
ROUNDS_PER_LEASE = 3  # leases are renewed three times per lease period
TAKEOVER_DELAY = 0.05  # seconds after a stale lease runs out before the round that takes it
EARLY = 0.001  # seconds the loop oversleeps: a poll never starts before its slot
SAFETY = 0.1  # of the lease period: a poll starts only while this much of the lease is left


def _fraction(*parts: str) -> float:
    """A stable number in [0, 1) for these strings (the same on every replica and across restarts)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def phase(tenant_id: str, interval: float) -> float:
    """Where in each interval a tenant is polled: spread evenly over the interval, the same on every replica, so a
    tenant that changes hands is next polled one interval after its last poll, not twice in one interval."""
    return _fraction("phase", tenant_id) * interval


def next_slot(tenant_id: str, interval: float, at: float) -> float:
    """The tenant's first poll time at or after `at` (seconds since the epoch)."""
    offset = phase(tenant_id, interval)
    return offset + math.ceil((at - offset) / interval) * interval


@dataclass
class _Owned:
    expires_at: float  # as we last wrote it
    epoch: int
    due: float
    failures: int = 0
    running: bool = False


class PollScheduler:
    """Run as one background task (`run_forever`, ended by `stop`); `tick` does whatever is due now, for tests."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        replica_id: str,
        list_tenants: Callable[[], Awaitable[list[str]]],
        poll: Callable[[str], Awaitable[None]],
        *,
        interval: float,
        lease_seconds: float,
        concurrency: int = 8,
    ) -> None:
        if lease_seconds <= 0 or interval <= 0 or concurrency < 1:
            raise ValueError("interval and lease_seconds must be positive, concurrency at least 1")
        self._storage = storage
        self._clock = clock
        self.replica_id = replica_id
        self._list_tenants = list_tenants
        self._poll = poll
        self.interval = interval
        self.lease_seconds = lease_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self.owned: dict[str, _Owned] = {}
        self.live: list[str] = []
        self.share = 0
        self._next_round = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    # ---- what this replica may poll -------------------------------------------------------------------
    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _holds(self, owned: _Owned, now: float) -> bool:
        return owned.expires_at - SAFETY * self.lease_seconds > now

    def polling(self) -> set[str]:
        """The tenants this replica would poll now (its leases with time left on them)."""
        now = self._now()
        return {t for t, o in self.owned.items() if self._holds(o, now)}

    def epoch(self, tenant_id: str) -> int | None:
        """The epoch of this replica's lease on the tenant (for fenced writes), None when it holds none."""
        owned = self.owned.get(tenant_id)
        return owned.epoch if owned is not None and self._holds(owned, self._now()) else None

    # ---- the loop ---------------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        try:
            while not self._stopping.is_set():
                wake = await self.tick()
                delay = max(0.0, wake - self._now()) + EARLY  # never early: a poll belongs to the slot it is due in
                self._wake.clear()
                sleeper = asyncio.ensure_future(self._clock.sleep(delay))
                stopper = asyncio.ensure_future(self._stopping.wait())
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({sleeper, stopper, waker}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiting in (sleeper, stopper, waker):
                        waiting.cancel()
        finally:
            await self._shut_down()

    def stop(self) -> None:
        self._stopping.set()

    async def _shut_down(self) -> None:
        """Let the polls under way finish, then hand every tenant back at once (not after its lease runs out)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.owned.clear()
        try:
            await self._storage.leave(self.replica_id)
        except Exception as exc:  # noqa: BLE001 - the leases then run out on their own, one lease period later
            log.warning("polling: could not hand the tenants back on stopping: %s", exc)

    async def tick(self) -> float:
        """A lease round if one is due, then start the polls that are due; when to call again (epoch seconds)."""
        now = self._now()
        if now >= self._next_round:
            try:
                await self._lease_round(now)
            except Exception:
                log.exception("polling: lease round failed; polling only what is still leased, trying again soon")
                self._next_round = now + self.lease_seconds / ROUNDS_PER_LEASE / 2
            now = self._now()
        wake = self._next_round
        for tenant_id, owned in self.owned.items():
            if owned.running or not self._holds(owned, now):
                continue
            if owned.due <= now:
                owned.running = True
                task = asyncio.create_task(self._run_poll(tenant_id, owned), name=f"poll:{tenant_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                wake = min(wake, owned.due)
        return wake

    async def drain(self) -> None:
        """Wait for the polls under way (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- leases -----------------------------------------------------------------------------------------
    async def _lease_round(self, now: float) -> None:
        lease = self.lease_seconds
        self.live = await self._storage.heartbeat(self.replica_id, now, lease)
        tenants = sorted(set(await self._list_tenants()))
        leases = {lease.tenant_id: lease for lease in await self._storage.list_tenant_leases()}
        self.share = math.ceil(len(tenants) / max(1, len(self.live)))
        registered = set(tenants)
        mine = [t for t, x in leases.items() if x.holder == self.replica_id and x.expires_at > now]
        # Tenants gone from the registry, and more than the fair share (someone joined): handed back now, the
        # ones this replica ranks lowest first. A tenant whose poll is under way is handed back at a later round.
        extra = [t for t in mine if t not in registered]
        keep = sorted((t for t in mine if t in registered), key=self._rank, reverse=True)
        extra += keep[self.share :]
        extra = [t for t in extra if not (t in self.owned and self.owned[t].running)]
        if extra:
            await self._storage.release_tenants(extra, self.replica_id)
            log.info("polling: handed back %d tenants (share %d of %d)", len(extra), self.share, len(tenants))
        renewed = await self._storage.renew_tenants(self.replica_id, now, lease)
        room = self.share - len([t for t in renewed if t in registered])
        won: dict[str, int] = {}
        free = sorted(
            (t for t in tenants if t not in leases or leases[t].expires_at <= now), key=self._rank, reverse=True
        )
        while room > len(won) and free:
            # Replicas claiming at once may want the same tenants: what another took is skipped, the next tried.
            wanted, free = free[: room - len(won)], free[room - len(won) :]
            won.update(await self._storage.claim_tenants(wanted, self.replica_id, now, lease))
        if won:
            log.info("polling: took %d tenants (share %d of %d)", len(won), self.share, len(tenants))
        self._adopt(renewed, won, now)
        self._next_round = self._round_after(now, leases)

    def _rank(self, tenant_id: str) -> float:
        """How much this replica prefers a tenant (rendezvous hashing): replicas claiming at once mostly want
        different tenants, and a rebalance moves few."""
        return _fraction(self.replica_id, tenant_id)

    def _adopt(self, renewed: dict[str, int], won: dict[str, int], now: float) -> None:
        expires = now + self.lease_seconds
        held = {**renewed, **won}
        for tenant_id in [t for t in self.owned if t not in held]:
            lost = self.owned.pop(tenant_id)
            if lost.running:  # lost while polling (released is never running): keep it until the poll ends
                lost.expires_at = 0.0
                self.owned[tenant_id] = lost
        for tenant_id, epoch in held.items():
            owned = self.owned.get(tenant_id)
            if owned is None or owned.epoch != epoch:
                # Newly ours: first polled at its next slot, as the previous holder would have polled it.
                self.owned[tenant_id] = _Owned(expires, epoch, next_slot(tenant_id, self.interval, now))
            else:
                owned.expires_at = expires

    def _round_after(self, now: float, leases: dict[str, TenantLease]) -> float:
        """The next round: a third of the lease on; sooner when another holder's lease runs out before then (its
        holder stopped renewing it) so its tenants are taken over as soon as they are free."""
        after = now + self.lease_seconds / ROUNDS_PER_LEASE
        for lease in leases.values():
            if lease.holder != self.replica_id and now < lease.expires_at < after:
                after = lease.expires_at + TAKEOVER_DELAY
        return after

    # ---- polls ------------------------------------------------------------------------------------------
    async def _run_poll(self, tenant_id: str, owned: _Owned) -> None:
        retry_after: float | None = None
        try:
            async with self._slots:
                if not self._holds(owned, self._now()):  # the lease ran out while waiting for a slot
                    return
                try:
                    await self._poll(tenant_id)
                    owned.failures = 0
                except GraphThrottledError as exc:
                    owned.failures += 1
                    retry_after = exc.retry_after
                    log.warning("polling %s: throttled (%s); backing off", tenant_id, exc)
                except Exception as exc:
                    owned.failures += 1
                    log.warning("polling %s: failed (%s); backing off", tenant_id, exc, exc_info=True)
        finally:
            owned.running = False
            now = self._now()
            if owned.failures:
                delay = self.interval * min(MAX_BACKOFF_FACTOR, 2**owned.failures)
                owned.due = now + max(delay, retry_after or 0.0)
            else:
                owned.due = next_slot(tenant_id, self.interval, max(now, owned.due + self.interval / 2))
            if self.owned.get(tenant_id) is owned and owned.expires_at == 0.0:
                del self.owned[tenant_id]  # lost while it polled
            self._wake.set()


def slot_of(tenant_id: str, interval: float, at: float) -> float:
    """The slot a poll at `at` belongs to: its tenant's last poll time at or before `at` (benchmarks, tests)."""
    offset = phase(tenant_id, interval)
    return offset + math.floor((at - offset) / interval) * interval
