"""Ingest 100,000 troubleshooting events through Graph paging: events per second and peak memory.

The simulated tenant runs in a child process (so its memory is not counted here). The baseline, run in this
same script, fetches the same pages with a bare HTTP client and only parses the JSON; the product's run goes
through msgraph-sdk, keeps the bulk enrollment failures, de-duplicates against the high-water mark, counts
them into the spike detector and persists the state. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.alerts import AlertService  # noqa: E402
from bot.approvals import ApprovalService  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.demo import graph_env  # noqa: E402
from bot.graph import MsGraphGateway  # noqa: E402
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


async def wait_for(url: str, ca: Path) -> None:
    for _ in range(300):
        if await asyncio.to_thread(ca.exists):
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca))) as client:
                try:
                    await client.get(f"{url}/_sim/state")
                    return
                except httpx.HTTPError:
                    pass
        await asyncio.sleep(0.1)
    raise SystemExit("the simulated tenant did not start")


async def baseline(base: str, ca_pem: Path, token: str) -> tuple[int, float]:
    seen = 0
    started = time.perf_counter()
    verify = ssl.create_default_context(cafile=str(ca_pem))
    async with httpx.AsyncClient(verify=verify, headers={"Authorization": f"Bearer {token}"}) as client:
        url: str | None = f"{base}/v1.0/deviceManagement/troubleshootingEvents"
        while url:
            body = (await client.get(url)).json()
            seen += len(body["value"])
            url = body.get("@odata.nextLink")
    return seen, time.perf_counter() - started


async def main(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    fixture = work / "tenant.json"
    write_fixture(fixture, count)
    port = 18443
    child = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "sim", "--port", str(port), "--tenant", str(fixture), "--tls-dir", str(work / "tls")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"https://127.0.0.1:{port}"
        await wait_for(url, work / "tls" / "ca.pem")
        tenant = json.loads(fixture.read_text())
        app = tenant["apps"][0]
        ca_pem = work / "tls" / "ca.pem"
        env = {
            **graph_env(url, ca_pem, tenant["tenantId"], app["clientId"], app["clientSecret"]),
            "DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        }
        settings = load_settings(env, dotenv=None)
        clock = SystemClock()
        graph = MsGraphGateway(settings.graph, clock)
        storage = await open_storage(settings.database_url)
        token = await graph.token()
        raw_count, raw_seconds = await baseline(url, ca_pem, token)

        messenger = Messenger(None, "", clock)  # type: ignore[arg-type]
        approvals = ApprovalService(settings, graph, storage, clock, messenger, Background())
        alerts = AlertService(settings, graph, storage, clock, messenger, approvals)
        tracemalloc.start()
        started = time.perf_counter()
        await alerts.poll_once()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        counted = alerts.last_ingested
        await graph.close()
        await storage.close()
    finally:
        child.terminate()
        await child.wait()
    pages = -(-count // 50)
    print(f"{count} events in {pages} pages of 50 (the simulated tenant in a child process)")
    print(f"{'run':<46}{'events/s':>10}{'seconds':>9}")
    print(f"{'baseline: fetch + parse JSON only (httpx)':<46}{raw_count / raw_seconds:>10.0f}{raw_seconds:>9.2f}")
    print(f"{'ingest: msgraph-sdk + filter + dedupe + detector':<46}{count / seconds:>10.0f}{seconds:>9.2f}")
    print(f"ratio ingest/baseline: {raw_seconds / seconds:.2f}")
    print(f"peak Python memory during ingest: {peak / 1024 / 1024:.1f} MiB (tracemalloc)")
    print(f"new bulk enrollment failures counted: {counted} (the other events are other enrollment types)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().events))
