"""What the device said, wherever it was read: an error code, or its clock, with where it was seen and when.

The person's message, Intune's troubleshooting events and the device's own event logs all give the same clues;
the device-side causes judge clues, so a code read from a log says "seen in <channel> at <time>" and a pasted
one "in your message". A clock clue comes only from the device's logs (Windows Time's own events): how far off
the clock was, or that Windows Time could not sync it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

IN_MESSAGE = ""  # the source of a clue the person wrote or pasted

# How far the device's clock may be off before tokens and certificates fail: 5 minutes. Tokens issued by Entra ID
# are validated with a 5-minute clock skew allowance (Microsoft.IdentityModel's
# TokenValidationParameters.DefaultClockSkew, 300 seconds), Kerberos allows the same by default ("Maximum
# tolerance for computer clock synchronization": 5 minutes), and W32Time on a domain member corrects by slewing
# only within 300 s (MaxAllowedPhaseOffset). Within it a device enrolls; beyond it the bulk token, the join
# response and the enrollment certificates can all look "not yet valid" or "expired" to one side.
CLOCK_TOLERANCE_SECONDS = 300.0


def _where(source: str, at: datetime | None, event: str) -> str:
    if source == IN_MESSAGE:
        return "in your message"
    event = f" ({event})" if event else ""
    if at is None:
        when = ""
    elif at.tzinfo is None:  # an export that did not say the zone: the device's own clock
        when = f" at {at:%Y-%m-%d %H:%M} device time"
    else:
        when = f" at {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"seen in {source}{event}{when}"


@dataclass(frozen=True)
class CodeClue:
    code: str  # "0x80072efd": lower case, as the recognizer extracts it
    source: str = IN_MESSAGE  # where it was seen: an event log channel, "Intune's troubleshooting events"
    at: datetime | None = None  # when the device logged it: aware, or naive when the log gave no zone
    event: str = ""  # e.g. "event 304"

    def where(self) -> str:
        """ "in your message", or "seen in Microsoft-Windows-AAD/Operational (event 1098) at 2026-11-26 11:30 UTC"."""
        return _where(self.source, self.at, self.event)


@dataclass(frozen=True)
class ClockClue:
    """The device's clock, as Windows Time logged it: off by `offset_seconds` (its phase offset, or a time change
    it made), or, with no offset, that it could not sync (`said`: the event's words, e.g. "Last Sync Error: 1")."""

    offset_seconds: float | None
    source: str  # the event log channel (or provider) it was read from
    at: datetime | None = None
    event: str = ""  # e.g. "event 260"
    said: str = ""  # what the event said, capped: shown as what was seen

    @property
    def off(self) -> bool:
        """The clock is off by more than tokens tolerate."""
        return self.offset_seconds is not None and abs(self.offset_seconds) > CLOCK_TOLERANCE_SECONDS

    def where(self) -> str:
        return _where(self.source, self.at, self.event)


Clue = CodeClue | ClockClue


def duration(seconds: float) -> str:
    """ "2 hours", "3 days", "45 minutes", "20 seconds": how far off, said plainly (rounded down)."""
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds"


def as_clues(codes: Iterable[str | Clue]) -> tuple[Clue, ...]:
    """Codes as clues (a bare code came from the person's message), each (code, source, time, event) once; clock
    clues as they are, each once."""
    found: list[Clue] = []
    for clue in codes:
        if isinstance(clue, ClockClue):
            found.append(clue)
        else:
            clue = clue if isinstance(clue, CodeClue) else CodeClue(clue)
            found.append(CodeClue(clue.code.lower(), clue.source, clue.at, clue.event))
    return tuple(dict.fromkeys(found))
