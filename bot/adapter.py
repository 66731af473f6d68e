"""CloudAdapter wiring, with Bot Connector clients reused per service URL instead of rebuilt every turn."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.auth._built_in_bot_framework_authentication import (
    _BuiltinBotFrameworkAuthentication,
)

from bot.settings import Settings

MAX_CACHED_CLIENTS = 64


class _BotConfig:
    def __init__(self, settings: Settings):
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        # With no app id (local use, as with the Emulator) only the MultiTenant path allows auth to be off.
        self.APP_TYPE = settings.app_type if settings.app_id else "MultiTenant"
        self.APP_TENANTID = settings.app_tenant_id


class _CachingConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, app_id: str, cache: OrderedDict[Any, ConnectorClient]):
        self._inner = inner
        self._app_id = app_id
        self._cache = cache

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self._app_id, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)  # type: ignore[arg-type]
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

    def __init__(self, inner: BotFrameworkAuthentication):
        self._inner = inner
        self._connectors: OrderedDict[Any, ConnectorClient] = OrderedDict()
        self._token_clients: dict[str, UserTokenClient] = {}

    @staticmethod
    def _app_id(claims_identity: ClaimsIdentity) -> str:
        return _BuiltinBotFrameworkAuthentication.get_app_id(claims_identity) or ""

    async def authenticate_request(self, activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory:
            result.connector_factory = _CachingConnectorFactory(
                result.connector_factory, self._app_id(result.claims_identity), self._connectors
            )
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str):
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _CachingConnectorFactory(
            self._inner.create_connector_factory(claims_identity), self._app_id(claims_identity), self._connectors
        )

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


def create_adapter(settings: Settings) -> CloudAdapter:
    auth = ConfigurationBotFrameworkAuthentication(_BotConfig(settings))
    return CloudAdapter(CachingBotFrameworkAuthentication(auth))
