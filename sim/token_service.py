"""The Bot Framework Token Service, as the simulated tenant plays it: the endpoints a bot calls for a user's token
through its OAuth connection (`api/botsignin/GetSignInResource`, `api/usertoken/exchange`, `.../GetToken`,
`.../SignOut`), and a sign-in page that hands out a magic code (the fallback when single sign-on cannot finish).

Shapes follow botframework-connector's token API models: SignInUrlResponse, TokenResponse, TokenExchangeRequest,
ErrorResponse. The exchange accepts the SSO token Teams obtained for `api://botid-<bot id>` and answers a Graph
token for that user with the connection's delegated scopes (the on-behalf-of step the real service does)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from aiohttp import web

from sim.delegated import connection_scopes, issue_user_token, password_of
from sim.tenant import read_token

DEFAULT_CONNECTION = "graph"
DEFAULT_BOT_ID = "00000000-0000-0000-0000-0000000e0d0c"
PROVIDER_ID = "sim-aadv2-provider"


@dataclass
class TokenStore:
    """The service's own memory: each user's token per connection, and magic codes waiting to be redeemed."""

    tokens: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (user object id, connection)
    issued: list[str] = field(default_factory=list)  # every token handed out (tests search for them)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _connection(sim: Any) -> dict[str, Any]:
    return {"name": DEFAULT_CONNECTION, "botId": DEFAULT_BOT_ID, **sim.tenant.extra.get("oauthConnection", {})}


def _record(sim: Any, request: web.Request, route: str, status: int) -> None:
    sim.requests.append(
        {
            "time": sim.clock().isoformat(),
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "userId": request.query.get("userId"),
        }
    )


def _token_response(channel_id: str, connection: str, token: str, expires: datetime) -> dict[str, Any]:
    return {
        "channelId": channel_id,
        "connectionName": connection,
        "token": token,
        "expiration": expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
    }


def _graph_token_for(sim: Any, user: dict[str, Any]) -> tuple[str, datetime]:
    now = sim.clock()
    token, lifetime = issue_user_token(
        sim.tenant, user, "https://graph.microsoft.com", connection_scopes(sim.tenant), now, _connection(sim)["botId"]
    )
    return token, now + timedelta(seconds=lifetime)


def _state(raw: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def get_sign_in_resource(request: web.Request) -> web.Response:
    sim = request.app[_SIM]
    state = _state(request.query.get("state", ""))
    connection = _connection(sim)
    if state is None or state.get("connectionName") != connection["name"]:
        _record(sim, request, "tokenService.signInResource", 400)
        return _error(400, "BadArgument", "The state is not a token exchange state for a known connection.")
    bot_id = str(state.get("msAppId") or connection["botId"])
    origin = f"{request.scheme}://{request.host}"
    link = f"{origin}/_sim/signin?state={request.query['state']}"
    _record(sim, request, "tokenService.signInResource", 200)
    return web.json_response(
        {
            "signInLink": link,
            "tokenExchangeResource": {
                "id": str(uuid.uuid4()),
                "uri": f"api://botid-{bot_id}",
                "providerId": PROVIDER_ID,
            },
            "tokenPostResource": {"sasUrl": None},
        }
    )


async def exchange(request: web.Request) -> web.Response:
    sim = request.app[_SIM]
    store: TokenStore = request.app[TOKEN_STORE]
    user_id, name = request.query.get("userId", ""), request.query.get("connectionName", "")
    channel_id = request.query.get("channelId", "")
    connection = _connection(sim)
    if not user_id or name != connection["name"]:
        _record(sim, request, "tokenService.exchange", 400)
        return _error(400, "BadArgument", "userId and a known connectionName are required.")
    try:
        body = await request.json()
    except ValueError:
        body = None
    sso = str((body or {}).get("token") or "") if isinstance(body, dict) else ""
    claims = read_token(sso) if sso else None
    now = sim.clock()
    user = sim.tenant.users.get(str((claims or {}).get("oid")))
    valid = (
        claims is not None
        and user is not None
        and claims.get("tid") == sim.tenant.tenant_id
        and str(claims.get("aud", "")).startswith("api://botid-")
        and int(claims.get("exp", 0)) > now.timestamp()
    )
    if not valid or user is None:
        _record(sim, request, "tokenService.exchange", 400)
        return _error(400, "ExchangeFailed", "The token could not be exchanged: it is not a valid SSO token.")
    token, expires = _graph_token_for(sim, user)
    store.tokens[(user_id, name)] = (token, expires)
    store.issued.append(token)
    _record(sim, request, "tokenService.exchange", 200)
    return web.json_response(_token_response(channel_id, name, token, expires))


async def get_token(request: web.Request) -> web.Response:
    sim = request.app[_SIM]
    store: TokenStore = request.app[TOKEN_STORE]
    user_id, name = request.query.get("userId", ""), request.query.get("connectionName", "")
    channel_id, code = request.query.get("channelId", ""), request.query.get("code", "")
    if code:
        redeemed = store.codes.pop(code, None)
        if redeemed is not None and redeemed[1] == name:
            store.tokens[(user_id, name)] = _graph_token_for(sim, sim.tenant.users[redeemed[0]])
            store.issued.append(store.tokens[(user_id, name)][0])
    held = store.tokens.get((user_id, name))
    if held is None or held[1] <= sim.clock():
        _record(sim, request, "tokenService.getToken", 404)
        return _error(404, "NotFound", "No token for this user and connection.")
    _record(sim, request, "tokenService.getToken", 200)
    return web.json_response(_token_response(channel_id, name, held[0], held[1]))


async def sign_out(request: web.Request) -> web.Response:
    sim = request.app[_SIM]
    store: TokenStore = request.app[TOKEN_STORE]
    name = request.query.get("connectionName", "")
    user_id = request.query.get("userId", "")
    for key in [k for k in store.tokens if k[0] == user_id and (not name or k[1] == name)]:
        del store.tokens[key]
    _record(sim, request, "tokenService.signOut", 200)
    return web.json_response({})


async def sign_in_page(request: web.Request) -> web.Response:
    """The page a sign-in button opens. GET shows a form; POST with the user's name and password answers the magic
    code a person would type into the chat (or Teams would send back as the action's `state`)."""
    sim = request.app[_SIM]
    store: TokenStore = request.app[TOKEN_STORE]
    if request.method == "GET":
        shown = escape(request.query.get("state", ""))
        html = (
            "<!doctype html><title>Sign in</title><form method=post>"
            f"<input type=hidden name=state value='{shown}'>"
            "<input name=username placeholder=username> <input name=password type=password placeholder=password>"
            "<button>Sign in</button></form>"
        )
        return web.Response(text=html, content_type="text/html")
    form = {k: str(v) for k, v in (await request.post()).items()}
    state = _state(form.get("state", ""))
    user = next(
        (u for u in sim.tenant.users.values() if u["userPrincipalName"].lower() == form.get("username", "").lower()),
        None,
    )
    if state is None or user is None or password_of(sim.tenant, user["id"]) != form.get("password"):
        return web.json_response({"error": "invalid username, password or state"}, status=400)
    code = f"{secrets.randbelow(10**6):06d}"
    store.codes[code] = (user["id"], str(state.get("connectionName")))
    return web.json_response({"magicCode": code})


_SIM: web.AppKey[Any] = web.AppKey("token_service_simulator", object)
TOKEN_STORE: web.AppKey[TokenStore] = web.AppKey("token_store", TokenStore)


def add_routes(app: web.Application, simulator: Any) -> None:
    app[_SIM] = simulator
    app[TOKEN_STORE] = TokenStore()
    app.router.add_get("/api/botsignin/GetSignInResource", get_sign_in_resource)
    app.router.add_post("/api/usertoken/exchange", exchange)
    app.router.add_get("/api/usertoken/GetToken", get_token)
    app.router.add_delete("/api/usertoken/SignOut", sign_out)
    app.router.add_route("*", "/_sim/signin", sign_in_page)
