"""Large simulated tenants for the benchmarks, generated on the fly from the demo fixture."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.runner import DEFAULT_FIXTURE  # noqa: E402


def big_tenant(accounts: int, selected: int, now: datetime | None = None) -> dict[str, Any]:
    """`accounts` package accounts; a Selected join list of `selected` entries, half package accounts listed
    directly and half groups (one in ten nested in another), together covering about two thirds of the
    accounts. A few accounts are disabled, and some were made over 180 days ago."""
    data = json.loads(DEFAULT_FIXTURE.read_text())
    now = now or datetime.now(UTC)
    domain = data.get("domain", "contoso.onmicrosoft.com")
    people = [u for u in data["users"] if not u["userPrincipalName"].startswith("package_")]
    users = list(people)
    ids = []
    for i in range(accounts):
        uid = f"b0000000-0000-4000-8000-{i:012d}"
        ids.append(uid)
        users.append(
            {
                "id": uid,
                "displayName": f"Package account {i}",
                "userPrincipalName": f"package_{uid}@{domain}",
                "accountEnabled": i % 97 != 5,
                "createdDateTime": (now - timedelta(days=(i * 7) % 240)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    group_count = max(1, selected // 2)
    user_count = selected - group_count
    direct = ids[:user_count]
    known = {u["id"] for u in people} | {g["id"] for g in data["groups"]}
    groups = [{**g, "members": [m for m in g["members"] if m in known]} for g in data["groups"]]
    selected_groups = []
    for g in range(group_count):
        gid = f"c0000000-0000-4000-8000-{g:012d}"
        members = [uid for i, uid in enumerate(ids) if i % (group_count * 3 // 2 + 1) == g]
        groups.append({"id": gid, "displayName": f"Lab {g} packages", "securityEnabled": True, "members": members})
        selected_groups.append(gid)
    for g in range(0, group_count, 10):  # one in ten selected groups holds another (nesting)
        if g + 1 < group_count:
            groups[len(data["groups"]) + g]["members"].append(selected_groups[g + 1])
    data["users"] = users
    data["groups"] = groups
    policy = data["deviceRegistrationPolicy"]
    policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.enumeratedDeviceRegistrationMembership",
        "users": direct,
        "groups": selected_groups,
    }
    data["troubleshootingEvents"] = []
    return data


async def wait_for(url: str, ca: Path) -> None:
    for _ in range(600):
        if await asyncio.to_thread(ca.exists):
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca))) as client:
                try:
                    await client.get(f"{url}/_sim/state")
                    return
                except httpx.HTTPError:
                    pass
        await asyncio.sleep(0.1)
    raise SystemExit("the simulated tenant did not start")


async def start_sim_process(fixture: Path, port: int, tls_dir: Path) -> asyncio.subprocess.Process:
    """The simulated tenant in its own process, so its CPU and memory are not the bot's."""
    child = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "sim", "--port", str(port), "--tenant", str(fixture), "--tls-dir", str(tls_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    await wait_for(f"https://127.0.0.1:{port}", tls_dir / "ca.pem")
    return child


async def sim_requests(url: str, ca: Path, clear: bool = False) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca))) as client:
        response = await client.request("DELETE" if clear else "GET", f"{url}/_sim/requests")
        return response.json()
