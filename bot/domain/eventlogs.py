"""Read the event logs a technician can export, as untrusted bytes, into plain `LogEvent`s.

Accepted: `.evtx` files (parsed by pyevtx-rs, the `evtx` package), Event Viewer's XML export ("Save Selected
Events" as XML, or `wevtutil qe /f:xml`, which has no root element), its CSV and tab-separated text exports
(and PowerShell's `Get-WinEvent | Export-Csv`), the "Copy details as text" blocks ("Log Name: … Description:"),
free text with codes in it, and a `.zip` of any of these (the MDM diagnostics report's folder, zipped).

Nothing read here ever touches the file system: a zip's members are read in memory by name, and a member's
name is only looked at for its extension and shown (cleaned) to the person. Every limit is a constant below;
what is refused raises `LogError` with a sentence a person can act on.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import lzma
import re
import struct
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_FILE_BYTES = 20 * 1024 * 1024  # one file as sent (the README's limit for attachments)
MAX_MEMBERS = 200  # entries in one zip (the MDM diagnostics report has a few dozen)
MAX_MEMBER_BYTES = 20 * 1024 * 1024  # one member, uncompressed
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # all members together, uncompressed
MAX_RATIO = 250  # uncompressed / compressed for one member: exports of repetitive events reach ~110x; bombs ~1000x
MAX_NESTING = 1  # a zip inside the zip is read; one inside that is not
MAX_EVENTS = 200_000  # events kept from one upload
MESSAGE_LIMIT = 2_000  # characters kept of one event's text
NAME_LIMIT = 100  # characters of a member's name shown back
MAX_PLAIN_TEXT = 64 * 1024  # characters of plain text files kept for the recogniser

LOG_EXTENSIONS = (".evtx", ".xml", ".csv", ".txt", ".log", ".zip")
_EVTX_MAGIC = b"ElfFile\x00"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_LEVELS = {"0": "Information", "1": "Critical", "2": "Error", "3": "Warning", "4": "Information", "5": "Verbose"}
_TAG_NS = re.compile(r"^\{[^}]*\}")
# What zipfile and its decompressors raise on damaged or unsupported archives (the fuzz test found the less
# obvious ones: NotImplementedError for an unknown version, zlib.error for a broken deflate stream).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    OSError,
    EOFError,
    RuntimeError,
    ValueError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)
_ASCII_NUMBER = re.compile(r"^[0-9]{1,10}$")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


class LogError(ValueError):
    """The upload cannot be read as logs; the message says why and what to send instead."""


class ArchiveRefused(LogError):
    """A zip refused as a whole (a bomb, encrypted, too many or too large members): never partly read."""


@dataclass(frozen=True)
class LogEvent:
    """One event, whatever format it came in. `time` is aware (UTC) when the format says the zone (evtx, XML),
    naive when it is the device's local time without a zone (Event Viewer's CSV and text exports)."""

    time: datetime | None
    channel: str  # "Microsoft-Windows-AAD/Operational"; "" when the format does not say
    provider: str  # "Microsoft-Windows-AAD", or Event Viewer's short Source ("AAD")
    event_id: int | None
    level: str  # "Error", "Warning", "Information", … or ""
    computer: str
    text: str  # the rendered message when there is one, then the event data as "name: value" lines
    file: str = ""


@dataclass(frozen=True)
class LogRead:
    events: tuple[LogEvent, ...]
    files: tuple[str, ...]  # what was read, as "name (format, N events)"
    skipped: tuple[str, ...] = field(default=())  # what was not, and why
    text: str = ""  # the start of files of plain text (not an event export), for the recogniser: a saved paste


def clean_name(name: str) -> str:
    """A file or member name as it may be shown: its last path part, printable, capped."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch if ch.isprintable() else "?" for ch in base).strip() or "(unnamed)"
    return base if len(base) <= NAME_LIMIT else base[: NAME_LIMIT - 1] + "\u2026"


def read_logs(name: str, data: bytes) -> LogRead:
    """Every event in one upload. Raises LogError when nothing in it can be read as event logs."""
    if len(data) > MAX_FILE_BYTES:
        raise LogError(
            f"{clean_name(name)} is {len(data) / 1048576:.1f} MB; I read logs up to {MAX_FILE_BYTES // 1048576} MB. "
            "Export only the channels that matter (Provisioning-Diagnostics-Provider/Admin, "
            "DeviceManagement-Enterprise-Diagnostics-Provider/Admin, User Device Registration/Admin, AAD/Operational, "
            "Time-Service) or zip them."
        )
    collector = _Collector()
    _read_one(name, data, collector, depth=0)
    if not collector.files:
        why = "; ".join(collector.skipped[:3]) or f"{clean_name(name)} holds no event logs"
        raise LogError(
            f"I could not read any event log from {clean_name(name)} ({why}). Send the .evtx files themselves, "
            "Event Viewer's export as XML or CSV, or the MDM diagnostics report's folder as a .zip."
        )
    return LogRead(tuple(collector.events), tuple(collector.files), tuple(collector.skipped), "".join(collector.texts))


class _Collector:
    def __init__(self) -> None:
        self.events: list[LogEvent] = []
        self.files: list[str] = []
        self.skipped: list[str] = []
        self.total = 0
        self.texts: list[str] = []

    def keep_text(self, text: str) -> None:
        room = MAX_PLAIN_TEXT - sum(len(t) for t in self.texts)
        if room > 0:
            self.texts.append(text[:room] + "\n")

    def add(self, label: str, kind: str, events: Iterable[LogEvent]) -> None:
        """All of a file's events or, when it turns out unreadable (LogError), none of them."""
        room = MAX_EVENTS - len(self.events)
        read = list(itertools.islice(events, room + 1))
        if len(read) > room:
            read = read[:room]
            self.skipped.append(f"events after the first {MAX_EVENTS:,} were not read")
        self.events.extend(read)
        count = len(read)
        self.files.append(f"{label} ({kind}, {count} event{'s' if count != 1 else ''})")


def _read_one(name: str, data: bytes, collector: _Collector, depth: int) -> None:
    label = clean_name(name)
    lowered = label.lower()
    if data[:4] in _ZIP_MAGICS:
        _read_zip(label, data, collector, depth)
    elif data[:8] == _EVTX_MAGIC:
        collector.add(label, "evtx", parse_evtx(data, label))
    elif lowered.endswith(".evtx"):
        collector.skipped.append(f"{label} is not an .evtx file (its header is not an event log's)")
    else:
        text = decode_text(data)
        if text is None:
            collector.skipped.append(f"{label} is neither text nor an event log")
            return
        start = text.lstrip()[:200].lower()
        if start.startswith("<"):
            collector.add(label, "XML", parse_xml(text, label))
        elif _csv_dialect(text) is not None:
            collector.add(label, "CSV" if not lowered.endswith(".txt") else "text export", parse_csv(text, label))
        else:
            collector.add(label, "text", parse_text(text, label))
            if not re.search(r"(?m)^Log Name:", text[:8192]):
                collector.keep_text(text)


def _read_zip(label: str, data: bytes, collector: _Collector, depth: int) -> None:
    if depth > MAX_NESTING:
        collector.skipped.append(f"{label}: a zip nested more than {MAX_NESTING} deep was not opened")
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except _ZIP_ERRORS as exc:
        refused = ArchiveRefused if depth == 0 else LogError  # a broken zip inside the zip: that member only
        raise refused(f"{label} is not a zip I can open ({type(exc).__name__}).") from None
    entries = [i for i in infos if not i.is_dir()]
    if len(entries) > MAX_MEMBERS:
        raise ArchiveRefused(f"{label} holds {len(entries)} files; I open zips of up to {MAX_MEMBERS}.")
    for info in entries:
        member = clean_name(info.filename)
        shown = f"{label} \u203a {member}"
        if not member.lower().endswith(LOG_EXTENSIONS):
            collector.skipped.append(f"{shown}: not an event log")
            continue
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"{shown} is encrypted: send the logs without a password.")
        if info.file_size > MAX_MEMBER_BYTES:
            raise ArchiveRefused(f"{shown} is {info.file_size / 1048576:.0f} MB unpacked; I read members up to 20 MB.")
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
            raise ArchiveRefused(
                f"{label} looks like a zip bomb ({shown} expands {info.file_size // max(info.compress_size, 1)}x)."
            )
        if collector.total + info.file_size > MAX_TOTAL_BYTES:
            raise ArchiveRefused(
                f"{label} unpacks to more than {MAX_TOTAL_BYTES // 1048576} MB; send fewer logs at once."
            )
        body = _read_member(archive, info, shown)
        collector.total += len(body)
        if collector.total > MAX_TOTAL_BYTES:
            raise ArchiveRefused(
                f"{label} unpacks to more than {MAX_TOTAL_BYTES // 1048576} MB; send fewer logs at once."
            )
        try:
            _read_one(shown, body, collector, depth + 1)
        except ArchiveRefused:
            raise
        except LogError as exc:  # one unreadable member: said, and the others are still read
            collector.skipped.append(str(exc))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> bytes:
    """The member's bytes. zipfile stops at the declared size and checks the CRC, so a header that lies about
    the size fails here; the read is capped all the same."""
    try:
        with archive.open(info) as stream:
            body = stream.read(MAX_MEMBER_BYTES + 1)
    except _ZIP_ERRORS as exc:
        raise LogError(f"{shown} cannot be unpacked ({type(exc).__name__}).") from None
    if len(body) > MAX_MEMBER_BYTES:
        raise ArchiveRefused(f"{shown} unpacks to more than {MAX_MEMBER_BYTES // 1048576} MB.")
    return body


def decode_text(data: bytes) -> str | None:
    """Text in the encodings Windows exports use (UTF-8, UTF-16 with a BOM); None for binary data."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    sample = data[:4096]
    if sample and sample.count(0) > len(sample) // 4:  # UTF-16 without a BOM: every other byte is zero
        odd_zeros = sample[1::2].count(0) > sample[0::2].count(0)
        return data.decode("utf-16-le" if odd_zeros else "utf-16-be", errors="replace")
    text = data.decode("utf-8", errors="replace")
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t\f")
    if controls > len(text[:4096]) // 10 or text[:4096].count("\ufffd") > len(text[:4096]) // 4:
        return None
    return text


# --- .evtx -----------------------------------------------------------------------------------------------


def parse_evtx(data: bytes, file: str = "") -> Iterator[LogEvent]:
    """The records of an .evtx file, through pyevtx-rs's JSON output; damaged records are skipped."""
    from evtx import PyEvtxParser  # imported here: the worker that reads logs is the only one that needs it

    try:
        parser = PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise LogError(f"{clean_name(file)} is not a readable .evtx file ({type(exc).__name__}).") from None
    records = parser.records_json()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # damaged records: skipped, as Event Viewer does
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except RuntimeError:
                return  # a chunk the parser cannot recover from ends the file; what was read stays
            except BaseException as exc:  # a Rust panic surfaces as pyo3's PanicException, a BaseException
                if type(exc).__name__ != "PanicException":
                    raise
                raise LogError(f"{clean_name(file)} is damaged beyond what the .evtx parser can read.") from None
            try:
                parsed = orjson.loads(record["data"]) if isinstance(record, dict) else None
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            event = _event_from_json(parsed, file)
            if event is not None:
                yield event


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict):
            return attrs.get(name)
    return None


def _text_of(node: Any) -> Any:
    return node.get("#text") if isinstance(node, dict) else node


def _event_from_json(parsed: Any, file: str) -> LogEvent | None:
    event = parsed.get("Event") if isinstance(parsed, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("System"), dict):
        return None
    system = event["System"]
    event_id = _int(_text_of(system.get("EventID")))
    level = _LEVELS.get(str(system.get("Level")), "")
    lines: list[str] = []
    for key in ("EventData", "UserData"):
        _flatten(event.get(key), lines, "")
    return LogEvent(
        time=parse_time(_attr(system.get("TimeCreated"), "SystemTime")),
        channel=_str(system.get("Channel")),
        provider=_str(_attr(system.get("Provider"), "Name")),
        event_id=event_id,
        level=level,
        computer=_str(system.get("Computer")),
        text=_cap("\n".join(lines)),
        file=file,
    )


def _flatten(node: Any, lines: list[str], prefix: str, depth: int = 0) -> None:
    """Event data as "name: value" lines; HRESULTs logged as signed integers are shown as hex."""
    if node is None or depth > 6 or len(lines) > 200:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "#attributes":
                continue
            name = prefix if key == "#text" else key
            _flatten(value, lines, name, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _flatten(value, lines, prefix, depth + 1)
    else:
        lines.append(f"{prefix}: {_value(prefix, node)}" if prefix else str(_value(prefix, node)))


def _value(name: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and (value < 0 or value >= 0x80000000):
        if re.search(r"code|hresult|error|status|result", name, re.IGNORECASE) and -(2**31) <= value < 2**32:
            return f"0x{value & 0xFFFFFFFF:08x}"
    return str(value)


# --- XML -------------------------------------------------------------------------------------------------


def parse_xml(text: str, file: str = "") -> Iterator[LogEvent]:
    """Event Viewer's XML export (<Events><Event>…), or wevtutil's (events one after another, no root).
    A document type declaration is refused: no entity is ever expanded, so no entity bomb can go off."""
    head = text[:MAX_FILE_BYTES]
    if re.search(r"<!\s*(doctype|entity)", head, re.IGNORECASE):
        raise LogError(f"{clean_name(file)} declares a DOCTYPE or entities, which event log exports never do.")
    body = _XML_DECL.sub("", head, count=1).strip()
    if not re.match(r"<(?:\w+:)?Events[\s>]", body):
        body = f"<Events>{body}</Events>"
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise LogError(f"{clean_name(file)} is not well-formed XML ({exc}).") from None
    for element in root.iter():
        if _local(element.tag) == "Event":
            yield _event_from_xml(element, file)


def _local(tag: Any) -> str:
    return _TAG_NS.sub("", tag) if isinstance(tag, str) else ""


def _child(node: ET.Element, name: str) -> ET.Element | None:
    for child in node:
        if _local(child.tag) == name:
            return child
    return None


def _event_from_xml(element: ET.Element, file: str) -> LogEvent:
    system = _child(element, "System")
    rendering = _child(element, "RenderingInfo")

    def field_of(name: str) -> ET.Element | None:
        return _child(system, name) if system is not None else None

    def text_of(name: str) -> str | None:
        node = field_of(name)
        return node.text if node is not None else None

    provider = field_of("Provider")
    created = field_of("TimeCreated")
    level_node = field_of("Level")
    level = _LEVELS.get((level_node.text or "").strip(), "") if level_node is not None else ""
    lines: list[str] = []
    if rendering is not None:
        message = _child(rendering, "Message")
        if message is not None and message.text:
            lines.append(message.text.strip())
        rendered_level = _child(rendering, "Level")
        if rendered_level is not None and rendered_level.text and not level:
            level = rendered_level.text.strip()
    for part in ("EventData", "UserData"):
        data = _child(element, part)
        if data is not None:
            for node in data.iter():
                value = (node.text or "").strip()
                if node is data or not value:
                    continue
                name = node.get("Name") or _local(node.tag)
                lines.append(f"{name}: {value}" if name != "Data" else value)
                if len(lines) > 200:
                    break
    return LogEvent(
        time=parse_time(created.get("SystemTime") if created is not None else None),
        channel=_str(text_of("Channel")),
        provider=_str(provider.get("Name") if provider is not None else ""),
        event_id=_int(text_of("EventID")),
        level=level,
        computer=_str(text_of("Computer")),
        text=_cap("\n".join(lines)),
        file=file,
    )


# --- CSV and tab-separated text --------------------------------------------------------------------------

_COLUMNS = {
    "time": ("date and time", "timecreated", "time created", "date"),
    "id": ("event id", "id", "eventid"),
    "provider": ("source", "providername", "provider"),
    "channel": ("logname", "log name", "channel"),
    "computer": ("machinename", "computer", "machine name"),
    "level": ("level", "leveldisplayname"),
    "message": ("message", "description"),
}
_KNOWN_HEADERS = {h for names in _COLUMNS.values() for h in names} | {"task category", "keywords"}


def _header_line(text: str) -> tuple[int, str] | None:
    for index, line in enumerate(text[:8192].splitlines()[:5]):
        if line.strip() and not line.startswith("#TYPE"):
            return index, line
    return None


def _csv_dialect(text: str) -> str | None:
    """The delimiter when the text starts with an event table's header (3 or more known column names)."""
    found = _header_line(text)
    if found is None:
        return None
    line = found[1].lstrip("\ufeff")
    for delimiter in ("\t", ",", ";"):
        names = {n.strip().strip('"').lower() for n in line.split(delimiter)}
        if len(names & _KNOWN_HEADERS) >= 3:
            return delimiter
    return None


def parse_csv(text: str, file: str = "") -> Iterator[LogEvent]:
    """Event Viewer's "Save as CSV" / tab-delimited text (Level, Date and Time, Source, Event ID, Task Category,
    then the message in an unnamed last column) and PowerShell's Export-Csv of Get-WinEvent."""
    delimiter = _csv_dialect(text)
    if delimiter is None:
        raise LogError(f"{clean_name(file)} has no event table header.")
    found = _header_line(text)
    assert found is not None
    lines = text.splitlines()[found[0] :]
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = [h.strip().lstrip("\ufeff").lower() for h in next(reader)]
        index = {key: next((header.index(n) for n in names if n in header), None) for key, names in _COLUMNS.items()}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            yield _event_from_row(row, index, len(header), file)
    except csv.Error as exc:
        raise LogError(f"{clean_name(file)} is not a CSV export I can read ({exc}).") from None


def _event_from_row(row: list[str], index: dict[str, int | None], columns: int, file: str) -> LogEvent:
    def cell(key: str) -> str:
        position = index[key]
        return row[position].strip() if position is not None and position < len(row) else ""

    message = cell("message")
    if not message and len(row) > columns:  # Event Viewer: the description is an unnamed extra column
        message = delimiter_join(row[columns:])
    level = cell("level")
    return LogEvent(
        time=parse_time(cell("time")),
        channel=_str(cell("channel")),
        provider=_str(cell("provider")),
        event_id=_int(cell("id")),
        level=_LEVELS.get(level, level),
        computer=_str(cell("computer")),
        text=_cap(message),
        file=file,
    )


def delimiter_join(cells: list[str]) -> str:
    return ", ".join(c.strip() for c in cells if c.strip())


# --- text ------------------------------------------------------------------------------------------------

_BLOCK_FIELDS = {
    "log name": "channel",
    "source": "provider",
    "date": "time",
    "event id": "id",
    "level": "level",
    "computer": "computer",
}
_BLOCK_LINE = re.compile(
    r"^(Log Name|Source|Date|Event ID|Task Category|Level|Keywords|User|Computer|Description):\s*(.*)$"
)
_LINE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_CODE_OR_ACCOUNT = re.compile(r"0x[0-9a-fA-F]{8}(?![0-9a-zA-Z])|package_[0-9a-fA-F-]{36}", re.IGNORECASE)


def parse_text(text: str, file: str = "") -> Iterator[LogEvent]:
    """Event Viewer's "Copy details as text" blocks; otherwise each line with a code or a package account."""
    if re.search(r"(?m)^Log Name:", text):
        yield from _parse_blocks(text, file)
        return
    for line in text.splitlines():
        if not _CODE_OR_ACCOUNT.search(line):
            continue
        stamp = _LINE_TIME.search(line)
        yield LogEvent(
            time=parse_time(stamp.group(1)) if stamp else None,
            channel="",
            provider="",
            event_id=None,
            level="",
            computer="",
            text=_cap(line.strip()),
            file=file,
        )


def _parse_blocks(text: str, file: str) -> Iterator[LogEvent]:
    fields: dict[str, str] = {}
    description: list[str] = []
    in_description = False

    def flush() -> LogEvent | None:
        if not fields and not description:
            return None
        level = fields.get("level", "")
        return LogEvent(
            time=parse_time(fields.get("time")),
            channel=_str(fields.get("channel")),
            provider=_str(fields.get("provider")),
            event_id=_int(fields.get("id")),
            level=_LEVELS.get(level, level),
            computer=_str(fields.get("computer")),
            text=_cap("\n".join(description).strip()),
            file=file,
        )

    for line in text.splitlines():
        match = _BLOCK_LINE.match(line.strip()) if not in_description or line.startswith("Log Name:") else None
        if match and match.group(1) == "Log Name":
            event = flush()
            if event is not None:
                yield event
            fields, description, in_description = {}, [], False
        if match:
            key = match.group(1).lower()
            if key == "description":
                in_description = True
                if match.group(2):
                    description.append(match.group(2))
            elif key in _BLOCK_FIELDS:
                fields[_BLOCK_FIELDS[key]] = match.group(2).strip()
        elif in_description and len(description) < 200:
            description.append(line.rstrip())
    event = flush()
    if event is not None:
        yield event


# --- small parsers ---------------------------------------------------------------------------------------

_LOCAL_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",  # Event Viewer, en-US
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",  # en-GB, fr-FR
    "%d.%m.%Y %H:%M:%S",  # de-DE
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",  # ja-JP, zh-CN
)


def parse_time(value: Any) -> datetime | None:
    """An event's time: aware UTC from ISO 8601 with a zone (evtx, XML); naive (device local time) otherwise."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > 40:
        return None
    if value.endswith("Z") and value[:4].isascii():  # the usual case (evtx, XML): Python 3.11 reads it whole
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            pass
    iso = re.match(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?(?: UTC)?$", value)
    if iso:
        fraction = (iso.group(3) or "")[:7]
        zone = iso.group(4) or ""
        try:
            parsed = datetime.fromisoformat(f"{iso.group(1)}T{iso.group(2)}{fraction}{'' if zone == 'Z' else zone}")
        except ValueError:
            return None
        if zone == "Z":  # the usual case (evtx, XML): no conversion needed
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed
    for pattern in _LOCAL_FORMATS:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**32 else None
    if isinstance(value, str) and _ASCII_NUMBER.match(value.strip()):  # not str.isdigit: "²" is a digit to it
        number = int(value.strip())
        return number if number < 2**32 else None
    return None


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()[: NAME_LIMIT * 2]


def _cap(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "\u2026"
