"""Inbound authentication over real HTTP, against a local OpenID metadata + JWKS server the test controls.

Every refusal has its accepted twin: a correctly signed activity is served, so "refused" never means
"everything fails". The accepted activities are ones whose answer needs no outbound Bot Connector token
(an invoke answers in its HTTP response; a conversationUpdate only stores the conversation).
"""

from __future__ import annotations

import asyncio
import logging

import jwt
import pytest

from app import DEPS
from tests.support.activities import TENANT, card_action, message
from tests.support.openid import APP_ID, SigningKeyPair, start_token_service, unsigned_token


@pytest.fixture
async def token_service(tmp_path):
    service, runner = await start_token_service(tmp_path / "openid-tls")
    yield service
    service.release.set()
    await runner.cleanup()


@pytest.fixture
async def secure_bot(bot_factory, token_service):
    async def make(**env):
        settings = {
            "MicrosoftAppId": APP_ID,
            "MicrosoftAppPassword": "secret-not-used-by-these-tests",
            "MicrosoftAppTenantId": TENANT,
            "BOT_OPENID_METADATA_URL": token_service.metadata_url,
            "BOT_OPENID_CA_BUNDLE": str(token_service.ca_pem),
            "BOT_OPENID_TIMEOUT_SECONDS": "1",
        }
        return await bot_factory(**{**settings, **env})

    return make


def conversation_update(service_url: str) -> dict:
    activity = message(service_url, "")
    activity.update({"type": "conversationUpdate", "membersAdded": [{"id": "28:enrollment-doctor"}]})
    activity.pop("text")
    return activity


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_correctly_signed_invoke_is_served(secure_bot, token_service, connector, sim, clock):
    bot = await secure_bot()
    token = token_service.token(connector.url, now=clock.now().timestamp())
    status, body = await bot.post(card_action(connector.url, "diagnosis.start"), headers=bearer(token))
    assert status == 200
    assert body["value"]["type"] == "AdaptiveCard"
    assert any(r["route"] == "policy.get" for r in sim.simulator.requests)


async def test_a_correctly_signed_conversation_update_is_stored(secure_bot, token_service, connector, clock):
    bot = await secure_bot()
    token = token_service.token(connector.url, now=clock.now().timestamp())
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
    assert status == 201
    assert await bot.app[DEPS].storage.latest_conversation(TENANT) is not None


def _bad_tokens(service, service_url: str, now: float) -> dict[str, str]:
    stranger = SigningKeyPair.new("key-1")  # same kid, another private key: the signature cannot verify
    unknown = SigningKeyPair.new("key-unknown")
    claims = {"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": service_url, "exp": now + 600}
    return {
        "no header": "",
        "basic auth": "Basic dXNlcjpwYXNz",
        "garbage bearer": "Bearer !!!not-a-token!!!",
        "non-JWT": "Bearer abc.def",
        "alg none": f"Bearer {unsigned_token(claims)}",
        "HS256": "Bearer "
        + jwt.encode(claims, "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": "key-1"}),
        "signed by an unknown key": f"Bearer {service.token(service_url, key=unknown, now=now)}",
        "forged signature": f"Bearer {service.token(service_url, key=stranger, now=now)}",
        "expired": f"Bearer {service.token(service_url, now=now - 7200, lifetime=600)}",
        "not yet valid": f"Bearer {service.token(service_url, now=now, nbf=int(now) + 3600)}",
        "other audience": f"Bearer {service.token(service_url, now=now, aud='00000000-0000-0000-0000-000000000000')}",
        "other issuer": f"Bearer {service.token(service_url, now=now, iss='https://sts.windows.net/evil/')}",
        "no expiry": f"Bearer {service.token(service_url, now=now, exp=None)}",
        "other service URL": f"Bearer {service.token('https://evil.example.invalid/', now=now)}",
    }


async def test_every_bad_token_is_a_401_with_no_effect(secure_bot, token_service, connector, sim, clock, caplog):
    bot = await secure_bot()
    now = clock.now().timestamp()
    caplog.set_level(logging.WARNING)
    for name, header in _bad_tokens(token_service, connector.url, now).items():
        caplog.clear()
        headers = {"Authorization": header} if header else {}
        status, body = await bot.post(message(connector.url, "bulk enrollment failed"), headers=headers)
        assert status == 401, name
        assert body == {"error": {"status": 401, "message": "the request does not carry a valid Bot Framework token"}}
        refusals = [r for r in caplog.records if r.levelno == logging.WARNING and "refused" in r.getMessage()]
        assert len(refusals) == 1, (name, [r.getMessage() for r in caplog.records])
        assert refusals[0].exc_info is None and "Traceback" not in caplog.text, name
    assert sim.simulator.requests == []
    assert connector.calls == []
    assert await bot.app[DEPS].storage.latest_conversation(TENANT) is None
    # the twin: the same bot, a good token, served
    good = token_service.token(connector.url, now=now)
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(good))
    assert status == 201


async def test_a_key_not_endorsed_for_teams_is_refused(secure_bot, token_service, connector, clock):
    webchat_only = SigningKeyPair.new("key-webchat", endorsements=("webchat",))
    token_service.keys.append(webchat_only)
    bot = await secure_bot()
    now = clock.now().timestamp()
    status, _ = await bot.post(
        conversation_update(connector.url),
        headers=bearer(token_service.token(connector.url, key=webchat_only, now=now)),
    )
    assert status == 401
    status, _ = await bot.post(
        conversation_update(connector.url), headers=bearer(token_service.token(connector.url, now=now))
    )
    assert status == 201


async def test_a_hanging_key_endpoint_does_not_freeze_the_bot(secure_bot, token_service, connector, clock):
    token_service.mode = "hang"
    bot = await secure_bot()
    token = token_service.token(connector.url, now=clock.now().timestamp())
    waiting = [
        asyncio.create_task(bot.post(conversation_update(connector.url), headers=bearer(token))) for _ in range(5)
    ]
    await asyncio.sleep(0.2)
    async with bot.session.get(f"{bot.url}/healthz") as response:  # answers while the fetch hangs
        assert response.status == 200
    assert not any(t.done() for t in waiting)
    results = await asyncio.gather(*waiting)
    # fail closed: no key could be had, so nobody passes; and one fetch served all five waiting requests
    assert {status for status, _ in results} == {503}
    assert token_service.metadata_hits == 1
    # a dead endpoint is not asked again at once: the next request is refused without a new fetch
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
    assert status == 503 and token_service.metadata_hits == 1
    # once it answers again (a minute later), the same token is accepted
    token_service.mode = "ok"
    clock.advance(seconds=61)
    token = token_service.token(connector.url, now=clock.now().timestamp())
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
    assert status == 201 and token_service.metadata_hits == 2


async def test_keys_are_cached_refreshed_daily_and_kept_when_a_refresh_fails(
    secure_bot, token_service, connector, clock
):
    bot = await secure_bot()

    async def post() -> int:
        token = token_service.token(connector.url, now=clock.now().timestamp())
        status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
        return status

    assert await post() == 201
    for _ in range(5):
        clock.advance(hours=4)
        assert await post() == 201
    assert token_service.jwks_hits == 1  # 20 hours: still the first fetch
    token_service.mode = "error"
    clock.advance(hours=5)  # past the 24 h refresh interval, and the endpoint fails
    assert await post() == 201  # served with the last good keys
    await asyncio.sleep(0.1)
    assert token_service.metadata_hits == 2
    assert await post() == 201
    assert token_service.metadata_hits == 2  # the failed refresh is not repeated within a minute
    token_service.mode = "ok"
    clock.advance(minutes=2)
    assert await post() == 201
    await asyncio.sleep(0.1)
    assert token_service.jwks_hits == 2


async def test_a_rotated_key_is_fetched_once_and_an_unknown_kid_at_most_once_a_minute(
    secure_bot, token_service, connector, clock
):
    bot = await secure_bot()
    now = clock.now().timestamp()
    status, _ = await bot.post(
        conversation_update(connector.url), headers=bearer(token_service.token(connector.url, now=now))
    )
    assert status == 201 and token_service.jwks_hits == 1
    clock.advance(minutes=2)
    rotated = SigningKeyPair.new("key-2")
    token_service.keys.append(rotated)
    token = token_service.token(connector.url, key=rotated, now=clock.now().timestamp())
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
    assert status == 201 and token_service.jwks_hits == 2
    stranger = SigningKeyPair.new("key-never-published")
    for _ in range(5):
        token = token_service.token(connector.url, key=stranger, now=clock.now().timestamp())
        status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
        assert status == 401
    assert token_service.jwks_hits == 2  # key-2's refresh was under a minute ago: no refetch for strangers
    clock.advance(minutes=2)
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
    assert status == 401 and token_service.jwks_hits == 3


async def test_with_auth_on_both_tenant_fields_must_name_ours(secure_bot, token_service, connector, clock, caplog):
    bot = await secure_bot()
    token = token_service.token(connector.url, now=clock.now().timestamp())
    missing = conversation_update(connector.url)
    del missing["conversation"]["tenantId"]
    other = conversation_update(connector.url)
    other["conversation"]["tenantId"] = "00000000-dead-beef-0000-000000000000"  # channelData still ours
    for activity in (missing, other):
        status, _ = await bot.post(activity, headers=bearer(token))
        assert status == 403
    assert caplog.text.count("refused activity") == 2
    assert await bot.app[DEPS].storage.latest_conversation(TENANT) is None
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))  # the twin
    assert status == 201


async def test_while_a_refresh_hangs_requests_are_served_with_the_keys_in_hand(
    secure_bot, token_service, connector, clock
):
    bot = await secure_bot(BOT_OPENID_TIMEOUT_SECONDS="30")
    token = token_service.token(connector.url, now=clock.now().timestamp())
    status, _ = await bot.post(conversation_update(connector.url), headers=bearer(token))
    assert status == 201 and token_service.metadata_hits == 1
    token_service.mode = "hang"
    clock.advance(hours=25)  # due for the daily refresh, and the endpoint now hangs
    token = token_service.token(connector.url, now=clock.now().timestamp())
    for _ in range(3):
        status, _ = await asyncio.wait_for(bot.post(conversation_update(connector.url), headers=bearer(token)), 5)
        assert status == 201
    assert token_service.metadata_hits == 2  # one refresh started, still hanging, not waited for
    token_service.release.set()
