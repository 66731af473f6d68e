"""The simulated tenant's state and its Microsoft Graph semantics, independent of HTTP."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GRAPH_SCOPE = "https://graph.microsoft.com/.default"

MEMBERSHIP_ALL = "#microsoft.graph.allDeviceRegistrationMembership"
MEMBERSHIP_NONE = "#microsoft.graph.noDeviceRegistrationMembership"
MEMBERSHIP_ENUMERATED = "#microsoft.graph.enumeratedDeviceRegistrationMembership"
MEMBERSHIP_TYPES = (MEMBERSHIP_ALL, MEMBERSHIP_NONE, MEMBERSHIP_ENUMERATED)

POLICY_READ_ONLY = ("id", "displayName", "description", "@odata.context")
# Declared properties, types and enums are checked against Graph's metadata first (sim/metadata.py); these are the
# checks Graph makes beyond its schema.
POLICY_REQUIRED = {
    "userDeviceQuota": "quota",
    "multiFactorAuthConfiguration": "multiFactorAuthConfiguration",
    "azureADRegistration": "azureADRegistration",
    "azureADJoin": "azureADJoin",
    "localAdminPassword": "localAdminPassword",
}


class GraphFailure(Exception):
    """An error Graph answers with its `{"error": {...}}` shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _not_found(resource_id: str) -> GraphFailure:
    return GraphFailure(
        404,
        "Request_ResourceNotFound",
        f"Resource '{resource_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def _bad_request(message: str, code: str = "BadRequest") -> GraphFailure:
    return GraphFailure(400, code, message)


@dataclass
class Fault:
    """An injected fault on one route: latency, and optionally an error status for `times` requests."""

    route: str
    latency_ms: int = 0
    status: int | None = None
    retry_after: float | None = None
    times: int | None = None  # None: every request
    method: str | None = None
    # A write Graph answers as if it kept it, and does not (a replica lag or a silently dropped change).
    lose_write: bool = False
    # Tests only: `arrived` is set when a request takes this fault; with `gate`, it then waits for the gate.
    arrived: asyncio.Event | None = None
    gate: asyncio.Event | None = None

    def matches(self, route: str, method: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return self.route in ("*", route)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        return cls(
            route=str(data.get("route", "*")),
            latency_ms=int(data.get("latencyMs", 0)),
            status=int(data["status"]) if data.get("status") is not None else None,
            retry_after=float(data["retryAfter"]) if data.get("retryAfter") is not None else None,
            times=int(data["times"]) if data.get("times") is not None else None,
            method=data.get("method"),
            lose_write=bool(data.get("loseWrite", False)),
        )


@dataclass
class App:
    """An app registration: its secret, the application permissions it was granted, where consent may send back."""

    client_id: str
    client_secret: str
    permissions: tuple[str, ...]
    display_name: str | None = None
    redirect_uris: tuple[str, ...] | None = None  # None: any https://127.0.0.1 or http://127.0.0.1 address (tests)

    @classmethod
    def from_fixture(cls, data: Any) -> App:
        if not isinstance(data, dict) or not isinstance(data.get("clientId"), str) or not data["clientId"]:
            raise ValueError("each app needs a clientId")
        if not isinstance(data.get("clientSecret"), str):
            raise ValueError(f"app {data['clientId']} needs a clientSecret")
        uris = data.get("redirectUris")
        if uris is not None and (not isinstance(uris, list) or not all(isinstance(u, str) for u in uris)):
            raise ValueError(f"app {data['clientId']}: redirectUris must be a list of URLs")
        return cls(
            data["clientId"],
            data["clientSecret"],
            tuple(data.get("permissions", [])),
            data.get("displayName"),
            tuple(uris) if uris is not None else None,
        )

    def to_fixture(self) -> dict[str, Any]:
        out: dict[str, Any] = {"clientId": self.client_id, "clientSecret": self.client_secret}
        if self.display_name is not None:
            out["displayName"] = self.display_name
        out["permissions"] = list(self.permissions)
        if self.redirect_uris is not None:
            out["redirectUris"] = list(self.redirect_uris)
        return out

    def allows_redirect(self, uri: str) -> bool:
        """The registered redirect URIs match exactly; without any registered, loopback addresses (tests) do."""
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        return any(uri == p or uri.startswith((p + "/", p + ":")) for p in LOOPBACK_REDIRECTS)


LOOPBACK_REDIRECTS = ("https://127.0.0.1", "http://127.0.0.1")


@dataclass
class Tenant:
    tenant_id: str
    apps: dict[str, App]
    users: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    policy: dict[str, Any]
    events: list[dict[str, Any]]
    faults: list[Fault] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # The apps an administrator consented to in this tenant (a service principal exists for each); by default the
    # fixture's own app registrations.
    consented_apps: set[str] = field(default_factory=set)

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def from_fixture(cls, data: dict[str, Any]) -> Tenant:
        for key in ("tenantId", "apps", "users", "groups", "deviceRegistrationPolicy", "troubleshootingEvents"):
            if key not in data:
                raise ValueError(f"tenant fixture is missing the top-level key {key!r}")
        if not isinstance(data["tenantId"], str) or not data["tenantId"]:
            raise ValueError("tenantId must be a non-empty string")
        if not isinstance(data["apps"], list):
            raise ValueError("apps must be a list of app registrations")
        apps = {app.client_id: app for app in (App.from_fixture(a) for a in data["apps"])}
        consented = data.get("consentedApps", list(apps))
        if not isinstance(consented, list) or not all(isinstance(c, str) for c in consented):
            raise ValueError("consentedApps must be a list of client ids")
        users = {u["id"]: dict(u) for u in data["users"]}
        groups = {}
        for g in data["groups"]:
            group = dict(g)
            group.setdefault("members", [])
            groups[g["id"]] = group
        for g in groups.values():
            for member in g["members"]:
                if member not in users and member not in groups:
                    raise ValueError(f"group {g['id']} lists unknown member {member}")
        faults = [Fault.from_json(f) for f in data.get("faults", [])]
        known = {
            "tenantId",
            "apps",
            "users",
            "groups",
            "deviceRegistrationPolicy",
            "troubleshootingEvents",
            "faults",
            "consentedApps",
        }
        return cls(
            tenant_id=data["tenantId"],
            apps=apps,
            users=users,
            groups=groups,
            policy=copy.deepcopy(data["deviceRegistrationPolicy"]),
            events=[dict(e) for e in data["troubleshootingEvents"]],
            faults=faults,
            extra={k: v for k, v in data.items() if k not in known},
            consented_apps=set(consented),
        )

    def to_fixture(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "apps": [a.to_fixture() for a in self.apps.values()],
            "consentedApps": sorted(self.consented_apps),
            "users": list(self.users.values()),
            "groups": list(self.groups.values()),
            "deviceRegistrationPolicy": copy.deepcopy(self.policy),
            "troubleshootingEvents": list(self.events),
            **self.extra,
        }

    # ---- organization ----------------------------------------------------------------------------
    @property
    def domains(self) -> list[str]:
        """The tenant's verified domain names, the default first."""
        verified = self.organization_json().get("verifiedDomains") or []
        return [d["name"] for d in sorted(verified, key=lambda d: not d.get("isDefault"))]

    def organization_json(self) -> dict[str, Any]:
        """GET /organization's object: the fixture's `organization` as given, else one made from its `domain`
        (an initial onmicrosoft.com domain, as every tenant has) or its users' domains."""
        given = self.extra.get("organization")
        if isinstance(given, dict):
            return {"id": self.tenant_id, **{k: copy.deepcopy(v) for k, v in given.items() if k != "id"}}
        domain = self.extra.get("domain")
        names = [domain] if isinstance(domain, str) else []
        names += sorted({u["userPrincipalName"].split("@")[-1].lower() for u in self.users.values()} - set(names))
        label = names[0].split(".")[0] if names else self.tenant_id
        initial = next((n for n in names if n.endswith(".onmicrosoft.com")), None)
        return {
            "id": self.tenant_id,
            "displayName": self.extra.get("displayName") or label.capitalize(),
            "tenantType": "AAD",
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": i == 0,
                    "isInitial": name == initial,
                    "name": name,
                    "type": "Managed",
                }
                for i, name in enumerate(names)
            ],
        }

    # ---- faults --------------------------------------------------------------------------------
    def take_fault(self, route: str, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(route, method):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    # ---- directory -----------------------------------------------------------------------------
    def user(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            by_upn = [u for u in self.users.values() if u["userPrincipalName"].lower() == user_id.lower()]
            if not by_upn:
                raise _not_found(user_id)
            user = by_upn[0]
        return user

    def group_ids_of(self, object_id: str) -> set[str]:
        """Every group that contains `object_id`, directly or through nested groups."""
        found: set[str] = set()
        frontier = [object_id]
        while frontier:
            current = frontier.pop()
            for group in self.groups.values():
                if current in group["members"] and group["id"] not in found:
                    found.add(group["id"])
                    frontier.append(group["id"])
        return found

    def transitive_member_ids(self, group_id: str) -> list[str]:
        """Every member of the group, directly or through nested groups (groups included), each once."""
        if group_id not in self.groups:
            raise _not_found(group_id)
        seen: set[str] = set()
        out: list[str] = []
        frontier = [group_id]
        while frontier:
            for member in self.groups[frontier.pop()]["members"]:
                if member in seen:
                    continue
                seen.add(member)
                out.append(member)
                if member in self.groups:
                    frontier.append(member)
        return out

    def transitive_members(self, group_id: str) -> list[dict[str, Any]]:
        return [self.object_json(m) for m in self.transitive_member_ids(group_id)]

    def object_json(self, object_id: str, select: list[str] | None = None) -> dict[str, Any]:
        if object_id in self.groups:
            group = self.group_json(object_id)
            return {k: v for k, v in group.items() if k in ("@odata.type", "id", *select)} if select else group
        return self.user_json(self.users[object_id], select)

    def user_json(self, user: dict[str, Any], select: list[str] | None = None) -> dict[str, Any]:
        body = {"@odata.type": "#microsoft.graph.user", **user}
        if select:
            body = {"@odata.type": "#microsoft.graph.user", **{k: user.get(k) for k in ["id", *select]}}
        return body

    def group_json(self, group_id: str, select: list[str] | None = None) -> dict[str, Any]:
        group = self.groups[group_id]
        if select:  # what was asked for (and the id), each declared property present even when not set
            stored = {k: v for k, v in group.items() if k != "members"}
            return {"@odata.type": "#microsoft.graph.group", **{k: stored.get(k) for k in ["id", *select]}}
        return {
            "@odata.type": "#microsoft.graph.group",
            "id": group["id"],
            "displayName": group.get("displayName"),
            "securityEnabled": group.get("securityEnabled", True),
        }

    # ---- Conditional Access -----------------------------------------------------------------------
    def _item(self, collection: str, item_id: str) -> dict[str, Any]:
        """One object of a fixture collection by id (stored as is: changes to it are the tenant's)."""
        for item in self.extra.get(collection, []):
            if item.get("id") == item_id:
                return item  # type: ignore[no-any-return]
        raise GraphFailure(404, "ResourceNotFound", f"Resource '{item_id}' was not found.")

    def ca_policy(self, policy_id: str) -> dict[str, Any]:
        return self._item("conditionalAccessPolicies", policy_id)

    def patch_ca_policy(self, policy_id: str, body: Any, now: datetime) -> None:
        """Graph's PATCH: each property given replaces the stored one (a complex one whole); undeclared -> 400."""
        policy = self.ca_policy(policy_id)
        if not isinstance(body, dict) or not body:
            raise _bad_request("Request body must be a non-empty JSON object.", "BadRequest")
        users = ((body.get("conditions") or {}).get("users")) if isinstance(body.get("conditions"), dict) else None
        if isinstance(users, dict):
            for key in ("includeUsers", "excludeUsers"):
                for value in users.get(key) or []:
                    if value not in self.users and value not in ("All", "None", "GuestsOrExternalUsers"):
                        raise _bad_request(f"Invalid object identifier '{value}'.", "BadRequest")
        for key, value in body.items():
            if key not in ("id", "createdDateTime", "modifiedDateTime", "@odata.context", "@odata.type"):
                policy[key] = copy.deepcopy(value)
        policy["modifiedDateTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")

    # ---- Intune enrollment configurations ----------------------------------------------------------
    def enrollment_configuration(self, configuration_id: str) -> dict[str, Any]:
        return self._item("deviceEnrollmentConfigurations", configuration_id)

    def patch_enrollment_configuration(self, configuration_id: str, body: Any, now: datetime) -> None:
        item = self.enrollment_configuration(configuration_id)
        if not isinstance(body, dict) or body.get("@odata.type") != item.get("@odata.type"):
            raise _bad_request("A PATCH must name the configuration's @odata.type.", "BadRequest")
        for key, value in body.items():
            if key not in ("@odata.type", "id", "createdDateTime", "lastModifiedDateTime", "version"):
                item[key] = copy.deepcopy(value)
        item["lastModifiedDateTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        item["version"] = int(item.get("version") or 0) + 1

    # ---- device registration policy ------------------------------------------------------------
    def put_policy(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad_request("Request body must be a JSON object.", "invalid_request")
        for key, name in POLICY_REQUIRED.items():
            if body.get(key) is None:
                raise _bad_request(f"Tenant registration policy is missing a value for {name}", "invalid_request")
        quota = body["userDeviceQuota"]
        if not isinstance(quota, int) or isinstance(quota, bool) or quota < 0:
            raise _bad_request("userDeviceQuota must be a non-negative integer.", "invalid_request")
        if body["multiFactorAuthConfiguration"] not in ("notRequired", "required", "0", "1"):
            raise _bad_request("Invalid value for multiFactorAuthConfiguration.", "invalid_request")
        join = body["azureADJoin"]
        if not isinstance(join, dict) or not isinstance(join.get("allowedToJoin"), dict):
            raise _bad_request("azureADJoin.allowedToJoin is required.", "invalid_request")
        membership = join["allowedToJoin"]
        kind = membership.get("@odata.type")
        if kind not in MEMBERSHIP_TYPES:
            raise _bad_request(f"Unknown deviceRegistrationMembership type {kind!r}.", "invalid_request")
        if kind == MEMBERSHIP_ENUMERATED:
            for key, table in (("users", self.users), ("groups", self.groups)):
                values = membership.get(key, [])
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise _bad_request(f"allowedToJoin.{key} must be a list of object ids.", "invalid_request")
                for value in values:
                    if value not in table:
                        raise _bad_request(f"Invalid object identifier '{value}'.", "invalid_request")
        if body["azureADRegistration"] != self.policy.get("azureADRegistration"):
            raise _bad_request(
                "azureADRegistration cannot be changed while Microsoft Intune is enabled.", "invalid_request"
            )
        updated = copy.deepcopy(self.policy)
        for key, value in body.items():
            if key in POLICY_READ_ONLY:
                continue
            updated[key] = copy.deepcopy(value)
        # The admin-configurable flag is not writable in practice.
        updated["azureADJoin"]["isAdminConfigurable"] = self.policy.get("azureADJoin", {}).get(
            "isAdminConfigurable", True
        )
        self.policy = updated
        return copy.deepcopy(self.policy)


# ---- tokens -----------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Tokens are signed so that one whose claims were edited (another tenant's `tid`, more `roles`) is refused, as Graph
# refuses a token whose signature does not verify. The key is not a secret: it only makes tampering detectable.
_SIGNING_KEY = b"enrollment-doctor-simulated-tenant"


def encode_token(claims: dict[str, Any]) -> str:
    header = {"typ": "JWT", "alg": "HS256", "kid": "sim"}
    signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(_SIGNING_KEY, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}"


def issue_token(tenant: Tenant, app: App, now: datetime, lifetime_s: int = 3600) -> tuple[str, dict[str, Any]]:
    claims = {
        "aud": "https://graph.microsoft.com",
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "tid": tenant.tenant_id,
        "appid": app.client_id,
        "roles": list(app.permissions),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
    return encode_token(claims), claims


def read_token(token: str) -> dict[str, Any] | None:
    """The claims of a token this simulator signed; None for anything else (malformed, or edited after signing)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = _b64(hmac.new(_SIGNING_KEY, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


_STARTSWITH = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
_EQ = re.compile(r"^\s*(\w+)\s+eq\s+(true|false|'(?:[^']|'')*')\s*$", re.IGNORECASE)


def parse_user_filter(expression: str) -> tuple[str, str, Any]:
    """The small subset of OData `$filter` the product needs; anything else is Graph's 400."""
    match = _STARTSWITH.match(expression)
    if match:
        return ("startswith", match.group(1), match.group(2).replace("''", "'"))
    match = _EQ.match(expression)
    if match:
        raw = match.group(2)
        value: Any = raw.lower() == "true" if raw.lower() in ("true", "false") else raw[1:-1].replace("''", "'")
        return ("eq", match.group(1), value)
    raise GraphFailure(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause: {expression}")


def filter_property(clause: tuple[str, str, Any]) -> str:
    return clause[1]


def user_matches(user: dict[str, Any], clause: tuple[str, str, Any]) -> bool:
    op, prop, value = clause
    actual = user.get(prop)
    if op == "startswith":
        return isinstance(actual, str) and actual.lower().startswith(str(value).lower())
    if isinstance(value, str) and isinstance(actual, str):
        return actual.lower() == value.lower()
    return bool(actual == value)


def utcnow() -> datetime:
    return datetime.now(UTC)
