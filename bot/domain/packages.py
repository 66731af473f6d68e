"""Seeing package failures coming: when a package's bulk token expires, and package accounts new since the last
look. Pure: the watcher (bot/packages.py) reads the tenant and keeps the marks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.model import DirectoryUser, JoinSetting, MembershipKind


@dataclass(frozen=True)
class Expiry:
    account: DirectoryUser
    expires_at: datetime
    threshold: int  # the warning's threshold, in days
    devices: int | None = None  # devices seen using it recently (troubleshooting events), when known


def expires_at(account: DirectoryUser, token_days: int) -> datetime | None:
    return account.created + timedelta(days=token_days) if account.created else None


def mark(account_id: str, threshold: int) -> str:
    return f"{account_id}:{threshold}d"


def due_warnings(
    accounts: Iterable[DirectoryUser],
    now: datetime,
    token_days: int,
    thresholds: Iterable[int],
    warned: Mapping[str, object],
) -> tuple[list[Expiry], list[str]]:
    """The warnings to give now, and every mark they settle. An account warns once per threshold; when it is
    first seen past several thresholds at once (3 days left, never warned at 14), it warns once, at the nearest,
    and the others are settled without a card of their own. Expired and disabled accounts do not warn: the
    diagnosis speaks for those."""
    steps = sorted(set(thresholds))  # nearest first: 3, 14
    due: list[Expiry] = []
    settled: list[str] = []
    for account in accounts:
        ends = expires_at(account, token_days)
        if ends is None or not account.account_enabled or ends <= now:
            continue
        crossed = [t for t in steps if ends - now <= timedelta(days=t)]
        fresh = [t for t in crossed if mark(account.id, t) not in warned]
        if not fresh:
            continue
        settled += [mark(account.id, t) for t in fresh]
        if min(crossed) in fresh:  # the nearest threshold crossed has not been warned yet
            due.append(Expiry(account, ends, min(crossed)))
    due.sort(key=lambda e: e.expires_at)
    return due, settled


def may_join(account_id: str, join: JoinSetting, groups_of: Mapping[str, frozenset[str]]) -> bool:
    if join.kind is MembershipKind.ALL:
        return True
    if join.kind is MembershipKind.NONE:
        return False
    return account_id in join.users or any(account_id in groups_of.get(g, frozenset()) for g in join.groups)


def new_since(accounts: Iterable[DirectoryUser], since: datetime) -> list[DirectoryUser]:
    """Package accounts created after the last look (each package made in Windows Configuration Designer
    creates one)."""
    fresh = [a for a in accounts if a.created is not None and a.created > since and a.account_enabled]
    return sorted(fresh, key=lambda a: a.created or since)
