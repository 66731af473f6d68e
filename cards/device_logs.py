"""The device's event logs on a card: what was read, the clues they gave, and the timeline that matters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from bot.domain.device_logs import NETWORK_CODES, NETWORK_KINDS, DeviceLogEvidence, TimelineEntry
from bot.domain.evidence_age import OldEvidence, ago, old_evidence
from bot.domain.recognizer import code_meaning
from cards.common import build_card, callout, facts, heading, plain, short_account, text

SHOWN_ROWS = 8  # the last events, on the card itself
DETAIL_ROWS = 40  # more behind "Show all"; beyond, the count is said
LISTED_FILES = 6
LISTED_SKIPPED = 4
TIMELINE_ID = "device-log-timeline"


def _when(entry: TimelineEntry) -> str:
    if entry.time is None:
        return "time not given"
    if entry.time.tzinfo is None:
        return entry.time.strftime("%Y-%m-%d %H:%M:%S") + " device time"
    return entry.time.strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(entry: TimelineEntry) -> ac.CardElement:
    event = f" \u00b7 event {entry.event_id}" if entry.event_id is not None else ""
    level = f" \u00b7 {plain(entry.level, 20)}" if entry.level else ""
    head = f"**{_when(entry)}** \u00b7 {plain(entry.source, 60)}{event}{level}"
    return ac.Container(
        spacing="Small",
        items=[
            text(head, size="Small", spacing="None"),
            text(plain(entry.summary or "(no message)", 300), size="Small", spacing="None", is_subtle=True),
        ],
    )


def _code_line(code: str) -> tuple[str, str]:
    if code in NETWORK_CODES:
        return code, NETWORK_CODES[code][1]
    return code, code_meaning(code)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def _seen(evidence: DeviceLogEvidence) -> list[ac.CardElement]:
    """Plain statements of what the logs show on the device's side (the causes card says what to do)."""
    lines: list[str] = []
    network = [k for k in evidence.network if k not in ("clock", "time_sync")]
    if network:
        kinds = ", ".join(NETWORK_KINDS[k] for k in network)
        lines.append(f"The device's connections to Microsoft's services failed ({kinds}).")
    if evidence.clock_skew_seconds is not None:
        lines.append(
            f"The device's clock was off by {_duration(evidence.clock_skew_seconds)} "
            "(Windows Time's phase offset): certificates and tokens look invalid to it."
        )
    elif "clock" in evidence.network:
        lines.append("A certificate or enrollment date check failed on the device: its clock may be wrong.")
    failed = [c for c in evidence.clock if c.offset_seconds is None]
    if failed:
        events = ", ".join(dict.fromkeys(c.event for c in failed if c.event))
        lines.append(
            f"Windows Time could not sync the device's clock ({plain(events, 60) or 'its own events'}): nothing "
            "corrected it."
        )
    if not lines:
        return []
    return [text("What the logs show", weight="Bolder", spacing="Medium"), *[text(line) for line in lines]]


def when_logged(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} device time" if at.tzinfo is None else f"{at:%Y-%m-%d %H:%M} UTC"


def old_evidence_blocks(old: OldEvidence | None) -> list[ac.CardElement]:
    """The logs' age, when they are from days ago or from before the last change: what they show may be gone."""
    if old is None:
        return []
    end = f"The device's logs end at {when_logged(old.newest)}"
    if old.change is not None and old.change_at is not None:
        said = (
            f"{end}, before “{plain(old.change, 160)}” was approved ({old.change_at:%Y-%m-%d %H:%M} UTC): "
            "what they show may be fixed already. Apply the package again on the device and, if it still fails, "
            "send its new logs."
        )
    else:
        said = (
            f"{end}, {ago(old.age) if old.age is not None else 'some time ago'}: if the device was set up again "
            "since, send its new logs (or the error as it shows now), so nobody fixes a problem that is gone."
        )
    return [callout("Old evidence", said, "warning")]


def build_device_logs_card(evidence: DeviceLogEvidence, now: datetime | None = None) -> dict[str, Any]:
    """Beside the tenant's findings: the device's side, from the logs the technician sent (and, given `now`, their
    age when they are from days ago)."""
    pairs: list[tuple[str, str]] = []
    files = list(evidence.files)
    listed = ", ".join(plain(f, 120) for f in files[:LISTED_FILES])
    if len(files) > LISTED_FILES:
        listed += f" and {len(files) - LISTED_FILES} more"
    pairs.append(("Read", listed or "nothing"))
    pairs.append(("Events", f"{evidence.events_read:,} read, {evidence.timeline_total:,} that matter"))
    if evidence.device_name:
        pairs.append(("Device", plain(evidence.device_name)))
    for guid in evidence.package_guids[:3]:
        pairs.append(("Package account", short_account(f"package_{guid}")))
    pairs += [_code_line(code) for code in evidence.error_codes]

    body: list[ac.CardElement] = [
        *heading("What the device's logs show", "Bulk enrollment diagnosis \u00b7 the device's side"),
        facts(pairs),
        *(old_evidence_blocks(old_evidence((e.time for e in evidence.timeline), now)) if now else []),
        *_seen(evidence),
    ]
    rows = list(evidence.timeline)
    if rows:
        shown = rows[-SHOWN_ROWS:]
        earlier = rows[:-SHOWN_ROWS][-DETAIL_ROWS:]
        body.append(
            text(f"Timeline (last {len(shown)} of {evidence.timeline_total:,})", weight="Bolder", spacing="Medium")
        )
        if earlier:
            hidden: list[ac.CardElement] = [_row(e) for e in earlier]
            beyond = evidence.timeline_total - len(earlier) - len(shown)
            if beyond > 0:
                hidden.insert(0, text(f"\u2026 {beyond:,} earlier events not shown.", size="Small", is_subtle=True))
            body.append(
                ac.ActionSet(
                    actions=[
                        ac.ToggleVisibilityAction(title=f"Show {len(earlier)} earlier", target_elements=[TIMELINE_ID])
                    ],
                    spacing="Small",
                )
            )
            body.append(ac.Container(id=TIMELINE_ID, is_visible=False, items=hidden))
        body.extend(_row(e) for e in shown)
        if any(e.time is not None and e.time.tzinfo is None for e in rows):
            body.append(
                text(
                    "\u201cDevice time\u201d: the export did not say the time zone (CSV and text exports use the "
                    "device's local time); .evtx and XML exports give UTC.",
                    size="Small",
                    is_subtle=True,
                )
            )
    else:
        body.append(
            text(
                "None of the events came from the channels that matter for bulk enrollment (Provisioning, "
                "DeviceManagement-Enterprise, User Device Registration, AAD, Time-Service) or carried an error code.",
                spacing="Medium",
            )
        )
    if evidence.skipped:
        notes = "; ".join(plain(s, 160) for s in evidence.skipped[:LISTED_SKIPPED])
        more = len(evidence.skipped) - LISTED_SKIPPED
        body.append(
            text(f"Not read: {notes}" + (f"; and {more} more" if more > 0 else "."), size="Small", is_subtle=True)
        )
    fallback = f"The device's logs: {evidence.events_read} events read, {evidence.timeline_total} that matter."
    return build_card(body, fallback_text=fallback)
