"""The last card the bot showed in each conversation, so that "why?" right after it is answered about it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.storage import Storage
from cards.follow_up import FOLLOW_UP_TITLE

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(hours=12)  # "why?" a day later is not about that card any more
MAX_ACTIONS = 2


def _key(conversation_id: str) -> str:
    return f"last-card:{conversation_id}"


@dataclass(frozen=True)
class LastCard:
    title: str  # the card's heading, as it was on the card (already escaped for Markdown)
    summary: str  # its fallback text (unescaped: pass it through plain() before showing it)
    actions: tuple[dict[str, Any], ...]  # its Action.Execute buttons that need no input, to offer the way on again
    at: datetime


def _title(card: dict[str, Any]) -> str:
    for element in card.get("body", []):
        if isinstance(element, dict) and element.get("type") == "TextBlock" and element.get("size") == "Large":
            return str(element.get("text", ""))
    return ""


def _actions(card: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    found = [
        a
        for a in card.get("actions") or []
        if isinstance(a, dict) and a.get("type") == "Action.Execute" and a.get("associatedInputs") != "auto"
    ]
    return tuple(found[:MAX_ACTIONS])


class RecentCards:
    """Notes are written in groups: while one group is being written, the notes made meanwhile wait and go in the
    next group, one transaction for all of them, a newer card of a conversation replacing its older one. When
    the bot is quiet each note is written at once, alone; in a wave of pastes a handful share one commit. As
    before, a note is written off the turn's path, a few milliseconds after its card went out."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock
        self._waiting: dict[str, dict[str, Any]] = {}  # conversation id -> its newest note, not written yet
        self._writing: dict[str, dict[str, Any]] = {}  # the group being written now
        self._writer = False

    async def remember(self, conversation_id: str, card: dict[str, Any]) -> None:
        """Best effort: the card was delivered already; failing to note it must not fail the delivery. An answer
        to "why?" is not noted: a second "why?" is still about the card before it."""
        if _title(card).startswith(FOLLOW_UP_TITLE):
            return
        self._waiting[conversation_id] = {
            "title": _title(card),
            "summary": str(card.get("fallbackText", "")),
            "actions": list(_actions(card)),
            "at": self._clock.now().isoformat(),
        }
        if self._writer:
            return  # the group being written now is followed by one with this note
        self._writer = True
        try:
            while self._waiting:
                self._writing, self._waiting = self._waiting, {}
                try:
                    await self._storage.set_settings({_key(c): note for c, note in self._writing.items()})
                except Exception as exc:  # noqa: BLE001 - said in the log; "why?" then gets the general answer
                    log.warning("could not note the last card in %s: %s", ", ".join(self._writing), exc)
                self._writing = {}
        finally:
            self._writer = False

    async def last(self, conversation_id: str) -> LastCard | None:
        data = await self._storage.get_setting(_key(conversation_id))
        if not isinstance(data, dict) or not data.get("title"):
            return None
        at = datetime.fromisoformat(data["at"])
        if self._clock.now() - at > FRESH_FOR:
            return None
        return LastCard(data["title"], data.get("summary", ""), tuple(data.get("actions", [])), at)
