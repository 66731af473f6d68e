"""OCR of a phone photo of the screen: the bot's reader against Tesseract's own CLI on the same photos.

Photos: a slice of the team's corpus (tests/support/photos.py) at 12 megapixels (4032x3024 JPEG): the error in
several languages, light and dark, and other screens. Measured the same way in the same run, interleaved:
- bot: the attachment sandbox reading the photo (bot/attachments.py `Sandbox.read`: a worker process, the
  decode with its pixel check, the preparation, Tesseract once or twice), wall time as a person waits for it;
- baseline: `tesseract stdin stdout -l Latin` on the same JPEG (Tesseract decodes it itself), wall time.
CPU per photo: the reader run in this process (its own CPU plus its Tesseract children's) against the CLI's.
Run: `make bench` (or `python bench/ocr.py --photos 6` for a quicker look).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.attachments import Limits, Sandbox  # noqa: E402
from bot.domain.recognizer import Intent, recognize  # noqa: E402
from bot.photo import LATIN, read_photo  # noqa: E402
from tests.support.photos import PHONE, corpus  # noqa: E402

PICK = (
    "english",
    "german",
    "polish",
    "japanese",
    "chinese-simplified",
    "autopilot-0x80180022",
    "update",
    "company-portal",
)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cli(data: bytes) -> str:
    done = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", LATIN], input=data, capture_output=True, check=True, timeout=120
    )
    return done.stdout.decode("utf-8", "replace")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=16, help="how many photos of the slice to read")
    args = parser.parse_args()
    photos = [p for p in corpus(only=set(PICK))][: args.photos]
    sandbox = Sandbox(Limits(read_seconds=120, workers=1))
    await sandbox.read("image", "warm-up", photos[0].data)  # the worker server starts once per bot process
    bot_wall, cli_wall, bot_cpu, cli_cpu = [], [], [], []
    right = 0
    for photo in photos:
        start = time.perf_counter()
        text = (await sandbox.read("image", photo.name, photo.data)).text
        bot_wall.append(time.perf_counter() - start)
        right += (recognize(text).intent is Intent.DIAGNOSE) == photo.error

        start = time.perf_counter()
        cli(photo.data)
        cli_wall.append(time.perf_counter() - start)

        before_self, before_children = self_cpu(), children_cpu()
        read_photo(photo.name, photo.data)
        bot_cpu.append(self_cpu() - before_self + children_cpu() - before_children)

        before_children = children_cpu()
        cli(photo.data)
        cli_cpu.append(children_cpu() - before_children)
        print(f"{photo.name}: bot {bot_wall[-1]:.2f} s, CLI {cli_wall[-1]:.2f} s", file=sys.stderr, flush=True)

    print(f"\n{len(photos)} photos at {PHONE[0]}x{PHONE[1]} (JPEG); {right}/{len(photos)} answered right by the bot\n")
    print("| | p50 | p95 | CPU per photo (mean) |")
    print("|---|---|---|---|")
    rows = (("bot (sandbox, reader)", bot_wall, bot_cpu), (f"baseline: tesseract CLI -l {LATIN}", cli_wall, cli_cpu))
    for label, wall, cpu in rows:
        p50, p95, mean_cpu = statistics.median(wall), percentile(wall, 0.95), statistics.mean(cpu)
        print(f"| {label} | {p50:.2f} s | {p95:.2f} s | {mean_cpu:.2f} s |")
    print(
        f"\nratios bot/baseline: p50 {statistics.median(bot_wall) / statistics.median(cli_wall):.2f}x, "
        f"p95 {percentile(bot_wall, 0.95) / percentile(cli_wall, 0.95):.2f}x, "
        f"CPU {statistics.mean(bot_cpu) / statistics.mean(cli_cpu):.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
