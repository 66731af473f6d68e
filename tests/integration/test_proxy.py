"""Corporate networks reach the internet through a proxy: every outbound client of the bot honours the standard
HTTPS_PROXY, HTTP_PROXY and NO_PROXY settings (Graph and its token, the Bot Connector)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.integration.test_diagnostic_flow import start
from tests.support.proxy import RecordingProxy


@pytest.fixture
async def proxy():
    running = await RecordingProxy().start()
    yield running
    await running.close()


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


async def test_graph_its_token_and_the_bot_connector_go_through_the_proxy(
    bot_factory, connector, sim, proxy, monkeypatch
):
    _clear(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    bot = await bot_factory()
    card = await start(bot, connector)
    assert card["fallbackText"].startswith("Device settings")  # the whole diagnosis worked through the proxy
    sim_host = urlsplit(sim.url).netloc
    connector_host = urlsplit(connector.url).netloc
    assert f"CONNECT {sim_host}" in proxy.targets  # Graph and the token endpoint, tunnelled (TLS end to end)
    assert any(t.startswith("POST ") and connector_host in t for t in proxy.targets)  # the checking card
    assert any(t.startswith("PUT ") and connector_host in t for t in proxy.targets)  # its update


async def test_no_proxy_hosts_are_reached_directly(bot_factory, connector, sim, proxy, monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bot = await bot_factory()
    card = await start(bot, connector)
    assert card["fallbackText"].startswith("Device settings")
    assert proxy.targets == []
