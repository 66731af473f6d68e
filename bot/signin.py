"""Approver mode: a person's own Graph token through the Azure Bot's OAuth connection (Bot Framework Token Service).

On a Universal Action the bot answers `401 loginRequest` with the connection's `tokenExchangeResource`; Teams gets
the person's SSO token silently and sends the action again with `authentication.token`, which is exchanged here
(once: a second exchange of the same id, from another Teams client or replica, is answered 412 through a
compare-and-set in the database). Where SSO cannot finish, the sign-in button of the same answer leads to a
magic code, which Teams sends back as the action's `state` (or a `signin/verifyState` invoke carries it).

Tokens are held in memory for the piece of work that needs them: never logged, never stored, never in a card.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.clock import Clock
from bot.errors import BotError, GraphError
from bot.graph import GraphGateway, MsGraphGateway, UserTokenCredential
from bot.settings import Settings
from bot.storage import Storage

log = logging.getLogger(__name__)

LOGIN_REQUEST = "application/vnd.microsoft.activity.loginRequest"
PRECONDITION_FAILED = "application/vnd.microsoft.error.preconditionFailed"
GLOBAL_ADMIN = ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator")
# The directory roles Graph accepts for each kind of change made with a person's own sign-in (any one of them).
APPROVER_ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "join_permission": (("7698a772-787b-4ac8-901f-60d6b08affd2", "Cloud Device Administrator"), GLOBAL_ADMIN),
    "ca_exclusion": (
        ("b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator"),
        ("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"),
        GLOBAL_ADMIN,
    ),
    "allow_windows": (("3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator"), GLOBAL_ADMIN),
}
Authorization = Callable[[], Awaitable[str | None]]
MAX_ID = 256  # an exchange id or a magic code longer than this is not Teams' (and is never stored)


class TokenServiceError(BotError):
    """The Bot Framework Token Service could not be reached or answered something unexpected."""


class SignInRequired(Exception):  # noqa: N818 - a request to the client, not a failure
    """Answer the invoke with this body (a 401 loginRequest or a 412) instead of a card."""

    def __init__(self, body: dict[str, Any]):
        super().__init__(body.get("type", "sign-in required"))
        self.body = body


@dataclass(frozen=True)
class UserToken:
    token: str = field(repr=False)
    expires_on: int


@dataclass(frozen=True)
class SignInAttempt:
    """What an invoke carries for signing in, read at the edge: who (the Teams user id the Token Service keys
    tokens by), where, and an SSO token or a magic code if Teams sent one."""

    user_id: str
    channel_id: str
    bot_id: str
    conversation: dict[str, Any]
    service_url: str
    activity_id: str | None = None
    exchange_id: str | None = None
    exchange_token: str | None = field(default=None, repr=False)
    magic_code: str | None = field(default=None, repr=False)


def _expiry(value: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(value).replace("0000000Z", "+00:00").replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


NO_SIGN_IN = (
    "This change is made with an approver's own sign-in, and none was at hand (the bot restarted while applying "
    "it). Nothing was written. An approver who holds the role presses Retry and signs in."
)


class WithoutSignIn:
    """Approver mode with no approver's sign-in at hand (an apply resumed after a restart): reads go through the
    app, which may read; a write is refused here, before Graph, since the app holds no write permission."""

    def __init__(self, graph: GraphGateway):
        self._graph = graph

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    async def _refuse(self, operation: str) -> Any:
        raise GraphError(NO_SIGN_IN, operation=operation)

    async def put_policy(self, body: dict[str, Any]) -> Any:
        return await self._refuse("change the device registration policy")

    async def patch_ca_policy(self, policy_id: str, body: dict[str, Any]) -> Any:
        return await self._refuse("change a Conditional Access policy")

    async def patch_enrollment_configuration(self, configuration_id: str, body: dict[str, Any]) -> Any:
        return await self._refuse("change an enrollment restriction")


class SignedInGateway(MsGraphGateway):
    """MsGraphGateway as a signed-in person, who is signed out of the Token Service when it is closed."""

    def __init__(self, *args: Any, sign_out: Callable[[], Awaitable[None]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sign_out: Callable[[], Awaitable[None]] | None = sign_out

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            sign_out, self._sign_out = self._sign_out, None  # once, however often it is closed
            if sign_out is not None:
                await sign_out()


class TokenService:
    """The Bot Framework Token Service's REST API (what botframework-connector's TokenApiClient calls), on aiohttp."""

    def __init__(self, base_url: str, ca_bundle: str | None, authorization: Authorization, timeout: float = 20.0):
        self._base = base_url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self._authorization = authorization
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, query: dict[str, str], body: Any = None) -> tuple[int, Any]:
        if self._session is None or self._session.closed:
            # trust_env: HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply, as to every other outbound client
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=True)
        headers = {"Accept": "application/json"}
        authorization = await self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        url = f"{self._base}/{path}?{urlencode({k: v for k, v in query.items() if v})}"
        try:
            async with self._session.request(method, url, json=body, headers=headers, ssl=self._ssl) as answer:
                text = await answer.text()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenServiceError(f"Could not reach the Bot Framework Token Service: {exc!r}") from exc
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    async def sign_in_resource(self, state: str) -> dict[str, Any]:
        status, body = await self._call("GET", "api/botsignin/GetSignInResource", {"state": state})
        if status != 200 or not isinstance(body, dict) or not body.get("signInLink"):
            raise TokenServiceError(f"The Token Service gave no sign-in link (HTTP {status}).")
        return body

    @staticmethod
    def _token(status: int, body: Any) -> UserToken | None:
        if status == 200 and isinstance(body, dict) and body.get("token"):
            return UserToken(str(body["token"]), _expiry(body.get("expiration")))
        return None

    async def exchange(self, user_id: str, connection: str, channel_id: str, uri: str | None, token: str):
        query = {"userId": user_id, "connectionName": connection, "channelId": channel_id}
        status, body = await self._call("POST", "api/usertoken/exchange", query, {"uri": uri, "token": token})
        return self._token(status, body)

    async def get_token(self, user_id: str, connection: str, channel_id: str, code: str | None = None):
        query = {"userId": user_id, "connectionName": connection, "channelId": channel_id, "code": code or ""}
        status, body = await self._call("GET", "api/usertoken/GetToken", query)
        return self._token(status, body)

    async def sign_out(self, user_id: str, connection: str, channel_id: str) -> None:
        query = {"userId": user_id, "connectionName": connection, "channelId": channel_id}
        await self._call("DELETE", "api/usertoken/SignOut", query)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class SignIn:
    """A person's Graph token for one piece of work, by SSO exchange, magic code, or the Token Service's cache."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        clock: Clock,
        service: TokenService,
        on_write: Callable[[], None] | None = None,
    ):
        self._settings = settings
        self._storage = storage
        self._clock = clock
        self.service = service
        self._on_write = on_write  # told of every write made with a person's sign-in

    @property
    def connection(self) -> str:
        return self._settings.oauth_connection_name

    def _state(self, attempt: SignInAttempt) -> str:
        """The token exchange state the Token Service expects (botbuilder's create_token_exchange_state)."""
        state = {
            "connectionName": self.connection,
            "conversation": {
                "activityId": attempt.activity_id,
                "bot": {"id": attempt.bot_id},
                "channelId": attempt.channel_id,
                "conversation": attempt.conversation,
                "serviceUrl": attempt.service_url,
                "user": {"id": attempt.user_id},
            },
            "relatesTo": None,
            "msAppId": self._settings.app_id,
        }
        return base64.b64encode(json.dumps(state).encode()).decode()

    async def login_request(self, attempt: SignInAttempt, text: str) -> SignInRequired:
        resource = await self.service.sign_in_resource(self._state(attempt))
        return SignInRequired(
            {
                "statusCode": 401,
                "type": LOGIN_REQUEST,
                "value": {
                    "text": text,
                    "connectionName": self.connection,
                    "tokenExchangeResource": resource.get("tokenExchangeResource"),
                    "buttons": [{"type": "signin", "title": "Sign in", "value": resource["signInLink"]}],
                },
            }
        )

    @staticmethod
    def precondition_failed(message: str) -> SignInRequired:
        return SignInRequired(
            {
                "statusCode": 412,
                "type": PRECONDITION_FAILED,
                "value": {"code": "PreconditionFailed", "message": message},
            }
        )

    async def token_for(self, attempt: SignInAttempt, text: str) -> UserToken:
        """The person's token, or SignInRequired (to be the invoke's answer)."""
        channel = attempt.channel_id
        if len(attempt.exchange_id or "") > MAX_ID or len(attempt.magic_code or "") > MAX_ID:
            raise self.precondition_failed("The sign-in this action carries is not one Teams would send.")
        if attempt.exchange_token:
            exchange_id = attempt.exchange_id or ""
            # Several Teams clients (and replicas) can carry the same exchange: the database decides who does it.
            if not exchange_id or not await self._storage.claim_setting(
                f"token-exchange:{exchange_id}", self._clock.now().isoformat()
            ):
                log.info("token exchange %s: already handled (or no id): answered 412", exchange_id or "-")
                raise self.precondition_failed("This sign-in is already being handled.")
            token = await self.service.exchange(attempt.user_id, self.connection, channel, None, attempt.exchange_token)
            if token is None:
                log.info("token exchange %s: the Token Service refused it: answered 412", exchange_id)
                raise self.precondition_failed("Single sign-on could not finish: sign in with the button instead.")
            return token
        token = await self.service.get_token(attempt.user_id, self.connection, channel, attempt.magic_code)
        if token is None:
            raise await self.login_request(attempt, text)
        return token

    def graph_as(self, token: UserToken, attempt: SignInAttempt) -> MsGraphGateway:
        """A Graph gateway whose every call is made as the signed-in person. Closing it (when the work is done)
        also signs them out of the Token Service, so their token is not kept there either: the next press asks
        again (silently, with single sign-on)."""
        credential = UserTokenCredential(token.token, token.expires_on)

        async def sign_out() -> None:
            try:
                await self.service.sign_out(attempt.user_id, self.connection, attempt.channel_id)
            except TokenServiceError as exc:  # the token expires on its own; said once in the log
                log.warning("could not sign a person out of the Token Service: %s", exc)

        gateway = SignedInGateway(self._settings.graph, self._clock, credential=credential, sign_out=sign_out)
        if self._on_write is not None:
            gateway.on_write(self._on_write)
        return gateway

    async def verify_state(self, attempt: SignInAttempt) -> bool:
        """A `signin/verifyState` invoke: redeem the magic code; the Token Service keeps the token for next time."""
        if not attempt.magic_code:
            return False
        token = await self.service.get_token(attempt.user_id, self.connection, attempt.channel_id, attempt.magic_code)
        return token is not None


async def missing_role(graph: GraphGateway, kind: str) -> str | None:
    """None when the signed-in person holds a role that lets them make this kind of change; else the roles'
    names, said as "Cloud Device Administrator (or Global Administrator)"."""
    accepted = APPROVER_ROLES.get(kind, (GLOBAL_ADMIN,))
    held = await graph.my_directory_roles()
    if any(template in held for template, _ in accepted):
        return None
    first, *others = [name for _, name in accepted]
    return first + (f" (or {' or '.join(others)})" if others else "")


__all__ = ["APPROVER_ROLES", "SignIn", "SignInAttempt", "SignInRequired", "TokenService", "UserToken", "missing_role"]
