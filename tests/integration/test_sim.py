"""The simulated tenant speaks Graph: token endpoint, errors, paging, $batch, PUT rules, faults."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from sim.runner import RunningSim


@pytest.fixture
async def http(sim: RunningSim):
    context = ssl.create_default_context(cafile=str(sim.ca_pem))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


async def token(http, sim, secret=None):
    app = next(iter(sim.tenant.apps.values()))
    form = {
        "grant_type": "client_credentials",
        "client_id": app.client_id,
        "client_secret": secret or app.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    async with http.post(f"{sim.url}/{sim.tenant.tenant_id}/oauth2/v2.0/token", data=form) as response:
        return response.status, await response.json()


async def graph(http, sim, method, path, body=None, bearer=None):
    if bearer is None:
        _, answer = await token(http, sim)
        bearer = answer["access_token"]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with http.request(method, f"{sim.url}/v1.0{path}", json=body, headers=headers) as response:
        return response.status, await response.json(), response.headers


async def test_token_endpoint_and_metadata(http, sim):
    status, body = await token(http, sim)
    assert status == 200 and body["token_type"] == "Bearer" and body["access_token"]
    status, body = await token(http, sim, secret="wrong")
    assert status == 401 and body["error"] == "invalid_client" and "AADSTS7000215" in body["error_description"]
    async with http.get(f"{sim.url}/{sim.tenant.tenant_id}/v2.0/.well-known/openid-configuration") as response:
        assert (await response.json())["token_endpoint"].endswith("/oauth2/v2.0/token")


async def test_missing_or_bad_token_is_401(http, sim):
    status, body, _ = await graph(http, sim, "GET", "/policies/deviceRegistrationPolicy", bearer="")
    assert status == 401 and body["error"]["code"] == "InvalidAuthenticationToken"
    status, _, _ = await graph(http, sim, "GET", "/policies/deviceRegistrationPolicy", bearer="garbage")
    assert status == 401


async def test_a_permission_the_app_lacks_is_403(http, sim):
    next(iter(sim.tenant.apps.values())).permissions = ("User.Read.All",)
    status, body, headers = await graph(http, sim, "GET", "/policies/deviceRegistrationPolicy")
    assert status == 403 and body["error"]["code"] == "Authorization_RequestDenied"
    assert headers["request-id"]


async def test_users_filter_select_and_paging(http, sim):
    path = "/users?$filter=startswith(userPrincipalName,'package_')&$select=id,userPrincipalName&$top=3"
    status, page, _ = await graph(http, sim, "GET", path)
    assert status == 200 and len(page["value"]) == 3
    assert set(page["value"][0]) == {"id", "userPrincipalName"}
    next_link = page["@odata.nextLink"]
    status, page2, _ = await graph(http, sim, "GET", next_link.split("/v1.0", 1)[1])
    assert len(page2["value"]) == 1 and "@odata.nextLink" not in page2
    status, body, _ = await graph(http, sim, "GET", "/users?$filter=contains(displayName,'x')")
    assert status == 400 and body["error"]["code"] == "Request_UnsupportedQuery"


async def test_put_policy_requires_every_block_and_ignores_read_only(http, sim):
    _, policy, _ = await graph(http, sim, "GET", "/policies/deviceRegistrationPolicy")
    body = {k: v for k, v in policy.items() if k not in ("@odata.context",)}
    missing = {k: v for k, v in body.items() if k != "userDeviceQuota"}
    status, error, _ = await graph(http, sim, "PUT", "/policies/deviceRegistrationPolicy", missing)
    assert status == 400 and error["error"]["message"] == "Tenant registration policy is missing a value for quota"
    body["displayName"] = "renamed"
    body["azureADJoin"]["allowedToJoin"] = {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"}
    status, updated, _ = await graph(http, sim, "PUT", "/policies/deviceRegistrationPolicy", body)
    assert status == 200
    assert updated["displayName"] == "Device Registration Policy"
    assert sim.tenant.policy["azureADJoin"]["allowedToJoin"]["@odata.type"].endswith("allDeviceRegistrationMembership")


async def test_batch_limits_and_independent_answers(http, sim):
    requests = [{"id": str(i), "method": "GET", "url": "/users/nope"} for i in range(21)]
    status, body, _ = await graph(http, sim, "POST", "/$batch", {"requests": requests})
    assert status == 400 and "20" in body["error"]["message"]
    requests = [
        {"id": "a", "method": "GET", "url": "/groups/d1e2f3a4-0000-4000-8000-00000000a002"},
        {"id": "b", "method": "GET", "url": "/users/nope"},
    ]
    status, body, _ = await graph(http, sim, "POST", "/$batch", {"requests": requests})
    answers = {r["id"]: r["status"] for r in body["responses"]}
    assert status == 200 and answers == {"a": 200, "b": 404}


async def test_transitive_membership_through_nested_groups(http, sim):
    package = "c0a80001-5a1e-4b7c-8d9e-000000000103"
    status, body, _ = await graph(
        http, sim, "POST", f"/users/{package}/checkMemberGroups", {"groupIds": ["d1e2f3a4-0000-4000-8000-00000000a002"]}
    )
    assert status == 200 and body["value"] == ["d1e2f3a4-0000-4000-8000-00000000a002"]
    status, body, _ = await graph(http, sim, "GET", "/groups/d1e2f3a4-0000-4000-8000-00000000a002/transitiveMembers")
    ids = {m["id"] for m in body["value"]}
    assert package in ids and "d1e2f3a4-0000-4000-8000-00000000a004" in ids


async def test_faults_are_injected_at_run_time(http, sim):
    async with http.post(
        f"{sim.url}/_sim/faults", json={"route": "users.list", "status": 429, "retryAfter": 2, "times": 1}
    ) as response:
        assert response.status == 200
    status, body, headers = await graph(http, sim, "GET", "/users")
    assert status == 429 and headers["Retry-After"] == "2" and body["error"]["code"] == "TooManyRequests"
    status, _, _ = await graph(http, sim, "GET", "/users")
    assert status == 200


async def test_troubleshooting_events_page(http, sim):
    status, body, _ = await graph(http, sim, "GET", "/deviceManagement/troubleshootingEvents?$top=2")
    assert status == 200 and len(body["value"]) == 2 and "@odata.nextLink" in body
    assert body["value"][0]["@odata.type"] == "#microsoft.graph.enrollmentTroubleshootingEvent"


async def test_event_pages_read_ahead_return_every_event_once_in_order(sim, clock):
    """The reader runs a page ahead and guesses the next link from the raw bytes: nothing lost or doubled."""
    from bot.demo import sim_graph_env
    from bot.graph import MsGraphGateway
    from bot.settings import load_settings

    sim.tenant.extra["maxPageSize"] = 7
    sim.tenant.events[:] = [
        {
            "id": f"e{i:03d}",
            "eventDateTime": f"2026-11-26T10:{i // 60:02d}:{i % 60:02d}Z",
            "enrollmentType": "windowsBulkAzureDomainJoin" if i % 3 else "windowsAutoEnrollment",
            "failureCategory": "authorization",
            "failureReason": 'says "@odata.nextLink": "https://evil.example.invalid/" inside a string',
        }
        for i in range(50)
    ]
    graph = MsGraphGateway(load_settings(sim_graph_env(sim), dotenv=None).graph, clock)
    try:
        ids = [e.id for page in [p async for p in graph.troubleshooting_event_pages()] for e in page]
        bulk = [e.id async for page in graph.troubleshooting_event_pages({"windowsBulkAzureDomainJoin"}) for e in page]
        pages = graph.troubleshooting_event_pages()
        first = await pages.__anext__()
        await pages.aclose()  # a reader that stops early leaves nothing running
    finally:
        await graph.close()
    assert ids == [f"e{i:03d}" for i in range(50)]
    assert bulk == [f"e{i:03d}" for i in range(50) if i % 3]
    assert len(first) == 7
    assert not any("evil" in r["path"] for r in sim.simulator.requests)


def test_the_next_link_is_read_off_the_raw_page():
    import json as _json

    from bot.graph import next_link_in

    page = {
        "value": [{"r": '"@odata.nextLink":"https://evil.example.invalid/"'}],
        "@odata.nextLink": "https://g/v1.0/x?a=%22",
    }
    assert next_link_in(_json.dumps(page).encode()) == "https://g/v1.0/x?a=%22"
    assert next_link_in(_json.dumps({"value": [], "@odata.context": "x"}).encode()) is None
    assert next_link_in(b'{"@odata.nextLink": "https://g/\\"q\\"", "value": []}') == 'https://g/"q"'
