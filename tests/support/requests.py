"""Finding a request's cards in what the recording connector saw: request ids are 32 hex digits."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.connector import RecordingConnector

_REQUEST_ID = re.compile(r'"requestId": "([0-9a-f]{32})"|"Request", "value": "([0-9a-f]{32})"')


def request_id_of(card: dict[str, Any]) -> str | None:
    words = json.dumps(card)
    match = _REQUEST_ID.search(words) or re.search(r'"value": "([0-9a-f]{32})"', words)
    return next((g for g in match.groups() if g), None) if match else None


def request_copies(connector: RecordingConnector, conversation: str, request_id: str) -> list[tuple[str, dict]]:
    """(activity id, card as it stands now) of every copy of the request's card sent to a conversation."""
    return [(i, c) for i, c in connector.sent_cards(conversation) if request_id_of(c) == request_id]


def latest_request_card(connector: RecordingConnector, conversation: str) -> tuple[str, str, dict[str, Any]]:
    """(request id, activity id, card) of the newest request card sent to a conversation."""
    for activity_id, card in reversed(connector.sent_cards(conversation)):
        request_id = request_id_of(card)
        if request_id:
            return request_id, activity_id, card
    raise AssertionError(f"no request card in {conversation}")
