"""The bot's HTTP edge: bad input gets a clear status, never a stack trace."""

from __future__ import annotations

import json
import logging

from botbuilder.schema import Activity

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


async def test_every_tenant_field_must_name_ours(bot, bot_factory, connector, caplog):
    other = "00000000-dead-beef-0000-000000000000"
    mixed = message(connector.url, "help")
    mixed["conversation"]["tenantId"] = other  # channelData.tenant.id still names ours
    status, _ = await bot.post(mixed)
    assert status == 403
    mixed = message(connector.url, "help")
    mixed["channelData"]["tenant"]["id"] = other
    status, _ = await bot.post(mixed)
    assert status == 403
    assert connector.calls == []
    assert caplog.text.count("refused activity") == 2
    # the twin: both fields ours, served
    status, _ = await bot.post(message(connector.url, "help"))
    assert status == 201
    assert len(connector.sent) == 1


async def test_with_auth_off_the_playground_may_omit_conversation_tenant(bot, connector):
    activity = message(connector.url, "help")
    del activity["conversation"]["tenantId"]
    status, _ = await bot.post(activity)
    assert status == 201


async def test_deep_nesting_invalid_utf8_and_wrong_types_get_400(bot, connector):
    good = message(connector.url, "hello")
    deep = "[" * 100_000 + "]" * 100_000
    nested: dict = {}
    cursor = nested
    for _ in range(60):
        cursor["x"] = {}
        cursor = cursor["x"]
    cases = [
        deep.encode(),
        json.dumps({**good, "channelData": nested}).encode(),
        b'{"type": "message", "text": "\xff\xfe"}',
        json.dumps({**good, "from": "someone"}).encode(),
        json.dumps({**good, "from": {"id": ["29:x"]}}).encode(),
        json.dumps({**good, "entities": "mention"}).encode(),
        json.dumps({**good, "entities": [1, 2]}).encode(),
        json.dumps({**good, "channelData": {"tenant": "5f1c"}}).encode(),
        json.dumps({**good, "conversation": {**good["conversation"], "tenantId": 5}}).encode(),
        json.dumps({**good, "type": "invoke", "name": "adaptiveCard/action", "value": [1]}).encode(),
    ]
    for data in cases:
        status, text = await bot.post_raw(data)
        assert status == 400, data[:80]
        assert "Traceback" not in text and json.loads(text)["error"]["message"]
    assert connector.calls == []


async def test_a_gateway_error_from_the_connector_is_retried(bot, connector):
    connector.faults = ["502-html", "429"]
    status, _ = await bot.post(message(connector.url, "help"))
    assert status == 201
    assert connector.attempts == 3
    assert len(connector.sent) == 1  # delivered once, after two transient failures


async def test_a_connector_that_keeps_failing_is_logged_once_and_the_request_still_answered(bot, connector, caplog):
    connector.faults = ["500-text"] * 3 + ["502-html"] * 10
    status, body = await bot.post(message(connector.url, "help"))
    assert status in (201, 202)
    assert "Traceback" not in str(body)
    # 500 is not among what Teams' guidance retries (412, 429, 502, 504); and the error card is not even
    # tried, since it could not get through either
    assert connector.attempts == 1
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "Bot Connector did not send a message" in failures[0].getMessage()
    connector.faults = []
    status, _ = await bot.post(message(connector.url, "help"))  # still healthy
    assert status == 201 and len(connector.sent) == 1


async def test_a_hanging_connector_times_out_without_a_500(bot_factory, connector):
    bot = await bot_factory(BOT_CONNECTOR_TIMEOUT_SECONDS="0.3")
    connector.faults = ["hang"] * 10
    status, _ = await bot.post(message(connector.url, "help"))
    assert status in (201, 202)
    assert connector.attempts == 4


async def test_a_mention_whose_text_is_not_a_regular_expression_is_removed_plainly(bot, connector):
    # botbuilder's remove_recipient_mention would compile "Doctor (Bot" as a pattern and raise
    activity = message(connector.url, "help", conversation_type="channel", mention=True)
    activity["text"] = "<at>Doctor (Bot</at> help"
    activity["entities"][0]["text"] = "<at>Doctor (Bot</at>"
    status, _ = await bot.post(activity)
    assert status == 201
    (card,) = connector.cards()
    assert "I fix Windows bulk enrollment failures" in json.dumps(card)  # "help" was understood


async def test_malformed_entities_get_400(bot, connector):
    good = message(connector.url, "help", conversation_type="channel", mention=True)
    for entities in ([{"text": "x"}], [{"type": "mention", "mentioned": "bot"}], [{"type": "mention", "text": 5}]):
        status, _ = await bot.post({**good, "entities": entities})
        assert status == 400, entities
    assert connector.calls == []


async def test_replies_and_updates_carry_the_bots_token_when_it_has_an_app_id(connector, clock):
    """The fast send path puts the outbound token on each call, as botframework-connector's credentials do
    (the token itself comes from msal, which needs Entra: a credentials object that has one stands in)."""
    from botbuilder.core import TurnContext
    from botbuilder.schema import ChannelAccount, ConversationAccount
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    from bot.adapter import create_adapter
    from bot.proactive import card_message
    from bot.settings import load_settings

    class HasToken(MicrosoftAppCredentials):
        def get_access_token(self, force_refresh: bool = False) -> str:
            return "outbound-token-1"

    settings = load_settings({"GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c", "GRAPH_CLIENT_SECRET": "s"}, dotenv=None)
    adapter = create_adapter(settings, clock)
    try:
        activity = Activity().deserialize(message(connector.url, "hi"))
        context = TurnContext(adapter, activity)
        context.turn_state[adapter.BOT_CONNECTOR_CLIENT_KEY] = ConnectorClient(
            HasToken("11111111-2222-3333-4444-555555555555", "pw"), base_url=connector.url
        )
        reply = card_message({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x"}]})
        reply.conversation = ConversationAccount(id="a:personal-chat-1")
        reply.from_property, reply.recipient = ChannelAccount(id="28:bot"), ChannelAccount(id="29:user")
        (sent,) = await adapter.send_activities(context, [reply])
        reply.id = sent.id
        await adapter.update_activity(context, reply)
    finally:
        await adapter.auth.close()
    assert [c.method for c in connector.calls] == ["send", "update"]
    for call in connector.calls:
        assert call.headers["Authorization"] == "Bearer outbound-token-1"
        assert call.activity["attachments"][0]["content"]["body"][0]["text"] == "x"
        assert call.activity["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
