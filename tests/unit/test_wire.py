"""bot/wire.py gives exactly what msrest's Model.serialize() and Model.deserialize() give: for the activities a
turn reads and sends, for every activity hypothesis can make from JSON, and (falling back to msrest) for the
shapes it does not handle itself, refusals included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import SerializationError
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    CardAction,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
    Entity,
    SuggestedActions,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import wire
from bot.wire import from_json, to_json
from tests.support.activities import card_action, message

SERVICE = "https://smba.trafficmanager.net/emea/"
CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x"}], "fallbackText": "x"}


def _same(model: Any) -> dict[str, Any]:
    fast = to_json(model)
    assert fast == model.serialize()
    return fast


def test_what_a_turn_sends_serializes_as_msrest_does():
    incoming = Activity().deserialize(message(SERVICE, "A setup failure has occurred", mention=True))
    reply = TurnContext.apply_conversation_reference(
        MessageFactory.attachment(Attachment(content_type="application/vnd.microsoft.card.adaptive", content=CARD)),
        TurnContext.get_conversation_reference(incoming),
    )
    body = _same(reply)
    assert body["attachments"][0]["content"] == CARD
    assert body["conversation"]["id"] == incoming.conversation.id
    _same(incoming)
    _same(TurnContext.get_conversation_reference(incoming))
    _same(Activity().deserialize(card_action(SERVICE, "diagnosis.step", {"session": "s1", "step": "plan"})))
    _same(Activity(type=ActivityTypes.typing))  # an enum where a string belongs: its value


def test_nested_models_lists_datetimes_and_plain_objects():
    activity = Activity(
        type=ActivityTypes.message,
        id="a1",
        timestamp=datetime(2026, 12, 4, 21, 0, 5, 120000, tzinfo=UTC),
        local_timestamp=datetime(2026, 12, 4, 22, 0, 5, tzinfo=timezone(timedelta(hours=1))),
        from_property=ChannelAccount(id="29:x", name="Adele", aad_object_id="oid", role="user"),
        conversation=ConversationAccount(id="a:1", is_group=False, conversation_type="personal", tenant_id="t"),
        entities=[Entity(type="mention"), None],
        channel_data={"tenant": {"id": "t"}, "list": [1, 2.5, True, None, {"a": "b"}], "none": None},
        value={"action": {"verb": "x", "data": {"n": 1}}},
        suggested_actions=SuggestedActions(to=["u1"], actions=[CardAction(type="imBack", title="Yes", value="y")]),
        attachments=[Attachment(content_type="text/plain", content=ChannelAccount(id="model in an object"))],
    )
    body = _same(activity)
    assert body["from"]["aadObjectId"] == "oid"
    assert body["timestamp"] == "2026-12-04T21:00:05.120Z"


def test_shapes_it_does_not_handle_go_to_msrest():
    odd = [
        Activity(type="message", channel_data={"when": datetime(2026, 1, 1, tzinfo=UTC)}),  # datetime in an object
        Activity(type="message", channel_data={"pair": (1, 2)}),  # msrest makes "(1, 2)" of a tuple
        Activity(type="message", channel_data={1: "int key"}),
        Activity(type="message", text=5),  # msrest: str(5)
        Activity(type="message", history_disclosed=1),  # msrest: bool(1)
        Activity(type="message", members_added=(ChannelAccount(id="x"),)),  # a tuple for a list
    ]
    for activity in odd:
        _same(activity)
    refused = Activity(type="message", channel_data={"kind": ActivityTypes.message})  # an enum inside an object
    with pytest.raises(SerializationError):
        refused.serialize()
    with pytest.raises(SerializationError):  # the same refusal, from msrest itself
        to_json(refused)


def test_a_class_with_flattened_keys_is_left_to_msrest():
    class Flattened(ConversationReference):
        _attribute_map = {**ConversationReference._attribute_map, "nested": {"key": "a.b", "type": "str"}}

    reference = Flattened(activity_id="1")
    reference.nested = "deep"
    assert wire._plan(Flattened) is None
    assert _same(reference)["a"] == {"b": "deep"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        "type", "id", "text", "timestamp", "localTimestamp", "from", "recipient", "conversation", "entities",
        "attachments", "channelData", "value", "membersAdded", "suggestedActions", "replyToId", "importance",
        "textHighlights", "semanticAction", "expiration", "speak", "attachmentLayout", "reactionsAdded",
    ]
)  # fmt: skip
_account = st.fixed_dictionaries({}, optional={"id": _json, "name": _json, "aadObjectId": _json, "role": _json})
_values = _json | _account | st.lists(_account | _json, max_size=3) | st.sampled_from(["2026-12-04T21:00:05Z"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=8))
def test_every_activity_made_from_json_serializes_as_msrest_does(body):
    try:
        activity = Activity().deserialize(body)
    except Exception:  # noqa: BLE001 - a body msrest refuses is not a turn
        return
    try:
        expected = activity.serialize()
    except Exception:  # noqa: BLE001 - msrest cannot serialize it either: the fallback raises the same way
        return
    assert to_json(activity) == expected


def _read_same(cls: type, body: Any) -> Any:
    try:
        expected = cls().deserialize(body)
    except Exception as exc:  # noqa: BLE001 - then from_json refuses it the same way, through msrest
        try:
            from_json(cls, body)
        except Exception as again:  # noqa: BLE001
            assert type(again) is type(exc)
            return None
        raise AssertionError(f"msrest refused {body!r} ({exc}) and from_json did not") from exc
    got = from_json(cls, body)
    assert type(got) is type(expected) and got == expected  # msrest's __eq__: every attribute, extras too
    return got


def test_what_a_turn_reads_deserializes_as_msrest_does():
    body = message(SERVICE, "A setup failure has occurred", mention=True)
    body["timestamp"] = "2026-12-04T21:00:05.1234567Z"  # Teams sends seven digits
    body["from"]["userPrincipalName"] = "adele@contoso.example"  # not declared: kept in additional_properties
    body["channelData"]["eventType"] = None
    activity = _read_same(Activity, body)
    assert activity.from_property.additional_properties == {"userPrincipalName": "adele@contoso.example"}
    assert activity.timestamp == datetime(2026, 12, 4, 21, 0, 5, 123456, tzinfo=UTC)
    assert activity.entities[0].additional_properties["mentioned"]["id"]
    reference = to_json(TurnContext.get_conversation_reference(activity))
    assert _read_same(ConversationReference, reference).conversation.id == body["conversation"]["id"]
    _read_same(Activity, card_action(SERVICE, "diagnosis.step", {"session": "s1", "step": "plan"}))


def test_shapes_it_does_not_read_itself_go_to_msrest():
    for body in (
        {"type": "message", "text": 5},  # msrest: "5"
        {"type": "message", "historyDisclosed": "true"},  # msrest: True
        {"type": "message", "timestamp": "not a date"},  # msrest refuses it
        {"type": "message", "membersAdded": "x"},  # msrest refuses a string for a list
        {"type": "message", "from": "x"},  # nor a string for a model
        {"type": "message", "channelData": {"when": (1, 2)}},  # not JSON
        {"type": "message", "localTimestamp": 1},
        "not an object",
    ):
        _read_same(Activity, body)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=8))
def test_every_activity_read_from_json_is_the_one_msrest_reads(body):
    _read_same(Activity, body)
    _read_same(ConversationReference, {"activityId": body.get("id"), **{k: v for k, v in body.items() if k in (
        "conversation", "from", "recipient", "serviceUrl", "channelId", "locale")}})  # fmt: skip
