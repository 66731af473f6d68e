"""The Bot Framework's token service, played by a test: OpenID metadata and JWKS over local HTTPS, and tokens.

The test holds the private keys, so it can sign a correct token (the positive control) and every kind of bad
one; the endpoint can hang, fail, or publish rotated keys.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sim.tls import make_local_tls

APP_ID = "11111111-2222-3333-4444-555555555555"
ISSUER = "https://api.botframework.com"


@dataclass
class SigningKeyPair:
    kid: str
    private: rsa.RSAPrivateKey
    endorsements: tuple[str, ...] = ("msteams", "emulator")

    @classmethod
    def new(cls, kid: str, endorsements: tuple[str, ...] = ("msteams", "emulator")) -> SigningKeyPair:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), endorsements)

    def jwk(self) -> dict[str, Any]:
        data = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "endorsements": list(self.endorsements)}


@dataclass
class TokenService:
    keys: list[SigningKeyPair] = field(default_factory=lambda: [SigningKeyPair.new("key-1")])
    mode: str = "ok"  # ok | hang | error | garbage
    url: str = ""
    ca_pem: Path | None = None
    metadata_hits: int = 0
    jwks_hits: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._jwks)
        return app

    async def _misbehave(self) -> web.Response | None:
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "error":
            return web.Response(status=500, text="<html>internal error</html>")
        if self.mode == "garbage":
            return web.Response(status=200, text="not json", content_type="application/json")
        return None

    async def _metadata(self, request: web.Request) -> web.Response:
        self.metadata_hits += 1
        bad = await self._misbehave()
        if bad is not None:
            return bad
        return web.json_response(
            {
                "issuer": ISSUER,
                "jwks_uri": f"{self.url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_hits += 1
        bad = await self._misbehave()
        if bad is not None:
            return bad
        return web.json_response({"keys": [k.jwk() for k in self.keys]})

    def token(
        self,
        service_url: str,
        *,
        key: SigningKeyPair | None = None,
        now: float | None = None,
        lifetime: float = 3600,
        alg: str = "RS256",
        **claims: Any,
    ) -> str:
        """A channel token as the Bot Framework signs it; keyword claims override (None removes)."""
        signer = key or self.keys[0]
        issued = now if now is not None else time.time()
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": APP_ID,
            "serviceurl": service_url,
            "nbf": int(issued) - 5,
            "exp": int(issued + lifetime),
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, signer.private, algorithm=alg, headers={"kid": signer.kid})


def unsigned_token(claims: dict[str, Any], kid: str = "key-1") -> str:
    """`alg: none`: a token anyone can write."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims)}."


async def start_token_service(directory: Path) -> tuple[TokenService, web.AppRunner]:
    tls = make_local_tls(directory)
    service = TokenService(ca_pem=tls.ca_pem)
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    service.url = f"https://127.0.0.1:{port}"
    return service, runner
