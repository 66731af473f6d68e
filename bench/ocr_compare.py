"""Choose the OCR engine by measurement: Tesseract (Debian's package) against PP-OCR (rapidocr-onnxruntime).

Both read the same photos (tests/support/photos.py: the error in every recogniser language on the out-of-box
and Settings screens, light and dark, plus other errors and unrelated screens, photographed at 12 megapixels),
each prepared as it reads best (Tesseract: bot/photo.py `prepare`; PP-OCR: the photo scaled to the same size).
For each engine: character error rate (edit distance between what is on the screen and what was read, both
squashed as the recogniser squashes them, over the screen's length), recogniser recall (an error photo starts
a diagnosis), false positives (another photo does), latency p50/p95 of the OCR call alone, and peak memory of
the process doing the OCR.

PP-OCR is not a dependency of the bot: `make ocr-compare` installs it into its own venv (.venv-ocr) and passes
that venv's python here with --rapidocr-python. Without it, only Tesseract is measured.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import struct
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bot.domain.reading import read  # noqa: E402
from bot.domain.recognizer import Intent, recognize  # noqa: E402
from bot.photo import LANGUAGES, MAX_SIDE, open_checked, prepare, read_text, tidy  # noqa: E402
from tests.support.photos import OTHER_SCREENS, corpus, error_screens  # noqa: E402

# What the default corpus (seed 20) guarantees, error photos diagnosed by language (README "Photos of the screen"):
# --check fails below these, or on any other photo diagnosed. A language not named must be read on every photo.
FLOORS: dict[str, int] = {"Spanish": 3}

# Runs in the rapidocr venv: length-prefixed PNGs in, one JSON line out for each.
RAPID_SERVER = r"""
import json, resource, struct, sys, time
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR()
stdin = sys.stdin.buffer
while True:
    head = stdin.read(4)
    if len(head) < 4:
        break
    data = stdin.read(struct.unpack(">I", head)[0])
    start = time.perf_counter()
    result, _ = engine(data)
    took = time.perf_counter() - start
    text = "\n".join(r[1] for r in result or [])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"text": text, "seconds": took, "rss_kb": rss}), flush=True)
"""


def squashed(text: str) -> str:
    return read(text).squashed


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass
class Score:
    engine: str
    cer: list[float] = field(default_factory=list)
    hits: int = 0
    errors: int = 0
    false_positives: int = 0
    others: int = 0
    seconds: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    missed: list[str] = field(default_factory=list)
    by_language: dict[str, list[int]] = field(default_factory=dict)

    def add(self, photo, text: str, seconds: float) -> None:
        truth = squashed(photo.truth)
        self.cer.append(edit_distance(truth, squashed(text)) / max(1, len(truth)))
        self.seconds.append(seconds)
        diagnosed = recognize(text).intent is Intent.DIAGNOSE
        if photo.error:
            self.errors += 1
            self.hits += diagnosed
            counts = self.by_language.setdefault(photo.language, [0, 0])
            counts[0] += diagnosed
            counts[1] += 1
            if not diagnosed:
                self.missed.append(photo.name)
        else:
            self.others += 1
            self.false_positives += diagnosed
            if diagnosed:
                self.missed.append(photo.name + " (false positive)")

    def row(self) -> str:
        ordered = sorted(self.seconds)
        p50 = statistics.median(ordered)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (
            f"| {self.engine} | {statistics.mean(self.cer):.3f} | {self.hits}/{self.errors} "
            f"({self.hits / max(1, self.errors):.2f}) | {self.false_positives}/{self.others} | {p50:.2f} s | "
            f"{p95:.2f} s | {self.peak_mb:.0f} MB |"
        )


class Rapid:
    def __init__(self, python: str):
        self.process = subprocess.Popen(
            [python, "-c", RAPID_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def __call__(self, png: bytes) -> tuple[str, float, float]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(struct.pack(">I", len(png)) + png)
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        return answer["text"], answer["seconds"], answer["rss_kb"] / 1024

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def tesseract_reads(data: bytes) -> tuple[str, float, float]:
    """What the bot's reader reads on one photo, the OCR time, and the peak memory of Tesseract so far."""
    image = prepare(open_checked(data))
    start = time.perf_counter()
    text = read_text(image)
    seconds = time.perf_counter() - start
    return text, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rapidocr-python", help="a python with rapidocr-onnxruntime installed")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--show", action="store_true", help="print what each engine read")
    parser.add_argument("--jobs", type=int, default=1, help="Tesseract readings side by side (PP-OCR stays one)")
    parser.add_argument("--languages", help="only the photos in these languages (comma-separated names)")
    parser.add_argument("--size", default="4032x3024", help="the photos' size, WxH (held-out: other sizes)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="fail when a language falls below FLOORS or any "
        "other photo is diagnosed (the corpus' guarantees, seed 20)",
    )
    args = parser.parse_args()
    engines: dict[str, Score] = {"Tesseract 5.3 (Debian, " + LANGUAGES + ")": Score("Tesseract")}
    rapid = Rapid(args.rapidocr_python) if args.rapidocr_python else None
    if rapid:
        engines["PP-OCRv4 (rapidocr-onnxruntime 1.4.4)"] = Score("PP-OCR")
    tess, pp = (
        engines["Tesseract 5.3 (Debian, " + LANGUAGES + ")"],
        engines.get("PP-OCRv4 (rapidocr-onnxruntime 1.4.4)"),
    )
    count = 0
    size = tuple(int(side) for side in args.size.split("x"))
    wanted = args.languages.split(",") if args.languages else None
    only = {s.name for s in (*error_screens(), *OTHER_SCREENS) if s.language in wanted} if wanted else None
    photos = list(corpus(args.seed, size, only))
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    data = [p.data for p in photos]
    readings = pool.map(tesseract_reads, data) if pool else map(tesseract_reads, data)
    for photo, (text, seconds, peak_mb) in zip(photos, readings, strict=True):
        count += 1
        tess.add(photo, text, seconds)
        tess.peak_mb = max(tess.peak_mb, peak_mb)
        line = f"{photo.name}: tesseract {text!r}" if args.show else photo.name
        if rapid and pp:
            # PP-OCR gets the photo as a camera gives it (only scaled down alike): its detector is trained on
            # natural images, and our thresholding is tuned for Tesseract.
            scaled = Image.open(io.BytesIO(photo.data)).convert("RGB")
            scaled.thumbnail((MAX_SIDE, MAX_SIDE))
            buffer = io.BytesIO()
            scaled.save(buffer, "PNG", compress_level=1)
            rapid_text, seconds, peak = rapid(buffer.getvalue())
            rapid_text = tidy(rapid_text)
            pp.add(photo, rapid_text, seconds)
            pp.peak_mb = max(pp.peak_mb, peak)
            if args.show:
                line += f" | pp-ocr {rapid_text!r}"
        print(line, file=sys.stderr, flush=True)
    if rapid:
        rapid.close()
    if pool:
        pool.shutdown()
    way = f"{args.jobs} processes side by side" if pool else "one process, in turn"
    print(f"\n{count} photos at {args.size} (seed {args.seed}), prepared to at most 2400 px; OCR time only ({way})\n")
    print(
        "| engine | character error rate | error photos diagnosed (recall) | other photos diagnosed "
        "| p50 | p95 | peak memory |"
    )
    print("|---|---|---|---|---|---|---|")
    for score in engines.values():
        print(score.row())
    print()
    for score in engines.values():
        langs = ", ".join(f"{name} {hit}/{total}" for name, (hit, total) in score.by_language.items())
        print(f"{score.engine} by language: {langs}")
        print(f"{score.engine} missed: {', '.join(score.missed) or 'none'}")
    if args.check:
        below = [
            f"{name} {hit}/{total} (at least {FLOORS[name]}/{total} expected)"
            for name, (hit, total) in tess.by_language.items()
            if hit < FLOORS.get(name, total)
        ]
        if below or tess.false_positives:
            print(f"REGRESSION: {'; '.join(below)} false positives {tess.false_positives}", file=sys.stderr)
            raise SystemExit(1)
        print("check: every language at or above its floor, no false positive")


if __name__ == "__main__":
    main()
