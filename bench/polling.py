"""Per-tenant polling across replicas: N tenants (default 500) polled by 3 replica processes through leases on
PostgreSQL (bench/poll_replica.py, the real PollScheduler), against the same tenants polled by one process with a
plain asyncio loop and no leases (the baseline), measured the same way in the same run: poll lag p50/p99 against
the interval, CPU per tenant-poll, memory per tenant, and the takeover time after one replica is killed (kill -9).

The poll is trivial (one row written per poll): the figures are the scheduling layer's own cost."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.tenants.polling import slot_of  # noqa: E402

REPLICA = ROOT / "bench" / "poll_replica.py"
DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Fleet:
    def __init__(self, schema: str, args: argparse.Namespace):
        self.schema = schema
        self.args = args
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str, tenants: int, *extra: str) -> asyncio.subprocess.Process:
        a = self.args
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(REPLICA), "--dsn", DSN, "--schema", self.schema, "--replica", name,
            "--tenants", str(tenants), "--interval", str(a.interval), "--lease", str(a.lease), *extra,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line != b"ready\n":
            raise SystemExit(f"replica {name} did not start")
        self.processes[name] = process
        return process

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            await process.wait()


async def fresh_schema(admin: asyncpg.Connection) -> str:
    schema = f"bench_polling_{uuid.uuid4().hex[:10]}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    return schema


async def lags(admin: asyncpg.Connection, schema: str, since: float, until: float, interval: float) -> list[float]:
    rows = await admin.fetch(f"SELECT tenant_id, at FROM {schema}.poll_log WHERE at >= $1 AND at < $2", since, until)
    return [r["at"] - slot_of(r["tenant_id"], interval, r["at"]) for r in rows]


async def measure(
    admin: asyncpg.Connection, fleet: Fleet, schema: str, tenants: int, args: argparse.Namespace
) -> dict[str, float]:
    """Lag, CPU per poll and RSS of the fleet's processes over `args.rounds` intervals, once it has settled."""
    await asyncio.sleep(args.interval + args.lease)  # settled: leases taken, every tenant polled once
    pids = [p.pid for p in fleet.processes.values()]
    cpu0 = sum(cpu_seconds(p) for p in pids)
    start = time.time()
    await asyncio.sleep(args.rounds * args.interval)
    end = time.time()
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    rss = sum(rss_bytes(p) for p in pids)
    measured = await lags(admin, schema, start, end, args.interval)
    return {
        "polls": len(measured),
        "expected": tenants * (end - start) / args.interval,
        "p50": percentile(measured, 0.5),
        "p99": percentile(measured, 0.99),
        "max": max(measured, default=float("nan")),
        "cpu_per_poll": cpu / max(1, len(measured)),
        "rss": rss,
    }


async def idle_rss(args: argparse.Namespace, admin: asyncpg.Connection, baseline: bool) -> int:
    """The RSS of a replica process with no tenants: what per-tenant memory is measured above."""
    schema = await fresh_schema(admin)
    fleet = Fleet(schema, args)
    try:
        await fleet.start("idle", 0, *(["--baseline"] if baseline else []))
        await asyncio.sleep(args.lease)
        return rss_bytes(fleet.processes["idle"].pid)
    finally:
        await fleet.stop()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")


async def takeover(admin: asyncpg.Connection, fleet: Fleet, schema: str, victim: str) -> tuple[float, float, int]:
    """kill -9 one replica; seconds from the kill (and from its last renewal) until every tenant it held is
    held by another."""
    rows = await admin.fetch(
        f"SELECT tenant_id, expires_at FROM {schema}.tenant_leases WHERE holder = $1 AND expires_at > $2",
        victim,
        time.time(),
    )
    held = {r["tenant_id"] for r in rows}
    renewed = max(r["expires_at"] for r in rows) - fleet.args.lease
    fleet.processes[victim].send_signal(signal.SIGKILL)
    killed = time.time()
    await fleet.processes[victim].wait()
    while time.time() < killed + 5 * fleet.args.lease:
        taken = await admin.fetch(
            f"SELECT tenant_id FROM {schema}.tenant_leases WHERE holder <> $1 AND expires_at > $2",
            victim,
            time.time(),
        )
        if held <= {r["tenant_id"] for r in taken}:
            break
        await asyncio.sleep(0.01)
    done = time.time()
    return done - killed, done - renewed, len(held)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--lease", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3, help="intervals measured")
    args = parser.parse_args()
    admin = await asyncpg.connect(DSN)
    n = args.tenants
    print(f"polling: {n} tenants, interval {args.interval:g} s, lease {args.lease:g} s, load {os.getloadavg()}")

    results: dict[str, dict[str, float]] = {}
    for label in ("baseline", "leases"):
        schema = await fresh_schema(admin)
        fleet = Fleet(schema, args)
        try:
            if label == "baseline":
                await fleet.start("plain", n, "--baseline")
            else:
                for i in range(args.replicas):
                    await fleet.start(f"replica-{i}", n)
            results[label] = await measure(admin, fleet, schema, n, args)
            if label == "leases":
                since_kill, since_renewal, moved = await takeover(admin, fleet, schema, "replica-0")
        finally:
            await fleet.stop()
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    idle = {"baseline": await idle_rss(args, admin, True), "leases": await idle_rss(args, admin, False)}
    await admin.close()

    count = {"baseline": 1, "leases": args.replicas}
    print(f"{'':38}{'1 process, no leases':>22}{f'{args.replicas} replicas, leases':>22}{'ratio':>8}")

    def row(name: str, key: str, scale: float, unit: str, fmt: str = ".1f") -> None:
        b, p = results["baseline"][key] * scale, results["leases"][key] * scale
        ratio = p / b if b else float("nan")
        print(f"{name:38}{format(b, fmt) + ' ' + unit:>22}{format(p, fmt) + ' ' + unit:>22}{ratio:>7.2f}x")

    row("polls measured (of expected)", "polls", 1, "", ".0f")
    print(f"{'  expected':38}{results['baseline']['expected']:>21.0f} {results['leases']['expected']:>21.0f}")
    row("poll lag p50", "p50", 1000, "ms")
    row("poll lag p99", "p99", 1000, "ms")
    row("poll lag max", "max", 1000, "ms")
    row("CPU per tenant-poll", "cpu_per_poll", 1e6, "us", ".0f")
    for label in ("baseline", "leases"):
        results[label]["per_tenant"] = (results[label]["rss"] - count[label] * idle[label]) / n
    row("memory per idle tenant", "per_tenant", 1 / 1024, "KB")
    p99 = results["leases"]["p99"]
    print(f"poll lag p99 {p99 / args.interval:.4f}x the interval (target < 2x)")
    print(
        f"takeover after kill -9 of a replica holding {moved} tenants: {since_kill:.2f} s after the kill, "
        f"{since_renewal:.2f} s after its last renewal (lease period {args.lease:g} s: "
        f"{since_kill / args.lease:.2f}x; the baseline has no second process to take over)"
    )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
