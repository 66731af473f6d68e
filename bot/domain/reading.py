"""One cheap pass over a message, shared by everything that recognises: its words, and its squashed text.

Recognition runs on every message, and the messages people paste are event logs of kilobytes. So a message is
read once into two forms, both built by `str.translate` (C speed), and every later question is a set lookup or
a substring search on them, never another regex over the whole text:

- `words`: the set of its words, lower-cased, Latin diacritics folded (ä→a, ł→l, ç→c), apostrophes dropped
  ("won't" → "wont").
- `squashed`: the same text with everything that is not a letter or digit removed, so "Massen Registrierung",
  "Massen-\\nregistrierung" and "massenregistrierung" are one string, as are the line breaks OCR puts into a
  screenshot's text.

A `Phrase` (several words, or a word that may be split) is looked for in `squashed`; a gated one only when one
of its words is in `words` (a failed set lookup is far cheaper than a substring search over kilobytes), and one
in a script without spaces only when the message is not ASCII.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_SCAN_CHARS = 512_000  # above the HTTP body limit: the whole paste is read

_SPECIAL = {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i"}


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        if char in _SPECIAL:
            table[code] = _SPECIAL[char]
            continue
        base = unicodedata.normalize("NFKD", char)[0]
        if base.isascii() and base != char:
            table[code] = base.lower()
    for quote in (0x2018, 0x2019, 0x02BC):
        table[quote] = "'"
    return table


_FOLD = _fold_table()
_WORD_CHARS = {*range(ord("a"), ord("z") + 1), *range(ord("0"), ord("9") + 1)}
# Words: letters only. Digits are dropped (no word the recogniser looks for has one, and log dumps are full of
# dates, ids and hex), so are apostrophes ("won't" -> "wont"); everything else separates words.
_TO_SPACE = {code: " " for code in range(128) if not ord("a") <= code <= ord("z")} | {
    code: None for code in (*range(ord("0"), ord("9") + 1), ord("'"))
}
_TO_NOTHING: dict[int, None] = {code: None for code in range(128) if code not in _WORD_CHARS}
_NOT_ALNUM = re.compile(r"[\W_]+")


def fold(lowered: str) -> str:
    """Latin letters without their diacritics (the text is lower-cased already); other scripts unchanged."""
    return lowered if lowered.isascii() else lowered.translate(_FOLD)


def squash(text: str) -> str:
    folded = fold(text.lower())
    return folded.translate(_TO_NOTHING) if folded.isascii() else _NOT_ALNUM.sub("", folded)


@dataclass(frozen=True, slots=True)
class Reading:
    lowered: str  # lower-cased and folded
    tokens: list[str]
    words: frozenset[str] | set[str]
    squashed: str
    ascii: bool


def read(text: str) -> Reading:
    lowered = fold(text[:MAX_SCAN_CHARS].lower())
    ascii_only = lowered.isascii()
    tokens = lowered.translate(_TO_SPACE).split()
    squashed = lowered.translate(_TO_NOTHING) if ascii_only else _NOT_ALNUM.sub("", lowered)
    return Reading(lowered, tokens, set(tokens), squashed, ascii_only)


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that belong together, matched squashed; optionally gated by one of their words."""

    text: str
    squashed: str
    trigger: str | None  # a word that must be in the message first; None: no gate
    latin: bool  # False: a script without spaces, looked for only when the message is not ASCII

    @classmethod
    def of(cls, text: str, trigger: str | None = None) -> Phrase:
        return cls(text, squash(text), trigger, fold(text.lower()).isascii())

    def found_in(self, reading: Reading) -> bool:
        if not self.latin and reading.ascii:
            return False
        if self.trigger is not None and self.trigger not in reading.words:
            return False
        return self.squashed in reading.squashed


def phrases(*texts: str) -> tuple[Phrase, ...]:
    """Ungated phrases: inflected or compound words whose whole-word form cannot be known in advance."""
    return tuple(Phrase.of(t) for t in texts)


# Words too common in logs and chat to gate on: a phrase is gated by its longest word not among these.
_COMMON = frozenset(
    "windows event information enterprise policy provisioning provisioned enrollment device devices group status "
    "page system student user users import bulk operation operations create upload add own home personal access "
    "work school company portal security key keys apple manager business auto azure microsoft entra package "
    "packages configuration designer diagnostics provider token now but longer all good was were went well used "
    "works working again without any issue issues problem problems error errors did never had zero not id or pc "
    "computer information".split()
)


def gated(*texts: str) -> PhraseSet:
    """Phrases of whole words, each gated by one of its words: "automated device enrollment" is only searched
    for when the message has the word "automated"."""
    out = []
    for text in texts:
        words = fold(text.lower()).translate(_TO_SPACE).split()
        rare = [w for w in words if w not in _COMMON] or words
        out.append(Phrase.of(text, max(rare, key=len) if len(words) > 1 else None))
    return PhraseSet(tuple(out))


def any_phrase(candidates: PhraseSet | tuple[Phrase, ...], reading: Reading) -> Phrase | None:
    if isinstance(candidates, PhraseSet):
        return candidates.find(reading)
    for phrase in candidates:
        if phrase.found_in(reading):
            return phrase
    return None


class PhraseSet:
    """Phrases looked for together; when all are gated, one set lookup rules them all out."""

    __slots__ = ("phrases", "triggers", "_always", "_nonlatin")

    def __init__(self, candidates: tuple[Phrase, ...]) -> None:
        self.phrases = candidates
        self.triggers = frozenset(p.trigger for p in candidates if p.trigger is not None)
        self._always = any(p.trigger is None and p.latin for p in candidates)
        self._nonlatin = any(not p.latin for p in candidates)

    def find(self, reading: Reading) -> Phrase | None:
        if not self._always and (reading.ascii or not self._nonlatin) and reading.words.isdisjoint(self.triggers):
            return None
        for phrase in self.phrases:
            if phrase.found_in(reading):
                return phrase
        return None
