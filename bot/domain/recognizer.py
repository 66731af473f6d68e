"""Recognise the bulk enrollment failure (and the bot's commands) in free text, and pull out what helps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache

from bot.domain.causes.device import device_code_meaning
from bot.domain.languages import PREPARED, Prepared, error_text_language, has_failure_word, keyword_language
from bot.domain.lookalikes import FOREIGN_CODES, Lookalike, enrollment_code, find_lookalike, for_code
from bot.domain.reading import MAX_SCAN_CHARS, PhraseSet, Reading, any_phrase, gated, read


class Intent(StrEnum):
    DIAGNOSE = "diagnose"
    HELP = "help"
    STATUS = "status"
    ALERTS_ON = "alerts_on"
    ALERTS_OFF = "alerts_off"
    AUDIT = "audit"
    USE_CHANNEL = "use_channel"
    CONNECT_TENANT = "connect_tenant"  # the admin-consent link for a customer tenant (optionally which one)
    TENANTS = "tenants"  # the tenants served
    USE_TENANT = "use_tenant"  # this channel or chat is about that tenant (argument: its domain or id)
    STOP_TENANT = "stop_tenant"  # this channel or chat is about no tenant in particular any more
    REMOVE_TENANT = "remove_tenant"  # argument: the tenant's domain or id
    ELSEWHERE = "elsewhere"  # about something else that looks like ours: answered with where to look instead
    SMALL_TALK = "small_talk"  # thanks, ok, bye: a short reply, not a card
    FOLLOW_UP = "follow_up"  # "why?", "what now?" right after a card: answered about that card
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recognition:
    intent: Intent
    reason: str = ""
    error_codes: tuple[str, ...] = ()
    package_guids: tuple[str, ...] = ()
    device_name: str | None = None
    text: str = field(default="", repr=False)
    lookalike: Lookalike | None = None
    language: str | None = None  # the language the error was recognised in, when not English
    argument: str | None = None  # what a command names: a tenant's domain or id


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

_HEX_RE = re.compile(r"0x([0-9a-f]{8})(?![0-9a-z])")
_BARE_CODE_RE = re.compile(r"(80(?:18|1c|07)[0-9a-f]{4})(?![0-9a-z])")
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PACKAGE_RE = re.compile(rf"package[_ ]?({_GUID})")
_DEVICE_LABEL_RE = re.compile(
    r"(?:device\s*name|computer\s*name|host\s*name|hostname|machine\s*name|device|pc)\s*(?:is|was|called|named|[:=#])\s*"
    r"[\"']?([a-z0-9][a-z0-9-]{1,14})",
)
_DEVICE_PATTERN_RE = re.compile(
    r"\b((?:desktop|laptop|pc|win|lab|class|room|school|kiosk|student)-[a-z0-9][a-z0-9-]{1,12})\b"
)

# The English error text, squashed: typos, line breaks, hyphens and a missing "has" forgiven.
_PHRASE_RE = re.compile(
    r"setupfailure(?:has|have)?(?:occ?urr?ed|happened|occurs)?(?:during|in|with|while)?(?:the|a)?(?:bulk)enro?l"
    r"|failure(?:has)?occ?urr?edduringbulk"
    r"|bulkenrol+mentsetupfailure"
)

# What says it works, or worked. Looked for by word first; the regex only runs to take phrases that hold a
# failure word ("without issues", "no errors") out of the text before failure words are counted.
_SUCCESS_WORDS = frozenset(
    "succeeded successful successfully worked fixed resolved solved sorted smoothly fine flawlessly".split()
)
_SUCCESS_PHRASES = gated(
    "works now",
    "working now",
    "works again",
    "working again",
    "all good",
    "was ok",
    "was okay",
    "were ok",
    "went well",
    "was good",
    "used to work",
)
_CONSUMING = gated(
    "without issues",
    "without any issues",
    "without problems",
    "without any problems",
    "without errors",
    "without any errors",
    "without issue",
    "without a problem",
    "no issues",
    "no problems",
    "no errors",
    "no issue",
    "no problem",
    "no failures",
    "didnt fail",
    "did not fail",
    "never failed",
    "never had issues",
    "never had any issues",
    "never had problems",
    "zero errors",
    "no trouble",
    "without trouble",
    "without a hitch",
)
_CONSUMING_RE = re.compile(
    r"\b(?:without|no|never had|never any|zero) (?:any |a )?(?:issues?|problems?|errors?|failures?|trouble|hitch)"
    r"|\b(?:didn'?t|did not|never) fail(?:ed)?\b"
)
_FIXED_WORDS = frozenset("fixed resolved solved".split())
_FIXED_PHRASES = gated(
    "works now", "working now", "works again", "working again", "sorted it", "sorted now", "sorted out", "all good now"
)
# A fix report that is not over: "fixed the setting but it still fails".
_ONGOING_WORDS = frozenset("still again keeps anymore".split())
_ONGOING_PHRASES = gated("no longer", "but now", "now fails", "now failing", "now it fails", "now get", "now getting")
_SHORT_MESSAGE = 1200  # typed by a person: typos are forgiven; longer pastes are machine text

# Canonical vocabulary for typo-tolerant matching: word -> concept.
VOCAB = {
    "bulk": "bulk",
    "mass": "bulk",
    "enrollment": "enroll",
    "enrollments": "enroll",
    "enrolment": "enroll",
    "enrolments": "enroll",
    "enroll": "enroll",
    "enrol": "enroll",
    "enrolled": "enroll",
    "enroled": "enroll",
    "enrolling": "enroll",
    "enroling": "enroll",
    "enrolls": "enroll",
    "enrols": "enroll",
    "mdm": "enroll",
    "provisioning": "provisioning",
    "package": "package",
    "packages": "package",
    "ppkg": "ppkg",
    "ppkgs": "ppkg",
    "wcd": "ppkg",
    "join": "join",
    "joins": "join",
    "joining": "join",
    "joined": "join",
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
    "expired": "fail",
    "blocks": "fail",
    "blocking": "fail",
    "prevents": "fail",
    "prevented": "fail",
    "wrong": "fail",
    "setup": "setup",
}

_NEGATORS = frozenset("wont cant cannot couldnt doesnt dont didnt isnt arent not never stopped".split())
_NEGATED = frozenset(
    "work working join joining enroll enrolling enrol apply applying install installing complete completing finish "
    "authorized allowed succeed go".split()
)
_VOCAB_WORDS = frozenset(VOCAB)

# What says "a provisioning package was involved": the bulk enrollment path and nothing else.
_PACKAGE_PHRASES = gated(
    "provisioning package",
    "provisioning packages",
    "configuration designer",
    "school pcs",
    "school pc",
    "bulk token",
    "provisioning diagnostics provider",
)

# A tenant as people name it in a command: its id, or one of its domains (a name with a dot).
_TENANT_NAME = r"(?P<arg>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)"

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
    (
        re.compile(
            r"^(?:thanks?(?: you)?(?: (?:so|very) much)?|thx|ty|cheers|thank u|many thanks|great|cool|nice|perfect|"
            r"awesome|ok|okay|k|kk|got it|sounds good|will do|bye|goodbye|see you|cya|lol|haha|\U0001f44d|:\)|"
            r"(?:great|good|nice) (?:job|work)|much appreciated)(?: (?:bot|doctor|enrollment doctor))?[!. ]*$"
        ),
        Intent.SMALL_TALK,
    ),
    (
        re.compile(
            r"^(?:(?:but |and |so )?why(?: not| is that| that| so)?|how come|how so|what does (?:that|this|it) mean|"
            r"what do you mean|meaning|explain(?: (?:that|this|it|please))?|what now|what next|now what|and now|"
            r"what should i do(?: now)?|what do i do(?: now)?|huh)[?!. ]*$"
        ),
        Intent.FOLLOW_UP,
    ),
    (re.compile(r"^(?:status|my requests|request status)$"), Intent.STATUS),
    (re.compile(r"^alerts? on$|^subscribe(?: to alerts)?$"), Intent.ALERTS_ON),
    (re.compile(r"^alerts? off$|^unsubscribe(?: from alerts)?$"), Intent.ALERTS_OFF),
    (re.compile(r"^audit(?: log)?$"), Intent.AUDIT),
    (re.compile(r"^use this channel for approvals?$"), Intent.USE_CHANNEL),
    (
        re.compile(
            r"^(?:connect|add|onboard|link|set up|register)(?: (?:a|an|another|one more|new|my|our|the|customer|"
            rf"client|school|managed))* (?:tenants?|customers?)(?: (?:to|with) (?:you|the bot|enrollment doctor))?"
            rf"(?: {_TENANT_NAME})?(?: please)?$"
        ),
        Intent.CONNECT_TENANT,
    ),
    (
        re.compile(
            r"^(?:(?:list|show)(?: (?:me|all|the|our|my|connected))* tenants|tenants|(?:my|our|all|connected) tenants"
            r"|which tenants(?: do you serve| are connected)?)[?]?$"
        ),
        Intent.TENANTS,
    ),
    (
        re.compile(
            rf"^(?:use|bind)(?: the)?(?: tenant)? {_TENANT_NAME} (?:here|in this (?:channel|chat|conversation)|"
            r"for this (?:channel|chat|conversation))$"
            rf"|^bind this (?:channel|chat) to(?: the)?(?: tenant)? {_TENANT_NAME.replace('<arg>', '<arg2>')}$"
        ),
        Intent.USE_TENANT,
    ),
    (
        re.compile(
            r"^(?:stop using (?:a |the |this |any )?tenant(?: here)?|unbind(?: this)?(?: channel| chat| tenant)?"
            r"(?: here)?|(?:forget|clear) (?:the )?tenant here)$"
        ),
        Intent.STOP_TENANT,
    ),
    (
        re.compile(rf"^(?:remove|disconnect|delete|forget)(?: the)? (?:tenant|customer) {_TENANT_NAME}$"),
        Intent.REMOVE_TENANT,
    ),
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
def _typo_concept(word: str) -> str | None:
    if len(word) < 4 or len(word) > _LONGEST_CANDIDATE + 2 or not word.isalpha():
        return None
    limit = 1 if len(word) < 8 else 2
    for candidate, concept in _TYPO_CANDIDATES.get(word[0], ()):
        if abs(len(candidate) - len(word)) <= limit and _edit_distance_at_most(word, candidate, limit):
            return concept
    return None


# The error sentence in the scripts without spaces (Japanese, Chinese, Korean), forgiven a misread character or
# two: OCR of a photo confuses look-alike characters ("一朱登録" for "一括登録", "실괘" for "실패"), and exact matching
# of these scripts has no word boundaries to fall back on. A sentence matches when some stretch of the message is
# within FUZZY_EDITS of it (edits per character of the sentence; chosen on the photo corpus, README "Photos of the
# screen"), so a near miss that shares half the sentence ("Autopilot プロファイルの作成中にエラーが発生しました")
# does not.
FUZZY_EDITS = 0.2
_FUZZY_MAX_CHARS = 4000  # a photo's text or a typed message: a longer paste is machine text, matched exactly
_EAST_ASIAN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


# OCR of a Traditional Chinese screen often takes the Simplified model's reading (計骨 for 註冊, 间 for 間): the
# Traditional sentence's characters are compared in their Simplified forms, on both sides.
_SIMPLIFIED = str.maketrans("註冊間發裝敗", "注册间发装败")


@dataclass(frozen=True)
class _Sentence:
    language: Prepared
    text: str  # squashed
    limit: int  # edits forgiven


_SENTENCES = tuple(
    _Sentence(language, phrase.squashed.translate(_SIMPLIFIED), int(len(phrase.squashed) * FUZZY_EDITS))
    for language in PREPARED
    for phrase in language.error_texts
    if _EAST_ASIAN.search(phrase.squashed)
)


def _near(sentence: str, text: str, limit: int) -> bool:
    """Some substring of `text` is within `limit` edits (Levenshtein) of `sentence`."""
    previous = [0] * (len(text) + 1)  # a match may start anywhere in the text
    for i, wanted in enumerate(sentence, 1):
        current = [i]
        for j, seen in enumerate(text, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (wanted != seen)))
        if min(current) > limit:
            return False
        previous = current
    return min(previous) <= limit


def fuzzy_error_language(reading: Reading) -> Prepared | None:
    """The language whose East Asian error sentence the message carries, a character or two misread."""
    if reading.ascii or len(reading.squashed) > _FUZZY_MAX_CHARS or not _EAST_ASIAN.search(reading.squashed):
        return None
    squashed = reading.squashed.translate(_SIMPLIFIED)
    present = set(squashed)
    for sentence in _SENTENCES:
        # Within `limit` edits, all but `limit` of the sentence's characters appear in the text: a cheap first cut.
        if sum(ch in present for ch in sentence.text) >= len(sentence.text) - sentence.limit and _near(
            sentence.text, squashed, sentence.limit
        ):
            return sentence.language
    return None


def code_meaning(code: str) -> str:
    if code in KNOWN_CODES:
        return KNOWN_CODES[code]
    foreign = FOREIGN_CODES.get(code)
    if foreign:
        return foreign[1]
    return device_code_meaning(code) or "an enrollment error code"


def _codes(lowered: str) -> tuple[str, ...]:
    found: list[str] = []
    if "0x" in lowered:
        found += ["0x" + m for m in _HEX_RE.findall(lowered)]
    if "8018" in lowered or "801c" in lowered or "8007" in lowered:
        for match in _BARE_CODE_RE.finditer(lowered):
            start = match.start()
            if start == 0 or not lowered[start - 1].isalnum():
                found.append("0x" + match.group(1))
    return tuple(dict.fromkeys(found))


def _is_enrollment_code(code: str) -> bool:
    """A code the Windows enrollment or join client gives (MDM registration and DSREG families)."""
    return code not in FOREIGN_CODES and (code in KNOWN_CODES or code.startswith(("0x8018", "0x801c")))


def extract_error_codes(text: str) -> tuple[str, ...]:
    return _codes(text.lower())


def extract_package_guids(text: str) -> tuple[str, ...]:
    lowered = text.lower()
    if "package" not in lowered:
        return ()
    return tuple(dict.fromkeys(m.group(1) for m in _PACKAGE_RE.finditer(lowered)))


def extract_device_name(text: str) -> str | None:
    lowered = text[:MAX_SCAN_CHARS].lower()
    match = _DEVICE_PATTERN_RE.search(lowered)
    if match:
        return match.group(1).upper()
    match = _DEVICE_LABEL_RE.search(lowered)
    if match and not match.group(1).startswith(("package", "0x")):
        start, end = match.span(1)
        candidate = text[start:end] if len(text) == len(lowered) else match.group(1)
        if any(ch.isdigit() for ch in candidate) or "-" in candidate or candidate.isupper():
            return candidate.upper()
    return None


def _negated_action(tokens: list[str]) -> bool:
    """ "won't enroll", "does not even join", "stopped working": a negator within three words of an action."""
    if len(tokens) <= 60 and _NEGATORS.intersection(tokens[-2:]):  # "…but our ppkg doesn't."
        return True
    for index, token in enumerate(tokens):
        if token in _NEGATORS:
            for follower in tokens[index + 1 : index + 4]:
                if follower in _NEGATED:
                    return True
    return False


def _concepts(reading: Reading, short: bool) -> set[str]:
    concepts = {VOCAB[word] for word in reading.words & _VOCAB_WORDS}
    if short:  # typos: only in what a person typed
        for word in reading.words - _VOCAB_WORDS:
            concept = _typo_concept(word)
            if concept:
                concepts.add(concept)
    if any_phrase(_PACKAGE_PHRASES, reading):
        concepts.add("ppkg")
    if (
        "fail" not in concepts
        and not reading.words.isdisjoint(_NEGATORS)
        and (not reading.words.isdisjoint(_NEGATED) or len(reading.tokens) <= 60)
        and _negated_action(reading.tokens)
    ):
        concepts.add("fail")
    return concepts


def _has(reading: Reading, words: frozenset[str], candidates: PhraseSet) -> bool:
    return not reading.words.isdisjoint(words) or any_phrase(candidates, reading) is not None


def recognize(text: str) -> Recognition:
    raw = text or ""
    command = re.sub(r"\s+", " ", raw[:200].strip().lower()).strip(" .!")
    command = re.sub(r"^(?:please|pls|@?\w+ bot)\s+", "", command)
    for pattern, intent in _COMMANDS:
        matched = pattern.match(command)
        if matched:
            named = [v for k, v in matched.groupdict().items() if k.startswith("arg") and v]
            return Recognition(intent, reason="command", text=raw, argument=named[0] if named else None)

    reading = read(raw)
    short = len(raw) <= _SHORT_MESSAGE
    codes = _codes(reading.lowered)
    guids = extract_package_guids(reading.lowered)
    keywords = keyword_language(reading)
    language = keywords.name if keywords else None

    def hit(reason: str) -> Recognition:
        return Recognition(Intent.DIAGNOSE, reason, codes, guids, extract_device_name(raw), raw, language=language)

    def not_ours(reason: str, lookalike: Lookalike | None = None) -> Recognition:
        intent = Intent.ELSEWHERE if lookalike else Intent.UNKNOWN
        return Recognition(intent, reason, codes, guids, None, raw, lookalike)

    ongoing = _has(reading, _ONGOING_WORDS, _ONGOING_PHRASES)

    # 1. The error text itself, in any language, unless the message says it is fixed.
    squashed = reading.squashed
    english = ("setupfailure" in squashed or "duringbulk" in squashed) and _PHRASE_RE.search(squashed) is not None
    shown = None if english else error_text_language(reading, keywords) or fuzzy_error_language(reading)
    if english or shown:
        # Only a person says a problem is fixed; in a pasted log "resolved" is a DNS lookup.
        if short and not ongoing and _has(reading, _FIXED_WORDS, _FIXED_PHRASES):
            return not_ours("success report")
        language = shown.name if shown else None
        return hit("error message" + (f" ({language})" if language else ""))

    # 2. What works, or worked, is not a failure report; nor is a problem said to be fixed.
    if short and not ongoing and _has(reading, _FIXED_WORDS, _FIXED_PHRASES):
        return not_ours("success report")
    concepts = _concepts(reading, short)
    if keywords:
        concepts.add("localized")
        if has_failure_word(keywords, reading):
            concepts.add("fail")
    consuming = any_phrase(_CONSUMING, reading) is not None
    if consuming or _has(reading, _SUCCESS_WORDS, _SUCCESS_PHRASES):
        if "fail" in concepts and consuming:
            rest = read(_CONSUMING_RE.sub(" ", reading.lowered.replace("'", "")))
            concepts = _concepts(rest, short) | (concepts - {"fail"})
            if keywords and has_failure_word(keywords, rest):
                concepts.add("fail")
        if short and not ongoing and "fail" not in concepts:
            return not_ours("success report")
    failing = "fail" in concepts
    bulk_codes = [c for c in codes if _is_enrollment_code(c)]

    # 3. A provisioning package named, failing: ours, whatever else the message mentions.
    strong = "ppkg" in concepts or bool(guids) or {"provisioning", "package"} <= concepts
    if strong and (failing or bulk_codes):
        return hit("provisioning package failure")

    # 4. Another product or enrollment path: say so, and where to look.
    lookalike = find_lookalike(reading) or next(filter(None, map(for_code, codes)), None)
    if lookalike is not None:
        named = [c for c in codes if c in FOREIGN_CODES or _is_enrollment_code(c)]
        if lookalike.code is None and named:
            lookalike = replace(lookalike, code=named[0], meaning=code_meaning(named[0]))
        return not_ours(f"looks like {lookalike.key}", lookalike)

    # 5. Bulk enrollment in words (or an enrollment code with words that say bulk).
    context = bool(concepts & {"bulk", "localized", "package", "provisioning"})
    if context and bulk_codes:
        return hit("error code")
    if failing:
        if "localized" in concepts:
            return hit(f"bulk enrollment failure ({language})")
        if "bulk" in concepts and concepts & {"enroll", "package", "join", "provisioning"}:
            return hit("bulk enrollment failure")
        if "package" in concepts and concepts & {"enroll", "join"}:
            return hit("provisioning package failure")
        if "bulk" in concepts and "setup" in concepts:
            return hit("bulk setup failure")

    # 6. An enrollment code and nothing that says how the device was enrolled: its meaning, and a way in.
    if bulk_codes:
        return not_ours("enrollment code alone", enrollment_code(bulk_codes[0], code_meaning(bulk_codes[0])))
    # Words of ours without a failure, or a failure without them: ask rather than guess.
    if concepts & {"bulk", "package", "ppkg", "provisioning", "localized"} or (failing and "enroll" in concepts):
        return not_ours("unsure")
    return not_ours("no failure words" if not failing else "not about bulk enrollment")
