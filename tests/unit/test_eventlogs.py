"""The device's event logs: real .evtx files, Event Viewer's exports, zips of them, and what is refused."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from evtx import PyEvtxParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.domain.eventlogs as eventlogs
from bot.domain.device_logs import codes_in, read_device_logs
from bot.domain.eventlogs import ArchiveRefused, LogError, clean_name, parse_time, read_logs
from cards.device_logs import DETAIL_ROWS, SHOWN_ROWS, build_device_logs_card
from tests.support.cards import elements, text_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eventlogs"
EVTX = sorted((FIXTURES / "evtx").glob("*.evtx"))
PACKAGE = "3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d"
EXAMPLES = int(os.environ.get("LOG_FUZZ_EXAMPLES", "150"))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- real .evtx files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EVTX, ids=lambda p: p.name)
def test_real_evtx_files_are_read_record_for_record(path):
    data = path.read_bytes()
    expected = list(PyEvtxParser(str(path)).records_json())  # the library on its own, from the path
    read = read_logs(path.name, data)
    assert len(read.events) == len(expected) > 0
    assert read.files == (f"{path.name} (evtx, {len(expected)} event{'s' if len(expected) != 1 else ''})",)
    first = read.events[0]
    assert first.time is not None and first.time.tzinfo is UTC
    assert first.event_id is not None and first.computer and first.channel


def test_a_real_evtx_error_event_keeps_its_level_id_and_time():
    read = read_logs("hello.evtx", fixture("evtx/Microsoft-Windows-HelloForBusiness%4Operational.evtx"))
    errors = [e for e in read.events if e.level == "Error"]
    assert [(e.event_id, e.channel, e.computer) for e in errors][:1] == [
        (7210, "Microsoft-Windows-HelloForBusiness/Operational", "DESKTOP-1N4R894")
    ]
    assert errors[0].time == datetime(2018, 7, 6, 22, 7, 32, 222223, tzinfo=UTC)


def test_channels_that_do_not_matter_give_no_clues():
    for path in EVTX:
        evidence = read_device_logs(path.name, path.read_bytes())
        assert evidence.events_read > 0
        assert evidence.timeline == () and evidence.error_codes == () and evidence.device_name is None


def test_a_damaged_evtx_is_refused_clearly():
    data = bytearray(fixture("evtx/new-user-security.evtx"))
    data[4096:] = b"\x00" * (len(data) - 4096)  # the header survives, every chunk is gone
    read = read_logs("broken.evtx", bytes(data))
    assert read.events == ()
    with pytest.raises(LogError, match="not an .evtx file"):
        read_logs("renamed.evtx", b"this is not an event log")


# --- Event Viewer's exports, and what they tell the diagnosis ---------------------------------------------


def test_xml_export_gives_codes_package_device_and_a_utc_timeline():
    evidence = read_device_logs("join-not-authorized.xml", fixture("join-not-authorized.xml"))
    assert evidence.error_codes == ("0x801c0003",)
    assert evidence.package_guids == (PACKAGE,)
    assert evidence.device_name == "LAB-PC-07"
    assert [(e.source, e.event_id) for e in evidence.timeline] == [
        ("Provisioning", 20),
        ("Entra join", 204),
        ("Provisioning", 22),
    ]
    assert all(e.time and e.time.tzinfo is UTC for e in evidence.timeline)
    assert evidence.network == () and evidence.clock_skew_seconds is None


def test_csv_export_gives_the_same_clues_in_device_time():
    evidence = read_device_logs("join-not-authorized.csv", fixture("join-not-authorized.csv"))
    assert evidence.error_codes == ("0x801c0003",) and evidence.package_guids == (PACKAGE,)
    assert [e.event_id for e in evidence.timeline] == [20, 22, 204]  # ordered by time, not by the file
    assert evidence.timeline[0].time == datetime(2026, 11, 30, 9, 12, 40)  # naive: the zone was not given
    assert evidence.timeline[2].source == "Entra join"  # Event Viewer's short Source still names the channel


def test_wevtutil_xml_without_root_or_messages_reads_network_failures():
    evidence = read_device_logs("network-tls.xml", fixture("network-tls.xml"))
    assert evidence.error_codes == ("0x80072f8f", "0x80072efd")  # AAD's 0xCAA82EFD is WinHTTP 12029
    assert evidence.network == ("tls", "connect")
    assert evidence.device_name == "CLASS-3B-14"
    summaries = [e.summary for e in evidence.timeline]
    assert summaries[1] == "The discovery operation callback failed with exit code: 0x80072F8F."
    assert summaries[3] == "Package 'Year7_Laptops' failed with '0x80072F8F'."


def test_codes_become_clues_that_say_where_and_when_they_were_seen():
    (clue,) = read_device_logs("join.csv", fixture("join-not-authorized.csv")).code_clues()[1:]
    assert (
        clue.where()
        == "seen in Microsoft-Windows-User Device Registration/Admin (event 204) at 2026-11-30 09:12 device time"
    )
    clues = read_device_logs("tls.xml", fixture("network-tls.xml")).code_clues()
    assert [(c.code, c.event) for c in clues] == [
        ("0x80072f8f", "event 201"),
        ("0x80072f8f", "event 22"),
        ("0x80072efd", "event 1025"),
    ]
    assert clues[2].where() == "seen in Microsoft-Windows-AAD/Operational (event 1025) at 2026-12-01 07:40 UTC"


def test_the_device_side_causes_judge_the_log_clues():
    from bot.domain.causes.device import device_causes

    causes = device_causes(read_device_logs("tls.xml", fixture("network-tls.xml")).code_clues())
    details = {c.key: c.detail for c in causes}
    assert set(details) == {"device_tls", "device_network"}
    assert "seen in Microsoft-Windows-AAD/Operational (event 1025) at 2026-12-01 07:40 UTC" in details["device_network"]
    assert "(event 201) at 2026-12-01 07:40 UTC" in details["device_tls"]


def test_text_export_shows_a_wrong_clock():
    evidence = read_device_logs("clock.txt", fixture("clock.txt"))
    assert evidence.clock_skew_seconds == pytest.approx(7262.41, abs=0.01)
    assert evidence.network == ("clock", "tls") and evidence.device_name == "LIB-KIOSK-02"
    assert evidence.timeline[0].kind == "clock" and evidence.timeline[0].event_id == 260


def test_a_small_phase_offset_is_not_a_wrong_clock():
    small = fixture("clock.txt").replace(b"7262.4113002s", b"0.0041200s")
    assert read_device_logs("clock.txt", small).clock_skew_seconds is None


def test_a_wrong_clock_in_the_logs_is_a_device_cause_with_what_was_seen_and_what_to_do():
    from bot.domain.causes.device import device_causes

    causes = {c.key: c for c in device_causes(read_device_logs("clock.txt", fixture("clock.txt")).clues())}
    assert set(causes) == {"device_clock", "device_tls"}
    clock = causes["device_clock"]
    assert clock.title == "The device's clock is 2 hours off" and clock.on_device
    assert (
        "the clock 2 hours off (phase offset 7262 s; Last Sync Error: 1 (The time service is not synchronized)) "
        "seen in Microsoft-Windows-Time-Service/Operational (event 260) at 2026-12-02 06:58 device time"
    ) in clock.detail
    assert "UDP 123 to time.windows.com" in clock.detail and "within 5 minutes" in clock.detail
    assert "time zone" in clock.fix and "w32tm /resync" in clock.fix


@pytest.mark.parametrize(("offset", "title"), [(299.0, None), (300.0, None), (301.0, "5 minutes"), (-90000, "1 day")])
def test_the_clock_is_a_cause_beyond_the_five_minutes_tokens_tolerate(offset: float, title: str | None):
    from bot.domain.causes.device import device_causes
    from bot.domain.clues import ClockClue

    causes = device_causes([ClockClue(offset, "Microsoft-Windows-Time-Service/Operational", None, "event 260")])
    assert [c.title for c in causes] == ([f"The device's clock is {title} off"] if title else [])


def test_windows_times_failed_syncs_in_the_system_log_are_clues():
    from bot.domain.causes.device import device_causes

    evidence = read_device_logs("system.txt", fixture("time-sync-failed.txt"))
    assert evidence.network == ("time_sync",) and evidence.clock_skew_seconds is None
    assert [(c.offset_seconds, c.event) for c in evidence.clock] == [(None, "event 36"), (None, "event 47")]
    assert evidence.clock[0].where() == (
        "seen in Microsoft-Windows-Time-Service, System log (event 36) at 2026-12-03 08:29 device time"
    )
    (cause,) = device_causes(evidence.clues())
    assert cause.title == "Windows Time could not sync the device's clock"
    assert "No valid response has been received from manually configured peer time.windows.com,0x9" in cause.detail
    assert "w32tm /resync" in cause.fix
    shown = text_of(build_device_logs_card(evidence))
    assert "Windows Time could not sync the device's clock (event 36, event 47)" in shown
    assert "connections to Microsoft's services failed" not in shown


def test_a_failed_sync_with_the_clock_measured_right_is_no_cause():
    from bot.domain.causes.device import device_causes

    small = fixture("clock.txt").replace(b"7262.4113002s", b"0.0041200s")  # 260 still says Last Sync Error: 1
    evidence = read_device_logs("clock.txt", small)
    assert [c.offset_seconds for c in evidence.clock] == [pytest.approx(0.00412)]
    assert [c.key for c in device_causes(evidence.clues())] == ["device_tls"]


def test_utf16_xml_and_powershell_csv_are_read():
    utf16 = fixture("join-not-authorized.xml").decode().replace('encoding="utf-8"', 'encoding="UTF-16"')
    assert read_device_logs("x.xml", utf16.encode("utf-16")).error_codes == ("0x801c0003",)
    powershell = (
        '#TYPE System.Diagnostics.Eventing.Reader.EventLogRecord\r\n"Message","Id","ProviderName","LogName",'
        '"MachineName","TimeCreated","LevelDisplayName"\r\n"The discovery operation callback failed with exit code: '
        '0x80072EE7.","201","Microsoft-Windows-User Device Registration","Microsoft-Windows-User Device '
        'Registration/Admin","PC-22","12/1/2026 7:40:23 AM","Error"\r\n'
    )
    evidence = read_device_logs("events.csv", powershell.encode())
    assert evidence.error_codes == ("0x80072ee7",) and evidence.network == ("dns",) and evidence.device_name == "PC-22"


def test_free_text_lines_with_codes_are_clues():
    text = "2026-12-01T07:40:23Z discovery failed 0x80072efd\nnothing here\npackage_" + PACKAGE + "@contoso.com\n"
    evidence = read_device_logs("notes.log", text.encode())
    assert evidence.error_codes == ("0x80072efd",) and evidence.package_guids == (PACKAGE,)
    assert evidence.timeline[0].time == datetime(2026, 12, 1, 7, 40, 23, tzinfo=UTC)


def test_plain_text_is_kept_for_the_recogniser_and_exports_are_not():
    saved = "Hi, the laptops show: A setup failure has occurred during bulk enrollment.\n"
    assert read_device_logs("notes.txt", saved.encode()).text == saved + "\n"
    assert read_device_logs("clock.txt", fixture("clock.txt")).text == ""
    big = read_device_logs("big.log", b"x" * (eventlogs.MAX_PLAIN_TEXT * 2))
    assert len(big.text) == eventlogs.MAX_PLAIN_TEXT + 1


def test_codes_are_failures_only_and_aad_codes_unwrap():
    assert codes_in("Keywords 0x8000000000000000 status 0x00000000 ok 0x801C0003") == ("0x801c0003",)
    assert codes_in("0xCAA82EE2 then 0xcaa20003") == ("0x80072ee2", "0xcaa20003")


def test_signed_integers_in_evtx_data_become_hex_codes():
    lines: list[str] = []
    eventlogs._flatten({"ExitCode": -2145648637, "Count": 4}, lines, "")
    assert lines == ["ExitCode: 0x801c0003", "Count: 4"]


def test_event_ids_are_ascii_numbers_only():
    assert eventlogs._int("204") == 204 and eventlogs._int(" 76 ") == 76
    assert (
        eventlogs._int("\u00b2") is None and eventlogs._int("\u0664") is None and eventlogs._int("99999999999") is None
    )


def test_times_parse_with_and_without_zone():
    assert parse_time("2026-11-30T09:12:40.5021337Z") == datetime(2026, 11, 30, 9, 12, 40, 502133, tzinfo=UTC)
    assert parse_time("2018-07-06T18:45:46.9666279Z UTC") is not None
    assert parse_time("30.11.2026 09:12:40") == datetime(2026, 11, 30, 9, 12, 40)
    assert parse_time("not a time") is None and parse_time(None) is None


# --- what is refused ------------------------------------------------------------------------------------


def test_xml_with_a_doctype_or_entities_is_refused_before_parsing():
    bomb = '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Events>&b;</Events>'
    with pytest.raises(LogError, match="DOCTYPE"):
        read_logs("bomb.xml", bomb.encode())


def test_a_file_over_the_limit_is_refused_with_the_limit(monkeypatch):
    monkeypatch.setattr(eventlogs, "MAX_FILE_BYTES", 1000)
    with pytest.raises(LogError, match=r"up to 0 MB|I read logs up to"):
        read_logs("big.xml", b"<Events/>" * 200)


def test_something_that_is_not_a_log_gets_a_clear_answer():
    with pytest.raises(LogError, match="Send the .evtx files themselves"):
        read_logs("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)


# --- zips ---------------------------------------------------------------------------------------------------


def test_a_zipped_mdm_diagnostics_folder_is_read_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archive = zipped(
        {
            "MDMDiag/../../../etc/cron.d/network-tls.xml": fixture("network-tls.xml"),
            "MDMDiag/join-not-authorized.xml": fixture("join-not-authorized.xml"),
            "MDMDiag/hello.evtx": fixture("evtx/Microsoft-Windows-HelloForBusiness%4Operational.evtx"),
            "MDMDiag/MDMDiagReport.html": b"<html></html>",
            "MDMDiag/": b"",
        }
    )
    evidence = read_device_logs("MDMDiagReport.zip", archive)
    assert list(tmp_path.iterdir()) == []  # nothing was written anywhere
    assert evidence.files == (
        "MDMDiagReport.zip \u203a network-tls.xml (XML, 4 events)",
        "MDMDiagReport.zip \u203a join-not-authorized.xml (XML, 3 events)",
        "MDMDiagReport.zip \u203a hello.evtx (evtx, 6 events)",
    )
    assert evidence.skipped == ("MDMDiagReport.zip \u203a MDMDiagReport.html: not an event log",)
    assert set(evidence.error_codes) == {"0x801c0003", "0x80072f8f", "0x80072efd"}
    assert evidence.error_codes[0] == "0x801c0003"  # the join code before the network ones
    assert evidence.events_read == 13


def test_member_names_never_carry_a_path():
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("C:\\Windows\\..\\evil\x00.xml") == "evil?.xml"
    assert len(clean_name("a" * 500)) == eventlogs.NAME_LIMIT


def test_a_zip_bomb_is_refused_by_its_ratio():
    bomb = zipped({"logs.xml": b"\x00" * (5 * 1024 * 1024)})
    assert len(bomb) < 10_000
    with pytest.raises(ArchiveRefused, match=r"looks like a zip bomb \(logs.zip › logs.xml expands \d{3,}x\)"):
        read_logs("logs.zip", bomb)


def test_a_zip_whose_header_lies_about_the_size_is_never_read_past_it():
    """zipfile stops at the declared size and the CRC check then fails: the member is refused, not trusted."""
    bomb = bytearray(zipped({"logs.xml": b"<Events>" + b" " * (3 * 1024 * 1024) + b"</Events>"}))
    for magic, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size, local and central
        at = bomb.index(magic)
        bomb[at + offset : at + offset + 4] = (1000).to_bytes(4, "little")
    with pytest.raises(LogError, match="logs.xml cannot be unpacked"):
        read_logs("logs.zip", bytes(bomb))


def test_too_many_members_too_much_in_total_and_encryption_are_refused(monkeypatch):
    with pytest.raises(ArchiveRefused, match="holds 201 files"):
        read_logs("many.zip", zipped({f"{i}.txt": b"x" for i in range(201)}))
    monkeypatch.setattr(eventlogs, "MAX_TOTAL_BYTES", 5000)
    with pytest.raises(ArchiveRefused, match="unpacks to more than"):
        read_logs("total.zip", zipped({f"{i}.xml": fixture("join-not-authorized.xml") for i in range(3)}))
    encrypted = bytearray(zipped({"a.xml": b"<Events/>"}, zipfile.ZIP_STORED))
    for magic, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the general purpose flag's bit 0
        at = encrypted.index(magic)
        encrypted[at + offset] |= 1
    with pytest.raises(ArchiveRefused, match="encrypted"):
        read_logs("secret.zip", bytes(encrypted))


def test_nested_zips_are_opened_one_level_deep():
    inner = zipped({"join.xml": fixture("join-not-authorized.xml")})
    deeper = zipped({"deeper.zip": zipped({"tls.xml": fixture("network-tls.xml")})})
    evidence = read_device_logs("outer.zip", zipped({"inner.zip": inner, "deeper.zip": deeper}))
    assert evidence.error_codes == ("0x801c0003",)
    assert any("nested more than 1 deep" in s for s in evidence.skipped)


def test_an_unreadable_member_is_said_and_the_rest_still_read():
    evidence = read_device_logs("logs.zip", zipped({"bad.xml": b"<Events><Event>", "ok.xml": fixture("clock.txt")}))
    assert evidence.clock_skew_seconds is not None
    assert any("bad.xml is not well-formed XML" in s for s in evidence.skipped)


def test_a_zip_with_nothing_readable_is_refused():
    with pytest.raises(LogError, match="could not read any event log"):
        read_logs("empty.zip", zipped({"report.html": b"<html/>"}))


def test_evidence_and_refusals_cross_a_process_boundary():
    """The reader runs in a worker process: what it returns or raises is pickled back."""
    import pickle

    evidence = read_device_logs("join.xml", fixture("join-not-authorized.xml"))
    assert pickle.loads(pickle.dumps(evidence)) == evidence
    for error in (LogError("a.xml is not well-formed XML"), ArchiveRefused("logs.zip looks like a zip bomb")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


# --- the card -------------------------------------------------------------------------------------------


def test_the_card_escapes_caps_and_hides_the_rest_behind_a_toggle():
    hostile = "Log Name: Microsoft-Windows-User Device Registration/Admin\nSource: x\nEvent ID: 201\nLevel: Error\n"
    hostile += "Computer: PC\u202e1\nDescription:\n[click](https://evil.example) **0x80072efd** <at>x</at>\n"
    text = "".join(hostile.replace("Event ID: 201", f"Event ID: {200 + i % 6}") for i in range(120))
    evidence = read_device_logs("many.txt", text.encode())
    card = build_device_logs_card(evidence)
    texts = [e["text"] for e in elements(card) if e["type"] == "TextBlock"]
    assert all("\u202e" not in t for t in texts)
    lines = [t for t in texts if "click" in t]
    assert lines and all(t.startswith("\\[click\\](https\\://evil\\.example) \\*\\*0x80072efd") for t in lines)
    hidden = [e for e in elements(card) if e.get("id") == "device-log-timeline"]
    assert len(hidden) == 1 and hidden[0]["isVisible"] is False
    assert len(hidden[0]["items"]) == DETAIL_ROWS + 1  # and "… N earlier events not shown."
    assert "\u2026 72 earlier events not shown." in text_of(hidden[0])
    assert evidence.timeline_total == 120 and SHOWN_ROWS == 8


def test_the_card_says_what_the_logs_show_and_when():
    card = build_device_logs_card(read_device_logs("clock.txt", fixture("clock.txt")))
    shown = text_of(card)
    assert "clock was off by 2 h 1 min" in shown
    assert "device time" in shown and "LIB-KIOSK-02" in shown
    card = build_device_logs_card(read_device_logs("tls.xml", fixture("network-tls.xml")))
    assert "2026-12-01 07:40:23 UTC" in text_of(card)
    assert "TLS (inspection or certificates)" in text_of(card)


# --- fuzzing: whatever arrives, a LogRead or a LogError, nothing else -------------------------------------

fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _answers(name: str, data: bytes) -> None:
    try:
        evidence = read_device_logs(name, data)
    except LogError as exc:
        assert str(exc)
    else:
        build_device_logs_card(evidence)


@fuzz
@given(st.text(max_size=3000), st.sampled_from(["a.xml", "a.csv", "a.txt", "a.log", "a"]))
def test_fuzz_text_in_any_format(text, name):
    _answers(name, text.encode("utf-8", errors="surrogatepass"))


_XML_PIECES = st.sampled_from(
    [
        "<Events>",
        "</Events>",
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>",
        "</Event>",
        "<System>",
        "</System>",
        "<EventID>204</EventID>",
        "<EventID>x</EventID>",
        "<Level>2</Level>",
        "<TimeCreated SystemTime='2026-11-30T09:12:58Z'/>",
        "<TimeCreated SystemTime='9999-99-99T99:99:99Z'/>",
        "<Channel>Microsoft-Windows-AAD/Operational</Channel>",
        "<Computer>PC-1</Computer>",
        "<EventData><Data Name='ExitCode'>0x801C0003</Data></EventData>",
        "<RenderingInfo><Message>0xcaa82efd",
        "</Message></RenderingInfo>",
        "&amp;",
        "&lt;",
        "<![CDATA[x]]>",
        "<?pi x?>",
        "<!-- c -->",
    ]
)


@fuzz
@given(st.lists(st.one_of(_XML_PIECES, st.text(max_size=20)), max_size=40))
def test_fuzz_xml_shapes(pieces):
    _answers("events.xml", "".join(pieces).encode())


_CSV_CELLS = st.one_of(
    st.sampled_from(["Error", "11/30/2026 9:12:58 AM", "User Device Registration", "204", "0x80072f8f", '"', ""]),
    st.text(max_size=30),
)


@fuzz
@given(st.lists(st.lists(_CSV_CELLS, max_size=8), max_size=30), st.sampled_from([",", "\t", ";"]))
def test_fuzz_csv_rows(rows, delimiter):
    header = delimiter.join(["Level", "Date and Time", "Source", "Event ID", "Task Category"])
    body = "\r\n".join(delimiter.join(row) for row in rows)
    _answers("events.csv", f"{header}\r\n{body}".encode())


@fuzz
@given(
    st.dictionaries(st.text(min_size=1, max_size=40), st.binary(max_size=2000), max_size=6),
    st.lists(st.tuples(st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=255)), max_size=6),
)
def test_fuzz_zips_and_their_corruptions(members, flips):
    data = bytearray(zipped({name.replace("\x00", "_"): body for name, body in members.items()}))
    for at, value in flips:
        if at < len(data):
            data[at] = value
    _answers("logs.zip", bytes(data))


_EVTX_SAMPLE = (FIXTURES / "evtx" / "Microsoft-Windows-HelloForBusiness%4Operational.evtx").read_bytes()


@fuzz
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=8191), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=12,
    )
)
def test_fuzz_damaged_evtx(patches):
    data = bytearray(_EVTX_SAMPLE)
    for at, piece in patches:
        data[at : at + len(piece)] = piece
    _answers("damaged.evtx", bytes(data))
