"""The simulated tenant refuses what Microsoft Graph refuses, measured against Graph's own metadata and permission
pages: each test here is a request a client bug could send that a real tenant would answer with an error."""

from __future__ import annotations

import copy
import json
import ssl
import time

import httpx
import pytest

from sim.permissions import APPLICATION_PERMISSIONS
from sim.tenant import Tenant, encode_token
from tests.conftest import start_sim

ADELE = "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f01"
APPROVERS = "d1e2f3a4-0000-4000-8000-00000000a001"
JOINERS = "d1e2f3a4-0000-4000-8000-00000000a002"
RESTRICTION = "a1b2c3d4-0000-4000-8000-000000000001_DefaultPlatformRestrictions"
PLATFORM_RESTRICTIONS = "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration"


async def call(sim, method: str, path: str, *, roles: tuple[str, ...] | None = None, **kw) -> httpx.Response:
    """A Graph request with a token from the simulated tenant's token endpoint (the app's own roles), or, with
    `roles`, from an app registration holding exactly those."""
    app = next(iter(sim.tenant.apps.values()))
    if roles is not None:
        app.permissions = roles
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.ca_pem))) as client:
        token = await client.post(
            f"{sim.url}/{sim.tenant.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        return await client.request(method, f"{sim.url}/{path}", headers=headers, **kw)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


# ---- bodies: nesting, types, enums -------------------------------------------------------------------
async def test_a_policy_put_with_an_undeclared_nested_property_is_refused_and_nothing_is_stored(sim):
    policy = (await call(sim, "GET", "v1.0/policies/deviceRegistrationPolicy")).json()
    for key in ("@odata.context", "id", "displayName", "description"):
        policy.pop(key)
    before = json.dumps(sim.tenant.policy, sort_keys=True)
    nested = copy.deepcopy(policy)
    nested["azureADJoin"]["allowedToJoinEveryone"] = True
    status, code, message = error_of(await call(sim, "PUT", "v1.0/policies/deviceRegistrationPolicy", json=nested))
    assert (status, code) == (400, "Request_BadRequest")
    assert message.startswith(
        "The property 'allowedToJoinEveryone' does not exist on type 'microsoft.graph.azureADJoinPolicy'."
    )
    deeper = copy.deepcopy(policy)
    deeper["azureADJoin"]["localAdmins"]["registeringUsers"]["everyone"] = True  # inside a derived type
    status, _, message = error_of(await call(sim, "PUT", "v1.0/policies/deviceRegistrationPolicy", json=deeper))
    assert status == 400 and "'everyone' does not exist on type 'microsoft.graph.noDeviceRegistrationMembership'" in (
        message
    )
    typed = {**copy.deepcopy(policy), "userDeviceQuota": "50"}
    status, _, message = error_of(await call(sim, "PUT", "v1.0/policies/deviceRegistrationPolicy", json=typed))
    assert status == 400 and message.startswith("Cannot convert a primitive value to the expected type 'Edm.Int32'")
    foreign = copy.deepcopy(policy)
    foreign["azureADJoin"]["allowedToJoin"] = {"@odata.type": "#microsoft.graph.user", "users": []}
    status, _, message = error_of(await call(sim, "PUT", "v1.0/policies/deviceRegistrationPolicy", json=foreign))
    assert (
        status == 400
        and "is not assignable to the expected type 'microsoft.graph.deviceRegistrationMembership'" in (message)
    )
    assert json.dumps(sim.tenant.policy, sort_keys=True) == before
    assert (await call(sim, "PUT", "v1.0/policies/deviceRegistrationPolicy", json=policy)).status_code == 200


async def test_a_ca_patch_with_an_undeclared_condition_or_an_unknown_client_app_type_is_refused(sim):
    stored = sim.tenant.extra["conditionalAccessPolicies"][0]
    path = f"v1.0/identity/conditionalAccess/policies/{stored['id']}"
    writer = ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess")
    before = json.dumps(stored, sort_keys=True)
    conditions = copy.deepcopy(stored["conditions"])
    conditions["users"]["includeEveryoneExcept"] = []
    status, code, message = error_of(await call(sim, "PATCH", path, roles=writer, json={"conditions": conditions}))
    assert (status, code) == (400, "BadRequest") and message.startswith("1007: ")
    conditions = {**copy.deepcopy(stored["conditions"]), "clientAppTypes": ["browser", "legacyClients"]}
    status, code, message = error_of(await call(sim, "PATCH", path, roles=writer, json={"conditions": conditions}))
    assert (status, code) == (400, "BadRequest") and message.startswith("1007: ")
    assert json.dumps(stored, sort_keys=True) == before
    conditions = {**copy.deepcopy(stored["conditions"]), "clientAppTypes": ["browser", "mobileAppsAndDesktopClients"]}
    assert (await call(sim, "PATCH", path, roles=writer, json={"conditions": conditions})).status_code == 204
    assert stored["conditions"]["clientAppTypes"] == ["browser", "mobileAppsAndDesktopClients"]


async def test_a_restriction_patch_with_an_undeclared_windows_restriction_property_is_refused(sim):
    path = f"v1.0/deviceManagement/deviceEnrollmentConfigurations/{RESTRICTION}"
    writer = ("DeviceManagementServiceConfig.ReadWrite.All",)
    stored = next(c for c in sim.tenant.extra["deviceEnrollmentConfigurations"] if c["id"] == RESTRICTION)
    before = json.dumps(stored, sort_keys=True)
    windows = {**stored["windowsRestriction"], "platformBlocked": False, "blockedManufacturers": []}
    body = {"@odata.type": PLATFORM_RESTRICTIONS, "windowsRestriction": windows}
    status, code, message = error_of(await call(sim, "PATCH", path, roles=writer, json=body))
    assert (status, code) == (400, "BadRequest")
    assert "'blockedManufacturers' does not exist on type 'microsoft.graph.deviceEnrollmentPlatformRestriction'" in (
        message
    )
    assert json.dumps(stored, sort_keys=True) == before
    body["windowsRestriction"].pop("blockedManufacturers")
    assert (await call(sim, "PATCH", path, roles=writer, json=body)).status_code == 204


# ---- action parameters -------------------------------------------------------------------------------
async def test_action_bodies_carry_only_the_parameters_the_action_declares(sim):
    check = f"v1.0/users/{ADELE}/checkMemberGroups"
    body = {"groupIds": [APPROVERS], "securityEnabledOnly": True}  # getMemberGroups' parameter, not this one's
    refused = await call(sim, "POST", check, json=body)
    status, code, message = error_of(refused)
    assert (status, code) == (400, "Request_BadRequest")
    inner = refused.json()["error"]["innerError"]  # Graph's error shape: the ids its headers carry, and the date
    assert inner["request-id"] == inner["client-request-id"] == refused.headers["request-id"] and inner["date"]
    assert message == (
        "The parameter 'securityEnabledOnly' in the request payload is not a valid parameter for the operation "
        "'checkMemberGroups'."
    )
    status, _, message = error_of(await call(sim, "POST", check, json={}))
    assert status == 400 and "The missing parameters are: groupIds." in message
    assert (await call(sim, "POST", check, json={"groupIds": [APPROVERS]})).status_code == 200
    by_ids = "v1.0/directoryObjects/getByIds"
    roles = ("Directory.Read.All",)
    body = {"ids": [ADELE], "types": ["user"], "select": "displayName"}
    status, _, message = error_of(await call(sim, "POST", by_ids, roles=roles, json=body))
    assert status == 400 and message.startswith("The parameter 'select' in the request payload is not a valid")
    status, _, message = error_of(await call(sim, "POST", by_ids, roles=roles, json={"ids": ADELE}))
    assert status == 400 and "A 'StartArray' node was expected." in message
    assert (await call(sim, "POST", by_ids, roles=roles, json={"ids": [ADELE], "types": ["user"]})).status_code == 200


# ---- $select, $expand, and what is returned -----------------------------------------------------------
async def test_select_is_checked_and_honoured_inside_a_batch_for_users_and_groups(sim):
    requests = [
        {"id": "u-bad", "method": "GET", "url": f"/users/{ADELE}?$select=id,favouriteColour"},
        {"id": "g-bad", "method": "GET", "url": f"/groups/{JOINERS}?$select=id,nickname"},
        {"id": "g-ok", "method": "GET", "url": f"/groups/{JOINERS}?$select=id,displayName"},
        {"id": "u-ok", "method": "GET", "url": f"/users/{ADELE}?$select=id,displayName,userPrincipalName"},
    ]
    answered = await call(sim, "POST", "v1.0/$batch", json={"requests": requests})
    responses = {r["id"]: r for r in answered.json()["responses"]}
    for bad, prop, type_name in (("u-bad", "favouriteColour", "user"), ("g-bad", "nickname", "group")):
        assert responses[bad]["status"] == 400
        assert responses[bad]["body"]["error"]["message"] == (
            f"Could not find a property named '{prop}' on type 'microsoft.graph.{type_name}'."
        )
    group = responses["g-ok"]["body"]
    assert {k for k in group if not k.startswith("@odata")} == {"id", "displayName"}  # securityEnabled not asked
    assert group["@odata.context"].endswith("/v1.0/$metadata#groups(id,displayName)/$entity")
    user = responses["u-ok"]["body"]
    assert {k for k in user if not k.startswith("@odata")} == {"id", "displayName", "userPrincipalName"}
    assert user["@odata.context"].endswith("/v1.0/$metadata#users(id,displayName,userPrincipalName)/$entity")
    whole = (await call(sim, "GET", f"v1.0/groups/{JOINERS}")).json()
    assert whole["@odata.context"].endswith("/v1.0/$metadata#groups/$entity")


async def test_expand_names_a_declared_navigation_property(sim):
    url = "v1.0/deviceManagement/deviceEnrollmentConfigurations"
    roles = ("DeviceManagementServiceConfig.Read.All",)
    status, code, message = error_of(await call(sim, "GET", f"{url}?$expand=assignments,owners", roles=roles))
    assert (status, code) == (400, "BadRequest")
    assert message == (
        "Parsing OData Select and Expand failed: Could not find a property named 'owners' on type "
        "'microsoft.graph.deviceEnrollmentConfiguration'."
    )
    status, _, message = error_of(await call(sim, "GET", f"{url}?$expand=displayName", roles=roles))
    assert status == 400 and "is not a navigation property" in message
    plain = (await call(sim, "GET", f"{url}/{RESTRICTION}", roles=roles)).json()
    expanded = (await call(sim, "GET", f"{url}/{RESTRICTION}?$expand=assignments", roles=roles)).json()
    assert "assignments" not in plain and expanded["assignments"]
    status, _, message = error_of(await call(sim, "GET", "v1.0/users?$expand=manager", roles=("User.Read.All",)))
    assert status == 501 and "does not serve $expand=manager" in message  # said, not answered without it
    # The same on every read, not only those whose handler expands something.
    ca = "v1.0/identity/conditionalAccess/policies"
    status, code, message = error_of(await call(sim, "GET", f"{ca}?$expand=owners", roles=("Policy.Read.All",)))
    assert (status, code) == (
        400,
        "BadRequest",
    ) and "named 'owners' on type 'microsoft.graph.conditionalAccessPolicy'" in (message)
    signins = "v1.0/auditLogs/signIns?$select=id,nickname"
    status, _, message = error_of(await call(sim, "GET", signins, roles=("AuditLog.Read.All",)))
    assert status == 400 and message == "Could not find a property named 'nickname' on type 'microsoft.graph.signIn'."


def delegated_token(tenant: Tenant, scopes: str) -> str:
    """A signed-in user's token as the simulated tenant reads it (scp, oid), made here to reach a delegated-only
    read; the simulator's token endpoint issues app tokens."""
    claims = {
        "aud": "https://graph.microsoft.com",
        "tid": tenant.tenant_id,
        "oid": ADELE,
        "scp": scopes,
        "exp": int(time.time()) + 600,
    }
    return encode_token(claims)


@pytest.fixture
async def mdm_sim(fixture_data, tls_dir):
    data = copy.deepcopy(fixture_data)
    data["mobileDeviceManagementPolicies"] = [
        {
            "id": "0000000a-0000-0000-c000-000000000000",
            "displayName": "Microsoft Intune",
            "appliesTo": "selected",
            "isValid": True,
            "includedGroups": [{"id": JOINERS, "displayName": "Device joiners"}],
        }
    ]
    running = await start_sim(Tenant.from_fixture(data), tls_dir)
    yield running
    await running.close()


async def test_mdm_policies_include_their_groups_only_when_expanded_and_say_their_context(mdm_sim):
    headers = {"Authorization": f"Bearer {delegated_token(mdm_sim.tenant, 'Policy.Read.All')}"}
    url = f"{mdm_sim.url}/beta/policies/mobileDeviceManagementPolicies"
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(mdm_sim.ca_pem))) as client:
        plain = (await client.get(url, headers=headers)).json()
        expanded = (await client.get(f"{url}?$expand=includedGroups", headers=headers)).json()
        wrong = await client.get(f"{url}?$expand=excludedGroups", headers=headers)
    assert plain["@odata.context"].endswith("/beta/$metadata#policies/mobileDeviceManagementPolicies")
    assert "includedGroups" not in plain["value"][0] and plain["value"][0]["appliesTo"] == "selected"
    assert expanded["value"][0]["includedGroups"] == [{"id": JOINERS, "displayName": "Device joiners"}]
    assert wrong.status_code == 400 and "'excludedGroups'" in wrong.json()["error"]["message"]


# ---- permissions, as Microsoft's pages list them -----------------------------------------------------------
async def test_an_app_needs_both_halves_of_a_documented_pair_and_the_read_permission_to_read_ca(sim):
    check = f"v1.0/users/{ADELE}/checkMemberGroups"
    body = {"groupIds": [APPROVERS]}
    for half in (("GroupMember.Read.All",), ("User.Read.All",)):
        status, code, _ = error_of(await call(sim, "POST", check, roles=half, json=body))
        assert (status, code) == (403, "Authorization_RequestDenied"), half
    both = ("User.Read.All", "GroupMember.Read.All")
    assert (await call(sim, "POST", check, roles=both, json=body)).status_code == 200
    ca = "v1.0/identity/conditionalAccess/policies"
    assert (await call(sim, "GET", ca, roles=("Policy.ReadWrite.ConditionalAccess",))).status_code == 403
    assert (await call(sim, "GET", ca, roles=("Policy.Read.All",))).status_code == 200
    members = f"v1.0/groups/{JOINERS}/transitiveMembers/microsoft.graph.user?$select=id"
    assert (await call(sim, "GET", members, roles=("GroupMember.ReadBasic.All",))).status_code == 200
    # Get a user lists no User.ReadBasic.All for an application (see sim/permissions.py).
    names = f"v1.0/users/{ADELE}?$select=id,displayName,userPrincipalName"
    assert (await call(sim, "GET", names, roles=("User.ReadBasic.All",))).status_code == 403


def test_every_route_the_simulator_serves_has_its_permission_row():
    from sim.server import ROUTES

    missing = {r.name for r in ROUTES if r.name != "batch"} - set(APPLICATION_PERMISSIONS)
    assert not missing
    for name, requirement in APPLICATION_PERMISSIONS.items():
        assert requirement.page.startswith("https://learn.microsoft.com/graph/api/"), name


async def test_every_json_answer_says_its_odata_context(mdm_sim):
    """Graph names the metadata of what it returns on every entity and collection answer (not on $batch's
    envelope, whose items carry their own)."""
    from sim.server import ROUTES

    reader = tuple(sorted({p for r in APPLICATION_PERMISSIONS.values() for alt in r.alternatives for p in alt}))
    sim = mdm_sim
    paths = {
        "policy.get": "v1.0/policies/deviceRegistrationPolicy",
        "users.list": "v1.0/users",
        "users.get": f"v1.0/users/{ADELE}",
        "users.transitiveMemberOf": f"v1.0/users/{ADELE}/transitiveMemberOf",
        "groups.get": f"v1.0/groups/{JOINERS}",
        "groups.transitiveMembers": f"v1.0/groups/{JOINERS}/transitiveMembers",
        "troubleshootingEvents.list": "v1.0/deviceManagement/troubleshootingEvents",
        "conditionalAccess.list": "v1.0/identity/conditionalAccess/policies",
        "conditionalAccess.get": "v1.0/identity/conditionalAccess/policies/"
        + sim.tenant.extra["conditionalAccessPolicies"][0]["id"],
        "enrollmentConfigurations.list": "v1.0/deviceManagement/deviceEnrollmentConfigurations",
        "enrollmentConfigurations.get": f"v1.0/deviceManagement/deviceEnrollmentConfigurations/{RESTRICTION}",
        "signIns.list": "v1.0/auditLogs/signIns",
        "deletedUsers.list": "v1.0/directory/deletedItems/microsoft.graph.user",
        "organization.list": "v1.0/organization",
        "organization.get": f"v1.0/organization/{sim.tenant.tenant_id}",
    }
    posts = {
        "users.checkMemberGroups": (f"v1.0/users/{ADELE}/checkMemberGroups", {"groupIds": [APPROVERS]}),
        "directoryObjects.getByIds": ("v1.0/directoryObjects/getByIds", {"ids": [ADELE]}),
    }
    answered = {}
    for route, path in paths.items():
        answered[route] = await call(sim, "GET", path, roles=reader)
    for route, (path, body) in posts.items():
        answered[route] = await call(sim, "POST", path, roles=reader, json=body)
    headers = {"Authorization": f"Bearer {delegated_token(sim.tenant, 'Policy.Read.All')}"}
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.ca_pem))) as client:
        url = f"{sim.url}/beta/policies/mobileDeviceManagementPolicies"
        answered["mdmPolicies.list"] = await client.get(url, headers=headers)
        me = {"Authorization": f"Bearer {delegated_token(sim.tenant, 'User.Read')}"}
        url = f"{sim.url}/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole"
        answered["me.transitiveMemberOf"] = await client.get(url, headers=me)
    for route, response in answered.items():
        assert response.status_code == 200, (route, response.text)
        assert "/$metadata#" in response.json()["@odata.context"], route
    readers = {r.name for r in ROUTES if r.method in ("GET", "POST") and r.name != "batch"}
    assert readers == set(answered)  # a new route is checked here too


async def test_a_fixture_object_graph_could_not_return_is_refused_at_start(fixture_data, tls_dir):
    data = copy.deepcopy(fixture_data)
    data["conditionalAccessPolicies"][0]["conditions"]["clientAppTypes"] = ["everything"]
    with pytest.raises(ValueError, match="tenant fixture conditionalAccessPolicies: Invalid value specified"):
        await start_sim(Tenant.from_fixture(data), tls_dir)
    data = copy.deepcopy(fixture_data)
    data["deviceRegistrationPolicy"]["azureADJoin"]["allowEveryone"] = True
    with pytest.raises(ValueError, match="'allowEveryone' does not exist on type 'microsoft.graph.azureADJoinPolicy'"):
        await start_sim(Tenant.from_fixture(data), tls_dir)
