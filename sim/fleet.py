"""A fleet of small simulated tenants (a school district, an MSP's customers) for benchmarks and multi-tenant tests,
built from the demo fixture's shape: `make_fleet(n, seed)`, or `python -m sim.fleet --count N --out DIR` to write
them as fixtures for `python -m sim --tenants DIR`.

Each tenant has its own id and verified domain (`school017.onmicrosoft.com`), a few staff (one a Global
Administrator who can sign in, two approvers), a few package accounts (some disabled), the demo's groups, a device
registration policy whose join permission is All, None or Selected, and a few troubleshooting events where a
package account was refused the join. Every tenant consented to the same multi-tenant app registration: the demo's
Enrollment Doctor app, one client id and secret. The same count and seed always give the same fleet."""

from __future__ import annotations

import argparse
import copy
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sim.tenant import MEMBERSHIP_ALL, MEMBERSHIP_ENUMERATED, MEMBERSHIP_NONE, Tenant

DEMO_FIXTURE = Path(__file__).parent / "fixtures" / "demo.json"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
CLOUD_DEVICE_ADMIN = "7698a772-787b-4ac8-901f-60d6b08affd2"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the tests' fake clock starts here: events are "recent" to it
STAFF = (
    ("Avery", "Brooks"),
    ("Jordan", "Price"),
    ("Sam", "Okafor"),
    ("Riley", "Nakamura"),
    ("Casey", "Lindqvist"),
    ("Morgan", "Adeyemi"),
    ("Quinn", "Fernandes"),
    ("Drew", "Kowalski"),
)
NOT_AUTHORIZED = "The user is not authorized to join devices to Microsoft Entra ID (0x801c0003)."


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tenant_fixture(index: int, width: int, rng: random.Random, demo: dict[str, Any]) -> dict[str, Any]:
    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    tenant_id = new_id()
    name = f"school{index:0{width}d}"
    domain = f"{name}.onmicrosoft.com"
    people = rng.sample(STAFF, 4)
    staff = [
        {
            "id": new_id(),
            "displayName": f"{first} {last}",
            "userPrincipalName": f"{first.lower()}.{last.lower()}@{domain}",
            "accountEnabled": True,
            "createdDateTime": _when(NOW - timedelta(days=400 + rng.randrange(300))),
        }
        for first, last in people
    ]
    admin, requester, approvers = staff[0], staff[1], staff[2:]
    packages = []
    for _ in range(rng.randint(2, 5)):
        package_id = new_id()
        packages.append(
            {
                "id": new_id(),
                "displayName": f"package_{package_id}",
                "userPrincipalName": f"package_{package_id}@{domain}",
                "accountEnabled": rng.random() > 0.15,
                "createdDateTime": _when(NOW - timedelta(days=rng.randrange(200), minutes=rng.randrange(1440))),
            }
        )
    approvers_group, joiners_group, bulk_group = new_id(), new_id(), new_id()
    enrolled = packages[: max(1, len(packages) // 2)]  # half the package accounts are in the joiners' group
    groups = [
        {
            "id": approvers_group,
            "displayName": "Enrollment approvers",
            "description": "May approve device registration policy changes requested through Enrollment Doctor",
            "securityEnabled": True,
            "members": [u["id"] for u in approvers],
        },
        {
            "id": joiners_group,
            "displayName": "Device joiners",
            "securityEnabled": True,
            "members": [bulk_group],
        },
        {
            "id": bulk_group,
            "displayName": "Bulk enrollment accounts",
            "securityEnabled": True,
            "members": [u["id"] for u in enrolled],
        },
    ]
    policy = copy.deepcopy(demo["deviceRegistrationPolicy"])
    join = rng.choice((MEMBERSHIP_ALL, MEMBERSHIP_NONE, MEMBERSHIP_ENUMERATED, MEMBERSHIP_ENUMERATED))
    allowed: dict[str, Any] = {"@odata.type": join}
    if join == MEMBERSHIP_ENUMERATED:
        allowed.update(users=[requester["id"]], groups=[joiners_group])
    policy["azureADJoin"]["allowedToJoin"] = allowed
    policy["userDeviceQuota"] = rng.choice((20, 50, 50, 100))
    refused = [] if join == MEMBERSHIP_ALL else [p for p in packages if p not in enrolled or join == MEMBERSHIP_NONE]
    events: list[dict[str, Any]] = []
    for package in refused[: rng.randint(0, 4)]:
        moment = NOW - timedelta(hours=rng.randrange(1, 48), minutes=rng.randrange(60))
        events.append(
            {
                "id": new_id(),
                "eventDateTime": _when(moment),
                "correlationId": new_id(),
                "managedDeviceIdentifier": "",
                "operatingSystem": "Windows",
                "osVersion": "10.0.22631.4460",
                "userId": package["id"],
                "deviceId": "",
                "enrollmentType": "windowsBulkAzureDomainJoin",
                "failureCategory": "authorization",
                "failureReason": NOT_AUTHORIZED,
            }
        )
    events.sort(key=lambda e: str(e["eventDateTime"]))
    conditional_access = [{**copy.deepcopy(p), "id": new_id()} for p in demo.get("conditionalAccessPolicies", [])]
    configurations = []
    for item in demo.get("deviceEnrollmentConfigurations", []):
        configuration = copy.deepcopy(item)
        suffix = str(item["id"]).partition("_")[2]
        configuration["id"] = f"{tenant_id}_{suffix}"
        for assignment in configuration.get("assignments", []):
            assignment["id"] = f"{configuration['id']}_{str(assignment['id']).rpartition('_')[2]}"
        configurations.append(configuration)
    return {
        "tenantId": tenant_id,
        "domain": domain,
        "displayName": f"School {index:0{width}d}",
        "apps": copy.deepcopy(demo["apps"]),
        "users": staff + packages,
        "groups": groups,
        "deviceRegistrationPolicy": policy,
        "troubleshootingEvents": events,
        "demo": {"requesterId": requester["id"], "approverGroupId": approvers_group},
        "conditionalAccessPolicies": conditional_access,
        "deviceEnrollmentConfigurations": configurations,
        "deletedUsers": [],
        "signIns": [],
        "passwords": {admin["id"]: f"sim-password-{name}"},
        "directoryRoleAssignments": [
            {"id": new_id(), "principalId": admin["id"], "roleDefinitionId": GLOBAL_ADMIN, "directoryScopeId": "/"},
            {
                "id": new_id(),
                "principalId": approvers[0]["id"],
                "roleDefinitionId": CLOUD_DEVICE_ADMIN,
                "directoryScopeId": "/",
            },
        ],
        "oauthConnection": copy.deepcopy(demo.get("oauthConnection", {})),
    }


def fleet_fixtures(n: int, seed: int) -> list[dict[str, Any]]:
    if n < 1:
        raise ValueError("a fleet has at least one tenant")
    demo = json.loads(DEMO_FIXTURE.read_text())
    rng = random.Random(seed)
    width = max(3, len(str(n)))
    return [_tenant_fixture(i, width, rng, demo) for i in range(1, n + 1)]


def make_fleet(n: int, seed: int) -> list[Tenant]:
    """`n` small realistic tenants with distinct ids and verified domains, the same for the same seed."""
    return [Tenant.from_fixture(data) for data in fleet_fixtures(n, seed)]


def write_fleet(n: int, seed: int, out: Path) -> list[Path]:
    """Write the fleet as one fixture per tenant (`school001.json`, ...), in the order `load_tenants` reads them."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for data in fleet_fixtures(n, seed):
        path = out / f"{str(data['domain']).split('.')[0]}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="how many tenants")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the fixtures into")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    stale = sorted(args.out.glob("*.json")) if args.out.is_dir() else []
    if stale:
        parser.error(f"{args.out} already holds {len(stale)} *.json file(s); give an empty or new directory")
    written = write_fleet(args.count, args.seed, args.out)
    print(f"wrote {len(written)} tenant fixtures to {args.out} ({written[0].name} .. {written[-1].name})")


if __name__ == "__main__":
    main()
