"""A full diagnosis (bot/doctor.py `read_tenant`) at the tenant sizes users have: latency, round trips, memory.

For each size a tenant is generated (bench/tenants.py) and served by the simulated tenant in its own process;
the measurement runs in a fresh child process of its own, so one size's memory does not carry into the next.
The baseline, measured the same way in the same child, is the least any diagnosis must do: read the policy
and the package account pages with a bare httpx client and parse the JSON. Run: `make bench` or
`python bench/diagnosis.py [--sizes 10,150,1000,5000,20000] [--selected 10,500]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tenants import big_tenant, sim_requests, start_sim_process  # noqa: E402

PORT = 18444


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _baseline(url: str, ca: Path, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca)), headers=headers) as client:
        (await client.get(f"{url}/v1.0/policies/deviceRegistrationPolicy")).json()
        next_url: str | None = (
            f"{url}/v1.0/users?$filter=startswith(userPrincipalName,'package_')"
            "&$select=id,userPrincipalName,displayName,accountEnabled,createdDateTime&$top=999"
        )
        while next_url:
            body = (await client.get(next_url)).json()
            next_url = body.get("@odata.nextLink")


async def measure_one(url: str, ca: Path, tenant_file: Path, runs: int) -> dict:
    """In the child process: time `runs` diagnoses after one warm-up, and as many bare baselines."""
    from bot.clock import SystemClock
    from bot.demo import graph_env
    from bot.doctor import read_tenant
    from bot.graph import MsGraphGateway
    from bot.settings import load_settings

    tenant = json.loads(await asyncio.to_thread(tenant_file.read_text))
    app = tenant["apps"][0]
    env = {**graph_env(url, ca, tenant["tenantId"], app["clientId"], app["clientSecret"]), "DATABASE_URL": "sqlite://"}
    settings = load_settings(env, dotenv=None)
    clock = SystemClock()
    graph = MsGraphGateway(settings.graph, clock)
    del tenant
    rss_start = _rss_mib("VmRSS")
    token = await graph.token()
    await read_tenant(graph, clock)  # warm-up: connections, token
    product, baseline, trips = [], [], []
    reading = None
    for _ in range(runs):
        await sim_requests(url, ca, clear=True)
        started = time.perf_counter()
        reading = await read_tenant(graph, clock)
        product.append(time.perf_counter() - started)
        trips.append(len([r for r in await sim_requests(url, ca) if r["route"] != "token" and not r["batch"]]))
        started = time.perf_counter()
        await _baseline(url, ca, token)
        baseline.append(time.perf_counter() - started)
    await graph.close()
    assert reading is not None
    d = reading.diagnosis
    return {
        "p50": statistics.median(product),
        "p90": sorted(product)[int(0.9 * (len(product) - 1))],
        "baseline_p50": statistics.median(baseline),
        "round_trips": max(trips),
        "rss_growth_mib": _rss_mib("VmHWM") - rss_start,
        "accounts": len(d.accounts),
        "uncovered": len(d.uncovered),
    }


async def run_size(accounts: int, selected: int, runs: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-diagnosis-"))
    fixture = work / "tenant.json"
    fixture.write_text(json.dumps(big_tenant(accounts, selected)))
    child = await start_sim_process(fixture, PORT, work / "tls")
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                __file__,
                "--one",
                f"https://127.0.0.1:{PORT}",
                str(work / "tls" / "ca.pem"),
                str(fixture),
                str(runs),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    finally:
        child.terminate()
        await child.wait()
    if result.returncode != 0:
        raise SystemExit(f"measurement failed at {accounts} accounts:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


async def main(sizes: list[int], selected: list[int], runs: int) -> None:
    print("Full diagnosis (read_tenant) against the simulated tenant in its own process; each size measured in a")
    print("fresh process. Baseline: the policy and the package account pages with bare httpx + JSON parsing.")
    columns = ("accounts", "selected", "p50 s", "p90 s", "base s", "ratio", "trips", "+MiB")
    print(" ".join(f"{c:>8}" if i < 2 else f"{c:>7}" if i < 5 else f"{c:>6}" for i, c in enumerate(columns)))
    for size in sizes:
        for sel in selected:
            r = await run_size(size, sel, runs if size < 5000 else max(3, runs // 2))
            ratio = r["p50"] / r["baseline_p50"] if r["baseline_p50"] else float("nan")
            print(
                f"{size:>8} {sel:>8} {r['p50']:>7.3f} {r['p90']:>7.3f} {r['baseline_p50']:>7.3f} {ratio:>6.2f} "
                f"{r['round_trips']:>6} {r['rss_growth_mib']:>6.1f}",
                flush=True,
            )
    print("ratio: product p50 / baseline p50 (lower is better; 1.0 = no more than reading the accounts)")
    print("trips: Graph round trips of one diagnosis ($batch counts once); +MiB: peak resident growth")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        url, ca, fixture, runs = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(asyncio.run(measure_one(url, ca, fixture, runs))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,150,1000,5000,20000")
    parser.add_argument("--selected", default="10,500")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], [int(s) for s in args.selected.split(",")], args.runs))
