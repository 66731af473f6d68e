"""Demo mode: the simulated tenant, the bot pointed at it, and the Agents Playground pointed at the bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.settings import Settings, load_settings
from sim.runner import DEFAULT_FIXTURE, RunningSim, load_tenant, start_sim
from sim.tenant import Tenant

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "var" / "demo"
BOT_ID = "00000000-0000-0000-0000-0000000e0d0c"
BOT_NAME = "Enrollment Doctor"
PERSONAL_CHAT_ID = "a:enrollment-doctor-personal-chat"
GROUP_CHAT_ID = "19:enrollment-doctor-group-chat@thread.v2"
DEFAULT_CHANNEL_ID = "19:enrollment-admins-channel@thread.tacv2"
HELP_DESK_CHANNEL_ID = "19:help-desk-general@thread.tacv2"


def graph_env(url: str, ca_pem: Path, tenant_id: str, client_id: str, client_secret: str) -> dict[str, str]:
    """The settings that point the bot at a simulated tenant: authority, base URL, CA and the app's secret."""
    return {
        "GRAPH_TENANT_ID": tenant_id,
        "GRAPH_CLIENT_ID": client_id,
        "GRAPH_CLIENT_SECRET": client_secret,
        "GRAPH_BASE_URL": f"{url}/v1.0",
        "GRAPH_AUTHORITY": url,
        "GRAPH_CA_BUNDLE": str(ca_pem),
    }


def sim_graph_env(sim: RunningSim) -> dict[str, str]:
    app = next(iter(sim.tenant.apps.values()))
    return graph_env(sim.url, sim.ca_pem, sim.tenant.tenant_id, app.client_id, app.client_secret)


def demo_settings(sim: RunningSim, port: int, database: Path) -> Settings:
    """No configuration needed: approvers are the fixture's approvers group, the admins' channel its team's."""
    demo = sim.tenant.extra.get("demo", {})
    env = {
        **sim_graph_env(sim),
        "PORT": str(port),
        "GRAPH_RETRY_DELAY": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "ALERT_POLL_SECONDS": "5",  # so an injected spike shows within seconds
        # Time-bound join permissions in minutes: a 5-minute window ends (and is swept) while you watch.
        "JOIN_WINDOWS": "5m,1d,7d,30d",
        "APPROVAL_SWEEP_SECONDS": "5",
    }
    if demo.get("approverGroupId"):
        env["APPROVER_GROUP_ID"] = demo["approverGroupId"]
    env["APPROVAL_CHANNEL_ID"] = demo.get("team", {}).get("channelId", DEFAULT_CHANNEL_ID)
    return load_settings(env, dotenv=None)


@dataclass(frozen=True)
class Window:
    """One Agents Playground: one person at the keyboard, with their own chats and team.

    The Playground's current user is fixed per instance, so the demo runs two: the requester's and an
    approver's. Each has its own conversations (the bot keeps one reference per conversation), and the admins'
    channel lives in the approver's window, as it would in that person's Teams."""

    role: str  # "requester" | "approver"
    port: int
    user: dict[str, Any]
    personal_chat_id: str
    group_chat_id: str
    team: dict[str, Any]


def _people(tenant: Tenant) -> list[dict[str, Any]]:
    return [u for u in tenant.users.values() if not u["userPrincipalName"].lower().startswith("package_")]


def _approver_ids(tenant: Tenant) -> list[str]:
    group = tenant.groups.get(tenant.extra.get("demo", {}).get("approverGroupId", ""), {})
    return list(group.get("members", []))


def demo_windows(tenant: Tenant, requester_port: int, approver_port: int) -> tuple[Window, Window]:
    demo = tenant.extra.get("demo", {})
    people = {u["id"]: u for u in _people(tenant)}
    requester_id = demo.get("requesterId", next(iter(people)))
    approver_id = next((a for a in _approver_ids(tenant) if a in people and a != requester_id), None)
    if approver_id is None:
        raise SystemExit("the demo needs an approver (in demo.approverGroupId) who is not the requester")
    team = demo.get("team", {})
    admins = {
        "id": team.get("id", "19:enrollment-admins@thread.tacv2"),
        "name": team.get("name", "IT Admins"),
        "aadGroupId": team.get("aadGroupId", "00000000-0000-0000-0000-000000000031"),
        "channels": [{"id": team.get("channelId", DEFAULT_CHANNEL_ID), "name": team.get("channel", "General")}],
    }
    help_desk = {
        "id": "19:help-desk@thread.tacv2",
        "name": "Help desk",
        "aadGroupId": "00000000-0000-0000-0000-000000000032",
        "channels": [{"id": HELP_DESK_CHANNEL_ID, "name": "General"}],
    }
    return (
        Window("requester", requester_port, people[requester_id], PERSONAL_CHAT_ID, GROUP_CHAT_ID, help_desk),
        Window(
            "approver",
            approver_port,
            people[approver_id],
            f"{PERSONAL_CHAT_ID}-approver",
            f"{GROUP_CHAT_ID.split('@')[0]}-approver@thread.v2",
            admins,
        ),
    )


def playground_config(tenant: Tenant, window: Window) -> dict[str, Any]:
    """Playground users are the fixture's people, so the same Entra object ids exist on both sides."""
    approvers = set(_approver_ids(tenant))
    current = window.user
    # The Playground takes exactly five other users: approvers first, so they can act in the channel.
    others = sorted((u for u in _people(tenant) if u["id"] != current["id"]), key=lambda u: u["id"] not in approvers)
    others = others[:5]
    if len(others) < 5:
        raise SystemExit("the Agents Playground needs 5 people besides the current user in the fixture")

    def user(u: dict[str, Any]) -> dict[str, Any]:
        given, _, surname = u["displayName"].partition(" ")
        return {
            # One Teams id per person in both windows, so each is the same person in either.
            "id": f"29:{u['id']}",
            "name": u["displayName"],
            "userPrincipleName": u["userPrincipalName"],
            "aadObjectId": u["id"],
            "givenName": given,
            "surname": surname or given,
            "email": u["userPrincipalName"],
        }

    return {
        "version": "0.1.1",
        "tenantId": tenant.tenant_id,
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "currentUser": user(current),
        "users": [user(u) for u in others],
        "personalChat": {"id": window.personal_chat_id},
        "groupChat": {"id": window.group_chat_id, "name": "Help desk chat"},
        "team": window.team,
    }


async def seed_admin_channel(app: web.Application, settings: Settings, playground_port: int) -> None:
    """In Teams the bot learns the channel when it is added to the team; here the approver's Playground is
    told up front."""
    from app import DEPS
    from bot.storage import ConversationRecord

    channel_id = settings.approval_channel_id or DEFAULT_CHANNEL_ID
    reference = {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {
            "id": channel_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": settings.tenant_id,
        },
        "channelId": "msteams",
        "serviceUrl": f"http://localhost:{playground_port}/_connector",
    }
    deps = app[DEPS]
    await deps.storage.save_conversation(
        ConversationRecord(channel_id, settings.tenant_id, "channel", reference, deps.clock.now())
    )


def age_for_expiry_warning(tenant: Tenant, now: datetime | None = None, token_days: int = 180, warn: int = 14) -> None:
    """The fixture's `demo.nearExpiry` package account is made as old as it must be to cross the first expiry
    warning `warnAfterSeconds` after start: late enough for the Playground windows to be open (the Playground
    shows only what arrives while a page is open), early enough to see it."""
    near = tenant.extra.get("demo", {}).get("nearExpiry")
    if not near or near.get("accountId") not in tenant.users:
        return
    after = timedelta(seconds=float(near.get("warnAfterSeconds", 30)))
    created = (now or datetime.now(UTC)) - timedelta(days=token_days - warn) + after
    tenant.users[near["accountId"]]["createdDateTime"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")


def playground_binary() -> Path:
    binary = ROOT / "node_modules" / ".bin" / "agentsplayground"
    if not binary.exists():
        raise SystemExit("The Agents Playground is not installed: run `make demo` (it runs npm ci) or `npm ci`.")
    return binary


async def start_playground(tenant: Tenant, bot_port: int, window: Window, workdir: Path) -> asyncio.subprocess.Process:
    port = window.port
    workdir = workdir / f"playground-{window.role}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / ".m365agentsplayground.yml"
    config.write_text(json.dumps(playground_config(tenant, window), indent=2))  # JSON is valid YAML
    env = {
        **os.environ,
        "TEAMSAPPTESTER_BROWSER": "none",
        "APPLICATION_INSIGHTS_NO_STATSBEAT": "true",
        "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(config),
        "M365_AGENTS_PLAYGROUND_LOGFILE": str(workdir / "playground.log"),
    }
    log = (workdir / "playground.out").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(playground_binary()),
        "-e",
        f"http://127.0.0.1:{bot_port}/api/messages",
        "-c",
        "msteams",
        "-p",
        str(port),
        "--disable-telemetry",
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            if process.returncode is not None:
                raise SystemExit(f"the Agents Playground exited early; see {workdir / 'playground.out'}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/_debug/ping") as response:
                    if response.status == 200:
                        return process
            await asyncio.sleep(0.2)
    await stop_process(process)
    raise SystemExit("the Agents Playground did not answer within 30 seconds")


async def stop_process(process: asyncio.subprocess.Process | None) -> None:
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def _demo(
    port: int,
    graph_port: int,
    playground_ports: tuple[int, int],
    tenant_file: Path | None,
    playground: bool,
    workdir: Path,
) -> None:
    from app import create_app

    tenant = load_tenant(tenant_file or DEFAULT_FIXTURE)
    age_for_expiry_warning(tenant)
    sim = await start_sim(tenant, workdir / "tls", graph_port)
    database = workdir / "demo.db"
    settings = demo_settings(sim, port, database)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    processes: list[asyncio.subprocess.Process] = []
    windows = demo_windows(tenant, *playground_ports)
    try:
        if playground:
            for window in windows:
                processes.append(await start_playground(tenant, port, window, workdir))
            await seed_admin_channel(app, settings, windows[1].port)
        print()
        print("Enrollment Doctor demo is running.")
        print(f"  Simulated tenant: {sim.url}/v1.0   (tenant {tenant.tenant_id}; control API {sim.url}/_sim/...)")
        print(f"  Bot:              http://127.0.0.1:{port}/api/messages")
        print(f"  Database:         {database}")
        print(f"  Audit log:        DATABASE_URL=sqlite:///{database} python app.py audit")
        if playground:
            requester, approver = windows
            print(
                f"  Requester's window ({requester.user['displayName']}): http://127.0.0.1:{requester.port}/"
                "   Personal Chat, paste: A setup failure has occurred during bulk enrollment."
            )
            print(
                f"  Approver's window  ({approver.user['displayName']}): http://127.0.0.1:{approver.port}/"
                f"   channel '{approver.team['channels'][0]['name']}': the approval card and the alerts"
            )
        print(f"  A spike of failures (an alert follows): make spike GRAPH_PORT={graph_port}")
        print("Press Ctrl-C to stop everything.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("\nStopping...")
    finally:
        for process in processes:
            await stop_process(process)
        await runner.cleanup()
        await sim.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.demo`: the app against the simulated tenant, with two Agents Playground windows."""
    import argparse

    from bot.observability import configure_logging

    parser = argparse.ArgumentParser(prog="python -m bot.demo", description="Enrollment Doctor, the demo")
    parser.add_argument("--port", type=int, default=3978, help="bot port")
    parser.add_argument("--graph-port", type=int, default=8443, help="simulated tenant port")
    parser.add_argument("--playground-port", type=int, default=56150, help="the requester's Agents Playground port")
    parser.add_argument(
        "--approver-playground-port",
        type=int,
        default=None,
        help="the approver's Agents Playground port (default: the requester's + 1)",
    )
    parser.add_argument("--tenant", type=Path, default=None, help="tenant fixture (JSON)")
    parser.add_argument("--no-playground", action="store_true", help="do not start the Agents Playground")
    parser.add_argument("--workdir", type=Path, default=None, help="where its database, CA and logs go")
    args = parser.parse_args(argv)
    configure_logging("INFO", fmt="text")
    return run_demo(
        port=args.port,
        graph_port=args.graph_port,
        playground_ports=(args.playground_port, args.approver_playground_port or args.playground_port + 1),
        tenant_file=args.tenant,
        playground=not args.no_playground,
        workdir=args.workdir,
    )


def run_demo(
    port: int,
    graph_port: int,
    playground_ports: tuple[int, int],
    tenant_file: Path | None,
    playground: bool,
    workdir: Path | None = None,
) -> int:
    workdir = (workdir or DEMO_DIR).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    asyncio.run(_demo(port, graph_port, playground_ports, tenant_file, playground, workdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
