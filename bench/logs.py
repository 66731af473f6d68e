"""Event log parsing: MB/s of the bot's reader against the parser library alone, on the same bytes, same run.

Three inputs, each read whole in memory (as an upload is):
- evtx: the real .evtx files in tests/fixtures/eventlogs/evtx. Baseline: pyevtx-rs on its own
  (`PyEvtxParser(...).records_json()`, every record's JSON string produced, nothing else). Product:
  `read_device_logs` (the same parser, the JSON decoded into events, clues and the timeline).
- xml: an Event Viewer XML export of ~10 MB (the fixtures' enrollment events, repeated with new times).
  Baseline: `xml.etree.ElementTree.fromstring` on the same text. Product: `read_device_logs`.
- zip: the evtx and XML inputs zipped (the MDM diagnostics report's folder). Baseline: zipfile reading every
  member plus each member's baseline parser. Product: `read_device_logs` on the zip.

MB/s counts the bytes as sent (a zip: what it unpacks to). The sample .evtx files are mostly empty chunk space
(68 KB for a few records), so their MB/s is high on both sides; the ratio is the figure to watch. Each figure is
the median of ROUNDS interleaved runs (baseline, product, baseline, …). Run: `make bench`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path

from evtx import PyEvtxParser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain.device_logs import read_device_logs  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "eventlogs"


def xml_export(target_bytes: int) -> bytes:
    """Event Viewer's XML export of about `target_bytes`: the fixtures' events, repeated on later days."""
    source = (FIXTURES / "join-not-authorized.xml").read_text() + (FIXTURES / "network-tls.xml").read_text()
    events = [part.split("</Event>")[0] for part in source.split("<Event ")[1:]]
    body: list[str] = []
    size = 0
    day = 0
    while size < target_bytes:
        for event in events:
            piece = "<Event " + event.replace("2026-1", f"20{30 + day % 60}-1") + "</Event>\n"
            body.append(piece)
            size += len(piece)
        day += 1
    return ('<?xml version="1.0" encoding="utf-8"?>\n<Events>\n' + "".join(body) + "</Events>\n").encode()


def baseline_evtx(data: bytes) -> int:
    return sum(1 for _ in PyEvtxParser(io.BytesIO(data), number_of_threads=1).records_json())


def baseline_xml(data: bytes) -> int:
    return sum(1 for e in ET.fromstring(data.decode()) if e.tag.endswith("Event"))


def baseline_zip(data: bytes) -> int:
    count = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            body = archive.read(info)
            count += baseline_evtx(body) if info.filename.endswith(".evtx") else baseline_xml(body)
    return count


def timed(run: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = run()
    return time.perf_counter() - start, count


def measure(
    name: str, files: list[tuple[str, bytes]], baseline: Callable[[bytes], int], rounds: int, size: int | None = None
) -> None:
    """MB/s over `size` bytes (the files' own size unless given: a zip's is what it unpacks to)."""
    size = size if size is not None else sum(len(d) for _, d in files)
    base_times: list[float] = []
    product_times: list[float] = []
    base_count = product_count = 0
    for _ in range(rounds):
        seconds, base_count = timed(lambda: sum(baseline(d) for _, d in files))
        base_times.append(seconds)
        seconds, product_count = timed(lambda: sum(read_device_logs(n, d).events_read for n, d in files))
        product_times.append(seconds)
    base = statistics.median(base_times)
    product = statistics.median(product_times)
    mb = size / 1_048_576
    print(
        f"{name:4}  {mb:6.2f} MB  {product_count:7,} events  "
        f"baseline {mb / base:7.1f} MB/s  bot {mb / product:7.1f} MB/s  "
        f"bot/baseline time {product / base:5.2f}x"
    )
    if base_count != product_count:
        print(f"      (baseline counted {base_count:,} records; the bot skips what is not an event)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--xml-mb", type=float, default=10.0)
    parser.add_argument("--evtx-repeat", type=int, default=20, help="times each .evtx file is read per round")
    args = parser.parse_args()

    evtx_files = [(p.name, p.read_bytes()) for p in sorted((FIXTURES / "evtx").glob("*.evtx"))] * args.evtx_repeat
    xml = xml_export(int(args.xml_mb * 1_048_576))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in evtx_files[:3]:
            archive.writestr(f"MDMDiag/{name}", data)
        archive.writestr("MDMDiag/export.xml", xml)
    print("Event log parsing (median of rounds; baseline = the parser library alone on the same bytes)")
    measure("evtx", evtx_files, baseline_evtx, args.rounds)
    measure("xml", [("export.xml", xml)], baseline_xml, args.rounds)
    unpacked = sum(len(d) for _, d in evtx_files[:3]) + len(xml)
    measure("zip", [("MDMDiagReport.zip", buffer.getvalue())], baseline_zip, args.rounds, unpacked)


if __name__ == "__main__":
    main()
