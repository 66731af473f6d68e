"""The only module that talks to Microsoft Graph (msgraph-sdk + azure-identity); maps Graph errors to ours."""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory

from bot.clock import Clock
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
MAX_GROUPS_PER_CHECK = 20
USERS_PAGE_SIZE = 999

# The least-privileged application permission each operation needs (said in a 403's explanation).
PERMISSIONS = {
    "read the device registration policy": "Policy.Read.DeviceConfiguration",
    "change the device registration policy": "Policy.ReadWrite.DeviceConfiguration",
    "list the package accounts": "User.Read.All",
    "check group memberships": "GroupMember.Read.All",
    "resolve names": "User.Read.All",
    "read troubleshooting events": "DeviceManagementManagedDevices.Read.All",
}
RETRYABLE = {429, 503, 504}


class GraphGateway(Protocol):
    async def get_policy(self) -> PolicySnapshot: ...

    async def put_policy(self, body: dict[str, Any]) -> PolicySnapshot: ...

    async def list_package_accounts(self) -> list[DirectoryUser]: ...

    async def group_memberships(
        self, user_ids: Sequence[str], group_ids: Sequence[str]
    ) -> dict[str, frozenset[str]]: ...

    async def resolve_names(self, user_ids: Iterable[str], group_ids: Iterable[str]) -> DirectoryNames: ...

    async def is_member(self, user_id: str, group_id: str) -> bool: ...

    async def group_member_ids(self, group_id: str) -> set[str]: ...

    def troubleshooting_event_pages(self) -> AsyncIterator[list[TroubleshootingEvent]]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


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


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
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


def event_from_json(item: dict[str, Any]) -> TroubleshootingEvent | None:
    when = _parse_time(item.get("eventDateTime"))
    if when is None or not item.get("id"):
        return None
    return TroubleshootingEvent(
        id=str(item["id"]),
        time=when,
        enrollment_type=str(item.get("enrollmentType") or "unknown"),
        failure_category=str(item.get("failureCategory") or "unknown"),
        failure_reason=str(item.get("failureReason") or ""),
        user_id=item.get("userId") or None,
        device_id=item.get("deviceId") or None,
        os_version=item.get("osVersion") or None,
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


class MsGraphGateway:
    """GraphGateway over the real msgraph-sdk request pipeline (auth, retry with Retry-After, redirects)."""

    def __init__(self, settings: GraphSettings, clock: Clock, metrics: Metrics | None = None):
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle:
            verify = ssl.create_default_context(cafile=settings.ca_bundle)
        credential_kwargs: dict[str, Any] = {"authority": settings.authority}
        if settings.ca_bundle:
            credential_kwargs["connection_verify"] = settings.ca_bundle
        self._credential: Any
        if settings.credential == "secret":
            self._credential = ClientSecretCredential(
                settings.tenant_id, settings.client_id, settings.client_secret or "", **credential_kwargs
            )
        elif settings.credential == "certificate":
            self._credential = CertificateCredential(
                settings.tenant_id, settings.client_id, settings.certificate_path, **credential_kwargs
            )
        else:
            self._credential = ManagedIdentityCredential(client_id=settings.client_id or None)
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

    async def close(self) -> None:
        await self._http.aclose()
        await self._credential.close()

    # ---- raw JSON through the SDK's request adapter ---------------------------------------------
    async def _send(self, operation: str, method: Method, url: str, body: Any = None) -> tuple[Any, dict[str, str]]:
        info = RequestInformation(method, url if url.startswith("http") else "{+baseurl}" + url)
        info.path_parameters = {"baseurl": self._adapter.base_url}
        info.headers.try_add("Accept", "application/json")
        if body is not None:
            info.headers.try_add("Content-Type", "application/json")
            info.content = json.dumps(body).encode()
        span = self._adapter.start_tracing_span(info, operation)
        started = time.perf_counter()
        status = "error"
        try:
            response = await self._adapter.get_http_response_message(info, span)
            status = str(response.status_code)
        except ClientAuthenticationError as exc:
            status = "auth_error"
            raise GraphAuthError(
                f"Could not get a Microsoft Graph token to {operation}: {exc.message}", operation=operation
            ) from exc
        except httpx.TransportError as exc:
            raise GraphUnavailableError(
                f"Could not reach Microsoft Graph to {operation}: {exc!r}", operation=operation
            ) from exc
        finally:
            span.end()
            self._observe(operation, status, started)
        headers = dict(response.headers)
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        if response.status_code >= 400:
            code, message = _error_from_body(payload)
            raise map_graph_failure(operation, response.status_code, code, message, headers)
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
        return (await self._credential.get_token(GRAPH_SCOPE)).token

    async def list_package_accounts(self) -> list[DirectoryUser]:
        operation = "list the package accounts"
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="startswith(userPrincipalName,'package_')",
            select=["id", "userPrincipalName", "displayName", "accountEnabled", "createdDateTime"],
            top=USERS_PAGE_SIZE,
        )
        config = RequestConfiguration(query_parameters=query)
        users: list[DirectoryUser] = []
        started = time.perf_counter()
        status = "200"
        try:
            page = await self.client.users.get(request_configuration=config)
            while page is not None:
                for user in page.value or []:
                    users.append(
                        DirectoryUser(
                            id=str(user.id),
                            user_principal_name=user.user_principal_name or "",
                            display_name=user.display_name,
                            account_enabled=user.account_enabled is not False,
                            created=user.created_date_time,
                        )
                    )
                if not page.odata_next_link:
                    break
                page = await self.client.users.with_url(page.odata_next_link).get()
        except ODataError as exc:
            error = exc.error
            status = str(exc.response_status_code)
            raise map_graph_failure(
                operation,
                exc.response_status_code,
                error.code if error else None,
                error.message if error else None,
                exc.response_headers,
            ) from exc
        except APIError as exc:
            status = str(exc.response_status_code)
            raise map_graph_failure(
                operation, exc.response_status_code, None, exc.message, exc.response_headers
            ) from exc
        except ClientAuthenticationError as exc:
            status = "auth_error"
            raise GraphAuthError(
                f"Could not get a Microsoft Graph token to {operation}: {exc.message}", operation=operation
            ) from exc
        except httpx.TransportError as exc:
            status = "error"
            raise GraphUnavailableError(f"Could not reach Microsoft Graph: {exc!r}", operation=operation) from exc
        finally:
            self._observe(operation, status, started)
        return [u for u in users if u.is_package_account]

    async def _batch(self, operation: str, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Send requests in $batch envelopes of 20; retry throttled items after the longest Retry-After."""
        results: dict[str, dict[str, Any]] = {}
        pending = list(requests)
        attempt = 0
        while pending:
            retry: list[dict[str, Any]] = []
            wait = 0.0
            for start in range(0, len(pending), MAX_BATCH):
                chunk = pending[start : start + MAX_BATCH]
                body, _ = await self._send(operation, Method.POST, "/$batch", {"requests": chunk})
                by_id = {r["id"]: r for r in chunk}
                for response in (body or {}).get("responses", []):
                    status = int(response.get("status", 500))
                    if status in RETRYABLE and attempt < self._settings.max_retries:
                        retry.append(by_id[response["id"]])
                        after = _retry_after(response.get("headers"))
                        wait = max(wait, after if after is not None else self._settings.retry_delay * 2**attempt)
                    else:
                        results[response["id"]] = response
            pending = retry
            if pending:
                attempt += 1
                log.info("graph batch: %d throttled items, retrying in %.2fs", len(pending), wait)
                await self._clock.sleep(wait)
        return results

    async def group_memberships(self, user_ids: Sequence[str], group_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        operation = "check group memberships"
        if not user_ids or not group_ids:
            return {}
        chunks = [list(group_ids[i : i + MAX_GROUPS_PER_CHECK]) for i in range(0, len(group_ids), MAX_GROUPS_PER_CHECK)]
        requests = []
        owners: dict[str, str] = {}
        for u_index, user_id in enumerate(user_ids):
            for c_index, chunk in enumerate(chunks):
                request_id = f"{u_index}.{c_index}"
                owners[request_id] = user_id
                requests.append(
                    {
                        "id": request_id,
                        "method": "POST",
                        "url": f"/users/{user_id}/checkMemberGroups",
                        "headers": {"Content-Type": "application/json"},
                        "body": {"groupIds": chunk},
                    }
                )
        results = await self._batch(operation, requests)
        memberships: dict[str, set[str]] = {u: set() for u in user_ids}
        for request_id, response in results.items():
            status = int(response.get("status", 500))
            if status == 404:
                continue  # deleted between the listing and the check: a member of nothing
            if status >= 400:
                code, message = _error_from_body(response.get("body"))
                raise map_graph_failure(operation, status, code, message, response.get("headers"))
            memberships[owners[request_id]].update((response.get("body") or {}).get("value", []))
        return {u: frozenset(g) for u, g in memberships.items()}

    async def is_member(self, user_id: str, group_id: str) -> bool:
        """Transitive membership, checked at the moment someone acts (never cached)."""
        operation = "check group memberships"
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
        operation = "resolve names"
        requests = [
            {"id": f"u{i}", "method": "GET", "url": f"/users/{uid}?$select=id,displayName,userPrincipalName"}
            for i, uid in enumerate(dict.fromkeys(user_ids))
        ] + [
            {"id": f"g{i}", "method": "GET", "url": f"/groups/{gid}?$select=id,displayName"}
            for i, gid in enumerate(dict.fromkeys(group_ids))
        ]
        if not requests:
            return DirectoryNames()
        results = await self._batch(operation, requests)
        names: dict[str, str] = {}
        for response in results.values():
            body = response.get("body") or {}
            if int(response.get("status", 500)) == 200 and body.get("id"):
                names[str(body["id"])] = str(body.get("displayName") or body.get("userPrincipalName") or body["id"])
            else:
                log.warning("could not resolve a directory name: HTTP %s %s", response.get("status"), body)
        return DirectoryNames(names)

    async def troubleshooting_event_pages(self) -> AsyncIterator[list[TroubleshootingEvent]]:
        operation = "read troubleshooting events"
        url: str | None = "/deviceManagement/troubleshootingEvents"
        while url:
            body, _ = await self._send(operation, Method.GET, url)
            events = [e for e in (event_from_json(item) for item in (body or {}).get("value", [])) if e]
            yield events
            url = (body or {}).get("@odata.nextLink")
