"""Causes on the device itself, from the codes it reported (pasted, or read from its logs or Intune's
troubleshooting events): its network or proxy, TLS inspection, its clock, its edition, the device quota.

Each finding says what was seen (the code, where, when) and what to do on the device. Sources:
- The Windows HTTP stack's codes: "WinHTTP error messages" (learn.microsoft.com/windows/win32/winhttp/error-messages),
  whose values "are also returned in the lower 16 bits of HRESULT error returns": 0x80072EFD is 12029
  ERROR_WINHTTP_CANNOT_CONNECT, 0x80072EE2 12002 ERROR_WINHTTP_TIMEOUT, 0x80072EE7 12007
  ERROR_WINHTTP_NAME_NOT_RESOLVED, 0x80072F8F 12175 ERROR_WINHTTP_SECURE_FAILURE, 0x80072F0D 12045
  ERROR_WINHTTP_SECURE_INVALID_CA, 0x80072F05 12037 ERROR_WINHTTP_SECURE_CERT_DATE_INVALID, 0x80072EFE 12030
  ERROR_WINHTTP_CONNECTION_ERROR, 0x80072F78 12152 ERROR_WINHTTP_INVALID_SERVER_RESPONSE, 0x80072F06 12038
  ERROR_WINHTTP_SECURE_CERT_CN_INVALID, 0x80072F19 12057 ERROR_WINHTTP_SECURE_CERT_REV_FAILED.
- The enrollment codes: "MDM registration constants" (win32 `mdm-registration-constants.md`) and the DSREG table
  of "Azure AD integration with MDM" (windows-itpro-docs).
- The endpoints a device must reach: Intune's "Network endpoints for Microsoft Intune" (memdocs
  `intune/fundamentals/intune-endpoints.md`): `*.manage.microsoft.com`, `manage.microsoft.com`,
  `*.dm.microsoft.com`, `EnterpriseEnrollment.manage.microsoft.com` (TCP 80, 443; "SSL traffic inspection isn't
  supported for '*.manage.microsoft.com', '*.dm.microsoft.com'"), `login.microsoftonline.com`,
  `enterpriseregistration.windows.net`, `certauth.enterpriseregistration.windows.net`, and `time.windows.com`
  (UDP 123, "NTP Sync").
- The clock requirement: Windows Autopilot's networking requirements (windows-itpro-docs, "Windows Autopilot
  requirements" and "Windows Autopilot device preparation requirements", Networking: "Network Time Protocol (NTP)
  sync: When a Windows device starts up, it talks to a network time server to ensure that the time on the device
  is correct. Ensure that UDP port 123 to time.windows.com is accessible."), the same endpoint Intune lists for
  "NTP Sync". How far off is too far: 5 minutes, the clock skew tokens are validated with (CLOCK_TOLERANCE_SECONDS
  in `bot.domain.clues`, with its sources). What Windows Time's own events say is in `bot.domain.device_logs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.causes.base import Cause, Context
from bot.domain.clues import CLOCK_TOLERANCE_SECONDS, ClockClue, Clue, CodeClue, duration
from bot.domain.evidence_age import ago, least_age, stale

ON_DEVICE = "On the device"
ENDPOINTS = (
    "login.microsoftonline.com, enterpriseregistration.windows.net, certauth.enterpriseregistration.windows.net, "
    "manage.microsoft.com and *.manage.microsoft.com (EnterpriseEnrollment.manage.microsoft.com), *.dm.microsoft.com"
)
MAX_SHOWN = 4


@dataclass(frozen=True)
class DeviceCause:
    title: str
    meaning: str  # what the codes of this kind say, as the finding's first sentence
    fix: str  # what to do on the device


KINDS: dict[str, DeviceCause] = {
    "network": DeviceCause(
        "The device could not reach the enrollment services",
        "The device could not connect to Microsoft's join and enrollment services (no network, DNS, a firewall or "
        "a proxy it cannot pass).",
        "On the device during setup: a wired or open network (or Wi-Fi in the package), DNS that resolves the "
        f"services, and a firewall and proxy that let the device reach {ENDPOINTS} on TCP 443 and 80; a proxy that "
        "asks for sign-in must let these through unauthenticated. Then apply the package again.",
    ),
    "tls": DeviceCause(
        "The device rejected the enrollment services' certificate",
        "The device reached the services, but their TLS certificate did not check out: typically a proxy or firewall "
        "inspecting TLS (it presents its own certificate), or a clock so wrong that valid certificates look invalid.",
        "Exempt *.manage.microsoft.com, *.dm.microsoft.com, enterpriseregistration.windows.net and "
        "login.microsoftonline.com from TLS inspection (Intune does not support it), and check the device's date, "
        "time and time zone. Then apply the package again.",
    ),
    "clock": DeviceCause(
        "The device's clock is wrong",
        "The device's date or time is off, so tokens and certificates look invalid to it.",
        "Set the time zone first, then the date and time (in the BIOS/UEFI too, if they reset at each start), and "
        "let Windows sync its time: allow time.windows.com on UDP 123, then Settings > Time & language > Date & "
        "time > Sync now, or w32tm /resync in a command prompt (Shift+F10 at the setup screen). "
        "Then apply the package again.",
    ),
    "edition": DeviceCause(
        "This Windows edition cannot be bulk enrolled",
        "The device's edition does not support this enrollment (Windows Home cannot join Entra ID or enroll in "
        "Intune).",
        "Upgrade the device to Windows Pro, Education or Enterprise, then apply the package again.",
    ),
    "quota": DeviceCause(
        "The package account reached the device quota",
        "The account may join no more devices (Entra ID's per-user device limit).",
        "Raise 'Maximum number of devices per user' in Device settings, or remove stale devices of the package "
        "account. (Microsoft's current documentation says the quota does not apply to bulk enrollment; the code "
        "says it applied here.)",
    ),
}

# The codes that name a device-side cause: code -> (kind, what the code itself says).
DEVICE_CODES: dict[str, tuple[str, str]] = {
    "0x80072efd": ("network", "cannot connect"),
    "0x80072ee2": ("network", "timed out"),
    "0x80072ee7": ("network", "name not resolved (DNS)"),
    "0x80072efe": ("network", "connection aborted"),
    "0x80072f78": ("network", "invalid server response, often a proxy"),
    "0x80180010": ("network", "network or DNS failure"),
    "0x801c0006": ("network", "registration service unreachable"),
    "0x801c000c": ("network", "registration service unreachable"),
    "0x801c0012": ("network", "discovery failed"),
    "0x80072f8f": ("tls", "TLS secure channel failure"),
    "0x80072f0d": ("tls", "certificate from an untrusted root"),
    "0x80072f06": ("tls", "certificate name does not match"),
    "0x80072f19": ("tls", "certificate revocation check failed"),
    "0x80072f05": ("clock", "certificate date invalid"),
    "0x80180016": ("clock", "check the device's time"),
    "0x8018000d": ("clock", "certificate date invalid"),
    "0x8018001c": ("edition", "edition does not support this enrollment"),
    "0x80180022": ("edition", "Windows Home"),
    "0x801c000e": ("quota", "device quota reached"),
}


KIND_LABELS = {
    "network": "the device's network",
    "tls": "TLS to the services",
    "clock": "the device's clock",
    "edition": "the Windows edition",
    "quota": "the device quota",
}


def device_code_meaning(code: str) -> str | None:
    """ "cannot connect (the device's network)"; None for a code that names no device-side cause."""
    entry = DEVICE_CODES.get(code.lower())
    return f"{entry[1]} ({KIND_LABELS[entry[0]]})" if entry else None


def _shown(parts: list[str]) -> str:
    more = len(parts) - MAX_SHOWN
    return "; ".join(parts[:MAX_SHOWN]) + (f"; and {more} more" if more > 0 else "")


def _where(clue: Clue, now: datetime | None) -> str:
    """Where and when it was seen, and how long ago when that is more than a day: a problem that old may be gone."""
    if now is None or clue.at is None or not stale(clue.at, now):
        return clue.where()
    return f"{clue.where()} ({ago(least_age(clue.at, now))})"


def _seen(clues: list[CodeClue], now: datetime | None = None) -> str:
    return _shown([f"{c.code.upper().replace('0X', '0x')} ({DEVICE_CODES[c.code][1]}) {_where(c, now)}" for c in clues])


CLOCK_REQUIREMENT = (
    "Windows must set its clock from a time server while it sets up (Microsoft's Windows Autopilot networking "
    "requirements: UDP 123 to time.windows.com), and tokens are accepted only within "
    f"{int(CLOCK_TOLERANCE_SECONDS // 60)} minutes of the right time."
)


def _clock_cause(clock: list[ClockClue], codes: list[CodeClue], now: datetime | None) -> Cause | None:
    """The clock's finding from what Windows Time logged and the clock codes; None when the clock was measured
    within the tolerance and no code says otherwise (a failed sync alone is then no cause)."""
    measured = [c for c in clock if c.offset_seconds is not None]
    off = sorted((c for c in measured if c.off), key=lambda c: -abs(c.offset_seconds or 0.0))
    failed = [c for c in clock if c.offset_seconds is None]
    if not (off or codes or (failed and not measured)):
        return None
    seen = [
        f"the clock {duration(c.offset_seconds or 0.0)} off ({c.said or 'phase offset'}) {_where(c, now)}" for c in off
    ]
    seen += [f"time sync failed ({c.said or 'Windows Time'}) {_where(c, now)}" for c in failed]
    seen += [f"{c.code.upper().replace('0X', '0x')} ({DEVICE_CODES[c.code][1]}) {_where(c, now)}" for c in codes]
    cause = KINDS["clock"]
    if off:
        title = f"The device's clock is {duration(off[0].offset_seconds or 0.0)} off"
        meaning = (
            f"Windows Time on the device logged its clock {duration(off[0].offset_seconds or 0.0)} away from the "
            "time server's, so the bulk token, the join and the enrollment certificates look not yet valid or "
            f"expired to it. {CLOCK_REQUIREMENT}"
        )
    elif codes:
        title, meaning = cause.title, f"{cause.meaning} {CLOCK_REQUIREMENT}"
    else:
        title = "Windows Time could not sync the device's clock"
        meaning = (
            "Windows Time on the device could not reach a time server, so nothing corrected its clock: if it is "
            f"more than {int(CLOCK_TOLERANCE_SECONDS // 60)} minutes off, tokens and certificates fail. "
            f"{CLOCK_REQUIREMENT}"
        )
    return Cause(
        "device_clock",
        False,
        title,
        f"{meaning} Seen: {_shown(seen)}.",
        fix=cause.fix,
        portal=ON_DEVICE,
        on_device=True,
    )


def device_causes(clues: Iterable[Clue | str], now: datetime | None = None) -> list[Cause]:
    """One finding per kind of device-side cause the clues show, with every clue of that kind it rests on (and,
    given `now`, the age of those seen more than a day before)."""
    by_kind: dict[str, list[CodeClue]] = {}
    clock: list[ClockClue] = []
    for clue in clues:
        if isinstance(clue, ClockClue):
            clock.append(clue)
            continue
        clue = clue if isinstance(clue, CodeClue) else CodeClue(clue.lower())
        entry = DEVICE_CODES.get(clue.code.lower())
        if entry is not None:
            by_kind.setdefault(entry[0], []).append(CodeClue(clue.code.lower(), clue.source, clue.at, clue.event))
    causes = []
    if clock and "clock" not in by_kind:
        by_kind["clock"] = []  # in the order of the kinds: the clock's place, from the logs alone
    for kind, seen in by_kind.items():
        if kind == "clock":
            found = _clock_cause(clock, seen, now)
            if found is not None:
                causes.append(found)
            continue
        cause = KINDS[kind]
        causes.append(
            Cause(
                f"device_{kind}",
                False,
                cause.title,
                f"{cause.meaning} Seen: {_seen(seen, now)}.",
                fix=cause.fix,
                portal=ON_DEVICE,
                on_device=True,
            )
        )
    return causes


class Device:
    name = "device"

    def judge(self, context: Context) -> list[Cause]:
        return device_causes(context.clues, context.now)


KIND = Device()
