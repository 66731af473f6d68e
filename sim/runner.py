"""Start and stop the simulated tenant on loopback, for demo mode, tests and `python -m sim`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from sim.server import SIMULATOR, GraphSimulator, create_sim_app
from sim.tenant import Tenant
from sim.tls import make_local_tls

DEFAULT_FIXTURE = Path(__file__).parent / "fixtures" / "demo.json"


@dataclass
class RunningSim:
    runner: web.AppRunner
    url: str
    ca_pem: Path
    simulator: GraphSimulator

    @property
    def tenant(self) -> Tenant:
        return self.simulator.tenant

    async def close(self) -> None:
        await self.runner.cleanup()


def load_tenant(path: Path | None = None) -> Tenant:
    fixture = path or DEFAULT_FIXTURE
    try:
        data = json.loads(fixture.read_text())
    except FileNotFoundError as exc:
        raise SystemExit(f"tenant fixture not found: {fixture}") from exc
    except json.JSONDecodeError as exc:
        raise SystemExit(f"tenant fixture {fixture} is not valid JSON: {exc}") from exc
    try:
        return Tenant.from_fixture(data)
    except (ValueError, KeyError) as exc:
        raise SystemExit(f"tenant fixture {fixture} is invalid: {exc}") from exc


async def start_sim(tenant: Tenant, tls_dir: Path, port: int = 0, host: str = "127.0.0.1", clock=None) -> RunningSim:
    tls = make_local_tls(tls_dir)
    app = create_sim_app(tenant, clock) if clock else create_sim_app(tenant)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls.server_context)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return RunningSim(runner=runner, url=f"https://{host}:{bound}", ca_pem=tls.ca_pem, simulator=app[SIMULATOR])
