"""Causes on the device itself, from the codes it reported: its edition, its clock, its network, the device quota."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.causes.base import Cause, Context

# Codes from the device (the paste) that name a device-side cause: (key, title, detail, fix).
DEVICE_CAUSES: dict[str, tuple[str, str, str, str]] = {
    "0x8018001c": (
        "edition",
        "This Windows edition cannot be bulk enrolled",
        "The device reported 0x8018001C: its edition does not support this enrollment (Windows Home cannot join "
        "Entra ID or enroll in Intune).",
        "Upgrade the device to Windows Pro, Education or Enterprise, then apply the package again.",
    ),
    "0x80180022": (
        "edition",
        "This Windows edition cannot be bulk enrolled",
        "The device reported 0x80180022: Windows Home.",
        "Upgrade the device to Windows Pro, Education or Enterprise, then apply the package again.",
    ),
    "0x80180016": (
        "clock",
        "The device's clock is wrong",
        "The device reported a time error (0x80180016): tokens and certificates look invalid to it.",
        "Set the date, time and time zone (or the BIOS clock) right, connect to the network so it syncs, and retry.",
    ),
    "0x8018000d": (
        "clock",
        "The device's clock is wrong",
        "The device reported 0x8018000D: the enrollment service's certificate date looks invalid to it.",
        "Set the date, time and time zone (or the BIOS clock) right, connect to the network so it syncs, and retry.",
    ),
    "0x80180010": (
        "network",
        "The device could not reach the enrollment service",
        "The device reported a network or DNS failure (0x80180010).",
        "Give the device a wired or open network during setup (or put Wi-Fi in the package) and allow "
        "login.microsoftonline.com, enterpriseregistration.windows.net and enrollment.manage.microsoft.com.",
    ),
    "0x801c0006": (
        "network",
        "The device could not reach the registration service",
        "The device reported 0x801C0006: the device registration service could not be reached.",
        "Allow login.microsoftonline.com, device.login.microsoftonline.com and enterpriseregistration.windows.net "
        "through the proxy or firewall, and retry.",
    ),
    "0x801c000c": (
        "network",
        "The device could not reach the registration service",
        "The device reported 0x801C000C: the device registration service could not be reached.",
        "Allow login.microsoftonline.com, device.login.microsoftonline.com and enterpriseregistration.windows.net "
        "through the proxy or firewall, and retry.",
    ),
    "0x801c0012": (
        "network",
        "Discovery of the registration service failed",
        "The device reported 0x801C0012: discovery failed.",
        "Check the device's network and proxy (see 0x801C0006) and that its clock is right, and retry.",
    ),
    "0x801c000e": (
        "quota",
        "The package account reached the device quota",
        "The device reported 0x801C000E: the account may join no more devices (Entra ID's per-user device limit).",
        "Raise 'Maximum number of devices per user' in Device settings, or remove stale devices of the package "
        "account. (Microsoft's current documentation says the quota does not apply to bulk enrollment; the code "
        "says it applied here.)",
    ),
}


def device_causes(codes: Iterable[str]) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for code in codes:
        entry = DEVICE_CAUSES.get(code.lower())
        if entry is None or entry[0] in seen:
            continue
        seen.add(entry[0])
        key, title, detail, fix = entry
        causes.append(Cause(f"device_{key}", False, title, detail, fix=fix, portal="On the device"))
    return causes


class Device:
    name = "device"

    def judge(self, context: Context) -> list[Cause]:
        return device_causes(c.code for c in context.clues)


KIND = Device()
