"""Per-tenant polling with the REAL poll (issue 22): N fleet tenants (sim/fleet.py) served over HTTPS by
`python -m sim --tenants DIR` in its own process, registered in a fresh PostgreSQL schema, polled by 3 replica
processes each running the real app (`python app.py`: its PollScheduler calls each tenant's own
alerts.poll_once: its own token, troubleshootingEvents, the spike detector, the package watch, its state stored).

Baseline, measured the same way in the same run against the same simulator: one plain process reading the same
N tenants' troubleshootingEvents at the same interval and phases (a token POST per tenant, cached until it
expires, then one GET), no leases, no app.

Measured from the simulator's own request log (the time of each tenant's troubleshootingEvents.list): poll lag
(time since the tenant's slot, bot/tenants/polling.py slot_of) p50/p99 against the interval, tenants polled twice
in one slot (must be 0), CPU per tenant-poll (the pollers' CPU from /proc over the window / polls), memory per
tenant (RSS with N tenants minus RSS with 1, per tenant), and the takeover after kill -9 of one replica: seconds
until every tenant it held is leased by another, and until each was next polled.

Run: `python bench/tenant_polls.py --tenants 500 --interval 30 --seconds 90` (PostgreSQL at TEST_POSTGRES_DSN).
`--baseline-process FILE` is the baseline poller itself (started by the run, not by hand)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo import graph_env  # noqa: E402
from bot.storage.postgres import PostgresStore  # noqa: E402
from bot.tenants import TenantRecord  # noqa: E402
from bot.tenants.polling import next_slot, slot_of  # noqa: E402
from sim.fleet import write_fleet  # noqa: E402
from sim.tenant import GRAPH_SCOPE  # noqa: E402

DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
EVENTS = "troubleshootingEvents.list"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sim:
    """`python -m sim --tenants DIR` in its own process, and its per-tenant request logs."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, ca: Path):
        self.process, self.url, self.ca = process, url, ca
        self.client = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca)), timeout=60)

    @classmethod
    async def start(cls, fleet_dir: Path, tls_dir: Path) -> Sim:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sim", "--tenants", str(fleet_dir), "--port", str(free_port()),
            "--tls-dir", str(tls_dir), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        url = ""
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=300)).decode()
            if not line:
                raise SystemExit("python -m sim --tenants exited before it was ready")
            if "Graph:" in line:
                url = line.split()[1].removesuffix("/v1.0")
            if "Control:" in line:
                return cls(process, url, tls_dir / "ca.pem")

    async def polls(self, tenant_id: str, clear: bool = False) -> list[float]:
        """Times (epoch seconds) of the tenant's troubleshootingEvents reads; `clear` forgets them after."""
        answer = await self.client.get(f"{self.url}/_sim/tenants/{tenant_id}/requests")
        answer.raise_for_status()
        if clear:
            await self.client.delete(f"{self.url}/_sim/tenants/{tenant_id}/requests")
        return [datetime.fromisoformat(r["time"]).timestamp() for r in answer.json() if r["route"] == EVENTS]

    async def all_polls(self, tenant_ids: list[str], clear: bool = False) -> dict[str, list[float]]:
        gate = asyncio.Semaphore(8)

        async def one(tid: str) -> list[float]:
            async with gate:
                return await self.polls(tid, clear)

        return dict(zip(tenant_ids, await asyncio.gather(*(one(t) for t in tenant_ids)), strict=True))

    async def close(self) -> None:
        await self.client.aclose()
        self.process.send_signal(signal.SIGTERM)
        await self.process.wait()


def window_figures(polls: dict[str, list[float]], start: float, end: float, interval: float) -> dict[str, float]:
    """Lag of every poll in [start, end) after its tenant's slot, and tenants polled twice in one slot."""
    lags, doubled = [], 0
    for tid, times in polls.items():
        inside = [t for t in times if start <= t < end]
        lags += [t - slot_of(tid, interval, t) for t in inside]
        slots = [round(slot_of(tid, interval, t), 3) for t in inside]
        if len(slots) != len(set(slots)):
            doubled += 1
            print(f"  polled twice in a slot: {tid}: {[round(t - start, 3) for t in inside]} s into the window")
    expected = sum(_slots_between(t, interval, start, end) for t in polls)
    return {
        "polls": len(lags),
        "expected": expected,
        "p50": percentile(lags, 0.5),
        "p99": percentile(lags, 0.99),
        "max": max(lags, default=float("nan")),
        "doubled": doubled,
    }


def _slots_between(tenant_id: str, interval: float, start: float, end: float) -> int:
    count, slot = 0, next_slot(tenant_id, interval, start)
    while slot < end:
        count, slot = count + 1, slot + interval
    return count


# ---- the baseline poller (its own process) ---------------------------------------------------------------------
async def baseline_process(spec_file: Path) -> None:
    spec = json.loads(await asyncio.to_thread(spec_file.read_text))
    interval = float(spec["interval"])
    context = ssl.create_default_context(cafile=spec["ca"])
    limits = httpx.Limits(max_connections=16)
    tokens: dict[str, tuple[str, float]] = {}
    async with httpx.AsyncClient(verify=context, limits=limits, timeout=30) as client:

        async def poll(tenant_id: str) -> None:
            token, until = tokens.get(tenant_id, ("", 0.0))
            if time.time() > until - 300:
                form = {
                    "grant_type": "client_credentials",
                    "client_id": spec["client_id"],
                    "client_secret": spec["client_secret"],
                    "scope": GRAPH_SCOPE,
                }
                issued = (await client.post(f"{spec['url']}/{tenant_id}/oauth2/v2.0/token", data=form)).json()
                token, until = issued["access_token"], time.time() + float(issued["expires_in"])
                tokens[tenant_id] = (token, until)
            answer = await client.get(
                f"{spec['url']}/v1.0/deviceManagement/troubleshootingEvents",
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()
            answer.json()

        async def forever(tenant_id: str) -> None:
            while True:
                await asyncio.sleep(max(0.0, next_slot(tenant_id, interval, time.time()) - time.time()))
                try:
                    await poll(tenant_id)
                except httpx.HTTPError as exc:
                    print(f"baseline: {tenant_id}: {exc!r}", file=sys.stderr)
                await asyncio.sleep(interval / 2)

        tasks = [asyncio.create_task(forever(t)) for t in spec["tenants"]]
        print("ready", flush=True)
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ---- the run -----------------------------------------------------------------------------------------------------
class Run:
    def __init__(self, args: argparse.Namespace, work: Path, fixtures: list[dict[str, Any]], sim: Sim):
        self.args, self.work, self.fixtures, self.sim = args, work, fixtures, sim
        self.ids = [f["tenantId"] for f in fixtures]
        app = fixtures[0]["apps"][0]
        self.client_id, self.client_secret = app["clientId"], app["clientSecret"]

    async def start_baseline(self, tenants: list[str]) -> asyncio.subprocess.Process:
        spec = self.work / f"baseline-{len(tenants)}.json"
        spec.write_text(
            json.dumps(
                {
                    "url": self.sim.url,
                    "ca": str(self.sim.ca),
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "interval": self.args.interval,
                    "tenants": tenants,
                }
            )
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--baseline-process", str(spec), stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        if await asyncio.wait_for(process.stdout.readline(), 60) != b"ready\n":
            raise SystemExit("the baseline poller did not start")
        return process

    async def registry(self, admin: asyncpg.Connection, count: int) -> str:
        """A fresh schema holding the registry: the fleet's tenants after the first (the app's home tenant)."""
        schema = f"bench_tenant_polls_{uuid.uuid4().hex[:10]}"
        await admin.execute(f"CREATE SCHEMA {schema}")
        store = await PostgresStore.open(DSN, schema=schema)
        try:
            for f in self.fixtures[1:count]:
                record = TenantRecord(
                    f["tenantId"],
                    f["displayName"],
                    (f["domain"],),
                    approver_group_id=f["demo"]["approverGroupId"],
                    approvers_tenant=f["tenantId"],
                ).validated()
                await store.save_tenant(record, datetime.now().astimezone())
        finally:
            await store.close()
        return schema

    async def start_replica(self, schema: str, replica: str) -> tuple[asyncio.subprocess.Process, int]:
        home = self.fixtures[0]
        approvers = next(g for g in home["groups"] if g["id"] == home["demo"]["approverGroupId"])["members"]
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
            **graph_env(self.sim.url, self.sim.ca, home["tenantId"], self.client_id, self.client_secret),
            "DATABASE_URL": f"{DSN}?search_path={schema}",
            "PORT": str(port),
            "ALERTS_ENABLED": "true",
            "ALERT_POLL_SECONDS": str(self.args.interval),
            "POLL_LEASE_SECONDS": str(self.args.lease),
            "POLL_CONCURRENCY": str(self.args.concurrency),
            "REPLICA_ID": replica,
            "APPROVER_USER_IDS": ",".join(approvers),
            "LOG_LEVEL": "WARNING",
        }
        log = (self.work / f"{schema}-{replica}.log").open("w")
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "app.py"), cwd=self.work, env=env, stdout=log, stderr=log
        )
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if process.returncode is not None:
                    raise SystemExit(f"replica {replica} exited; see {log.name}")
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return process, port
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise SystemExit(f"replica {replica} was not ready in 120 s; see {log.name}")


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def measure(run: Run, pids: list[int]) -> dict[str, float]:
    """Settle, forget what the simulator saw, then lag, doubles and CPU over `--seconds`."""
    a = run.args
    await asyncio.sleep(a.interval + a.lease)  # settled: leases taken and shared out, every tenant polled once
    await run.sim.all_polls(run.ids, clear=True)
    cpu0, start = sum(cpu_seconds(p) for p in pids), time.time()
    await asyncio.sleep(a.seconds)
    end, cpu = time.time(), sum(cpu_seconds(p) for p in pids) - cpu0
    rss = sum(rss_bytes(p) for p in pids)
    figures = window_figures(await run.sim.all_polls(run.ids), start, end - 2, a.interval)  # 2 s: polls under way
    figures["cpu_per_poll"] = cpu / max(1, figures["polls"])
    figures["rss"] = rss
    return figures


async def takeover(
    run: Run, admin: asyncpg.Connection, schema: str, victim: asyncio.subprocess.Process, name: str
) -> dict[str, float]:
    a = run.args
    rows = await admin.fetch(
        f"SELECT tenant_id FROM {schema}.tenant_leases WHERE holder = $1 AND expires_at > $2", name, time.time()
    )
    held = [r["tenant_id"] for r in rows]
    victim.send_signal(signal.SIGKILL)
    killed = time.time()
    await victim.wait()
    leased = float("nan")
    while time.time() < killed + 5 * a.lease + a.interval:
        taken = await admin.fetch(
            f"SELECT tenant_id FROM {schema}.tenant_leases WHERE holder <> $1 AND expires_at > $2", name, time.time()
        )
        if set(held) <= {r["tenant_id"] for r in taken}:
            leased = time.time() - killed
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(a.interval + 3)  # each taken tenant's next slot is at most one interval on
    polls = await run.sim.all_polls(held)
    after = [min((t for t in times if t > killed), default=float("inf")) - killed for times in polls.values()]
    # What a tenant must wait for even with a perfect takeover: its first slot after the lease ran out.
    ideal = [next_slot(t, a.interval, killed + a.lease) - killed for t in held]
    return {
        "moved": len(held),
        "leased": leased,
        "polled_all": max(after, default=float("nan")),
        "polled_p50": percentile(after, 0.5),
        "unpolled": sum(1 for x in after if x == float("inf")),
        "ideal_all": max(ideal, default=float("nan")),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=90.0, help="the measured window")
    parser.add_argument("--concurrency", type=int, default=8, help="POLL_CONCURRENCY of each replica")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--baseline-process", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_process is not None:
        await baseline_process(args.baseline_process)
        return

    n = args.tenants
    print(
        f"tenant polls (real poll): {n} tenants, {args.replicas} replicas, interval {args.interval:g} s, "
        f"lease {args.lease:g} s, window {args.seconds:g} s, load {os.getloadavg()}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bench-tenant-polls-"))
    write_fleet(n, args.seed, work / "fleet")
    fixtures = [json.loads(p.read_text()) for p in sorted((work / "fleet").glob("*.json"))]
    sim = await Sim.start(work / "fleet", work / "tls")
    admin = await asyncpg.connect(DSN)
    run = Run(args, work, fixtures, sim)
    schemas: list[str] = []
    results: dict[str, dict[str, float]] = {}
    try:
        # Baseline: one plain process, every tenant.
        plain = await run.start_baseline(run.ids)
        try:
            results["baseline"] = await measure(run, [plain.pid])
        finally:
            await stop([plain])
        print(f"  baseline measured, load {os.getloadavg()}", flush=True)

        # The real app, 3 replicas on one schema.
        schemas.append(await run.registry(admin, n))
        names = [f"r{i + 1}" for i in range(args.replicas)]
        replicas = dict(
            zip(names, await asyncio.gather(*(run.start_replica(schemas[-1], r) for r in names)), strict=True)
        )
        processes = [p for p, _ in replicas.values()]
        try:
            results["replicas"] = await measure(run, [p.pid for p in processes])
            shares = await admin.fetch(
                f"SELECT holder, count(*) AS n FROM {schemas[-1]}.tenant_leases WHERE expires_at > $1 GROUP BY holder",
                time.time(),
            )
            share = {r["holder"]: r["n"] for r in shares}
            rss_r1 = rss_bytes(replicas["r1"][0].pid)
            print(f"  replicas measured ({share}), load {os.getloadavg()}", flush=True)
            moved = await takeover(run, admin, schemas[-1], replicas["r1"][0], "r1")
        finally:
            await stop(processes)

        # One tenant: the same app and the same baseline poller with the home tenant alone (memory baselines).
        schemas.append(await run.registry(admin, 1))
        (single, _), plain1 = await asyncio.gather(
            run.start_replica(schemas[-1], "solo"), run.start_baseline(run.ids[:1])
        )
        try:
            await asyncio.sleep(args.interval + args.lease + 2)  # each has polled its tenant at least once
            rss_app1, rss_plain1 = rss_bytes(single.pid), rss_bytes(plain1.pid)
        finally:
            await stop([single, plain1])
    finally:
        for schema in schemas:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
        await sim.close()

    b, r = results["baseline"], results["replicas"]
    b["per_tenant"] = (b["rss"] - rss_plain1) / max(1, n - 1)
    r1_share = share.get("r1", 0)
    # Each replica builds every registered tenant's runtime (all N) and polls its share.
    r["per_tenant"] = (rss_r1 - rss_app1) / max(1, n - 1)
    r["per_polled"] = (rss_r1 - rss_app1) / max(1, r1_share)
    print(f"{'':34}{'1 plain process':>20}{f'{args.replicas} app replicas':>20}{'ratio':>8}")

    def row(name: str, key: str, scale: float, unit: str, fmt: str = ".1f") -> None:
        x, y = b[key] * scale, r[key] * scale
        ratio = y / x if x else float("nan")
        print(f"{name:34}{format(x, fmt) + ' ' + unit:>20}{format(y, fmt) + ' ' + unit:>20}{ratio:>7.2f}x")

    row("polls measured", "polls", 1, "", ".0f")
    row("  expected (slots in window)", "expected", 1, "", ".0f")
    row("  tenants polled twice in a slot", "doubled", 1, "", ".0f")
    row("poll lag p50", "p50", 1000, "ms")
    row("poll lag p99", "p99", 1000, "ms")
    row("poll lag max", "max", 1000, "ms")
    row("CPU per tenant-poll", "cpu_per_poll", 1000, "ms", ".2f")
    row("memory per tenant (r1 / process)", "per_tenant", 1 / 1024, "KB")
    print(
        f"  replica r1 RSS {rss_r1 / 2**20:.1f} MB with {n} registered ({r1_share} polled), alone "
        f"{rss_app1 / 2**20:.1f} MB: {r['per_polled'] / 1024:.1f} KB per polled tenant; baseline process "
        f"{b['rss'] / 2**20:.1f} MB with {n}, {rss_plain1 / 2**20:.1f} MB with 1"
    )
    print(f"poll lag p99 {r['p99'] / args.interval:.4f}x the interval; shares at the kill: {share}")
    print(
        f"takeover after kill -9 of r1 ({moved['moved']} tenants): all leased by others {moved['leased']:.2f} s "
        f"after the kill (lease {args.lease:g} s); each next polled p50 {moved['polled_p50']:.2f} s, all "
        f"{moved['polled_all']:.2f} s after the kill ({moved['unpolled']:.0f} not polled again); bound: lease + "
        f"first slot after it = {moved['ideal_all']:.2f} s"
    )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
