"""What a handler gets: the turn, the app's dependencies, and who is acting where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes

from bot.deps import Deps
from bot.proactive import card_message


@dataclass
class Turn:
    context: TurnContext
    deps: Deps

    @property
    def activity(self) -> Activity:
        return self.context.activity

    @property
    def user_id(self) -> str:
        sender = self.activity.from_property
        return (sender.aad_object_id or sender.id or "") if sender else ""

    @property
    def user_name(self) -> str:
        sender = self.activity.from_property
        return (sender.name or sender.id or "someone") if sender else "someone"

    @property
    def conversation_id(self) -> str:
        return self.activity.conversation.id if self.activity.conversation else ""

    @property
    def conversation_type(self) -> str:
        conversation = self.activity.conversation
        return (conversation.conversation_type or "personal") if conversation else "personal"

    @property
    def tenant_id(self) -> str:
        return activity_tenant_id(self.activity) or ""

    async def send_card(self, card: dict[str, Any]) -> str | None:
        response = await self.context.send_activity(card_message(card))
        return response.id if response else None

    async def typing(self) -> None:
        await self.context.send_activity(Activity(type=ActivityTypes.typing))


def activity_tenant_id(activity: Activity) -> str | None:
    if activity.conversation and activity.conversation.tenant_id:
        return activity.conversation.tenant_id
    channel_data = activity.channel_data
    if isinstance(channel_data, dict):
        tenant = channel_data.get("tenant")
        if isinstance(tenant, dict) and tenant.get("id"):
            return str(tenant["id"])
    return None
