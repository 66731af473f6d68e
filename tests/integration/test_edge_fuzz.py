"""Property-based fuzzing of the HTTP edge (hypothesis, seeded): activities and invokes of every shape.

The bot, the simulated tenant and a recording Bot Connector run in one background event loop; hypothesis
posts from the test's thread over real HTTP. Whatever it sends: no 5xx, no stack trace or internal name in
any response, no error the bot did not expect in its log, and the bot still serves a normal turn after.
`make test` runs FUZZ_EXAMPLES (2,000 by default); `make fuzz` runs 100,000.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from app import create_app
from bot.settings import load_settings
from sim.runner import DEFAULT_FIXTURE, start_sim
from sim.tenant import Tenant
from tests.conftest import _serve, sim_env
from tests.support.activities import ALEX, MEGAN, REQUESTER, card_action, message
from tests.support.clock import FakeClock
from tests.support.connector import RecordingConnector

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
INTERNAL = (
    "Traceback",
    'File "',
    "site-packages",
    "botbuilder",
    "botframework",
    "msrest",
    "aiohttp",
    "Exception",
    "NoneType",
    "AttributeError",
    "KeyError",
    "TypeError",
    "ValueError",
)
UNEXPECTED = ("unexpected", "outside", "unhandled")  # the log lines of errors the bot did not plan for
VERBS = [
    "diagnosis.start",
    "diagnosis.step",
    "diagnosis.recheck",
    "approval.request",
    "approval.view",
    "approval.approve",
    "approval.reject",
    "approval.cancel",
    "approval.retry",
    "approval.replan",
]
TEXTS = [
    "help",
    "status",
    "audit",
    "alerts on",
    "alerts off",
    "use this channel for approvals",
    "thanks!",
    "A setup failure has occurred during bulk enrollment. 0x800705b4",
    "<at>Enrollment Doctor</at> status",
]


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Harness:
    """The bot and its wire in a background loop; a keep-alive HTTP client for the test's thread."""

    def __init__(self, tmp: Path):
        self._tmp = tmp
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runners: list[Any] = []
        self._closers: list[Any] = []
        self.connector = RecordingConnector()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        sim = await start_sim(Tenant.from_fixture(json.loads(DEFAULT_FIXTURE.read_text())), self._tmp / "tls")
        self._closers.append(sim.close)
        runner, self.connector.url = await _serve(self.connector.app())
        self._runners.append(runner)
        env = sim_env(sim, self._tmp, APPROVER_USER_IDS=f"{MEGAN}", APPROVAL_CHANNEL_ID="19:admins@thread.tacv2")
        app = create_app(load_settings(env, dotenv=None), clock=FakeClock())
        runner, url = await _serve(app)
        self._runners.append(runner)
        self.port = int(url.rsplit(":", 1)[1])

    def start(self) -> None:
        self._thread.start()
        self.run(self._start())
        self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
        try:
            self.http.request("POST", "/api/messages", body=body, headers={"Content-Type": content_type})
            response = self.http.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.http.close()  # the server closed a keep-alive connection: a fresh one
            self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.http.request("POST", "/api/messages", body=body, headers={"Content-Type": content_type})
            response = self.http.getresponse()
        return response.status, response.read().decode("utf-8", "replace")

    def get(self, path: str) -> int:
        self.http.request("GET", path)
        response = self.http.getresponse()
        response.read()
        return response.status

    def stop(self) -> None:
        async def close() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()
            for closer in self._closers:
                await closer()

        self.run(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, Recorder]]:
    recorder = Recorder()
    logging.getLogger().addHandler(recorder)
    running = Harness(tmp_path_factory.mktemp("fuzz"))
    running.start()
    yield running, recorder
    running.stop()
    logging.getLogger().removeHandler(recorder)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
request_ids = st.sampled_from(["", "x", "0" * 64, "0" * 65, "../../etc", "00000000000000000000000000000000"])
action_data = st.fixed_dictionaries(
    {},
    optional={
        "sessionId": request_ids | json_values,
        "requestId": request_ids | json_values,
        "step": st.sampled_from(["settings", "join", "verify", "other"]) | json_values,
        "option": st.sampled_from(["minimal", "all", "none"]) | json_values,
        "justification": st.text(max_size=1200) | json_values,
        "reason": st.text(max_size=1200) | json_values,
    },
)
# Dotted paths into an activity that a mutation may overwrite with any JSON value.
PATHS = [
    "type",
    "id",
    "text",
    "name",
    "value",
    "channelId",
    "serviceUrl",
    "from",
    "from.id",
    "from.aadObjectId",
    "from.name",
    "conversation",
    "conversation.id",
    "conversation.conversationType",
    "conversation.tenantId",
    "recipient",
    "recipient.id",
    "channelData",
    "channelData.tenant",
    "channelData.tenant.id",
    "channelData.team",
    "channelData.channel",
    "entities",
    "attachments",
    "membersAdded",
    "replyToId",
    "value.action",
    "value.action.verb",
    "value.action.type",
    "value.action.data",
    "locale",
    "timestamp",
]


def _set(activity: dict[str, Any], path: str, value: Any) -> None:
    node: Any = activity
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(part, {})
    if isinstance(node, dict):
        node[parts[-1]] = value


@st.composite
def activities(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["message", "invoke", "invoke", "update", "raw"]))
    if kind == "raw":
        return draw(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
    connector_url = "{connector}"
    user = draw(st.sampled_from([REQUESTER, MEGAN, ALEX]))
    conversation_type = draw(st.sampled_from(["personal", "channel", "groupChat"]))
    if kind == "message":
        text = draw(st.sampled_from(TEXTS) | st.text(max_size=200))
        activity = message(connector_url, text, conversation_type=conversation_type, user=user)
    elif kind == "invoke":
        activity = card_action(
            connector_url,
            draw(st.sampled_from(VERBS) | st.text(max_size=20)),
            user=user,
            conversation_type=conversation_type,
        )
        activity["value"]["action"]["data"] = draw(action_data)
    else:
        activity = message(connector_url, "", conversation_type=conversation_type, user=user)
        activity.update(
            {
                "type": draw(st.sampled_from(["conversationUpdate", "installationUpdate", "messageReaction", "event"])),
                "membersAdded": draw(st.lists(st.fixed_dictionaries({"id": st.text(max_size=20)}), max_size=3)),
                "action": draw(st.sampled_from(["add", "remove", "x"])),
            }
        )
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=3, unique=True)):
        _set(activity, path, draw(json_values))
    return json.dumps(activity).encode()


# The bot runs in another thread while hypothesis draws, and its retry jitter and uuids may touch `random`.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@seed(int(os.environ.get("FUZZ_SEED", "20261201")))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=activities())
def test_no_input_gets_a_5xx_or_leaks_internals(harness, body: bytes):
    running, recorder = harness
    body = body.replace(b"{connector}", running.connector.url.encode())
    status, text = running.post(body)
    assert status < 500, (status, text, body[:300])
    for marker in INTERNAL:
        assert marker not in text, (marker, text[:300], body[:300])
    unexpected = [
        r for r in recorder.records if any(w in r.getMessage() for w in ("unexpected", "outside", "unhandled"))
    ]
    recorder.records.clear()
    assert not unexpected, (unexpected[0].getMessage(), body[:300])
    running.connector.calls.clear()


def test_after_the_fuzzing_the_bot_is_still_healthy(harness):
    running, recorder = harness
    assert running.get("/healthz") == 200
    status, _ = running.post(json.dumps(message(running.connector.url, "help")).encode())
    assert status == 201
    assert running.connector.cards(), "a normal turn was not answered"
