"""Turn a device's event log events into the diagnosis's clues and the timeline that matters.

The clues are the ones a pasted message gives (error codes, the package account, the device's name), so the
tenant-side and device-side causes read them the same way; the timeline keeps the events of the channels that
matter for bulk enrollment that failed, warned, or mark the package's progress, oldest first.

Sources for what each channel's events say (event IDs and message shapes):
- Provisioning-Diagnostics-Provider/Admin: 20 "Applying package", 21 "Package has completed", 22 "Package failed
  with HRESULT", 12 "ProvXML category failed with HRESULT at CSP node", 32 "Provisioning turn failed"
  (the provider's manifest, as listed by detection-wiki's Microsoft-Windows-Provisioning-Diagnostics-Provider page).
- DeviceManagement-Enterprise-Diagnostics-Provider/Admin: 76 "Auto MDM Enroll: Failed (Unknown Win32 Error code:
  0x8018002b)" (Microsoft's "Troubleshoot Windows device enrollment problems in Intune").
- User Device Registration/Admin: 200-206 "… failed with exit code" (discovery, join request, join response),
  304/306 automatic registration failed/succeeded (the provider's manifest via detection-wiki; the project's
  reference notes).
- AAD/Operational: errors 0xCAA8xxxx carry a WinHTTP error in their low 16 bits (0xCAA82EFD = 12029, cannot
  connect), as Microsoft's PRT/dsregcmd troubleshooting pages list them; they are read as 0x8007xxxx.
- Time-Service/Operational: 260's Phase Offset (seconds) and Last Sync Error (Microsoft's "Windows Time for
  traceability"; the field list as on detection-wiki's Time-Service page); a phase offset beyond 300 s
  (CLOCK_TOLERANCE_SECONDS, `bot.domain.clues`: the 5 minutes of skew tokens are validated with) is a wrong clock,
  a Last Sync Error other than 0 a failed sync.
- Time-Service in the System log, the events that say the sync failed: 16 and 17 and 48 (an error in the DNS
  lookup of the manually configured peer) and 47 ("No valid response has been received from manually configured
  peer … after 8 attempts") (Microsoft's "Manual Time Source Acquisition", Windows Server 2008 event reference);
  29 ("… none of the sources are currently accessible … NtpClient has no source of accurate time", Microsoft's
  Ask the Directory Services Team blog, "Configuring your PDCE with alternate time sources"); 36 ("The time
  service has not synchronized the system time for %1 seconds because none of the time service providers
  provided a usable time stamp", MSG_TIME_SOURCE_NONE, Microsoft KB 328621).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.clues import CLOCK_TOLERANCE_SECONDS, ClockClue, Clue, CodeClue
from bot.domain.eventlogs import LogEvent, LogRead, parse_time, read_logs
from bot.domain.recognizer import extract_package_guids

MAX_TIMELINE = 200  # events kept for the card (it shows a few and the rest behind a toggle)
MAX_CODES = 10  # as many as a card action carries
CLOCK_SKEW_SECONDS = CLOCK_TOLERANCE_SECONDS  # beyond it, a wrong clock (the reasons are in bot.domain.clues)
# Windows Time's events that say it could not sync the clock (sources above); 260 only with a Last Sync Error.
TIME_SYNC_FAILED = frozenset({16, 17, 29, 36, 47, 48})
MAX_SYNC_CLUES = 3

# The channels that matter, by the key both a channel ("…/Admin") and Event Viewer's short Source give.
SOURCES = {
    "provisioning-diagnostics-provider": "Provisioning",
    "devicemanagement-enterprise-diagnostics-provider": "MDM enrollment",
    "user device registration": "Entra join",
    "aad": "Entra sign-in",
    "time-service": "Time service",
}
# The channel each label stands for, when an export (CSV) names only the short Source.
CHANNEL_NAMES = {
    "Provisioning": "Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin",
    "MDM enrollment": "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin",
    "Entra join": "Microsoft-Windows-User Device Registration/Admin",
    "Entra sign-in": "Microsoft-Windows-AAD/Operational",
    "Time service": "Microsoft-Windows-Time-Service",
}
# Provisioning milestones shown even when they succeed: the package started, finished, was skipped.
MILESTONES = {"Provisioning": frozenset({20, 21, 22, 23, 30, 31, 32})}

# WinHTTP/WinINet errors (as HRESULTs, facility 7) that say the device's network, proxy, TLS or clock stopped
# the connection to the enrollment and registration services (winhttp.h ERROR_WINHTTP_* values).
NETWORK_CODES: dict[str, tuple[str, str]] = {
    "0x80072ee2": ("timeout", "the connection timed out (WinHTTP 12002)"),
    "0x80072ee7": ("dns", "the server's name could not be resolved (WinHTTP 12007): DNS"),
    "0x80072efd": ("connect", "no connection could be made to the server (WinHTTP 12029): network, proxy or firewall"),
    "0x80072efe": ("connect", "the connection was aborted (WinHTTP 12030): network, proxy or firewall"),
    "0x80072f78": ("proxy", "the server's response was not valid (WinHTTP 12152): often a proxy in the way"),
    "0x80072f8f": ("tls", "a secure (TLS) connection failed (WinHTTP 12175): TLS inspection, or the device's clock"),
    "0x80072f0d": ("tls", "the certificate's authority is not trusted (WinHTTP 12045): TLS inspection"),
    "0x80072f06": ("tls", "the certificate's name does not match (WinHTTP 12038): a proxy or TLS inspection"),
    "0x80072f19": ("tls", "the certificate revocation check failed (WinHTTP 12057): CRL/OCSP blocked"),
    "0x80072f05": ("clock", "the certificate's date is not valid (WinHTTP 12037): the device's clock"),
}
CLOCK_CODES = frozenset({"0x80180016", "0x8018000d", "0x80072f05"})
NETWORK_KINDS = {
    "dns": "DNS",
    "connect": "network, proxy or firewall",
    "timeout": "network timeout",
    "proxy": "proxy",
    "tls": "TLS (inspection or certificates)",
    "clock": "clock",
    "time_sync": "time sync",
}

_HRESULT = re.compile(r"0x([0-9a-f]{8})(?![0-9a-z])")
_PHASE_OFFSET = re.compile(r"phase\s*offset:\s*(-?\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_LAST_SYNC_ERROR = re.compile(r"last\s*sync\s*error:\s*(\d+)", re.IGNORECASE)
_FROM_TO = re.compile(
    r"from\s+(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)\S*\s+to\s+(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimelineEntry:
    time: datetime | None  # aware UTC, or naive: the device's local time (the export did not say the zone)
    source: str  # "Provisioning", "MDM enrollment", … or the file's channel/provider as written
    event_id: int | None
    level: str
    summary: str  # the event's first line, capped
    codes: tuple[str, ...] = ()
    kind: str | None = None  # "dns", "tls", "connect", "timeout", "proxy", "clock", or None


@dataclass(frozen=True)
class DeviceLogEvidence:
    """What the device's logs show, ready for the diagnosis (clues) and the card (timeline)."""

    files: tuple[str, ...]
    skipped: tuple[str, ...]
    events_read: int
    timeline: tuple[TimelineEntry, ...]
    timeline_total: int  # events that mattered, before the cap
    error_codes: tuple[str, ...] = ()
    package_guids: tuple[str, ...] = ()
    device_name: str | None = None
    network: tuple[str, ...] = field(default=())  # kinds of network failure seen, in NETWORK_KINDS
    clock_skew_seconds: float | None = None  # the largest clock offset the logs show, when beyond the limit
    # The largest offset measured (within the limit too: a clock measured right is not a cause) where it was seen,
    # and Windows Time's failed syncs.
    clock: tuple[ClockClue, ...] = ()
    channels: tuple[tuple[str, str], ...] = ()  # (source label, the channel as the log names it)
    text: str = ""  # plain text files' start: what a person saved instead of pasting, for the recogniser

    def code_clues(self) -> tuple[CodeClue, ...]:
        """Each code where the logs showed it (the channel, its event and time), for the device-side causes;
        the latest sighting of each code and channel, at most MAX_CODES codes."""
        latest: dict[tuple[str, str], TimelineEntry] = {}
        for entry in self.timeline:
            for code in entry.codes:
                if code in self.error_codes:
                    latest[(code, entry.source)] = entry
        clues = [
            CodeClue(
                code,
                dict(self.channels).get(entry.source) or CHANNEL_NAMES.get(entry.source, entry.source),
                entry.time,
                f"event {entry.event_id}" if entry.event_id is not None else "",
            )
            for (code, _), entry in latest.items()
        ]
        order = {code: i for i, code in enumerate(self.error_codes)}
        return tuple(sorted(clues, key=lambda c: order[c.code]))

    def clues(self) -> tuple[Clue, ...]:
        """Every clue for the diagnosis: the codes where they were seen, then the clock."""
        return (*self.code_clues(), *self.clock)


def source_of(event: LogEvent) -> str | None:
    """The label of a channel that matters, from the channel or (CSV exports) the short Source."""
    for raw in (event.channel, event.provider):
        key = raw.lower().removeprefix("microsoft-windows-").split("/", 1)[0].strip()
        if key in SOURCES:
            return SOURCES[key]
    return None


def codes_in(text: str) -> tuple[str, ...]:
    """Failure HRESULTs in an event's text; AAD's 0xCAA8xxxx (a WinHTTP error inside) read as 0x8007xxxx."""
    found: list[str] = []
    for match in _HRESULT.finditer(text.lower()):
        code = match.group(1)
        if code.startswith("caa8") and 0x2EE0 <= int(code[4:], 16) <= 0x2FFF:
            found.append(f"0x8007{code[4:]}")
        elif code[0] in "8c":
            found.append(f"0x{code}")
    return tuple(dict.fromkeys(found))


def _is_failure(level: str) -> bool:
    return level.lower() in ("critical", "error", "warning", "kritisch", "fehler", "warnung", "erreur", "avertissement")


def _sync_failed(event: LogEvent) -> bool:
    """Windows Time said it could not sync the clock: one of its failure events, or 260 with a Last Sync Error."""
    if event.event_id in TIME_SYNC_FAILED:
        return True
    match = _LAST_SYNC_ERROR.search(event.text)
    return match is not None and int(match.group(1)) != 0


def _time_source(event: LogEvent) -> str:
    """Where a Windows Time event was read: its channel, or the provider and the log (System) it was written to."""
    if "time-service" in event.channel.lower():
        return event.channel[:120]
    provider = event.provider or "Microsoft-Windows-Time-Service"
    return f"{provider}, {event.channel} log"[:120] if event.channel else provider[:120]


def _clock_offset(event: LogEvent) -> float | None:
    match = _PHASE_OFFSET.search(event.text)
    if match:
        return abs(float(match.group(1)))
    match = _FROM_TO.search(event.text)
    if match:
        before, after = parse_time(match.group(1)), parse_time(match.group(2))
        if before is not None and after is not None and (before.tzinfo is None) == (after.tzinfo is None):
            return abs((after - before).total_seconds())
    return None


# The message templates of the events that matter, for formats that carry only the event data (.evtx, wevtutil
# XML without RenderingInfo); the wording is the providers' manifest's (see the sources above).
TEMPLATES: dict[tuple[str, int], str] = {
    ("Provisioning", 12): "ProvXML category '{message1}' failed with '{hresult}' at CSP node '{message2}'.",
    ("Provisioning", 20): "Applying package '{message1}' ID: {message2}.",
    ("Provisioning", 21): "Package '{message1}' has completed.",
    ("Provisioning", 22): "Package '{message1}' failed with '{hresult}'.",
    ("Provisioning", 23): "Skipping package '{message1}' ID: {message2}.",
    ("Provisioning", 32): "Provisioning turn failed with '{hresult}'.",
    ("Entra join", 200): "The discovery request send operation failed with exit code: {exitcode}.",
    ("Entra join", 201): "The discovery operation callback failed with exit code: {exitcode}.",
    ("Entra join", 202): "The initialization of the join request failed with exit code: {exitcode}.",
    ("Entra join", 203): "The send join request operation failed with exit code: {exitcode}.",
    ("Entra join", 204): "The get join response operation callback failed with exit code: {exitcode}.",
    ("Entra join", 205): "The complete join response operation failed with exit code: {exitcode}.",
    ("Entra sign-in", 1025): "Http request status: {http_request_status}.",
}
_FIELD_LINE = re.compile(r"^([A-Za-z][\w.-]{0,60}): (.*)$")


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _summary(event: LogEvent, source: str | None) -> str:
    lines = [line.strip() for line in event.text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    template = TEMPLATES.get((source or "", event.event_id or -1))
    if template and (not first or _FIELD_LINE.match(first)):  # data only: say it as Windows would
        fields = _Fields()
        for line in lines:
            match = _FIELD_LINE.match(line)
            if match:
                fields.setdefault(match.group(1).lower(), match.group(2).strip()[:200])
        return template.format_map(fields)[:300]
    return first[:300]


def read_device_logs(name: str, data: bytes) -> DeviceLogEvidence:
    """One upload (a log file or a zip of them) as evidence. Raises LogError when it cannot be read."""
    return evidence_from(read_logs(name, data))


def evidence_from(read: LogRead) -> DeviceLogEvidence:
    entries: list[TimelineEntry] = []
    codes: list[str] = []
    guids: list[str] = []
    computers: Counter[str] = Counter()
    kinds: list[str] = []
    worst_offset: float | None = None
    worst: ClockClue | None = None
    sync_failures: dict[int | None, ClockClue] = {}  # the latest of each failure event
    channels: dict[str, str] = {}
    for event in read.events:
        source = source_of(event)
        if source is not None and event.channel and source not in channels:
            channels[source] = event.channel[:120]
        unlabelled = not event.channel and not event.provider  # free text: every line with a code counts
        if source is None and not unlabelled:
            continue
        event_codes = codes_in(event.text)
        guids.extend(extract_package_guids(event.text))
        if event.computer and source is not None:
            computers[event.computer.split(".", 1)[0].upper()] += 1
        offset = _clock_offset(event) if source == "Time service" else None
        kind = next((NETWORK_CODES[c][0] for c in event_codes if c in NETWORK_CODES), None)
        if kind is None and any(c in CLOCK_CODES for c in event_codes):
            kind = "clock"
        if offset is not None and (worst is None or offset > (worst.offset_seconds or 0.0)):
            said = _said(event, source, offset)
            worst = ClockClue(offset, _time_source(event), event.time, _event_label(event), said)
        if offset is not None and offset > CLOCK_SKEW_SECONDS:
            kind = "clock"
            worst_offset = max(worst_offset or 0.0, offset)
        if source == "Time service" and _sync_failed(event):
            kind = kind or "time_sync"
            failure = ClockClue(None, _time_source(event), event.time, _event_label(event), _said(event, source))
            known = sync_failures.get(event.event_id)
            if known is None or _order_key(failure.at) >= _order_key(known.at):
                sync_failures[event.event_id] = failure
        if kind:
            kinds.append(kind)
        failing = _is_failure(event.level) or bool(event_codes) or kind is not None
        milestone = source is not None and event.event_id in MILESTONES.get(source, ())
        if not (failing or milestone):
            continue
        codes.extend(event_codes)
        entries.append(
            TimelineEntry(
                time=event.time,
                source=source or "Log text",
                event_id=event.event_id,
                level=event.level,
                summary=_summary(event, source),
                codes=event_codes,
                kind=kind,
            )
        )
    entries.sort(key=_order)
    total = len(entries)
    if total > MAX_TIMELINE:  # the last events are the ones that ended the attempt
        entries = entries[-MAX_TIMELINE:]
    return DeviceLogEvidence(
        files=read.files,
        skipped=read.skipped,
        events_read=len(read.events),
        timeline=tuple(entries),
        timeline_total=total,
        error_codes=_ranked(codes)[:MAX_CODES],
        package_guids=tuple(dict.fromkeys(guids))[:MAX_CODES],
        device_name=computers.most_common(1)[0][0][:100] if computers else None,
        network=tuple(dict.fromkeys(kinds)),
        clock_skew_seconds=worst_offset,
        clock=(
            *((worst,) if worst is not None else ()),
            *sorted(
                (c for c in sync_failures.values() if worst is None or (c.at, c.event) != (worst.at, worst.event)),
                key=lambda c: _order_key(c.at),
                reverse=True,
            )[:MAX_SYNC_CLUES],
        ),
        channels=tuple(channels.items()),
        text=read.text,
    )


def _order(entry: TimelineEntry) -> tuple[int, str]:
    if entry.time is None:
        return (1, "")
    return (0, entry.time.replace(tzinfo=None).isoformat())


def _order_key(at: datetime | None) -> str:
    return at.replace(tzinfo=None).isoformat() if at is not None else ""


def _event_label(event: LogEvent) -> str:
    return f"event {event.event_id}" if event.event_id is not None else ""


def _said(event: LogEvent, source: str | None, offset: float | None = None) -> str:
    """The event's words a person needs: the offset and the Last Sync Error of a 260, else its first sentence."""
    measured = "phase offset" if _PHASE_OFFSET.search(event.text) else "time changed by"
    parts = [f"{measured} {offset:.0f} s"] if offset is not None else []
    match = re.search(r"last\s*sync\s*error:[^\n]*", event.text, re.IGNORECASE)
    if match:
        parts.append(match.group(0).strip()[:120])
    if not parts:
        first = _summary(event, source)
        cut = first.find(". ")
        parts.append(first[: cut + 1] if 0 < cut < 160 else first[:160])
    return "; ".join(parts)


def _ranked(codes: Iterable[str]) -> tuple[str, ...]:
    """Enrollment and join codes first, then network codes, then the rest; each once, most frequent first."""
    counts = Counter(codes)

    def rank(code: str) -> tuple[int, int]:
        family = 0 if code.startswith(("0x8018", "0x801c")) else 1 if code in NETWORK_CODES else 2
        return (family, -counts[code])

    return tuple(sorted(counts, key=rank))


def merge_codes(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    """Codes from the message and from the logs, each once, at most MAX_CODES."""
    return tuple(dict.fromkeys([*first, *second]))[:MAX_CODES]
