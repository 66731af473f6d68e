"""Proactive messages through stored conversation references, and the app's background tasks."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from botbuilder.core import MessageFactory, Middleware, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, Attachment, ConversationReference
from botbuilder.schema.teams import TeamsPagedMembersResult

from bot.adapter import status_of, with_connector_retries
from bot.clock import Clock
from bot.wire import from_json
from cards.common import CARD_CONTENT_TYPE

log = logging.getLogger(__name__)


class ConversationGoneError(Exception):
    """Teams answered 403/404: the bot was removed from the conversation or blocked."""


class SentCard(dict[str, Any]):
    """A card as it goes out. botbuilder deep-copies every activity a turn sends (TurnContext.send_activities),
    which for a card is a copy of every element (~0.1 ms a card); a card is built for its one send and nothing
    changes it after, so the copy shares it."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SentCard:
        return self


def card_message(card: dict[str, Any]) -> Activity:
    """A message activity carrying one Adaptive Card."""
    return MessageFactory.attachment(Attachment(content_type=CARD_CONTENT_TYPE, content=SentCard(card)))


def channel_base_id(conversation_id: str) -> str:
    """A channel thread's conversation id without `;messageid=...`: posting there starts a new thread."""
    return conversation_id.split(";messageid=", 1)[0]


def replying(reference: dict[str, Any], activity_id: str | None) -> dict[str, Any]:
    """The reference to answer `activity_id` with: in a channel, that post's thread (a chat's reply is made by
    `as_reply` in the turn). Without an activity id, or outside a channel: the reference as it is."""
    conversation = dict(reference.get("conversation") or {})
    if not activity_id or conversation.get("conversationType") != "channel":
        return reference
    thread = f"{channel_base_id(str(conversation.get('id', '')))};messageid={activity_id}"
    return {**reference, "conversation": {**conversation, "id": thread}}


def as_reply(turn_context: TurnContext, activity_id: str | None) -> None:
    """Sends of this turn answer `activity_id` (botbuilder sends every activity in reply to the turn's own)."""
    if activity_id and ";messageid=" not in (turn_context.activity.conversation.id or ""):
        turn_context.activity.id = activity_id


def card_of(activity: Activity) -> dict[str, Any] | None:
    """The Adaptive Card an outgoing activity shows: a message's card, or the card an invoke answers with."""
    if activity.type == "invokeResponse":
        body = getattr(activity.value, "body", None)
        card = getattr(body, "value", None)
        return card if isinstance(card, dict) and card.get("type") == "AdaptiveCard" else None
    for attachment in activity.attachments or []:
        if attachment.content_type == CARD_CONTENT_TYPE and isinstance(attachment.content, dict):
            return attachment.content
    return None


class NoteLastCard(Middleware):
    """Every card the bot sends, updates or answers an action with, in any turn (proactive ones too), handed to
    `note` with its conversation (bot/recent.py keeps it as that conversation's last card): one place sees them
    all. `note` must not block: the turn goes on at once (app.py runs the write in the background)."""

    def __init__(self, note: Callable[[str, dict[str, Any]], None]) -> None:
        self._note_card = note

    def _note(self, activity: Activity) -> None:
        card = card_of(activity)
        if card is not None and activity.conversation is not None and activity.conversation.id:
            self._note_card(channel_base_id(activity.conversation.id), card)

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable[Any]]) -> None:
        async def sent(_: TurnContext, activities: list[Activity], send: Callable[[], Awaitable[Any]]) -> Any:
            responses = await send()
            for activity in activities:
                self._note(activity)
            return responses

        async def updated(_: TurnContext, activity: Activity, update: Callable[[], Awaitable[Any]]) -> Any:
            response = await update()
            self._note(activity)
            return response

        context.on_send_activities(sent)
        context.on_update_activity(updated)
        await logic()


MAX_PER_SECOND = 7  # Teams: 7 messages a second per conversation for one bot


class Messenger:
    def __init__(self, adapter: CloudAdapter, app_id: str, clock: Clock):
        self._adapter = adapter
        self._app_id = app_id
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}
        self._stamp: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def for_tenant(self, stamp: Callable[[dict[str, Any]], dict[str, Any]]) -> Messenger:
        """The same messenger (one pace per conversation), marking every card it sends with its tenant."""
        view = copy.copy(self)
        view._stamp = stamp
        return view

    def prepare(self, card: dict[str, Any]) -> dict[str, Any]:
        """The card as it goes out: with its tenant, where there is one."""
        return self._stamp(card) if self._stamp is not None else card

    async def _pace(self, conversation_id: str) -> None:
        """Keep under Teams' per-conversation rate: wait when 7 sends happened in the last second."""
        recent = self._recent.setdefault(conversation_id, deque(maxlen=MAX_PER_SECOND))
        now = self._clock.now().timestamp()
        if len(recent) == MAX_PER_SECOND and now - recent[0] < 1.0:
            await self._clock.sleep(1.0 - (now - recent[0]))
            now = self._clock.now().timestamp()
        recent.append(now)

    async def _with_turn(self, reference: dict[str, Any], work: Callable[[TurnContext], Awaitable[Any]]) -> Any:
        ref = from_json(ConversationReference, reference)

        result: list[Any] = []
        failure: list[Exception] = []

        async def callback(turn_context: TurnContext) -> None:
            # Errors are carried out of the turn ourselves: the adapter's on_turn_error would
            # otherwise swallow them (and post an apology into the conversation).
            try:
                result.append(await work(turn_context))
            except Exception as exc:  # noqa: BLE001 - re-raised below, outside the turn
                failure.append(exc)

        await self._pace(ref.conversation.id)
        try:
            # Sends and updates are retried inside the adapter (bot/adapter.py), as Teams' guidance asks.
            await self._adapter.continue_conversation(ref, callback, self._app_id)
            if failure:
                raise failure[0]
        except Exception as exc:
            status = status_of(exc)
            if status in (403, 404):
                raise ConversationGoneError(f"{ref.conversation.id}: HTTP {status}") from exc
            raise
        return result[0] if result else None

    async def send_card(
        self, reference: dict[str, Any], card: dict[str, Any], *, reply_to: str | None = None
    ) -> str | None:
        async def work(turn_context: TurnContext) -> str | None:
            as_reply(turn_context, reply_to)
            response = await turn_context.send_activity(card_message(self.prepare(card)))
            return response.id if response else None

        return await self._with_turn(replying(reference, reply_to), work)

    async def update_card(self, reference: dict[str, Any], activity_id: str, card: dict[str, Any]) -> None:
        async def work(turn_context: TurnContext) -> None:
            activity = card_message(self.prepare(card))
            activity.id = activity_id
            await turn_context.update_activity(activity)

        await self._with_turn(reference, work)

    async def send_text(self, reference: dict[str, Any], text: str, *, reply_to: str | None = None) -> None:
        async def work(turn_context: TurnContext) -> None:
            as_reply(turn_context, reply_to)
            await turn_context.send_activity(Activity(type="message", text=text))

        await self._with_turn(replying(reference, reply_to), work)

    async def member_ids(self, reference: dict[str, Any]) -> dict[str, str]:
        """Entra object id -> Teams user id (MRI) of the conversation's members."""

        async def work(turn_context: TurnContext) -> dict[str, str]:
            found: dict[str, str] = {}
            token = None
            turn_context.activity.channel_data = turn_context.activity.channel_data or {}
            while True:

                async def one_page(after: str | None = token) -> TeamsPagedMembersResult:
                    return await TeamsInfo.get_paged_members(turn_context, after, 100)

                page = await with_connector_retries(one_page, self._clock, "list members")
                for member in page.members or []:
                    if member.aad_object_id and member.id:
                        found[member.aad_object_id] = member.id
                token = page.continuation_token
                if not token:
                    return found

        return await self._with_turn(reference, work) or {}


class Background:
    """Tasks that outlive a turn; errors are logged, and shutdown cancels and awaits them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str, *, forever: bool = False) -> asyncio.Task[Any]:
        """Run `coro` in the background; `forever` marks a loop that runs until shutdown."""
        task = asyncio.create_task(coro, name=name)
        (self._loops if forever else self._tasks).add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._loops.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until no finite task is running (tests use it to wait for background work)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        tasks = [*self._tasks, *self._loops]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
