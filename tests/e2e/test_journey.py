"""The whole journey in the real client: `python -m bot.demo` with the Agents Playground, in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from sim.spike import spike_events

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
PACKAGE_ACCOUNTS = {"c0a80001-5a1e-4b7c-8d9e-000000000101", "c0a80001-5a1e-4b7c-8d9e-000000000102"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until_up(url: str, seconds: float = 60) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 5)):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
async def demo(tmp_path: Path):
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is required: `make test` installs Debian's chromium package"
    assert (ROOT / "node_modules" / "playwright-core").is_dir(), "run npm ci (make test does)"
    ports = {"bot": free_port(), "graph": free_port(), "playground": free_port(), "approver": free_port()}
    workdir = tmp_path / "demo"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.demo",
        "--port",
        str(ports["bot"]),
        "--graph-port",
        str(ports["graph"]),
        "--playground-port",
        str(ports["playground"]),
        "--approver-playground-port",
        str(ports["approver"]),
        "--workdir",
        str(workdir),
        cwd=ROOT,
        stdout=(tmp_path / "demo.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{ports['playground']}/_debug/ping")
        await wait_until_up(f"http://127.0.0.1:{ports['approver']}/_debug/ping")
        await wait_until_up(f"http://127.0.0.1:{ports['bot']}/healthz")
        yield {"ports": ports, "workdir": workdir, "chromium": chromium, "log": tmp_path / "demo.out"}
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C stops all of it cleanly
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
    assert process.returncode == 0, (tmp_path / "demo.out").read_text()[-3000:]


async def test_the_whole_journey_in_the_agents_playground(demo, tmp_path: Path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ca = demo["workdir"] / "tls" / "ca.pem"
    sim_url = f"https://127.0.0.1:{demo['ports']['graph']}"
    spike = tmp_path / "spike.json"
    spike.write_text(json.dumps(spike_events(15, datetime.now(UTC))))
    env = {
        **os.environ,
        "PLAYGROUND_URL": f"http://127.0.0.1:{demo['ports']['playground']}",
        "APPROVER_PLAYGROUND_URL": f"http://127.0.0.1:{demo['ports']['approver']}",
        "SIM_URL": sim_url,
        "NODE_EXTRA_CA_CERTS": str(ca),
        "OUT_DIR": str(ARTIFACTS),
        "SPIKE_FILE": str(spike),
        "CHROMIUM": demo["chromium"],
    }
    node = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "e2e" / "journey.mjs"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(node.communicate(), 240)
    assert node.returncode == 0, stderr.decode()[-3000:] + demo["log"].read_text()[-3000:]
    results = json.loads(stdout)

    assert results["windows"] == ["Adele Vance", "Megan Bowen"]  # two people, each in their own window
    assert results["steps"] == [
        "settings card",
        "join permissions card",
        "verify card",
        "approval requested",
        "approval card in the channel",
        "approved and applied",  # by Megan clicking Approve in her window
        "expiry warning",
        "requester sees the outcome",
        "spike alert",
        "taken",
        "diagnosis in a reply",
        "window ended",  # Megan ends the 5-minute window: both windows say so, every copy of the request
    ]
    assert results["windowOnApprovalCard"] is True and results["windowRuns"] is True  # chosen on the card
    assert results["requesterTold"] is True
    assert results["spikeStatus"] == 200
    assert results["alerts"] == 1  # exactly one alert, even after more polls
    assert results["diagnosisReplied"] is True and results["alertStillShown"] is True
    # At phone width (360 px) nothing on any card sticks out past the screen.
    assert results["ended"] == {
        "requesterTold": True,
        "approversTold": True,
        "askToExtendLeft": 0,
        "stillApplyingWords": 0,
        "approveTitleLeft": 0,
        "extendLeft": 0,
    }
    assert len(results["phone"]) == 11
    assert {name: wide for name, wide in results["phone"].items() if wide} == {}
    # The join permissions card, with its two inputs and its buttons, fits in well under three phone screens.
    assert results["heights"]["02-join-permissions"] < 850, results["heights"]

    # 4. The policy in the simulated tenant covered the package accounts, and no longer does: the window ended.
    context = ssl.create_default_context(cafile=str(ca))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        async with session.get(f"{sim_url}/_sim/state") as response:
            state = await response.json()
    allowed = state["deviceRegistrationPolicy"]["azureADJoin"]["allowedToJoin"]
    assert not PACKAGE_ACCOUNTS & set(allowed["users"])  # applied, then removed when the window was ended
    for name in (
        "01-device-settings",
        "02-join-permissions",
        "03-verify",
        "04-request-waiting",
        "05-approval-card-in-channel",
        "06-applied-in-channel",
        "07-requester-outcome",
        "08-spike-alert",
        "09-alert-taken",
        "10-expiry-warning",
        "11-window-ended",
    ):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, name
        assert (ARTIFACTS / f"{name}-phone.png").stat().st_size > 5_000, name
