"""Shared pieces for card builders: the card envelope, actions and small typed elements."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

import microsoft_teams.cards as ac

from cards.verbs import Payload, action_data, verb_of

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION: Literal["1.5"] = "1.5"
BRAND = "Enrollment Doctor"


NAME_LIMIT = 100  # display names, UPNs, device and group names
TEXT_LIMIT = 500  # justifications, reasons, messages from Graph
FULL_LIST_LIMIT = 50  # full names behind "Show all"; beyond, the approval record and the audit have them
_PACKAGE_UPN = re.compile(r"^package_([0-9a-f]{4})[0-9a-f-]{28}([0-9a-f]{4})(@|$)", re.IGNORECASE)

# Bidi overrides, embeddings and isolates, and the invisible marks that can hide or reorder text.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<>~|{}!])")
_LINE_START_MARKUP = re.compile(r"(?m)^(\s*)([#>=+-])")
_ORDERED_ITEM = re.compile(r"(?m)^(\s*\d+)([.)])")
_LINKABLE = re.compile(r"(?<=\w)([.:@])(?=\w|/)")  # "evil.example", "https://", "name@host": no autolink

# Intune's failure categories (deviceEnrollmentFailureReason) in words a person understands.
CATEGORY_LABELS = {
    "authorization": "Not allowed to join or enroll",
    "authentication": "Sign-in failed",
    "accountValidation": "Account not allowed to enroll",
    "userValidation": "Account or licence problem",
    "deviceNotSupported": "Device or Windows edition not supported",
    "inMaintenance": "Intune in maintenance",
    "badRequest": "Rejected request",
    "featureNotSupported": "Feature not supported",
    "enrollmentRestrictionsEnforced": "Blocked by an enrollment restriction",
    "clientDisconnected": "Device lost its connection",
    "userAbandonment": "Setup abandoned on the device",
    "unknown": "Reason not reported",
}


def plain(value: object, limit: int = NAME_LIMIT, *, multiline: bool = False) -> str:
    """Text a user or the directory wrote, made safe to put into a card's Markdown or a message: shown as
    written (links, emphasis and lists render literally), without bidi or control characters, at most
    `limit` characters (then an ellipsis). The one escaping function: every such string passes here."""
    raw = "" if value is None else str(value)
    raw = _INVISIBLE.sub("", raw)
    if not raw.isprintable():  # printable: no character of category C (control, format, ...), nothing to replace
        raw = "".join(
            ch if unicodedata.category(ch)[0] != "C" else ("\n" if multiline and ch == "\n" else " ") for ch in raw
        )
    raw = re.sub(r"[ \t]{2,}", " ", raw).strip()
    if multiline:
        raw = re.sub(r"\n{3,}", "\n\n", raw)
    if len(raw) > limit:
        raw = raw[: limit - 1].rstrip() + "\u2026"
    escaped = _INLINE_MARKUP.sub(r"\\\1", raw)
    escaped = _LINE_START_MARKUP.sub(r"\1\\\2", escaped)
    escaped = _ORDERED_ITEM.sub(r"\1\\\2", escaped)
    return _LINKABLE.sub(r"\\\1", escaped)


def execute(title: str, payload: Payload, *, with_inputs: bool = False, style: str | None = None) -> ac.ExecuteAction:
    return ac.ExecuteAction(
        title=title,
        verb=verb_of(payload).value,
        data=action_data(payload),
        associated_inputs="auto" if with_inputs else "none",
        style=style,  # type: ignore[arg-type]
    )


def short_account(upn: str, *, markdown: bool = True) -> str:
    """A package account as people can read it on a phone: package_3f2a…5c6d (other names as they are).
    markdown=False: for a plain-text place (a notification's preview), the package name without its escape."""
    match = _PACKAGE_UPN.match(upn or "")
    if match:
        underscore = "\\_" if markdown else "_"
        return f"package{underscore}{match.group(1).lower()}\u2026{match.group(2).lower()}"
    return plain(upn)


def show_all(element_id: str, upns: Sequence[str]) -> list[ac.CardElement]:
    """A "Show all" toggle and, hidden behind it, the full names (at most FULL_LIST_LIMIT)."""
    shown = list(upns[:FULL_LIST_LIMIT])
    lines: list[ac.CardElement] = [text(plain(upn), size="Small", spacing="None") for upn in shown]
    if len(upns) > len(shown):
        more = len(upns) - len(shown)
        lines.append(text(f"\u2026 and {more} more.", size="Small", is_subtle=True, spacing="None"))
    return [
        ac.ActionSet(
            actions=[ac.ToggleVisibilityAction(title=f"Show all {len(upns)}", target_elements=[element_id])],
            spacing="Small",
        ),
        ac.Container(id=element_id, is_visible=False, items=lines),
    ]


def details(summary: str, lines: Sequence[str], element_id: str) -> ac.Container:
    """A small subtle line that, tapped, shows `lines` (ids and other details for support) below it: the ids are
    kept off the card's face, and it costs no button."""
    return ac.Container(
        spacing="Medium",
        select_action=ac.ToggleVisibilityAction(title="Details", target_elements=[element_id]),
        items=[
            text(f"{summary} \u00b7 Details", size="Small", is_subtle=True),
            ac.Container(
                id=element_id,
                is_visible=False,
                items=[text(line, size="Small", is_subtle=True, spacing="None") for line in lines],
            ),
        ],
    )


def heading(text: str, subtitle: str | None = None) -> list[ac.CardElement]:
    items: list[ac.CardElement] = [
        ac.TextBlock(text=BRAND, size="Small", weight="Bolder", color="Accent", is_subtle=False, wrap=True)
    ]
    if subtitle:
        items.append(ac.TextBlock(text=subtitle, size="Small", is_subtle=True, spacing="None", wrap=True))
    items.append(ac.TextBlock(text=text, size="Large", weight="Bolder", wrap=True, style="heading"))
    return items


def text(value: str, **kwargs: Any) -> ac.TextBlock:
    kwargs.setdefault("wrap", True)
    return ac.TextBlock(text=value, **kwargs)


def facts(pairs: Sequence[tuple[str, str]]) -> ac.FactSet:
    return ac.FactSet(facts=[ac.Fact(title=title, value=value) for title, value in pairs])


def callout(title: str, body: str, style: str) -> ac.Container:
    return ac.Container(
        style=style,  # type: ignore[arg-type]
        items=[text(title, weight="Bolder"), text(body, spacing="Small")],
        spacing="Medium",
    )


def build_card(
    body: Sequence[ac.CardElement],
    *,
    fallback_text: str,
    actions: Sequence[ac.Action] = (),
    refresh: ac.RefreshDefinition | None = None,
) -> dict[str, Any]:
    card = ac.AdaptiveCard(
        version=CARD_VERSION,
        body=list(body),
        actions=list(actions) or None,
        fallback_text=fallback_text,
        refresh=refresh,
    )
    data = card.model_dump(by_alias=True, exclude_none=True)
    data["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json"
    return data


def window_label(window: str) -> str:
    """ "7d" -> "7 days", "5m" -> "5 minutes", "permanent" -> "permanently"."""
    units = {"m": "minute", "h": "hour", "d": "day"}
    if len(window) >= 2 and window[-1] in units and window[:-1].isdigit():
        n = int(window[:-1])
        return f"{n} {units[window[-1]]}{'s' if n != 1 else ''}"
    return "permanently"
