"""Turns per second through /api/messages: Enrollment Doctor against a stock botbuilder echo bot, as users see it.

Every server runs in its own process: the stock echo bot, Enrollment Doctor, and the simulated tenant; this
driver process holds the recording Bot Connector the bots reply to, and times each turn from the POST to the
moment the bot's first answer reaches that connector (the echo's text, our first card). Measured, one
after the other in the same run and the same way:

- the echo bot (the baseline), turning "hello" around;
- chatter ("thanks!"), which needs no Graph read;
- the pasted error, whose first answer is the "checking" card (what was recognised) sent before any Graph
  read; the diagnosis then runs in the background and updates that card. Reported twice: with each
  diagnosis finished before the next paste (the answer a person waits for), and sustained (the next paste
  as soon as the first card is back, so diagnoses pile up behind it: the bot's real capacity);
- the full diagnosis, from the POST to the updated step-1 card.

Run: `make bench` or `python bench/turns.py [--turns N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tenants import start_sim_process  # noqa: E402
from tests.support.activities import message  # noqa: E402

SIM_PORT = 18445
TURN_IDS = itertools.count()


# ---- the servers, each started in a process of its own -------------------------------------------
def serve_echo(port: int) -> None:
    """The botbuilder sample wiring, unchanged: CloudAdapter.process on /api/messages."""
    from botbuilder.core import ActivityHandler, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    class Config:
        APP_ID = ""
        APP_PASSWORD = ""
        APP_TYPE = "MultiTenant"

    class EchoBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(f"Echo: {turn_context.activity.text}")

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Config()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: None)


def serve_doctor(port: int, sim_url: str, ca: str, tenant_file: str, database: str) -> None:
    import logging

    from app import create_app
    from bot.demo import graph_env
    from bot.settings import load_settings

    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))
    tenant = json.loads(Path(tenant_file).read_text())
    app = tenant["apps"][0]
    env = {
        **graph_env(sim_url, Path(ca), tenant["tenantId"], app["clientId"], app["clientSecret"]),
        "DATABASE_URL": f"sqlite:///{database}",
        "ALERTS_ENABLED": "false",
        **json.loads(os.environ.get("BENCH_BOT_ENV", "{}")),  # a variant's own settings (bench/wave.py)
    }
    web.run_app(
        create_app(load_settings(env, dotenv=None)),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=lambda *_: None,
    )


# ---- the driver ---------------------------------------------------------------------------------------
class Connector:
    """The Bot Connector both bots answer to. One turn is in flight at a time, so the next message sent is
    that turn's answer; each sent card's later update (the finished diagnosis) is noted by its activity id."""

    def __init__(self) -> None:
        self.first: asyncio.Future[tuple[float, str]] | None = None
        self.updated: dict[str, asyncio.Future[float]] = {}
        self.url = ""
        self._ids = itertools.count()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        sent_id = f"sent-{next(self._ids)}"
        if body.get("type") == "message":
            self.updated[sent_id] = asyncio.get_running_loop().create_future()
            if self.first is not None and not self.first.done():
                self.first.set_result((time.perf_counter(), sent_id))
        return web.json_response({"id": sent_id})

    async def _update(self, request: web.Request) -> web.Response:
        await request.read()
        future = self.updated.get(request.match_info["aid"])
        if future is not None and not future.done():
            future.set_result(time.perf_counter())
        return web.json_response({"id": request.match_info["aid"]})


async def wait_up(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(300):
        with contextlib.suppress(aiohttp.ClientError):
            async with session.post(f"{url}/api/messages", data=b"{}", headers={"Content-Type": "application/json"}):
                return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not start")


async def one_turn(
    session: aiohttp.ClientSession, connector: Connector, url: str, body: dict, *, until_update: bool
) -> tuple[float, str]:
    """One turn: (seconds from the POST to the first answer, or to its update; the answer's activity id)."""
    connector.first = asyncio.get_running_loop().create_future()
    started = time.perf_counter()
    async with session.post(f"{url}/api/messages", json=body) as response:
        await response.read()
        assert response.status in (200, 201), response.status
    arrived, sent_id = await asyncio.wait_for(connector.first, 60)
    if until_update:
        arrived = await asyncio.wait_for(connector.updated[sent_id], 60)
    return arrived - started, sent_id


async def run(
    session: aiohttp.ClientSession,
    connector: Connector,
    url: str,
    text: str,
    turns: int,
    *,
    until_update: bool = False,
    settle: bool = False,
    pause: bool = False,
    each_own_conversation: bool = False,
) -> dict[str, float]:
    """`turns` turns one after the other (1 in flight), in one conversation as a person would paste, or each
    in a conversation of its own (many people; Teams' 7 messages a second per conversation, which the bot
    keeps to, then does not apply). With `settle`, each diagnosis's card update is waited for (untimed)
    before the next turn starts; with `pause` (implied by `settle`), 5 ms pass between turns, untimed, so
    that rows measured with and without a diagnosis behind them are paced alike."""
    body = message(connector.url, text)
    body["conversation"]["id"] = f"bench-{next(TURN_IDS)}"
    latencies = []
    busy = 0.0
    started = time.perf_counter()
    for _ in range(turns):
        if each_own_conversation:
            body["conversation"]["id"] = f"bench-{next(TURN_IDS)}"
        seconds, sent_id = await one_turn(session, connector, url, body, until_update=until_update)
        latencies.append(seconds)
        if settle or pause:
            wait_from = time.perf_counter()
            if settle:
                await asyncio.wait_for(connector.updated[sent_id], 60)
            await asyncio.sleep(0.005)  # and the tail of that work (the update's own answer) ends too
            busy += time.perf_counter() - wait_from
        connector.updated.pop(sent_id, None)
    elapsed = time.perf_counter() - started - busy
    latencies.sort()
    return {
        "tps": turns / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


async def main(turns: int) -> None:
    from bench.tenants import big_tenant

    work = Path(tempfile.mkdtemp(prefix="bench-turns-"))
    fixture = work / "tenant.json"
    fixture.write_text(json.dumps(big_tenant(150, 10)))
    sim = await start_sim_process(fixture, SIM_PORT, work / "tls")
    connector = Connector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    connector.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    echo_port, ours_port = 18501, 18502
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    doctor_args = [f"https://127.0.0.1:{SIM_PORT}", str(work / "tls" / "ca.pem"), str(fixture), str(work / "bot.db")]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-echo", str(echo_port), env=env, cwd=ROOT
        ),
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-doctor", str(ours_port), *doctor_args, env=env, cwd=ROOT
        ),
    ]
    echo, ours = f"http://127.0.0.1:{echo_port}", f"http://127.0.0.1:{ours_port}"
    paste = "A setup failure has occurred during bulk enrollment. 0x801c0003 on LAB-PC-014"
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_up(session, echo)
            await wait_up(session, ours)
            for url, text, settle in ((echo, "hello", False), (ours, "thanks!", False), (ours, paste, True)):
                await run(session, connector, url, text, 20, settle=settle)  # warm up
            results: dict[str, list[dict[str, float]]] = {}
            plan = [
                ("stock echo bot (baseline)", echo, "hello", {"pause": True}),
                ("chatter: 'thanks!'", ours, "thanks!", {"pause": True}),
                ("pasted error -> first card", ours, paste, {"settle": True}),
                ("pasted error -> first card, sustained*", ours, paste, {"each_own_conversation": True}),
            ]
            for _ in range(3):  # interleaved rounds, so drift on the machine hits every row alike
                for name, url, text, options in plan:
                    results.setdefault(name, []).append(
                        await run(session, connector, url, text, turns, **options)  # type: ignore[arg-type]
                    )
                await asyncio.sleep(1)  # let the sustained run's diagnoses drain
            for name, _, _, _ in plan:
                runs = sorted(results[name], key=lambda r: r["tps"])
                rows.append((name, runs[len(runs) // 2]))
            await asyncio.sleep(2)
            full = await run(
                session, connector, ours, paste, max(20, turns // 5), until_update=True, each_own_conversation=True
            )
            rows.append(("pasted error -> diagnosis card (150 accounts)*", full))
    finally:
        for child in children:
            child.terminate()
            await child.wait()
        sim.terminate()
        await sim.wait()
        await runner.cleanup()
    base = rows[0][1]
    print("Each server in its own process; 1 turn in flight; times from the POST to the bot's first answer at the")
    print("connector (the last row: to the updated diagnosis card); turns/s from POST to HTTP answer, back to back")
    print("with a 5 ms untimed pause between turns on the first three rows. Median of 3 interleaved rounds.")
    print(f"{'turn':<48}{'turns/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x echo':>9}")
    for name, figures in rows:
        ratio = figures["tps"] / base["tps"]
        print(f"{name:<48}{figures['tps']:>9.1f}{figures['p50']:>9.2f}{figures['p99']:>9.2f}{ratio:>9.2f}")
    print("* each turn in a conversation of its own (many people at once); the others in one conversation.")
    print("sustained: the next paste as soon as the first card is back, while earlier diagnoses still run.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-echo"]:
        serve_echo(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--serve-doctor"]:
        serve_doctor(int(sys.argv[2]), *sys.argv[3:7])
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--turns", type=int, default=200)
        asyncio.run(main(parser.parse_args().turns))
