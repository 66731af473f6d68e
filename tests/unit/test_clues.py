"""Device clues: the same code says where it was seen, whether pasted, in Intune's reports or in an event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.domain.causes.device import device_causes
from bot.domain.clues import CodeClue, as_clues

CHANNEL = "Microsoft-Windows-User Device Registration/Admin"


def test_a_pasted_code_is_in_your_message_and_a_logged_one_says_channel_event_and_time_in_utc():
    assert CodeClue("0x80072efd").where() == "in your message"
    logged = CodeClue(
        "0x80072efd", CHANNEL, datetime(2026, 11, 26, 12, 30, tzinfo=timezone(timedelta(hours=1))), "event 304"
    )
    assert logged.where() == f"seen in {CHANNEL} (event 304) at 2026-11-26 11:30 UTC"
    unzoned = CodeClue("0x80072efd", CHANNEL, datetime(2026, 11, 26, 12, 30))  # an export without a zone
    assert unzoned.where() == f"seen in {CHANNEL} at 2026-11-26 12:30 device time"


def test_codes_become_clues_once_each_and_in_lower_case():
    at = datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    clues = as_clues(["0x80072EFD", "0x80072efd", CodeClue("0x80072EE2", CHANNEL, at)])
    assert clues == (CodeClue("0x80072efd"), CodeClue("0x80072ee2", CHANNEL, at))


def test_one_finding_per_kind_with_every_clue_it_rests_on():
    at = datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    (network,) = device_causes([CodeClue("0x80072efd"), CodeClue("0x80072ee7", CHANNEL, at, "event 201")])
    assert network.key == "device_network" and network.on_device and network.portal == "On the device"
    assert "0x80072EFD (cannot connect) in your message" in network.detail
    assert (
        f"0x80072EE7 (name not resolved (DNS)) seen in {CHANNEL} (event 201) at 2026-11-26 11:30 UTC" in network.detail
    )
    assert [c.key for c in device_causes(["0x80072f8f", "0x8018001C", "0x801c000e", "0x80180016"])] == [
        "device_tls",
        "device_edition",
        "device_quota",
        "device_clock",
    ]
    assert device_causes(["0x80180014"]) == []  # a tenant-side code names no device cause


def test_a_device_code_pasted_is_explained_on_the_first_card_by_what_it_means():
    from bot.domain.recognizer import code_meaning

    assert code_meaning("0x80072efd") == "cannot connect (the device's network)"
    assert code_meaning("0x80072f8f") == "TLS secure channel failure (TLS to the services)"
    assert code_meaning("0x80180014") == "an enrollment restriction blocks this platform or version"  # unchanged
