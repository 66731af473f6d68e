"""Many simulated tenants behind one server, over real HTTPS: tokens issued per tenant and Graph answered by the
tenant of the token (azure-identity and msgraph-sdk where it matters), no way across tenants, per-tenant faults
and request logs, admin consent, unknown tenants, fixture loading, and `python -m sim --tenants DIR`."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from sim.fleet import fleet_fixtures, make_fleet, write_fleet
from sim.runner import FixtureError, RunningMultiSim, load_tenants, start_multi_sim
from sim.tenant import GRAPH_SCOPE, MEMBERSHIP_ALL, Tenant, encode_token, read_token
from tests.support.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
CONNECT_APP = "7d0c5a1e-2b3f-4c6d-9e8f-0a1b2c3d4e5f"  # a second app, registered with exact redirect URIs
CONNECT_REDIRECT = "https://doctor.example.net/tenants/consented"
LOOPBACK_REDIRECT = "https://127.0.0.1:3978/api/consented"


def tenant_fixtures() -> list[dict[str, Any]]:
    """Three fleet tenants: A and B consented to the Enrollment Doctor app (registered in both); C has not (its
    fixture registers no app and consents to none), as a customer before the 'connect a tenant' flow."""
    data = fleet_fixtures(3, seed=7)
    for tenant in data:
        tenant["apps"][0]["permissions"].append("Organization.Read.All")
    data[0]["apps"].append(
        {
            "clientId": CONNECT_APP,
            "clientSecret": "connect-secret",
            "permissions": [],
            "redirectUris": [CONNECT_REDIRECT],
        }
    )
    data[2]["apps"] = []
    data[2]["consentedApps"] = []
    return data


@pytest.fixture
async def cloud(tls_dir: Path, clock: FakeClock) -> AsyncIterator[RunningMultiSim]:
    running = await start_multi_sim([Tenant.from_fixture(d) for d in tenant_fixtures()], tls_dir, clock=clock.now)
    yield running
    await running.close()


@pytest.fixture
async def http(cloud: RunningMultiSim) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=str(cloud.ca_pem))
    async with httpx.AsyncClient(base_url=cloud.url, verify=context) as client:
        yield client


def ids(cloud: RunningMultiSim) -> list[str]:
    return list(cloud.simulators)


def app_of(cloud: RunningMultiSim) -> Any:
    """The Enrollment Doctor app: one registration, consented in A and B."""
    return next(iter(cloud.tenant(ids(cloud)[0]).apps.values()))


async def token(
    http: httpx.AsyncClient, cloud: RunningMultiSim, tenant: str, client_id: str | None = None
) -> httpx.Response:
    app = app_of(cloud)
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id or app.client_id,
        "client_secret": app.client_secret,
        "scope": GRAPH_SCOPE,
    }
    return await http.post(f"/{tenant}/oauth2/v2.0/token", data=form)


async def bearer(http: httpx.AsyncClient, cloud: RunningMultiSim, tenant: str) -> dict[str, str]:
    answer = await token(http, cloud, tenant)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@asynccontextmanager
async def graph_client(cloud: RunningMultiSim, tenant_id: str, max_retries: int = 0) -> AsyncIterator[Any]:
    """msgraph-sdk over azure-identity's ClientSecretCredential, pointed at the simulator as its authority: the
    credential discovers the tenant's endpoints and asks its token endpoint, as it would ask Entra ID."""
    app = app_of(cloud)
    credential = ClientSecretCredential(
        tenant_id, app.client_id, app.client_secret, authority=cloud.url, connection_verify=str(cloud.ca_pem)
    )
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cloud.ca_pem))),
        options={RetryHandlerOption.get_key(): RetryHandlerOption(delay=0, max_retries=max_retries)},
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{cloud.url}/v1.0"
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await http.aclose()
        await credential.close()


def routes(cloud: RunningMultiSim, tenant: str) -> list[tuple[str, int]]:
    return [(r["route"], r["status"]) for r in cloud.simulators[tenant].requests]


# ---- tokens and Graph, per tenant ------------------------------------------------------------------
async def test_each_tenant_answers_with_its_own_directory_through_the_sdk(cloud: RunningMultiSim):
    a, b, _ = ids(cloud)
    seen = {}
    for tenant_id in (a, b):
        async with graph_client(cloud, tenant_id) as client:
            organization = await client.organization.by_organization_id(tenant_id).get()
            users = await client.users.get()
        seen[tenant_id] = (
            organization.id,
            [d.name for d in organization.verified_domains],
            {u.user_principal_name for u in users.value},
        )
    assert seen[a][0] == a and seen[b][0] == b
    assert seen[a][1] == ["school001.onmicrosoft.com"] and seen[b][1] == ["school002.onmicrosoft.com"]
    assert all(upn.endswith("@school001.onmicrosoft.com") for upn in seen[a][2])
    assert all(upn.endswith("@school002.onmicrosoft.com") for upn in seen[b][2])
    # Each tenant issued its own token and answered its own reads; the other logged nothing of it.
    assert routes(cloud, a) == [("token", 200), ("organization.get", 200), ("users.list", 200)]
    assert routes(cloud, b) == [("token", 200), ("organization.get", 200), ("users.list", 200)]
    assert routes(cloud, ids(cloud)[2]) == []


async def test_a_token_names_its_tenant_and_a_domain_names_the_same_tenant(http, cloud: RunningMultiSim):
    a, b, _ = ids(cloud)
    by_id = read_token((await token(http, cloud, a)).json()["access_token"])
    by_domain = read_token((await token(http, cloud, "SCHOOL002.onmicrosoft.com")).json()["access_token"])
    assert by_id is not None and by_id["tid"] == a and by_id["iss"] == f"https://sts.windows.net/{a}/"
    assert by_domain is not None and by_domain["tid"] == b
    listed = await http.get("/v1.0/organization", headers=await bearer(http, cloud, b))
    assert listed.status_code == 403  # List organization wants Directory.Read.All (Get by id: Organization.Read.All)
    discovery = (await http.get("/school001.onmicrosoft.com/v2.0/.well-known/openid-configuration")).json()
    assert discovery["token_endpoint"] == f"{cloud.url}/{a}/oauth2/v2.0/token"


async def test_a_token_of_one_tenant_can_never_read_or_change_another(http, cloud: RunningMultiSim):
    a, b, _ = ids(cloud)
    as_a = await bearer(http, cloud, a)
    b_user = next(iter(cloud.tenant(b).users))
    b_before = json.dumps(cloud.tenant(b).policy, sort_keys=True)
    assert (await http.get(f"/v1.0/users/{b_user}", headers=as_a)).status_code == 404
    assert (await http.get(f"/v1.0/organization/{b}", headers=as_a)).status_code == 404
    batch = {"requests": [{"id": "1", "method": "GET", "url": f"/users/{b_user}"}]}
    assert (await http.post("/v1.0/$batch", json=batch, headers=as_a)).json()["responses"][0]["status"] == 404
    policy = (await http.get("/v1.0/policies/deviceRegistrationPolicy", headers=as_a)).json()
    body = {k: v for k, v in policy.items() if k != "@odata.context"}
    body["azureADJoin"]["allowedToJoin"] = {"@odata.type": MEMBERSHIP_ALL}
    assert (await http.put("/v1.0/policies/deviceRegistrationPolicy", json=body, headers=as_a)).status_code == 200
    assert cloud.tenant(a).policy["azureADJoin"]["allowedToJoin"]["@odata.type"] == MEMBERSHIP_ALL
    assert json.dumps(cloud.tenant(b).policy, sort_keys=True) == b_before  # only A changed
    # A's token with its tenant edited to B's: the signature no longer verifies, and B is never asked.
    header, payload, signature = as_a["Authorization"][7:].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload = base64.urlsafe_b64encode(json.dumps({**claims, "tid": b}).encode()).rstrip(b"=").decode()
    forged = {"Authorization": f"Bearer {header}.{forged_payload}.{signature}"}
    refused = await http.get("/v1.0/users", headers=forged)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert routes(cloud, b) == []
    # A token the simulator signed for a tenant it does not serve is refused too.
    stranger = encode_token({**claims, "tid": "00000000-0000-4000-8000-00000000dead"})
    assert (await http.get("/v1.0/users", headers={"Authorization": f"Bearer {stranger}"})).status_code == 401


# ---- faults and request logs, per tenant ------------------------------------------------------------
async def test_throttling_one_tenant_leaves_the_others_answering(http, cloud: RunningMultiSim):
    a, b, _ = ids(cloud)
    fault = {"route": "users.list", "status": 429, "retryAfter": 1, "times": 2}
    assert (await http.post(f"/_sim/tenants/{a}/faults", json=fault)).status_code == 200
    assert (await http.get(f"/_sim/tenants/{b}/faults")).json() == []
    throttled = await http.get("/v1.0/users", headers=await bearer(http, cloud, a))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert (await http.get("/v1.0/users", headers=await bearer(http, cloud, b))).status_code == 200
    # msgraph-sdk's retry honours A's Retry-After and gets through; B's log shows no 429 at all.
    async with graph_client(cloud, a, max_retries=2) as client:
        assert len((await client.users.get()).value) > 0
    a_log = [(r["route"], r["status"]) for r in (await http.get(f"/_sim/tenants/{a}/requests")).json()]
    b_log = [(r["route"], r["status"]) for r in (await http.get(f"/_sim/tenants/{b}/requests")).json()]
    assert a_log == [("token", 200), ("users.list", 429), ("token", 200), ("users.list", 429), ("users.list", 200)]
    assert b_log == [("token", 200), ("users.list", 200)]
    # The tenant-less control API still means the first tenant, as single-tenant tests expect.
    assert (await http.get("/_sim/requests")).json() == (await http.get(f"/_sim/tenants/{a}/requests")).json()
    await http.delete(f"/_sim/tenants/{b}/requests")
    assert (await http.get(f"/_sim/tenants/{b}/requests")).json() == []
    assert len((await http.get(f"/_sim/tenants/{a}/requests")).json()) == 5


async def test_control_api_lists_tenants_and_keeps_each_tenants_state(http, cloud: RunningMultiSim):
    a, b, c = ids(cloud)
    assert (await http.get("/_sim/tenants")).json() == [a, b, c]
    event = {"id": "spike-1", "eventDateTime": "2026-11-26T11:00:00Z", "failureReason": "x"}
    assert (await http.post(f"/_sim/tenants/{b}/troubleshootingEvents", json=event)).status_code == 200
    assert cloud.tenant(b).events[-1]["id"] == "spike-1"
    assert all(e["id"] != "spike-1" for e in cloud.tenant(a).events)
    state = (await http.get(f"/_sim/tenants/{b}/state")).json()
    assert state["tenantId"] == b and state["domain"] == "school002.onmicrosoft.com"
    missing = await http.get("/_sim/tenants/not-a-tenant/faults")
    assert missing.status_code == 404 and "GET /_sim/tenants" in missing.json()["error"]
    bad = await http.post(f"/_sim/tenants/{a}/faults", json=[{"route": "users.list"}, {"status": "often"}])
    assert bad.status_code == 400 and cloud.tenant(a).faults == []  # nothing half-applied


# ---- admin consent -----------------------------------------------------------------------------------
async def test_admin_consent_lets_an_unconsented_tenant_issue_tokens(http, cloud: RunningMultiSim):
    a, b, c = ids(cloud)
    app = app_of(cloud)
    refused = await token(http, cloud, c)
    body = refused.json()
    assert refused.status_code == 400 and body["error"] == "unauthorized_client"
    assert body["error_codes"] == [700016]
    assert (
        f"Application with identifier '{app.client_id}' was not found in the directory '{c}'"
        in body["error_description"]
    )
    async with graph_client(cloud, c) as client:  # azure-identity surfaces the same refusal
        with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
            await client.users.get()
    answer = await http.get(
        f"/{c}/adminconsent", params={"client_id": app.client_id, "redirect_uri": LOOPBACK_REDIRECT, "state": "s-42"}
    )
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == LOOPBACK_REDIRECT
    assert parse_qs(back.query) == {"admin_consent": ["True"], "tenant": [c], "state": ["s-42"]}
    async with graph_client(cloud, c) as client:
        assert (await client.organization.by_organization_id(c).get()).id == c
    assert ("token", 400) in routes(cloud, c) and ("adminconsent", 302) in routes(cloud, c)
    # Consent is per tenant: granting it in C changed nothing elsewhere, and revoking it refuses again.
    assert cloud.tenant(c).consented_apps == {app.client_id}
    revoked = await http.delete(f"/_sim/tenants/{c}/consentedApps", params={"clientId": app.client_id})
    assert revoked.json() == [] and (await token(http, cloud, c)).status_code == 400
    assert (await token(http, cloud, b)).status_code == 200


async def test_admin_consent_refuses_what_entra_refuses(http, cloud: RunningMultiSim):
    a, _, c = ids(cloud)
    app = app_of(cloud)
    wrong = await http.get(
        f"/{c}/adminconsent", params={"client_id": app.client_id, "redirect_uri": "https://evil.example/cb"}
    )
    assert wrong.status_code == 400 and "AADSTS50011" in wrong.text and "https://evil.example/cb" in wrong.text
    # An app with registered redirect URIs: only those, exactly (loopback is the default only without any).
    registered = {"client_id": CONNECT_APP, "redirect_uri": CONNECT_REDIRECT, "state": "x"}
    assert (await http.get(f"/{c}/v2.0/adminconsent", params={**registered, "scope": GRAPH_SCOPE})).status_code == 302
    loopback = await http.get(f"/{c}/adminconsent", params={**registered, "redirect_uri": LOOPBACK_REDIRECT})
    assert loopback.status_code == 400 and "AADSTS50011" in loopback.text
    unknown = await http.get(
        f"/{c}/adminconsent",
        params={"client_id": "11111111-2222-4333-8444-555555555555", "redirect_uri": LOOPBACK_REDIRECT},
    )
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.text
    nowhere = await http.get(
        "/00000000-0000-4000-8000-000000000bad/adminconsent",
        params={"client_id": app.client_id, "redirect_uri": LOOPBACK_REDIRECT},
    )
    assert nowhere.status_code == 400 and "AADSTS90002" in nowhere.text
    # An administrator who declines: back to the app with the documented error, and no consent recorded.
    await http.post(
        f"/_sim/tenants/{c}/faults", json=[{"route": "*", "status": 503}, {"route": "adminconsent", "times": 1}]
    )
    declined = await http.get(
        f"/{c}/adminconsent", params={"client_id": app.client_id, "redirect_uri": LOOPBACK_REDIRECT, "state": "s"}
    )
    query = parse_qs(urlsplit(declined.headers["Location"]).query)
    assert declined.status_code == 302 and query["error"] == ["consent_required"]
    assert query["error_description"][0].startswith("AADSTS65004") and query["state"] == ["s"]
    assert app.client_id not in cloud.tenant(c).consented_apps
    assert cloud.tenant(c).consented_apps == {CONNECT_APP}
    # Only a fault named adminconsent declines: with it used up, the next administrator approves.
    again = await http.get(f"/{c}/adminconsent", params={"client_id": app.client_id, "redirect_uri": LOOPBACK_REDIRECT})
    assert "error" not in parse_qs(urlsplit(again.headers["Location"]).query)
    assert app.client_id in cloud.tenant(c).consented_apps


# ---- tenants that do not exist -------------------------------------------------------------------------
async def test_an_unknown_tenant_gets_entras_answers(http, cloud: RunningMultiSim):
    missing = "00000000-0000-4000-8000-00000000dead"
    answer = await token(http, cloud, missing)
    body = answer.json()
    assert answer.status_code == 400 and body["error"] == "invalid_request" and body["error_codes"] == [90002]
    assert body["error_description"].startswith(f"AADSTS90002: Tenant '{missing}' not found.")
    assert (await token(http, cloud, "nobody.onmicrosoft.com")).json()["error_codes"] == [90002]
    assert (await token(http, cloud, "not a tenant")).json()["error_codes"] == [900023]
    assert (await token(http, cloud, "organizations")).json()["error_codes"] == [50059]  # which of three?
    discovery = await http.get(f"/{missing}/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 400 and discovery.json()["error"] == "invalid_tenant"
    app = app_of(cloud)
    credential = ClientSecretCredential(
        missing, app.client_id, app.client_secret, authority=cloud.url, connection_verify=str(cloud.ca_pem)
    )
    try:
        with pytest.raises(ClientAuthenticationError, match=missing):
            await credential.get_token(GRAPH_SCOPE)
    finally:
        await credential.close()
    assert all(sim.requests == [] for sim in cloud.simulators.values())


# ---- fixtures on disk ----------------------------------------------------------------------------------
def write(directory: Path, name: str, data: Any) -> Path:
    path = directory / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("not json", "is not valid JSON"),
        ("missing key", "missing the top-level key 'users'"),
        ("same tenant id", "is already used by tenant"),
        ("same domain", "school001.onmicrosoft.com is already used by tenant"),
        ("other secret", "registered again with another secret"),
        ("unknown consent", "consentedApps names 99999999-0000-4000-8000-000000000000, which no tenant registers"),
        ("bad policy", "'allowEveryone' does not exist on type 'microsoft.graph.azureADJoinPolicy'"),
        ("array", "a tenant fixture is a JSON object"),
    ],
)
def test_load_tenants_refuses_a_bad_file_in_one_line_naming_it(tmp_path: Path, case: str, expected: str):
    first, second = fleet_fixtures(2, seed=3)
    write(tmp_path, "a.json", first)
    if case == "not json":
        bad = write(tmp_path, "b.json", "{ not json")
    elif case == "missing key":
        bad = write(tmp_path, "b.json", {k: v for k, v in second.items() if k != "users"})
    elif case == "same tenant id":
        bad = write(tmp_path, "b.json", {**second, "tenantId": first["tenantId"]})
    elif case == "same domain":
        bad = write(tmp_path, "b.json", {**second, "domain": first["domain"]})
    elif case == "other secret":
        bad = write(tmp_path, "b.json", {**second, "apps": [{**second["apps"][0], "clientSecret": "other"}]})
    elif case == "unknown consent":
        bad = write(tmp_path, "b.json", {**second, "consentedApps": ["99999999-0000-4000-8000-000000000000"]})
    elif case == "bad policy":
        second["deviceRegistrationPolicy"]["azureADJoin"]["allowEveryone"] = True
        bad = write(tmp_path, "b.json", second)
    else:
        bad = write(tmp_path, "b.json", [second])
    with pytest.raises(FixtureError) as raised:
        load_tenants(tmp_path)
    message = str(raised.value)
    assert "\n" not in message and str(bad) in message and expected in message, message


def test_load_tenants_reads_every_fixture_sorted_and_refuses_an_empty_directory(tmp_path: Path):
    with pytest.raises(FixtureError, match="holds no"):
        load_tenants(tmp_path)
    with pytest.raises(FixtureError, match="is not a directory"):
        load_tenants(tmp_path / "missing")
    written = write_fleet(12, seed=5, out=tmp_path)
    assert [p.name for p in written][:2] == ["school001.json", "school002.json"]
    loaded = load_tenants(tmp_path)
    assert [t.to_fixture() for t in loaded] == [t.to_fixture() for t in make_fleet(12, seed=5)]


def test_the_fleet_is_realistic_distinct_and_repeatable():
    fleet = make_fleet(60, seed=11)
    assert len({t.tenant_id for t in fleet}) == 60
    assert [t.domains for t in fleet][16] == ["school017.onmicrosoft.com"]
    assert len({d for t in fleet for d in t.domains}) == 60
    kinds = {t.policy["azureADJoin"]["allowedToJoin"]["@odata.type"].split(".")[-1] for t in fleet}
    assert kinds == {
        "allDeviceRegistrationMembership",
        "noDeviceRegistrationMembership",
        "enumeratedDeviceRegistrationMembership",
    }
    for tenant in fleet:
        packages = [u for u in tenant.users.values() if u["userPrincipalName"].startswith("package_")]
        assert 2 <= len(packages) <= 5
        assert all(u["userPrincipalName"].endswith("@" + tenant.domains[0]) for u in tenant.users.values())
        assert all(e["userId"] in tenant.users for e in tenant.events)
        assert tenant.consented_apps == set(tenant.apps)  # the one shared app registration
    assert sum(1 for t in fleet if t.events) >= 10
    assert [t.to_fixture() for t in make_fleet(5, seed=11)] == [t.to_fixture() for t in fleet[:5]]
    assert make_fleet(5, seed=12)[0].tenant_id != fleet[0].tenant_id


# ---- python -m sim --tenants DIR ---------------------------------------------------------------------
async def _lines_until(process: asyncio.subprocess.Process, marker: str) -> list[str]:
    assert process.stdout is not None
    lines = []
    while not lines or marker not in lines[-1]:
        raw = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert raw, f"the simulator exited early: {lines}"
        lines.append(raw.decode().rstrip())
    return lines


async def run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_python_m_sim_serves_a_directory_of_tenants(tmp_path: Path):
    fixtures, tls = tmp_path / "fleet", tmp_path / "tls"
    code, out, err = await run("-m", "sim.fleet", "--count", "25", "--out", str(fixtures), "--seed", "4")
    assert code == 0 and "wrote 25 tenant fixtures" in out, err
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim", "--tenants", str(fixtures), "--port", "0", "--tls-dir", str(tls),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        lines = await _lines_until(process, "Control:")
        tenants = load_tenants(fixtures)
        assert lines[0].startswith("Simulated tenants: 25 (") and tenants[0].tenant_id in lines[0]
        url = next(line for line in lines if "Graph:" in line).split()[1].removesuffix("/v1.0")
        context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        async with httpx.AsyncClient(base_url=url, verify=context) as http:
            assert (await http.get("/_sim/tenants")).json() == [t.tenant_id for t in tenants]
            app = next(iter(tenants[17].apps.values()))
            form = {
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "scope": GRAPH_SCOPE,
            }
            issued = await http.post("/school018.onmicrosoft.com/oauth2/v2.0/token", data=form)
            headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
            users = (await http.get("/v1.0/users", headers=headers)).json()["value"]
            assert {u["id"] for u in users} == set(tenants[17].users)
    finally:
        process.terminate()
        await process.wait()
    code, _, err = await run("-m", "sim", "--tenants", str(tmp_path / "nothing-here"))
    assert code == 2 and err.strip().count("\n") == 0 and "nothing-here is not a directory" in err
    code, _, err = await run("-m", "sim.fleet", "--count", "2", "--out", str(fixtures))
    assert code == 2 and "already holds 25" in err
