"""Answer at once, finish in the background: a card now, the card that needs Graph in its place later."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot.errors import BotError
from bot.handlers.context import Turn
from bot.handlers.errors import error_card_for

log = logging.getLogger(__name__)

CardWork = Callable[[], Awaitable[dict[str, Any]]]


def follow_up(turn: Turn, card_id: str | None, compute: CardWork) -> None:
    """Once this turn is answered: compute the card (reading Graph), then put it in place of the card
    `card_id` (or send it, without one), or the error card saying what failed. `compute` may use the app's
    dependencies and plain values, not the turn's context: the turn is over by then."""
    deps, reference, correlation = turn.deps, turn.reference(), turn.activity.id or uuid.uuid4().hex

    async def work() -> None:
        try:
            card = await compute()
        except Exception as exc:  # noqa: BLE001 - the background end of the error funnel
            if isinstance(exc, BotError):
                log.warning("activity %s: %s", correlation, exc)
            else:
                log.exception("activity %s: unexpected error while finishing a card", correlation)
            card = error_card_for(exc, correlation)
        try:
            if card_id:
                await deps.messenger.update_card(reference, card_id, card)
            else:
                await deps.messenger.send_card(reference, card)
        except Exception as exc:  # noqa: BLE001 - the person can press Check again; said once in the log
            log.warning("activity %s: could not deliver the finished card: %s", correlation, exc)

    turn.later(f"follow-up-{correlation}", work)


async def answer_later(turn: Turn, checking: dict[str, Any], compute: CardWork) -> dict[str, Any]:
    """A card action's answer: `checking` now, the result in its place when it is ready."""
    card_id = turn.activity.reply_to_id
    if not card_id:  # no card to update later: answer with the result itself
        return await compute()
    follow_up(turn, card_id, compute)
    return checking
