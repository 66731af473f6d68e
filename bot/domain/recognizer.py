"""Recognise the bulk enrollment failure (and the bot's commands) in free text, and pull out what helps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

MAX_SCAN_CHARS = 512_000  # above the HTTP body limit: the whole paste is read


class Intent(StrEnum):
    DIAGNOSE = "diagnose"
    HELP = "help"
    STATUS = "status"
    ALERTS_ON = "alerts_on"
    ALERTS_OFF = "alerts_off"
    AUDIT = "audit"
    USE_CHANNEL = "use_channel"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recognition:
    intent: Intent
    reason: str = ""
    error_codes: tuple[str, ...] = ()
    package_guids: tuple[str, ...] = ()
    device_name: str | None = None
    text: str = field(default="", repr=False)


# Known Windows enrollment / join codes (MDM registration and DSREG families).
KNOWN_CODES = {
    "0x801c0003": "the account is not authorized to join devices to Entra ID",
    "0x80180003": "the account is not authorized to enroll in MDM",
    "0x801c000e": "the per-user device quota is reached",
    "0x80180013": "the Intune device cap is reached",
    "0x80180014": "an enrollment restriction blocks this platform or version",
    "0x80180018": "a licence problem blocks enrollment",
    "0x8018001c": "this Windows edition does not support the enrollment type",
    "0x8018002b": "the MDM user scope or UPN suffix blocks automatic enrollment",
    "0x80180026": "MDM is blocked on the device",
    "0x8018000a": "the device is already enrolled",
    "0x8007064c": "the machine is already enrolled (cloned image or leftover certificate)",
    "0x80180010": "a network or DNS problem",
    "0x801c0006": "the registration service could not be reached",
    "0x801c000c": "the registration service could not be reached",
    "0x801c0012": "discovery failed",
    "0x801c0013": "the tenant was not found",
    "0x80180016": "the device clock is wrong",
    "0x8018000d": "the device clock is wrong",
}

_CODE_RE = re.compile(r"(?<![0-9a-z])(?:0x)?((?:8018|801c|8007)[0-9a-f]{4})(?![0-9a-z])", re.IGNORECASE)
_HEX_RE = re.compile(r"(?<![0-9a-z])0x([0-9a-f]{8})(?![0-9a-z])", re.IGNORECASE)
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PACKAGE_RE = re.compile(rf"package[_ ]?({_GUID})", re.IGNORECASE)
_DEVICE_LABEL_RE = re.compile(
    r"(?:device\s*name|computer\s*name|host\s*name|hostname|machine\s*name|device|pc)\s*(?:is|was|called|named|[:=#])\s*"
    r"[\"']?([A-Za-z0-9][A-Za-z0-9-]{1,14})",
    re.IGNORECASE,
)
_DEVICE_PATTERN_RE = re.compile(
    r"\b((?:DESKTOP|LAPTOP|PC|WIN|LAB|CLASS|ROOM|SCHOOL|KIOSK|STUDENT)-[A-Z0-9][A-Z0-9-]{1,12})\b", re.IGNORECASE
)

_PHRASE_RE = re.compile(
    r"setup\s+failure\s+(?:has\s+)?(?:occurr?ed|happened)?\s*(?:during|in|with)?\s*(?:the\s+)?bulk\s+enrollment"
    r"|failure\s+(?:has\s+)?occurr?ed\s+during\s+bulk"
    r"|bulk\s+enrollment\s+setup\s+failure"
)

_NEGATION_SUCCESS = re.compile(
    r"\b(?:succeeded|successful|successfully|worked|works (?:now|fine|again)|working (?:now|fine|again)|fixed|resolved"
    r"|went (?:fine|well|smoothly)|no (?:issues|problems|errors))\b"
)

# Canonical vocabulary for typo-tolerant matching: word -> concept.
VOCAB = {
    "bulk": "bulk",
    "enrollment": "enroll",
    "enrollments": "enroll",
    "enroll": "enroll",
    "enrolled": "enroll",
    "enrolling": "enroll",
    "enrolls": "enroll",
    "mdm": "enroll",
    "provisioning": "package",
    "provision": "package",
    "provisioned": "package",
    "package": "package",
    "packages": "package",
    "ppkg": "package",
    "ppkgs": "package",
    "wcd": "package",
    "join": "join",
    "joins": "join",
    "joining": "join",
    "joined": "join",
    "entra": "join",
    "aad": "join",
    "aadj": "join",
    "fail": "fail",
    "fails": "fail",
    "failed": "fail",
    "failing": "fail",
    "failure": "fail",
    "failures": "fail",
    "error": "fail",
    "errors": "fail",
    "errored": "fail",
    "erroring": "fail",
    "broken": "fail",
    "breaks": "fail",
    "broke": "fail",
    "stuck": "fail",
    "unable": "fail",
    "denied": "fail",
    "blocked": "fail",
    "refused": "fail",
    "rejected": "fail",
    "unauthorized": "fail",
    "problem": "fail",
    "problems": "fail",
    "issue": "fail",
    "issues": "fail",
    "trouble": "fail",
    "crash": "fail",
    "crashes": "fail",
    "setup": "setup",
}

_FAIL_PHRASES = re.compile(
    r"\b(?:won'?t|wont|can'?t|cannot|couldn'?t|doesn'?t|does not|don'?t|do not|didn'?t|did not|isn'?t|is not|"
    r"aren'?t|are not|not|never|no longer|stopped)"
    r"\s+(?:\w+\s+){0,2}?(?:work|working|join|joining|enroll|enrolling|apply|applying|install|installing|complete|"
    r"completing|go through|finish|authorized|allowed|succeed)\b"
)

_BRITISH = [
    (re.compile(r"\benrol(?=ment|ments|s\b|\b)"), "enroll"),
    (re.compile(r"\benrolment"), "enrollment"),
    (re.compile(r"\benroling\b"), "enrolling"),
    (re.compile(r"\benroled\b"), "enrolled"),
]
_WORD_RE = re.compile(r"[a-z0-9']+")
_PHRASE_CONCEPTS = [
    (re.compile(r"\bprovisioning\s+pack"), "package"),
    (re.compile(r"\bconfiguration\s+designer\b"), "package"),
    (re.compile(r"\bschool\s+pcs?\b"), "package"),
    (re.compile(r"\bbulk\s+token\b"), "package"),
    (re.compile(r"\bazure\s*ad\b|\bmicrosoft\s+entra\b|\bentra\s+id\b"), "join"),
]

_COMMANDS: list[tuple[re.Pattern[str], Intent]] = [
    (re.compile(r"^(?:help|\?|what can you do\??|commands|menu|usage)$"), Intent.HELP),
    (
        re.compile(
            r"^(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening)|howdy|greetings|hi there|hello there)[!. ]*$"
        ),
        Intent.HELP,
    ),
    (
        re.compile(
            r"^(?:diagnose|diagnosis|run (?:a )?diagnos[ie]s|check(?: again)?|doctor|start)(?: bulk enrollment)?$"
        ),
        Intent.DIAGNOSE,
    ),
    (re.compile(r"^(?:status|my requests|request status)$"), Intent.STATUS),
    (re.compile(r"^alerts? on$|^subscribe(?: to alerts)?$"), Intent.ALERTS_ON),
    (re.compile(r"^alerts? off$|^unsubscribe(?: from alerts)?$"), Intent.ALERTS_OFF),
    (re.compile(r"^audit(?: log)?$"), Intent.AUDIT),
    (re.compile(r"^use this channel for approvals?$"), Intent.USE_CHANNEL),
]


def _edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """Damerau-Levenshtein (adjacent transpositions) bounded by `limit`."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        row_min = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            row_min = min(row_min, cur[j])
        if row_min > limit:
            return False
        prev2, prev = prev, cur
    return prev[len(b)] <= limit


# Typo candidates by first letter: a word is only compared with vocabulary words that start like it.
_TYPO_CANDIDATES: dict[str, list[tuple[str, str]]] = {}
for _candidate, _concept in VOCAB.items():
    if len(_candidate) >= 4:
        _TYPO_CANDIDATES.setdefault(_candidate[0], []).append((_candidate, _concept))
_LONGEST_CANDIDATE = max(len(c) for c in VOCAB)


@lru_cache(maxsize=8192)
def concept_of(word: str) -> str | None:
    """The concept a word stands for, forgiving small typos in longer words. Words with a digit (hex, ids,
    codes) or far longer than any vocabulary word cannot be typos of one and are not compared."""
    if word in VOCAB:
        return VOCAB[word]
    if len(word) < 4 or len(word) > _LONGEST_CANDIDATE + 2 or any(ch.isdigit() for ch in word):
        return None
    limit = 1 if len(word) < 8 else 2
    for candidate, concept in _TYPO_CANDIDATES.get(word[0], ()):
        if abs(len(candidate) - len(word)) <= limit and _edit_distance_at_most(word, candidate, limit):
            return concept
    return None


def normalize(text: str) -> str:
    lowered = text[:MAX_SCAN_CHARS].lower().replace("\u2019", "'").replace("\u2018", "'")
    for pattern, replacement in _BRITISH:
        lowered = pattern.sub(replacement, lowered)
    lowered = re.sub(r"[^a-z0-9'@_\-]+", " ", lowered)
    lowered = lowered.replace("-", " ").replace("_", " ")
    return re.sub(r"\s+", " ", lowered).strip()


def extract_error_codes(text: str) -> tuple[str, ...]:
    codes = [f"0x{m.group(1).lower()}" for m in _CODE_RE.finditer(text)]
    codes += [f"0x{m.group(1).lower()}" for m in _HEX_RE.finditer(text)]
    return tuple(dict.fromkeys(codes))


def extract_package_guids(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(1).lower() for m in _PACKAGE_RE.finditer(text)))


def extract_device_name(text: str) -> str | None:
    match = _DEVICE_PATTERN_RE.search(text)
    if match:
        return match.group(1).upper()
    match = _DEVICE_LABEL_RE.search(text)
    if match and not match.group(1).lower().startswith(("package", "0x")):
        candidate = match.group(1)
        if any(ch.isdigit() for ch in candidate) or "-" in candidate or candidate.isupper():
            return candidate.upper()
    return None


def _concepts(normalized: str) -> set[str]:
    found = {concept for pattern, concept in _PHRASE_CONCEPTS if pattern.search(normalized)}
    for word in set(_WORD_RE.findall(normalized)):
        concept = concept_of(word.strip("'"))
        if concept:
            found.add(concept)
    if _FAIL_PHRASES.search(normalized):
        found.add("fail")
    return found


def _is_enrollment_code(code: str) -> bool:
    return code in KNOWN_CODES or code.startswith(("0x8018", "0x801c"))


def recognize(text: str) -> Recognition:
    raw = text or ""
    command = re.sub(r"\s+", " ", raw.strip().lower()).strip(" .!")
    command = re.sub(r"^(?:please|pls|@?\w+ bot)\s+", "", command)
    for pattern, intent in _COMMANDS:
        if pattern.match(command):
            return Recognition(intent, reason="command", text=raw)

    codes = extract_error_codes(raw)
    guids = extract_package_guids(raw)
    device = extract_device_name(raw)
    normalized = normalize(raw)

    def hit(reason: str) -> Recognition:
        return Recognition(Intent.DIAGNOSE, reason, codes, guids, device, raw)

    if _PHRASE_RE.search(normalized):
        return hit("error message")
    concepts = _concepts(normalized)
    failing = "fail" in concepts
    succeeded = bool(_NEGATION_SUCCESS.search(normalized))
    if any(_is_enrollment_code(c) for c in codes) and not (succeeded and not failing):
        return hit("error code")
    if not failing:
        return Recognition(Intent.UNKNOWN, "no failure words", codes, guids, device, raw)
    if "bulk" in concepts and concepts & {"enroll", "package", "join"}:
        return hit("bulk enrollment failure")
    if "package" in concepts and concepts & {"enroll", "join"}:
        return hit("provisioning package failure")
    if guids:
        return hit("package account failure")
    if "bulk" in concepts and "setup" in concepts:
        return hit("bulk setup failure")
    return Recognition(Intent.UNKNOWN, "not about bulk enrollment", codes, guids, device, raw)
