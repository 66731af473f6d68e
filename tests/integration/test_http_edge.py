"""The bot's HTTP edge: bad input gets a clear status, never a stack trace."""

from __future__ import annotations

import json

from tests.support.activities import message


async def test_healthz(bot):
    async with bot.session.get(f"{bot.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_malformed_bodies_get_400(bot, connector):
    good = message(connector.url, "hello")
    cases = [
        b"{not json",
        b"[]",
        json.dumps({"text": "no type"}).encode(),
        json.dumps({**good, "conversation": {}}).encode(),
        json.dumps({**good, "serviceUrl": "ftp://nowhere"}).encode(),
        json.dumps({**good, "text": 42}).encode(),
    ]
    for data in cases:
        status, text = await bot.post_raw(data)
        assert status == 400, data
        assert "Traceback" not in text
        assert json.loads(text)["error"]["message"]
    assert connector.calls == []


async def test_wrong_content_type_gets_415(bot):
    status, _ = await bot.post_raw(b"hello", content_type="text/plain")
    assert status == 415


async def test_oversized_body_gets_413(bot, connector):
    activity = message(connector.url, "x" * (300 * 1024))
    status, _ = await bot.post(activity)
    assert status == 413
    assert connector.calls == []


async def test_activity_from_another_tenant_is_refused_and_logged(bot, connector, caplog):
    status, _ = await bot.post(
        message(connector.url, "bulk enrollment failed", tenant="00000000-dead-beef-0000-000000000000")
    )
    assert status == 403
    assert connector.calls == []
    assert "refused activity" in caplog.text


async def test_with_an_app_id_a_request_without_a_valid_token_gets_401(bot_factory, connector):
    bot = await bot_factory(
        MicrosoftAppId="11111111-2222-3333-4444-555555555555",
        MicrosoftAppPassword="not-used",
        MicrosoftAppTenantId="5f1c2a3b-8d4e-4f60-9a7b-1c2d3e4f5a6b",
    )
    status, _ = await bot.post(message(connector.url, "bulk enrollment failed"))
    assert status == 401
    status, _ = await bot.post(message(connector.url, "bulk enrollment failed"), headers={"Authorization": "Basic abc"})
    assert status == 401
    assert connector.calls == []


async def test_invoke_response_is_serialized_once(bot, connector):
    from tests.support.activities import card_action

    status, body = await bot.post(card_action(connector.url, "diagnosis.start"))
    assert status == 200
    assert set(body) == {"statusCode", "type", "value"}
    assert body["value"]["type"] == "AdaptiveCard"
