"""A failure wave in one tenant: many technicians paste the error at once, each pasting again as soon as their
diagnosis is finished. Finished step-1 cards per second, against the stock echo bot turning the same load
around, with and without the shared reading of the tenant (bot/doctor.py TenantReadings).

Every server runs in its own process (the echo bot, Enrollment Doctor with the shared reading, Enrollment Doctor
reading alone per diagnosis, the simulated tenant); this driver holds the Bot Connector they all answer to.
Each technician is a closed loop in a conversation of its own per paste: POST the paste, wait for the first
answer (the echo's text; our "Checking your tenant..." card), then for the finished step-1 card (our update of that
card; for the echo bot its answer is the end), then paste again. Measured the same way, one after the other, in
interleaved rounds, for the same number of seconds each.

Run: `make bench` or `python bench/wave.py [--technicians 16] [--seconds 8] [--accounts 0] [--rounds 3]`
(--accounts 0: the demo tenant as it is; N: a tenant of N package accounts, bench/tenants.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tenants import big_tenant, sim_requests, start_sim_process  # noqa: E402
from bench.turns import wait_up  # noqa: E402
from sim.runner import DEFAULT_FIXTURE  # noqa: E402
from tests.support.activities import message  # noqa: E402

PASTE = "A setup failure has occurred during bulk enrollment. 0x801c0003 on LAB-PC-014"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (every thread of it), from /proc: robust to load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WaveConnector:
    """The Bot Connector every bot answers to; many turns in flight, told apart by their conversation."""

    def __init__(self) -> None:
        self.first: dict[str, asyncio.Future[float]] = {}
        self.finished: dict[str, asyncio.Future[float]] = {}
        self.url = ""
        self._ids = itertools.count()

    def expect(self, conversation: str) -> tuple[asyncio.Future[float], asyncio.Future[float]]:
        loop = asyncio.get_running_loop()
        self.first[conversation] = loop.create_future()
        self.finished[conversation] = loop.create_future()
        return self.first[conversation], self.finished[conversation]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        return app

    @staticmethod
    def _done(futures: dict[str, asyncio.Future[float]], conversation: str) -> None:
        future = futures.get(conversation)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def _send(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())  # the driver parses fast, so that it measures the servers
        if body.get("type") == "message":
            self._done(self.first, request.match_info["cid"])
        return web.json_response({"id": f"sent-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        fallback = str(((body.get("attachments") or [{}])[0].get("content") or {}).get("fallbackText", ""))
        if fallback.startswith("Device settings"):  # the finished step-1 card, not an error card
            self._done(self.finished, request.match_info["cid"])
        return web.json_response({"id": request.match_info["aid"]})


async def wave(
    session: aiohttp.ClientSession,
    connector: WaveConnector,
    url: str,
    technicians: int,
    seconds: float,
    *,
    echo: bool,
    pid: int | None = None,
    sim_pid: int | None = None,
) -> dict[str, float]:
    ids = itertools.count()
    first_ms: list[float] = []
    finished_ms: list[float] = []
    deadline = time.perf_counter() + seconds

    async def technician(who: int) -> None:
        while time.perf_counter() < deadline:
            body = message(connector.url, PASTE, user=f"tech-{who}")
            conversation = f"wave-{who}-{next(ids)}"
            body["conversation"]["id"] = conversation
            first, finished = connector.expect(conversation)
            started = time.perf_counter()
            async with session.post(f"{url}/api/messages", json=body) as response:
                await response.read()
                assert response.status in (200, 201), response.status
            first_at = await asyncio.wait_for(first, 60)
            first_ms.append((first_at - started) * 1000)
            done_at = first_at if echo else await asyncio.wait_for(finished, 60)
            finished_ms.append((done_at - started) * 1000)
            connector.first.pop(conversation, None)
            connector.finished.pop(conversation, None)

    cpu_before = cpu_seconds(pid) if pid else 0.0
    sim_before = cpu_seconds(sim_pid) if sim_pid else 0.0
    driver_before = cpu_seconds(os.getpid())
    started = time.perf_counter()
    await asyncio.gather(*(technician(n) for n in range(technicians)))
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # the last diagnoses' tails end (inside the CPU figure) before the next row
    cpu = (cpu_seconds(pid) if pid else 0.0) - cpu_before
    sim_cpu = (cpu_seconds(sim_pid) if sim_pid else 0.0) - sim_before
    driver_cpu = cpu_seconds(os.getpid()) - driver_before

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return {
        "per_s": len(finished_ms) / elapsed,
        "first_p50": statistics.median(first_ms),
        "first_p95": pct(first_ms, 0.95),
        "done_p50": statistics.median(finished_ms),
        "done_p95": pct(finished_ms, 0.95),
        "cpu_ms": cpu * 1000 / max(1, len(finished_ms)),
        "sim_ms": sim_cpu * 1000 / max(1, len(finished_ms)),
        "driver_ms": driver_cpu * 1000 / max(1, len(finished_ms)),
    }


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main(technicians: int, seconds: float, accounts: int, rounds: int) -> None:
    started_load = load()
    work = Path(tempfile.mkdtemp(prefix="bench-wave-"))
    fixture = work / "tenant.json"
    data = big_tenant(accounts, 10) if accounts else json.loads(DEFAULT_FIXTURE.read_text())
    fixture.write_text(json.dumps(data))
    sim_port = free_port()
    sim = await start_sim_process(fixture, sim_port, work / "tls")
    sim_url = f"https://127.0.0.1:{sim_port}"
    ca = work / "tls" / "ca.pem"
    connector = WaveConnector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    connector.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    turns = str(ROOT / "bench" / "turns.py")
    servers = {
        "stock echo bot (baseline)": ("--serve-echo", {}),
        "doctor, shared reading": ("--serve-doctor", {}),
        "doctor, each diagnosis reads alone": ("--serve-doctor", {"TENANT_READING_SHARED": "false"}),
    }
    urls: dict[str, str] = {}
    pids: dict[str, int] = {}
    children = []
    for index, (name, (mode, variant)) in enumerate(servers.items()):
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_BOT_ENV": json.dumps(variant)}
        args = [mode, str(port)]
        if mode == "--serve-doctor":
            args += [sim_url, str(work / "tls" / "ca.pem"), str(fixture), str(work / f"bot-{index}.db")]
        children.append(await asyncio.create_subprocess_exec(sys.executable, turns, *args, env=env, cwd=ROOT))
        urls[name] = f"http://127.0.0.1:{port}"
        pids[name] = children[-1].pid
    results: dict[str, list[dict[str, float]]] = {}
    reads: dict[str, int] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for name, url in urls.items():
                await wait_up(session, url)
                await wave(session, connector, url, technicians, 1.0, echo="echo" in name)  # warm up
            for _ in range(rounds):  # interleaved rounds: drift on the machine hits every row alike
                for name, url in urls.items():
                    await sim_requests(sim_url, ca, clear=True)
                    figures = await wave(
                        session,
                        connector,
                        url,
                        technicians,
                        seconds,
                        echo="echo" in name,
                        pid=pids[name],
                        sim_pid=sim.pid,
                    )
                    logged = await sim_requests(sim_url, ca)
                    await sim_requests(sim_url, ca, clear=True)
                    reads[name] = reads.get(name, 0) + sum(1 for e in logged if e.get("route") == "policy.get")
                    results.setdefault(name, []).append(figures)
    finally:
        for child in children:
            child.terminate()
            await child.wait()
        sim.terminate()
        await sim.wait()
        await runner.cleanup()
    rows = {name: sorted(runs, key=lambda r: r["per_s"])[len(runs) // 2] for name, runs in results.items()}
    echo, shared, alone = "stock echo bot (baseline)", "doctor, shared reading", "doctor, each diagnosis reads alone"
    base = rows[echo]["per_s"]
    unshared = rows[alone]["per_s"]
    size = f"{accounts} package accounts" if accounts else "the demo tenant"
    print(f"A failure wave in {size}: {technicians} technicians pasting at once, each again as soon as their")
    print(f"diagnosis is finished, {seconds:g} s a round; each server in its own process; median of {rounds}")
    print("interleaved rounds. done/s: finished step-1 cards a second (for the echo bot: its answers a second).")
    print(f"{started_load} at the start, {load()} at the end (2 cores).")
    header = f"{'server':<36}{'done/s':>7}{'first p50':>10}{'first p95':>10}{'done p50':>9}{'done p95':>9}"
    print(header + f"{'x echo':>7}{'x alone':>8}{'reads':>6}{'cpu ms':>7}{'sim ms':>7}{'drv ms':>7}")
    for name, r in rows.items():
        print(
            f"{name:<36}{r['per_s']:>7.1f}{r['first_p50']:>10.1f}{r['first_p95']:>10.1f}{r['done_p50']:>9.1f}"
            f"{r['done_p95']:>9.1f}{r['per_s'] / base:>7.2f}{r['per_s'] / unshared:>8.2f}{reads.get(name, 0):>6}"
            f"{r['cpu_ms']:>7.2f}{r['sim_ms']:>7.2f}{r['driver_ms']:>7.2f}"
        )
    print(f"times in ms from the POST; reads: policy reads the tenant saw over the {rounds} rounds; cpu ms: the")
    print("server process's CPU time (user + system, all its threads) per finished turn; sim ms: the simulated")
    print("tenant's; drv ms: this driver's (the technicians and the Bot Connector). Each round's ratios to the")
    print("echo bot (done/s, and the echo's CPU per turn over ours):")
    for index in range(rounds):
        e, d, a = (results[name][index] for name in (echo, shared, alone))
        print(
            f"  round {index + 1}: shared {d['per_s'] / e['per_s']:.2f}x  alone {a['per_s'] / e['per_s']:.2f}x"
            f"   by CPU: shared {e['cpu_ms'] / d['cpu_ms']:.2f}x  alone {e['cpu_ms'] / a['cpu_ms']:.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--technicians", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--accounts", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.technicians, options.seconds, options.accounts, options.rounds))
