"""Which tenant a message or a card is about, and which tenants a conversation may act on. Pure code."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# A package account as Windows Configuration Designer names it, or any account: the domain after the @
_ACCOUNT = re.compile(r"[A-Za-z0-9._%+-]{1,64}@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})")
_PACKAGE = re.compile(r"package_[0-9a-f-]{36}@", re.IGNORECASE)


def mentioned_domains(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the package accounts' domains, every other account's domain) in the text, lower case, each once."""
    packages: dict[str, None] = {}
    others: dict[str, None] = {}
    for match in _ACCOUNT.finditer(text[:20_000]):
        domain = match.group(1).lower()
        start = max(0, match.start() - 45)
        is_package = bool(_PACKAGE.search(text[start : match.start(1)]))
        (packages if is_package else others)[domain] = None
    return tuple(packages), tuple(d for d in others if d not in packages)


@dataclass(frozen=True)
class Where:
    """Where a message or press came from."""

    user_tenant: str  # the Teams tenant of the conversation (the person's own directory)
    bound: str | None  # the tenant the channel or chat is bound to, if any


def may_act_on(where: Where, tenant_id: str, home: str) -> bool:
    """People in the deployment's own Teams act on any tenant it serves, except where their channel is bound to
    another; people in a customer's Teams act on their own tenant only."""
    tenant_id, user = tenant_id.lower(), where.user_tenant.lower()
    if where.bound is not None and where.bound.lower() != tenant_id:
        return False
    return user == tenant_id or user == home


@dataclass(frozen=True)
class Resolution:
    tenant_id: str | None = None  # decided
    why: str = ""  # how it was decided (logged)
    ask: tuple[str, ...] = ()  # undecided: the tenants to offer, one button each
    refusal: str | None = None  # a message about a tenant this conversation cannot act on, or none served


def resolve(
    text: str, where: Where, home: str, served: Sequence[str], domains: Mapping[str, str], labels: Mapping[str, str]
) -> Resolution:
    """The package account's domain against the tenants' verified domains; else the channel's bound tenant; else
    the person's own tenant, when it is served; else the only tenant; else ask."""
    allowed = [t for t in served if may_act_on(where, t, home)]
    if not allowed:
        return Resolution(refusal="This conversation is not about any tenant I serve.")
    packages, others = mentioned_domains(text)
    for found in (packages, others):
        named = list(dict.fromkeys(domains[d] for d in found if d in domains))
        if not named:
            if found and found is packages and len(served) > 1:
                # A package account of a domain nobody connected: say so instead of diagnosing the wrong tenant.
                return Resolution(
                    refusal=f"The package account's domain {found[0]} is not a verified domain of any tenant I "
                    'serve. Connect that tenant first ("connect a tenant"), or paste an account of a connected one.'
                )
            continue
        mine = [t for t in named if t in allowed]
        if not mine:
            where_bound = f" This channel is bound to {labels.get(where.bound, where.bound)}." if where.bound else ""
            not_here = "The account in the message belongs to a tenant this conversation does not act on."
            return Resolution(refusal=not_here + where_bound)
        if len(mine) == 1:
            return Resolution(mine[0], "the account's domain" if found is packages else "an account's domain")
        return Resolution(ask=tuple(mine), why="accounts of several tenants")
    if where.bound is not None:
        return Resolution(where.bound.lower(), "the channel's tenant")
    if where.user_tenant.lower() in allowed and where.user_tenant.lower() != home:
        return Resolution(where.user_tenant.lower(), "the person's own tenant")
    if len(allowed) == 1:
        return Resolution(allowed[0], "the only tenant")
    return Resolution(ask=tuple(allowed), why="nothing names a tenant")
