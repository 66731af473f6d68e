"""Photos and files sent to the bot: read each, then start the diagnosis from what was read, or say why not."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.adapter import bot_authorization
from bot.attachments import AttachmentRefused, Incoming
from bot.domain.recognizer import Intent, recognize
from bot.handlers import diagnosis
from bot.handlers.context import Turn
from bot.handlers.logs import logs_read
from bot.photo import PhotoText
from cards.attachments import build_attachments_refused_card, build_photo_not_the_error_card

log = logging.getLogger(__name__)


async def photo_read(turn: Turn, incoming: Incoming, photo: PhotoText, message: str) -> None:
    """The text on the photo goes through the same recogniser as a typed message (with whatever was typed
    beside it); the first card says it was read from the photo and shows what was read."""
    recognition = recognize(f"{message}\n{photo.text}".strip())
    log.info(
        "activity %s: photo read as %d characters, intent %s (%s)",
        turn.activity.id,
        len(photo.text),
        recognition.intent,
        recognition.reason,
    )
    if recognition.intent is Intent.DIAGNOSE:
        await diagnosis.run_diagnosis(turn, recognition, read_from=f"the photo {incoming.name}", read_text=photo.text)
        return
    await turn.send_card(build_photo_not_the_error_card(incoming.name, photo.text, recognition.lookalike))


# What to do with each kind's result, once read (the kinds are registered in bot/attachments.py READERS).
ON_READ: dict[str, Callable[[Turn, Incoming, Any, str], Awaitable[None]]] = {
    "image": photo_read,
    "logs": logs_read,
}


async def read_attachments(turn: Turn, found: list[Incoming], refused: list[AttachmentRefused], message: str) -> None:
    """Each attachment downloaded and read in the sandbox, then handed to its kind's handler; every one that
    could not be read is listed on one card with why and what to send instead."""
    problems = [(r.name, r.reason) for r in refused]
    intake = turn.deps.attachments
    authorization = await bot_authorization(turn.context) if any(i.with_token for i in found) else None
    for incoming in found:
        await turn.typing()
        try:
            result = await intake.fetch_and_read(incoming, authorization)
        except AttachmentRefused as exc:
            log.info("activity %s: attachment %r refused: %s", turn.activity.id, incoming.name, exc.reason)
            problems.append((incoming.name, exc.reason))
            continue
        await ON_READ[incoming.kind](turn, incoming, result, message)
    if problems:
        await turn.send_card(build_attachments_refused_card(problems))
