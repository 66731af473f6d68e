"""Text from users and the directory is shown as text: rendered through Microsoft's Adaptive Cards parser and
markdown-it, no card holds a link, emphasis or list the bot did not put there, and nothing reorders text."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.approval import ApprovalRequest, State
from bot.domain.model import DirectoryNames, TroubleshootingEvent
from bot.domain.spikes import IncidentChange, KeyView
from cards.alerts import AlertView, build_alert_card
from cards.approval import ApprovalView, AuditLine, build_approval_card, build_audit_card, build_request_status_card
from cards.common import NAME_LIMIT, TEXT_LIMIT, plain
from cards.diagnosis import Clues, DiagnosisView, build_join_permissions_card, build_verify_card
from tests.unit.test_cards import NOW, ROOT, _views

PHISH = "[Approve here](https://example.invalid/phish)"
HOSTILE = [
    PHISH,
    "<https://example.invalid/autolink>",
    "visit https://example.invalid/bare or www.example.invalid now",
    "**URGENT** _approve_ `now` ~~x~~",
    "- first\n- second\n1. third\n# Heading\n> quote",
    "+ first\n+ second",  # a list marker of its own: alone, it must not make a list either
    "![img](https://example.invalid/p.png)",
    "Adele \u202eevil\u202c \u2066name\u2069\u200b\x00\x1b[31m",
]
BIDI = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\x00-\x08\x0b-\x1f\x7f]")
MARKUP = re.compile(r"<(a|img|em|strong|h\d|li|ol|ul|blockquote|code|s|del|p)\b")


def _render(cards: list[dict[str, Any]]) -> list[list[dict[str, str]]]:
    node = shutil.which("node")
    assert node and (ROOT / "node_modules" / "markdown-it").is_dir(), "make test installs node and npm packages"
    result = subprocess.run(
        [node, str(Path(ROOT, "tests", "support", "card_markup.js"))],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(result.stdout)


def _visible(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def _hostile_cards(evil: str) -> list[dict[str, Any]]:
    view = _views()[0]
    d = view.diagnosis
    accounts = tuple(replace(a, account=replace(a.account, user_principal_name=evil)) for a in d.accounts[:3])
    hostile_view = DiagnosisView(
        "s1",
        replace(d, accounts=accounts + d.accounts[3:]),
        DirectoryNames({uid: evil for uid in [*d.join.users, *d.join.groups]}),
        Clues(("0x801c0003",), (), evil),
        events=(TroubleshootingEvent("e1", NOW, "windowsBulkAzureDomainJoin", evil, evil),),
        events_error=evil,
    )
    assert d.plan is not None
    request = ApprovalRequest(
        id="0123456789abcdef",
        tenant_id="t",
        plan=d.plan,
        requester_id="r",
        requester_name=evil,
        created_at=NOW,
        expires_at=NOW,
        justification=evil,
        reason=evil,
        error=evil,
        decided_by_name=evil,
    )
    cards = [build_join_permissions_card(hostile_view), build_verify_card(hostile_view)]
    for state in (State.PENDING, State.REJECTED, State.FAILED, State.CANCELLED):
        cards.append(build_approval_card(ApprovalView(replace(request, state=state), plain(evil), for_approver=True)))
        cards.append(build_request_status_card(ApprovalView(replace(request, state=state), plain(evil))))
    cards.append(build_audit_card([AuditLine(NOW, "rejected", evil, "01234567", evil)]))
    change = IncidentChange(
        kind="opened",
        at=NOW,
        overall=KeyView("all", 14, 1.2, True),
        keys=(KeyView("all", 14, 1.2, True),),
        reasons=((evil, 12),),
        users=("u1",),
        trend=(0, 1, 0, 0, 2, 12),
        incident_id="spike-1",
    )
    cards.append(build_alert_card(AlertView(change, 60, (evil,))))
    return cards


def _markup(card: list[dict[str, str]]) -> Counter[str]:
    return Counter(tag for item in card for tag in MARKUP.findall(item["html"]))


def test_no_injected_string_renders_as_markup():
    # The same cards built around a harmless name show the markup the bot itself puts there.
    ours = [_markup(card) for card in _render(_hostile_cards("Adele Vance"))]
    for evil in HOSTILE:
        rendered = _render(_hostile_cards(evil))
        seen = False
        for index, card in enumerate(rendered):
            for item in card:
                assert not BIDI.search(item["text"]), (evil, item["text"])
                assert "<a " not in item["html"] and "<img" not in item["html"], (evil, item)
                if "example.invalid" in evil and "example" in _visible(item["html"]):
                    seen = True
            assert _markup(card) == ours[index], (evil, index, card)
        if "example.invalid" in evil:
            assert seen, f"{evil!r} was not shown at all"


def test_the_phishing_link_is_shown_literally():
    rendered = _render(_hostile_cards(PHISH))
    shown = [_visible(item["html"]) for card in rendered for item in card]
    assert any(PHISH in text for text in shown)


def test_the_bots_own_markup_still_renders():
    # The check is not blind: the bot's own bold text is still bold, and an unescaped link would be caught.
    rendered = _render([build_join_permissions_card(_views()[0])])
    assert any("<strong>" in item["html"] for item in rendered[0])
    raw = _render([{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": PHISH}]}])
    assert "<a " in raw[0][0]["html"]


def test_plain_caps_lengths_and_strips_controls():
    assert plain("x" * 500).endswith("\u2026") and len(plain("x" * 500)) == NAME_LIMIT
    assert len(plain("y" * 2000, TEXT_LIMIT)) == TEXT_LIMIT
    assert plain("a\u202eb\u0000c\nd") == "ab c d"
    assert plain("one\ntwo", TEXT_LIMIT, multiline=True) == "one\ntwo"
    assert plain(None) == ""
    assert plain("Dr. Megan O'Brien") == "Dr. Megan O'Brien"  # ordinary names are left as they are


def _controls_replaced(raw: str, multiline: bool) -> str:
    """plain's replacement of control and format characters as it was first written: one character at a time."""
    import unicodedata

    return "".join(
        ch if unicodedata.category(ch)[0] != "C" else ("\n" if multiline and ch == "\n" else " ") for ch in raw
    )


@settings(max_examples=500, deadline=None)
@given(
    st.text(st.characters(codec=None), max_size=60) | st.text("ab \n\t\u00a0\u2028\u0085\u200b\ufeff\x00", max_size=20),
    st.booleans(),
)
def test_plain_skips_the_character_walk_only_where_it_would_change_nothing(raw, multiline):
    # plain walks the characters only when the text is not printable: for printable text the walk is a no-op
    if raw.isprintable():
        assert _controls_replaced(raw, multiline) == raw
