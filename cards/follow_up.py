"""The answer to "why?" (or "what now?") right after a card: what that card said, why, and its way on again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import microsoft_teams.cards as ac

from cards.common import TEXT_LIMIT, build_card, execute, heading, plain, text
from cards.verbs import parse_action


@dataclass(frozen=True)
class Rules:
    """The numbers the explanations quote, as this deployment is configured."""

    window_minutes: float = 60
    min_count: int = 5
    factor: float = 3.0
    clear_factor: float = 1.5
    token_days: int = 180


FOLLOW_UP_TITLE = "About my last card"  # bot/recent.py does not note these: "why?" twice is about the same card
JOIN = (
    "Windows applies a provisioning package by signing in as the package's own account (package_\u2026) and joining "
    "the device to Microsoft Entra ID. Entra refuses the join when 'Users may join devices to Microsoft Entra ID' "
    "does not include that account, and Windows then says \u201cA setup failure has occurred during bulk "
    "enrollment\u201d."
)


def why_of(title: str, rules: Rules) -> str:
    """Why a card of ours said what it said, by its heading."""
    t = title.lower()
    if t.startswith("device settings"):
        return (
            f"{JOIN} This step shows who that setting allows: All, the users and groups listed under Selected, or "
            "nobody. The next step shows which package accounts it leaves out."
        )
    if t.startswith("join permissions"):
        return (
            f"{JOIN} The accounts marked \u201cmay not join\u201d are why the package fails; the minimal fix adds "
            "exactly those, nothing else. A disabled account cannot sign in at all, whatever the setting says."
        )
    if t.startswith("verify"):
        return (
            "I read the tenant again. Until the join setting includes every usable package account (and nothing "
            "else listed blocks them), applying the package fails the same way; once it does, changes take several "
            "minutes to reach every service before a device can join."
        )
    if t.startswith("checking your tenant"):
        return "I am still reading your tenant through Microsoft Graph; that card updates itself with what I find."
    if "spiking" in t:
        return (
            f"I count Intune's bulk enrollment failures over the last {rules.window_minutes:g} minutes and compare "
            f"them with this tenant's usual number. An alert fires when the count reaches both {rules.min_count} and "
            f"{rules.factor:g} times the usual, and ends when it falls below {rules.clear_factor:g} times the usual."
        )
    if "back to normal" in t:
        return (
            f"The failures over the last {rules.window_minutes:g} minutes fell below {rules.clear_factor:g} times "
            "this tenant's usual number, so the alert is over."
        )
    if "expire" in t:
        return (
            f"A provisioning package's bulk token is valid for {rules.token_days} days from the day the package was "
            "made. After that, every device that applies it fails with the bulk enrollment error, so a new package "
            "is needed before that day."
        )
    if t.startswith("new package account"):
        return (
            "Each new provisioning package brings a new package account. "
            f"{JOIN} So this one needs the join permission before any device uses the package."
        )
    if t.startswith("i did not recognise") or t.startswith("did you mean"):
        return (
            "I act on Windows bulk enrollment failures only (provisioning packages), and your message did not say "
            "that one failed. Paste the error text or the log, or say diagnose to check the tenant anyway."
        )
    if t.startswith("that looks like"):
        return (
            "Your message named something other than a provisioning package; its errors come from another path, "
            "which I do not diagnose, so that card says where to look. If it was a provisioning package after "
            "all, press its button."
        )
    if t.startswith("this card is out of date"):
        return "The card you pressed was made before the tenant or the request changed; I act only on what is current."
    return "That is what I found or did; say help for what I can do."


def build_follow_up_card(title: str, summary: str, why: str, actions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`title` is a heading of ours as it was on the card (already safe Markdown); `summary` is its fallback text."""
    body: list[ac.CardElement] = [
        *heading(f"{FOLLOW_UP_TITLE}: {title}"),
        text(f"It said: {plain(summary, TEXT_LIMIT)}", is_subtle=True),
        text("Why", weight="Bolder", spacing="Medium"),
        text(why, spacing="Small"),
    ]
    buttons = []
    for action in actions:  # its own buttons again, re-made from their payloads: nothing unparsed goes back out
        payload = parse_action(action.get("verb"), action.get("data"))
        if payload is not None:
            buttons.append(execute(plain(action.get("title", ""), 60), payload))
    return build_card(body, fallback_text=f"{FOLLOW_UP_TITLE}: {why}", actions=buttons)
