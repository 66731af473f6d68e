"""Approver mode over real HTTP: the app holds read permissions only; an approver's own sign-in (SSO exchanged
through the simulated Bot Framework Token Service, or a magic code) makes the change, if their role allows it."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.signin import LOGIN_REQUEST, PRECONDITION_FAILED
from sim.tenant import Fault
from sim.token_service import TOKEN_STORE
from tests.integration.test_approvals import APPROVERS_GROUP, UNCOVERED, act, request_change, use_channel
from tests.support.activities import ALEX, CHANNEL, MEGAN, NESTOR, PERSONAL, REQUESTER, card_action, message
from tests.support.cards import text_of

TEAMS_CLIENT = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"  # Teams desktop/mobile, pre-authorised on the bot's API
UPN = {
    MEGAN: "meganb@contoso.onmicrosoft.com",
    NESTOR: "nestorw@contoso.onmicrosoft.com",
    REQUESTER: "adelev@contoso.onmicrosoft.com",
}
PASSWORD = {MEGAN: "sim-password-megan", NESTOR: "sim-password-nestor", REQUESTER: "sim-password-adele"}
WRITES = {"policy.put", "conditionalAccess.patch", "enrollmentConfigurations.patch"}


@pytest.fixture
def fixture_data(fixture_data: dict[str, Any]) -> dict[str, Any]:
    """The app registration holds read permissions only; automatic MDM enrollment is off (MDM user scope None)."""
    for app in fixture_data["apps"]:
        app["permissions"] = [p.replace("ReadWrite", "Read") for p in app["permissions"]]
    fixture_data["mobileDeviceManagementPolicies"] = [
        {"id": "0000000a-0000-0000-c000-000000000000", "displayName": "Microsoft Intune", "appliesTo": "none"}
    ]
    return fixture_data


@pytest.fixture
async def approver_bot(bot_factory, connector, sim):
    connector.members = [
        {"id": f"29:{user}", "aadObjectId": user, "name": name}
        for user, name in ((MEGAN, "Megan Bowen"), (NESTOR, "Nestor Wilke"))
    ]
    return await bot_factory(**approver_env(sim))


def approver_env(sim) -> dict[str, str]:
    return {
        "APPROVER_GROUP_ID": APPROVERS_GROUP,
        "APPLY_AS": "approver",
        "OAUTH_CONNECTION_NAME": "graph",
        "BOT_TOKEN_SERVICE_URL": sim.url,
        "BOT_TOKEN_SERVICE_CA_BUNDLE": str(sim.ca_pem),
        "TENANT_READING_SECONDS": "60",  # a reading is shared: an approver's write must end it
    }


async def sso_token(sim, user: str, resource: str) -> str:
    """What Teams obtains silently for the bot's exposed API, played with the password grant (test use only)."""
    form = {
        "grant_type": "password",
        "client_id": TEAMS_CLIENT,
        "username": UPN[user],
        "password": PASSWORD[user],
        "scope": f"{resource}/access_as_user",
    }
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(f"{sim.url}/{sim.tenant.tenant_id}/oauth2/v2.0/token", data=form) as answer:
            assert answer.status == 200, await answer.text()
            return str((await answer.json())["access_token"])


async def press(
    bot, connector, verb: str, request_id: str, user: str, name: str | None = None, **value: Any
) -> dict[str, Any]:
    """An approver's press on the channel card; `value` adds what Teams sends on a retry (authentication, state)."""
    activity = card_action(
        connector.url, verb, {"requestId": request_id}, conversation_type="channel", user=user, reply_to="approval-card"
    )
    if name is not None:
        activity["from"]["name"] = name
    activity["value"].update(value)
    status, body = await bot.post(activity)
    assert status == 200
    return body


def writes(sim) -> list[dict[str, Any]]:
    return [r for r in sim.simulator.requests if r["route"] in WRITES]


def app_roles(sim) -> set[str]:
    return {p for app in sim.tenant.apps.values() for p in app.permissions}


async def approve_with_sso(
    bot, connector, sim, request_id: str, user: str, exchange_id: str, name: str | None = None
) -> dict[str, Any]:
    asked = await press(bot, connector, "approval.approve", request_id, user)
    assert asked["statusCode"] == 401 and asked["type"] == LOGIN_REQUEST
    resource = asked["value"]["tokenExchangeResource"]
    token = await sso_token(sim, user, resource["uri"])
    authentication = {"id": exchange_id, "connectionName": "graph", "token": token}
    return await press(bot, connector, "approval.approve", request_id, user, name, authentication=authentication)


async def test_the_approvers_own_sign_in_makes_the_change(approver_bot, connector, sim):
    bot = approver_bot
    assert not any("ReadWrite" in p for p in app_roles(sim))  # the app's token carries no write role
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)

    asked = await press(bot, connector, "approval.approve", request_id, MEGAN)
    assert asked["statusCode"] == 401 and asked["type"] == LOGIN_REQUEST
    login = asked["value"]
    assert login["connectionName"] == "graph"
    assert login["tokenExchangeResource"]["uri"].startswith("api://botid-")
    assert login["buttons"][0]["type"] == "signin" and login["buttons"][0]["value"].startswith(sim.url)
    assert writes(sim) == []  # nothing happens before the sign-in

    token = await sso_token(sim, MEGAN, login["tokenExchangeResource"]["uri"])
    authentication = {"id": "exchange-1", "connectionName": "graph", "token": token}
    answer = await press(bot, connector, "approval.approve", request_id, MEGAN, authentication=authentication)
    assert "Approved by Megan Bowen" in text_of(answer["value"])
    await bot.idle()

    assert sorted(sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"])[-2:] == sorted(UNCOVERED)
    made = writes(sim)
    assert len(made) == 1
    assert all(w["caller"] == {"kind": "user", "id": MEGAN} for w in made)
    # The re-read and the read back were Megan's too; the app itself read only.
    policy_calls = [r for r in sim.simulator.requests if r["route"].startswith("policy.")]
    assert [r["caller"]["kind"] for r in policy_calls][-3:] == ["user", "user", "user"]
    entries = await _audit(bot)
    applied = [e for e in entries if e.to_state == "applied"]
    assert len(applied) == 1
    assert applied[0].actor_id == MEGAN and applied[0].data["madeWith"] == "the approver's own sign-in"
    # Signed out once the change is made: the Token Service keeps no token of hers either.
    assert not await token_service_holds(sim, f"29:{MEGAN}")
    # Megan's write ends the shared tenant reading (the clock has not moved): a new diagnosis sees the change.
    assert "2 package accounts may not join devices" in text_of(connector.cards_in(PERSONAL)[0][1])
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    assert "package accounts may not join devices" not in text_of(connector.cards()[-1])


async def _audit(bot) -> list[Any]:
    from app import DEPS

    return await bot.app[DEPS].storage.list_audit()


async def test_an_approver_without_the_role_changes_nothing_and_is_told_which(approver_bot, connector, sim):
    bot = approver_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    name = "Nestor **[boss](https://evil.example)**"  # a display name is the person's own text
    answer = await approve_with_sso(bot, connector, sim, request_id, NESTOR, "exchange-nestor", name)
    text = text_of(answer["value"])
    raw = json.dumps(answer["value"])
    assert "[boss](https" not in raw and r"\\[boss\\]" in raw  # shown as written, never a link
    assert "does not hold Cloud Device Administrator (or Global Administrator)" in text
    assert "Nothing was changed: the request still waits for an approver who holds that role." in text
    await bot.idle()
    assert writes(sim) == []
    # Megan, who holds it, can still approve it.
    answer = await approve_with_sso(bot, connector, sim, request_id, MEGAN, "exchange-megan")
    assert "Approved by Megan Bowen" in text_of(answer["value"])
    await bot.idle()
    assert [w["caller"]["id"] for w in writes(sim)] == [MEGAN]


async def test_one_exchange_across_two_replicas(bot_factory, connector, sim):
    connector.members = [{"id": f"29:{MEGAN}", "aadObjectId": MEGAN, "name": "Megan Bowen"}]
    first = await bot_factory(**approver_env(sim))
    second = await bot_factory(**approver_env(sim))  # the same database
    await use_channel(first, connector)
    request_id, _ = await request_change(first, connector)
    asked = await press(first, connector, "approval.approve", request_id, MEGAN)
    token = await sso_token(sim, MEGAN, asked["value"]["tokenExchangeResource"]["uri"])
    authentication = {"id": "exchange-shared", "connectionName": "graph", "token": token}
    answers = await asyncio.gather(
        press(first, connector, "approval.approve", request_id, MEGAN, authentication=authentication),
        press(second, connector, "approval.approve", request_id, MEGAN, authentication=authentication),
    )
    await first.idle()
    await second.idle()
    refused = [a for a in answers if a.get("statusCode") == 412]
    assert len(refused) == 1 and refused[0]["type"] == PRECONDITION_FAILED
    exchanges = [r for r in sim.simulator.requests if r["route"] == "tokenService.exchange"]
    assert len(exchanges) == 1
    assert len(writes(sim)) == 1


async def test_without_sso_the_magic_code_signs_in(approver_bot, connector, sim):
    bot = approver_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    asked = await press(bot, connector, "approval.approve", request_id, MEGAN)
    link = asked["value"]["buttons"][0]["value"]
    # A failed exchange (a token Teams could not get right) is answered 412: Teams then shows the sign-in button.
    bad = {"id": "exchange-bad", "connectionName": "graph", "token": "not-a-token"}
    failed = await press(bot, connector, "approval.approve", request_id, MEGAN, authentication=bad)
    assert failed["statusCode"] == 412
    state = link.split("state=", 1)[1]
    assert json.loads(base64.b64decode(state))["connectionName"] == "graph"
    form = {"state": state, "username": UPN[MEGAN], "password": PASSWORD[MEGAN]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        async with session.post(link.split("?", 1)[0], data=form) as page:
            code = (await page.json())["magicCode"]
    answer = await press(bot, connector, "approval.approve", request_id, MEGAN, state=code)
    assert "Approved by Megan Bowen" in text_of(answer["value"])
    await bot.idle()
    assert [w["caller"]["id"] for w in writes(sim)] == [MEGAN]


async def test_no_token_reaches_a_log_a_card_or_the_database(approver_bot, connector, sim, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    bot = approver_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    asked = await press(bot, connector, "approval.approve", request_id, MEGAN)
    sso = await sso_token(sim, MEGAN, asked["value"]["tokenExchangeResource"]["uri"])
    authentication = {"id": "exchange-secret", "connectionName": "graph", "token": sso}
    answer = await press(bot, connector, "approval.approve", request_id, MEGAN, authentication=authentication)
    await bot.idle()
    assert "Approved by Megan Bowen" in text_of(answer["value"])
    issued = sim.runner.app[TOKEN_STORE].issued  # what the Token Service handed the bot
    assert issued
    secrets = [sso, sso.split(".")[1], *issued, *(t.split(".")[1] for t in issued)]  # whole, and the claims part
    await bot.stop()  # the database written out and closed

    database = database_bytes(Path(tmp_path))
    assert database, "no database file found to search"
    recorded = json.dumps(connector.sent) + json.dumps(answer)
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in recorded
        assert secret not in caplog.text


def database_bytes(folder: Path) -> bytes:
    """The SQLite database with its journal files, as stored on disk."""
    return b"".join(p.read_bytes() for p in folder.glob("bot.db*"))


async def token_service_holds(sim, user_id: str) -> bool:
    query = {"userId": user_id, "connectionName": "graph", "channelId": "msteams"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        async with session.get(f"{sim.url}/api/usertoken/GetToken", params=query) as answer:
            return answer.status == 200


async def test_the_simulated_graph_wants_the_scope_and_the_role_for_a_delegated_write(sim):
    """As Graph: a delegated PUT needs the user's role (Nestor has none, Megan is Cloud Device Administrator), and
    the request log says who each call was made as."""
    body = dict(sim.tenant.policy)
    url = f"{sim.url}/v1.0/policies/deviceRegistrationPolicy"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        statuses = {}
        for user in (NESTOR, MEGAN):
            token = await graph_token(session, sim, user)
            async with session.put(url, json=body, headers={"Authorization": f"Bearer {token}"}) as answer:
                statuses[user] = (answer.status, await answer.json())
            roles_url = f"{sim.url}/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole"
            async with session.get(roles_url, headers={"Authorization": f"Bearer {token}"}) as answer:
                names = [r["displayName"] for r in (await answer.json())["value"]]
                assert ("Cloud Device Administrator" in names) == (user == MEGAN)
    assert statuses[NESTOR][0] == 403
    assert statuses[NESTOR][1]["error"]["code"] == "Authorization_RequestDenied"
    assert statuses[MEGAN][0] == 200
    puts = [r for r in sim.simulator.requests if r["route"] == "policy.put"]
    assert [r["caller"] for r in puts] == [{"kind": "user", "id": NESTOR}, {"kind": "user", "id": MEGAN}]


async def graph_token(session: aiohttp.ClientSession, sim, user: str) -> str:
    form = {
        "grant_type": "password",
        "client_id": TEAMS_CLIENT,
        "username": UPN[user],
        "password": PASSWORD[user],
        "scope": "https://graph.microsoft.com/.default",
    }
    async with session.post(f"{sim.url}/{sim.tenant.tenant_id}/oauth2/v2.0/token", data=form) as answer:
        assert answer.status == 200
        return str((await answer.json())["access_token"])


async def test_the_mdm_user_scope_is_judged_after_a_sign_in(approver_bot, connector, sim):
    bot = approver_bot
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    card = connector.cards()[-1]
    action = next(a for a in card["actions"] if a.get("verb") == "diagnosis.mdm_scope")
    assert action["title"] == "Sign in to check the MDM user scope"
    assert "Automatic MDM enrollment is off" not in text_of(card)  # the app cannot read it
    assert [r["status"] for r in sim.simulator.requests if r["route"] == "mdmPolicies.list"] in ([], [403])

    def press_scope(**value: Any) -> dict[str, Any]:
        activity = card_action(connector.url, "diagnosis.mdm_scope", action["data"], reply_to="diagnosis-card")
        activity["value"].update(value)
        return activity

    _, asked = await bot.post(press_scope())
    assert asked["statusCode"] == 401 and asked["type"] == LOGIN_REQUEST
    token = await sso_token(sim, REQUESTER, asked["value"]["tokenExchangeResource"]["uri"])
    _, answer = await bot.post(
        press_scope(authentication={"id": "exchange-mdm", "connectionName": "graph", "token": token})
    )
    judged = text_of(answer["value"])
    assert "Automatic MDM enrollment is off" in judged and "MDM user scope is None" in judged
    reads = [r for r in sim.simulator.requests if r["route"] == "mdmPolicies.list" and r["status"] == 200]
    assert [r["caller"] for r in reads] == [{"kind": "user", "id": REQUESTER}]


async def test_a_sign_in_card_magic_code_is_redeemed_and_the_next_press_goes_through(approver_bot, connector, sim):
    """The classic sign-in card's `signin/verifyState`: the Token Service keeps the token; the bot keeps nothing."""
    bot = approver_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    asked = await press(bot, connector, "approval.approve", request_id, MEGAN)
    link = asked["value"]["buttons"][0]["value"]
    form = {"state": link.split("state=", 1)[1], "username": UPN[MEGAN], "password": PASSWORD[MEGAN]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        async with session.post(link.split("?", 1)[0], data=form) as page:
            code = (await page.json())["magicCode"]
    verify = card_action(connector.url, "unused", conversation_type="channel", user=MEGAN)
    verify.update({"name": "signin/verifyState", "value": {"state": "000000" if code != "000000" else "111111"}})
    status, _ = await bot.post(verify)
    assert status == 404  # a wrong code signs nobody in
    verify["value"] = {"state": code}
    status, _ = await bot.post(verify)
    assert status == 200
    assert "You are signed in. Press the button again to go on." in connector.texts_in(f"{CHANNEL};messageid=1")
    answer = await press(bot, connector, "approval.approve", request_id, MEGAN)
    assert "Approved by Megan Bowen" in text_of(answer["value"])
    await bot.idle()
    assert [w["caller"]["id"] for w in writes(sim)] == [MEGAN]


async def test_an_apply_resumed_without_a_sign_in_writes_nothing_and_asks_for_one(bot_factory, connector, sim, clock):
    """The bot went down while applying with Megan's token, which is gone with it: the next start-up re-reads as
    the app, writes nothing, and the request fails asking an approver to Retry and sign in."""
    connector.members = []
    first = await bot_factory(**approver_env(sim))
    await use_channel(first, connector)
    request_id, _ = await request_change(first, connector)
    # No time-bound window in approver mode: its end would be a write the bot makes on its own.
    reading = Fault(route="policy.get", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    asked = await press(first, connector, "approval.approve", request_id, MEGAN)
    token = await sso_token(sim, MEGAN, asked["value"]["tokenExchangeResource"]["uri"])
    sim.tenant.faults.append(reading)
    authentication = {"id": "exchange-restart", "connectionName": "graph", "token": token}
    await press(first, connector, "approval.approve", request_id, MEGAN, authentication=authentication)
    await asyncio.wait_for(reading.arrived.wait(), 10)  # the apply, as Megan, is reading the policy
    await first.stop()
    reading.gate.set()
    clock.advance(minutes=10)
    second = await bot_factory(**approver_env(sim))
    await second.idle()
    assert writes(sim) == []  # not even a refused attempt as the app
    from app import DEPS

    request = await second.app[DEPS].storage.get_approval(request_id)
    assert request is not None and request.state.value == "failed"
    assert "none was at hand" in (request.error or "") and "presses Retry and signs in" in (request.error or "")
    assert request.extra.get("window", "permanent") == "permanent"
    # As it says: Megan presses Retry, signs in (silently), and the change is made as her.
    asked = await press(second, connector, "approval.retry", request_id, MEGAN)
    assert asked["statusCode"] == 401
    token = await sso_token(sim, MEGAN, asked["value"]["tokenExchangeResource"]["uri"])
    authentication = {"id": "exchange-retry", "connectionName": "graph", "token": token}
    await press(second, connector, "approval.retry", request_id, MEGAN, authentication=authentication)
    await second.idle()
    assert [w["caller"]["id"] for w in writes(sim)] == [MEGAN]
    retried = await second.app[DEPS].storage.get_approval(request_id)
    assert retried is not None and retried.state.value == "applied"


async def test_the_change_is_made_only_as_the_approver_who_pressed(approver_bot, connector, sim):
    bot = approver_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    asked = await press(bot, connector, "approval.approve", request_id, MEGAN)
    uri = asked["value"]["tokenExchangeResource"]["uri"]
    # Megan's press carrying someone else's sign-in (a second account, or a forged one): nothing is written.
    others = {"id": "exchange-other", "connectionName": "graph", "token": await sso_token(sim, NESTOR, uri)}
    answer = await press(bot, connector, "approval.approve", request_id, MEGAN, authentication=others)
    assert "The account you signed in with is not the one you use in Teams" in text_of(answer["value"])
    assert not await token_service_holds(sim, f"29:{MEGAN}")  # signed out again
    # An exchange id no Teams client sends is refused before the database or the Token Service sees it.
    odd = {"id": "x" * 300, "connectionName": "graph", "token": await sso_token(sim, MEGAN, uri)}
    refused = await press(bot, connector, "approval.approve", request_id, MEGAN, authentication=odd)
    assert refused["statusCode"] == 412
    await bot.idle()
    assert writes(sim) == []
    assert len([r for r in sim.simulator.requests if r["route"] == "tokenService.exchange"]) == 1
    from app import DEPS

    assert await bot.app[DEPS].storage.get_setting("token-exchange:" + "x" * 300) is None


async def test_no_sign_in_is_asked_of_someone_who_cannot_make_the_move(approver_bot, connector, sim):
    """A press the lifecycle would refuse is answered as in app mode (who may act, or what became of the request),
    never with a sign-in: a non-approver, the requester on their own request, and a press on a request that has
    moved on."""
    bot = approver_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    for user in (ALEX, REQUESTER):
        answer = await press(bot, connector, "approval.approve", request_id, user)
        assert answer["statusCode"] == 200 and answer["type"] == "application/vnd.microsoft.card.adaptive", user
        assert "Who can approve: members of" in text_of(answer["value"]), user
    rejected = await act(bot, connector, "approval.reject", request_id, MEGAN, reason="Not this term")
    assert "Rejected" in text_of(rejected)
    await bot.idle()
    late = await press(bot, connector, "approval.approve", request_id, MEGAN)
    assert late["statusCode"] == 200 and late["type"] == "application/vnd.microsoft.card.adaptive"
    assert writes(sim) == []
