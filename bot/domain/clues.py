"""What the device said, wherever it was read: an error code, where it was seen, and when.

The person's message, Intune's troubleshooting events and the device's own event logs all give the same clue;
the device-side causes judge clues, so a code read from a log says "seen in <channel> at <time>" and a pasted
one "in your message".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

IN_MESSAGE = ""  # the source of a clue the person wrote or pasted


@dataclass(frozen=True)
class CodeClue:
    code: str  # "0x80072efd": lower case, as the recognizer extracts it
    source: str = IN_MESSAGE  # where it was seen: an event log channel, "Intune's troubleshooting events"
    at: datetime | None = None  # when the device logged it: aware, or naive when the log gave no zone
    event: str = ""  # e.g. "event 304"

    def where(self) -> str:
        """ "in your message", or "seen in Microsoft-Windows-AAD/Operational (event 1098) at 2026-11-26 11:30 UTC"."""
        if self.source == IN_MESSAGE:
            return "in your message"
        event = f" ({self.event})" if self.event else ""
        if self.at is None:
            when = ""
        elif self.at.tzinfo is None:  # an export that did not say the zone: the device's own clock
            when = f" at {self.at:%Y-%m-%d %H:%M} device time"
        else:
            when = f" at {self.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return f"seen in {self.source}{event}{when}"


def as_clues(codes: Iterable[str | CodeClue]) -> tuple[CodeClue, ...]:
    """Codes as clues (a bare code came from the person's message), each (code, source, time, event) once."""
    found = (c if isinstance(c, CodeClue) else CodeClue(c) for c in codes)
    return tuple(dict.fromkeys(CodeClue(c.code.lower(), c.source, c.at, c.event) for c in found))
