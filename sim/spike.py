"""`python -m sim.spike`: add a burst of bulk enrollment failures to a running simulated tenant, now."""

from __future__ import annotations

import argparse
import json
import ssl
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

PACKAGE_ACCOUNTS = ["c0a80001-5a1e-4b7c-8d9e-000000000101", "c0a80001-5a1e-4b7c-8d9e-000000000102"]


def spike_events(count: int, now: datetime, category: str = "authorization") -> list[dict]:
    return [
        {
            "id": str(uuid.uuid4()),
            "eventDateTime": (now - timedelta(seconds=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "correlationId": str(uuid.uuid4()),
            "managedDeviceIdentifier": "",
            "operatingSystem": "Windows",
            "osVersion": "10.0.22631.4460",
            "userId": PACKAGE_ACCOUNTS[i % len(PACKAGE_ACCOUNTS)],
            "deviceId": "",
            "enrollmentType": "windowsBulkAzureDomainJoin",
            "failureCategory": category,
            "failureReason": "The user is not authorized to join devices to Microsoft Entra ID (0x801c0003).",
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.spike", description=__doc__)
    parser.add_argument("--url", default="https://127.0.0.1:8443", help="the simulated tenant")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--category", default="authorization")
    args = parser.parse_args()
    body = json.dumps(spike_events(args.count, datetime.now(UTC), args.category)).encode()
    request = urllib.request.Request(
        f"{args.url}/_sim/troubleshootingEvents", data=body, headers={"Content-Type": "application/json"}
    )
    context = ssl._create_unverified_context()  # the simulator's own local CA; loopback only
    with urllib.request.urlopen(request, context=context) as response:
        print(f"added {args.count} bulk enrollment failures: {response.read().decode()}")


if __name__ == "__main__":
    main()
