"""The device's event logs sent to the bot: what they show, on a card of its own, then the diagnosis with
their clues (each code with where and when the device logged it) beside whatever was typed with them."""

from __future__ import annotations

import logging

from bot.attachments import Incoming
from bot.domain.clues import duration
from bot.domain.device_logs import MAX_CODES, DeviceLogEvidence
from bot.domain.recognizer import Intent, Recognition, recognize
from bot.handlers import diagnosis
from bot.handlers.context import Turn
from cards.device_logs import build_device_logs_card

log = logging.getLogger(__name__)
READ_LINES = 12  # codes listed on the first card as "read from the logs"


def _read_text(evidence: DeviceLogEvidence) -> str:
    """What was read, as the first card shows it: each code with where and when it was seen."""
    lines = [f"{clue.code} {clue.where()}" for clue in evidence.code_clues()[:READ_LINES]]
    for clock in evidence.clock:
        if clock.offset_seconds is None:
            lines.append(f"time sync failed ({clock.said}) {clock.where()}")
        elif clock.off:
            lines.append(f"clock {duration(clock.offset_seconds)} off {clock.where()}")
    if evidence.package_guids:
        lines.append(f"package_{evidence.package_guids[0]}")
    if evidence.device_name:
        lines.append(f"device {evidence.device_name}")
    return "\n".join(lines) or f"{evidence.events_read} events, none with an error code"


async def logs_read(turn: Turn, incoming: Incoming, evidence: DeviceLogEvidence, message: str) -> None:
    typed = recognize(f"{message}\n{evidence.text}".strip())  # what was typed, and a saved paste sent as a file
    log.info(
        "activity %s: logs %r read: %d events, %d that matter, %d codes",
        turn.activity.id,
        incoming.name,
        evidence.events_read,
        evidence.timeline_total,
        len(evidence.error_codes),
    )
    await turn.send_card(build_device_logs_card(evidence, turn.deps.clock.now()))
    guids = tuple(dict.fromkeys((*typed.package_guids, *evidence.package_guids)))[:MAX_CODES]
    ours = typed.intent is Intent.DIAGNOSE
    if not (ours or typed.error_codes or evidence.error_codes or guids or evidence.timeline):
        return  # nothing from the channels that matter: the card said so, and there is nothing to diagnose
    recognition = Recognition(
        Intent.DIAGNOSE,
        "device logs",
        typed.error_codes,
        guids,
        typed.device_name or evidence.device_name,
        message,
    )
    await diagnosis.run_diagnosis(
        turn,
        recognition,
        read_from=f"the logs {incoming.name}",
        read_text=_read_text(evidence),
        log_clues=evidence.clues(),
    )
