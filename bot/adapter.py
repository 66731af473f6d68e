"""CloudAdapter wiring: Bot Connector clients reused per service URL, sends retried as Teams asks, and the
authenticated caller turned into botbuilder's request result (the edge authenticates; see bot/auth.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp.helpers import get_env_proxy_for_url
from azure.core.exceptions import DeserializationError
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity, CallerIdConstants, ResourceResponse
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.auth._built_in_bot_framework_authentication import (
    _BuiltinBotFrameworkAuthentication,
)
from msrest.pipeline import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline, Request, Response
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.aiohttp import AioHttpClientResponse
from yarl import URL

from bot.clock import Clock
from bot.errors import DeliveryError
from bot.settings import Settings
from bot.wire import to_json

log = logging.getLogger(__name__)
_jitter = random.Random()  # its own generator: the backoff does not disturb the global one

MAX_CACHED_CLIENTS = 64
# Teams' rate-limit guidance: back off exponentially with jitter on 429, and retry 412, 502 and 504 too.
RETRYABLE_STATUS = frozenset({412, 429, 502, 504})
MAX_SEND_ATTEMPTS = 4
MAX_BACKOFF_SECONDS = 8.0
T = TypeVar("T")


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if isinstance(status, int) else None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        value = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= 60 else None


def _transient(exc: BaseException) -> bool:
    # A 2xx answer that is not JSON (a proxy's page) is a DeserializationError without a status; timeouts and
    # refused connections come from aiohttp, which both send paths use.
    return status_of(exc) in RETRYABLE_STATUS or isinstance(
        exc, (DeserializationError, aiohttp.ClientConnectionError, TimeoutError)
    )


async def with_connector_retries(call: Callable[[], Awaitable[T]], clock: Clock, what: str) -> T:
    """Run one Bot Connector call; retry the transient failures, then raise DeliveryError (403/404 as they are)."""
    for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
        try:
            return await call()
        except Exception as exc:
            status = status_of(exc)
            if status in (403, 404):
                raise
            if not _transient(exc) or attempt == MAX_SEND_ATTEMPTS:
                detail = f"HTTP {status}" if status else type(exc).__name__
                raise DeliveryError(f"the Bot Connector did not {what} ({detail}; {attempt} attempt(s))") from exc
            delay = _retry_after(exc) or min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempt - 1)) * (1 + _jitter.random() / 2)
            log.info("bot connector failed to %s (%s); retrying in %.2fs", what, status or type(exc).__name__, delay)
            await clock.sleep(delay)
    raise AssertionError("unreachable")


class _BotConfig:
    def __init__(self, settings: Settings):
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        # With no app id (local use, as with the Emulator) only the MultiTenant path allows auth to be off.
        self.APP_TYPE = settings.app_type if settings.app_id else "MultiTenant"
        self.APP_TENANTID = settings.app_tenant_id


def _expiry_of(token: str) -> float | None:
    """The `exp` of a JWT, read without checking it (it only decides when to fetch a new one)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class ConnectorTokens:
    """The bot's outbound Bot Connector token, never fetched on the event loop.

    botframework-connector's credentials get it from msal, synchronously: a dictionary lookup while msal's
    cached token is good, a blocking HTTPS call to Entra ID when it is not (about once an hour). Here the token
    is kept with its expiry; when less than REFRESH_MARGIN is left (or none is held) it is fetched in a worker
    thread, once for all the sends that need it at that moment."""

    REFRESH_MARGIN = 300.0  # seconds before the token's expiry
    UNKNOWN_LIFETIME = 300.0  # a token whose expiry cannot be read is kept this long

    def __init__(self, clock: Clock):
        self._clock = clock
        self._held: dict[tuple[str, str], tuple[str, float]] = {}
        self._fetching: dict[tuple[str, str], asyncio.Future[str]] = {}

    async def authorization(self, credentials: Any) -> str | None:
        """The bearer header; none without an app id, as botframework-connector does."""
        app_id = getattr(credentials, "microsoft_app_id", None)
        if not app_id or app_id == AuthenticationConstants.ANONYMOUS_SKILL_APP_ID:
            return None
        key = (app_id, str(getattr(credentials, "oauth_scope", "")))
        now = self._clock.now().timestamp()
        held = self._held.get(key)
        if held is not None and held[1] - now > self.REFRESH_MARGIN:
            return f"Bearer {held[0]}"
        fetching = self._fetching.get(key)
        if fetching is None:
            fetching = asyncio.ensure_future(asyncio.to_thread(credentials.get_access_token))
            self._fetching[key] = fetching
            fetching.add_done_callback(lambda _: self._fetching.pop(key, None))
        token = await asyncio.shield(fetching)
        self._held[key] = (token, _expiry_of(token) or now + self.UNKNOWN_LIFETIME)
        return f"Bearer {token}"


class _BearerPolicy(AsyncHTTPPolicy):
    """The bot's outbound token on each Bot Connector request (what msrest's requests-only credentials policy
    did through a requests.Session), from ConnectorTokens."""

    def __init__(self, credentials: Any, tokens: ConnectorTokens):
        super().__init__()
        self._credentials = credentials
        self._tokens = tokens

    async def send(self, request: Request, **kwargs: Any) -> Response:
        authorization = await self._tokens.authorization(self._credentials)
        if authorization:
            request.http_request.headers["Authorization"] = authorization
        return await self.next.send(request, **kwargs)  # type: ignore[union-attr]


class _AiohttpSender(AsyncHTTPSender):
    """Sends Bot Connector requests on the event loop with aiohttp. botframework-connector's default sends each
    one with `requests` in a thread pool: a thread hop and ~1.5 ms per reply, and no way to bound the wait."""

    def __init__(self, auth: CachingBotFrameworkAuthentication):
        self._auth = auth

    async def __aenter__(self) -> _AiohttpSender:
        return self

    async def __aexit__(self, *exc_details: Any) -> None:
        return None

    def build_context(self) -> Any:
        return None

    async def send(self, request: Request, **config: Any) -> Response:
        http = request.http_request
        async with self._auth.request(http.method, http.url, headers=dict(http.headers), data=http.data) as answer:
            response = AioHttpClientResponse(http, answer)
            await response.load_body()
        return Response(request, response)


class _CachingConnectorFactory(ConnectorFactory):
    def __init__(
        self,
        inner: ConnectorFactory,
        app_id: str,
        cache: OrderedDict[Any, ConnectorClient],
        sender: Callable[[], _AiohttpSender],
        tokens: ConnectorTokens,
    ):
        self._inner = inner
        self._app_id = app_id
        self._cache = cache
        self._sender = sender
        self._tokens = tokens

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self._app_id, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)  # type: ignore[arg-type]
            config = client.config
            config.pipeline = AsyncPipeline(
                [
                    config.user_agent_policy,
                    _BearerPolicy(config.credentials, self._tokens),
                    RawDeserializer(),
                    config.http_logger_policy,
                ],
                self._sender(),
            )
            self._cache[key] = client
            while len(self._cache) > MAX_CACHED_CLIENTS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return client


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):
    """Delegates authentication; caches ConnectorClients and UserTokenClients.

    botbuilder builds a new ConnectorClient and UserTokenClient for every activity, and each costs ~4 ms of
    CPU on the event loop (msrest's retry policy set-up). The clients hold no per-turn state, so one per
    (app id, service URL, audience) serves every turn.
    """

    def __init__(self, inner: BotFrameworkAuthentication, connector_timeout: float, clock: Clock):
        self._inner = inner
        self.tokens = ConnectorTokens(clock)
        self._client_timeout = aiohttp.ClientTimeout(total=connector_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._connectors: OrderedDict[Any, ConnectorClient] = OrderedDict()
        self._token_clients: dict[str, UserTokenClient] = {}
        self._proxies: dict[tuple[str, str], tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    @staticmethod
    def _app_id(claims_identity: ClaimsIdentity) -> str:
        return _BuiltinBotFrameworkAuthentication.get_app_id(claims_identity) or ""

    async def authenticate_request(self, activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory:
            result.connector_factory = _CachingConnectorFactory(
                result.connector_factory,
                self._app_id(result.claims_identity),
                self._connectors,
                self._sender,
                self.tokens,
            )
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str):
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _CachingConnectorFactory(
            self._inner.create_connector_factory(claims_identity),
            self._app_id(claims_identity),
            self._connectors,
            self._sender,
            self.tokens,
        )

    def session(self) -> aiohttp.ClientSession:
        """One aiohttp session (connection pool) for all Bot Connector calls; made on first use, on the loop."""
        if self._session is None or self._session.closed:
            # Not trust_env: with it aiohttp looks up ~/.netrc and the proxy settings in a worker thread for
            # every request (two thread hops a send); `request` applies the proxy settings instead.
            self._session = aiohttp.ClientSession()
        return self._session

    def proxy_for(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy for `url` from HTTPS_PROXY, HTTP_PROXY and NO_PROXY (as they apply to Graph through httpx,
        the Graph token through azure-core and the Bot Connector token through msal), looked up once per
        scheme and host: the environment does not change while the process runs."""
        scheme, _, rest = url.partition("://")
        origin = (scheme.lower(), rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])
        found = self._proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(url))
            except LookupError:  # NO_PROXY names the host, or no proxy is set for the scheme
                found = (None, None)
            if len(self._proxies) >= MAX_CACHED_CLIENTS:
                self._proxies.clear()
            self._proxies[origin] = found
        return found

    def request(self, method: str, url: str, **options: Any) -> Any:
        """A Bot Connector request through the shared session, its proxy and its timeout."""
        proxy, proxy_auth = self.proxy_for(url)
        return self.session().request(method, url, proxy=proxy, proxy_auth=proxy_auth, timeout=self.timeout, **options)

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        return self._client_timeout

    def _sender(self) -> _AiohttpSender:
        return _AiohttpSender(self)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = self._app_id(claims_identity)
        client = self._token_clients.get(app_id)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._token_clients[app_id] = client
        return client

    def create_bot_framework_client(self):
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)

    def authenticated(self, claims: dict[str, Any]) -> AuthenticateRequestResult:
        """The request result for a caller the edge has authenticated (bot/auth.py), without a second check."""
        identity = ClaimsIdentity(claims, True)
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._inner.get_originating_audience()
        result.caller_id = CallerIdConstants.public_azure_channel
        result.connector_factory = self.create_connector_factory(identity)
        return result

    async def anonymous(self, activity: Activity) -> AuthenticateRequestResult:
        """Inbound auth is off (no app id): whatever Authorization header came is not looked at."""
        return await self.authenticate_request(activity, "")


class ConnectorHTTPError(Exception):
    """The Bot Connector answered a send or an update with an error status."""

    def __init__(self, status: int, headers: Any, detail: str):
        super().__init__(f"HTTP {status}: {detail[:200]}")
        self.response = SimpleNamespace(status_code=status, headers=headers)


def _wire_json(activity: Activity) -> dict[str, Any]:
    """The activity as the Bot Connector takes it. msrest walks and validates an Adaptive Card attachment key by
    key (~0.3 ms a card, every reply); the card is already JSON, so only the envelope is serialized (bot/wire.py)."""
    attachments = activity.attachments or []
    activity.attachments = None
    try:
        body = to_json(activity)
    finally:
        activity.attachments = attachments or None
    if attachments:
        body["attachments"] = []
        for attachment in attachments:
            content = attachment.content
            attachment.content = None
            try:
                wire = to_json(attachment)
            finally:
                attachment.content = content
            wire["content"] = content
            body["attachments"].append(wire)
    return body


class RetryingCloudAdapter(CloudAdapter):
    """Sends and updates one activity at a time, each retried on Teams' transient answers. Messages whose
    attachments are plain JSON (our cards) go out through aiohttp directly; anything else through botbuilder."""

    def __init__(self, auth: CachingBotFrameworkAuthentication, clock: Clock):
        super().__init__(auth)
        self.auth = auth
        self._clock = clock

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        responses: list[ResourceResponse] = []
        send_one = super().send_activities
        for activity in activities:

            async def send(one: Activity = activity) -> list[ResourceResponse]:
                if _plain(one):
                    one.id = None
                    path = f"/v3/conversations/{quote(one.conversation.id, safe='')}/activities"
                    if one.reply_to_id:
                        path += f"/{quote(one.reply_to_id, safe='')}"
                    return [await self._post(context, "POST", path, one)]
                return await send_one(context, [one])

            responses.extend(await with_connector_retries(send, self._clock, "send a message") or [])
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity):
        async def update() -> Any:
            if _plain(activity):
                conversation, activity_id = quote(activity.conversation.id, safe=""), quote(activity.id, safe="")
                path = f"/v3/conversations/{conversation}/activities/{activity_id}"
                return await self._post(context, "PUT", path, activity)
            return await super(RetryingCloudAdapter, self).update_activity(context, activity)

        return await with_connector_retries(update, self._clock, "update a card")

    async def _post(self, context: TurnContext, method: str, path: str, activity: Activity) -> ResourceResponse:
        client: ConnectorClient = context.turn_state[self.BOT_CONNECTOR_CLIENT_KEY]
        config = client.config
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": config.user_agent,
            "x-ms-conversation-id": activity.conversation.id,
        }
        authorization = await self.auth.tokens.authorization(config.credentials)
        if authorization:
            headers["Authorization"] = authorization
        url = config.base_url.rstrip("/") + path
        data = orjson.dumps(_wire_json(activity))
        async with self.auth.request(method, url, data=data, headers=headers) as answer:
            text = await answer.read()
            if answer.status >= 400:
                raise ConnectorHTTPError(answer.status, answer.headers, text.decode("utf-8", "replace"))
        try:
            body = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError as exc:
            raise DeserializationError("the Bot Connector answered without JSON") from exc
        return ResourceResponse(id=body.get("id") if isinstance(body, dict) else None)


def _plain(activity: Activity) -> bool:
    """A message (or typing) whose attachments are all plain JSON: what the fast send path carries."""
    return (
        activity.type in ("message", "typing")
        and activity.conversation is not None
        and bool(activity.conversation.id)
        and all(isinstance(a.content, (dict, type(None))) for a in activity.attachments or [])
    )


def create_adapter(settings: Settings, clock: Clock) -> RetryingCloudAdapter:
    auth = ConfigurationBotFrameworkAuthentication(_BotConfig(settings))
    return RetryingCloudAdapter(CachingBotFrameworkAuthentication(auth, settings.connector_timeout, clock), clock)


def token_service_authorization(settings: Settings, tokens: ConnectorTokens) -> Callable[[], Awaitable[str | None]]:
    """The bot's own bearer token for the Bot Framework Token Service (the same identity and audience as for the
    Bot Connector, kept by the same ConnectorTokens); none without an app id, as for the Bot Connector."""
    factory = ConfigurationServiceClientCredentialFactory(_BotConfig(settings))
    made: list[Any] = []

    async def authorization() -> str | None:
        if not settings.app_id:
            return None
        if not made:
            tenant = settings.app_tenant_id if settings.app_type == "SingleTenant" else "botframework.com"
            login = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
            oauth_scope = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
            made.append(await factory.create_credentials(settings.app_id, oauth_scope, login, True))
        return await tokens.authorization(made[0])

    return authorization


async def bot_authorization(context: TurnContext) -> str | None:
    """The bot's own Bot Connector bearer token for this turn ("Bearer …"), or None without an app id. For
    downloading what Teams keeps on the Bot Connector (pasted images); never for any other host."""
    client = context.turn_state.get(CloudAdapter.BOT_CONNECTOR_CLIENT_KEY)
    credentials = getattr(getattr(client, "config", None), "credentials", None)
    adapter = context.adapter
    if credentials is None or not isinstance(adapter, RetryingCloudAdapter):
        return None
    return await adapter.auth.tokens.authorization(credentials)
