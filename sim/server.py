"""The simulated tenants over HTTP: Entra's token and admin-consent endpoints, Microsoft Graph routes, and a control
API. One server holds any number of tenants, as Entra ID and Graph do: a token is issued by the tenant its URL names,
and each Graph request is answered by the tenant its bearer token's `tid` names."""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from sim import delegated, token_service
from sim.metadata import CA_SCHEMA_ERROR, DIRECTORY, SERVICE, expand_of, metadata, select_of
from sim.permissions import authorize_app
from sim.tenant import (
    GRAPH_SCOPE,
    App,
    Fault,
    GraphFailure,
    Tenant,
    filter_property,
    issue_token,
    parse_user_filter,
    read_token,
    user_matches,
    utcnow,
)

MAX_BATCH = 20
DEFAULT_USERS_PAGE = 100
MAX_USERS_PAGE = 999
DEFAULT_EVENTS_PAGE = 50
MAX_EVENTS_PAGE = 1000


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    pattern: re.Pattern[str]


ROUTES = [
    Route("policy.get", "GET", re.compile(r"^policies/deviceRegistrationPolicy$")),
    Route("policy.put", "PUT", re.compile(r"^policies/deviceRegistrationPolicy$")),
    Route("users.list", "GET", re.compile(r"^users$")),
    Route("users.get", "GET", re.compile(r"^users/(?P<id>[^/]+)$")),
    Route(
        "users.checkMemberGroups", "POST", re.compile(r"^(?:users|directoryObjects)/(?P<id>[^/]+)/checkMemberGroups$")
    ),
    Route(
        "users.transitiveMemberOf",
        "GET",
        re.compile(r"^users/(?P<id>[^/]+)/transitiveMemberOf(?:/microsoft\.graph\.group)?$"),
    ),
    Route("groups.get", "GET", re.compile(r"^groups/(?P<id>[^/]+)$")),
    Route(
        "groups.transitiveMembers",
        "GET",
        re.compile(r"^groups/(?P<id>[^/]+)/transitiveMembers(?:/microsoft\.graph\.(?P<cast>user|group))?$"),
    ),
    Route("directoryObjects.getByIds", "POST", re.compile(r"^directoryObjects/getByIds$")),
    Route("troubleshootingEvents.list", "GET", re.compile(r"^deviceManagement/troubleshootingEvents$")),
    Route("conditionalAccess.list", "GET", re.compile(r"^identity/conditionalAccess/policies$")),
    Route("conditionalAccess.get", "GET", re.compile(r"^identity/conditionalAccess/policies/(?P<id>[^/]+)$")),
    Route("conditionalAccess.patch", "PATCH", re.compile(r"^identity/conditionalAccess/policies/(?P<id>[^/]+)$")),
    Route("enrollmentConfigurations.list", "GET", re.compile(r"^deviceManagement/deviceEnrollmentConfigurations$")),
    Route("signIns.list", "GET", re.compile(r"^auditLogs/signIns$")),
    Route(
        "enrollmentConfigurations.get",
        "GET",
        re.compile(r"^deviceManagement/deviceEnrollmentConfigurations/(?P<id>[^/]+)$"),
    ),
    Route(
        "enrollmentConfigurations.patch",
        "PATCH",
        re.compile(r"^deviceManagement/deviceEnrollmentConfigurations/(?P<id>[^/]+)$"),
    ),
    Route("deletedUsers.list", "GET", re.compile(r"^directory/deletedItems/microsoft\.graph\.user$")),
    Route("organization.list", "GET", re.compile(r"^organization$")),
    Route("organization.get", "GET", re.compile(r"^organization/(?P<id>[^/]+)$")),
    # Beta, delegated permissions only (sim/permissions.py).
    Route("mdmPolicies.list", "GET", re.compile(r"^policies/mobileDeviceManagementPolicies$")),
    Route("batch", "POST", re.compile(r"^\$batch$")),
    # /me needs a signed-in user: answered by sim/delegated.py (an app token gets Graph's 400).
    Route("me.transitiveMemberOf", "GET", re.compile(r"^me/transitiveMemberOf/microsoft\.graph\.directoryRole$")),
]


# The type each v1.0 read returns, and the query options its handler applies itself (checking them there);
# any other $select or $expand is checked here: undeclared is Graph's 400, declared but not rendered is said (501).
QUERY_SHAPES: dict[str, tuple[str, frozenset[str]]] = {
    "policy.get": ("microsoft.graph.deviceRegistrationPolicy", frozenset()),
    "users.list": ("microsoft.graph.user", frozenset({"$select", "$expand"})),
    "users.get": ("microsoft.graph.user", frozenset({"$select", "$expand"})),
    "users.transitiveMemberOf": ("microsoft.graph.group", frozenset()),
    "groups.get": ("microsoft.graph.group", frozenset({"$select", "$expand"})),
    "groups.transitiveMembers": ("microsoft.graph.directoryObject", frozenset({"$select"})),
    "troubleshootingEvents.list": ("microsoft.graph.enrollmentTroubleshootingEvent", frozenset()),
    "conditionalAccess.list": ("microsoft.graph.conditionalAccessPolicy", frozenset()),
    "conditionalAccess.get": ("microsoft.graph.conditionalAccessPolicy", frozenset()),
    "enrollmentConfigurations.list": ("microsoft.graph.deviceEnrollmentConfiguration", frozenset({"$expand"})),
    "enrollmentConfigurations.get": ("microsoft.graph.deviceEnrollmentConfiguration", frozenset({"$expand"})),
    "signIns.list": ("microsoft.graph.signIn", frozenset()),
    "deletedUsers.list": ("microsoft.graph.user", frozenset({"$select"})),
    "organization.list": ("microsoft.graph.organization", frozenset({"$select"})),
    "organization.get": ("microsoft.graph.organization", frozenset({"$select"})),
}


def _check_query_options(route: str, query: dict[str, str]) -> None:
    shape = QUERY_SHAPES.get(route)
    if shape is None:
        return
    type_name, honoured = shape
    code = SERVICE if route.startswith(("troubleshootingEvents", "conditionalAccess", "enrollment")) else DIRECTORY
    if "$select" in query and "$select" not in honoured:
        metadata().check_select(select_of(query), type_name, code)
        raise GraphFailure(501, "NotImplemented", f"The simulated tenant does not apply $select on {type_name} here.")
    if "$expand" in query and "$expand" not in honoured:
        metadata().check_expand(expand_of(query), type_name, code)


BETA_ONLY = frozenset({"mdmPolicies.list"})  # v1.0 has no such segment: 400 before any authorization


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["o"]
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphFailure(
            400, "Request_BadRequest", "The specified page token value has expired or is invalid."
        ) from exc
    if not isinstance(offset, int) or offset < 0:
        raise GraphFailure(400, "Request_BadRequest", "The specified page token value has expired or is invalid.")
    return offset


def _page_size(query: dict[str, str], default: int, maximum: int) -> int:
    raw = query.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError as exc:
        raise GraphFailure(400, "Request_BadRequest", f"Invalid value '{raw}' for query parameter $top.") from exc
    if not 1 <= top <= maximum:
        raise GraphFailure(
            400, "Request_BadRequest", f"Invalid page size specified: '{top}'. Must be between 1 and {maximum}."
        )
    return top


class GraphSimulator:
    """Holds the tenant, answers Graph requests and records what it was asked."""

    def __init__(self, tenant: Tenant, clock: Callable[[], datetime] = utcnow):
        self.tenant = tenant
        self.clock = clock
        self.requests: list[dict[str, Any]] = []

    # ---- Graph dispatch -------------------------------------------------------------------------
    async def dispatch(
        self,
        method: str,
        version: str,
        path: str,
        query: dict[str, str],
        body: Any,
        claims: dict[str, Any],
        origin: str,
        in_batch: bool = False,
    ) -> tuple[str, GraphResponse]:
        route, match = self._route(method, path)
        fault = self.tenant.take_fault(route.name, method) if route else None
        if fault and fault.arrived is not None:
            fault.arrived.set()
        if fault and fault.gate is not None:
            await fault.gate.wait()
        if fault and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        try:
            if route is None or match is None:
                raise match_error(method, path)
            if route.name in BETA_ONLY and version != "beta":
                raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{path.split('/')[-1]}'.")
            if fault and fault.status:
                raise _fault_failure(fault)
            self._authorize(route, claims)
            kept = copy.deepcopy(self.tenant.policy) if fault and fault.lose_write else None
            response = await self._handle(route, match, version, query, body, claims, origin)
            if kept is not None:
                self.tenant.policy = kept  # answered as written, not kept
        except GraphFailure as failure:
            response = GraphResponse(failure.status, _error_body(failure), dict(failure.headers))
        name = route.name if route else "unknown"
        entry: dict[str, Any] = {
            "time": self.clock().isoformat(),
            "method": method,
            "path": f"/{version}/{path}",
            "route": name,
            "status": response.status,
            "batch": in_batch,
            "caller": delegated.caller(claims),
        }
        if method in ("PUT", "POST", "PATCH"):
            entry["body"] = body
        self.requests.append(entry)
        return name, response

    def _route(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None]:
        path_matches = [(r, r.pattern.match(path)) for r in ROUTES]
        path_matches = [(r, m) for r, m in path_matches if m]
        for route, match in path_matches:
            if route.method == method:
                return route, match
        if path_matches:
            return path_matches[0][0], None
        return None, None

    def _authorize(self, route: Route, claims: dict[str, Any]) -> None:
        if claims.get("scp"):  # a signed-in user's token: the scope and, for a write, the user's role
            delegated.authorize(route.name, claims, self.tenant)
            return
        authorize_app(route.name, claims.get("roles", []))

    async def _handle(
        self,
        route: Route,
        match: re.Match[str],
        version: str,
        query: dict[str, str],
        body: Any,
        claims: dict[str, Any],
        origin: str,
    ) -> GraphResponse:
        tenant = self.tenant
        base = f"{origin}/{version}"
        name = route.name
        _check_query_options(name, query)
        if name == "policy.get":
            return GraphResponse(
                200, {"@odata.context": f"{base}/$metadata#policies/deviceRegistrationPolicy/$entity", **tenant.policy}
            )
        if name == "policy.put":
            metadata().check_body(body, "microsoft.graph.deviceRegistrationPolicy", DIRECTORY)
            updated = tenant.put_policy(body)
            return GraphResponse(
                200, {"@odata.context": f"{base}/$metadata#policies/deviceRegistrationPolicy/$entity", **updated}
            )
        if name == "users.list":
            return self._list_users(base, query)
        if name == "users.get":
            select = select_of(query)
            metadata().check_select(select, "microsoft.graph.user")
            metadata().check_expand(expand_of(query), "microsoft.graph.user")
            user = tenant.user(match["id"])
            return GraphResponse(
                200, {"@odata.context": _entity_context(base, "users", select), **tenant.user_json(user, select)}
            )
        if name == "users.checkMemberGroups":
            metadata().check_action("checkMemberGroups", "microsoft.graph.user", body)
            user = tenant.user(match["id"])
            group_ids = body["groupIds"]
            if len(group_ids) > 20:
                raise GraphFailure(
                    400, "Request_BadRequest", "The number of group ids exceeds the limit of 20 for this operation."
                )
            member_of = tenant.group_ids_of(user["id"])
            return GraphResponse(
                200,
                {
                    "@odata.context": f"{base}/$metadata#Collection(Edm.String)",
                    "value": [g for g in group_ids if g in member_of],
                },
            )
        if name == "users.transitiveMemberOf":
            user = tenant.user(match["id"])
            groups = [tenant.group_json(g) for g in sorted(tenant.group_ids_of(user["id"]))]
            return self._page(base, f"users/{match['id']}/transitiveMemberOf", query, groups, 100, 999)
        if name == "groups.get":
            select = select_of(query)
            metadata().check_select(select, "microsoft.graph.group")
            metadata().check_expand(expand_of(query), "microsoft.graph.group")
            if match["id"] not in tenant.groups:
                raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{match['id']}' does not exist.")
            group = tenant.group_json(match["id"], select)
            return GraphResponse(200, {"@odata.context": _entity_context(base, "groups", select), **group})
        if name == "groups.transitiveMembers":
            ids = tenant.transitive_member_ids(match["id"])
            cast = match["cast"]
            if cast:
                ids = [i for i in ids if (i in tenant.groups) == (cast == "group")]
            select = select_of(query)
            members = () if cast else ("microsoft.graph.user", "microsoft.graph.group")
            metadata().check_select(select, f"microsoft.graph.{cast or 'directoryObject'}", derived=members)
            path = f"groups/{match['id']}/transitiveMembers" + (f"/microsoft.graph.{cast}" if cast else "")
            return self._page(base, path, query, ids, 100, 999, decorate=lambda i: tenant.object_json(i, select))
        if name == "directoryObjects.getByIds":
            metadata().check_action("getByIds", "microsoft.graph.directoryObject", body)
            if not body["ids"]:
                raise GraphFailure(400, "Request_BadRequest", "The request body must contain a non-empty ids list.")
            if len(body["ids"]) > 1000:
                raise GraphFailure(400, "Request_BadRequest", "The number of ids exceeds the limit of 1000.")
            types = {str(t).lower() for t in body.get("types") or ["user", "group"]}
            found = []
            for object_id in dict.fromkeys(str(i) for i in body["ids"]):
                kind = "group" if object_id in tenant.groups else "user" if object_id in tenant.users else None
                if kind in types:
                    found.append(tenant.object_json(object_id))
            return GraphResponse(200, {"@odata.context": f"{base}/$metadata#directoryObjects", "value": found})
        if name == "troubleshootingEvents.list":
            return self._page(
                base,
                "deviceManagement/troubleshootingEvents",
                query,
                tenant.events,
                DEFAULT_EVENTS_PAGE,
                MAX_EVENTS_PAGE,
                decorate=lambda e: {"@odata.type": "#microsoft.graph.enrollmentTroubleshootingEvent", **e},
            )
        if name == "conditionalAccess.get":
            policy = tenant.ca_policy(match["id"])
            return GraphResponse(
                200,
                {
                    "@odata.context": f"{base}/$metadata#identity/conditionalAccess/policies/$entity",
                    "@odata.type": "#microsoft.graph.conditionalAccessPolicy",
                    **copy.deepcopy(policy),
                },
            )
        if name == "conditionalAccess.patch":
            if claims.get("scp") and "Policy.Read.All" not in str(claims["scp"]).split():
                raise GraphFailure(403, "AccessDenied", "Updating a policy also needs Policy.Read.All.")
            metadata().check_body(body, "microsoft.graph.conditionalAccessPolicy", SERVICE, CA_SCHEMA_ERROR)
            tenant.patch_ca_policy(match["id"], body, self.clock())
            return GraphResponse(204, None)
        if name == "enrollmentConfigurations.get":
            expand = expand_of(query)
            metadata().check_expand(expand, "microsoft.graph.deviceEnrollmentConfiguration", SERVICE, ["assignments"])
            stored = tenant.enrollment_configuration(match["id"])
            item = {k: v for k, v in stored.items() if k != "assignments"}
            if expand:  # assignments are a navigation property: only there when expanded
                item["assignments"] = stored.get("assignments", [])
            return GraphResponse(
                200,
                {
                    "@odata.context": f"{base}/$metadata#deviceManagement/deviceEnrollmentConfigurations/$entity",
                    **copy.deepcopy(item),
                },
            )
        if name == "enrollmentConfigurations.patch":
            metadata().check_body(body, "microsoft.graph.deviceEnrollmentConfiguration", SERVICE)
            tenant.patch_enrollment_configuration(match["id"], body, self.clock())
            return GraphResponse(204, None)
        if name == "conditionalAccess.list":
            items = list(tenant.extra.get("conditionalAccessPolicies", []))
            return self._page(
                base,
                "identity/conditionalAccess/policies",
                query,
                items,
                100,
                100,
                decorate=lambda p: {"@odata.type": "#microsoft.graph.conditionalAccessPolicy", **p},
            )
        if name == "enrollmentConfigurations.list":
            expand = expand_of(query)
            metadata().check_expand(expand, "microsoft.graph.deviceEnrollmentConfiguration", SERVICE, ["assignments"])

            def configuration(item: dict[str, Any]) -> dict[str, Any]:
                rendered = {k: v for k, v in item.items() if k != "assignments"}
                if expand:  # assignments are a navigation property: only there when expanded
                    rendered["assignments"] = item.get("assignments", [])
                return rendered

            items = list(tenant.extra.get("deviceEnrollmentConfigurations", []))
            return self._page(
                base, "deviceManagement/deviceEnrollmentConfigurations", query, items, 100, 100, decorate=configuration
            )
        if name == "signIns.list":
            items = sorted(tenant.extra.get("signIns", []), key=lambda i: str(i.get("createdDateTime")), reverse=True)
            if "$filter" in query:
                clause = parse_user_filter(query["$filter"])
                if clause[1] not in ("userPrincipalName", "userId", "appId"):
                    raise GraphFailure(400, "Request_UnsupportedQuery", f"Unsupported filter on '{clause[1]}'.")
                items = [i for i in items if user_matches(i, clause)]
            return self._page(
                base,
                "auditLogs/signIns",
                query,
                items,
                1000,
                1000,
                decorate=lambda i: {"@odata.type": "#microsoft.graph.signIn", **i},
            )
        if name == "deletedUsers.list":
            select = select_of(query)
            metadata().check_select(select, "microsoft.graph.user")
            items = list(tenant.extra.get("deletedUsers", []))

            def deleted(user: dict[str, Any]) -> dict[str, Any]:
                shown = {k: v for k, v in user.items() if select is None or k in select or k == "id"}
                return {"@odata.type": "#microsoft.graph.user", **shown}

            return self._page(
                base, "directory/deletedItems/microsoft.graph.user", query, items, 100, 999, decorate=deleted
            )
        if name == "mdmPolicies.list":
            type_name = "microsoft.graph.mobilityManagementPolicy"
            select, expand = select_of(query), expand_of(query) or []
            metadata().check_beta_query(select, expand, type_name)
            _, navigation = metadata().beta_names(type_name)

            def mdm_policy(item: dict[str, Any]) -> dict[str, Any]:
                # Navigation properties (includedGroups) are there only when expanded; $select keeps the id.
                shown = {k: v for k, v in item.items() if k not in navigation or k in expand}
                if select:
                    shown = {k: v for k, v in shown.items() if k in ("id", *select, *expand)}
                return shown

            items = [mdm_policy(p) for p in tenant.extra.get("mobileDeviceManagementPolicies", [])]
            return GraphResponse(
                200, {"@odata.context": f"{base}/$metadata#policies/mobileDeviceManagementPolicies", "value": items}
            )
        if name in ("organization.list", "organization.get"):
            select = select_of(query)
            metadata().check_select(select, "microsoft.graph.organization")
            organization = tenant.organization_json()
            if select:
                organization = {k: organization.get(k) for k in ["id", *select]}
            if name == "organization.get":
                if match["id"].lower() != tenant.tenant_id.lower():
                    raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{match['id']}' does not exist.")
                return GraphResponse(
                    200, {"@odata.context": _entity_context(base, "organization", select), **organization}
                )
            shape = f"organization({','.join(select)})" if select else "organization"
            return GraphResponse(200, {"@odata.context": f"{base}/$metadata#{shape}", "value": [organization]})
        if name == "batch":
            return await self._batch(version, body, claims, origin)
        if name == "me.transitiveMemberOf":
            return GraphResponse(200, delegated.my_directory_roles(tenant, claims, base))
        raise GraphFailure(400, "BadRequest", "Unsupported request.")

    def _list_users(self, base: str, query: dict[str, str]) -> GraphResponse:
        users = list(self.tenant.users.values())
        select = select_of(query)
        metadata().check_select(select, "microsoft.graph.user")
        metadata().check_expand(expand_of(query), "microsoft.graph.user")
        if "$filter" in query:
            clause = parse_user_filter(query["$filter"])
            metadata().check_select([filter_property(clause)], "microsoft.graph.user")
            users = [u for u in users if user_matches(u, clause)]

        def as_json(user: dict[str, Any]) -> dict[str, Any]:  # only the page's users are rendered
            item = self.tenant.user_json(user, select)
            item.pop("@odata.type", None)
            return item

        return self._page(base, "users", query, users, DEFAULT_USERS_PAGE, MAX_USERS_PAGE, decorate=as_json)

    def _page(
        self,
        base: str,
        path: str,
        query: dict[str, str],
        items: list[Any],
        default: int,
        maximum: int,
        decorate: Callable[[Any], Any] | None = None,
    ) -> GraphResponse:
        size = _page_size(query, default, maximum)
        # Graph may return fewer items than $top asks for; a fixture can cap pages to exercise paging.
        size = min(size, int(self.tenant.extra.get("maxPageSize", size)))
        offset = _decode_skiptoken(query["$skiptoken"]) if "$skiptoken" in query else 0
        page = items[offset : offset + size]
        if decorate is not None:
            page = [decorate(item) for item in page]
        body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{path}", "value": page}
        if offset + size < len(items):
            next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
            next_query["$skiptoken"] = _encode_skiptoken(offset + size)
            body["@odata.nextLink"] = f"{base}/{path}?{urlencode(next_query)}"
        return GraphResponse(200, body)

    async def _batch(self, version: str, body: Any, claims: dict[str, Any], origin: str) -> GraphResponse:
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            raise GraphFailure(400, "BadRequest", "Invalid batch payload format.")
        requests = body["requests"]
        if len(requests) > MAX_BATCH:
            raise GraphFailure(400, "BadRequest", f"Limit of {MAX_BATCH} requests per batch exceeded.")
        ids = [r.get("id") for r in requests if isinstance(r, dict)]
        if len(ids) != len(requests) or any(not isinstance(i, str) or not i for i in ids):
            raise GraphFailure(400, "BadRequest", "Each batch request needs a string id.")
        if len(set(ids)) != len(ids):
            raise GraphFailure(400, "BadRequest", "Batch request ids must be unique.")
        for item in requests:
            if "body" in item and not {k.lower() for k in (item.get("headers") or {})} & {"content-type"}:
                raise GraphFailure(400, "BadRequest", f"Content-Type header is required for request {item['id']}.")

        async def run(item: dict[str, Any]) -> dict[str, Any]:
            url = str(item.get("url", "")).lstrip("/")
            split = urlsplit(url)
            inner_query = dict(parse_qsl(split.query, keep_blank_values=True))
            _, response = await self.dispatch(
                str(item.get("method", "GET")).upper(),
                version,
                split.path,
                inner_query,
                item.get("body"),
                claims,
                origin,
                in_batch=True,
            )
            headers = {"Content-Type": "application/json", **(response.headers or {})}
            return {"id": item["id"], "status": response.status, "headers": headers, "body": response.body}

        responses = await asyncio.gather(*(run(item) for item in requests))
        return GraphResponse(200, {"responses": list(responses)})


def _entity_context(base: str, entity_set: str, select: list[str] | None) -> str:
    """Graph's @odata.context for one entity: with $select, the selected properties are named in it."""
    shape = f"{entity_set}({','.join(select)})" if select else entity_set
    return f"{base}/$metadata#{shape}/$entity"


def match_error(method: str, path: str) -> GraphFailure:
    if any(r.pattern.match(path) for r in ROUTES):
        return GraphFailure(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for this resource.")
    segment = path.split("/")[0] if path else ""
    return GraphFailure(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def _fault_failure(fault: Fault) -> GraphFailure:
    headers = {}
    if fault.retry_after is not None:
        retry = fault.retry_after
        headers["Retry-After"] = str(int(retry)) if float(retry).is_integer() else str(retry)
    if fault.status == 429:
        return GraphFailure(
            429, "TooManyRequests", "Too many requests. Please retry after the time in Retry-After.", headers
        )
    if fault.status == 503:
        return GraphFailure(503, "ServiceUnavailable", "The service is temporarily unavailable.", headers)
    return GraphFailure(fault.status or 500, "InternalServerError", "An injected error occurred.", headers)


def _error_body(failure: GraphFailure) -> dict[str, Any]:
    return {
        "error": {
            "code": failure.code,
            "message": failure.message,
            "innerError": {"date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())},
        }
    }


# ---- many tenants ---------------------------------------------------------------------------------
GENERIC_TENANTS = ("organizations", "common")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_DNS_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)


@dataclass(frozen=True)
class EntraError:
    """An answer of Entra's sign-in service: JSON to a token request, an error page in an administrator's browser."""

    status: int
    error: str
    aadsts: str
    description: str

    def json(self) -> web.Response:
        return _token_error(self.status, self.error, self.aadsts, self.description)

    def page(self) -> web.Response:
        """No redirect back to the app: the request is not one Entra can trust to say where to go."""
        html = (
            "<!doctype html><title>Sign in to your account</title>"
            "<h1>Sorry, but we're having trouble signing you in.</h1>"
            f"<p id=error>{escape(self.aadsts)}: {escape(self.description)}</p>"
        )
        return web.Response(status=self.status, text=html, content_type="text/html")


class SimCloud:
    """Every simulated tenant behind one endpoint, found by id or verified domain, and the app registrations they
    share: an app is registered once (one client id and secret) and used in each tenant that consented to it."""

    def __init__(self, clock: Callable[[], datetime] = utcnow):
        self.clock = clock
        self.simulators: dict[str, GraphSimulator] = {}
        self.apps: dict[str, App] = {}
        self._names: dict[str, str] = {}  # lower-case tenant id or verified domain -> tenant id

    @classmethod
    def of(cls, tenants: list[Tenant], clock: Callable[[], datetime] = utcnow) -> SimCloud:
        cloud = cls(clock)
        for tenant in tenants:
            cloud.add(tenant)
        if not cloud.simulators:
            raise ValueError("there are no tenants to serve")
        for simulator in cloud.simulators.values():
            cloud.check_consents(simulator.tenant)
        return cloud

    def check_consents(self, tenant: Tenant) -> None:
        """An app consented in a tenant is registered in some tenant (a typo would otherwise pass unnoticed)."""
        unknown = sorted(tenant.consented_apps - set(self.apps))
        if unknown:
            raise ValueError(f"tenant {tenant.tenant_id}: consentedApps names {unknown[0]}, which no tenant registers")

    @property
    def default(self) -> GraphSimulator:
        """The first tenant: what the single-tenant control API (/_sim/faults, ...) and the token service mean."""
        return next(iter(self.simulators.values()))

    def add(self, tenant: Tenant) -> GraphSimulator:
        """Serve one more tenant; refused whole (nothing changed) when it clashes with one already served."""
        names = [tenant.tenant_id.lower(), *(d.lower() for d in tenant.domains)]
        for name in names:
            if name in self._names:
                raise ValueError(f"tenant {tenant.tenant_id}: {name} is already used by tenant {self._names[name]}")
        for client_id, app in tenant.apps.items():
            known = self.apps.get(client_id)
            if known is not None and (known.client_secret, set(known.permissions)) != (
                app.client_secret,
                set(app.permissions),
            ):
                raise ValueError(
                    f"tenant {tenant.tenant_id}: app {client_id} is registered again with another secret or "
                    "other permissions (an app registration is one object, shared by the tenants that consent to it)"
                )
        check_fixture(tenant)
        for client_id, app in tenant.apps.items():
            tenant.apps[client_id] = self.apps.setdefault(client_id, app)
        simulator = GraphSimulator(tenant, self.clock)
        self.simulators[tenant.tenant_id] = simulator
        self._names.update((name, tenant.tenant_id) for name in names)
        return simulator

    def find(self, name: str) -> GraphSimulator | None:
        """The tenant a URL names, by its id or one of its verified domains (as login.microsoftonline.com does)."""
        tenant_id = self._names.get(name.lower())
        return self.simulators[tenant_id] if tenant_id else None

    def named(self, name: str) -> GraphSimulator | EntraError:
        """The tenant a token or consent URL names, or Entra's answer for a name that is no tenant."""
        found = self.find(name)
        if found is not None:
            return found
        if name.lower() in GENERIC_TENANTS and len(self.simulators) == 1:
            return self.default  # one tenant: the generic endpoints can only mean it
        if name.lower() in GENERIC_TENANTS:
            return EntraError(
                400,
                "invalid_request",
                "AADSTS50059",
                "No tenant-identifying information found in either the request or implied by any provided credentials.",
            )
        if not _GUID.match(name) and not _DNS_NAME.match(name):
            return EntraError(
                400,
                "invalid_request",
                "AADSTS900023",
                f"Specified tenant identifier '{name}' is neither a valid DNS name, nor a valid external domain.",
            )
        return EntraError(
            400,
            "invalid_request",
            "AADSTS90002",
            f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the "
            "correct cloud. Check with your subscription administrator, this may happen if there are no active "
            "subscriptions for the tenant.",
        )


# ---- aiohttp wiring ------------------------------------------------------------------------------
SIMULATOR: web.AppKey[GraphSimulator] = web.AppKey("simulator", GraphSimulator)
CLOUD: web.AppKey[SimCloud] = web.AppKey("sim_cloud", SimCloud)


def _json(status: int, body: Any, headers: dict[str, str] | None = None, request_id: str | None = None) -> web.Response:
    out = dict(headers or {})
    rid = request_id or str(uuid.uuid4())
    out.setdefault("request-id", rid)
    out.setdefault("client-request-id", rid)
    out.setdefault("x-ms-ags-diagnostic", json.dumps({"ServerInfo": {"DataCenter": "Loopback", "Slice": "SIM"}}))
    if body is None:
        return web.Response(status=status, headers=out)
    return web.json_response(body, status=status, headers=out)


def _token_error(status: int, error: str, aadsts: str, description: str) -> web.Response:
    code = int(aadsts.removeprefix("AADSTS"))
    return web.json_response(
        {
            "error": error,
            "error_description": f"{aadsts}: {description}",
            "error_codes": [code],
            "timestamp": utcnow().strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status=status,
    )


def _record_token(sim: GraphSimulator, request: web.Request, response: web.Response) -> web.Response:
    sim.requests.append(
        {
            "time": sim.clock().isoformat(),
            "method": request.method,
            "path": request.path,
            "route": "token",
            "status": response.status,
        }
    )
    return response


def _not_in_directory(client_id: str, tenant: Tenant) -> EntraError:
    return EntraError(
        400,
        "unauthorized_client",
        "AADSTS700016",
        f"Application with identifier '{client_id}' was not found in the directory '{tenant.tenant_id}'. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented to by any "
        "user in the tenant. You may have sent your authentication request to the wrong tenant.",
    )


async def token_endpoint(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    form = {key: str(value) for key, value in (await request.post()).items()}
    name = request.match_info["tenant"]
    domain = form.get("username", "").rpartition("@")[2]
    if form.get("grant_type") == "password" and name.lower() in GENERIC_TENANTS and cloud.find(domain):
        name = domain  # a person's sign-in at a generic endpoint: their domain names the tenant
    sim = cloud.named(name)
    if isinstance(sim, EntraError):
        return sim.json()
    tenant = sim.tenant
    route_fault = tenant.take_fault("token", "POST")
    if route_fault and route_fault.latency_ms:
        await asyncio.sleep(route_fault.latency_ms / 1000)
    if route_fault and route_fault.status:
        return _token_error(route_fault.status, "temporarily_unavailable", "AADSTS50196", "Injected fault.")
    if form.get("grant_type") == "password":  # test use only: a person's sign-in, played by a test
        status, answer = delegated.password_grant(tenant, form, sim.clock())
        return web.json_response(answer, status=status)
    if form.get("grant_type") != "client_credentials":
        return _token_error(
            400, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type."
        )
    client_id = form.get("client_id", "")
    app = cloud.apps.get(client_id)
    if app is None or client_id not in tenant.consented_apps:  # no service principal for it in this tenant
        return _record_token(sim, request, _not_in_directory(client_id, tenant).json())
    if form.get("client_secret") != app.client_secret:
        return _record_token(
            sim, request, _token_error(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided.")
        )
    if form.get("scope") != GRAPH_SCOPE:
        scope = form.get("scope")
        refused = _token_error(
            400, "invalid_scope", "AADSTS1002012", f"The provided value for scope {scope} is not valid."
        )
        return _record_token(sim, request, refused)
    token, claims = issue_token(tenant, app, sim.clock())
    answer = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
    return _record_token(sim, request, web.json_response(answer))


async def admin_consent(request: web.Request) -> web.Response:
    """`GET /{tenant}/adminconsent` (and `/{tenant}/v2.0/adminconsent`): an administrator of the tenant grants the app
    its permissions there, and the browser goes back to the app's redirect URI with `admin_consent=True&tenant=...`.
    The administrator's sign-in and the consent screen are played as approved; a fault on route `adminconsent`
    plays an administrator who declines (the documented `consent_required` / AADSTS65004 answer)."""
    cloud = request.app[CLOUD]
    query = request.query
    name = request.match_info["tenant"]
    if name.lower() in GENERIC_TENANTS and "login_hint" in query:  # the administrator who signs in names it
        name = query["login_hint"].rpartition("@")[2]
    sim = cloud.named(name)
    if isinstance(sim, EntraError):
        return sim.page()
    tenant = sim.tenant
    client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
    app = cloud.apps.get(client_id)
    answer: web.Response
    if app is None:  # registered nowhere: not even a multi-tenant app another tenant could consent to
        answer = _not_in_directory(client_id, tenant).page()
    elif not redirect_uri or not app.allows_redirect(redirect_uri):
        answer = EntraError(
            400,
            "invalid_request",
            "AADSTS50011",
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
            f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to "
            "your application in the Azure portal.",
        ).page()
    else:
        # Only a fault named for this route declines (a "*" fault is about Graph and tokens, not the admin).
        declined = next((f for f in tenant.faults if f.route == "adminconsent" and f.matches(f.route, "GET")), None)
        if declined is not None and declined.times is not None:
            declined.times -= 1
        back: dict[str, str] = {"admin_consent": "True", "tenant": tenant.tenant_id}
        if declined is not None:
            back["error"] = "consent_required"
            back["error_description"] = "AADSTS65004: The resource owner or authorization server denied the request."
        else:
            tenant.consented_apps.add(client_id)
        if "scope" in query:
            back["scope"] = query["scope"]
        if "state" in query:
            back["state"] = query["state"]
        separator = "&" if urlsplit(redirect_uri).query else "?"
        answer = web.Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(back)}"})
    sim.requests.append(
        {
            "time": sim.clock().isoformat(),
            "method": "GET",
            "path": request.path,
            "route": "adminconsent",
            "status": answer.status,
            "clientId": client_id,
        }
    )
    return answer


async def openid_configuration(request: web.Request) -> web.Response:
    sim = request.app[CLOUD].named(request.match_info["tenant"])
    if isinstance(sim, EntraError):  # the discovery document's own error code for a tenant it cannot describe
        return dataclasses.replace(sim, error="invalid_tenant").json()
    origin = f"{request.scheme}://{request.host}"
    tid = sim.tenant.tenant_id
    return web.json_response(
        {
            "token_endpoint": f"{origin}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{origin}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{origin}/{tid}/v2.0",
            "authorization_endpoint": f"{origin}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{origin}/{tid}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{origin}/{tid}/oauth2/v2.0/logout",
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
        }
    )


async def instance_discovery(request: web.Request) -> web.Response:
    """The tenant discovery endpoint for the authority asked about (its path names the tenant)."""
    host = request.host
    asked = urlsplit(request.query.get("authorization_endpoint", "")).path.strip("/").split("/")[0]
    tenant = asked or request.app[CLOUD].default.tenant.tenant_id
    return web.json_response(
        {
            "tenant_discovery_endpoint": f"{request.scheme}://{host}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


async def graph_handler(request: web.Request) -> web.Response:
    """A Graph request, answered by the tenant that issued its token (`tid`): no token reaches another tenant."""
    cloud = request.app[CLOUD]
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        failure = GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.")
        return _json(401, _error_body(failure), request_id=client_request_id)
    claims = read_token(auth[7:].strip())
    sim = cloud.simulators.get(str(claims.get("tid"))) if claims is not None else None
    if claims is None or sim is None:
        failure = GraphFailure(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        return _json(401, _error_body(failure), request_id=client_request_id)
    if claims.get("exp", 0) < sim.clock().timestamp():
        failure = GraphFailure(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        return _json(401, _error_body(failure), request_id=client_request_id)
    body: Any = None
    if request.can_read_body:
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                failure = GraphFailure(400, "BadRequest", "Unable to read JSON request payload.")
                return _json(400, _error_body(failure), request_id=client_request_id)
    origin = f"{request.scheme}://{request.host}"
    _, response = await sim.dispatch(
        request.method,
        request.match_info["version"],
        request.match_info["tail"],
        dict(request.query),
        body,
        claims,
        origin,
    )
    headers = dict(response.headers or {})
    headers["Date"] = format_datetime(utcnow(), usegmt=True)
    error = response.body.get("error") if isinstance(response.body, dict) else None
    if isinstance(error, dict):  # Graph's innerError names the request as its headers do
        error.setdefault("innerError", {}).update(
            {"request-id": client_request_id, "client-request-id": client_request_id}
        )
    return _json(response.status, response.body, headers, request_id=client_request_id)


# ---- control API (the simulator's own, never part of Graph) --------------------------------------
# /_sim/tenants/{tid}/faults (and requests, state, policy, troubleshootingEvents, consentedApps) is about one tenant;
# /_sim/faults and the others without a tenant mean the first tenant (the single-tenant case).
def _simulator(request: web.Request) -> GraphSimulator:
    cloud = request.app[CLOUD]
    name = request.match_info.get("tid")
    found = cloud.default if name is None else cloud.find(name)
    if found is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no tenant {name!r} is served here (GET /_sim/tenants lists them)"}),
            content_type="application/json",
        )
    return found


def _bad_control(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body is not JSON"}), content_type="application/json"
        ) from exc


async def control_tenants(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[CLOUD].simulators))


async def control_faults(request: web.Request) -> web.Response:
    tenant = _simulator(request).tenant
    if request.method == "DELETE":
        tenant.faults.clear()
    elif request.method == "POST":
        data = await _json_body(request)
        items = data if isinstance(data, list) else [data]
        try:
            faults = [Fault.from_json(item) for item in items]  # all or none
        except (TypeError, ValueError, AttributeError) as exc:
            return _bad_control(f"a fault is {{route, status?, retryAfter?, latencyMs?, times?, method?}}: {exc}")
        tenant.faults.extend(faults)
    shown = [{k: v for k, v in f.__dict__.items() if k not in ("arrived", "gate")} for f in tenant.faults]
    return web.json_response(shown)


async def control_requests(request: web.Request) -> web.Response:
    sim = _simulator(request)
    if request.method == "DELETE":
        sim.requests.clear()
    return web.json_response(sim.requests)


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(_simulator(request).tenant.to_fixture())


async def control_policy(request: web.Request) -> web.Response:
    """Change the policy behind the bot's back, as an admin in the portal would."""
    tenant = _simulator(request).tenant
    data = await _json_body(request)
    if not isinstance(data, dict):
        return _bad_control("expected a JSON object")
    tenant.policy.update(data)
    return web.json_response(tenant.policy)


async def control_events(request: web.Request) -> web.Response:
    tenant = _simulator(request).tenant
    if request.method == "POST":
        data = await _json_body(request)
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict) or "id" not in item or "eventDateTime" not in item:
                return _bad_control("each event needs id and eventDateTime")
        tenant.events.extend(items)
    return web.json_response({"count": len(tenant.events)})


async def control_consent(request: web.Request) -> web.Response:
    """The apps consented in a tenant: POST {"clientId"} consents as an administrator would; DELETE ?clientId=
    removes the app's service principal (consent revoked), so its next token request is refused."""
    cloud = request.app[CLOUD]
    tenant = _simulator(request).tenant
    if request.method == "POST":
        data = await _json_body(request)
        client_id = data.get("clientId") if isinstance(data, dict) else None
        if client_id not in cloud.apps:
            return _bad_control(f"no app registration has the clientId {client_id!r}")
        tenant.consented_apps.add(client_id)
    elif request.method == "DELETE":
        tenant.consented_apps.discard(request.query.get("clientId", ""))
    return web.json_response(sorted(tenant.consented_apps))


# What the simulator serves from a fixture, by the type Graph declares for it: a fixture object Graph could not
# return (an undeclared property, a value of the wrong type) is refused when the simulator starts.
FIXTURE_TYPES = {
    "conditionalAccessPolicies": "microsoft.graph.conditionalAccessPolicy",
    "deviceEnrollmentConfigurations": "microsoft.graph.deviceEnrollmentConfiguration",
    "signIns": "microsoft.graph.signIn",
}


def check_fixture(tenant: Tenant) -> None:
    served: list[tuple[str, Any, str]] = [
        ("deviceRegistrationPolicy", tenant.policy, "microsoft.graph.deviceRegistrationPolicy"),
        ("organization", tenant.organization_json(), "microsoft.graph.organization"),
        *(("troubleshootingEvents", e, "microsoft.graph.enrollmentTroubleshootingEvent") for e in tenant.events),
    ]
    for key, type_name in FIXTURE_TYPES.items():
        served += [(key, item, type_name) for item in tenant.extra.get(key, [])]
    for key, item, type_name in served:
        try:
            metadata().check_body(item, type_name)
        except GraphFailure as failure:
            raise ValueError(f"tenant fixture {key}: {failure.message}") from failure


def create_multi_sim_app(tenants: list[Tenant], clock: Callable[[], datetime] = utcnow) -> web.Application:
    """One server for every tenant given (the first is the one the tenant-less control API and token service mean)."""
    cloud = SimCloud.of(tenants, clock)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[CLOUD] = cloud
    app[SIMULATOR] = cloud.default
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token_endpoint)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/{tenant}/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/{tenant}/adminconsent", admin_consent)
    app.router.add_get("/{tenant}/v2.0/adminconsent", admin_consent)
    app.router.add_get("/common/discovery/instance", instance_discovery)
    app.router.add_get("/_sim/tenants", control_tenants)
    for prefix in ("/_sim", "/_sim/tenants/{tid}"):
        app.router.add_route("*", f"{prefix}/faults", control_faults)
        app.router.add_route("*", f"{prefix}/requests", control_requests)
        app.router.add_get(f"{prefix}/state", control_state)
        app.router.add_post(f"{prefix}/policy", control_policy)
        app.router.add_route("*", f"{prefix}/troubleshootingEvents", control_events)
        app.router.add_route("*", f"{prefix}/consentedApps", control_consent)
    app.router.add_route("*", r"/{version:v1\.0|beta}/{tail:.*}", graph_handler)
    token_service.add_routes(app, cloud.default)
    return app


def create_sim_app(tenant: Tenant, clock: Callable[[], datetime] = utcnow) -> web.Application:
    return create_multi_sim_app([tenant], clock)
