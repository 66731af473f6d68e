"""Build the activities Teams would send, as JSON."""

from __future__ import annotations

import itertools
from typing import Any

TENANT = "5f1c2a3b-8d4e-4f60-9a7b-1c2d3e4f5a6b"
REQUESTER = "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f01"
BOT_ID = "28:enrollment-doctor"
_ids = itertools.count(1)


MEGAN = "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f02"  # approver
NESTOR = "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f03"  # approver
ALEX = "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f04"  # not an approver
NAMES = {REQUESTER: "Adele Vance", MEGAN: "Megan Bowen", NESTOR: "Nestor Wilke", ALEX: "Alex Wilber"}
CHANNEL = "19:admins@thread.tacv2"
PERSONAL = "a:personal-chat-1"


def _base(service_url: str, conversation_type: str, user: str, tenant: str) -> dict[str, Any]:
    conversation_id = {
        "personal": "a:personal-chat-1",
        "channel": "19:admins@thread.tacv2;messageid=1",
        "groupChat": "19:group@thread.v2",
    }[conversation_type]
    return {
        "id": f"act-{next(_ids)}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": f"29:{user}", "name": NAMES.get(user, "Someone"), "aadObjectId": user},
        "recipient": {"id": BOT_ID, "name": "Enrollment Doctor"},
        "conversation": {"id": conversation_id, "conversationType": conversation_type, "tenantId": tenant},
        "channelData": {"tenant": {"id": tenant}},
        "locale": "en-US",
    }


def message(
    service_url: str,
    text: str,
    *,
    conversation_type: str = "personal",
    user: str = REQUESTER,
    tenant: str = TENANT,
    mention: bool = False,
) -> dict[str, Any]:
    activity = _base(service_url, conversation_type, user, tenant)
    activity.update({"type": "message", "text": text, "textFormat": "plain"})
    if mention:
        activity["text"] = f"<at>Enrollment Doctor</at> {text}"
        activity["entities"] = [
            {
                "type": "mention",
                "text": "<at>Enrollment Doctor</at>",
                "mentioned": {"id": BOT_ID, "name": "Enrollment Doctor"},
            }
        ]
    return activity


def card_action(
    service_url: str,
    verb: str,
    data: dict[str, Any] | None = None,
    *,
    conversation_type: str = "personal",
    user: str = REQUESTER,
    tenant: str = TENANT,
    reply_to: str = "activity-1",
) -> dict[str, Any]:
    activity = _base(service_url, conversation_type, user, tenant)
    activity.update(
        {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "replyToId": reply_to,
            "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data or {}}, "trigger": "manual"},
        }
    )
    return activity


def installed(
    service_url: str, *, conversation_type: str = "personal", kind: str = "conversationUpdate"
) -> dict[str, Any]:
    """The bot added to a chat or a team: a conversationUpdate naming it among membersAdded, or an
    installationUpdate with action "add"."""
    activity = _base(service_url, conversation_type, REQUESTER, TENANT)
    if kind == "conversationUpdate":
        activity.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
    else:
        activity.update({"type": "installationUpdate", "action": "add"})
    return activity
