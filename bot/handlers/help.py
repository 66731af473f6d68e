"""Help, greetings, and chatter the bot does not act on."""

from __future__ import annotations

from bot.domain.recognizer import Recognition
from bot.handlers.context import Turn
from cards.common import plain
from cards.diagnosis import build_help_card, build_not_understood_card


async def show_help(turn: Turn, recognition: Recognition) -> None:
    first = turn.user_name.split(" ")[0] if turn.user_name else ""
    greeting = f"Hi {plain(first)}." if recognition.reason == "command" and first else None
    await turn.send_card(build_help_card(greeting))


async def not_understood(turn: Turn, recognition: Recognition) -> None:
    await turn.send_card(build_not_understood_card())
