"""The device's event logs sent in a chat, over real HTTP: the recording Bot Connector keeps the file (as Teams
does), the bot downloads it, reads it in its sandbox, shows what the logs show and diagnoses with their clues."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from tests.support.activities import message
from tests.support.cards import text_of

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "eventlogs"
FILE_INFO = "application/vnd.microsoft.teams.file.download.info"


def sent_file(url: str, name: str, text: str = "", service_url: str = "") -> dict[str, Any]:
    activity = message(service_url, text)
    activity["attachments"] = [
        {
            "contentType": FILE_INFO,
            "name": name,
            "contentUrl": "https://contoso-my.sharepoint.com/personal/adele/Documents/" + name,
            "content": {"downloadUrl": url, "uniqueId": "1", "fileType": name.rsplit(".", 1)[-1]},
        }
    ]
    return activity


def mdm_diagnostics_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("join-not-authorized.xml", "network-tls.xml"):
            archive.writestr(f"MDMDiagReport/{name}", (LOGS / name).read_bytes())
        archive.writestr("MDMDiagReport/MDMDiagReport.html", b"<html></html>")
    return buffer.getvalue()


async def test_a_zip_of_logs_adds_its_evidence_to_the_diagnosis(bot, connector, sim):
    connector.files["logs"] = mdm_diagnostics_zip()
    status, _ = await bot.post(sent_file(connector.file_url("logs"), "MDMDiagReport.zip", service_url=connector.url))
    assert status == 201
    logs_card, diagnosis_card = connector.cards()
    shown = text_of(logs_card)
    assert "What the device's logs show" in shown
    assert "MDMDiagReport.zip › join-not-authorized.xml (XML, 3 events)" in shown
    assert "MDMDiagReport.html: not an event log" in shown
    assert "The discovery operation callback failed with exit code: 0x80072F8F." in shown  # the timeline
    checking = [a["attachments"][0]["content"] for a in connector.sent if a.get("attachments")][1]  # as first sent
    assert "Read from the logs MDMDiagReport.zip" in text_of(checking)
    assert "0x801c0003 seen in Microsoft-Windows-User Device Registration/Admin (event 204)" in text_of(checking)
    # The diagnosis: the package account named in the logs, and the device-side causes with where each code
    # was seen on the device.
    result = text_of(diagnosis_card)
    assert "Users may join devices" in result
    assert "seen in Microsoft-Windows-AAD/Operational (event 1025) at 2026-12-01 07:40 UTC" in result
    assert "seen in Microsoft-Windows-User Device Registration/Admin (event 201) at 2026-12-01 07:40 UTC" in result
    assert any(r["route"] == "policy.get" for r in sim.simulator.requests)


async def test_logs_from_channels_that_do_not_matter_get_the_card_and_no_diagnosis(bot, connector, sim):
    connector.files["hello"] = (LOGS / "evtx" / "Microsoft-Windows-HelloForBusiness%4Operational.evtx").read_bytes()
    await bot.post(sent_file(connector.file_url("hello"), "hello.evtx", service_url=connector.url))
    (card,) = connector.cards()
    assert "None of the events came from the channels that matter" in text_of(card)
    assert "6 read, 0 that matter" in text_of(card)
    assert not any(r["route"] == "policy.get" for r in sim.simulator.requests)


async def test_a_saved_paste_sent_as_a_text_file_starts_the_diagnosis(bot, connector, sim):
    connector.files["notes"] = b"From room 101: A setup failure has occurred during bulk enrollment.\r\n"
    await bot.post(sent_file(connector.file_url("notes"), "notes.txt", service_url=connector.url))
    logs_card, diagnosis_card = connector.cards()
    assert "notes.txt (text, 0 events)" in text_of(logs_card)  # no code in it: the recogniser found the error
    assert "Users may join devices" in text_of(diagnosis_card)


async def test_a_zip_bomb_is_refused_with_why(bot, connector, sim):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("logs.xml", b"\0" * (8 * 1024 * 1024))
    connector.files["bomb"] = buffer.getvalue()
    await bot.post(sent_file(connector.file_url("bomb"), "logs.zip", service_url=connector.url))
    (card,) = connector.cards()
    assert "looks like a zip bomb" in text_of(card)
    assert not sim.simulator.requests


def checking_card(connector) -> dict[str, Any]:
    """The diagnosis's first card as it was first sent (before its answer replaced it); the logs' card comes first."""
    return [a["attachments"][0]["content"] for a in connector.sent if a.get("attachments")][1]


async def test_a_wrong_clock_in_the_logs_is_named_with_what_was_seen(bot, connector, sim):
    connector.files["clock"] = (LOGS / "clock.txt").read_bytes()
    await bot.post(sent_file(connector.file_url("clock"), "kiosk-02.txt", service_url=connector.url))
    logs_card, diagnosis_card = connector.cards()
    assert "The device's clock was off by 2 h 1 min" in text_of(logs_card)
    assert "clock 2 hours off seen in Microsoft-Windows-Time-Service/Operational (event 260)" in text_of(
        checking_card(connector)
    )
    result = text_of(diagnosis_card)
    assert "The device's clock is 2 hours off" in result
    assert "(event 260) at 2026-12-02 06:58 device time" in result and "w32tm /resync" in result


async def test_check_again_after_a_restart_takes_the_log_clues_from_the_database(bot_factory, connector, sim):
    # The first card went out and the session was stored, but its answer never came: Graph failed, then the bot
    # stopped. A new instance on the same database answers the first card's "Check again" with every clue the
    # logs gave, though the card itself carries only the message's codes.
    from sim.tenant import Fault
    from tests.support.activities import card_action

    first = await bot_factory()
    sim.tenant.faults.append(Fault(route="policy.get", status=503))
    connector.files["clock"] = (LOGS / "clock.txt").read_bytes()
    await first.post(sent_file(connector.file_url("clock"), "kiosk-02.txt", service_url=connector.url))
    again = next(a for a in checking_card(connector)["actions"] if a["title"] == "Check again")
    assert again["verb"] == "diagnosis.start" and "sessionId" in again["data"]  # no code was typed: none on it
    await first.stop()
    sim.tenant.faults.clear()

    restarted = await bot_factory()  # the same SQLite file
    status, body = await restarted.post(card_action(connector.url, again["verb"], again["data"]))
    assert status == 200
    result = text_of(body["value"])
    assert "The device's clock is 2 hours off" in result
    assert "seen in Microsoft-Windows-User Device Registration/Admin (event 201)" in result  # the code clue too


async def test_logs_from_days_ago_are_shown_with_their_age(bot, connector, sim, clock):
    clock.advance(days=9)  # 2026-12-05 12:00 UTC; the logs end 2026-12-01 07:40 UTC
    connector.files["logs"] = (LOGS / "network-tls.xml").read_bytes()
    await bot.post(sent_file(connector.file_url("logs"), "tls.xml", service_url=connector.url))
    logs_card, diagnosis_card = connector.cards()
    assert "The device's logs end at 2026-12-01 07:40 UTC, 4 days ago" in text_of(logs_card)
    result = text_of(diagnosis_card)
    assert "Old evidence" in result and "4 days ago" in result
    assert "(event 1025) at 2026-12-01 07:40 UTC (4 days ago)" in result


async def test_logs_from_before_the_last_applied_change_say_so(bot, connector, sim, clock):
    from datetime import UTC, datetime, timedelta

    from app import DEPS
    from bot.domain.approval import ApprovalRequest, State
    from bot.domain.diagnosis import JoinChangePlan
    from bot.domain.model import JoinSetting, MembershipKind
    from bot.storage import AuditEntry

    approved = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # after the logs' last event, 07:40 UTC
    clock.advance(days=5)  # 2026-12-01 12:00: the logs are hours old, not days
    plan = JoinChangePlan(
        JoinSetting(MembershipKind.NONE),
        JoinSetting(MembershipKind.SELECTED, ("u1", "u2"), ()),
        ("package_a@contoso.com", "package_b@contoso.com"),
    )
    here = bot.app[DEPS].storage  # the view of the tenant this chat acts for: it stamps that tenant on a request
    for storage, rid, later in ((here, "applied-here", 0), (here.inner, "applied-elsewhere", 1)):
        request = ApprovalRequest(
            rid, "another-tenant", plan, "adele", "Adele Vance", approved, approved + timedelta(hours=24),
            state=State.APPLIED, decided_at=approved + timedelta(hours=later),
        )  # fmt: skip
        await storage.create_approval(request, AuditEntry(at=approved, action="created", request_id=rid))
    connector.files["logs"] = (LOGS / "network-tls.xml").read_bytes()
    await bot.post(sent_file(connector.file_url("logs"), "tls.xml", service_url=connector.url))
    logs_card, diagnosis_card = connector.cards()
    assert "Old evidence" not in text_of(logs_card)  # hours old: the logs card alone does not know of changes
    result = text_of(diagnosis_card)
    assert (
        "The device's logs end at 2026-12-01 07:40 UTC, before \u201cJoin permission for 2 package accounts, asked "
        "by Adele Vance\u201d was approved (2026-12-01 09:30 UTC)"
    ) in result
