"""Cards of the tenant registry: the admin-consent link, the tenants served, removing one; and the messages that say
a tenant was connected. Every name and domain came from Graph or a person: each passes `plain`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from cards.common import TEXT_LIMIT, build_card, callout, execute, facts, heading, plain, text
from cards.verbs import CheckConsent, RemoveTenant


@dataclass(frozen=True)
class TenantRow:
    tenant_id: str
    name: str
    domains: tuple[str, ...]
    channels: int  # channels and chats bound to it
    home: bool  # the deployment's own tenant
    own_credential: bool  # an app registration of its own (TENANT_SECRET_<NAME>), not the shared app
    connected_by: str | None = None
    connected_at: datetime | None = None


def _domains(domains: Sequence[str], shown: int = 3) -> str:
    if not domains:
        return "no verified domains read"
    listed = ", ".join(plain(d) for d in domains[:shown])
    return listed + (f" and {len(domains) - shown} more" if len(domains) > shown else "")


def build_consent_card(
    url: str | None, expires_at: datetime | None, tenant: str | None = None, problem: str | None = None
) -> dict[str, Any]:
    """The admin-consent link, and "Check again" for when the consent page could not send the browser back. Without
    a url: the card a failed "Check again" answers with (the problem, and the input to try again)."""
    which = f"the tenant {plain(tenant)}" if tenant else "the customer's tenant"
    body: list[ac.CardElement] = [*heading("Connect a tenant")]
    if problem:
        body.append(callout("Not connected yet", plain(problem, TEXT_LIMIT), "warning"))
    if url:
        body.append(
            text(
                f"1. An administrator of {which} opens the consent page and accepts the permissions.\n"
                "2. I check that the consent landed and read the tenant's organization, then say so here."
            )
        )
    if expires_at is not None:
        body.append(
            text(
                f"The link works once, until {expires_at:%H:%M} UTC ({expires_at:%d %b}). If the consent page could "
                "not come back to me, type the tenant's id or domain and press Check again.",
                size="Small",
                is_subtle=True,
            )
        )
    body.append(
        ac.TextInput(
            id="connectTenant",  # not "tenant": every action's data carries the card's own tenant under that key
            label="Tenant id or verified domain",
            max_length=256,
            placeholder="e.g. fabrikam.onmicrosoft.com",
            value=tenant or None,
        )
    )
    actions: list[ac.Action] = [ac.OpenUrlAction(title="Open the consent page", url=url)] if url else []
    actions.append(execute("Check again", CheckConsent(), with_inputs=True))
    fallback = "Connect a tenant: open the consent page." if url else "Connect a tenant: not connected yet."
    return build_card(body, actions=actions, fallback_text=fallback)


def build_tenants_card(rows: Sequence[TenantRow]) -> dict[str, Any]:
    others = sum(1 for r in rows if not r.home)
    subtitle = f"{others} connected tenant{'s' if others != 1 else ''} and this deployment's own"
    body: list[ac.CardElement] = [*heading("Tenants", subtitle)]
    for row in rows:
        name = plain(row.name) + (" (this deployment's own)" if row.home else "")
        channels = f"{row.channels} channel{'s' if row.channels != 1 else ''} or chat{'s' if row.channels != 1 else ''}"
        pairs = [("Domains", _domains(row.domains)), ("Bound", channels)]
        if not row.home:
            pairs.append(
                ("Credential", "its own app (secret in the environment)" if row.own_credential else "shared app")
            )
        if row.connected_at is not None:
            by = f" by {plain(row.connected_by)}" if row.connected_by else ""
            pairs.append(("Connected", f"{row.connected_at:%Y-%m-%d}{by}"))
        body.append(ac.Container(separator=True, spacing="Medium", items=[text(name, weight="Bolder"), facts(pairs)]))
    body.append(
        text(
            "Say **use tenant** *domain* **here** in a channel or chat to bind it to a tenant, **connect a tenant** "
            "to add one, **remove tenant** *domain* to remove one.",
            size="Small",
            is_subtle=True,
        )
    )
    return build_card(body, fallback_text=f"Tenants: {len(rows)}")


def build_remove_tenant_card(row: TenantRow) -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading(f"Remove {plain(row.name)}?"),
        facts([("Domains", _domains(row.domains)), ("Tenant id", row.tenant_id)]),
        text(
            f"I stop serving it: its {row.channels} bound channel(s) or chat(s) are unbound and its alerts stop. Its "
            "requests and audit entries stay, as history. Its admins can also remove the app's consent in Entra.",
        ),
    ]
    actions = [execute("Remove", RemoveTenant(tenant_id=row.tenant_id), style="destructive")]
    return build_card(body, actions=actions, fallback_text=f"Remove {plain(row.name)}?")


def connected_message(name: str, domains: Sequence[str], binding_hint: bool = True) -> str:
    """The proactive message after a tenant was connected, and what to do next."""
    first = f" ({plain(domains[0])})" if domains else ""
    count = len(domains)
    said = f"Connected {plain(name)}{first}: {count} verified domain{'s' if count != 1 else ''}"
    if count:
        said += f" ({_domains(domains)})"
    said += "."
    if binding_hint:
        example = plain(domains[0]) if domains else "its domain"
        said += (
            f" Next: say **use tenant {example} here** in the channel or chat that works on it; its approvers are "
            "this deployment's until an operator names its own (`python app.py tenants add ... --approver-group`)."
        )
    return said
