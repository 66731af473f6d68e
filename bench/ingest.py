"""Ingest 100,000 troubleshooting events through Graph paging: events per second and peak memory.

The simulated tenant runs in a child process (so its CPU and memory are not counted here). The baseline, run
in this same script and interleaved with the product, fetches the same pages (same page size) with a bare
HTTP client and only parses the JSON; the product's run is a first poll on a fresh database: it goes through
msgraph-sdk's pipeline, keeps the bulk enrollment failures, de-duplicates against the high-water mark,
counts them into the spike detector and persists the state. Both are timed without tracemalloc, and both
have their peak memory taken under it in one more run. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tenants import start_sim_process  # noqa: E402
from bot.alerts import AlertService  # noqa: E402
from bot.approvals import ApprovalService  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.demo import graph_env  # noqa: E402
from bot.graph import EVENTS_PAGE_SIZE, MsGraphGateway  # noqa: E402
from bot.proactive import Background, Messenger  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.storage import open_storage  # noqa: E402
from sim.runner import DEFAULT_FIXTURE  # noqa: E402

TYPES = ["windowsBulkAzureDomainJoin", "windowsAutoEnrollment", "windowsBulkUserless", "windowsAzureADJoin"]
CATEGORIES = ["authorization", "authentication", "enrollmentRestrictionsEnforced", "userValidation"]


def write_fixture(path: Path, count: int) -> None:
    data = json.loads(DEFAULT_FIXTURE.read_text())
    start = datetime.now(UTC) - timedelta(days=7)
    data["troubleshootingEvents"] = [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "eventDateTime": (start + timedelta(seconds=6 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "correlationId": f"10000000-0000-4000-8000-{i:012d}",
            "managedDeviceIdentifier": "",
            "operatingSystem": "Windows",
            "osVersion": "10.0.22631.4460",
            "userId": "c0a80001-5a1e-4b7c-8d9e-000000000101",
            "deviceId": "",
            "enrollmentType": TYPES[i % len(TYPES)],
            "failureCategory": CATEGORIES[i % len(CATEGORIES)],
            "failureReason": "The user is not authorized to join devices to Microsoft Entra ID (0x801c0003).",
        }
        for i in range(count)
    ]
    path.write_text(json.dumps(data))


async def baseline(base: str, ca_pem: Path, token: str) -> int:
    """The least an ingest must do: fetch every page (at the product's page size) and parse the JSON."""
    seen = 0
    verify = ssl.create_default_context(cafile=str(ca_pem))
    async with httpx.AsyncClient(verify=verify, headers={"Authorization": f"Bearer {token}"}) as client:
        url: str | None = f"{base}/v1.0/deviceManagement/troubleshootingEvents?$top={EVENTS_PAGE_SIZE}"
        while url:
            body = (await client.get(url)).json()
            seen += len(body["value"])
            url = body.get("@odata.nextLink")
    return seen


async def product(settings, graph, work: Path, run: int) -> int:
    """A first poll (nothing seen yet, so every event is considered) on a fresh database."""
    clock = SystemClock()
    storage = await open_storage(f"sqlite:///{work / f'bench-{run}.db'}")
    messenger = Messenger(None, "", clock)  # type: ignore[arg-type]
    approvals = ApprovalService(settings, graph, storage, clock, messenger, Background())
    alerts = AlertService(settings, graph, storage, clock, messenger, approvals)
    try:
        await alerts.poll_once()
    finally:
        await storage.close()
    return alerts.last_ingested


async def timed(work) -> tuple[float, int]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def peak(work) -> tuple[float, int]:
    tracemalloc.start()
    try:
        result = await work()
        return tracemalloc.get_traced_memory()[1] / 1024 / 1024, result
    finally:
        tracemalloc.stop()


async def main(count: int, runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    fixture = work / "tenant.json"
    write_fixture(fixture, count)
    port = 18443
    child = await start_sim_process(fixture, port, work / "tls")
    try:
        url = f"https://127.0.0.1:{port}"
        tenant = json.loads(fixture.read_text())
        app = tenant["apps"][0]
        ca_pem = work / "tls" / "ca.pem"
        env = {**graph_env(url, ca_pem, tenant["tenantId"], app["clientId"], app["clientSecret"])}
        settings = load_settings(env, dotenv=None)
        graph = MsGraphGateway(settings.graph, SystemClock())
        token = await graph.token()
        base_times, product_times = [], []
        counted = 0
        for run in range(runs):  # interleaved, so drift on the machine hits both alike
            seconds, seen = await timed(lambda: baseline(url, ca_pem, token))
            assert seen == count
            base_times.append(seconds)
            seconds, counted = await timed(lambda r=run: product(settings, graph, work, r))
            product_times.append(seconds)
        base_peak, _ = await peak(lambda: baseline(url, ca_pem, token))
        product_peak, _ = await peak(lambda: product(settings, graph, work, runs))
        await graph.close()
    finally:
        child.terminate()
        await child.wait()
    pages = -(-count // EVENTS_PAGE_SIZE)
    b, p = statistics.median(base_times), statistics.median(product_times)
    print(f"{count} events in {pages} pages of {EVENTS_PAGE_SIZE}, the simulated tenant in its own process;")
    print(f"median of {runs} interleaved runs each; memory measured in one more run of each under tracemalloc")
    print(f"{'run':<52}{'events/s':>10}{'seconds':>9}{'peak MiB':>10}")
    print(f"{'baseline: fetch + parse JSON only (httpx)':<52}{count / b:>10.0f}{b:>9.2f}{base_peak:>10.1f}")
    label = "ingest: msgraph-sdk + filter + dedupe + detector + DB"
    print(f"{label:<52}{count / p:>10.0f}{p:>9.2f}{product_peak:>10.1f}")
    print(f"ratio ingest/baseline (throughput): {b / p:.2f}")
    print(f"new bulk enrollment failures counted: {counted} (the other events are other enrollment types)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.runs))
