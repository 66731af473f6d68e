"""Connecting tenants, over real HTTP: the simulated tenants (consent, tokens per tenant, GET /organization), the
bot's /consent route, the recording Bot Connector, and `python app.py tenants ...` as an operator runs it."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from app import DEPS, create_app, main
from bot.demo import graph_env
from bot.settings import load_settings
from bot.storage import open_storage
from sim.runner import DEFAULT_FIXTURE, RunningMultiSim, start_multi_sim
from sim.tenant import Tenant
from tests.support.activities import ALEX, CHANNEL, MEGAN, PERSONAL, card_action, message
from tests.support.cards import actions_in, face_text
from tests.support.clock import FakeClock
from tests.support.connector import RecordingConnector

ROOT = Path(__file__).resolve().parents[2]
FABRIKAM = "7c2b9d41-3e5f-4a6b-8c7d-9e0f1a2b3c4d"
TAILSPIN = "3a4b5c6d-7e8f-4901-a2b3-c4d5e6f7a8b9"
NOWHERE = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
TAILSPIN_APP = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
TAILSPIN_SECRET = "tailspin-secret"


def _customer(tenant_id: str, domain: str, name: str, apps: list[dict[str, Any]]) -> Tenant:
    home = json.loads(DEFAULT_FIXTURE.read_text())
    return Tenant.from_fixture(
        {
            "tenantId": tenant_id,
            "displayName": name,
            "domain": domain,
            "apps": apps,
            "users": [],
            "groups": [],
            "deviceRegistrationPolicy": copy.deepcopy(home["deviceRegistrationPolicy"]),
            "troubleshootingEvents": [],
        }
    )


@pytest.fixture
async def cloud(tls_dir: Path) -> AsyncIterator[RunningMultiSim]:
    home = Tenant.from_fixture(json.loads(DEFAULT_FIXTURE.read_text()))
    fabrikam = _customer(FABRIKAM, "fabrikam.onmicrosoft.com", "Fabrikam <b>Schools</b>", [])
    tailspin_app = {"clientId": TAILSPIN_APP, "clientSecret": TAILSPIN_SECRET, "permissions": ["Organization.Read.All"]}
    tailspin = _customer(TAILSPIN, "tailspin.onmicrosoft.com", "Tailspin", [tailspin_app])
    running = await start_multi_sim([home, fabrikam, tailspin], tls_dir)
    yield running
    await running.close()


def _env(cloud: RunningMultiSim, tmp_path: Path, **extra: str) -> dict[str, str]:
    home = next(iter(cloud.simulators.values())).tenant
    app = next(iter(home.apps.values()))
    return {
        **graph_env(cloud.url, cloud.ca_pem, home.tenant_id, app.client_id, app.client_secret),
        "GRAPH_RETRY_DELAY": "0",
        "GRAPH_MAX_RETRIES": "1",
        "ALERTS_ENABLED": "false",
        "PACKAGE_WATCH_ENABLED": "false",
        "TENANT_READING_SECONDS": "0",
        "APPROVER_USER_IDS": MEGAN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        **extra,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bot:
    def __init__(self, url: str, app: web.Application, session: aiohttp.ClientSession, connector: RecordingConnector):
        self.url, self.app, self.session, self.connector = url, app, session, connector

    async def post(self, activity: dict[str, Any]) -> Any:
        async with self.session.post(f"{self.url}/api/messages", json=activity) as response:
            assert response.status in (200, 201), await response.text()
            text = await response.text()
            return json.loads(text) if text else None

    async def say(self, text: str, *, user: str = MEGAN, conversation_type: str = "personal") -> None:
        await self.post(message(self.connector.url, text, user=user, conversation_type=conversation_type))

    async def press(self, verb: str, data: dict[str, Any], *, user: str = MEGAN) -> dict[str, Any]:
        body = await self.post(card_action(self.connector.url, verb, data, user=user))
        return body["value"]

    async def browse(self, url: str) -> tuple[int, str, str | None]:
        """A browser's GET, without following redirects: (status, body, Location)."""
        async with self.session.get(url, allow_redirects=False, ssl=False) as response:
            return response.status, await response.text(), response.headers.get("Location")

    async def registry(self) -> dict[str, Any]:
        return {r.tenant_id: r for r in await self.app[DEPS].storage.list_tenants()}


@pytest.fixture
async def bot_factory(cloud: RunningMultiSim, tmp_path: Path, clock: FakeClock, connector: RecordingConnector):
    started: list[tuple[web.AppRunner, aiohttp.ClientSession]] = []

    async def start(**env: str) -> Bot:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        settings = load_settings(_env(cloud, tmp_path, PUBLIC_URL=url, PORT=str(port), **env), dotenv=None)
        app = create_app(settings, clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        session = aiohttp.ClientSession()
        started.append((runner, session))
        return Bot(url, app, session, connector)

    yield start
    for runner, session in started:
        await session.close()
        await runner.cleanup()


@pytest.fixture
async def bot(bot_factory) -> Bot:
    return await bot_factory()


def _consent_link(connector: RecordingConnector) -> str:
    card = connector.cards_in(PERSONAL)[-1][1]
    links = [a["url"] for a in card.get("actions", []) if a["type"] == "Action.OpenUrl"]
    assert len(links) == 1, card
    return links[0]


async def test_consent_redirect_connects_the_tenant_and_says_so_where_it_was_asked(bot: Bot, cloud: RunningMultiSim):
    await bot.say("connect tenant fabrikam.onmicrosoft.com")
    link = _consent_link(bot.connector)
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    assert parts.path == "/fabrikam.onmicrosoft.com/adminconsent"
    assert query["client_id"] == [next(iter(next(iter(cloud.simulators.values())).tenant.apps))]  # the shared app
    assert query["redirect_uri"] == [f"{bot.url}/consent"] and len(query["state"][0]) >= 40

    # The administrator accepts; Entra sends the browser back to the bot, which checks and stores.
    status, _, back = await bot.browse(link)
    assert status == 302 and back is not None and back.startswith(f"{bot.url}/consent?")
    status, page, _ = await bot.browse(back)
    assert status == 200, page
    assert "Connected Fabrikam &lt;b&gt;Schools&lt;/b&gt;" in page and "<b>" not in page  # escaped
    record = (await bot.registry())[FABRIKAM]
    assert record.domains == ("fabrikam.onmicrosoft.com",)
    assert record.connected_by == "Megan Bowen" and record.connected_at is not None
    said = bot.connector.texts_in(PERSONAL)[-1]
    assert said.startswith(
        "Connected Fabrikam \\<b\\>Schools\\</b\\> (fabrikam\\.onmicrosoft\\.com): 1 verified domain"
    )
    assert "use tenant fabrikam\\.onmicrosoft\\.com here" in said
    # The token and the read went to Fabrikam, with the deployment's app.
    routes = [r["route"] for r in cloud.simulators[FABRIKAM].requests]
    assert "adminconsent" in routes and "token" in routes and "organization.get" in routes

    # The same link again: single-use, nothing more posted.
    posted = len(bot.connector.calls)
    status, page, _ = await bot.browse(back)
    assert status == 400 and "cannot be used" in page and len(bot.connector.calls) == posted


async def test_forged_and_expired_states_are_refused_and_store_nothing(bot: Bot, clock: FakeClock):
    status, page, _ = await bot.browse(f"{bot.url}/consent?admin_consent=True&tenant={FABRIKAM}&state=forged-state")
    assert status == 400 and "cannot be used" in page
    status, page, _ = await bot.browse(f"{bot.url}/consent?admin_consent=True&tenant={FABRIKAM}")
    assert status == 400
    await bot.say("connect tenant fabrikam.onmicrosoft.com")
    link = _consent_link(bot.connector)
    clock.advance(minutes=31)
    status, _, back = await bot.browse(link)
    assert status == 302 and back is not None
    status, page, _ = await bot.browse(back)
    assert status == 400 and "expired" in page
    assert FABRIKAM not in await bot.registry()


async def test_a_declined_consent_is_said_and_stores_nothing(bot: Bot, cloud: RunningMultiSim):
    await bot.say("connect tenant fabrikam.onmicrosoft.com")
    link = _consent_link(bot.connector)
    async with bot.session.post(
        f"{cloud.url}/_sim/tenants/{FABRIKAM}/faults",
        json={"route": "adminconsent", "method": "GET", "status": 400},
        ssl=False,
    ) as response:
        assert response.status < 300, await response.text()
    _, _, back = await bot.browse(link)
    status, page, _ = await bot.browse(back or "")
    assert status == 200 and "did not grant consent" in page
    assert FABRIKAM not in await bot.registry()
    assert "did not grant consent" in bot.connector.texts_in(PERSONAL)[-1]


async def test_check_again_says_consent_is_missing_then_connects_once_it_landed(bot: Bot, cloud: RunningMultiSim):
    await bot.say("connect a tenant")
    card = bot.connector.cards_in(PERSONAL)[-1][1]
    assert "/organizations/adminconsent?" in _consent_link(bot.connector)
    assert [a["verb"] for a in actions_in(card)] == ["tenant.check"]
    answer = await bot.press("tenant.check", {"connectTenant": "fabrikam.onmicrosoft.com"})  # resolved to its id
    text = face_text(answer)
    assert f"Tenant {FABRIKAM} has not consented to the app" in text.replace("\\", "")
    assert "adminconsent" in text and FABRIKAM not in await bot.registry()
    # An administrator consents (another way: the redirect could not reach the bot), then Check again.
    home_app = next(iter(next(iter(cloud.simulators.values())).tenant.apps))
    cloud.simulators[FABRIKAM].tenant.consented_apps.add(home_app)
    answer = await bot.press("tenant.check", {"connectTenant": FABRIKAM})
    assert '"Connected Fabrikam <b>Schools</b>: Connected Fabrikam' in face_text(answer)
    assert (await bot.registry())[FABRIKAM].domains == ("fabrikam.onmicrosoft.com",)
    answer = await bot.press("tenant.check", {"connectTenant": "nosuch.onmicrosoft.com"})
    assert "No tenant has the verified domain nosuch" in face_text(answer).replace("\\", "")
    answer = await bot.press("tenant.check", {"connectTenant": "<script>"})
    assert "neither a tenant id" in face_text(answer) and "<script>" not in json.dumps(answer)


async def test_an_asker_no_longer_an_approver_when_consent_comes_back_connects_nothing(
    bot_factory, cloud: RunningMultiSim
):
    home = next(iter(cloud.simulators.values())).tenant
    group = home.extra.get("demo", {}).get("approverGroupId") or ""
    bot = await bot_factory(APPROVER_USER_IDS="", APPROVER_GROUP_ID=group)
    await bot.say("connect tenant fabrikam.onmicrosoft.com")  # Megan is in the approvers group
    link = _consent_link(bot.connector)
    home.groups[group]["members"].remove(MEGAN)  # and is taken out of it while the administrator consents
    _, _, back = await bot.browse(link)
    status, page, _ = await bot.browse(back or "")
    assert status == 403 and "no longer an approver" in page
    assert FABRIKAM not in await bot.registry()
    assert "no longer an approver" in bot.connector.texts_in(PERSONAL)[-1]


async def test_only_approvers_connect_list_bind_and_remove(bot: Bot):
    for command in ("connect a tenant", "tenants", "use tenant fabrikam.onmicrosoft.com here", "remove tenant x.com"):
        await bot.say(command, user=ALEX)
        assert bot.connector.texts_in(PERSONAL)[-1].startswith("Only 1 named approver can"), command
    assert not bot.connector.cards_in(PERSONAL)  # no consent link, no list
    answer = await bot.press("tenant.check", {"connectTenant": FABRIKAM}, user=ALEX)
    assert "Only 1 named approver" in face_text(answer)
    answer = await bot.press("tenant.remove", {"tenantId": FABRIKAM}, user=ALEX)
    assert "Only 1 named approver" in face_text(answer)


async def test_tenants_are_listed_bound_to_a_channel_and_removed_after_confirmation(bot: Bot, cloud: RunningMultiSim):
    home_app = next(iter(next(iter(cloud.simulators.values())).tenant.apps))
    cloud.simulators[FABRIKAM].tenant.consented_apps.add(home_app)
    await bot.press("tenant.check", {"connectTenant": FABRIKAM})
    await bot.say("use tenant fabrikam.onmicrosoft.com here", conversation_type="channel")
    storage = bot.app[DEPS].storage
    assert await storage.channel_tenant(CHANNEL) == FABRIKAM
    await bot.say("tenants")
    listed = face_text(bot.connector.cards_in(PERSONAL)[-1][1])
    assert "Fabrikam" in listed and "1 channel or chat" in listed and "1 connected tenant" in listed
    await bot.say("stop using a tenant here", conversation_type="channel")
    assert await storage.channel_tenant(CHANNEL) is None
    await bot.say("remove tenant fabrikam.onmicrosoft.com")
    confirm = bot.connector.cards_in(PERSONAL)[-1][1]
    assert [(a["verb"], a["data"]["tenantId"]) for a in actions_in(confirm)] == [("tenant.remove", FABRIKAM)]
    assert FABRIKAM in await bot.registry()  # asked, not done
    answer = await bot.press("tenant.remove", {"tenantId": FABRIKAM})
    assert '"Removed Fabrikam <b>Schools</b>:' in face_text(answer) and FABRIKAM not in await bot.registry()
    again = await bot.press("tenant.remove", {"tenantId": FABRIKAM})
    assert "Already removed" in face_text(again)
    actions = [e.action for e in await storage.inner.list_audit(tenant_id=FABRIKAM)]
    assert actions == ["tenant_connected", "tenant_bound", "tenant_unbound", "tenant_removed"]


# ---- python app.py tenants ... -----------------------------------------------------------------------------------
async def _process(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python app.py tenants ...` as an operator runs it: its own process, its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        "tenants",
        *args,
        cwd=str(ROOT),
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """app.main(["tenants", ...]) in a thread (it runs its own event loop; the simulator keeps serving on this one),
    with the environment given: (exit code, stdout, stderr)."""

    async def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["tenants", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


async def test_the_command_line_adds_lists_and_removes_proving_access_first(
    cloud: RunningMultiSim, tmp_path: Path, cli
):
    env = _env(cloud, tmp_path, TENANT_SECRET_TAILSPIN="wrong")
    code, out, err = await _process(env, "add", "--tenant-id", FABRIKAM)  # not consented: one line, exit code 2
    assert (code, out, err.count("\n")) == (2, "", 1), err
    assert f"Tenant {FABRIKAM} has not consented to the app" in err and f"/{FABRIKAM}/adminconsent?client_id=" in err
    code, _, err = await cli(env, "add", "--tenant-id", "not-a-guid")
    assert code == 2 and "tenant id must be a GUID" in err and err.count("\n") == 1
    code, _, err = await cli(env, "add", "--tenant-id", NOWHERE)
    assert code == 2 and f"Entra knows no tenant {NOWHERE}" in err
    own = ("--credential", "env:TENANT_SECRET_TAILSPIN", "--client-id", TAILSPIN_APP)
    code, _, err = await cli(env, "add", "--tenant-id", TAILSPIN, *own)
    assert code == 2 and "secret was refused" in err and "TENANT_SECRET_TAILSPIN" in err and err.count("\n") == 1
    missing = ("--credential", "env:TENANT_SECRET_NOPE", "--client-id", TAILSPIN_APP)
    code, _, err = await cli(env, "add", "--tenant-id", TAILSPIN, *missing)
    assert code == 2 and "TENANT_SECRET_NOPE is not set" in err
    home = env["GRAPH_TENANT_ID"]
    code, _, err = await cli(env, "add", "--tenant-id", home, "--approver-user", MEGAN)
    assert code == 2 and "its approvers, channel, change kinds and thresholds come from the environment" in err
    code, out, _ = await cli(env, "list", "--json")
    assert code == 0 and out == ""  # nothing was stored by any of those
    # The deployment's own tenant: its name and verified domains (matched to pasted package accounts) only.
    code, out, err = await cli(env, "add", "--tenant-id", home)
    assert code == 0 and "contoso.onmicrosoft.com" in out, err
    code, _, err = await cli(env, "remove", home)
    assert code == 2 and "always served" in err

    env["TENANT_SECRET_TAILSPIN"] = TAILSPIN_SECRET
    code, out, err = await cli(
        env, "add", "--tenant-id", TAILSPIN, *own, "--alert-min-count", "9", "--approver-user", MEGAN
    )
    assert code == 0, err
    assert "Connected Tailspin" in out and "tailspin.onmicrosoft.com" in out
    code, out, _ = await cli(env, "add", "--tenant-id", FABRIKAM, "--name", "Fabrikam", "--no-check")
    assert code == 0 and "none read (--no-check)" in out
    code, out, _ = await cli(env, "list", "--json")
    listed = {r["tenantId"]: r for r in map(json.loads, out.splitlines())}
    assert listed[TAILSPIN]["domains"] == ["tailspin.onmicrosoft.com"] and listed[TAILSPIN]["alertMinCount"] == 9
    assert listed[TAILSPIN]["credential"] == "env:TENANT_SECRET_TAILSPIN" and listed[TAILSPIN]["approverUserIds"] == [
        MEGAN
    ]
    assert TAILSPIN_SECRET not in out and listed[FABRIKAM]["domains"] == []
    code, out, _ = await cli(env, "list")
    assert code == 0 and "Tailspin" in out and len(out.splitlines()) == 3  # with the deployment's own
    code, out, _ = await cli(env, "remove", FABRIKAM)
    assert code == 0 and "Removed" in out
    code, _, err = await cli(env, "remove", FABRIKAM)
    assert code == 2 and "not in the registry" in err
    # A managed identity reads its own tenant only: a customer tenant needs the multi-tenant app, or its own.
    code, _, err = await cli({**env, "GRAPH_CREDENTIAL": "managed_identity"}, "add", "--tenant-id", FABRIKAM)
    assert code == 2 and "managed identity, which works in its own tenant only" in err
    storage = await open_storage(env["DATABASE_URL"], must_exist=True)
    try:
        assert sorted(r.tenant_id for r in await storage.list_tenants()) == sorted([home, TAILSPIN])
        assert [e.action for e in await storage.list_audit()] == [
            "tenant_connected",
            "tenant_connected",
            "tenant_connected",
            "tenant_removed",
        ]
    finally:
        await storage.close()
