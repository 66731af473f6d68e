"""The HTTP edge: POST /api/messages and GET /healthz. Authenticate first, then parse, then serve; every failure
is a short 4xx (or a logged failure with a clean answer), never a 500 or a stack trace in the response."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from aiohttp import web
from botbuilder.core import ActivityHandler
from botbuilder.schema import Activity

from bot.adapter import RetryingCloudAdapter
from bot.auth import AuthenticationError, KeysUnavailableError, TokenValidator
from bot.handlers.context import DEFERRED, Deferred
from bot.handlers.errors import error_card_for
from bot.observability import Metrics, activity_id
from bot.proactive import Background
from bot.settings import Settings
from bot.teams_bot import card_invoke_response
from bot.wire import from_json

if TYPE_CHECKING:
    from bot.tenants.connect import TenantConnector
    from bot.tenants.runtime import Tenants

log = logging.getLogger(__name__)

CONVERSATIONAL = {"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction"}
MAX_DEPTH = 32  # Teams' activities nest a handful of levels; Adaptive Card data a few more
_STRING_FIELDS = ("id", "channelId", "serviceUrl", "text", "name", "replyToId", "locale", "textFormat", "timestamp")
_OBJECT_FIELDS = ("conversation", "from", "recipient", "channelData")
_LIST_FIELDS = ("entities", "attachments", "membersAdded", "membersRemoved")


def _problem(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"status": status, "message": message}}, status=status, headers=headers)


def _depth(value: Any, limit: int) -> int:
    """How deep a parsed JSON value nests, looking no further than `limit` (iterative: no RecursionError)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object (a Bot Framework activity)"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "the activity has no type"
    for key in _STRING_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"{key} must be a string"
    for key in _OBJECT_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            return f"{key} must be an object"
    for key in _LIST_FIELDS:
        if body.get(key) is not None and not (
            isinstance(body[key], list) and all(isinstance(item, dict) for item in body[key])
        ):
            return f"{key} must be a list of objects"
    for key in ("conversation", "from", "recipient"):
        for field in ("id", "name", "aadObjectId", "tenantId", "conversationType"):
            if isinstance(body.get(key), dict) and body[key].get(field) is not None:
                if not isinstance(body[key][field], str):
                    return f"{key}.{field} must be a string"
    if body["type"] in CONVERSATIONAL:
        for key in ("conversation", "from", "recipient"):
            if not isinstance(body.get(key), dict) or not body[key].get("id"):
                return f"the activity has no {key}.id"
        if not isinstance(body.get("serviceUrl"), str) or not body["serviceUrl"].startswith(("http://", "https://")):
            return "the activity has no valid serviceUrl"
    for entity in body.get("entities") or []:
        if not isinstance(entity.get("type"), str) or not entity["type"]:
            return "every entity needs a type"
        mentioned = entity.get("mentioned")
        if entity["type"].lower() == "mention" and not (
            isinstance(mentioned, dict)
            and isinstance(mentioned.get("id", ""), str)
            and isinstance(mentioned.get("name", ""), str)
            and isinstance(entity.get("text", ""), str)
        ):
            return "a mention entity needs text and a mentioned object with a string id and name"
    if body["type"] == "invoke" and body.get("value") is not None and not isinstance(body["value"], dict):
        return "an invoke's value must be an object"
    tenant = (body.get("channelData") or {}).get("tenant")
    if tenant is not None and not (isinstance(tenant, dict) and isinstance(tenant.get("id", ""), str)):
        return "channelData.tenant must be an object with a string id"
    return None


def tenant_ids(body: dict[str, Any]) -> list[str | None]:
    """Every tenant field Teams sends: conversation.tenantId and channelData.tenant.id (None where absent)."""
    conversation = body.get("conversation") or {}
    tenant = (body.get("channelData") or {}).get("tenant") or {}
    return [conversation.get("tenantId"), tenant.get("id")]


def tenant_problem(body: dict[str, Any], settings: Settings, serves: Callable[[str], bool] | None = None) -> str | None:
    """Why an activity is refused for its tenant: people chat from the deployment's own tenant or from a tenant
    it serves (a school in its own Teams), and both fields must name the same one."""
    ours = settings.tenant_id.lower()
    named = tenant_ids(body)
    present = [t for t in named if t]
    served = serves or (lambda tid: tid == ours)
    if len({t.lower() for t in present}) > 1 or any(not served(t.lower()) for t in present):
        return f"names tenant(s) {', '.join(repr(t[:64]) for t in sorted(set(present)))}"  # repr: no log injection
    # Real Teams always sends both; the Playground and the Emulator (auth off) may not.
    if settings.auth_enabled and len(present) < len(named):
        return "does not name its tenant in both conversation.tenantId and channelData.tenant.id"
    return None


def _serialize(body: Any) -> Any:
    if body is None or isinstance(body, (dict, list, str, int, float)):
        return body
    serialize = getattr(body, "serialize", None)
    return serialize() if callable(serialize) else body


def make_messages_handler(
    settings: Settings,
    adapter: RetryingCloudAdapter,
    bot: ActivityHandler,
    metrics: Metrics,
    validator: TokenValidator | None,
    background: Background,
    tenants: Tenants | None = None,
):
    serves = tenants.serves if tenants is not None else None

    async def messages(request: web.Request) -> web.Response:
        caller = None
        if validator is not None:
            try:
                caller = await validator.authenticate(request.headers.get("Authorization", ""))
            except AuthenticationError as exc:
                log.warning("refused an unauthenticated request from %s: %s", request.remote, exc)
                metrics.refused.labels("401").inc()
                return _problem(401, "the request does not carry a valid Bot Framework token")
            except KeysUnavailableError as exc:
                log.warning("refused a request from %s: %s", request.remote, exc)
                metrics.refused.labels("503").inc()
                return _problem(503, "cannot check tokens right now", headers={"Retry-After": "30"})
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _problem(415, "expected Content-Type: application/json")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _problem(413, f"the activity is larger than {settings.max_body_bytes} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
            return _problem(400, "the body is not valid JSON")
        if _depth(body, MAX_DEPTH) > MAX_DEPTH:
            return _problem(400, f"the activity nests deeper than {MAX_DEPTH} levels")
        problem = _validate(body)
        if problem:
            return _problem(400, problem)
        try:
            activity = from_json(Activity, body)
        except Exception as exc:  # noqa: BLE001 - msrest raises several types for bad shapes
            log.info("refused an undeserializable activity: %s", exc)
            return _problem(400, "the activity does not have the Bot Framework shape")
        activity_id.set(activity.id or None)  # the correlation id of every log line of this turn
        if caller is not None:
            try:
                TokenValidator.check_activity(caller, activity.channel_id, activity.service_url)
            except AuthenticationError as exc:
                log.warning("refused activity %s from %s: %s", activity.id, request.remote, exc)
                metrics.refused.labels("401").inc()
                return _problem(401, "the request does not carry a valid Bot Framework token")
        tenant = tenant_problem(body, settings, serves)
        if tenant:
            log.warning("refused activity %s: it %s; this bot serves %s", activity.id, tenant, settings.tenant_id)
            metrics.refused.labels("403").inc()
            return _problem(403, "this bot serves another tenant")
        metrics.messages.labels(activity.type or "unknown").inc()
        auth = adapter.auth.authenticated(caller.claims) if caller else await adapter.auth.anonymous(activity)
        deferred: Deferred = []
        token = DEFERRED.set(deferred)
        try:
            invoke_response = await adapter.process_activity(auth, activity, bot.on_turn)
        except Exception as exc:  # noqa: BLE001 - the turn's own funnel failed too: log once, answer cleanly
            log.error("activity %s: the turn failed outside the bot's error handling", activity.id, exc_info=exc)
            if activity.type == "invoke":
                fallback = card_invoke_response(error_card_for(exc, activity.id or "-"))
                return web.json_response(_serialize(fallback.body), status=200)
            return web.Response(status=202)  # received and logged; Teams would only retry a 5xx
        finally:
            DEFERRED.reset(token)
        if invoke_response is not None:
            response = web.json_response(_serialize(invoke_response.body), status=invoke_response.status)
        else:
            response = web.Response(status=201)
        if deferred:
            # The answer goes out first; the work that will update its card starts after.
            await response.prepare(request)
            await response.write_eof()
            for name, work in deferred:
                background.spawn(work(), name=name)
        return response

    return messages


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


PAGE_HEADERS = {
    # A page of our own text: no scripts, styles, frames or referrer (its URL held a state, single-use anyway).
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(status: int, title: str, message: str) -> web.Response:
    """A small HTML page for a browser; every text escaped."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Enrollment Doctor: {escape(title)}</title></head><body>"
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
        "<p>You can close this page and go back to Teams.</p></body></html>"
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def make_consent_handler(connector: TenantConnector):
    """GET /consent: where Entra's admin-consent page sends the administrator's browser back."""

    async def consent(request: web.Request) -> web.Response:
        if len(request.query_string) > 4096:
            return page(400, "This consent link cannot be used", "The address is too long to be one of mine.")
        query = {
            k: request.query.get(k, "") for k in ("state", "tenant", "admin_consent", "error", "error_description")
        }
        try:
            answer = await connector.finish(query)
        except Exception:  # noqa: BLE001 - logged with its traceback; the browser gets a short page, no trace
            log.exception("consent: could not finish a consent")
            return page(500, "Something went wrong", "Nothing was connected. Ask the bot again in Teams.")
        log.info("consent: answered %s (%s)", answer.status, answer.title)
        return page(answer.status, answer.title, answer.message)

    return consent
