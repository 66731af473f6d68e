"""Turns per second and latency through /api/messages: Enrollment Doctor against a stock botbuilder echo bot.

Everything runs in this one process on loopback (the bots, a recording connector for their replies, the
simulated tenant), so the figures are comparable with each other, not absolute. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from bot.demo import sim_graph_env  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from sim.runner import load_tenant, start_sim  # noqa: E402
from tests.support.activities import message  # noqa: E402
from tests.support.connector import RecordingConnector  # noqa: E402


class _EchoConfig:
    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"Echo: {turn_context.activity.text}")


def stock_echo_app() -> web.Application:
    """The botbuilder sample wiring, unchanged: CloudAdapter.process on /api/messages."""
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_EchoConfig()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


async def measure(session: aiohttp.ClientSession, url: str, body: dict, turns: int, in_flight: int) -> dict:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(turns):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            start = time.perf_counter()
            async with session.post(f"{url}/api/messages", json=body) as response:
                await response.read()
                assert response.status in (200, 201), response.status
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "tps": turns / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


async def main(turns: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    connector = RecordingConnector()
    connector_runner, connector.url = await serve(connector.app())
    sim = await start_sim(load_tenant(), work / "tls")
    settings = load_settings({**sim_graph_env(sim), "DATABASE_URL": f"sqlite:///{work / 'bench.db'}"}, dotenv=None)
    ours_runner, ours = await serve(create_app(settings))
    echo_runner, echo = await serve(stock_echo_app())
    # Recognised as chatter: the turn runs the recognizer and answers with a card, without Graph.
    recognition = message(connector.url, "what's for lunch today?")
    diagnosis = message(connector.url, "A setup failure has occurred during bulk enrollment.")
    echo_body = message(connector.url, "hello")
    echo_body["conversation"].pop("tenantId")
    echo_body.pop("channelData")

    rows = []
    async with aiohttp.ClientSession() as session:
        for body, url in ((echo_body, echo), (recognition, ours), (diagnosis, ours)):  # warm up
            await measure(session, url, body, 20, 1)
        for in_flight in (1, 32):
            base = await measure(session, echo, echo_body, turns, in_flight)
            rec = await measure(session, ours, recognition, turns, in_flight)
            rows.append((in_flight, "stock echo bot (baseline)", base, base))
            rows.append((in_flight, "recognition turn (card reply)", rec, base))
        diag = await measure(session, ours, diagnosis, max(20, turns // 10), 1)
        base1 = rows[0][2]
        rows.append((1, "full diagnosis turn (5 Graph calls)", diag, base1))

    print(f"{'in flight':>9}  {'turn':<38}{'turns/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x echo':>9}")
    for in_flight, name, figures, base in rows:
        ratio = figures["tps"] / base["tps"]
        print(
            f"{in_flight:>9}  {name:<38}{figures['tps']:>9.1f}{figures['p50']:>9.2f}{figures['p99']:>9.2f}{ratio:>9.2f}"
        )
    for runner in (ours_runner, echo_runner, connector_runner):
        await runner.cleanup()
    await sim.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=400)
    asyncio.run(main(parser.parse_args().turns))
