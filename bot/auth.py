"""Inbound authentication: Bot Framework tokens checked against signing keys fetched without blocking the loop.

botframework-connector 4.17.1 fetches the OpenID metadata and keys with a blocking `requests.get` without a
timeout, inside the event loop, and does not remember a failed fetch; one hung key endpoint then freezes every
conversation. Here the keys are fetched with aiohttp (timeout, one fetch however many requests wait), cached
for the documented refresh interval, kept when a refresh fails, and refreshed for an unknown `kid` at most once
a minute. A request is authenticated before anything else reads it: the edge calls `authenticate` first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

from bot.clock import Clock

log = logging.getLogger(__name__)

BOT_FRAMEWORK_OPENID_METADATA = "https://login.botframework.com/v1/.well-known/openidconfiguration"
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
ALLOWED_ALGORITHMS = ("RS256",)
# botbuilder-js documents 24 hours as the key refresh interval; Python's own issue #1210 asks the same.
REFRESH_INTERVAL = timedelta(hours=24)
UNKNOWN_KID_INTERVAL = timedelta(minutes=1)
CLOCK_SKEW = timedelta(minutes=5)  # the Bot Connector authentication page: "industry-standard clock-skew"
MAX_DOCUMENT_BYTES = 1024 * 1024


class AuthenticationError(Exception):
    """The request is not from the Bot Framework for this bot: answer 401. The message is a short reason."""


class KeysUnavailableError(Exception):
    """No signing key could be had at all (never fetched, endpoint down): answer 503, never let it pass."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Any  # a cryptography public key
    endorsements: tuple[str, ...]


@dataclass(frozen=True)
class Caller:
    """What a valid token says: the claims, and the key that signed it."""

    claims: dict[str, Any]
    endorsements: tuple[str, ...]


class SigningKeys:
    """The Bot Framework's published signing keys, read through its OpenID metadata document."""

    def __init__(
        self,
        metadata_url: str,
        clock: Clock,
        *,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        refresh_interval: timedelta = REFRESH_INTERVAL,
        unknown_kid_interval: timedelta = UNKNOWN_KID_INTERVAL,
    ):
        self._url = metadata_url
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = ssl_context
        self._refresh_interval = refresh_interval
        self._unknown_kid_interval = unknown_kid_interval
        self._keys: dict[str, SigningKey] | None = None
        self._fetched_at: datetime | None = None
        self._attempted_at: datetime | None = None
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0  # how many fetches were started (observability and tests)

    async def get(self, kid: str) -> SigningKey | None:
        now = self._clock.now()
        # After a fetch, none for a minute: neither an unknown kid nor a dead endpoint makes us hammer it.
        allowed = self._attempted_at is None or now - self._attempted_at >= self._unknown_kid_interval
        if self._keys is None:
            if self._inflight is not None or allowed:
                await self._refresh()
            if self._keys is None:
                raise KeysUnavailableError("the Bot Framework signing keys could not be fetched")
        elif self._fetched_at is None or now - self._fetched_at >= self._refresh_interval:
            if allowed:
                self._start()  # serve with the keys we have while the refresh runs (and if it fails)
        if kid not in self._keys and (self._inflight is not None or allowed):
            await self._refresh()  # a key we do not know yet: rotated keys are published before use
        return self._keys.get(kid)

    def _start(self) -> asyncio.Task[None]:
        if self._inflight is None:
            self._attempted_at = self._clock.now()
            self.fetches += 1
            self._inflight = asyncio.create_task(self._fetch(), name="signing-keys-fetch")
            self._inflight.add_done_callback(self._fetched)
        return self._inflight

    async def _refresh(self) -> None:
        # shield: a caller that gives up (its request was cancelled) does not cancel the fetch for the others
        await asyncio.shield(self._start())

    async def close(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
            await asyncio.gather(self._inflight, return_exceptions=True)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        self._inflight = None

    async def _fetch(self) -> None:
        try:
            async with aiohttp.ClientSession(timeout=self._timeout, trust_env=True) as session:
                metadata = await self._get_json(session, self._url)
                jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
                if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
                    raise ValueError("the OpenID metadata has no https jwks_uri")
                document = await self._get_json(session, jwks_uri)
            keys = parse_jwks(document)
            if not keys:
                raise ValueError("the key set holds no usable RSA signing key")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            kept = f"; serving with the {len(self._keys)} keys fetched at {self._fetched_at}" if self._keys else ""
            reason = str(exc) or type(exc).__name__
            log.warning("could not refresh the Bot Framework signing keys from %s: %s%s", self._url, reason, kept)
            return
        self._keys = keys
        self._fetched_at = self._clock.now()
        log.info("fetched %d Bot Framework signing keys", len(keys))

    async def _get_json(self, session: aiohttp.ClientSession, url: str) -> Any:
        async with session.get(url, ssl=self._ssl if self._ssl is not None else True) as response:
            if response.status != 200:
                raise ValueError(f"{url} answered HTTP {response.status}")
            body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
            try:
                return json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"{url} did not send JSON") from exc


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use") not in (None, "sig"):
            continue
        try:
            key = RSAAlgorithm.from_jwk(entry)
        except (jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        endorsements = entry.get("endorsements")
        keys[entry["kid"]] = SigningKey(
            kid=entry["kid"],
            key=key,
            endorsements=tuple(e for e in endorsements if isinstance(e, str)) if isinstance(endorsements, list) else (),
        )
    return keys


class TokenValidator:
    """Checks a Bot Framework channel token as the Bot Connector authentication page lists, step by step."""

    def __init__(self, app_id: str, keys: SigningKeys, clock: Clock, issuer: str = BOT_FRAMEWORK_ISSUER):
        self._app_id = app_id
        self._keys = keys
        self._clock = clock
        self._issuer = issuer

    async def close(self) -> None:
        await self._keys.close()

    async def authenticate(self, auth_header: str) -> Caller:
        scheme, _, token = auth_header.partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise AuthenticationError("no Bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the token is not a JWT") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise AuthenticationError(f"signing algorithm {str(header.get('alg'))[:10]!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("the token names no signing key")
        key = await self._keys.get(kid)
        if key is None:
            raise AuthenticationError("the token is signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._app_id,
                issuer=self._issuer,
                # expiry is checked below against the injected clock
                options={"require": ["exp", "iss", "aud"], "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError("the token is for another app") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError("the token has another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError("the token signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the token is invalid") from exc
        now = self._clock.now().timestamp()
        skew = CLOCK_SKEW.total_seconds()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or now > exp + skew:
            raise AuthenticationError("the token has expired")
        if nbf is not None and (not isinstance(nbf, (int, float)) or now < nbf - skew):
            raise AuthenticationError("the token is not valid yet")
        return Caller(claims=claims, endorsements=key.endorsements)

    @staticmethod
    def check_activity(caller: Caller, channel_id: str | None, service_url: str | None) -> None:
        """The token must be endorsed for the activity's channel and name the activity's service URL."""
        if not channel_id or channel_id not in caller.endorsements:
            raise AuthenticationError("the signing key is not endorsed for this channel")
        if caller.claims.get("serviceurl") != service_url:
            raise AuthenticationError("the token names another service URL")
