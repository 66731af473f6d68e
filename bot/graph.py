"""The only module that talks to Microsoft Graph (msgraph-sdk + azure-identity); maps Graph errors to ours."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import httpx
import orjson
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from bot.budget import RequestBudget
from bot.clock import Clock
from bot.domain.causes import ConditionalAccessPolicy, DeletedAccount, MdmScope, PlatformRestriction, SignIn
from bot.domain.model import DirectoryNames, DirectoryUser, PolicySnapshot, TroubleshootingEvent
from bot.errors import (
    GraphAuthError,
    GraphError,
    GraphNotFoundError,
    GraphPermissionError,
    GraphThrottledError,
    GraphUnavailableError,
)
from bot.observability import Metrics

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MAX_BATCH = 20
MAX_CONCURRENT_BATCHES = 4  # $batch envelopes (or getByIds calls) in flight at once
GET_BY_IDS_MAX = 1000
USERS_PAGE_SIZE = 999
WIRE_STEPS = 8  # event-loop turns a request needs to get from httpx's send to the socket (auth, pool, h11)
EVENTS_PAGE_SIZE = 1000  # the simulated tenant's maximum; Intune pages troubleshooting events at its own size
USER_FIELDS = ("id", "userPrincipalName", "displayName", "accountEnabled", "createdDateTime")
DIRECTORY_READ = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})

# The least-privileged application permission each operation needs (said in a 403's explanation), as Microsoft's
# permissions page for the API it calls lists it (sim/permissions.py holds those pages, and a test holds the two
# together).
PERMISSIONS = {
    "read the device registration policy": "Policy.Read.DeviceConfiguration",
    "change the device registration policy": "Policy.ReadWrite.DeviceConfiguration",
    "list the package accounts": "User.Read.All",
    "check group memberships": "GroupMember.ReadBasic.All",
    # checkMemberGroups: for an app, a User permission and a Group permission together.
    "check an approver's group membership": "User.Read.All and GroupMember.Read.All",
    "resolve names": "User.Read.All (users) and GroupMember.Read.All (groups)",
    "read troubleshooting events": "DeviceManagementManagedDevices.Read.All",
    "read Conditional Access policies": "Policy.Read.All",
    "read enrollment restrictions": "DeviceManagementServiceConfig.Read.All",
    "read deleted users": "User.Read.All",
    "read sign-in logs": "AuditLog.Read.All",
    "read a Conditional Access policy": "Policy.Read.All",
    "read an enrollment restriction": "DeviceManagementServiceConfig.Read.All",
    "change an enrollment restriction": "DeviceManagementServiceConfig.ReadWrite.All",
    "change a Conditional Access policy": "Policy.ReadWrite.ConditionalAccess (with Policy.Read.All)",
    "read the MDM user scope": "Policy.Read.All (delegated: Graph offers no application permission)",
    "read your directory roles": "User.Read (delegated)",
    "read the organization": "Organization.Read.All",
}
RETRYABLE = {429, 503, 504}


WRITE_METHODS = frozenset({Method.PUT, Method.PATCH, Method.DELETE})  # every POST we send is a read


class GraphGateway(Protocol):
    async def get_policy(self) -> PolicySnapshot: ...

    async def put_policy(self, body: dict[str, Any]) -> PolicySnapshot: ...

    async def list_package_accounts(self) -> list[DirectoryUser]: ...

    async def group_user_ids(self, group_ids: Sequence[str]) -> dict[str, frozenset[str]]: ...

    async def granted_roles(self) -> frozenset[str]: ...

    async def my_directory_roles(self) -> dict[str, str]: ...

    async def resolve_names(self, user_ids: Iterable[str], group_ids: Iterable[str]) -> DirectoryNames: ...

    async def is_member(self, user_id: str, group_id: str) -> bool: ...

    async def group_member_ids(self, group_id: str) -> set[str]: ...

    def troubleshooting_event_pages(
        self, enrollment_types: Collection[str] | None = None
    ) -> AsyncIterator[list[TroubleshootingEvent]]: ...

    async def conditional_access_policies(self) -> list[ConditionalAccessPolicy]: ...

    async def platform_restrictions(self) -> list[PlatformRestriction]: ...

    async def deleted_package_accounts(self) -> list[DeletedAccount]: ...

    async def mdm_user_scope(self) -> MdmScope: ...

    async def package_sign_ins(self) -> list[SignIn]: ...

    async def get_ca_policy(self, policy_id: str) -> dict[str, Any]: ...

    async def patch_ca_policy(self, policy_id: str, body: dict[str, Any]) -> str | None: ...

    async def get_enrollment_configuration(self, configuration_id: str) -> dict[str, Any]: ...

    async def patch_enrollment_configuration(self, configuration_id: str, body: dict[str, Any]) -> str | None: ...

    async def organization(self) -> Organization: ...

    async def ping(self) -> None: ...

    def on_write(self, listener: Callable[[], None]) -> None: ...  # called after every write, whatever came of it

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Organization:
    """The tenant as GET /organization/{id} describes it: what proves access, and the names it goes by."""

    tenant_id: str
    display_name: str
    verified_domains: tuple[str, ...]  # lower case, the default domain first


def organization_from_json(item: dict[str, Any]) -> Organization:
    domains = [d for d in item.get("verifiedDomains") or [] if isinstance(d, dict) and d.get("name")]
    domains.sort(key=lambda d: not d.get("isDefault"))  # stable: Graph's order otherwise
    names = tuple(dict.fromkeys(str(d["name"]).lower() for d in domains))
    return Organization(
        tenant_id=str(item.get("id") or "").lower(),
        display_name=str(item.get("displayName") or "").strip(),
        verified_domains=names,
    )


_AADSTS = re.compile(r"\bAADSTS(\d{5,7})\b")


def aadsts_code(message: str) -> str | None:
    """The AADSTS error code Entra put in a token failure's message ("AADSTS700016"), if any."""
    match = _AADSTS.search(message or "")
    return f"AADSTS{match.group(1)}" if match else None


def token_failure(operation: str, exc: ClientAuthenticationError) -> GraphAuthError:
    message = exc.message or str(exc)
    error = GraphAuthError(f"Could not get a Microsoft Graph token to {operation}: {message}", operation=operation)
    error.code = aadsts_code(message)
    return error


async def tenant_id_of_domain(settings: GraphSettings, domain: str) -> str | None:
    """The tenant a verified domain belongs to, from Entra's public OpenID metadata for it (one GET, no token):
    the tenant id is the issuer's path. None when Entra knows no such tenant."""
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else True
    )
    url = f"{settings.authority.rstrip('/')}/{quote(domain, safe='')}/v2.0/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(verify=verify, timeout=settings.timeout) as client:
            response = await client.get(url)
    except httpx.TransportError as exc:
        raise GraphUnavailableError(
            f"Could not reach {settings.authority} to look up {domain}: {exc!r}", operation="look up a tenant"
        ) from exc
    if response.status_code >= 400:
        return None
    try:
        issuer = str(response.json().get("issuer") or "")
    except ValueError:
        return None
    parts = [p for p in urlsplit(issuer).path.split("/") if p]
    return parts[0].lower() if parts else None


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    credential: str  # "secret" | "certificate" | "managed_identity"
    client_secret: str | None
    certificate_path: str | None
    base_url: str  # e.g. https://graph.microsoft.com/v1.0
    authority: str  # e.g. https://login.microsoftonline.com
    ca_bundle: str | None
    retry_delay: float
    max_retries: int
    timeout: float
    requests_per_minute: float = 0  # this tenant's Graph request budget (bot/budget.py); 0: only Retry-After


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)  # Python 3.11 reads Graph's "Z" and 7-digit fractions
    except ValueError:
        return None


def _user_from_json(item: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(
        id=str(item["id"]),
        user_principal_name=str(item.get("userPrincipalName") or ""),
        display_name=item.get("displayName"),
        account_enabled=item.get("accountEnabled") is not False,
        created=_parse_time(item.get("createdDateTime")),
    )


def _display_name(item: dict[str, Any]) -> str:
    return str(item.get("displayName") or item.get("userPrincipalName") or item["id"])


def _ids(value: Any) -> frozenset[str]:
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def ca_policy_from_json(item: dict[str, Any]) -> ConditionalAccessPolicy:
    conditions = item.get("conditions") or {}
    users = conditions.get("users") or {}
    apps = conditions.get("applications") or {}
    grant = item.get("grantControls") or {}
    return ConditionalAccessPolicy(
        id=str(item.get("id", "")),
        name=str(item.get("displayName") or item.get("id") or "unnamed policy"),
        state=str(item.get("state", "")),
        include_users=_ids(users.get("includeUsers")),
        exclude_users=_ids(users.get("excludeUsers")),
        include_groups=_ids(users.get("includeGroups")),
        exclude_groups=_ids(users.get("excludeGroups")),
        include_applications=_ids(apps.get("includeApplications")),
        include_user_actions=_ids(apps.get("includeUserActions")),
        controls=_ids(grant.get("builtInControls")),
        strength=bool(grant.get("authenticationStrength")),
        client_app_types=_ids(conditions.get("clientAppTypes")),
        users_json=json.dumps(users, sort_keys=True),
    )


def restriction_from_json(item: dict[str, Any]) -> PlatformRestriction | None:
    """A Windows platform restriction (the v1.0 platformRestrictions configuration type), with its assigned groups."""
    if item.get("@odata.type") != "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration":
        return None
    windows = item.get("windowsRestriction") or {}
    groups = []
    for assignment in item.get("assignments") or []:
        target = (assignment or {}).get("target") or {}
        if target.get("groupId"):
            groups.append(str(target["groupId"]))
    return PlatformRestriction(
        id=str(item.get("id", "")),
        name=str(item.get("displayName") or "Default"),
        priority=int(item.get("priority") or 0),
        windows_blocked=bool(windows.get("platformBlocked")),
        personal_blocked=bool(windows.get("personalDeviceEnrollmentBlocked")),
        target_groups=frozenset(groups),
        windows_json=json.dumps(windows, sort_keys=True),
    )


def _claims_of(token: str) -> dict[str, Any]:
    """The claims of a Graph access token (our own token: read, not verified)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def roles_of(token: str) -> frozenset[str]:
    """The `roles` claim of a Graph access token: the application permissions granted."""
    roles = _claims_of(token).get("roles")
    return frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()


def signed_in_user(token: str) -> str | None:
    """The object id (`oid`) of the person a delegated Graph token was issued to."""
    oid = _claims_of(token).get("oid")
    return str(oid) if oid and is_delegated(token) else None


def is_delegated(token: str) -> bool:
    """A token for a signed-in user carries `scp`; an app's own token (client credentials) never does."""
    return bool(_claims_of(token).get("scp"))


_NEXT_LINK = b'"@odata.nextLink"'


def next_link_in(content: bytes) -> str | None:
    """The page's @odata.nextLink, read off the raw JSON without parsing the page. A JSON string cannot hold
    `"@odata.nextLink"` with bare quotes, so a hit is the annotation (callers still check the parsed page)."""
    at = content.rfind(_NEXT_LINK)
    if at < 0:
        return None
    start = content.find(b'"', content.find(b":", at + len(_NEXT_LINK)) + 1)
    end = content.find(b'"', start + 1)
    while end > 0 and content[end - 1 : end] == b"\\":
        end = content.find(b'"', end + 1)
    if start < 0 or end < 0:
        return None
    try:
        link = orjson.loads(content[start : end + 1])
    except orjson.JSONDecodeError:
        return None
    return link if isinstance(link, str) else None


def event_from_json(item: dict[str, Any]) -> TroubleshootingEvent | None:
    when = _parse_time(item.get("eventDateTime"))
    if when is None or not item.get("id"):
        return None
    get = item.get
    return TroubleshootingEvent(
        str(item["id"]),
        when,
        str(get("enrollmentType") or "unknown"),
        str(get("failureCategory") or "unknown"),
        str(get("failureReason") or ""),
        get("userId") or None,
        get("deviceId") or None,
        get("osVersion") or None,
    )


def _error_from_body(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code"), body["error"].get("message")
    return None, None


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def map_graph_failure(
    operation: str, status: int | None, code: str | None, message: str | None, headers: Any = None
) -> GraphError:
    request_id = None
    if headers:
        request_id = {k.lower(): v for k, v in dict(headers).items()}.get("request-id")
    detail = message or code or "no detail"
    error: GraphError
    if status == 401:
        error = GraphAuthError(
            f"Graph refused the app's token while trying to {operation}: {detail}", operation=operation
        )
    elif status == 403:
        error = GraphPermissionError(PERMISSIONS.get(operation, "for this operation"), operation=operation)
    elif status == 404:
        error = GraphNotFoundError(f"Graph found nothing while trying to {operation}: {detail}", operation=operation)
    elif status == 429:
        error = GraphThrottledError(
            f"Microsoft Graph kept throttling the request to {operation}, even after waiting as it asked.",
            retry_after=_retry_after(headers),
            operation=operation,
        )
    elif status is not None and status >= 500:
        error = GraphUnavailableError(
            f"Microsoft Graph is unavailable (HTTP {status}) and did not recover while trying to {operation}.",
            operation=operation,
        )
    else:
        error = GraphError(f"Graph rejected the request to {operation} (HTTP {status}): {detail}", operation=operation)
    error.status, error.code, error.request_id = status, code, request_id
    return error


class SingleFlightCredential:
    """One token request however many Graph calls want a token at once; the token reused until 5 minutes
    before it expires. azure-identity's async credentials fetch once per concurrent caller on a cold cache."""

    def __init__(self, inner: Any, refresh_margin: float = 300.0):
        self._inner = inner
        self._margin = refresh_margin
        self._tokens: dict[tuple[str, ...], AccessToken] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self.fetches = 0

    async def get_token(self, *scopes: str, claims: str | None = None, **kwargs: Any) -> AccessToken:
        if claims:  # a claims challenge (CAE) needs a fresh token made for it
            return await self._inner.get_token(*scopes, claims=claims, **kwargs)
        key = tuple(scopes)  # CAE or not, a token for the same scopes serves every Graph call
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._tokens.get(key)
            if token is None or token.expires_on - self._margin <= time.time():
                self.fetches += 1
                token = await self._inner.get_token(*scopes, **kwargs)
                self._tokens[key] = token
            return token

    async def close(self) -> None:
        await self._inner.close()


class UserTokenCredential:
    """A signed-in person's Graph token, held in memory for the one piece of work that needs it (never stored)."""

    def __init__(self, token: str, expires_on: int):
        self._token = AccessToken(token, expires_on)

    def __repr__(self) -> str:
        return "UserTokenCredential(<token withheld>)"

    async def get_token(self, *scopes: str, claims: str | None = None, **kwargs: Any) -> AccessToken:
        return self._token

    async def close(self) -> None:
        return None


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One TLS context per trust store for every tenant's gateway: each context holds its own copy of the CA
    certificates (about 0.8 MB), which 500 tenants should not repeat. Keyed by the bundle's content, so a
    bundle replaced at the same path is read again."""
    if not ca_bundle:
        return _tls_context(None, b"")
    with open(ca_bundle, "rb") as bundle:  # a few kilobytes, read when a tenant's gateway is built
        return _tls_context(ca_bundle, bundle.read())


@functools.lru_cache(maxsize=8)
def _tls_context(ca_bundle: str | None, content: bytes) -> ssl.SSLContext:
    if ca_bundle is None:
        return httpx.create_ssl_context()
    return ssl.create_default_context(cadata=content.decode("ascii", "replace"))


class MsGraphGateway:
    """GraphGateway over the real msgraph-sdk request pipeline (auth, retry with Retry-After, redirects)."""

    def __init__(
        self, settings: GraphSettings, clock: Clock, metrics: Metrics | None = None, *, credential: Any = None
    ):
        """With `credential` (a signed-in person's token, bot/signin.py) every call is made as that person."""
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        verify = tls_context(settings.ca_bundle)
        credential_kwargs: dict[str, Any] = {"authority": settings.authority}
        if settings.ca_bundle:
            credential_kwargs["connection_verify"] = settings.ca_bundle
        self._credential: Any
        if credential is not None:
            self._credential = credential
        elif settings.credential == "secret":
            self._credential = ClientSecretCredential(
                settings.tenant_id, settings.client_id, settings.client_secret or "", **credential_kwargs
            )
        elif settings.credential == "certificate":
            self._credential = CertificateCredential(
                settings.tenant_id, settings.client_id, settings.certificate_path, **credential_kwargs
            )
        else:
            self._credential = ManagedIdentityCredential(client_id=settings.client_id or None)
        self._credential = SingleFlightCredential(self._credential)
        self._batch_slots = asyncio.Semaphore(MAX_CONCURRENT_BATCHES)
        host = urlsplit(settings.base_url).hostname or "graph.microsoft.com"
        auth = AzureIdentityAuthenticationProvider(self._credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
        retry = RetryHandlerOption(delay=settings.retry_delay, max_retries=settings.max_retries)
        self._http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=verify, timeout=settings.timeout, http2=False),
            options={RetryHandlerOption.get_key(): retry},
        )
        self._adapter = GraphRequestAdapter(auth, client=self._http)
        self._adapter.base_url = settings.base_url.rstrip("/")
        self.client = GraphServiceClient(request_adapter=self._adapter)
        self._write_listeners: list[Callable[[], None]] = []
        # One budget per gateway, and one gateway per tenant: a throttled tenant waits on its own budget only.
        self.budget = RequestBudget(settings.requests_per_minute, clock)

    def on_write(self, listener: Callable[[], None]) -> None:
        self._write_listeners.append(listener)

    async def close(self) -> None:
        await self._http.aclose()
        await self._credential.close()

    # ---- raw JSON through the SDK's request adapter ---------------------------------------------
    async def _send(
        self, operation: str, method: Method, url: str, body: Any = None, *, parse: bool = True
    ) -> tuple[Any, dict[str, str]]:
        """One request through the SDK's pipeline; the JSON payload (or, without `parse`, the raw bytes of a
        successful answer) and the headers. Failures become our GraphError kinds."""
        info = RequestInformation(method, url if url.startswith("http") else "{+baseurl}" + url)
        info.path_parameters = {"baseurl": self._adapter.base_url}
        info.headers.try_add("Accept", "application/json")
        if body is not None:
            info.headers.try_add("Content-Type", "application/json")
            info.content = json.dumps(body).encode()
        await self.budget.acquire()
        span = self._adapter.start_tracing_span(info, operation)
        started = time.perf_counter()
        status = "error"
        try:
            response = await self._adapter.get_http_response_message(info, span)
            status = str(response.status_code)
        except ClientAuthenticationError as exc:
            status = "auth_error"
            raise token_failure(operation, exc) from exc
        except httpx.TransportError as exc:
            raise GraphUnavailableError(
                f"Could not reach Microsoft Graph to {operation}: {exc!r}", operation=operation
            ) from exc
        finally:
            span.end()
            self._observe(operation, status, started)
            if method in WRITE_METHODS:  # sent, refused or lost on the way: what was read before may be stale
                for listener in self._write_listeners:
                    listener()
        headers = dict(response.headers)
        if not parse and response.status_code < 400:
            return response.content, headers
        try:
            # orjson: a 1,000-event page parses in a third of the time the standard library takes
            payload = orjson.loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if response.status_code >= 400:
            code, message = _error_from_body(payload)
            error = map_graph_failure(operation, response.status_code, code, message, headers)
            if isinstance(error, GraphThrottledError):
                self.budget.pause(error.retry_after)  # still throttled after the retries: this tenant holds off
            raise error
        return payload, headers

    def _observe(self, operation: str, status: str, started: float) -> None:
        if self._metrics is not None:
            self._metrics.graph_requests.labels(operation, status).inc()
            self._metrics.graph_seconds.labels(operation).observe(time.perf_counter() - started)

    # ---- GraphGateway ---------------------------------------------------------------------------
    async def get_policy(self) -> PolicySnapshot:
        operation = "read the device registration policy"
        body, headers = await self._send(operation, Method.GET, "/policies/deviceRegistrationPolicy")
        return PolicySnapshot.from_graph(body, headers.get("request-id"))

    async def put_policy(self, body: dict[str, Any]) -> PolicySnapshot:
        # msgraph-sdk has no `put` for this singleton: send it through the SDK's request adapter.
        operation = "change the device registration policy"
        result, headers = await self._send(operation, Method.PUT, "/policies/deviceRegistrationPolicy", body)
        return PolicySnapshot.from_graph(result, headers.get("request-id"))

    async def ping(self) -> None:
        await self.token()

    async def token(self) -> str:
        try:
            return (await self._credential.get_token(GRAPH_SCOPE)).token
        except ClientAuthenticationError as exc:
            raise token_failure("get a token", exc) from exc

    async def organization(self) -> Organization:
        """The tenant's name and verified domains; reading it proves the app has access to the tenant."""
        operation = "read the organization"
        tid = quote(self._settings.tenant_id, safe="")
        query = urlencode({"$select": "id,displayName,verifiedDomains"}, quote_via=quote, safe="$")
        body, _ = await self._send(operation, Method.GET, f"/organization/{tid}?{query}")
        return organization_from_json(dict(body or {}))

    async def _pages(self, operation: str, url: str, *, prefetch: bool = False) -> AsyncIterator[list[dict[str, Any]]]:
        """The `value` of each page of a Graph collection, following @odata.nextLink: plain JSON, no SDK model
        object per item (kiota's typed models cost milliseconds per user at this scale). With `prefetch`, a
        reader task runs one page ahead, so Graph prepares the next page while the caller works on this one."""
        if not prefetch:
            next_url: str | None = url
            while next_url:
                body, _ = await self._send(operation, Method.GET, next_url)
                yield [item for item in (body or {}).get("value", []) if isinstance(item, dict)]
                next_url = (body or {}).get("@odata.nextLink")
            return
        ready: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

        def fetch(link: str) -> asyncio.Future[tuple[Any, dict[str, str]]]:
            return asyncio.ensure_future(self._send(operation, Method.GET, link, parse=False))

        async def read_ahead() -> None:
            ahead: asyncio.Future[tuple[Any, dict[str, str]]] | None = fetch(url)
            try:
                while ahead is not None:
                    content, _ = await ahead
                    # The next request goes out before this page is parsed: its link is read off the raw bytes,
                    # then checked against the parsed page (and asked again if the guess was wrong).
                    guess = next_link_in(content)
                    ahead = fetch(guess) if guess else None
                    for _ in range(WIRE_STEPS):  # let that request reach the wire
                        await asyncio.sleep(0)
                    body = orjson.loads(content) if content else {}
                    actual = body.get("@odata.nextLink") if isinstance(body, dict) else None
                    if actual != guess:
                        if ahead is not None:
                            ahead.cancel()
                        ahead = fetch(actual) if actual else None
                    await ready.put(body if isinstance(body, dict) else {})
                await ready.put(None)
            except Exception as exc:  # noqa: BLE001 - handed to the reader below, raised there
                if ahead is not None:
                    ahead.cancel()
                await ready.put(exc)

        reader = asyncio.ensure_future(read_ahead())
        try:
            while (body := await ready.get()) is not None:
                if isinstance(body, Exception):
                    raise body
                yield [item for item in body.get("value", []) if isinstance(item, dict)]
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def list_package_accounts(self) -> list[DirectoryUser]:
        # Percent-encoded here: the request adapter's URI template drops a literal comma.
        query = {
            "$filter": "startswith(userPrincipalName,'package_')",
            "$select": ",".join(USER_FIELDS),
            "$top": str(USERS_PAGE_SIZE),
        }
        url = "/users?" + urlencode(query, quote_via=quote, safe="$'()")
        users: list[DirectoryUser] = []
        async for page in self._pages("list the package accounts", url):
            users.extend(_user_from_json(item) for item in page if item.get("id"))
        return [u for u in users if u.is_package_account]

    async def _batch(self, operation: str, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Send requests in $batch envelopes of 20, a few envelopes at a time; retry throttled items after the
        longest Retry-After they asked for."""
        results: dict[str, dict[str, Any]] = {}
        pending = list(requests)
        attempt = 0
        while pending:
            retry: list[dict[str, Any]] = []
            waits: list[float] = []
            chunks = [pending[i : i + MAX_BATCH] for i in range(0, len(pending), MAX_BATCH)]
            bodies = await asyncio.gather(*(self._envelope(operation, c) for c in chunks))
            for body, chunk in zip(bodies, chunks, strict=True):
                by_id = {r["id"]: r for r in chunk}
                for response in (body or {}).get("responses", []):
                    status = int(response.get("status", 500))
                    if status in RETRYABLE and attempt < self._settings.max_retries:
                        retry.append(by_id[response["id"]])
                        after = _retry_after(response.get("headers"))
                        waits.append(after if after is not None else self._settings.retry_delay * 2**attempt)
                    else:
                        results[response["id"]] = response
            pending = retry
            if pending:
                attempt += 1
                wait = max(waits, default=0.0)
                log.info("graph batch: %d throttled items, retrying in %.2fs", len(pending), wait)
                await self._clock.sleep(wait)
        return results

    async def _envelope(self, operation: str, chunk: list[dict[str, Any]]) -> Any:
        async with self._batch_slots:
            body, _ = await self._send(operation, Method.POST, "/$batch", {"requests": chunk})
        return body

    def _relative(self, url: str) -> str:
        """A nextLink made relative to the version root, as requests inside a $batch must be."""
        base = self._adapter.base_url.rstrip("/")
        return url[len(base) :] if url.startswith(base) else url

    async def group_user_ids(self, group_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """The users in each group, directly or through nested groups: one paged listing per group (999 a
        page), the groups' pages sent 20 to a $batch. A deleted group has no members."""
        operation = "check group memberships"
        found: dict[str, set[str]] = {g: set() for g in dict.fromkeys(group_ids)}
        pending = {g: f"/groups/{g}/transitiveMembers/microsoft.graph.user?$select=id&$top=999" for g in found}
        while pending:
            keys = list(pending)
            requests = [{"id": str(i), "method": "GET", "url": pending[g]} for i, g in enumerate(keys)]
            pending = {}
            for request_id, response in (await self._batch(operation, requests)).items():
                group = keys[int(request_id)]
                status = int(response.get("status", 500))
                if status == 404:
                    continue
                body = response.get("body") or {}
                if status >= 400:
                    code, message = _error_from_body(body)
                    raise map_graph_failure(operation, status, code, message, response.get("headers"))
                members = body.get("value", [])
                found[group].update(str(m["id"]) for m in members if isinstance(m, dict) and m.get("id"))
                if body.get("@odata.nextLink"):
                    pending[group] = self._relative(str(body["@odata.nextLink"]))
        return {g: frozenset(members) for g, members in found.items()}

    async def is_member(self, user_id: str, group_id: str) -> bool:
        """Transitive membership, checked at the moment someone acts (never cached)."""
        operation = "check an approver's group membership"
        try:
            body, _ = await self._send(
                operation, Method.POST, f"/users/{user_id}/checkMemberGroups", {"groupIds": [group_id]}
            )
        except GraphNotFoundError:
            return False
        return group_id in (body or {}).get("value", [])

    async def group_member_ids(self, group_id: str) -> set[str]:
        """Every user in the group, directly or through nested groups."""
        operation = "check group memberships"
        url: str | None = f"/groups/{group_id}/transitiveMembers?$select=id"
        found: set[str] = set()
        while url:
            body, _ = await self._send(operation, Method.GET, url)
            for member in (body or {}).get("value", []):
                if member.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user":
                    found.add(str(member["id"]))
            url = (body or {}).get("@odata.nextLink")
        return found

    async def resolve_names(self, user_ids: Iterable[str], group_ids: Iterable[str]) -> DirectoryNames:
        """Display names: with Directory.Read.All, directoryObjects/getByIds (1,000 ids a call); without it (the
        least privilege this app asks for), the users and groups read 20 to a $batch."""
        users, groups = list(dict.fromkeys(user_ids)), list(dict.fromkeys(group_ids))
        if not users and not groups:
            return DirectoryNames()
        if DIRECTORY_READ & await self.granted_roles():
            return await self._names_by_ids([*users, *groups])
        operation = "resolve names"
        requests = [
            {"id": f"u{i}", "method": "GET", "url": f"/users/{uid}?$select=id,displayName,userPrincipalName"}
            for i, uid in enumerate(users)
        ]
        requests += [
            {"id": f"g{i}", "method": "GET", "url": f"/groups/{gid}?$select=id,displayName"}
            for i, gid in enumerate(groups)
        ]
        names: dict[str, str] = {}
        for response in (await self._batch(operation, requests)).values():
            body = response.get("body") or {}
            status = int(response.get("status", 500))
            if status == 200 and body.get("id"):
                names[str(body["id"])] = _display_name(body)
            elif status == 403:
                code, message = _error_from_body(body)
                raise map_graph_failure(operation, 403, code, message, response.get("headers"))
            else:
                log.warning("could not resolve a directory name: HTTP %s", status)
        return DirectoryNames(names)

    async def _names_by_ids(self, ids: list[str]) -> DirectoryNames:
        async def chunk(part: list[str]) -> list[dict[str, Any]]:
            async with self._batch_slots:
                request = {"ids": part, "types": ["user", "group"]}
                body, _ = await self._send("resolve names", Method.POST, "/directoryObjects/getByIds", request)
            return [o for o in (body or {}).get("value", []) if isinstance(o, dict) and o.get("id")]

        parts = [ids[i : i + GET_BY_IDS_MAX] for i in range(0, len(ids), GET_BY_IDS_MAX)]
        found = await asyncio.gather(*(chunk(part) for part in parts))
        return DirectoryNames({str(o["id"]): _display_name(o) for part in found for o in part})

    async def my_directory_roles(self) -> dict[str, str]:
        """The signed-in person's active directory roles (template id -> name); delegated only (User.Read)."""
        url = "/me/transitiveMemberOf/microsoft.graph.directoryRole?$select=displayName,roleTemplateId"
        found: dict[str, str] = {}
        async for page in self._pages("read your directory roles", url):
            for role in page:
                if role.get("roleTemplateId"):
                    found[str(role["roleTemplateId"])] = str(role.get("displayName") or role["roleTemplateId"])
        return found

    async def granted_roles(self) -> frozenset[str]:
        """The application permissions the app's Graph token carries (its `roles` claim)."""
        return roles_of(await self.token())

    async def conditional_access_policies(self) -> list[ConditionalAccessPolicy]:
        found: list[ConditionalAccessPolicy] = []
        async for page in self._pages("read Conditional Access policies", "/identity/conditionalAccess/policies"):
            found.extend(ca_policy_from_json(item) for item in page)
        return found

    async def platform_restrictions(self) -> list[PlatformRestriction]:
        url = "/deviceManagement/deviceEnrollmentConfigurations?$expand=assignments"
        found: list[PlatformRestriction] = []
        async for page in self._pages("read enrollment restrictions", url):
            found.extend(r for item in page if (r := restriction_from_json(item)) is not None)
        return found

    async def deleted_package_accounts(self) -> list[DeletedAccount]:
        """Deleted users whose name holds package_: a deleted user's UPN is prefixed with its id (no dashes), so
        a startswith filter cannot find them; the list is read with the few fields needed and matched here."""
        query = {"$select": "id,userPrincipalName,deletedDateTime", "$top": "999"}
        url = "/directory/deletedItems/microsoft.graph.user?" + urlencode(query, quote_via=quote, safe="$")
        found: list[DeletedAccount] = []
        async for page in self._pages("read deleted users", url):
            for item in page:
                upn = str(item.get("userPrincipalName") or "")
                if "package_" in upn.lower():
                    found.append(DeletedAccount(str(item.get("id", "")), upn, _parse_time(item.get("deletedDateTime"))))
        return found

    async def get_ca_policy(self, policy_id: str) -> dict[str, Any]:
        body, _ = await self._send(
            "read a Conditional Access policy", Method.GET, f"/identity/conditionalAccess/policies/{quote(policy_id)}"
        )
        return dict(body or {})

    async def patch_ca_policy(self, policy_id: str, body: dict[str, Any]) -> str | None:
        """PATCH one policy; Graph answers 204 with no body. The request id comes from the headers."""
        _, headers = await self._send(
            "change a Conditional Access policy",
            Method.PATCH,
            f"/identity/conditionalAccess/policies/{quote(policy_id)}",
            body,
        )
        return {k.lower(): v for k, v in headers.items()}.get("request-id")

    async def get_enrollment_configuration(self, configuration_id: str) -> dict[str, Any]:
        path = f"/deviceManagement/deviceEnrollmentConfigurations/{quote(configuration_id)}"
        body, _ = await self._send("read an enrollment restriction", Method.GET, path)
        return dict(body or {})

    async def patch_enrollment_configuration(self, configuration_id: str, body: dict[str, Any]) -> str | None:
        path = f"/deviceManagement/deviceEnrollmentConfigurations/{quote(configuration_id)}"
        _, headers = await self._send("change an enrollment restriction", Method.PATCH, path, body)
        return {k.lower(): v for k, v in headers.items()}.get("request-id")

    async def package_sign_ins(self, limit: int = 200) -> list[SignIn]:
        """The newest sign-ins of package accounts (one page: evidence, not an audit)."""
        query = {"$filter": "startswith(userPrincipalName,'package_')", "$top": str(limit)}
        url = "/auditLogs/signIns?" + urlencode(query, quote_via=quote, safe="$'()")
        body, _ = await self._send("read sign-in logs", Method.GET, url)
        found: list[SignIn] = []
        for item in (body or {}).get("value", []):
            status = item.get("status") or {}
            policies = tuple(
                str(p.get("displayName"))
                for p in item.get("appliedConditionalAccessPolicies") or []
                if isinstance(p, dict) and p.get("result") == "failure" and p.get("displayName")
            )
            code = status.get("errorCode")
            if isinstance(code, int):
                found.append(
                    SignIn(str(item.get("userId", "")), str(item.get("userPrincipalName", "")), code, policies)
                )
        return found

    async def mdm_user_scope(self) -> MdmScope:
        """Beta, delegated permissions only: Graph refuses every app-only token (403), so with one the bot does
        not ask (a round trip per diagnosis that can only fail) and says so the same way."""
        operation = "read the MDM user scope"
        if not is_delegated(await self.token()):
            raise GraphPermissionError(PERMISSIONS[operation], operation=operation)
        base = self._adapter.base_url.rstrip("/")
        beta = base[: -len("/v1.0")] + "/beta" if base.endswith("/v1.0") else base
        body, _ = await self._send(
            "read the MDM user scope",
            Method.GET,
            f"{beta}/policies/mobileDeviceManagementPolicies?$expand=includedGroups",
        )
        for item in (body or {}).get("value", []):
            if str(item.get("displayName", "")).lower().startswith("microsoft intune"):
                groups = frozenset(str(g.get("id")) for g in item.get("includedGroups") or [] if g.get("id"))
                return MdmScope(str(item.get("appliesTo", "none")), groups)
        return MdmScope("none")

    async def troubleshooting_event_pages(
        self, enrollment_types: Collection[str] | None = None
    ) -> AsyncIterator[list[TroubleshootingEvent]]:
        """Every page of Intune's enrollment troubleshooting events, optionally only some enrollment types
        (skipped before they become domain objects). Graph documents no $filter or $orderby for this list, so
        it is read whole; $top asks for the largest pages."""
        url = f"/deviceManagement/troubleshootingEvents?$top={EVENTS_PAGE_SIZE}"
        async for page in self._pages("read troubleshooting events", url, prefetch=True):
            events = []
            for item in page:
                if enrollment_types is None or item.get("enrollmentType") in enrollment_types:
                    event = event_from_json(item)
                    if event is not None:
                        events.append(event)
            yield events
