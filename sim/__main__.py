"""`python -m sim --port N --tenant FILE`: run the simulated tenant on its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path

from sim.runner import DEFAULT_FIXTURE, load_tenant, start_sim


async def _serve(port: int, tenant_file: Path, tls_dir: Path) -> None:
    sim = await start_sim(load_tenant(tenant_file), tls_dir, port)
    print(f"Simulated tenant {sim.tenant.tenant_id}")
    print(f"  Graph:     {sim.url}/v1.0  (and /beta)")
    print(f"  Authority: {sim.url}  (token endpoint {sim.url}/{sim.tenant.tenant_id}/oauth2/v2.0/token)")
    print(f"  CA:        {sim.ca_pem}")
    print(f"  Control:   {sim.url}/_sim/faults, /_sim/requests, /_sim/state, /_sim/troubleshootingEvents")
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tenant", type=Path, default=DEFAULT_FIXTURE, help="tenant fixture (JSON)")
    parser.add_argument("--tls-dir", type=Path, default=None, help="where to write ca.pem (default: a temp dir)")
    args = parser.parse_args()
    tls_dir = args.tls_dir or Path(tempfile.mkdtemp(prefix="sim-tls-"))
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(_serve(args.port, args.tenant, tls_dir))
        except ValueError as exc:  # a fixture the simulator cannot serve: say what, in one line
            parser.exit(2, f"python -m sim: {exc}\n")


if __name__ == "__main__":
    main()
