"""The Agents Toolkit project and its infrastructure, checked offline: m365agents.yml by the Agents Toolkit's own
parser and schema, the manifest by `atk validate`, and the Bicep against the app it deploys (no Bicep compiler is
obtainable from the registries these machines reach: see the README)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.changes import KINDS
from bot.graph import PERMISSIONS
from bot.settings import load_settings
from sim.permissions import APPLICATION_PERMISSIONS

ROOT = Path(__file__).resolve().parents[2]
ATK = ROOT / "node_modules" / ".bin" / "atk"
INFRA = ROOT / "infra"
PLACEHOLDER = re.compile(r"\$\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")


def env_keys(path: Path) -> set[str]:
    return {line.split("=", 1)[0] for line in path.read_text().splitlines() if re.match(r"^[A-Z_][A-Z0-9_]*=", line)}


def check_yml(path: Path) -> dict:
    out = subprocess.run(
        ["node", str(ROOT / "tests" / "support" / "check_agents_yml.js"), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_m365agents_yml_passes_the_agents_toolkit_parser_and_schema(tmp_path: Path):
    result = check_yml(ROOT / "m365agents.yml")
    assert result["ok"], result["errors"]
    assert result["version"] == "v1.11" and result["environmentFolderPath"] == "./env"
    assert result["actions"]["provision"][:2] == ["teamsApp/create", "arm/deploy"]
    assert result["actions"]["deploy"] == ["azureAppService/zipDeploy"]
    # The twin: one action misspelled, and the same parser refuses the file.
    broken = tmp_path / "m365agents.yml"
    broken.write_text((ROOT / "m365agents.yml").read_text().replace("uses: arm/deploy", "uses: arm/deploi"))
    refused = check_yml(broken)
    assert not refused["ok"] and "/provision/1/uses must be equal to constant" in refused["errors"]


def test_every_variable_the_project_uses_is_defined_in_the_environment_files():
    defined = env_keys(ROOT / "env" / ".env.dev") | env_keys(ROOT / "env" / ".env.dev.user.template")
    for path in (ROOT / "m365agents.yml", INFRA / "azure.parameters.json", ROOT / "manifest" / "manifest.json"):
        used = set(PLACEHOLDER.findall(path.read_text()))
        assert used and used <= defined, f"{path.name}: {sorted(used - defined)} are not in env/"
    assert {"SECRET_POSTGRES_ADMIN_PASSWORD", "SECRET_SIGNIN_CLIENT_SECRET"} == {
        k for k in defined if k.startswith("SECRET_")
    }
    assert not [k for k in env_keys(ROOT / "env" / ".env.dev") if k.startswith("SECRET_")]  # no secret committed
    assert "env/.env.*.user" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.skipif(not ATK.exists(), reason="npm ci installs the Agents Toolkit CLI")
def test_the_manifest_with_an_environments_values_passes_atk_validate(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("m365agents.yml", "env", "infra", "manifest"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    values = {
        "TEAMS_APP_ID": "11111111-2222-4333-8444-555555555555",
        "BOT_ID": "99999999-2222-4333-8444-555555555555",
        "BOT_DOMAIN": "doctor-contoso.azurewebsites.net",
        "SIGNIN_APP_ID": "77777777-2222-4333-8444-555555555555",
    }
    env = project / "env" / ".env.dev"
    text = env.read_text()
    for key, value in values.items():
        text = text.replace(f"\n{key}=\n", f"\n{key}={value}\n")
    env.write_text(text)

    def validate() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ATK), "validate", "--env", "dev", "--manifest-file", "./manifest/manifest.json",
             "--telemetry", "false", "--interactive", "false"],
            cwd=project, capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ATK_TELEMETRY": "false"},
        )  # fmt: skip

    result = validate()
    assert result.returncode == 0 and "All passed" in result.stdout, result.stdout + result.stderr
    manifest = project / "manifest" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"accentColor": "#0F6CBD"', '"accentColor": "blue"'))
    refused = validate()
    assert "All passed" not in refused.stdout and "accentColor" in refused.stdout + refused.stderr


# ---- Bicep, against what it deploys ---------------------------------------------------------------------------
def bicep_params(path: Path) -> dict[str, bool]:
    """{param name: has a default}."""
    return {m.group(1): "=" in m.group(2) for m in re.finditer(r"^param (\w+) [\w\[\]]+(.*)$", path.read_text(), re.M)}


def test_bicep_parameters_outputs_and_modules_fit_together():
    main = INFRA / "azure.bicep"
    params = bicep_params(main)
    given = set(json.loads(PLACEHOLDER.sub("0", (INFRA / "azure.parameters.json").read_text()))["parameters"])
    assert given <= set(params), f"parameters for undeclared params: {given - set(params)}"
    assert {p for p, has_default in params.items() if not has_default} <= given
    outputs = set(re.findall(r"^output (\w+) ", main.read_text(), re.M))
    assert {"AZURE_APP_SERVICE_RESOURCE_ID", "BOT_ID", "BOT_DOMAIN"} <= outputs
    assert outputs <= env_keys(ROOT / "env" / ".env.dev"), "provision writes outputs to env/.env.dev"
    text = main.read_text()
    for module, body in re.findall(r"^module \w+ '([^']+)' = (?:if \(.*?\) )?\{(.*?)^\}", text, re.M | re.S):
        declared = bicep_params(INFRA / module)
        passed = set(re.findall(r"^\s{4}(\w+):", body.split("params:", 1)[1], re.M))
        assert passed <= set(declared) and {p for p, d in declared.items() if not d} <= passed, module
    for source in [main, *INFRA.glob("modules/*.bicep")]:
        body = source.read_text()
        assert body.count("{") == body.count("}") and body.count("[") == body.count("]"), source.name
    assert "extension microsoftGraphV1" in (INFRA / "modules" / "graph-permissions.bicep").read_text()
    assert "microsoftGraphV1" in json.loads((INFRA / "bicepconfig.json").read_text())["extensions"]


def _bicep_list(text: str, var: str) -> str:
    """The body of `var <name> = [ ... ]` in the Bicep."""
    match = re.search(rf"^var {var} = \[\n(.*?)^\]", text, re.M | re.S)
    assert match, var
    return match.group(1)


def app_settings(multi_tenant: bool = False) -> dict[str, str]:
    """The web app's settings as App Service would set them, expressions replaced by values of their kind: the
    list in the web app, and the Graph credential's settings of the mode (one tenant, or many)."""
    text = (INFRA / "azure.bicep").read_text()
    listed = text.split("appSettings: concat([", 1)[1].split("\n      ], ", 1)[0]
    listed += _bicep_list(text, "multiTenantSettings" if multi_tenant else "singleTenantSettings")
    samples = {
        "botIdentity.properties.clientId": "0b0b0b0b-1111-4222-8333-444444444444",
        "multiTenant ? graphApp.outputs.appId : graphIdentity.properties.clientId": (
            "0a0a0a0a-1111-4222-8333-444444444444" if multi_tenant else "0c0c0c0c-1111-4222-8333-444444444444"
        ),
        "tenantId": "0d0d0d0d-1111-4222-8333-444444444444",
        "approverGroupId": "0e0e0e0e-1111-4222-8333-444444444444",
        "approvalChannelId": "",
        "applyAs": "app",
        "oauthConnectionName": "graph",
        "publicBaseUrl": "https://doctorx.azurewebsites.net",
    }
    settings = {}
    for name, value in re.findall(r"name: '([A-Za-z_]+)'\s*,?\s*value: (.+?)\s*\}?$", listed, re.M):
        if value.startswith("'"):
            value = value.strip("'")
            value = re.sub(r"\$\{uriComponent\(postgresAdminPassword\)\}", "p%40ss", value)
            value = re.sub(r"\$\{postgresAdminLogin\}", "doctoradmin", value)
            value = re.sub(r"\$\{postgres\.properties\.fullyQualifiedDomainName\}", "db.postgres.azure.com", value)
            value = re.sub(r"\$\{databaseName\}", "enrollmentdoctor", value)
            value = re.sub(r"\$\{graphClientSecretUri\}", "https://kv.vault.azure.net/secrets/graph", value)
            assert "${" not in value, value
            settings[name] = value
        else:
            settings[name] = samples[value]
    return settings


def test_the_app_settings_it_deploys_are_a_valid_configuration_of_the_bot():
    env = app_settings()
    settings = load_settings(env, dotenv=None)  # raises ConfigError naming every problem
    assert settings.app_type == "UserAssignedMSI" and settings.app_id == env["MicrosoftAppId"]
    assert settings.graph.credential == "managed_identity"
    assert settings.graph.client_id == env["GRAPH_CLIENT_ID"] != settings.app_id  # two identities
    assert settings.database_url.startswith("postgresql://") and settings.database_url.endswith("?sslmode=require")
    assert settings.port == int(env["WEBSITES_PORT"]) and settings.approver_group_id == env["APPROVER_GROUP_ID"]
    assert settings.public_url == "https://doctorx.azurewebsites.net"
    assert not {k for k in env if "SECRET" in k or "PASSWORD" in k.upper()}


def test_many_tenants_read_graph_through_the_multi_tenant_app_its_secret_a_key_vault_reference():
    env = app_settings(multi_tenant=True)
    settings = load_settings(env, dotenv=None)
    assert settings.graph.credential == "secret" and settings.graph.client_id == "0a0a0a0a-1111-4222-8333-444444444444"
    assert env["GRAPH_CLIENT_SECRET"] == "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/graph)"
    assert settings.public_url == "https://doctorx.azurewebsites.net"  # admin consent comes back to /consent
    text = (INFRA / "azure.bicep").read_text()
    assert "keyVaultReferenceIdentity: graphIdentity.id" in text
    # Per-tenant secrets: TENANT_SECRET_<NAME> app settings, each a Key Vault reference.
    assert "value: '@Microsoft.KeyVault(SecretUri=${s.value})'" in text and "items(tenantSecretUris)" in text
    app = (INFRA / "modules" / "multitenant-app.bicep").read_text()
    assert "signInAudience: 'AzureADMultipleOrgs'" in app and "type: 'Role'" in app
    assert "redirectUri: '${publicBaseUrl}/consent'" in text and "roles: graphRoles" in text
    # The permissions go to whichever identity reads Graph, and the app asks customer tenants for the same ones.
    assert "principalId: multiTenant ? graphApp.outputs.principalId : graphIdentity.properties.principalId" in text
    params = bicep_params(INFRA / "azure.bicep")
    assert {"multiTenant", "graphClientSecretUri", "tenantSecretUris", "publicUrl"} <= set(params)
    assert all(params[p] for p in ("multiTenant", "graphClientSecretUri", "tenantSecretUris", "publicUrl"))


# Each Graph operation of bot/graph.py and the simulator's routes (Microsoft's APIs) it calls.
OPERATION_ROUTES = {
    "read the device registration policy": ("policy.get",),
    "change the device registration policy": ("policy.put",),
    "list the package accounts": ("users.list",),
    "check group memberships": ("groups.transitiveMembers",),
    "check an approver's group membership": ("users.checkMemberGroups",),
    "resolve names": ("users.get", "groups.get"),  # without Directory.Read.All: users and groups in a $batch
    "read troubleshooting events": ("troubleshootingEvents.list",),
    "read Conditional Access policies": ("conditionalAccess.list",),
    "read enrollment restrictions": ("enrollmentConfigurations.list",),
    "read deleted users": ("deletedUsers.list",),
    "read sign-in logs": ("signIns.list",),
    "read a Conditional Access policy": ("conditionalAccess.get",),
    "read an enrollment restriction": ("enrollmentConfigurations.get",),
    "change an enrollment restriction": ("enrollmentConfigurations.patch",),
    "change a Conditional Access policy": ("conditionalAccess.patch",),
    "read the MDM user scope": ("mdmPolicies.list",),
    "read your directory roles": ("me.transitiveMemberOf",),  # approver mode: the approver's own roles
    "read the organization": ("organization.get",),  # connecting a tenant: its name and verified domains
}
PERMISSION_NAME = re.compile(r"\b[A-Z][A-Za-z]+\.[A-Za-z]+(?:\.[A-Za-z]+)?\b")


def granted_always() -> set[str]:
    roles = (INFRA / "azure.bicep").read_text().split("\nvar graphRoles = ", 1)[1].split("\n  ],", 1)[0]
    return set(re.findall(r"^\s{4}'([A-Za-z]+\.[A-Za-z.]+)'$", roles, re.M))


def readme_permission_table() -> set[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("3. **Grant the Microsoft Graph application permissions**", 1)[1].split("\n\n   ", 2)[1]
    return set(re.findall(r"^   \| `([A-Za-z.]+)` \|", table, re.M))


def test_permissions_claimed_granted_documented_and_simulated_agree_with_microsofts_pages():
    """The bot's claims (bot/graph.py), the Bicep grants, the README's table, the demo tenant's app and the
    simulator's authorisation (sim/permissions.py, one row per Microsoft permissions page) say the same."""
    assert set(OPERATION_ROUTES) == set(PERMISSIONS)
    always = granted_always()
    assert {"User.Read.All", "Policy.ReadWrite.DeviceConfiguration"} <= always  # the Bicep was read
    opt_in = {kind.write_permission for kind in KINDS.values() if kind.opt_in}
    for operation, routes in OPERATION_ROUTES.items():
        requirements = [APPLICATION_PERMISSIONS[r] for r in routes]
        claimed = set(PERMISSION_NAME.findall(PERMISSIONS[operation]))
        if "delegated" in PERMISSIONS[operation]:
            assert all(not r.alternatives for r in requirements), operation  # no application permission exists
            continue
        # The bot names the least privileged permission Microsoft's page lists, not a broader one it holds.
        assert claimed == set().union(*(r.least_privileged for r in requirements)), operation
        # What the deployment grants (with the opt-in writes when opted in) reaches every API the bot calls.
        for requirement in requirements:
            assert requirement.satisfied_by(always | opt_in), (operation, requirement.page)
    # Nothing granted that the bot does without: each grant is the only one some API the bot calls accepts.
    used = [APPLICATION_PERMISSIONS[r] for routes in OPERATION_ROUTES.values() for r in routes]
    reached = [r for r in used if r.alternatives and r.satisfied_by(always)]  # without the opt-in writes
    for permission in always:
        assert any(not r.satisfied_by(always - {permission}) for r in reached), permission
    assert not (opt_in & always)  # the dangerous writes only behind their parameter
    text = (INFRA / "azure.bicep").read_text()
    for permission in opt_in:
        assert re.search(rf"\? \['{re.escape(permission)}'\] : \[\]", text), permission
    assert readme_permission_table() == always
    demo = json.loads((ROOT / "sim" / "fixtures" / "demo.json").read_text())
    assert set(demo["apps"][0]["permissions"]) == always  # the demo runs with what a deployment grants


def test_the_deployment_zip_carries_the_app_and_its_lock_and_nothing_else():
    ignored = [p for p in (ROOT / ".webappignore").read_text().splitlines() if p and not p.startswith("#")]

    def shipped(path: str) -> bool:
        return not any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in ignored)

    for needed in ("app.py", "bot/web.py", "cards/common.py", "requirements.txt", "requirements.lock"):
        assert shipped(needed), needed
    for left_out in ("tests/unit/test_lock.py", "node_modules/x", ".venv/bin/python", "env/.env.dev", ".env"):
        assert not shipped(left_out), left_out
    assert (ROOT / "requirements.txt").read_text().split("\n")[-3:-1] == ["--require-hashes", "-r requirements.lock"]


# ---- approver mode: Teams SSO, the OAuth connection, and a Graph identity that only reads ------------------------
TEAMS_CLIENTS = {"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"}


def test_approver_mode_is_wired_through_the_manifest_the_bicep_and_the_settings():
    manifest = json.loads((ROOT / "manifest" / "manifest.json").read_text())
    assert manifest["webApplicationInfo"]["resource"] == "api://botid-${{BOT_ID}}"
    assert "token.botframework.com" in manifest["validDomains"]
    signin = (INFRA / "modules" / "signin.bicep").read_text()
    assert set(re.findall(r"'([0-9a-f-]{36})' // Teams", signin)) == TEAMS_CLIENTS  # pre-authorised
    assert "'api://botid-${botId}'" in signin and "value: 'access_as_user'" in signin
    assert "consentType: 'AllPrincipals'" in signin
    bot = (INFRA / "modules" / "bot.bicep").read_text()
    assert "value: 'api://botid-${identityClientId}'" in bot  # the connection's token exchange URL
    assert "serviceProviderId: '30dd229c-58e3-4a48-bdfd-91ec48eb906c'" in bot  # Azure Active Directory v2
    main = (INFRA / "azure.bicep").read_text()
    connection = re.search(r"^var oauthConnectionName = '(\w+)'", main, re.M)
    assert connection and connection.group(1) == load_settings({**app_settings()}, dotenv=None).oauth_connection_name
    scopes = set(re.findall(r"^  '([A-Za-z.]+)'$", main.split("var approverScopes = [", 1)[1].split("]", 1)[0], re.M))
    writes = {kind.write_permission for kind in KINDS.values()}
    assert {"User.Read"} | writes <= scopes  # who the approver is, and every write the kinds make

    env = {**app_settings(), "APPLY_AS": "approver"}
    assert load_settings(env, dotenv=None).apply_as == "approver"


def test_in_approver_mode_the_graph_identity_is_granted_no_write():
    text = (INFRA / "azure.bicep").read_text()
    granted = granted_always()
    granted |= set(re.findall(r"\? \['([A-Za-z.]+)'\] : \[\]", text))  # the opt-in writes, as if opted in
    transform = re.search(r"r => applyAs == 'approver' \? replace\(r, '(\.ReadWrite\.)', '(\.Read\.)'\) : r", text)
    assert transform, "the approver-mode transform of the Graph identity's roles is gone"
    in_approver_mode = {p.replace(transform.group(1), transform.group(2)) for p in granted}
    assert not [p for p in in_approver_mode if "ReadWrite" in p or "Write" in p]
    assert "Policy.Read.DeviceConfiguration" in in_approver_mode  # the join permission is still read
