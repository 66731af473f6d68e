"""One polling replica as its own process (bench/polling.py and tests/integration/test_polling.py start several):
the real PollScheduler on PostgreSQL over `--tenants` tenant ids, with a trivial poll that records (tenant,
replica, time) in the poll_log table. `--baseline`: the same polls from a plain asyncio loop, with no leases."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import SystemClock  # noqa: E402
from bot.storage.postgres import SCHEMA_LOCK, PostgresStore  # noqa: E402
from bot.tenants.polling import PollScheduler, next_slot  # noqa: E402

POLL_LOG = "CREATE TABLE IF NOT EXISTS poll_log (tenant_id TEXT NOT NULL, replica TEXT NOT NULL, at DOUBLE PRECISION)"


def tenant_ids(count: int) -> list[str]:
    return [f"tenant-{i:04}" for i in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--replica", required=True)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--lease", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline", action="store_true", help="a plain asyncio loop over every tenant, no leases")
    args = parser.parse_args()

    settings = {"search_path": args.schema} if args.schema else None
    pool = await asyncpg.create_pool(args.dsn, min_size=1, max_size=4, server_settings=settings)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)  # replicas start at once
        await connection.execute(POLL_LOG)
    tenants = tenant_ids(args.tenants)

    async def poll(tenant_id: str) -> None:
        await pool.execute("INSERT INTO poll_log VALUES ($1, $2, $3)", tenant_id, args.replica, time.time())

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    if args.baseline:
        await baseline(tenants, poll, args.interval, stopping)
    else:
        store = await PostgresStore.open(args.dsn, schema=args.schema)

        async def registry() -> list[str]:
            return tenants

        scheduler = PollScheduler(
            store,
            SystemClock(),
            args.replica,
            registry,
            poll,
            interval=args.interval,
            lease_seconds=args.lease,
            concurrency=args.concurrency,
        )
        runner = asyncio.create_task(scheduler.run_forever())
        print("ready", flush=True)
        await stopping.wait()
        scheduler.stop()
        await runner
        await store.close()
    await pool.close()


async def baseline(tenants: list[str], poll, interval: float, stopping: asyncio.Event) -> None:
    """What one process polling every tenant would do: one task per tenant sleeping until its next slot."""

    async def forever(tenant_id: str) -> None:
        while True:
            await asyncio.sleep(max(0.0, next_slot(tenant_id, interval, time.time()) - time.time()))
            await poll(tenant_id)
            await asyncio.sleep(interval / 2)

    tasks = [asyncio.create_task(forever(t)) for t in tenants]
    print("ready", flush=True)
    await stopping.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
