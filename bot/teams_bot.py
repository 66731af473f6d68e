"""A thin TeamsActivityHandler: decode the activity, dispatch to a handler, funnel every error."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse, InvokeResponse

from bot.attachments import find_attachments
from bot.deps import Deps
from bot.domain.recognizer import recognize
from bot.errors import BotError, DeliveryError
from bot.handlers import INTENT_HANDLERS, TENANT_INTENTS, VERB_HANDLERS, tenancy
from bot.handlers.attachments import read_attachments
from bot.handlers.context import Turn
from bot.handlers.errors import error_card_for
from bot.proactive import channel_base_id
from bot.signin import SignInRequired
from bot.storage import ConversationRecord
from bot.wire import to_json
from cards.common import CARD_CONTENT_TYPE
from cards.diagnosis import build_out_of_date_card, build_welcome_card
from cards.verbs import parse_action, verb_of

log = logging.getLogger(__name__)


def card_invoke_response(card: dict[str, Any]) -> InvokeResponse:
    # Returned from on_invoke_activity and serialized once by our HTTP layer (botbuilder 4.17.1 would
    # serialize an AdaptiveCardInvokeResponse twice if it came from on_adaptive_card_invoke).
    return InvokeResponse(
        status=200, body=AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)
    )


def text_without_bot_mention(activity: Activity) -> str:
    """The message text without the @mention of the bot. botbuilder's remove_recipient_mention uses the
    mention's text as a regular expression (a user's display name can break or stall it): plain replace here."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        props = entity.additional_properties or {}
        mentioned = props.get("mentioned")
        if (entity.type or "").lower() != "mention" or not isinstance(mentioned, dict) or mentioned.get("id") != bot_id:
            continue
        written = props.get("text")
        if isinstance(written, str) and written:
            text = text.replace(written, " ")
    return text.strip()


class EnrollmentDoctorBot(TeamsActivityHandler):
    def __init__(self, deps: Deps):
        super().__init__()
        self._deps = deps
        self._saved_references: set[tuple[str, str]] = set()

    # ---- the one error funnel ------------------------------------------------------------------
    async def _funnel(self, turn_context: TurnContext, work: Callable[[], Awaitable[Any]]) -> Any:
        activity = turn_context.activity
        correlation_id = activity.id or uuid.uuid4().hex
        try:
            return await work()
        except Exception as exc:  # noqa: BLE001 - this is the funnel: log, explain, never swallow
            if isinstance(exc, DeliveryError) and activity.type != "invoke":
                # Teams did not take our message, after retries: an error card would not get through either.
                log.warning("activity %s: %s", correlation_id, exc)
                return None
            if isinstance(exc, BotError):
                log.warning("activity %s: %s", correlation_id, exc, exc_info=True)
            else:
                log.exception("activity %s: unexpected error handling %s", correlation_id, activity.type)
            card = error_card_for(exc, correlation_id)
            if activity.type == "invoke":
                return card_invoke_response(card)
            await Turn(turn_context, self._deps).send_card(card)
            return None

    async def _remember_conversation(self, turn: Turn) -> None:
        reference = TurnContext.get_conversation_reference(turn.activity)
        conversation_id = channel_base_id(turn.conversation_id)
        if reference.conversation is not None:
            reference.conversation.id = conversation_id  # a channel, not one thread in it
        key = (conversation_id, reference.service_url or "")
        if key in self._saved_references or not conversation_id:
            return
        await turn.deps.storage.save_conversation(
            ConversationRecord(
                conversation_id=conversation_id,
                tenant_id=turn.tenant_id,
                kind=turn.conversation_type,
                reference=to_json(reference),
                updated_at=turn.deps.clock.now(),
            )
        )
        self._saved_references.add(key)

    # ---- messages --------------------------------------------------------------------------------
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        async def work() -> None:
            turn = Turn(turn_context, self._deps)
            tenancy.start(turn)
            await self._remember_conversation(turn)
            message = text_without_bot_mention(turn_context.activity)
            activity = turn_context.activity
            found, refused = find_attachments(
                activity.attachments or [], activity.service_url or "", self._deps.attachments.limits
            )
            if found or refused:
                await read_attachments(turn, found, refused, message)
                return
            recognition = recognize(message)
            log.info("activity %s: intent %s (%s)", turn_context.activity.id, recognition.intent, recognition.reason)
            if recognition.intent in TENANT_INTENTS and not await tenancy.settle_message(turn, recognition, message):
                return
            await INTENT_HANDLERS[recognition.intent](turn, recognition)

        await self._funnel(turn_context, work)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # Not passed on to TeamsActivityHandler: its members-added dispatch fetches every added member from the
        # Bot Connector, which nothing here needs.
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        added = any(m.id == bot_id for m in activity.members_added or []) if bot_id else False
        await self._funnel(turn_context, lambda: self._arrived(Turn(turn_context, self._deps), welcome=added))

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        welcome = (turn_context.activity.action or "").startswith("add")
        await self._funnel(turn_context, lambda: self._arrived(Turn(turn_context, self._deps), welcome=welcome))

    async def _arrived(self, turn: Turn, welcome: bool) -> None:
        """Installed in a chat or a team: remember where, and introduce the bot there once (Teams may announce
        an install both as installationUpdate and as conversationUpdate, and replicas share the claim)."""
        await self._remember_conversation(turn)
        conversation_id = channel_base_id(turn.conversation_id)
        if welcome and conversation_id and await turn.deps.storage.claim_setting(f"welcomed:{conversation_id}", True):
            await turn.send_card(build_welcome_card(team=turn.conversation_type == "channel"))

    # ---- card actions ----------------------------------------------------------------------------
    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name == "signin/verifyState" and self._deps.signin is not None:
            return await self._funnel(turn_context, lambda: self._verify_state(turn_context))
        if turn_context.activity.name != "adaptiveCard/action":
            # botbuilder answers an invoke it has no handler for with 501; this bot handles card actions only.
            log.info("activity %s: refused invoke %r", turn_context.activity.id, turn_context.activity.name)
            return InvokeResponse(status=400, body={"error": "this bot handles only adaptiveCard/action invokes"})

        async def work() -> InvokeResponse:
            raw_value = turn_context.activity.value
            value: dict[str, Any] = raw_value if isinstance(raw_value, dict) else {}
            raw_action = value.get("action")
            action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
            payload = parse_action(action.get("verb"), action.get("data"))
            if payload is None or action.get("type") not in (None, "Action.Execute"):
                log.info("activity %s: refused card action %r", turn_context.activity.id, action.get("verb"))
                return card_invoke_response(build_out_of_date_card())
            handler = VERB_HANDLERS[verb_of(payload)]
            turn = Turn(turn_context, self._deps)
            tenancy.start(turn)
            refusal = await tenancy.settle_press(turn, payload)
            if refusal is not None:
                return card_invoke_response(build_out_of_date_card(refusal))
            try:
                card = await handler(turn, payload)
            except SignInRequired as needed:  # approver mode: Teams signs the person in, then sends this again
                return InvokeResponse(status=200, body=needed.body)
            return card_invoke_response(turn.deps.messenger.prepare(card))

        return await self._funnel(turn_context, work)

    async def _verify_state(self, turn_context: TurnContext) -> InvokeResponse:
        """The sign-in card's magic code: redeemed with the Token Service, which keeps the token for the person's
        next press (nothing is kept here)."""
        assert self._deps.signin is not None
        turn = Turn(turn_context, self._deps)
        if await self._deps.signin.verify_state(turn.sign_in_attempt()):
            await turn_context.send_activity("You are signed in. Press the button again to go on.")
            return InvokeResponse(status=200, body={})
        return InvokeResponse(status=404, body={})


__all__ = ["EnrollmentDoctorBot", "card_invoke_response"]
