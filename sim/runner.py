"""Start and stop the simulated tenants on loopback, for demo mode, tests, benchmarks and `python -m sim`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web

from sim.server import CLOUD, SIMULATOR, GraphSimulator, SimCloud, check_fixture, create_multi_sim_app
from sim.tenant import Tenant
from sim.tls import make_local_tls

DEFAULT_FIXTURE = Path(__file__).parent / "fixtures" / "demo.json"


class FixtureError(ValueError):
    """A tenant fixture the simulator cannot serve; the message is one line naming the file."""


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


@dataclass
class RunningMultiSim:
    """Many tenants behind one URL: tokens from `{url}/{tenant id}/oauth2/v2.0/token`, Graph at `{url}/v1.0`."""

    runner: web.AppRunner
    url: str
    ca_pem: Path
    cloud: SimCloud

    @property
    def simulators(self) -> dict[str, GraphSimulator]:
        """Tenant id -> that tenant's state: its faults, request log, troubleshooting events, directory."""
        return self.cloud.simulators

    def tenant(self, tenant_id: str) -> Tenant:
        simulator = self.cloud.simulators.get(tenant_id)
        if simulator is None:
            raise KeyError(f"no tenant {tenant_id} is served here")
        return simulator.tenant

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


def load_tenants(directory: Path) -> list[Tenant]:
    """Every `*.json` in `directory` (sorted by name), one tenant each. A file that is not a tenant the simulator
    can serve, or a tenant id or verified domain that two files share, is a FixtureError naming the file."""
    if not directory.is_dir():
        raise FixtureError(f"tenant fixtures: {directory} is not a directory")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise FixtureError(f"tenant fixtures: {directory} holds no *.json file")
    loaded: list[tuple[Path, Tenant]] = []
    seen = SimCloud()  # the server's own checks (metadata, clashes between tenants), before serving anything
    for path in files:
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("a tenant fixture is a JSON object")
            tenant = Tenant.from_fixture(data)
            seen.add(tenant)
        except json.JSONDecodeError as exc:
            raise FixtureError(f"tenant fixture {path} is not valid JSON: {exc}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FixtureError(f"tenant fixture {path} is invalid: {_one_line(exc)}") from exc
        loaded.append((path, tenant))
    for path, tenant in loaded:
        try:
            seen.check_consents(tenant)
        except ValueError as exc:
            raise FixtureError(f"tenant fixture {path} is invalid: {_one_line(exc)}") from exc
    return [tenant for _, tenant in loaded]


def _one_line(exc: BaseException) -> str:
    text = str(exc) if not isinstance(exc, KeyError) else f"missing {exc}"
    return " ".join(text.split())


async def _serve(app: web.Application, tls_dir: Path, host: str, port: int) -> tuple[web.AppRunner, str, Path]:
    tls = make_local_tls(tls_dir)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls.server_context)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, f"https://{host}:{bound}", tls.ca_pem


async def start_multi_sim(
    tenants: list[Tenant],
    tls_dir: Path,
    port: int = 0,
    host: str = "127.0.0.1",
    clock: Callable[[], datetime] | None = None,
) -> RunningMultiSim:
    app = create_multi_sim_app(tenants, clock) if clock else create_multi_sim_app(tenants)
    runner, url, ca_pem = await _serve(app, tls_dir, host, port)
    return RunningMultiSim(runner=runner, url=url, ca_pem=ca_pem, cloud=app[CLOUD])


async def start_sim(tenant: Tenant, tls_dir: Path, port: int = 0, host: str = "127.0.0.1", clock=None) -> RunningSim:
    """The one-tenant case of the same server."""
    app = create_multi_sim_app([tenant], clock) if clock else create_multi_sim_app([tenant])
    runner, url, ca_pem = await _serve(app, tls_dir, host, port)
    return RunningSim(runner=runner, url=url, ca_pem=ca_pem, simulator=app[SIMULATOR])


__all__ = [
    "DEFAULT_FIXTURE",
    "FixtureError",
    "RunningMultiSim",
    "RunningSim",
    "check_fixture",
    "load_tenant",
    "load_tenants",
    "start_multi_sim",
    "start_sim",
]
