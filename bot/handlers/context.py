"""What a handler gets: the turn, the app's dependencies, and who is acting where."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes

from bot.deps import Deps
from bot.domain.approval import Origin
from bot.observability import tenant_id as log_tenant
from bot.proactive import card_message
from bot.signin import SignInAttempt
from bot.wire import to_json

# Work a handler asked to run once the HTTP answer to this activity has been written (bot/web.py sets it): an
# invoke's "checking" card must reach Teams before the update that replaces it.
Work = Callable[[], Coroutine[Any, Any, None]]
Deferred = list[tuple[str, Work]]
DEFERRED: contextvars.ContextVar[Deferred | None] = contextvars.ContextVar("deferred", default=None)


@dataclass
class Turn:
    context: TurnContext
    deps: Deps
    target: str | None = None  # the tenant this turn acts on, once known (bot/handlers/tenancy.py)

    def use(self, tenant_id: str) -> None:
        """From here on, the turn acts on this tenant: its services, its records, its cards."""
        assert self.deps.tenants is not None
        self.deps = self.deps.tenants.deps_for(tenant_id)
        self.target = self.deps.settings.tenant_id
        log_tenant.set(self.target)  # every later log line of this turn, and of the work it leaves behind

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

    @property
    def acting_tenant(self) -> str:
        """The tenant this turn acts on: the one settled on, else the conversation's own."""
        return self.target or self.tenant_id

    def origin(self) -> Origin:
        """Who acts and from where, for the workflows that must not depend on a turn."""
        return Origin(
            user_id=self.user_id,
            user_name=self.user_name,
            tenant_id=self.acting_tenant,
            conversation_id=self.conversation_id,
            conversation_type=self.conversation_type,
            card_id=self.activity.reply_to_id,
        )

    async def send_card(self, card: dict[str, Any]) -> str | None:
        response = await self.context.send_activity(card_message(self.deps.messenger.prepare(card)))
        return response.id if response else None

    def reference(self) -> dict[str, Any]:
        """Where to answer later, outside this turn (a proactive send or update)."""
        return to_json(TurnContext.get_conversation_reference(self.activity))

    def later(self, name: str, work: Work) -> None:
        """Run `work` in the background once this turn has been answered."""
        queue = DEFERRED.get()
        if queue is None:
            self.deps.background.spawn(work(), name=name)
        else:
            queue.append((name, work))

    def sign_in_attempt(self) -> SignInAttempt:
        """What this invoke carries for signing in: an SSO token (`authentication`) or a magic code (`state`)."""
        activity = self.activity
        value: dict[str, Any] = activity.value if isinstance(activity.value, dict) else {}
        raw_auth = value.get("authentication")
        auth: dict[str, Any] = raw_auth if isinstance(raw_auth, dict) else {}
        state = value.get("state")
        conversation = activity.conversation
        return SignInAttempt(
            user_id=(activity.from_property.id or "") if activity.from_property else "",
            channel_id=activity.channel_id or "msteams",
            bot_id=(activity.recipient.id or "") if activity.recipient else "",
            conversation={"id": conversation.id, "tenantId": conversation.tenant_id} if conversation else {},
            service_url=activity.service_url or "",
            activity_id=activity.id,
            exchange_id=str(auth["id"]) if auth.get("id") else None,
            exchange_token=str(auth["token"]) if auth.get("token") else None,
            magic_code=str(state) if isinstance(state, str | int) and str(state) else None,
        )

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
