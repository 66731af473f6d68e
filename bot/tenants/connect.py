"""Connecting a customer tenant: the admin-consent link, the check that the consent landed (a token for that tenant),
then a read that proves access (GET /organization), and only then the registry's record.

Used by the Teams flow ("connect a tenant", the /consent redirect, "Check again") and by `python app.py tenants add`;
every failure is a ConnectError whose message is one line saying what to do.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bot.clock import Clock
from bot.errors import BotError, GraphAuthError, GraphError, GraphPermissionError, GraphUnavailableError
from bot.graph import GraphGateway, GraphSettings, Organization, tenant_id_of_domain
from bot.settings import Settings
from bot.storage.base import AuditEntry, Storage
from bot.tenants.registry import CHANGE_KINDS, DOMAIN, GUID, SHARED, TenantRecord, TenantRecordError
from cards.common import plain
from cards.tenants import connected_message

log = logging.getLogger(__name__)

STATE_LIFETIME = timedelta(minutes=30)  # a consent link works this long, once
GENERIC = "organizations"  # the administrator's sign-in names the tenant
MANAGED_IDENTITY = (
    "The deployment reads Graph with a managed identity, which works in its own tenant only: register a multi-tenant "
    "app (README, Many tenants), or give the tenant its own app (--credential env:TENANT_SECRET_<NAME>)."
)

GatewayFor = Callable[[GraphSettings], GraphGateway]
Store = Callable[[TenantRecord], Awaitable[TenantRecord]]
IsApprover = Callable[[str], Awaitable[bool]]
Announce = Callable[[dict[str, Any], str], Awaitable[None]]  # (conversation reference, Markdown text)


class ConnectError(BotError):
    """Why a tenant could not be connected, in one line; nothing was stored."""

    def __init__(self, message: str, consent_url: str | None = None):
        super().__init__(message)
        self.message = message
        self.consent_url = consent_url


@dataclass(frozen=True)
class ConsentLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class ConsentAnswer:
    """What the browser that came back from the consent page is told (plain text: the page escapes it)."""

    status: int
    title: str
    message: str


@dataclass(frozen=True)
class Asker:
    """Who asked for a consent link, and where to say how it went."""

    user_id: str
    user_name: str
    conversation_id: str
    reference: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "userName": self.user_name,
            "conversationId": self.conversation_id,
            "reference": self.reference,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Asker:
        return cls(
            str(data.get("userId") or ""),
            str(data.get("userName") or "someone"),
            str(data.get("conversationId") or ""),
            dict(data.get("reference") or {}),
        )


def _configured(record: TenantRecord) -> bool:
    """A record that says more than a tenant's name and where its credential comes from."""
    return bool(
        record.approver_user_ids
        or record.approver_group_id
        or record.admin_channel_id
        or record.allowed_changes != CHANGE_KINDS
        or record.alert_min_count is not None
        or record.alert_factor is not None
        or record.credential != SHARED
    )


def state_hash(state: str) -> str:
    """Only a hash of a state is stored: a database reader cannot complete someone else's consent."""
    return hashlib.sha256(state.encode()).hexdigest()


def parse_tenant(value: str) -> str:
    """A tenant id (GUID) or a domain name, lower case; ConnectError for anything else."""
    named = value.strip().lower().rstrip(".")
    if GUID.match(named) or DOMAIN.match(named):
        return named
    shown = value.strip()[:80]
    raise ConnectError(f"{shown!r} is neither a tenant id (a GUID) nor a domain name like contoso.onmicrosoft.com")


class TenantConnector:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        clock: Clock,
        gateway_for: GatewayFor,
        store: Store,
        *,
        is_approver: IsApprover | None = None,
        announce: Announce | None = None,
    ):
        """`gateway_for` builds a Graph gateway for one tenant's settings; `store` validates and saves the record
        (Tenants.add in the running bot, so every replica's registry follows). In the bot, `is_approver` checks the
        asker again when the consent comes back, and `announce` posts the outcome where they asked."""
        self._settings = settings
        self._storage = storage
        self._clock = clock
        self._gateway_for = gateway_for
        self._store = store
        self._is_approver = is_approver
        self._announce = announce

    async def record(
        self, action: str, tenant_id: str, actor_id: str | None, actor_name: str | None, **data: Any
    ) -> None:
        """An audit entry about a tenant of the registry (not about the tenant the conversation is in)."""
        await self._storage.append_audit(
            AuditEntry(
                at=self._clock.now(),
                action=action,
                actor_id=actor_id,
                actor_name=actor_name,
                tenant_id=tenant_id,
                data=data,
            )
        )

    # ---- the link ---------------------------------------------------------------------------------
    def consent_url(self, tenant: str = GENERIC, *, state: str | None = None, client_id: str | None = None) -> str:
        """Entra's admin-consent URL for the deployment's multi-tenant app (or a tenant's own app)."""
        query = {"client_id": client_id or self._settings.graph.client_id}
        if self._settings.public_url:
            query["redirect_uri"] = f"{self._settings.public_url}/consent"
        if state:
            query["state"] = state
        return f"{self._settings.graph.authority}/{tenant}/adminconsent?{urlencode(query)}"

    def why_not(self, *, redirect: bool = True) -> str | None:
        """Why this deployment cannot connect tenants from Teams (with the consent page's way back, `redirect`)."""
        if self._settings.apply_as == "approver":
            return "APPLY_AS=approver serves the deployment's own tenant only: an approver signs in to one directory."
        if self._settings.graph.credential == "managed_identity":
            return MANAGED_IDENTITY
        if redirect and not self._settings.public_url:
            return (
                "PUBLIC_URL is not set, so admin consent cannot come back to me: an operator sets PUBLIC_URL, or "
                "connects the tenant with `python app.py tenants add --tenant-id <GUID>`."
            )
        return None

    async def begin(self, asker: Asker, tenant: str = GENERIC) -> ConsentLink:
        """A consent link bound to this person and conversation: its state is random, single-use and expires."""
        state = secrets.token_urlsafe(32)
        expires = self._clock.now() + STATE_LIFETIME
        await self._storage.save_consent_state(state_hash(state), asker.to_json(), expires)
        return ConsentLink(self.consent_url(tenant, state=state), expires)

    async def take(self, state: str) -> Asker | None:
        """The asker of a consent link, once; None for a state that is unknown, used or expired."""
        if not state or len(state) > 200:
            return None
        data = await self._storage.take_consent_state(state_hash(state), self._clock.now())
        return Asker.from_json(data) if data is not None else None

    # ---- the checks ---------------------------------------------------------------------------------
    async def resolve(self, named: str) -> str:
        """A tenant id from a tenant id or one of its verified domains (Entra's public metadata for the domain)."""
        value = parse_tenant(named)
        if GUID.match(value):
            return value
        for record in await self._storage.list_tenants():
            if value in record.domains:
                return record.tenant_id
        try:
            found = await tenant_id_of_domain(self._settings.graph, value)
        except GraphUnavailableError as exc:
            raise ConnectError(
                f"Could not look up {value}: {exc.message} Give the tenant id (a GUID) instead."
            ) from exc
        if found is None or not GUID.match(found):
            raise ConnectError(f"No tenant has the verified domain {value}: check the spelling, or give the tenant id.")
        return found

    async def probe(self, record: TenantRecord) -> Organization:
        """A token for the tenant (the consent landed), then GET /organization (the access works)."""
        settings = self._settings.for_tenant(record)
        if record.credential != SHARED and not settings.graph.client_secret:
            name = record.credential.removeprefix("env:")
            raise ConnectError(f"{name} is not set in the environment: set it (or a Key Vault reference) and restart.")
        consent = self.consent_url(
            record.tenant_id, client_id=record.client_id if record.credential != SHARED else None
        )
        gateway = self._gateway_for(settings.graph)
        try:
            try:
                await gateway.ping()
            except GraphAuthError as exc:
                raise self._token_refused(exc, record, consent) from exc
            try:
                organization = await gateway.organization()
            except GraphPermissionError as exc:
                raise ConnectError(
                    f"Consent landed in {record.tenant_id}, but the app cannot read the organization "
                    f"({exc.permission}): grant admin consent again at {consent}",
                    consent,
                ) from exc
            except GraphError as exc:
                raise ConnectError(f"Could not read {record.tenant_id}'s organization: {exc.message}") from exc
        finally:
            await gateway.close()
        if organization.tenant_id != record.tenant_id:
            raise ConnectError(f"Graph answered for tenant {organization.tenant_id}, not {record.tenant_id}.")
        return organization

    def _token_refused(self, exc: GraphAuthError, record: TenantRecord, consent: str) -> ConnectError:
        tid = record.tenant_id
        if exc.code == "AADSTS700016":
            return ConnectError(
                f"Tenant {tid} has not consented to the app: an administrator of that tenant opens {consent} "
                "and accepts, then try again.",
                consent,
            )
        if exc.code in ("AADSTS7000215", "AADSTS7000222", "AADSTS7000216"):
            source = record.credential.removeprefix("env:") if record.credential != SHARED else "GRAPH_CLIENT_SECRET"
            return ConnectError(f"The app's secret was refused by tenant {tid} (wrong or expired): check {source}.")
        if exc.code in ("AADSTS90002", "AADSTS900023", "AADSTS90072"):
            return ConnectError(f"Entra knows no tenant {tid}: check the tenant id.")
        return ConnectError(f"Could not get a token for tenant {tid}: {exc.message}")

    async def connect(
        self, record: TenantRecord, *, by: str | None, by_id: str | None = None, check: bool = True
    ) -> TenantRecord:
        """Prove access (unless told not to), then store the record with the organization's name and domains."""
        try:
            checked = replace(record, display_name=record.display_name or record.tenant_id).validated()
        except TenantRecordError as exc:
            raise ConnectError(str(exc)) from exc
        home = checked.tenant_id == self._settings.tenant_id.lower()
        if not home and checked.credential == SHARED and self._settings.graph.credential == "managed_identity":
            raise ConnectError(MANAGED_IDENTITY)
        if home and _configured(checked):
            # Always served, from the environment: only its name and verified domains (matched to pasted package
            # accounts) are kept from a record.
            raise ConnectError(
                "That is this deployment's own tenant (GRAPH_TENANT_ID): its approvers, channel, change kinds and "
                "thresholds come from the environment; only its name and domains are read and kept."
            )
        filled = checked
        if check:
            organization = await self.probe(checked)
            named = record.display_name or organization.display_name or checked.tenant_id
            filled = replace(checked, display_name=named, domains=organization.verified_domains)
        filled = replace(filled, connected_by=by, connected_at=self._clock.now())
        try:
            stored = await self._store(filled)
        except (TenantRecordError, BotError) as exc:
            raise ConnectError(str(exc)) from exc
        await self.record(
            "tenant_connected",
            stored.tenant_id,
            by_id,
            by,
            displayName=stored.display_name,
            domains=list(stored.domains),
            checked=check,
        )
        return stored

    # ---- the way back from the consent page ---------------------------------------------------------
    async def finish(self, query: Mapping[str, str]) -> ConsentAnswer:
        """GET /consent: the state first (unknown, used or expired: nothing happens), then the outcome Entra
        reports, then the consent's proof (a token, then GET /organization), then the record. Whatever came of it
        is posted where the link was asked for."""
        asker = await self.take(query.get("state", ""))
        if asker is None:
            return ConsentAnswer(
                400,
                "This consent link cannot be used",
                "It was already used, has expired (a link works for 30 minutes), or was not made by this bot. Ask the "
                "bot for a new one in Teams: connect a tenant.",
            )
        answer, said = await self._finish_for(asker, query)
        if self._announce is not None and asker.reference:
            try:
                await self._announce(asker.reference, said)
            except Exception:  # noqa: BLE001 - the browser still gets its answer; the failure is logged
                log.warning("consent: could not tell %s how it went", asker.conversation_id, exc_info=True)
        return answer

    async def _finish_for(self, asker: Asker, query: Mapping[str, str]) -> tuple[ConsentAnswer, str]:
        if query.get("error"):
            why = query.get("error_description") or query["error"]
            message = f"The administrator did not grant consent: {why}"
            return ConsentAnswer(200, "Consent was not granted", message), plain(message, 500)
        if self._is_approver is not None and not await self._is_approver(asker.user_id):
            message = f"{asker.user_name} is no longer an approver of this deployment, so nothing was connected."
            return ConsentAnswer(403, "Not connected", message), plain(message, 500)
        tenant = query.get("tenant", "").strip().lower()
        if not GUID.match(tenant) or query.get("admin_consent", "").lower() != "true":
            message = "The consent page did not say which tenant consented, so nothing was connected."
            return ConsentAnswer(400, "Not connected", message), plain(message, 500)
        try:
            record = await self.connect(
                TenantRecord(tenant_id=tenant, display_name=""), by=asker.user_name, by_id=asker.user_id
            )
        except ConnectError as exc:
            message = f"Tenant {tenant} was not connected: {exc.message}"
            return ConsentAnswer(200, "Not connected", message), plain(message, 700)
        domains = ", ".join(record.domains[:3]) or "no verified domains"
        page = f"{record.display_name} ({domains}) is connected. You can close this page and go back to Teams."
        return ConsentAnswer(200, f"Connected {record.display_name}", page), connected_message(
            record.display_name, record.domains
        )
