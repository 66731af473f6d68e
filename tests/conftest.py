"""Fixtures that run the real pieces on loopback: the simulated tenant, a recording connector, the bot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import create_app
from bot.demo import sim_graph_env
from bot.settings import load_settings
from sim.runner import DEFAULT_FIXTURE, RunningSim, start_sim
from sim.tenant import Tenant
from tests.support.clock import FakeClock
from tests.support.connector import RecordingConnector


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture
def fixture_data() -> dict[str, Any]:
    return json.loads(DEFAULT_FIXTURE.read_text())


@pytest.fixture
async def sim(fixture_data: dict[str, Any], tls_dir: Path) -> AsyncIterator[RunningSim]:
    running = await start_sim(Tenant.from_fixture(fixture_data), tls_dir)
    yield running
    await running.close()


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def connector() -> AsyncIterator[RecordingConnector]:
    recorder = RecordingConnector()
    runner, url = await _serve(recorder.app())
    recorder.url = url
    yield recorder
    await runner.cleanup()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def sim_env(sim: RunningSim, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **sim_graph_env(sim),
        "GRAPH_RETRY_DELAY": "0",
        "GRAPH_MAX_RETRIES": "2",
        "ALERTS_ENABLED": "false",  # alert tests poll by hand, on the fake clock
        # Tests change the tenant behind the bot's back between turns, as an admin in the portal would; a finished
        # reading is not reused here (test_shared_reading.py covers reuse, with the default freshness).
        "TENANT_READING_SECONDS": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
    }
    env.update(extra)
    return env


CHECKING = ("Checking your tenant", "Re-planning")  # the first answers whose result follows as an update


def is_checking(card: Any) -> bool:
    return isinstance(card, dict) and str(card.get("fallbackText", "")).startswith(CHECKING)


@dataclass
class BotServer:
    url: str
    session: aiohttp.ClientSession
    app: web.Application
    runner: web.AppRunner
    connector: RecordingConnector | None = None

    async def idle(self) -> None:
        """Wait for the bot's background work (applying a change, updating cards) to finish."""
        from app import BACKGROUND

        await self.app[BACKGROUND].idle()

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def post(
        self, activity: Any, headers: dict[str, str] | None = None, *, settle: bool = True
    ) -> tuple[int, Any]:
        """POST an activity. With `settle`, a "checking" answer is followed to the card that replaced it: the
        invoke's body then holds the finished card, and the connector's cards() show it."""
        async with self.session.post(f"{self.url}/api/messages", json=activity, headers=headers) as response:
            text = await response.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                return response.status, text
        if settle and self.connector is not None:
            value = body.get("value") if isinstance(body, dict) else None
            if is_checking(value):
                await self.idle()
                body["value"] = self.connector.latest(activity.get("replyToId")) or value
            elif activity.get("type") == "message" and any(is_checking(c) for c in self.connector.cards()):
                await self.idle()
        return response.status, body

    async def post_raw(self, data: bytes, content_type: str = "application/json") -> tuple[int, Any]:
        async with self.session.post(
            f"{self.url}/api/messages", data=data, headers={"Content-Type": content_type}
        ) as response:
            return response.status, await response.text()


@pytest.fixture
async def bot_factory(sim: RunningSim, clock: FakeClock, tmp_path: Path, connector: RecordingConnector):
    runners: list[web.AppRunner] = []
    session = aiohttp.ClientSession()

    async def make(**env: str) -> BotServer:
        settings = load_settings(sim_env(sim, tmp_path, **env), dotenv=None)
        app = create_app(settings, clock=clock)
        runner, url = await _serve(app)
        runners.append(runner)
        return BotServer(url, session, app, runner, connector)

    yield make
    for runner in runners:
        if runner.server is not None:  # not stopped by the test itself
            await runner.cleanup()
    await session.close()


@pytest.fixture
async def bot(bot_factory) -> BotServer:
    return await bot_factory()
