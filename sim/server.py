"""The simulated tenant over HTTP: Entra's token endpoint, Microsoft Graph routes, and a control API."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from sim import delegated, token_service
from sim.metadata import CA_SCHEMA_ERROR, DIRECTORY, SERVICE, expand_of, metadata, select_of
from sim.permissions import authorize_app
from sim.tenant import (
    GRAPH_SCOPE,
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


# ---- aiohttp wiring ------------------------------------------------------------------------------
SIMULATOR: web.AppKey[GraphSimulator] = web.AppKey("simulator", GraphSimulator)


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
    return web.json_response(
        {
            "error": error,
            "error_description": f"{aadsts}: {description}",
            "error_codes": [int(aadsts.removeprefix("AADSTS"))],
            "timestamp": utcnow().strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status=status,
    )


async def token_endpoint(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    tenant = sim.tenant
    route_fault = tenant.take_fault("token", "POST")
    if route_fault and route_fault.latency_ms:
        await asyncio.sleep(route_fault.latency_ms / 1000)
    if route_fault and route_fault.status:
        return _token_error(route_fault.status, "temporarily_unavailable", "AADSTS50196", "Injected fault.")
    if request.match_info["tenant"] not in (tenant.tenant_id, "organizations"):
        return _token_error(
            400, "invalid_request", "AADSTS90002", f"Tenant '{request.match_info['tenant']}' not found."
        )
    form = {key: str(value) for key, value in (await request.post()).items()}
    if form.get("grant_type") == "password":  # test use only: a person's sign-in, played by a test
        status, answer = delegated.password_grant(tenant, form, sim.clock())
        return web.json_response(answer, status=status)
    if form.get("grant_type") != "client_credentials":
        return _token_error(
            400, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type."
        )
    app = tenant.apps.get(str(form.get("client_id", "")))
    if app is None:
        return _token_error(
            400,
            "unauthorized_client",
            "AADSTS700016",
            f"Application with identifier '{form.get('client_id')}' was not found.",
        )
    if form.get("client_secret") != app.client_secret:
        return _token_error(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided.")
    if form.get("scope") != GRAPH_SCOPE:
        return _token_error(
            400, "invalid_scope", "AADSTS1002012", f"The provided value for scope {form.get('scope')} is not valid."
        )
    token, claims = issue_token(tenant, app, sim.clock())
    sim.requests.append(
        {"time": sim.clock().isoformat(), "method": "POST", "path": request.path, "route": "token", "status": 200}
    )
    return web.json_response(
        {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
    )


async def openid_configuration(request: web.Request) -> web.Response:
    tenant = request.app[SIMULATOR].tenant
    origin = f"{request.scheme}://{request.host}"
    tid = tenant.tenant_id
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
    host = request.host
    return web.json_response(
        {
            "tenant_discovery_endpoint": f"{request.scheme}://{host}/{request.app[SIMULATOR].tenant.tenant_id}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


async def graph_handler(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        failure = GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.")
        return _json(401, _error_body(failure), request_id=client_request_id)
    claims = read_token(auth[7:].strip())
    now = sim.clock().timestamp()
    if claims is None or claims.get("tid") != sim.tenant.tenant_id:
        failure = GraphFailure(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        return _json(401, _error_body(failure), request_id=client_request_id)
    if claims.get("exp", 0) < now:
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
async def control_faults(request: web.Request) -> web.Response:
    tenant = request.app[SIMULATOR].tenant
    if request.method == "DELETE":
        tenant.faults.clear()
    elif request.method == "POST":
        data = await request.json()
        items = data if isinstance(data, list) else [data]
        tenant.faults.extend(Fault.from_json(item) for item in items)
    shown = [{k: v for k, v in f.__dict__.items() if k not in ("arrived", "gate")} for f in tenant.faults]
    return web.json_response(shown)


async def control_requests(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    if request.method == "DELETE":
        sim.requests.clear()
    return web.json_response(sim.requests)


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].tenant.to_fixture())


async def control_policy(request: web.Request) -> web.Response:
    """Change the policy behind the bot's back, as an admin in the portal would."""
    tenant = request.app[SIMULATOR].tenant
    data = await request.json()
    if not isinstance(data, dict):
        return web.json_response({"error": "expected a JSON object"}, status=400)
    tenant.policy.update(data)
    return web.json_response(tenant.policy)


async def control_events(request: web.Request) -> web.Response:
    tenant = request.app[SIMULATOR].tenant
    if request.method == "POST":
        data = await request.json()
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict) or "id" not in item or "eventDateTime" not in item:
                return web.json_response({"error": "each event needs id and eventDateTime"}, status=400)
        tenant.events.extend(items)
    return web.json_response({"count": len(tenant.events)})


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
        *(("troubleshootingEvents", e, "microsoft.graph.enrollmentTroubleshootingEvent") for e in tenant.events),
    ]
    for key, type_name in FIXTURE_TYPES.items():
        served += [(key, item, type_name) for item in tenant.extra.get(key, [])]
    for key, item, type_name in served:
        try:
            metadata().check_body(item, type_name)
        except GraphFailure as failure:
            raise ValueError(f"tenant fixture {key}: {failure.message}") from failure


def create_sim_app(tenant: Tenant, clock: Callable[[], datetime] = utcnow) -> web.Application:
    check_fixture(tenant)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SIMULATOR] = GraphSimulator(tenant, clock)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token_endpoint)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/{tenant}/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/common/discovery/instance", instance_discovery)
    app.router.add_route("*", "/_sim/faults", control_faults)
    app.router.add_route("*", "/_sim/requests", control_requests)
    app.router.add_get("/_sim/state", control_state)
    app.router.add_post("/_sim/policy", control_policy)
    app.router.add_route("*", "/_sim/troubleshootingEvents", control_events)
    app.router.add_route("*", r"/{version:v1\.0|beta}/{tail:.*}", graph_handler)
    token_service.add_routes(app, app[SIMULATOR])
    return app
