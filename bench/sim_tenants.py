"""The simulated tenants at fleet size: memory and start-up of `python -m sim --tenants DIR` with N fleet tenants
(sim/fleet.py), against `python -m sim` serving the demo tenant alone, each server in its own process.

Measured per server: seconds until it prints its addresses (fixtures loaded and checked), resident memory idle
(VmRSS from /proc), then a poll of every tenant (a token, the device registration policy, the troubleshooting
events: what a multi-tenant poller asks) and resident memory again; the single-tenant baseline answers the same
number of polls for its one tenant. Memory per tenant is (fleet RSS - baseline RSS) / (N - 1).

Run: `python bench/sim_tenants.py [--tenants 500] [--concurrency 16]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.fleet import write_fleet  # noqa: E402
from sim.runner import DEFAULT_FIXTURE, load_tenant, load_tenants  # noqa: E402
from sim.tenant import GRAPH_SCOPE, Tenant  # noqa: E402


@dataclass
class Figures:
    start_s: float
    idle_kb: int
    polled_kb: int
    peak_kb: int
    polls_per_s: float


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


async def start(args: list[str], tls_dir: Path) -> tuple[asyncio.subprocess.Process, str, float]:
    began = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim", *args, "--port", "0", "--tls-dir", str(tls_dir),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    url = ""
    while True:
        line = (await asyncio.wait_for(child.stdout.readline(), timeout=300)).decode()
        if not line:
            raise SystemExit(f"python -m sim {' '.join(args)} exited before it was ready")
        if "Graph:" in line:
            url = line.split()[1].removesuffix("/v1.0")
        if "Control:" in line:
            return child, url, time.perf_counter() - began


async def poll(client: httpx.AsyncClient, url: str, tenant: Tenant) -> None:
    app = next(iter(tenant.apps.values()))
    form = {
        "grant_type": "client_credentials",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "scope": GRAPH_SCOPE,
    }
    issued = await client.post(f"{url}/{tenant.tenant_id}/oauth2/v2.0/token", data=form)
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    for path in ("/v1.0/policies/deviceRegistrationPolicy", "/v1.0/deviceManagement/troubleshootingEvents"):
        answer = await client.get(f"{url}{path}", headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{tenant.tenant_id} {path}: HTTP {answer.status_code} {answer.text[:200]}")


async def measure(args: list[str], polled: list[Tenant], concurrency: int, tls_dir: Path) -> Figures:
    child, url, start_s = await start(args, tls_dir)
    try:
        await asyncio.sleep(0.5)
        idle = rss_kb(child.pid)
        queue: asyncio.Queue[Tenant] = asyncio.Queue()
        for tenant in polled:
            queue.put_nowait(tenant)
        context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        async with httpx.AsyncClient(verify=context, timeout=60) as client:

            async def worker() -> None:
                while not queue.empty():
                    await poll(client, url, queue.get_nowait())

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
        return Figures(start_s, idle, rss_kb(child.pid), rss_kb(child.pid, "VmHWM"), len(polled) / elapsed)
    finally:
        child.terminate()
        await child.wait()


async def main(count: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sim-fleet-") as scratch:
        fleet_dir, tls_dir = Path(scratch) / "fleet", Path(scratch) / "tls"
        write_fleet(count, seed=1, out=fleet_dir)
        fleet = load_tenants(fleet_dir)
        demo = load_tenant(DEFAULT_FIXTURE)
        baseline = await measure(["--tenant", str(DEFAULT_FIXTURE)], [demo] * count, concurrency, tls_dir)
        product = await measure(["--tenants", str(fleet_dir)], fleet, concurrency, tls_dir)
    load = os.getloadavg()
    per_tenant_idle = (product.idle_kb - baseline.idle_kb) / max(1, count - 1)
    per_tenant_polled = (product.polled_kb - baseline.polled_kb) / max(1, count - 1)
    print(f"simulated tenants, {count} fleet tenants vs the demo tenant alone (load {load[0]:.2f} {load[1]:.2f})")
    print(f"{'':28}{'baseline (1 tenant)':>22}{f'{count} tenants':>16}{'ratio':>8}")
    rows = [
        ("start-up, s", baseline.start_s, product.start_s),
        ("RSS idle, MB", baseline.idle_kb / 1024, product.idle_kb / 1024),
        (f"RSS after {count} polls, MB", baseline.polled_kb / 1024, product.polled_kb / 1024),
        ("peak RSS, MB", baseline.peak_kb / 1024, product.peak_kb / 1024),
        ("polls/s (token+2 reads)", baseline.polls_per_s, product.polls_per_s),
    ]
    for name, base, ours in rows:
        print(f"{name:28}{base:>22.2f}{ours:>16.2f}{ours / base:>7.2f}x")
    print(f"memory per tenant: {per_tenant_idle:.0f} KB idle, {per_tenant_polled:.0f} KB after one poll each")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    asyncio.run(main(options.tenants, options.concurrency))
