"""Many tenants from one deployment, over real HTTP to one simulated cloud of two tenants: which tenant a message
is about, and every attempt to cross from one tenant to the other refused (forged tenant ids in card data, a
channel bound to one acting on the other, an approver of one approving the other's request, a customer's own
Teams reaching beyond its tenant)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app import DEPS, create_app
from bot.demo import graph_env
from bot.observability import JsonFormatter
from bot.settings import load_settings
from bot.tenants import TenantRecord
from sim.runner import DEFAULT_FIXTURE, RunningMultiSim, start_multi_sim
from sim.tenant import Tenant
from tests.conftest import BotServer, _serve
from tests.support.activities import ALEX, CHANNEL, MEGAN, PERSONAL, REQUESTER, card_action, message
from tests.support.cards import actions_in, text_of

HOME = "5f1c2a3b-8d4e-4f60-9a7b-1c2d3e4f5a6b"  # the demo tenant: the deployment's own
B = "b0b0b0b0-1111-4222-8333-444455556666"
B_DOMAIN = "school-b.onmicrosoft.com"
APPROVERS_GROUP = "d1e2f3a4-0000-4000-8000-00000000a001"  # the demo tenant's approvers: Megan and Nestor
PACKAGE = "package_3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d"  # in both tenants' directories (B is a copy)
ERROR = "A setup failure has occurred during bulk enrollment."


def tenant_b() -> dict[str, Any]:
    """The demo tenant again, as another school: its own tenant id and domain."""
    text = DEFAULT_FIXTURE.read_text().replace(HOME, B).replace("contoso.onmicrosoft.com", B_DOMAIN)
    return json.loads(text)


@pytest.fixture
async def cloud(tls_dir: Path) -> AsyncIterator[RunningMultiSim]:
    home = json.loads(DEFAULT_FIXTURE.read_text())
    running = await start_multi_sim([Tenant.from_fixture(home), Tenant.from_fixture(tenant_b())], tls_dir)
    yield running
    await running.close()


def graph_reads(cloud: RunningMultiSim, tenant: str) -> list[str]:
    return [r["route"] for r in cloud.simulators[tenant].requests]


def forget_requests(cloud: RunningMultiSim) -> None:
    for simulator in cloud.simulators.values():
        simulator.requests.clear()


@pytest.fixture
async def served(cloud: RunningMultiSim, clock, tmp_path: Path, connector) -> AsyncIterator[BotServer]:
    app_reg = next(iter(cloud.tenant(HOME).apps.values()))
    env = {
        **graph_env(cloud.url, cloud.ca_pem, HOME, app_reg.client_id, app_reg.client_secret),
        "GRAPH_RETRY_DELAY": "0",
        "GRAPH_MAX_RETRIES": "1",
        "ALERTS_ENABLED": "false",
        "TENANT_READING_SECONDS": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "APPROVER_GROUP_ID": APPROVERS_GROUP,
    }
    app = create_app(load_settings(env, dotenv=None), clock=clock)
    runner, url = await _serve(app)
    session = aiohttp.ClientSession()
    server = BotServer(url, session, app, runner, connector)
    connector.members = [
        {"id": f"29:{user}", "aadObjectId": user, "name": name}
        for user, name in ((MEGAN, "Megan Bowen"), (ALEX, "Alex Wilber"))
    ]
    # The deployment's own tenant, named with its verified domain (as `python app.py tenants add` records it), and
    # School B: its approver is Alex alone, its approval cards go to the admins' channel.
    await app[DEPS].tenants.add(TenantRecord(HOME, "Contoso", ("contoso.onmicrosoft.com",)))
    await app[DEPS].tenants.add(
        TenantRecord(B, "School B", (B_DOMAIN,), approver_user_ids=(ALEX,), admin_channel_id=CHANNEL)
    )
    forget_requests(cloud)
    yield server
    await runner.cleanup()
    await session.close()


def tenant_line(card: dict[str, Any]) -> str:
    """The card's first line, as Teams shows it (Markdown escapes removed)."""
    return str(card["body"][0]["text"]).replace("\\", "")


def texts(connector) -> list[str]:
    return [
        c.activity.get("text") or ""
        for c in connector.calls
        if c.method == "send" and not c.activity.get("attachments")
    ]


def last_card(connector) -> dict[str, Any]:
    return connector.cards()[-1]


def stamped_tenants(card: dict[str, Any]) -> set[str]:
    return {a.get("data", {}).get("tenant") for a in actions_in(card) if a.get("type") == "Action.Execute"}


async def test_the_package_accounts_domain_settles_the_tenant_and_only_that_tenant_is_read(served, connector, cloud):
    await served.post(message(connector.url, f"{ERROR} {PACKAGE}@{B_DOMAIN}"))
    card = last_card(connector)
    assert tenant_line(card) == f"Tenant: School B ({B_DOMAIN})"
    assert stamped_tenants(card) == {B}
    assert "policy.get" in graph_reads(cloud, B)
    assert graph_reads(cloud, HOME) == []  # the other tenant is never read


async def test_a_message_naming_no_tenant_asks_which_one_by_button(served, connector, cloud):
    await served.post(message(connector.url, ERROR))
    card = last_card(connector)
    assert "Which tenant is this about?" in text_of(card)
    buttons = {a["title"]: a for a in actions_in(card)}
    assert set(buttons) == {"Contoso (contoso.onmicrosoft.com)", f"School B ({B_DOMAIN})"}
    assert graph_reads(cloud, B) == [] and graph_reads(cloud, HOME) == []  # nothing read before the answer
    pressed = buttons[f"School B ({B_DOMAIN})"]
    status, body = await served.post(card_action(connector.url, pressed["verb"], pressed["data"]))
    assert status == 200
    assert "policy.get" in graph_reads(cloud, B) and graph_reads(cloud, HOME) == []
    assert tenant_line(body["value"]).startswith("Tenant: School B")


async def test_a_channel_bound_to_one_tenant_cannot_act_on_the_other(served, connector, cloud, clock):
    storage = served.app[DEPS].tenants.storage
    await storage.bind_channel(CHANNEL, HOME, "Megan", clock.now())
    await served.post(
        message(connector.url, f"{ERROR} {PACKAGE}@{B_DOMAIN}", conversation_type="channel", user=MEGAN, mention=True)
    )
    (answer,) = texts(connector)
    assert "does not act on" in answer and "Contoso" in answer
    assert graph_reads(cloud, B) == []
    # Without a domain, the bound channel's own tenant is diagnosed, without asking.
    await served.post(message(connector.url, ERROR, conversation_type="channel", user=MEGAN, mention=True))
    assert "policy.get" in graph_reads(cloud, HOME) and graph_reads(cloud, B) == []


async def test_forged_tenant_ids_in_card_data_are_refused(served, connector, cloud, clock):
    await served.post(message(connector.url, f"{ERROR} {PACKAGE}@{B_DOMAIN}"))
    step = next(a for a in actions_in(last_card(connector)) if a["verb"] == "diagnosis.step")
    forget_requests(cloud)

    async def press(data: dict[str, Any], **where: Any) -> str:
        status, body = await served.post(card_action(connector.url, step["verb"], data, **where))
        assert status == 200
        return text_of(body["value"])

    # B's session, stamped as the deployment's own tenant: the record's tenant and the stamp disagree.
    assert "does not act on" in await press({**step["data"], "tenant": HOME})
    # A tenant nobody connected.
    gone = await press({"sessionId": "x" * 8, "step": "join", "tenant": "0badf00d-0000-4000-8000-000000000000"})
    assert "no longer serve" in gone
    # B's session pressed from a chat bound to the deployment's own tenant.
    await served.app[DEPS].tenants.storage.bind_channel(PERSONAL, HOME, "Adele", clock.now())
    assert "does not act on" in await press(step["data"])
    assert graph_reads(cloud, B) == [] and graph_reads(cloud, HOME) == []  # nothing read, nothing changed


async def test_a_customers_own_teams_acts_on_its_own_tenant_only(served, connector, cloud):
    # Someone of School B, in School B's Teams: no domain needed, their own tenant is the one.
    await served.post(message(connector.url, ERROR, tenant=B))
    assert tenant_line(last_card(connector)).startswith("Tenant: School B")
    assert graph_reads(cloud, HOME) == []
    # The deployment's own tenant, named from School B's Teams: refused.
    connector.clear()
    await served.post(message(connector.url, f"{ERROR} {PACKAGE}@contoso.onmicrosoft.com", tenant=B))
    assert "does not act on" in texts(connector)[0]
    # A card of the deployment's own tenant, pressed from School B's Teams.
    await served.post(message(connector.url, f"{ERROR} {PACKAGE}@contoso.onmicrosoft.com"))
    home_step_data = next(a["data"] for a in actions_in(last_card(connector)) if a["verb"] == "diagnosis.step")
    forget_requests(cloud)
    status, body = await served.post(card_action(connector.url, "diagnosis.step", home_step_data, tenant=B))
    assert "does not act on" in text_of(body["value"])
    assert graph_reads(cloud, HOME) == []
    # A tenant the deployment does not serve cannot even reach it.
    status, _ = await served.post(message(connector.url, ERROR, tenant="0badf00d-0000-4000-8000-000000000000"))
    assert status == 403


async def test_why_in_a_customers_own_teams_is_answered_about_its_last_card(served, connector):
    await served.post(message(connector.url, ERROR, tenant=B))
    await served.idle()
    await served.post(message(connector.url, "why?", tenant=B))
    words = text_of(last_card(connector))
    assert "About my last card" in words and "I did not recognise" not in words


async def test_an_approver_of_one_tenant_cannot_approve_the_others_request(served, connector, cloud):
    await served.post(message(connector.url, f"{ERROR} {PACKAGE}@{B_DOMAIN}"))
    session_id = next(a["data"]["sessionId"] for a in actions_in(last_card(connector)) if "sessionId" in a["data"])
    status, _ = await served.post(
        card_action(connector.url, "approval.request", {"sessionId": session_id, "justification": "Room 9"})
    )
    assert status == 200
    await served.idle()
    (posted,) = connector.cards_in(CHANNEL)
    approval_card = posted[1]
    assert tenant_line(approval_card).startswith("Tenant: School B")
    request_id = approval_card["refresh"]["action"]["data"]["requestId"]

    async def approve(user: str, **data: Any) -> str:
        status, body = await served.post(
            card_action(
                connector.url,
                "approval.approve",
                {"requestId": request_id, **data},
                conversation_type="channel",
                user=user,
                reply_to="approval-card",
            )
        )
        assert status == 200
        return text_of(body["value"])

    forget_requests(cloud)
    # Megan approves the deployment's own tenant's requests, not School B's.
    refused = await approve(MEGAN)
    assert "Approved by" not in refused
    # Nor by stamping the request as her own tenant's.
    assert "does not act on" in await approve(MEGAN, tenant=HOME)
    await served.idle()
    assert "policy.put" not in graph_reads(cloud, B) and graph_reads(cloud, HOME) == []
    # School B's own approver can.
    assert "Approved by Alex Wilber" in await approve(ALEX)
    await served.idle()
    assert "policy.put" in graph_reads(cloud, B)
    assert "policy.put" not in graph_reads(cloud, HOME)
    storage = served.app[DEPS].tenants.storage
    audit = await storage.list_audit(tenant_id=B)
    assert {"created", "approve", "applied"} <= {e.action for e in audit}
    assert all(e.tenant_id == B for e in audit)
    assert await storage.list_audit(tenant_id=HOME) == []
    # The request is invisible through the deployment's own tenant's services.
    assert await served.app[DEPS].approvals._storage.get_approval(request_id) is None  # noqa: SLF001


async def test_the_deployments_own_domains_are_read_once_several_tenants_are_served(served, connector, cloud):
    tenants = served.app[DEPS].tenants
    await tenants.storage.remove_tenant(HOME)  # as if only School B had been connected
    await tenants.load()
    assert tenants.home_record().domains == ()
    await tenants.learn_home()
    assert tenants.home_record().domains == ("contoso.onmicrosoft.com",)
    assert graph_reads(cloud, HOME).count("organization.get") == 1
    await tenants.learn_home()  # known now: not read again
    assert graph_reads(cloud, HOME).count("organization.get") == 1
    # So a message naming the deployment's own package account is settled on it, not refused.
    await served.post(message(connector.url, f"{ERROR} {PACKAGE}@contoso.onmicrosoft.com"))
    assert tenant_line(last_card(connector)).startswith("Tenant: ")
    assert "School B" not in tenant_line(last_card(connector))


async def test_log_lines_carry_the_tenant(served, connector, cloud):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        await served.post(message(connector.url, f"{ERROR} {PACKAGE}@{B_DOMAIN}"))
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    settled = [line for line in lines if "tenant b0b0b0b0" in line["message"]]
    assert settled and settled[0]["tenantId"] == B, stream.getvalue()[:3000]
    before = lines[: lines.index(settled[0])]
    assert before and not any(line.get("tenantId") for line in before)  # not known before it is settled
    after = lines[lines.index(settled[0]) :]
    assert all(line.get("tenantId") == B for line in after if line.get("activityId"))


__all__ = ["REQUESTER"]


async def test_two_replicas_poll_each_tenant_from_one_of_them(cloud, tmp_path: Path, connector):
    """The app's own wiring (app.py): every tenant's alert poll through its own runtime, each tenant owned by one
    replica, the two tenants shared out between two replicas on one database."""
    import asyncio

    app_reg = next(iter(cloud.tenant(HOME).apps.values()))
    env = {
        **graph_env(cloud.url, cloud.ca_pem, HOME, app_reg.client_id, app_reg.client_secret),
        "GRAPH_RETRY_DELAY": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'replicas.db'}",
        "APPROVER_GROUP_ID": APPROVERS_GROUP,
        "ALERTS_ENABLED": "true",
        "ALERT_POLL_SECONDS": "1",
        "POLL_LEASE_SECONDS": "3",
        "TENANT_REFRESH_SECONDS": "1",
    }
    runners = []
    try:
        first = create_app(load_settings({**env, "REPLICA_ID": "replica-1"}, dotenv=None))
        runner, _ = await _serve(first)
        runners.append(runner)
        await first[DEPS].tenants.add(TenantRecord(B, "School B", (B_DOMAIN,)))
        second = create_app(load_settings({**env, "REPLICA_ID": "replica-2"}, dotenv=None))
        runner, _ = await _serve(second)
        runners.append(runner)
        storage = first[DEPS].tenants.storage
        holders: dict[str, str] = {}
        for _ in range(100):
            await asyncio.sleep(0.1)
            holders = {lease.tenant_id: lease.holder for lease in await storage.list_tenant_leases()}
            polled = all("troubleshootingEvents.list" in graph_reads(cloud, t) for t in (HOME, B))
            if polled and sorted(holders.values()) == ["replica-1", "replica-2"]:
                break
        assert sorted(holders.values()) == ["replica-1", "replica-2"], holders  # one tenant each
        assert all("troubleshootingEvents.list" in graph_reads(cloud, t) for t in (HOME, B))
    finally:
        for runner in runners:
            await runner.cleanup()
