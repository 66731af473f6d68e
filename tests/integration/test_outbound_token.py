"""The bot's outbound Bot Connector token comes from msal, which blocks while it asks Entra ID for a new one: it is
fetched in a worker thread, once for every send that needs it at that moment, and kept until shortly before
it expires. The credentials here are botframework-connector's own class with msal's fetch replaced by one that
blocks until the test lets it go (msal itself would need Entra ID)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials

from bot.adapter import create_adapter
from bot.proactive import card_message
from bot.settings import load_settings
from tests.support.activities import message

APP_ID = "11111111-2222-3333-4444-555555555555"


def jwt(exp: float, n: int) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp), 'n': n})}.sig"


class BlockingCredentials(MicrosoftAppCredentials):
    """msal's acquire_token_for_client stands behind get_access_token: a blocking network call."""

    def __init__(self, clock, lifetime: float = 3600):
        super().__init__(APP_ID, "pw")
        self.clock = clock
        self.lifetime = lifetime
        self.release = threading.Event()
        self.threads: list[int] = []
        self.fetches = 0

    def get_access_token(self, force_refresh: bool = False) -> str:
        self.threads.append(threading.get_ident())
        self.fetches += 1
        assert self.release.wait(10), "the test never let the token fetch finish"
        return jwt(self.clock.now().timestamp() + self.lifetime, self.fetches)


def reply_activity() -> Activity:
    reply = card_message({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x"}]})
    reply.conversation = ConversationAccount(id="a:personal-chat-1")
    reply.from_property, reply.recipient = ChannelAccount(id="28:bot"), ChannelAccount(id="29:user")
    return reply


async def test_the_token_is_fetched_off_the_event_loop_once_for_all_sends(connector, clock):
    settings = load_settings({"GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c", "GRAPH_CLIENT_SECRET": "s"}, dotenv=None)
    adapter = create_adapter(settings, clock)
    credentials = BlockingCredentials(clock)
    try:
        context = TurnContext(adapter, Activity().deserialize(message(connector.url, "hi")))
        context.turn_state[adapter.BOT_CONNECTOR_CLIENT_KEY] = ConnectorClient(credentials, base_url=connector.url)
        sends = [asyncio.ensure_future(adapter.send_activities(context, [reply_activity()])) for _ in range(3)]
        # While msal blocks, the event loop goes on: this coroutine runs, and no send has gone out yet.
        for _ in range(20):
            await asyncio.sleep(0)
        assert credentials.fetches == 1 and connector.calls == []
        loop_thread = threading.get_ident()
        credentials.release.set()
        await asyncio.gather(*sends)
        assert credentials.threads and all(t != loop_thread for t in credentials.threads)
        assert credentials.fetches == 1  # three sends, one fetch
        first = connector.calls[0].headers["Authorization"]
        assert all(c.headers["Authorization"] == first for c in connector.calls)

        # Kept while it is good; fetched anew (off the loop) within 5 minutes of its expiry.
        clock.advance(minutes=50)
        await adapter.send_activities(context, [reply_activity()])
        assert credentials.fetches == 1
        clock.advance(minutes=6)
        await adapter.send_activities(context, [reply_activity()])
        assert credentials.fetches == 2
        assert connector.calls[-1].headers["Authorization"] != first
        assert credentials.threads[-1] != loop_thread
    finally:
        credentials.release.set()
        await adapter.auth.close()


async def test_a_failed_fetch_is_not_kept(connector, clock):
    settings = load_settings({"GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c", "GRAPH_CLIENT_SECRET": "s"}, dotenv=None)
    adapter = create_adapter(settings, clock)

    class Failing(BlockingCredentials):
        def get_access_token(self, force_refresh: bool = False) -> str:
            self.fetches += 1
            if self.fetches == 1:
                raise PermissionError("Failed to get access token with error: invalid_client")
            return jwt(self.clock.now().timestamp() + 3600, self.fetches)

    credentials = Failing(clock)
    try:
        tokens = adapter.auth.tokens
        try:
            await tokens.authorization(credentials)
        except PermissionError:
            pass
        else:
            raise AssertionError("the failure was swallowed")
        assert (await tokens.authorization(credentials) or "").startswith("Bearer ")
        assert credentials.fetches == 2
    finally:
        await adapter.auth.close()
