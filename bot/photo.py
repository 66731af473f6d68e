"""Read the text in a photo of a screen: decode with a pixel limit, prepare it, and run Tesseract on it.

Runs inside the attachment sandbox (bot/attachments.py), never on the event loop. The image is checked before
it is decoded (a decompression bomb is refused by its declared size), and its bytes go to Tesseract through a
pipe: nothing is written to the file system. Tesseract was chosen by measurement (README, "Photos of the
screen"; `bench/ocr_compare.py`).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # a 12-megapixel phone photo is 12.2 M; a screenshot of two 4K monitors 16.6 M
MAX_SIDE = 2400  # the text on a photographed screen stays 20+ px high at this size; more only costs time
MIN_SIDE = 32
LATIN = "Latin"  # Tesseract's Latin-script model: every Latin-script language at once
EAST_ASIAN = "jpn+chi_sim+chi_tra+kor"  # scripts that share characters, read together first
# When the Latin reading is unsure, these are tried too, the surest reading kept: Japanese, Chinese and Korean
# together, and Russian (Cyrillic).
OTHER_SCRIPTS = (EAST_ASIAN, "rus")
LANGUAGES = f"{LATIN}, then {' and '.join(OTHER_SCRIPTS)} when unsure"
# Page segmentation: the Latin and Cyrillic models read the page as a page (3: columns, blocks, lines); East Asian
# text as one column of lines (4): as a page, the frame of a dark screen and the Settings screen's columns around
# one line of CJK text were taken for its blocks, and nothing or garbage was read (measured on the corpus, README).
PAGE, COLUMN = "3", "4"
SURE = 80.0  # mean confidence of the lines kept above which the Latin reading is kept without trying CJK
LINE_FLOOR = 55.0  # lines read with a lower mean word confidence are dropped
TESSERACT_TIMEOUT = 60.0  # the sandbox's own limit is shorter; this only stops a stray child
# The image formats a phone or a screenshot gives; anything else is refused before decoding.
FORMATS = frozenset({"JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"})

# OCR of Japanese confuses the kanji "一" (one) with the long vowel mark "ー", which belongs only after kana.
_LONG_MARK_NOT_AFTER_KANA = re.compile(r"(?<![\u3041-\u309f\u30a1-\u30fa])\u30fc")
# "0x80180014" read as "Ox80180014": a letter O before x and eight hex digits is the digit zero.
_HEX_CODE_O = re.compile(r"(?<![0-9A-Za-z])[Oo](?=[xX][0-9a-fA-F]{8}(?![0-9A-Za-z]))")
_CJK_SPACE = re.compile(r"(?<=[\u3000-\u9fff])[ \t]+(?=[\u3000-\u9fff])")


class PhotoRefused(ValueError):
    """The file is not an image we read, or is too large or too small to read."""


@dataclass(frozen=True)
class PhotoText:
    text: str  # what was read, lines in reading order
    width: int
    height: int


def open_checked(data: bytes) -> Image.Image:
    """The image, opened lazily: its format and declared size are checked before a pixel is decoded."""
    Image.init()  # every format plugin registered, so that `formats` can name them
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PhotoRefused("it is not an image I can read (JPEG, PNG, BMP, GIF, WebP or TIFF)") from exc
    except Image.DecompressionBombError as exc:
        raise PhotoRefused(
            f"it declares more than {MAX_PIXELS // 1_000_000} megapixels, more than I decode (a decompression bomb?)"
        ) from exc
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PhotoRefused(
            f"it is {width}x{height} pixels, more than the {MAX_PIXELS // 1_000_000} megapixels I decode"
        )
    if min(width, height) < MIN_SIDE:
        raise PhotoRefused(f"it is only {width}x{height} pixels: too small to hold readable text")
    return image


def prepare(image: Image.Image) -> Image.Image:
    """Black text on white, as Tesseract reads best: upright (EXIF), grey, at most MAX_SIDE on the long side,
    a dark screen inverted, the uneven light of a photo (glare, vignetting, moiré) taken out by subtracting an
    estimate of the background, then thresholded."""
    try:
        image.draft("L", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale directly (fast, little memory)
        image = ImageOps.exif_transpose(image) or image
        grey = image.convert("L")
    except (OSError, ValueError, SyntaxError) as exc:
        raise PhotoRefused("the image is damaged and could not be decoded") from exc
    grey.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    histogram = grey.histogram()
    if sum(histogram[:100]) > sum(histogram[156:]):  # mostly dark: a dark theme, light text
        grey = ImageOps.invert(grey)
    # The background without the text (a dilation removes the dark strokes), blurred: the light as it falls.
    background = grey.filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.GaussianBlur(20))
    ink = ImageChops.subtract(background, grey)  # how much darker than its surroundings each pixel is
    ink = ink.filter(ImageFilter.MedianFilter(3))  # sensor noise and moiré specks are smaller than a stroke
    counts = ink.histogram()
    strong, seen = 255, 0
    while strong > 0 and seen <= sum(counts) * 0.003:  # the darkest 0.3 %: the strokes of even one line of text
        seen += counts[strong]
        strong -= 1
    cut = max(20, int(strong * 0.45))
    return ink.point(lambda v: 0 if v > cut else 255)


def tidy(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw)
    text = _CJK_SPACE.sub("", text)
    text = _LONG_MARK_NOT_AFTER_KANA.sub("\u4e00", text)
    text = _HEX_CODE_O.sub("0", text)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if len(line) > 1)  # a lone character on a line is a speck


def tesseract(image: Image.Image, languages: str, segmentation: str = PAGE) -> tuple[str, float]:
    """Tesseract's CLI reading a PNG from its standard input and writing TSV to its standard output: the lines
    read with a mean word confidence of at least LINE_FLOOR, and how much was read that surely (the sum of
    confidence x characters over those lines)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one thread: workers run side by side, not one on two cores
    try:
        done = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", languages, "--psm", segmentation, "tsv"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=TESSERACT_TIMEOUT,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr; see the README)") from exc
    error = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        if "alloc" in error or done.returncode in (-6, -9, 134, 137):  # std::bad_alloc under RLIMIT_AS, or killed
            raise MemoryError("tesseract ran out of memory")
        raise RuntimeError(f"tesseract failed: {error[-300:]}")
    lines: dict[tuple[str, ...], list[tuple[str, float]]] = {}
    for row in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        lines.setdefault(tuple(cells[1:5]), []).append((cells[11].strip(), max(0.0, float(cells[10]))))
    kept: list[str] = []
    score = 0.0
    for words in lines.values():
        letters = sum(len(w) for w, _ in words)
        confidence = sum(c * len(w) for w, c in words) / letters
        if confidence >= LINE_FLOOR:  # a line read this unsurely is noise: glare, moiré, the bezel's edge
            kept.append(" ".join(w for w, _ in words))
            score += confidence * letters
    return "\n".join(kept), score


def read_text(image: Image.Image) -> str:
    """The Latin-script model first (every Latin language at once); when it is unsure (a Japanese, Chinese,
    Korean or Russian screen reads as Latin garbage), the other scripts too, keeping the reading that read the
    most text surely."""
    text, score = tesseract(image, LATIN)
    if score < SURE * max(1, len(text)):
        for languages in OTHER_SCRIPTS:
            other_text, other_score = tesseract(image, languages, COLUMN if languages == EAST_ASIAN else PAGE)
            if other_score > score:
                text, score = other_text, other_score
    return tidy(text)


def read_photo(name: str, data: bytes) -> PhotoText:
    """The attachment reader for images (bot/attachments.py): the text on the photographed screen."""
    image = open_checked(data)
    width, height = image.size
    return PhotoText(read_text(prepare(image)), width, height)
