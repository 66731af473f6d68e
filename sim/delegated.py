"""Signed-in users in the simulated tenant: delegated tokens (`scp`, `oid`), the resource-owner password grant
(test use only), and Graph's rule that a delegated call needs both the scope and a directory role of the user.

A delegated Graph token carries the scopes the user consented to (`scp`) and who the user is (`oid`); Graph then
allows a write only when the user also holds a role that permits it (Cloud Device Administrator for the device
registration policy, and so on) and answers 403 `Authorization_RequestDenied` otherwise. Roles come from the
fixture's `directoryRoleAssignments` (Graph's unifiedRoleAssignment shape: principalId, roleDefinitionId)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sim.tenant import GraphFailure, Tenant, encode_token

# Built-in Entra roles by template id (the ids are the same in every tenant).
ROLE_NAMES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "7698a772-787b-4ac8-901f-60d6b08affd2": "Cloud Device Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
}
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"

# Per route: the delegated scopes that allow it (any one), and for writes the roles that allow it (any one).
DELEGATED_SCOPES: dict[str, tuple[str, ...]] = {
    "policy.get": ("Policy.Read.DeviceConfiguration", "Policy.ReadWrite.DeviceConfiguration"),
    "policy.put": ("Policy.ReadWrite.DeviceConfiguration",),
    "conditionalAccess.list": ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    "conditionalAccess.get": ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    "conditionalAccess.patch": ("Policy.ReadWrite.ConditionalAccess",),
    "enrollmentConfigurations.list": (
        "DeviceManagementServiceConfig.Read.All",
        "DeviceManagementServiceConfig.ReadWrite.All",
    ),
    "enrollmentConfigurations.get": (
        "DeviceManagementServiceConfig.Read.All",
        "DeviceManagementServiceConfig.ReadWrite.All",
    ),
    "enrollmentConfigurations.patch": ("DeviceManagementServiceConfig.ReadWrite.All",),
    "mdmPolicies.list": ("Policy.Read.All", "Policy.ReadWrite.MobilityManagement"),
    "me.transitiveMemberOf": ("User.Read", "Directory.Read.All", "User.Read.All", "GroupMember.Read.All"),
    "organization.list": ("User.Read", "Directory.Read.All", "Directory.ReadWrite.All"),
    "organization.get": (
        "User.Read",
        "Organization.Read.All",
        "Directory.Read.All",
        "Organization.ReadWrite.All",
        "Directory.ReadWrite.All",
    ),
}
WRITE_ROLES: dict[str, tuple[str, ...]] = {
    "policy.put": (GLOBAL_ADMIN, "7698a772-787b-4ac8-901f-60d6b08affd2"),
    "conditionalAccess.patch": (
        GLOBAL_ADMIN,
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    "enrollmentConfigurations.patch": (GLOBAL_ADMIN, "3a2c62db-5318-420d-8d74-23affee5d9d5"),
}
DEFAULT_CONNECTION_SCOPES = (
    "User.Read",
    "Policy.Read.All",
    "Policy.ReadWrite.DeviceConfiguration",
    "Policy.ReadWrite.ConditionalAccess",
    "DeviceManagementServiceConfig.ReadWrite.All",
)
SSO_SCOPE = "access_as_user"

DENIED = "Insufficient privileges to complete the operation."


def role_ids_of(tenant: Tenant, user_id: str) -> list[str]:
    """The directory roles assigned to the user (tenant-wide scope)."""
    return [
        str(a["roleDefinitionId"])
        for a in tenant.extra.get("directoryRoleAssignments", [])
        if a.get("principalId") == user_id and a.get("directoryScopeId", "/") == "/"
    ]


def password_of(tenant: Tenant, user_id: str) -> str | None:
    password = tenant.extra.get("passwords", {}).get(user_id)
    return str(password) if password else None


def issue_user_token(
    tenant: Tenant, user: dict[str, Any], audience: str, scopes: tuple[str, ...], now: datetime, app_id: str
) -> tuple[str, int]:
    """A token for a signed-in user: `scp` and `oid`, for Graph or for the bot's SSO resource."""
    lifetime = 3600
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "tid": tenant.tenant_id,
        "oid": user["id"],
        "upn": user["userPrincipalName"],
        "name": user.get("displayName"),
        "appid": app_id,
        "scp": " ".join(scopes),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": str(uuid.uuid4()),
    }
    return encode_token(claims), lifetime


def password_grant(tenant: Tenant, form: dict[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
    """The resource-owner password grant, for tests that play what Teams or a person's sign-in would send: the
    SSO token Teams gets for `api://botid-<bot id>`, or a Graph token."""
    username, password = form.get("username", ""), form.get("password", "")
    user = next((u for u in tenant.users.values() if u["userPrincipalName"].lower() == username.lower()), None)
    if user is None or password_of(tenant, user["id"]) is None or password_of(tenant, user["id"]) != password:
        return 400, {
            "error": "invalid_grant",
            "error_description": "AADSTS50126: Error validating credentials due to invalid username or password.",
            "error_codes": [50126],
        }
    scope = form.get("scope", "")
    resource = scope.split(" ")[0].rsplit("/", 1)[0] if scope else ""
    if resource.startswith("api://botid-"):
        token, lifetime = issue_user_token(tenant, user, resource, (SSO_SCOPE,), now, form.get("client_id", ""))
    elif resource == "https://graph.microsoft.com":
        scopes = connection_scopes(tenant)
        token, lifetime = issue_user_token(tenant, user, resource, scopes, now, form.get("client_id", ""))
    else:
        return 400, {
            "error": "invalid_scope",
            "error_description": f"AADSTS70011: The provided value for scope {scope} is not valid.",
            "error_codes": [70011],
        }
    return 200, {"token_type": "Bearer", "expires_in": lifetime, "access_token": token, "scope": scope}


def connection_scopes(tenant: Tenant) -> tuple[str, ...]:
    """The delegated Graph scopes the bot's OAuth connection asks for (consented by the admin)."""
    return tuple(tenant.extra.get("oauthConnection", {}).get("scopes", DEFAULT_CONNECTION_SCOPES))


def authorize(route: str, claims: dict[str, Any], tenant: Tenant) -> None:
    """Graph's rule for a delegated token: a scope that allows the call, and for a write, a role of the user."""
    scopes = set(str(claims.get("scp", "")).split())
    allowed = DELEGATED_SCOPES.get(route)
    if route == "batch":
        return  # each request inside is authorized on its own
    if allowed is None or not scopes.intersection(allowed):
        raise GraphFailure(403, "Authorization_RequestDenied", DENIED)
    roles = WRITE_ROLES.get(route)
    if roles and not set(role_ids_of(tenant, str(claims.get("oid")))).intersection(roles):
        raise GraphFailure(403, "Authorization_RequestDenied", DENIED)


def caller(claims: dict[str, Any]) -> dict[str, str]:
    """Who a request was made as: the signed-in user, or the app itself."""
    if claims.get("scp") and claims.get("oid"):
        return {"kind": "user", "id": str(claims["oid"])}
    return {"kind": "app", "id": str(claims.get("appid", ""))}


def my_directory_roles(tenant: Tenant, claims: dict[str, Any], base: str) -> dict[str, Any]:
    """GET /me/transitiveMemberOf/microsoft.graph.directoryRole: the signed-in user's activated roles."""
    if not claims.get("oid"):
        raise GraphFailure(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    roles = [
        {
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.tenant_id}/{template}")),
            "displayName": ROLE_NAMES.get(template, template),
            "roleTemplateId": template,
        }
        for template in dict.fromkeys(role_ids_of(tenant, str(claims["oid"])))
    ]
    return {"@odata.context": f"{base}/$metadata#directoryRoles", "value": roles}
