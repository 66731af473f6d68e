"""Cards that warn before failures: packages about to expire, and new package accounts not allowed to join."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from bot.domain.model import DirectoryUser
from bot.domain.packages import Expiry
from cards.common import build_card, callout, details, execute, facts, heading, plain, short_account, show_all, text
from cards.verbs import RequestForPackage

MAX_LISTED = 10


def _left(expires: datetime, now: datetime) -> str:
    days = (expires - now).total_seconds() / 86400
    if days < 1:
        return "in less than a day"
    return f"in {round(days)} day{'s' if round(days) != 1 else ''}"


def build_expiry_card(expiring: Sequence[Expiry], now: datetime, token_days: int) -> dict[str, Any]:
    count = len(expiring)
    noun = "package expires" if count == 1 else "packages expire"
    first = expiring[0]
    title = f"{count} provisioning {noun} soon"
    body: list[ac.CardElement] = [
        *heading(title, f"Bulk token validity: {token_days} days from the package's creation"),
        text(
            "After that day, every device that applies the package fails with \u201cA setup failure has occurred "
            "during bulk enrollment\u201d."
        ),
    ]
    rows = []
    for item in expiring[:MAX_LISTED]:
        if item.devices is None:
            used = ""
        elif item.devices == 0:
            used = "; no device seen using it recently"
        else:
            used = f"; {item.devices} device{'s' if item.devices != 1 else ''} seen using it recently"
        rows.append(
            (
                short_account(item.account.user_principal_name),
                f"{item.expires_at:%Y-%m-%d} ({_left(item.expires_at, now)}{used})",
            )
        )
    body.append(facts(rows))
    if count > MAX_LISTED:
        body.append(text(f"\u2026 and {count - MAX_LISTED} more.", size="Small", is_subtle=True))
    if count > 1:
        body.extend(show_all("all-packages", [e.account.user_principal_name for e in expiring]))
    body.append(
        callout(
            "What to do",
            "Build a new provisioning package in Windows Configuration Designer (or Set up School PCs) and replace "
            "the old one on your USB sticks and shares before it expires. The new package brings a new package "
            "account, which needs the join permission: when it appears, I post it here, ready to request approval.",
            "emphasis",
        )
    )
    if count == 1:  # its full name, for finding it in the portal: behind "Details", off the card's face
        body.append(details("Package account", [plain(first.account.user_principal_name)], "package-details"))
    fallback = f"{title}: the first on {first.expires_at:%Y-%m-%d}."
    return build_card(body, fallback_text=fallback)


def build_new_account_card(account: DirectoryUser) -> dict[str, Any]:
    name = short_account(account.user_principal_name)
    title = "New package account is not allowed to join devices"
    body: list[ac.CardElement] = [
        *heading(title, f"Created {account.created:%Y-%m-%d %H:%M UTC}" if account.created else None),
        text(
            f"**{name}** was created (a new provisioning package), and 'Users may join devices to Microsoft "
            "Entra ID' does not include it: every device that applies the package will fail with the bulk "
            "enrollment error."
        ),
        text(
            "Request approval asks for exactly the change that adds it (you will be the requester; another "
            "approver approves).",
            size="Small",
        ),
    ]
    body.append(details("Package account", [plain(account.user_principal_name)], "package-details"))
    actions = [execute("Request approval", RequestForPackage(account_id=account.id), style="positive")]
    return build_card(
        body, fallback_text=f"{title}: {short_account(account.user_principal_name, markdown=False)}", actions=actions
    )
