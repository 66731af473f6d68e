"""A locally generated CA and server certificate so the simulated tenant speaks real HTTPS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class LocalTls:
    ca_pem: Path
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_pem))


def make_local_tls(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")) -> LocalTls:
    """Create a CA, issue a certificate for the loopback names, and write the CA to `directory/ca.pem`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Enrollment Doctor simulated tenant")
    cert = ca.issue_cert(*hosts)
    ca_pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return LocalTls(ca_pem=ca_pem, server_context=context)
