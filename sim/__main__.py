"""`python -m sim [--port N] [--tenant FILE | --tenants DIR]`: run the simulated tenant, or many, on its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path

from sim.runner import DEFAULT_FIXTURE, load_tenant, load_tenants, start_multi_sim, start_sim
from sim.tenant import Tenant

LISTED = 20  # more tenants than this are counted, not listed


async def _serve(port: int, tenant_file: Path, tls_dir: Path) -> None:
    sim = await start_sim(load_tenant(tenant_file), tls_dir, port)
    print(f"Simulated tenant {sim.tenant.tenant_id}")
    print(f"  Graph:     {sim.url}/v1.0  (and /beta)")
    print(f"  Authority: {sim.url}  (token endpoint {sim.url}/{sim.tenant.tenant_id}/oauth2/v2.0/token)")
    print(f"  CA:        {sim.ca_pem}")
    print(f"  Control:   {sim.url}/_sim/faults, /_sim/requests, /_sim/state, /_sim/troubleshootingEvents", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def _describe(tenants: list[Tenant]) -> list[str]:
    if len(tenants) > LISTED:
        first, last = tenants[0], tenants[-1]
        return [
            f"Simulated tenants: {len(tenants)} "
            f"({first.tenant_id} {first.domains[0] if first.domains else ''} .. "
            f"{last.tenant_id} {last.domains[0] if last.domains else ''})"
        ]
    lines = [f"Simulated tenants: {len(tenants)}"]
    lines += [f"  {t.tenant_id}  {', '.join(t.domains)}" for t in tenants]
    return lines


async def _serve_many(port: int, directory: Path, tls_dir: Path) -> None:
    tenants = load_tenants(directory)
    sim = await start_multi_sim(tenants, tls_dir, port)
    print("\n".join(_describe(tenants)))
    print(f"  Graph:     {sim.url}/v1.0  (and /beta): each request answered by the tenant of its token")
    print(f"  Authority: {sim.url}  (token endpoint {sim.url}/<tenant id>/oauth2/v2.0/token)")
    print(f"  Consent:   {sim.url}/<tenant id>/adminconsent?client_id=...&redirect_uri=...&state=...")
    print(f"  CA:        {sim.ca_pem}")
    print(f"  Control:   {sim.url}/_sim/tenants, /_sim/tenants/<tenant id>/faults (requests, state, ...)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    parser.add_argument("--port", type=int, default=8443)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tenant", type=Path, default=None, help="one tenant fixture (JSON); default: the demo's")
    which.add_argument("--tenants", type=Path, default=None, help="a directory of tenant fixtures (*.json)")
    parser.add_argument("--tls-dir", type=Path, default=None, help="where to write ca.pem (default: a temp dir)")
    args = parser.parse_args()
    tls_dir = args.tls_dir or Path(tempfile.mkdtemp(prefix="sim-tls-"))
    with contextlib.suppress(KeyboardInterrupt):
        try:
            if args.tenants is not None:
                asyncio.run(_serve_many(args.port, args.tenants, tls_dir))
            else:
                asyncio.run(_serve(args.port, args.tenant or DEFAULT_FIXTURE, tls_dir))
        except ValueError as exc:  # a fixture the simulator cannot serve: say what, in one line
            parser.exit(2, f"python -m sim: {exc}\n")


if __name__ == "__main__":
    main()
